"""MULTI / EXEC / DISCARD / WATCH / UNWATCH (multi.c).

Queueing happens in ``execute()``; EXEC runs the queue through ``call()`` one
command after another inside the current batch, so the whole transaction is
one atomic unit for other clients (the loop runs nothing else meanwhile) and
lands in one COMMIT. As in Redis, a runtime error inside EXEC does not roll
back the other commands: each reply stands on its own.

WATCH: ``server.extensions["watch"]`` maps (db, key) to the clients watching
it; a touch hook marks them dirty when ``execute()`` reports the key modified.
"""

from __future__ import annotations

from aki.core.dispatch import call, resolve
from aki.core.registry import Command, command
from aki.errors import RedisError
from aki.resp.types import OK, ErrorReply, NullArray
from aki.storage.keyspace import now_ms


class WatchRegistry:
    """(db, key) -> {client id: client}; a client's own set lives in client.watched."""

    def __init__(self, server) -> None:
        self.server = server
        self.keys: dict[tuple[int, bytes], dict[int, object]] = {}
        # client id -> the watched keys that existed (unexpired) at WATCH time: what
        # FLUSHDB/FLUSHALL count as modified (touchAllWatchedKeysInDb)
        self.existed: dict[int, set[tuple[int, bytes]]] = {}
        # client id -> watched keys already expired (not yet deleted) at WATCH time:
        # their deletion is no logical change (touchWatchedKey's wk->expired)
        self.stale: dict[int, set[tuple[int, bytes]]] = {}
        server.touch_hooks.append(self.touched)
        server.close_hooks.append(self.unwatch_all)
        server.extensions.setdefault("flush_hooks", []).append(self.flushed)
        server.extensions.setdefault("swapdb_hooks", []).append(self.swapped)
        server.extensions.setdefault("reset_hooks", []).append(self.reset)

    def _raw(self, db: int, key: bytes):
        """The key's row even if expired: WATCH and SWAPDB look without deleting
        (keyIsExpired), or the look itself would count as a change."""
        return self.server.ks.stored(db, key)

    def _live(self, db: int, key: bytes):
        """The key's row if it exists and is not logically expired."""
        row = self._raw(db, key)
        if row is None:
            return None
        if row.expire_at is not None and row.expire_at <= self.server.ks.now():
            return None
        return row

    def watch(self, client, db: int, key: bytes) -> None:
        wk = (db, key)
        if wk in client.watched:
            return
        row = self._live(db, key)
        if row is None and self._raw(db, key) is not None:
            self.stale.setdefault(client.id, set()).add(wk)
        client.watched.add(wk)
        # the expiry EXEC re-checks (a key already expired at WATCH time is ignored)
        client.watch_expiry[wk] = row.expire_at if row is not None else None
        if row is not None:
            self.existed.setdefault(client.id, set()).add(wk)
        self.keys.setdefault(wk, {})[client.id] = client

    def unwatch_all(self, client) -> None:
        for wk in client.watched:
            watchers = self.keys.get(wk)
            if watchers is not None:
                watchers.pop(client.id, None)
                if not watchers:
                    del self.keys[wk]
        client.watched = set()
        client.watch_expiry = {}
        self.existed.pop(client.id, None)
        self.stale.pop(client.id, None)

    def reset(self, client) -> None:
        self.unwatch_all(client)
        client.dirty_cas = False

    def touched(self, keys, _client) -> None:
        if not self.keys:
            return
        for wk in keys:
            watchers = self.keys.get(wk)
            if watchers:
                for c in watchers.values():
                    stale = self.stale.get(c.id)
                    if stale and wk in stale:
                        stale.discard(wk)
                        if self._raw(*wk) is None:
                            continue  # the expired key was deleted: no logical change
                    c.dirty_cas = True

    def flushed(self, db: int | None) -> None:
        """FLUSHDB/FLUSHALL touch the watched keys of the emptied database(s) that
        existed; a key that was absent (or already expired) stays untouched. A key
        created or deleted since WATCH has dirtied its watchers already."""
        for (kdb, key), watchers in self.keys.items():
            if db is None or kdb == db:
                for c in watchers.values():
                    if (kdb, key) in self.existed.get(c.id, ()):
                        c.dirty_cas = True

    def swapped(self, a: int, b: int) -> None:
        """SWAPDB: a watched key of either database is touched if it exists in either."""
        for (kdb, key), watchers in self.keys.items():
            if kdb in (a, b) and (self._live(a, key) is not None or self._live(b, key) is not None):
                for c in watchers.values():
                    c.dirty_cas = True


def _registry(server) -> WatchRegistry:
    reg = server.extensions.get("watch")
    if reg is None:
        reg = WatchRegistry(server)
        server.extensions["watch"] = reg
    return reg


@command("multi")
def multi(c, argv):
    if c.in_multi:
        raise RedisError("ERR MULTI calls can not be nested")
    c.in_multi = True
    c.multi_queue = []
    c.multi_error = False
    return OK


def _discard(c) -> None:
    c.in_multi = False
    c.multi_queue = []
    c.multi_error = False
    c.dirty_cas = False
    _registry(c.server).unwatch_all(c)


@command("discard")
def discard(c, argv):
    if not c.in_multi:
        raise RedisError("ERR DISCARD without MULTI")
    _discard(c)
    return OK


@command("exec")
def exec_(c, argv):
    if not c.in_multi:
        raise RedisError("ERR EXEC without MULTI")
    server = c.server
    ks = server.ks
    reg = _registry(server)
    # A watched key that expired since WATCH counts as modified (isWatchedKeyExpired).
    now = ks.now()
    for wk in c.watched:
        exp = c.watch_expiry.get(wk)
        if exp is not None and exp <= now:
            c.dirty_cas = True
    if c.multi_error:
        _discard(c)
        raise RedisError("EXECABORT Transaction discarded because of previous errors.")
    if c.dirty_cas:
        _discard(c)
        return NullArray
    queue = c.multi_queue
    reg.unwatch_all(c)
    c.in_multi = False
    c.multi_queue = []
    replies = []
    c.deny_blocking = True
    # What the transaction writes reaches the AOF/replicas wrapped in MULTI/EXEC.
    outer = server.tx_propagation
    if outer is None:
        server.tx_propagation = []
    ks = server.ks
    freeze = ks.clock is None  # keys expire by the time EXEC started, as in Redis
    if freeze:
        ks.clock = now_ms()
    server.in_exec = True
    try:
        for args in queue:
            cmd = resolve(c, args)
            if isinstance(cmd, ErrorReply):
                replies.append(cmd)
                continue
            assert isinstance(cmd, Command)
            guard = server.extensions.get("guard")
            if guard is not None:
                rejected = guard(c, cmd, args)
                if rejected is not None:
                    replies.append(rejected)
                    continue
            replies.append(call(c, cmd, args))
    finally:
        server.in_exec = False
        c.deny_blocking = False
        if freeze:
            ks.clock = None
        if outer is None:
            buffered = server.tx_propagation
            server.tx_propagation = None
            server.propagate_wrapped(buffered)
    c.dirty_cas = False
    return replies


@command("watch")
def watch(c, argv):
    if c.in_multi:
        raise RedisError("ERR WATCH inside MULTI is not allowed")
    reg = _registry(c.server)
    for key in argv[1:]:
        reg.watch(c, c.db, key)
    return OK


@command("unwatch")
def unwatch(c, argv):
    _registry(c.server).unwatch_all(c)
    c.dirty_cas = False
    return OK
