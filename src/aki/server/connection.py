"""One client connection: bytes in, requests to ``execute()``, replies out.

The connection never writes a reply while a batch is open: it hands itself to
the committer, which calls ``release`` after the COMMIT (see
durability/committer.py for why). Replies keep request order; a suspended
client (BLPOP, CLIENT PAUSE) stops consuming its pipeline until resumed.

``data_received`` and ``release`` are the C lane's (aki/_lane.c) when it is built: the
requests at the start of a read (one, or a pipeline), on a connection and server in their
plain state, are run there with this road's effects (GETs of cached strings and plain
SETs compiled whole, other commands ``lane_ok`` accepts parsed and given to
``dispatch.call()``); the rest of the read, and every other read, comes to
``_data_received``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections import deque
from typing import TYPE_CHECKING

import apsw

from aki.commands.hashes import hset
from aki.commands.lists import lpop, lpush, lrange, rpop, rpush
from aki.commands.sets import sadd
from aki.commands.strings import get_cached, set_
from aki.commands.zsets import zadd, zrangebyscore
from aki.core.blocking import Suspend
from aki.core.dispatch import _PLAIN, _slow, blocked_slowlog, call, execute, resolve
from aki.core.pubsub import output_limits
from aki.core.registry import Command
from aki.core.session import Client
from aki.resp.encoder import encode
from aki.resp.parser import QueryBufferFull, RequestParser
from aki.resp.types import Pushes
from aki.server.protected import DENIED, refuses
from aki.storage import hashes as _hashes
from aki.storage import lists as _lists
from aki.storage import sets as _sets
from aki.storage import zsets as _zsets
from aki.storage.keyspace import _UPDATE_VALUE, _UPSERT_STRING, KeyRow, LazyIdRow
from aki.storage.sets import mhash

if TYPE_CHECKING:
    from aki.server.listener import App

log = logging.getLogger("aki.net")

# Redis's per-client static reply buffer (PROTO_REPLY_CHUNK_BYTES): replies that fit in
# it never reach client-output-buffer-limit, so only bigger writes are checked
_REPLY_BUF = 16 * 1024

PAUSED = "paused"  # Client.blocked while CLIENT PAUSE holds the client's next request

_now = time.time
_MAXCLIENTS = b"-ERR max number of clients reached\r\n"
# Queued in place of a request when the parser failed behind a suspended client: an
# object no client can send (a command name of any bytes could).
_PROTOCOL_ERROR = object()

# The lane in C (aki/_lane.c, see the module docstring): the same effects as the Python
# road below for the requests it takes; anything else reaches _data_received. Absent
# when the build had no compiler; AKI_LANE=0 turns it off (A/B measurements, the tests
# that compare both roads).
try:
    from aki import _lane
except ImportError:  # pragma: no cover - built without a C compiler
    _lane = None  # type: ignore[assignment]
LANE = _lane is not None and os.environ.get("AKI_LANE", "1") != "0"
_BASES: tuple[type, ...] = (_lane.Lane, asyncio.Protocol) if LANE else (asyncio.Protocol,)


class RespConnection(*_BASES):  # type: ignore[misc]
    __slots__ = ("app", "server", "client", "transport", "parser", "out", "holding",
                 "pending", "suspended", "closing", "engine", "_timer", "held", "backlogged")

    def __init__(self, app: App) -> None:
        self.app = app
        self.server = app.server
        self.engine = app.server.engine
        self.transport: asyncio.Transport | None = None
        self.out: list[bytes] = []
        self.holding = False
        self.pending: deque[list[bytes]] = deque()
        self.suspended: Suspend | None = None
        self.closing = False
        self._timer: asyncio.TimerHandle | None = None
        self.held = app.committer.held  # the committer's list of connections to release

    # -- asyncio.Protocol ------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        # uvloop writes straight to the socket; only what the kernel does not take is
        # buffered here, and then pause_writing() fires: from that moment on (a client
        # that does not read) every write is checked against client-output-buffer-limit
        transport.set_write_buffer_limits(high=0)  # type: ignore[attr-defined]
        self.backlogged = False
        server = self.server
        cfg = server.config
        peer = transport.get_extra_info("peername")
        sock = transport.get_extra_info("sockname")
        unix = isinstance(peer, str) or peer is None or (isinstance(peer, (bytes,)))
        if unix:
            addr = f"{cfg.unixsocket}:0"
            laddr = addr
        else:
            addr = _fmt_addr(peer)
            laddr = _fmt_addr(sock)
        sockobj = transport.get_extra_info("socket")
        fd = sockobj.fileno() if sockobj is not None else -1
        self.client = client = Client(server, addr=addr, laddr=laddr, fd=fd)
        if unix:
            client.flags.add("unix")
        server.stats.total_connections += 1
        if len(server.clients) >= cfg.maxclients:
            server.stats.rejected_connections += 1
            transport.write(_MAXCLIENTS)  # type: ignore[attr-defined]
            transport.close()
            self.closing = True
            return
        if not unix and refuses(server, peer):  # protected mode
            server.stats.rejected_connections += 1
            transport.write(DENIED)  # type: ignore[attr-defined]
            transport.close()
            self.closing = True
            return
        if not unix and cfg.tcp_keepalive > 0 and sockobj is not None:
            _keepalive(sockobj, cfg.tcp_keepalive)
        server.clients[client.id] = client
        client.write_out = self._push
        client.output_size = self._output_size
        client.close_connection = self._close_now  # type: ignore[attr-defined]
        client.connection = self  # type: ignore[attr-defined]  # a replica's RDB is sent on it
        self.parser = RequestParser(cfg.proto_max_bulk_len, cfg.client_query_buffer_limit)
        self.parser.authenticated = client.authenticated

    def _data_received(self, data: bytes) -> None:
        if self.closing:
            return
        client = self.client
        client.last_interaction = _now()
        self.server.stats.net_input += len(data)
        parser = self.parser
        parser.authenticated = client.authenticated
        try:
            requests, error = parser.feed(data)
        except QueryBufferFull:
            log.warning("closing client %s: query buffer over client-query-buffer-limit", client.addr)
            self._close_now()
            return
        if self.suspended is not None or self.pending:
            self.pending.extend(requests)
            if error:
                self.pending.append([_PROTOCOL_ERROR, error.encode()])
            return
        if len(requests) == 1 and error is None and not parser.paused \
                and not self.server.paused_until:
            # The common read under -P 1: one request, without _run's loop.
            reply = execute(client, requests[0])
            if type(reply) is Suspend or client.reply_mode != "on" or client.close_after_reply \
                    or client.deferred_pushes:
                self._finish(requests[0], reply)
            else:
                self.out.append(encode(reply, client.resp == 3))
            self._flush()
            return
        self._run(requests)
        while parser.paused and not error and not self.closing and self.suspended is None:
            # An AUTH/HELLO from an unauthenticated client: parse the rest under its outcome.
            parser.paused = False
            parser.authenticated = client.authenticated
            requests, error = parser.feed(b"")
            self._run(requests)
        if error:
            self._protocol_error(error)
        self._flush()

    if not LANE:
        def data_received(self, data: bytes) -> None:
            self.server.stats.io_reads += 1  # (the lane counts the reads it is given)
            self._data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        client = getattr(self, "client", None)
        if client is None:
            return
        client.closed = True
        server = self.server
        server.clients.pop(client.id, None)
        server.extensions.get("backlogged", set()).discard(self)
        if self.suspended is not None:
            self.suspended.cancel()
            self.suspended = None
        if self._timer is not None:
            self._timer.cancel()
        server.pubsub.drop_client(client)
        if client in server.monitors:
            server.monitors.remove(client)
        for hook in server.close_hooks:
            try:
                hook(client)
            except Exception:
                log.exception("close hook failed")

    # -- request processing ----------------------------------------------------------

    def _run(self, requests) -> None:
        client = self.client
        server = self.server
        it = iter(requests)
        for argv in it:
            if argv[0] is _PROTOCOL_ERROR:
                self._protocol_error(argv[1].decode())
                return
            if server.paused_until and self._paused(argv):
                self.pending.append(argv)
                self.pending.extend(it)
                return
            reply = execute(client, argv)
            if not self._finish(argv, reply):
                self.pending.extend(it)
                return
            if self.closing:
                return

    def _finish(self, argv: list[bytes], reply: object) -> bool:
        """Queue ``reply`` to ``argv``; False when the client is now suspended on it."""
        client = self.client
        if type(reply) is Suspend:
            reply.argv = argv
            self._suspend(reply)
            return False
        if client.reply_mode == "on":
            self.out.append(encode(reply, client.resp == 3))
        else:
            self._reply_off(reply)
        if client.deferred_pushes:  # tracking invalidations of the caller's own writes
            self.out.extend(client.deferred_pushes)
            client.deferred_pushes = []
        if client.close_after_reply:
            self.closing = True
        return True

    def _reply_off(self, reply: object) -> None:
        """CLIENT REPLY OFF/SKIP: the reply is dropped (but see the exceptions)."""
        client = self.client
        mode = client.reply_mode
        if type(reply) is Pushes:  # (un)subscribe confirmations ignore CLIENT REPLY
            self.out.append(encode(reply, client.resp == 3))
            if mode == "skip":
                client.reply_mode = "on"
        elif mode == "skip":
            client.reply_mode = "on"
        elif mode == "skip_next":  # CLIENT REPLY SKIP: no reply to it, none to the next
            client.reply_mode = "skip"

    def _paused(self, argv: list[bytes]) -> bool:
        """CLIENT PAUSE: park this request (and the rest of the pipeline) until it ends."""
        check = self.server.extensions.get("pause")
        if check is None or not check(self.client, argv):
            return False
        self.server.extensions.setdefault("pause_waiters", []).append(self._drain_pending)
        # A paused client is a blocked one, as in Redis (INFO blocked_clients, flag b),
        # and CLIENT LIST shows the command it waits to run.
        client = self.client
        client.blocked = PAUSED
        cmd = resolve(client, argv)
        if isinstance(cmd, Command):
            client.last_cmd = cmd.fullname
        return True

    def _suspend(self, susp: Suspend) -> None:
        self.suspended = susp
        self.client.blocked = susp
        susp.attach(self._resumed)
        if susp.timeout:
            self._timer = asyncio.get_running_loop().call_later(susp.timeout, susp.expire)

    def _resumed(self, reply: object) -> None:
        if self.suspended is not None:
            blocked_slowlog(self.client, self.suspended)
        self.suspended = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.closing:
            return
        client = self.client
        if client.reply_mode == "on":
            self.out.append(encode(reply, client.resp == 3))
        elif client.reply_mode == "skip":
            client.reply_mode = "on"
        # invalidations of what the served command itself wrote follow its reply; they
        # may be recorded just after this call, hence the second look on the next pass
        self._deferred_out()
        loop = asyncio.get_running_loop()
        loop.call_soon(self._deferred_out)
        if self.pending:
            loop.call_soon(self._drain_pending)
        self._flush()

    def _deferred_out(self) -> None:
        client = self.client
        if client.deferred_pushes and not self.closing:
            self.out.extend(client.deferred_pushes)
            client.deferred_pushes = []
            self._flush()

    def _drain_pending(self) -> None:
        if self.client.blocked is PAUSED:
            self.client.blocked = None
        if self.closing or self.suspended is not None:
            return
        reqs = list(self.pending)
        self.pending.clear()
        self._run(reqs)
        self._flush()

    def _protocol_error(self, error: str) -> None:
        self.out.append(b"-ERR Protocol error: %s\r\n" % error.encode())
        self.closing = True
        self.client.close_after_reply = True

    # -- output --------------------------------------------------------------------------

    def _push(self, data: bytes) -> None:
        """Out-of-band data for this client (pub/sub, invalidation, MONITOR)."""
        if self.closing and not self.client.close_after_reply:
            return
        self.out.append(data)
        self._flush()
        if self.backlogged:  # else the socket took it all: nothing is pending
            self._check_output()

    def pause_writing(self) -> None:
        self.backlogged = True
        self.server.extensions.setdefault("backlogged", set()).add(self)
        self._check_output()

    def resume_writing(self) -> None:
        self.backlogged = False
        self.server.extensions.setdefault("backlogged", set()).discard(self)
        self.client.tracking_state.pop("obuf_soft_since", None)

    def _output_size(self) -> int:
        """Reply bytes not yet taken by the socket (CLIENT LIST omem)."""
        transport = self.transport
        pending = sum(map(len, self.out))
        if transport is None or transport.is_closing():
            return pending
        return pending + transport.get_write_buffer_size()

    def _check_output(self) -> None:
        """checkClientOutputBufferLimits (after a write, and from the cron while the
        client does not read): close it if its unsent output is over the limits."""
        if self.closing or self.transport is None:
            return
        if self._over_limit(self.transport.get_write_buffer_size()):
            self._close_now()

    def _over_limit(self, pending: int) -> bool:
        """Is ``pending`` unsent bytes over this client's class hard limit, or over its
        soft limit for longer than its seconds?"""
        return output_limits(self.server).check(self.client, pending)

    def _flush(self) -> None:
        if self.holding:
            return
        if self.engine.in_tx:
            self.holding = True
            self.held.append(self)
            return
        self._write_out()

    def _release(self, ok: bool, error: bytes) -> None:
        """The batch's COMMIT returned (or the batch was rolled back): send the replies.
        (``release`` is the lane's when it is built: this, in C, for the common case.)"""
        self.holding = False
        if not ok:
            self.out = [error] * len(self.out)
        self._write_out()

    if not LANE:
        release = _release

    def _write_out(self) -> None:
        out = self.out
        transport = self.transport
        if out and transport is not None and not transport.is_closing():
            data = b"".join(out)  # a one-item list: the item itself, no copy
            self.out = []
            n = len(data)
            if (n > _REPLY_BUF or self.backlogged) and self._over_limit(
                    transport.get_write_buffer_size() + n):
                # Redis builds replies in memory before writing them: a client whose
                # replies cross the limit is closed and none of them is sent
                self._close_now()
                return
            transport.write(data)
            stats = self.server.stats
            stats.net_output += n
            stats.io_writes += 1
        elif out:
            self.out = []
        if self.closing and self.client.close_after_reply and transport is not None:
            transport.close()

    def _close_now(self) -> None:
        self.closing = True
        if self.transport is not None:
            self.transport.abort()


# Commands the lane must leave to _data_received: those that change the connection's
# state or its reading (AUTH, HELLO, QUIT, RESET, MULTI/EXEC, WATCH, SUBSCRIBE, MONITOR,
# PSYNC ...), block, run scripts, or administer the server. The rest, in the plain state
# the lane checks, are execute()'s plain branch and then call(), as on the Python road.
_LANE_REFUSES = frozenset({"admin", "pubsub", "noscript", "blocking", "no_multi", "no_auth"})


def lane_ok(cmd: Command) -> bool:
    """May the lane parse ``cmd`` and hand it to dispatch.call() itself?"""
    return (cmd.handler is not None and not cmd.subcommands and cmd.protected is None
            and cmd.cached_read is None and not (cmd.flags & _LANE_REFUSES))


if LANE:
    _lane.configure(_PLAIN, get_cached, _slow, RespConnection, RequestParser, Command, KeyRow,
                    set_, LazyIdRow, _UPDATE_VALUE, _UPSERT_STRING, apsw.Error,
                    call, encode, lane_ok, Suspend)
    # single-element HSET, ZADD, SADD, LPUSH, RPUSH, LPOP, RPOP, LRANGE and ZRANGEBYSCORE
    # on a cached collection: the storage modules' own statements
    _lane.configure_writes(hset, zadd, lpush, rpush, lpop, rpop, lrange, zrangebyscore, mhash,
                           _hashes._INSERT_OR_IGNORE, _hashes._UPDATE_IF_CHANGED,
                           _zsets._UPDATE_IF_CHANGED, _zsets._INSERT_OR_IGNORE,
                           _lists._GET, _lists._INSERT, _lists._DELETE_AT,
                           _lists._RANGE_JOINED, _zsets.RANGE_SCORE_JOINED, sadd,
                           _sets.INSERT_OR_IGNORE)


def _fmt_addr(addr) -> str:
    if not addr:
        return ""
    host, port = addr[0], addr[1]
    return f"{host}:{port}"


def _keepalive(sock, interval: int) -> None:
    """anetKeepAlive: probes after ``interval`` seconds idle, then every interval/3, and
    the peer is dead after 3 unanswered (tcp-keepalive), so a vanished client is noticed."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        if hasattr(socket, "TCP_KEEPIDLE"):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, interval)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, max(1, interval // 3))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 3)
    except OSError as exc:  # as Redis: logged, the connection is kept
        log.warning("could not set tcp-keepalive on a client socket: %s", exc)
