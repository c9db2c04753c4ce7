"""Per-client state: what Redis keeps in its ``client`` struct.

A ``Client`` knows nothing about sockets: the transport layer gives it a
``write`` callable for out-of-band data (pub/sub messages, invalidations) and
reads ``close_after_reply``. The embedded library uses a Client with no transport.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aki.resp.encoder import encode

if TYPE_CHECKING:
    from aki.core.state import Server


class Client:
    """One connection (or one embedded handle)."""

    def __init__(self, server: Server, *, addr: str = "", laddr: str = "", fd: int = -1,
                 kind: str = "normal") -> None:
        self.server = server
        # unsent reply bytes (CLIENT LIST omem), set by the connection that serves it
        self.output_size: Callable[[], int] | None = None
        self.id = server.next_client_id()
        self.db = 0
        self.resp = 2
        self.name: bytes | None = None
        self.lib_name: bytes | None = None
        self.lib_ver: bytes | None = None
        self.user = "default"
        acl = server.extensions.get("acl")
        # clientSetDefaultAuth: authenticated at once when the default user needs no password
        self.authenticated = acl.default_open() if acl is not None \
            else not server.config.requirepass
        self.addr = addr
        self.laddr = laddr
        self.fd = fd
        self.kind = kind
        self.created = time.time()
        self.last_interaction = self.created
        self.last_cmd = "NULL"
        self.close_after_reply = False
        self.closed = False
        self.reply_mode = "on"  # on | off | skip (CLIENT REPLY)
        self.no_evict = False
        self.no_touch = False
        self.flags: set[str] = set()
        # transactions
        self.in_multi = False
        self.multi_queue: list[list[bytes]] = []
        self.multi_error = False
        self.watched: set[tuple[int, bytes]] = set()
        self.watch_expiry: dict[tuple[int, bytes], int | None] = {}
        self.dirty_cas = False
        # EXEC and scripts: blocking commands answer at once instead of waiting
        self.deny_blocking = False
        # pub/sub
        self.channels: set[bytes] = set()
        self.patterns: set[bytes] = set()
        self.shard_channels: set[bytes] = set()
        # client tracking
        self.tracking = False
        self.tracking_state: dict[str, Any] = {}
        # encoded pushes written right after this client's current reply (Redis's
        # tracking_pending_keys: invalidations of its own writes follow the reply)
        self.deferred_pushes: list[bytes] = []
        # blocking
        self.blocked: Any = None
        self.monitor = False
        # output for out-of-band messages: set by the transport
        self.write_out: Callable[[bytes], None] | None = None
        self.qbuf = 0
        self.obuf = 0
        self.tot_cmds = 0

    @property
    def resp3(self) -> bool:
        return self.resp == 3

    def subscriptions(self) -> int:
        return len(self.channels) + len(self.patterns)

    def in_pubsub_mode(self) -> bool:
        return bool(self.channels or self.patterns or self.shard_channels)

    def send(self, value: object) -> None:
        """Out-of-band reply (push message); dropped if the client has no transport."""
        if self.write_out is not None and not self.closed:
            self.write_out(encode(value, self.resp == 3))

    def flag_string(self) -> str:
        f = ""
        if self.kind == "replica":
            f += "S"
        if self.kind == "master":
            f += "M"
        if self.in_pubsub_mode():
            f += "P"
        if self.in_multi:
            f += "x"
        if self.blocked is not None:
            f += "b"
        if self.tracking:
            f += "t"
        if self.dirty_cas:
            f += "d"
        if self.close_after_reply:
            f += "c"
        if self.no_evict:
            f += "e"
        if self.no_touch:
            f += "T"
        if "unix" in self.flags:
            f += "U"
        if self.monitor:
            f += "O"
        return f or "N"
