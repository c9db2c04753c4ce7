"""Server-assisted client-side caching (tracking.c).

Default mode: the keys a tracking client reads are remembered in a table
(key -> client ids; keys are global, not per database, as in Redis) bounded by
``tracking-table-max-keys``; when ``execute()`` reports a key touched, every
client in its entry gets one invalidation and the entry is dropped. BCAST mode:
no table; a key touched under a registered prefix is collected and, once per
loop pass (Redis's beforeSleep), each prefix's clients get the list of keys.

Messages: ``>2 invalidate [keys]`` for RESP3 clients; for a redirected client
in RESP2 pub/sub mode, a ``message`` on ``__redis__:invalidate``. A null key
list (FLUSHDB/FLUSHALL) means every key. Invalidations of the executing
client's own writes are written after its reply (``Client.deferred_pushes``).

Installed lazily by the first CLIENT TRACKING ON; the per-command hook
(``server.after_read``) is present only while some client tracks.
"""

from __future__ import annotations

import asyncio
import random
from typing import TYPE_CHECKING

from aki.core.state import WHOLE_DB
from aki.resp.encoder import encode
from aki.resp.types import Push
from aki.storage.keyspace import ServerTouch

if TYPE_CHECKING:
    from aki.core.registry import Command
    from aki.core.session import Client
    from aki.core.state import Server

CHANNEL = b"__redis__:invalidate"
_SCRIPTS = {"eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro"}


class Tracking:
    def __init__(self, server: Server) -> None:
        self.server = server
        self.table: dict[bytes, set[int]] = {}
        self.items = 0
        # prefix -> (clients {id: client}, keys {key: writer or None})
        self.prefixes: dict[bytes, tuple[dict[int, Client], dict[bytes, Client | None]]] = {}
        self.clients = 0
        self.scheduled = False
        self.flush_pending = False
        self.script_read = False  # a script's command read keys (for its caller)
        server.touch_hooks.append(self.touched)
        server.close_hooks.append(self.disable)
        server.extensions.setdefault("flush_hooks", []).append(self.flushed)
        server.extensions.setdefault("reset_hooks", []).append(self.disable)
        server.config.on_change("tracking-table-max-keys", lambda _v: self.limit())
        server.extensions["tracking"] = self

    # -- enabling ------------------------------------------------------------------------

    def enable(self, c: Client, redirect: int, bcast: bool, optin: bool, optout: bool,
               noloop: bool, prefixes: list[bytes]) -> None:
        if not c.tracking:
            self.clients += 1
            if self.clients == 1:
                self.server.after_read.append(self.after_command)
        st = c.tracking_state
        c.tracking = True
        st.update(redirect=redirect, broken_redir=False, bcast=bcast, optin=optin,
                  optout=optout, noloop=noloop)
        if bcast:
            mine = st.setdefault("prefixes", [])
            for p in prefixes or [b""]:
                clients, _keys = self.prefixes.setdefault(p, ({}, {}))
                if c.id not in clients:
                    clients[c.id] = c
                    mine.append(p)

    def disable(self, c: Client) -> None:
        st = c.tracking_state
        for p in st.pop("prefixes", []):
            entry = self.prefixes.get(p)
            if entry is not None:
                entry[0].pop(c.id, None)
                if not entry[0]:
                    del self.prefixes[p]
        if c.tracking:
            c.tracking = False
            self.clients -= 1
            if self.clients == 0:
                hooks = self.server.after_read
                if self.after_command in hooks:
                    hooks.remove(self.after_command)
        for k in ("redirect", "broken_redir", "bcast", "optin", "optout", "noloop", "caching"):
            st.pop(k, None)

    # -- reads ----------------------------------------------------------------------------

    def after_command(self, c: Client, cmd: Command, argv: list[bytes]) -> None:
        """After each command while someone tracks: remember what a tracking client
        read, and drop CLIENT CACHING's one-shot flag (resetClient). A script that
        runs a read command makes its caller remember the script's declared keys."""
        max_keys = self.server.config.tracking_table_max_keys
        if max_keys and len(self.table) > max_keys:
            self.limit()
        if c.kind == "lua":
            if cmd.is_readonly:
                self.script_read = True
            return
        script_read = self.script_read
        self.script_read = False
        if not c.tracking:
            return
        st = c.tracking_state
        if st.get("bcast"):
            pass
        elif cmd.name in _SCRIPTS:
            if script_read and self._wants(st):
                self.remember(c, cmd, argv)
        elif cmd.is_readonly and not cmd.pubsub and self._wants(st):
            self.remember(c, cmd, argv)
        if self.server.call_depth == 0 and not c.in_multi and \
                (cmd.parent or cmd).name != "client":
            st.pop("caching", None)

    @staticmethod
    def _wants(st: dict) -> bool:
        """OPTIN needs CLIENT CACHING YES; OPTOUT's CLIENT CACHING NO skips."""
        caching = st.get("caching", False)
        return not ((st.get("optin") and not caching) or (st.get("optout") and caching))

    def remember(self, c: Client, cmd: Command, argv: list[bytes]) -> None:
        table = self.table
        for i in cmd.key_positions(argv):
            key = argv[i]
            ids = table.get(key)
            if ids is None:
                ids = table[key] = set()
            if c.id not in ids:
                ids.add(c.id)
                self.items += 1

    def limit(self) -> None:
        """trackingLimitUsedSlots: over the limit, forget random keys, telling their
        clients as if the keys had changed."""
        max_keys = self.server.config.tracking_table_max_keys
        if not max_keys:
            return
        while len(self.table) > max_keys:
            key = random.choice(list(self.table)) if len(self.table) < 4096 else next(iter(self.table))
            self.invalidate(None, key, bcast=False)

    # -- writes ---------------------------------------------------------------------------

    def touched(self, keys: list[tuple[int, bytes]], client: Client | None) -> None:
        if client is not None and client.kind == "lua":
            # inside a script the writer is the script's caller (server.current_client)
            run = self.server.extensions.get("script_run")
            caller = getattr(run, "caller", None)
            if caller is not None:
                client = caller
        if self.flush_pending:
            self._send_flush(client)
        if not self.table and not self.prefixes:
            return
        for dk in keys:
            key = dk[1]
            if key is not WHOLE_DB:  # a flush sent its null above; SWAPDB sends nothing
                self.invalidate(client, key, bcast=True, by_server=type(dk) is ServerTouch)

    def invalidate(self, writer: Client | None, key: bytes, bcast: bool,
                   by_server: bool = False) -> None:
        """trackingInvalidateKey. ``writer``: the client whose command runs (NOLOOP of
        the default mode compares with it); ``by_server``: the change is the server's
        own (a lazy expiry), which BCAST records as made by no client."""
        if bcast and self.prefixes:
            for p, (_clients, keys) in self.prefixes.items():
                if key.startswith(p):
                    keys[key] = None if by_server else writer
                    self._schedule()
        ids = self.table.pop(key, None)
        if not ids:
            return
        self.items -= len(ids)
        clients = self.server.clients
        for cid in ids:
            target = clients.get(cid)
            if target is None or not target.tracking or target.tracking_state.get("bcast"):
                continue
            if target is writer and target.tracking_state.get("noloop"):
                continue
            self.send(target, [key], defer=target is writer)

    def flushed(self, _db: int | None) -> None:
        """FLUSHDB/FLUSHALL: the table empties; the null key list goes out from the
        touch hook that follows, which knows the flushing client."""
        self.table = {}
        self.items = 0
        self.flush_pending = True

    def _send_flush(self, current: Client | None) -> None:
        self.flush_pending = False
        for c in list(self.server.clients.values()):
            if c.tracking:
                self.send(c, None, defer=c is current)

    def send(self, c: Client, keys: list[bytes] | None, defer: bool = False) -> None:
        """sendTrackingMessage: to ``c`` or its redirection target."""
        st = c.tracking_state
        redirect = st.get("redirect", 0)
        using_redirection = False
        if redirect:
            target = self.server.clients.get(redirect)
            if target is None or target.closed or target.close_after_reply:  # QUIT: gone
                st["broken_redir"] = True
                if c.resp == 3:
                    self._out(c, Push([b"tracking-redir-broken", redirect]), defer)
                return
            if target is not c:
                defer = False
            c = target
            using_redirection = True
        if c.resp == 3:
            msg = Push([b"invalidate", keys])
        elif using_redirection and c.in_pubsub_mode():
            msg = Push([b"message", CHANNEL, keys])
        else:
            return  # RESP2 has no push messages on the same connection
        self._out(c, msg, defer)

    def _out(self, c: Client, msg: Push, defer: bool) -> None:
        if defer and c.write_out is not None:
            c.deferred_pushes.append(encode(msg, c.resp == 3))
        else:
            c.send(msg)

    # -- BCAST ----------------------------------------------------------------------------

    def _schedule(self) -> None:
        if self.scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.broadcast()  # no event loop (embedded): at once
            return
        self.scheduled = True
        loop.call_soon(self.broadcast)

    def broadcast(self) -> None:
        """trackingBroadcastInvalidationMessages: one list of keys per prefix."""
        self.scheduled = False
        for _p, (clients, keys) in list(self.prefixes.items()):
            if not keys:
                continue
            ordered = sorted(keys)
            for c in list(clients.values()):
                if c.tracking_state.get("noloop"):
                    mine = [k for k in ordered if keys[k] is not c]
                    if mine:
                        self.send(c, mine)
                else:
                    self.send(c, ordered)
            keys.clear()


def get(server: Server) -> Tracking:
    t = server.extensions.get("tracking")
    if t is None:
        t = Tracking(server)
    return t
