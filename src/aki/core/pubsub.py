"""Pub/sub registry: who listens to which channel or pattern. No I/O here.

Messages are delivered through ``Client.send`` (the transport writes them, or
drops them for an embedded client without a listener).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from aki.resp.types import Push
from aki.storage.keyspace import compile_glob

log = logging.getLogger("aki.pubsub")

if TYPE_CHECKING:
    from aki.core.session import Client


class PubSub:
    def __init__(self) -> None:
        self.channels: dict[bytes, dict[int, Client]] = {}
        self.patterns: dict[bytes, dict[int, Client]] = {}
        self.shard_channels: dict[bytes, dict[int, Client]] = {}
        self._globs: dict[bytes, object] = {}

    def matcher(self, pattern: bytes):
        """A compiled glob, cached while the pattern has subscribers."""
        m = self._globs.get(pattern)
        if m is None:
            if len(self._globs) > 4096:
                self._globs.clear()
            m = self._globs[pattern] = compile_glob(pattern)
        return m

    def publish(self, channel: bytes, message: bytes) -> int:
        """Deliver to subscribers and matching patterns; returns how many received it."""
        n = 0
        subs = self.channels.get(channel)
        if subs:
            for c in list(subs.values()):
                c.send(Push([b"message", channel, message]))
                n += 1
        if self.patterns:
            for pat, clients in list(self.patterns.items()):
                if self.matcher(pat)(channel):
                    for c in list(clients.values()):
                        c.send(Push([b"pmessage", pat, channel, message]))
                        n += 1
        return n

    def spublish(self, channel: bytes, message: bytes) -> int:
        subs = self.shard_channels.get(channel)
        if not subs:
            return 0
        for c in list(subs.values()):
            c.send(Push([b"smessage", channel, message]))
        return len(subs)

    def subscribe(self, client: Client, channel: bytes) -> bool:
        if channel in client.channels:
            return False
        client.channels.add(channel)
        self.channels.setdefault(channel, {})[client.id] = client
        return True

    def unsubscribe(self, client: Client, channel: bytes) -> bool:
        if channel not in client.channels:
            return False
        client.channels.discard(channel)
        subs = self.channels.get(channel)
        if subs is not None:
            subs.pop(client.id, None)
            if not subs:
                del self.channels[channel]
        return True

    def psubscribe(self, client: Client, pattern: bytes) -> bool:
        if pattern in client.patterns:
            return False
        client.patterns.add(pattern)
        self.patterns.setdefault(pattern, {})[client.id] = client
        return True

    def punsubscribe(self, client: Client, pattern: bytes) -> bool:
        if pattern not in client.patterns:
            return False
        client.patterns.discard(pattern)
        subs = self.patterns.get(pattern)
        if subs is not None:
            subs.pop(client.id, None)
            if not subs:
                del self.patterns[pattern]
        return True

    def ssubscribe(self, client: Client, channel: bytes) -> bool:
        if channel in client.shard_channels:
            return False
        client.shard_channels.add(channel)
        self.shard_channels.setdefault(channel, {})[client.id] = client
        return True

    def sunsubscribe(self, client: Client, channel: bytes) -> bool:
        if channel not in client.shard_channels:
            return False
        client.shard_channels.discard(channel)
        subs = self.shard_channels.get(channel)
        if subs is not None:
            subs.pop(client.id, None)
            if not subs:
                del self.shard_channels[channel]
        return True

    def drop_client(self, client: Client) -> None:
        for ch in list(client.channels):
            self.unsubscribe(client, ch)
        for p in list(client.patterns):
            self.punsubscribe(client, p)
        for ch in list(client.shard_channels):
            self.sunsubscribe(client, ch)


def output_limits(server) -> OutputLimit:
    """The server's OutputLimit (made on first use)."""
    limits = server.extensions.get("output_limit")
    return limits if limits is not None else OutputLimit(server)


class OutputLimit:
    """``client-output-buffer-limit`` (checkClientOutputBufferLimits): past the hard
    limit, or above the soft limit for longer than its seconds, the client is closed
    instead of letting its unread replies grow without bound."""

    def __init__(self, server) -> None:
        self.server = server
        self.limits: dict[str, tuple[int, int, int]] = {}
        server.config.on_change("client-output-buffer-limit", self.configure)
        self.configure(server.config.client_output_buffer_limit)
        server.extensions["output_limit"] = self

    def _of(self, client: Client) -> tuple[int, int, int]:
        """(hard, soft, soft seconds) of ``client``'s class."""
        cls = "pubsub" if client.in_pubsub_mode() else "normal"
        if client.kind == "replica":
            cls = "slave"
        return self.limits.get(cls, (0, 0, 0))

    def hard_limit(self, client: Client) -> int:
        """The hard limit of ``client``'s class (0: none)."""
        return self._of(client)[0]

    def configure(self, value) -> None:
        parts = str(value).split()
        limits = {}
        for i in range(0, len(parts) - 3, 4):
            limits[parts[i]] = (int(parts[i + 1]), int(parts[i + 2]), int(parts[i + 3]))
        self.limits = limits

    def check(self, client: Client, pending: int) -> bool:
        """True when ``client`` (``pending`` bytes unsent) must be disconnected."""
        hard, soft, secs = self._of(client)
        over = False
        if hard and pending >= hard:
            over = True
        elif soft and pending >= soft:
            since = client.tracking_state.get("obuf_soft_since")
            now = time.monotonic()
            if since is None:
                client.tracking_state["obuf_soft_since"] = now
            elif now - since >= secs:
                over = True
        else:
            client.tracking_state.pop("obuf_soft_since", None)
        if over:
            log.warning("Client id=%d addr=%s scheduled to be closed ASAP for overcoming of "
                        "output buffer limits.", client.id, client.addr)
        return over
