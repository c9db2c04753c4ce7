"""Suspending a client: the mechanism under blocking commands and CLIENT PAUSE.

A handler that must wait returns a ``Suspend``. The transport then parks the
client (it stops reading its pipeline), and later calls ``Suspend.resume`` with
the final reply, either from whoever satisfies the wait or when the timeout
fires (``timeout_reply``). Blocking commands build on this; no handler ever
waits on the event loop itself.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from fractions import Fraction
from typing import TYPE_CHECKING

from aki import errors
from aki.errors import RedisError
from aki.resp.types import ErrorReply, NullArray

if TYPE_CHECKING:
    from aki.core.session import Client


class Suspend:
    """A reply that is not ready yet."""

    __slots__ = ("client", "timeout", "timeout_reply", "on_cancel", "_resume", "done", "data",
                 "argv", "usec")

    def __init__(self, client: Client, timeout: float | None, timeout_reply: object,
                 on_cancel: Callable[[], None] | None = None, data: object = None) -> None:
        self.client = client
        self.timeout = timeout  # seconds from now; None or 0 = forever
        self.timeout_reply = timeout_reply
        self.on_cancel = on_cancel  # called when the wait ends without resume (disconnect)
        self._resume: Callable[[object], None] | None = None
        self.done = False
        self.data = data
        # the blocked request and its first run's time: SLOWLOG logs it when it ends
        self.argv: list[bytes] | None = None
        self.usec = 0

    def attach(self, resume: Callable[[object], None]) -> None:
        """Called by the transport: how to deliver the final reply."""
        self._resume = resume

    def resume(self, reply: object) -> None:
        if self.done:
            return
        self.done = True
        self.client.blocked = None
        if self._resume is not None:
            self._resume(reply)

    def expire(self, unblocked: bool = False) -> None:
        """The timeout fired (or CLIENT UNBLOCK acts as if it had: ``unblocked``, which
        SLOWLOG records; a timeout is not recorded, as in Redis 7.0)."""
        if self.done:
            return
        if not unblocked:
            self.argv = None
        if self.on_cancel is not None:
            self.on_cancel()
        self.resume(self.timeout_reply)

    def cancel(self) -> None:
        """The client went away while waiting."""
        if self.done:
            return
        self.done = True
        self.client.blocked = None
        if self.on_cancel is not None:
            self.on_cancel()


# -- blocking on keys (BLPOP, BLMOVE, BZPOPMIN, XREAD ...) -------------------------------

log = logging.getLogger("aki.blocking")

# What a waiter's retry returns when the ready key cannot serve it (still empty,
# another type): the waiter keeps waiting, as Redis skips clients of another btype.
NOT_READY = object()

UNBLOCKED_ERROR = "UNBLOCKED client unblocked via CLIENT UNBLOCK"

# A timer further away than this is the same as waiting forever (keeps event-loop
# timer arithmetic in range for timeouts such as 9e15 seconds).
_MAX_TIMER_S = 10 * 365 * 86400.0


def parse_block_timeout(b: bytes) -> float:
    """getTimeoutFromObjectOrReply(UNIT_SECONDS): seconds to wait, 0 = forever.

    Redis parses a long double, takes ``ceil(t * 1000)`` ms and casts it to a long
    long: so ``-0.0001`` means 0 (forever), ``0.0001`` means 1 ms, and values whose
    millisecond count overflows (inf, 1e400) come out negative.
    """
    from aki.commands.common import to_float

    if len(b) > 5 * 1024:
        raise RedisError(errors.TIMEOUT_NOT_FLOAT)
    v = to_float(b)
    if v is None or (not _is_decimal(b) and not b.lstrip(b"+-").lower().startswith(b"0x")):
        raise RedisError(errors.TIMEOUT_NOT_FLOAT)  # strtold takes decimal or 0x-hex only
    if math.isinf(v):
        raise RedisError(errors.TIMEOUT_NEGATIVE)
    try:
        exact = Fraction(b.decode("ascii"))
    except (ValueError, UnicodeDecodeError):
        exact = Fraction(v)
    ms = math.ceil(exact * 1000)
    if ms < 0 or ms >= 2**63:
        raise RedisError(errors.TIMEOUT_NEGATIVE)
    return ms / 1000.0


def _is_decimal(b: bytes) -> bool:
    try:
        float(b)
    except ValueError:
        return False
    return True


def may_block(client: Client) -> bool:
    """False inside MULTI/EXEC or a script (CLIENT_DENY_BLOCKING): reply at once instead."""
    return (client.server.call_depth <= 1 and not client.in_multi
            and not getattr(client, "deny_blocking", False)
            and client.kind == "normal" and client.write_out is not None)


class Waiter:
    """One blocked client: the keys it waits on and how to retry its command."""

    __slots__ = ("client", "db", "keys", "retry", "suspend", "kind")

    def __init__(self, client: Client, db: int, keys: list[bytes],
                 retry: Callable[[bytes], object], kind: str) -> None:
        self.client = client
        self.db = db
        self.keys = keys
        self.retry = retry
        self.kind = kind
        self.suspend: Suspend | None = None


class BlockingManager:
    """(db, key) -> FIFO of waiters; keys touched by a command become ready and are
    served after the top-level command (so a push inside MULTI wakes after EXEC).

    Serving runs the waiter's retry on the same road as a command: its writes are
    propagated (through ``dispatch.rewrite``), notified and touch other keys, which
    may in turn wake more waiters (a BLMOVE chain).
    """

    def __init__(self, server) -> None:
        self.server = server
        self.by_key: dict[tuple[int, bytes], dict[Waiter, None]] = {}
        self.ready: dict[tuple[int, bytes], None] = {}
        self.by_client: dict[int, Waiter] = {}
        self._serving = False
        server.touch_hooks.append(self._touched)
        server.after_command.append(self.serve)
        server.extensions.setdefault("swapdb_hooks", []).append(self._swapdb)

    @property
    def count(self) -> int:
        """Blocked clients (INFO blocked_clients)."""
        return len(self.by_client)

    def count_kind(self, kind: str) -> int:
        return sum(1 for w in self.by_client.values() if w.kind == kind)

    def keys_count(self) -> int:
        return len(self.by_key)

    # -- blocking ------------------------------------------------------------------

    def block(self, client: Client, keys: list[bytes], timeout: float,
              retry: Callable[[bytes], object], timeout_reply: object = NullArray,
              kind: str = "list") -> Suspend:
        """Park ``client`` until one of ``keys`` can serve ``retry(key)``.

        ``timeout`` is in seconds (0 = forever); ``retry`` returns the reply, or
        NOT_READY to keep waiting; a RedisError it raises becomes the reply.
        """
        w = Waiter(client, client.db, keys, retry, kind)
        db = client.db
        by_key = self.by_key
        for k in keys:
            q = by_key.get((db, k))
            if q is None:
                q = by_key[(db, k)] = {}
            q[w] = None
        self.by_client[client.id] = w
        t = timeout if timeout and timeout < _MAX_TIMER_S else None
        susp = Suspend(client, t, timeout_reply, on_cancel=lambda: self._forget(w), data=w)
        w.suspend = susp
        return susp

    def _forget(self, w: Waiter) -> None:
        if self.by_client.get(w.client.id) is w:
            del self.by_client[w.client.id]
        for k in w.keys:
            dk = (w.db, k)
            q = self.by_key.get(dk)
            if q is not None:
                q.pop(w, None)
                if not q:
                    del self.by_key[dk]

    def unblock(self, client_id: int, error: bool) -> bool:
        """CLIENT UNBLOCK: end a key wait with its timeout reply or the UNBLOCKED error."""
        w = self.by_client.get(client_id)
        if w is None or w.suspend is None or w.suspend.done:
            return False
        if error:
            from aki.core.dispatch import _count_error

            self._forget(w)
            _count_error(self.server, UNBLOCKED_ERROR)
            _count_failed(w.client)
            w.suspend.resume(ErrorReply(UNBLOCKED_ERROR))
        else:
            w.suspend.expire(unblocked=True)
        return True

    # -- waking --------------------------------------------------------------------

    def _touched(self, touched: list[tuple[int, bytes]], client: Client | None) -> None:
        by_key = self.by_key
        if not by_key:
            return
        for dk in touched:
            if dk in by_key:
                self.ready[dk] = None

    def _swapdb(self, a: int, b: int) -> None:
        """Every waited key of both databases may have changed (scanDatabaseForReadyKeys)."""
        for dk in self.by_key:
            if dk[0] in (a, b):
                self.ready[dk] = None

    def serve(self) -> None:
        """handleClientsBlockedOnKeys: serve ready keys, first blocked first served."""
        if not self.ready or self._serving:
            return
        self._serving = True
        ks = self.server.ks
        try:
            while self.ready:
                ready = self.ready
                self.ready = {}
                for dk in ready:
                    q = self.by_key.get(dk)
                    if not q:
                        continue
                    for w in list(q):
                        susp = w.suspend
                        if susp is None or susp.done or w.client.closed:
                            continue
                        reply = self._run(w, dk[1])
                        if reply is NOT_READY:
                            continue
                        self._forget(w)
                        susp.resume(reply)
                        if ks.lookup(dk[0], dk[1]) is None:
                            break
        finally:
            self._serving = False

    def _run(self, w: Waiter, key: bytes) -> object:
        """Run a retry as dispatch.call runs a handler: batch, hooks, propagation, events."""
        from aki.core.dispatch import _count_error

        server = self.server
        engine = server.engine
        if not engine.in_tx:
            engine.begin()
            server.request_commit()
        ks = server.ks
        saved = server.propagation
        server.propagation = None
        try:
            reply = w.retry(key)
        except RedisError as exc:
            reply = ErrorReply(exc.message)
            _count_error(server, exc.message)
            _count_failed(w.client)
        except Exception as exc:  # a bug: the batch must not commit
            log.exception("serving a blocked client failed")
            server.batch_failed = True
            reply = ErrorReply(f"ERR internal error while serving a blocked client: {exc}")
        touched = ks.touched
        if touched:
            ks.touched = []
            server.dirty += len(touched)
            for hook in server.touch_hooks:
                hook(touched, w.client)
        override = server.propagation
        server.propagation = saved
        if override is not None:
            for db, args in override:
                server.propagate(db, args)
        if ks.events:
            events = ks.events
            ks.events = []
            deliver = server.extensions.get("notify")
            if deliver is not None:
                deliver(events)
        return reply


def _count_failed(client: Client) -> None:
    """updateStatsOnUnblock(had_errors): a blocked command that ends in an error is a
    failed call of that command (INFO commandstats)."""
    from aki.core.registry import by_fullname

    cmd = by_fullname((client.last_cmd or "").encode())
    if cmd is not None:
        cmd.failed_calls += 1


def manager(server) -> BlockingManager:
    """The server's BlockingManager (created on first use)."""
    m = server.extensions.get("blocking")
    if m is None:
        m = server.extensions["blocking"] = BlockingManager(server)
    return m
