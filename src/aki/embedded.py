"""aki as a library: the same ``execute()`` road as the server, with no server.

Invariants (what a crash can and cannot leave behind):

* Every top-level command (or every request batch of a redis-py connection)
  runs inside one SQLite transaction that is committed before the call returns,
  so a write is acknowledged (the method returns) only once it is committed; with
  ``appendfsync="always"`` the commit includes the WAL fsync, and a kill -9 of
  the process right after the return loses nothing.
* A handler that crashes rolls its batch back whole: nothing half-applied is
  committed, and the caller gets an error.
* Several processes may open one file: SQLite's locks serialise writers, and a
  process notices another's commit through ``PRAGMA data_version`` at the start
  of each transaction and drops its caches.

Two ways in, both through ``core.dispatch.execute``:

* ``Database`` (what ``aki.open`` returns) is a ``redis.Redis`` whose
  ``execute_command`` calls ``execute()`` directly in the caller's thread (the fast
  path); replies pass through RESP and redis-py's own parser and response
  callbacks, so every method returns exactly what it returns against a server.
* ``ConnectionPool`` hands out redis-py connections whose socket's ``sendall``
  runs the requests in-process and writes the replies into the other end of a
  ``socketpair``; pipelines, transactions, pub/sub and blocking commands work
  unchanged because redis-py reads a real (if local) socket.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

import apsw
import hiredis
import redis
from redis._parsers.hiredis import _HiredisParser
from redis.exceptions import InvalidResponse

from aki.commands import load_all
from aki.config import Config
from aki.core.blocking import Suspend
from aki.core.dispatch import execute, run_internal
from aki.core.session import Client
from aki.core.state import Server
from aki.durability.checkpoint import Checkpointer
from aki.resp.encoder import encode
from aki.resp.parser import RequestParser

_ERRORS = _HiredisParser(65536)


class Core:
    """One open database file in this process, shared by threads and handles."""

    _open: dict[str, Core] = {}
    _open_lock = threading.Lock()

    def __init__(self, path: str, config: Config) -> None:
        load_all()
        self.path = path
        self.server = Server(config)
        self.lock = threading.RLock()
        self.server.request_commit = lambda: None
        self.refs = 0
        self.ops = 0
        self.last_dirty = 0
        self.last_housekeeping = time.monotonic()
        self.dirty_since_fsync = False
        self.closed = False
        # the WAL is folded into the file in the background past checkpoint-wal-size
        # (SQLite's own auto-checkpoint is off: the engine's WAL hook replaces it)
        self.checkpointer = Checkpointer(self.server, None)
        self._fsyncer: threading.Thread | None = None
        if config.appendfsync == "everysec":
            self._fsyncer = threading.Thread(target=self._everysec, name="aki-fsync", daemon=True)
            self._fsyncer.start()

    @classmethod
    def acquire(cls, path: str | os.PathLike[str], options: dict[str, Any]) -> Core:
        real = str(Path(path).resolve())
        with cls._open_lock:
            core = cls._open.get(real)
            if core is None or core.closed:
                cfg = Config()
                cfg.set("dbfile", real, startup=True)
                for name, value in options.items():
                    if isinstance(value, bool):
                        value = "yes" if value else "no"
                    cfg.set(name.replace("_", "-"), str(value), startup=True)
                core = cls(real, cfg)
                cls._open[real] = core
            core.refs += 1
            return core

    def release(self) -> None:
        with Core._open_lock:
            self.refs -= 1
            if self.refs > 0:
                return
            Core._open.pop(self.path, None)
        with self.lock:
            self.closed = True
            self.checkpointer.wait()
            self.checkpointer.poll()
            self.checkpointer.close()
            self.server.close()

    # -- running commands ----------------------------------------------------------

    def finish(self) -> bool:
        """End the batch: commit (or roll back a failed one). True when committed."""
        server = self.server
        engine = server.engine
        if not engine.in_tx:
            return True
        if server.batch_failed:
            engine.rollback()
            server.ks.invalidate()
            server.batch_failed = False
            return False
        try:
            engine.commit()
        except Exception:
            engine.rollback()
            server.ks.invalidate()
            raise
        checkpointer = self.checkpointer
        checkpointer.poll()
        checkpointer.after_commit(True)
        if server.dirty != self.last_dirty:  # a write: expiry and reclaim ride on writes
            self.last_dirty = server.dirty
            self.dirty_since_fsync = True
            self.ops += 1
            if self.ops % 64 == 0 or time.monotonic() - self.last_housekeeping > 0.1:
                self._housekeeping()
        return True

    def _housekeeping(self) -> None:
        """Expiry and reclaim without a server: a small bounded pass, on writes."""
        self.last_housekeeping = time.monotonic()
        server = self.server
        ks = server.ks
        if server.active_expire:
            run_internal(server, lambda: ks.expire_cycle(20))
        if ks.has_garbage():
            run_internal(server, lambda: ks.reclaim_garbage(500))
        if server.engine.in_tx:
            server.engine.commit()

    def _everysec(self) -> None:
        while not self.closed:
            time.sleep(1.0)
            if self.dirty_since_fsync and not self.closed:
                self.dirty_since_fsync = False
                try:
                    self.server.engine.fsync_wal()
                except OSError:
                    pass

    def run(self, client: Client, argv: list[bytes]) -> object:
        """Run one command to completion (waiting if it blocks); returns the reply value."""
        with self.lock:
            server = self.server
            server.batch_error = None
            reply = execute(client, argv)
            ok = self.finish()
            if not ok and isinstance(server.batch_error, apsw.BusyError) \
                    and server.engine.read_deferred:
                # A read-only call runs in a DEFERRED transaction; if it had to write
                # (a lazily expired key) after another process committed, SQLite refuses
                # the upgrade (SQLITE_BUSY_SNAPSHOT). Nothing was applied: run it again
                # in an IMMEDIATE transaction, which takes the write lock up front.
                server.engine.read_deferred = False
                try:
                    reply = execute(client, argv)
                    ok = self.finish()
                finally:
                    server.engine.read_deferred = True
        if not ok:
            from aki.resp.types import ErrorReply

            return ErrorReply("ERR the command was rolled back after an internal error")
        if type(reply) is Suspend:
            return self._wait(reply)
        return reply

    def _wait(self, susp: Suspend) -> object:
        done = threading.Event()
        box: list[object] = []

        def resume(value: object) -> None:
            box.append(value)
            done.set()

        with self.lock:
            susp.attach(resume)
            if susp.done:
                return box[0] if box else None
        timeout = susp.timeout or None
        if not done.wait(timeout):
            with self.lock:
                susp.expire()
                self.finish()
        done.wait()
        return box[0]


def _reader(decode: bool, encoding: str = "utf-8", errors: str = "strict") -> hiredis.Reader:
    kwargs: dict[str, Any] = {"protocolError": InvalidResponse, "replyError": _ERRORS.parse_error}
    if decode:
        kwargs["encoding"] = encoding
        kwargs["errors"] = errors
    return hiredis.Reader(**kwargs)


class Database(redis.Redis):
    """An embedded aki database with redis-py's whole API (``aki.open``)."""

    def __init__(self, path: str | os.PathLike[str] = "data.aki", *, decode_responses: bool = False,
                 protocol: int = 2, **options: Any) -> None:
        self._core = Core.acquire(path, options)
        self._core.server.engine.read_deferred = True
        pool = ConnectionPool(path, decode_responses=decode_responses, protocol=protocol,
                              _core=self._core)
        super().__init__(connection_pool=pool, decode_responses=decode_responses, protocol=protocol)
        self._client = Client(self._core.server, addr="embedded:0", kind="normal")
        self._client.resp = 3 if protocol == 3 else 2
        self._decode = decode_responses
        self._encoder = pool.get_encoder()
        self._encoding = self._encoder.encoding
        self._encoding_errors = self._encoder.encoding_errors
        self._closed = False

    # -- the fast path ------------------------------------------------------------

    def execute_command(self, *args: Any, **options: Any) -> Any:
        name = args[0]
        encode_arg = self._encoder.encode
        if type(name) is str and " " in name:
            # redis-py's packer splits "CONFIG SET" into two arguments; so do we
            args = (*name.split(), *args[1:])
        enc, errs = self._encoding, self._encoding_errors
        argv = [a if type(a) is bytes else a.encode(enc, errs) if type(a) is str else encode_arg(a)
                for a in args]
        reply = self._core.run(self._client, argv)
        decode = self._decode and not options.pop("NEVER_DECODE", False)
        t = type(reply)
        if t is bytes:  # the common replies need no RESP round trip
            response: Any = reply.decode(self._encoding, self._encoding_errors) if decode else reply
        elif t is int or reply is None:
            response = reply
        else:
            reader = _reader(decode, self._encoding, self._encoding_errors)
            reader.feed(encode(reply, self._client.resp == 3))
            response = reader.gets()
        if t is not bytes and isinstance(response, redis.exceptions.ResponseError):
            if "EMPTY_RESPONSE" in options:
                return options["EMPTY_RESPONSE"]
            raise response
        options.pop("EMPTY_RESPONSE", None)
        options.pop("keys", None)
        callback = self.response_callbacks.get(name)  # a case-insensitive dict
        if callback is not None:
            return callback(response, **options)
        return response

    def execute(self, *args: Any) -> Any:
        """Run any command by name: ``db.execute("HSET", "h", "f", "v")``."""
        return self.execute_command(*args)

    # -- lifecycle ------------------------------------------------------------------

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        super().close()
        self.connection_pool.disconnect()
        self._core.release()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def server(self) -> Server:
        """The underlying server state (for tools and tests)."""
        return self._core.server


def open(path: str | os.PathLike[str] = "data.aki", **options: Any) -> Database:  # noqa: A001
    """Open (creating if needed) an aki database in this process.

    ``options`` are configuration directives with underscores
    (``appendfsync="always"``, ``cache_size="256mb"``) plus redis-py's
    ``decode_responses`` and ``protocol``.
    """
    return Database(path, **options)


# -- a redis-py connection pool backed by the embedded engine ---------------------


class _LocalSocket:
    """The redis-py side of a socketpair whose ``sendall`` runs requests in-process."""

    def __init__(self, core: Core, client: Client) -> None:
        self.core = core
        self.client = client
        self.mine, self.peer = socket.socketpair()
        self.peer.setblocking(False)
        self._outbuf = bytearray()  # replies that did not fit in the socket buffer yet
        self.parser = RequestParser(core.server.config.proto_max_bulk_len,
                                    core.server.config.client_query_buffer_limit)
        self.out_lock = threading.Lock()
        client.write_out = self._deliver

    # socket API used by redis-py --------------------------------------------------

    def sendall(self, data: bytes | memoryview) -> None:
        requests, error = self.parser.feed(bytes(data))
        for argv in requests:
            reply = self.core.run(self.client, argv)
            if self.client.reply_mode == "on":
                self._deliver(encode(reply, self.client.resp == 3))
            elif self.client.reply_mode == "skip":
                self.client.reply_mode = "on"
        if error:
            self._deliver(b"-ERR Protocol error: %s\r\n" % error.encode())

    def recv_into(self, buf, nbytes: int = 0, flags: int = 0) -> int:
        self._flush()
        return self.mine.recv_into(buf, nbytes, flags)

    def recv(self, n: int, flags: int = 0) -> bytes:
        self._flush()
        return self.mine.recv(n, flags)

    def settimeout(self, t: float | None) -> None:
        self.mine.settimeout(t)

    def gettimeout(self) -> float | None:
        return self.mine.gettimeout()

    def setsockopt(self, *args: Any) -> None:
        pass

    def fileno(self) -> int:
        return self.mine.fileno()

    def getsockname(self) -> str:
        return "embedded"

    def getpeername(self) -> str:
        return "embedded"

    def shutdown(self, how: int) -> None:
        pass

    def close(self) -> None:
        self.client.closed = True
        server = self.core.server
        with self.core.lock:
            server.pubsub.drop_client(self.client)
            if self.client.blocked is not None:
                self.client.blocked.cancel()
            for hook in server.close_hooks:
                hook(self.client)
            server.clients.pop(self.client.id, None)
        self.mine.close()
        self.peer.close()

    # delivery ---------------------------------------------------------------------

    def _deliver(self, data: bytes) -> None:
        with self.out_lock:
            self._outbuf += data
            self._flush_locked()

    def _flush(self) -> None:
        if self._outbuf:
            with self.out_lock:
                self._flush_locked()

    def _flush_locked(self) -> None:
        while self._outbuf:
            try:
                n = self.peer.send(self._outbuf)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self._outbuf.clear()
                return
            del self._outbuf[:n]


class EmbeddedConnection(redis.Connection):
    """A redis-py Connection whose 'socket' is the embedded engine."""

    def __init__(self, *, _core: Core, **kwargs: Any) -> None:
        self._core = _core
        super().__init__(**kwargs)

    def _connect(self) -> Any:
        core = self._core
        client = Client(core.server, addr="embedded:0", kind="normal")
        with core.lock:
            core.server.clients[client.id] = client
        return _LocalSocket(core, client)

    def _host_error(self) -> str:
        return f"aki embedded {self._core.path}"

    def repr_pieces(self) -> list[tuple[str, Any]]:
        return [("path", self._core.path), ("db", self.db)]


class ConnectionPool(redis.ConnectionPool):
    """``redis.Redis(connection_pool=aki.ConnectionPool("data.aki"))``: redis-py, embedded."""

    def __init__(self, path: str | os.PathLike[str] = "data.aki", *, _core: Core | None = None,
                 **kwargs: Any) -> None:
        options = {k: kwargs.pop(k) for k in list(kwargs) if k in _CONFIG_OPTIONS}
        self._owns_core = _core is None
        self._core = _core or Core.acquire(path, options)
        kwargs.setdefault("decode_responses", False)
        super().__init__(connection_class=EmbeddedConnection, _core=self._core, **kwargs)

    def disconnect(self, inuse_connections: bool = True) -> None:
        super().disconnect(inuse_connections)


_CONFIG_OPTIONS = {"appendfsync", "cache_size", "databases", "checkpoint_wal_size", "hz", "page_size",
                   "notify_keyspace_events", "requirepass"}
