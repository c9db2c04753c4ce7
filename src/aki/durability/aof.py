"""The append-only command log (``appendonly yes``): a Redis-format AOF beside the file.

Layout: one file, ``appendfilename`` (default ``appendonly.aof``) in ``dir``, in Redis's
format: an RDB preamble written by the last rewrite (or RESP commands when
``aof-use-rdb-preamble no``), then RESP commands, with ``#TS:<unix-seconds>``
annotations when ``aof-timestamp-enabled``. Redis loads it as an old-style AOF;
``aki import --format aof`` reads it, a Redis 7 ``appendonlydir`` and its manifest.
(aki does not write the Redis 7 multi-part layout: one file is simpler to make atomic.)

How a batch travels: ``feed`` (a ``server.propagators`` entry) encodes each propagated
command as RESP (a SELECT first when the db changes); the committer's ``before_commit``
hook appends the batch's bytes to the log, fsyncs them under ``appendfsync always``,
and writes the new log length into meta ``aof_offset`` inside the still-open SQLite
transaction; ``after_commit`` truncates the log back if the batch did not commit.

Invariants (what a crash can and cannot leave behind):

* meta ``aof_offset`` always names a record boundary of the log, and the database
  holds exactly the effect of the log up to it: both change in the same COMMIT.
* A record reaches the log before its batch's COMMIT. A crash after the append and
  before the COMMIT leaves records past ``aof_offset``: start-up replays them through
  ``execute()`` (so nothing the log holds is lost), then stores the new offset.
* A torn record at the tail (a crash mid-append) is past ``aof_offset`` and was never
  acknowledged: ``aof-load-truncated yes`` truncates the log to the last whole record
  (and drops an unfinished MULTI), ``no`` refuses to start and names the offset.
* Under ``everysec``/``no`` the log's tail may be lost on power loss while SQLite kept
  the commit (or the reverse): if the log is shorter than ``aof_offset`` it no longer
  describes the database, and start-up rewrites it from a snapshot (logged).
* Rewrite (BGREWRITEAOF): a snapshot connection pins a point between two batches; a
  thread writes it to ``<file>.rewrite.tmp``; batches committed meanwhile go to the
  old log *and* to a buffer. The swap runs on the loop thread between batches: append
  the buffer to the temp file and fsync it; commit meta ``aof_pending = <temp length>``
  (and fsync the WAL); rename the temp file over the log and fsync the directory;
  commit ``aof_offset = <temp length>`` and drop ``aof_pending``. A crash leaves either
  the temp file present (the rename did not happen: the pending row is dropped and the
  old log and offset are still right) or absent (the rename happened: the pending
  offset is the right one). No write can slip between the steps: they run with no
  batch open, on the only thread that starts batches.
* ``CONFIG SET appendonly yes|no`` switches between two batches (after the COMMIT of the
  one holding the CONFIG SET): a log switched on is written whole from the database; a
  log switched off is closed and marked stale (``aof_offset`` -1), and a later start
  writes a new one rather than append to a log that lacks the writes made meanwhile.
  A switch-off during a rewrite waits for the rewrite to end (the log is fed until
  then): a rewrite finishing after the switch would otherwise install its log with a
  current offset.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import apsw

from aki.config import ConfigError
from aki.core.state import ReplOnly
from aki.durability import rdbsave

if TYPE_CHECKING:
    from aki.core.state import Server

log = logging.getLogger("aki.aof")

REWRITE_ITEMS_PER_CMD = 64  # AOF_REWRITE_ITEMS_PER_CMD
STALE = -1  # meta aof_offset of a log switched off while the server ran


class AOFError(Exception):
    """A log that cannot be read as it stands. ``offset``: where the problem starts;
    ``valid_up_to``: the end of the last whole command (before an unfinished MULTI);
    ``truncated``: True for a short read (a torn tail), False for a format error."""

    def __init__(self, message: str, offset: int, valid_up_to: int, truncated: bool) -> None:
        super().__init__(f"{message} (at byte offset {offset})")
        self.offset = offset
        self.valid_up_to = valid_up_to
        self.truncated = truncated


def encode(argv: list[Any]) -> bytes:
    """One command as RESP (what Redis's catAppendOnlyGenericCommand writes)."""
    parts = [b"*%d\r\n" % len(argv)]
    for a in argv:
        if not isinstance(a, bytes | bytearray | memoryview):
            a = str(a).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(parts)


def read_commands(f: BinaryIO, start: int = 0) -> Iterator[tuple[list[bytes], int]]:
    """Commands of a log from byte ``start``: ``(argv, end offset)``, ``#`` lines skipped.

    Raises ``AOFError`` at a short read (``truncated``) or a malformed record, with the
    same rules as Redis's loadSingleAppendOnlyFile."""
    f.seek(start)
    pos = start
    readline = f.readline
    read = f.read
    while True:
        line = readline(4096)
        if not line:
            return
        if line[:1] == b"#":
            if not line.endswith(b"\n"):
                raise AOFError("short read in an annotation", pos, pos, True)
            pos += len(line)
            continue
        if line[:1] != b"*":
            raise AOFError("bad file format: expected '*'", pos, pos, False)
        if not line.endswith(b"\n"):
            raise AOFError("short read in a command header", pos, pos, True)
        try:
            argc = int(line[1:])
        except ValueError:
            raise AOFError("bad file format: bad argument count", pos, pos, False) from None
        if argc < 1:
            raise AOFError("bad file format: argument count < 1", pos, pos, False)
        at = pos + len(line)
        argv = []
        for _ in range(argc):
            hdr = readline(4096)
            if not hdr or not hdr.endswith(b"\n"):
                raise AOFError("short read in an argument header", at, pos, True)
            if hdr[:1] != b"$":
                raise AOFError("bad file format: expected '$'", at, pos, False)
            try:
                n = int(hdr[1:])
            except ValueError:
                raise AOFError("bad file format: bad argument length", at, pos, False) from None
            if n < 0:
                raise AOFError("bad file format: negative argument length", at, pos, False)
            data = read(n + 2)
            if len(data) < n + 2:
                raise AOFError("short read in an argument", at, pos, True)
            argv.append(data[:n])
            at += len(hdr) + n + 2
        pos = at
        yield argv, pos


def parse_manifest(path: Path) -> list[tuple[str, str]]:
    """A Redis 7 manifest: ``[(file name, type)]`` in load order (base, then incr by seq);
    history files (type h) are left out."""
    base: list[tuple[str, str]] = []
    incr: list[tuple[int, str]] = []
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        toks = line.split()
        fields = dict(zip(toks[::2], toks[1::2], strict=False))
        name, kind = fields.get("file"), fields.get("type")
        if not name or kind not in ("b", "i", "h"):
            raise ValueError(f"invalid manifest line: {raw!r}")
        if kind == "b":
            base.append((name, "b"))
        elif kind == "i":
            incr.append((int(fields.get("seq", "0")), name))
    return base + [(n, "i") for _, n in sorted(incr)]


# -- writing a snapshot as a log ---------------------------------------------------------


def write_base(conn: apsw.Connection, fileobj: BinaryIO, *, preamble: bool, compress: bool,
               key_delay: int = 0) -> None:
    """The rewrite base of ``conn``'s snapshot (the caller has a read transaction open):
    an RDB preamble, or the commands that rebuild every key (``key_delay``: as
    ``write_snapshot_rdb``'s)."""
    from aki.storage import bulk

    if preamble:
        bulk.write_snapshot_rdb(conn, fileobj, compress=compress, aof_base=True, begin=False,
                                key_delay=key_delay)
        return
    out: list[bytes] = []
    size = 0
    for code in bulk.functions(conn):
        out.append(encode([b"FUNCTION", b"LOAD", code]))
    for logical, phys in enumerate(bulk.read_dbmap(conn)):
        if bulk.db_counts(conn, phys)[0] == 0:
            continue
        out.append(encode([b"SELECT", b"%d" % logical]))
        for key, kind, value, exp in bulk.iter_db(conn, phys):
            for cmd in rebuild_commands(key, kind, value):
                out.append(encode(cmd))
            if exp is not None:
                out.append(encode([b"PEXPIREAT", key, b"%d" % exp]))
            size += 1
            if key_delay:
                bulk.debug_delay(key_delay)
            if len(out) > 512:
                fileobj.write(b"".join(out))
                out.clear()
    fileobj.write(b"".join(out))


def rebuild_commands(key: bytes, kind: str, value: Any) -> Iterator[list[bytes]]:
    """The commands that create ``key`` (rewriteListObject & co., 64 items a command)."""
    if kind == "string":
        yield [b"SET", key, value]
        return
    step = REWRITE_ITEMS_PER_CMD
    for i in range(0, len(value), step):
        chunk = value[i:i + step]
        if kind == "list":
            yield [b"RPUSH", key, *chunk]
        elif kind == "set":
            yield [b"SADD", key, *chunk]
        elif kind == "zset":
            args = []
            for m, s in chunk:
                args.append(_score(s))
                args.append(m)
            yield [b"ZADD", key, *args]
        elif kind == "hash":
            args = []
            for fl, v in chunk:
                args.append(fl)
                args.append(v)
            yield [b"HMSET", key, *args]


def _score(s: float) -> bytes:
    if s == float("inf"):
        return b"inf"
    if s == float("-inf"):
        return b"-inf"
    return (b"%.17g" % s)


# -- the live log ------------------------------------------------------------------------


class AppendOnlyLog:
    """The AOF of a running server (see the module docstring for the invariants)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.server: Server = app.server
        cfg = self.server.config
        self.path = Path(cfg.dir) / cfg.appendfilename
        self.tmp = Path(str(self.path) + ".rewrite.tmp")
        self.fd = -1
        self.size = 0
        self.buf: list[bytes] = []
        self.cur_db = -1
        self.loading = False
        self.last_ts = 0
        self.batch_start = 0
        self.batch_bytes = 0
        self.dirty = False  # appended but not fsynced (everysec/no)
        self.rewriting = False
        self.rewrite_buf: list[bytes] = []
        self.rewrite_started = 0.0
        self.last_rewrite_time = -1
        self.last_rewrite_status = "ok"
        self.rewrites = 0
        self.base_size = 0  # size after the last rewrite (auto-aof-rewrite-*; meta aof_base)
        self.failures = 0  # rewrites failed in a row
        self.auto_not_before = 0.0  # after repeated failures, no automatic rewrite before
        self.pending_swap = False
        # CONFIG SET appendonly no arrived during a rewrite: go off when it ends
        self.off_after_rewrite = False
        self.fsync_running = False
        self.last_fsync_status = "ok"
        self.enabled = False
        self.task: asyncio.Task | None = None  # the everysec fsync task (see _attach)

    # -- meta --------------------------------------------------------------------------

    def _meta(self, name: str) -> int | None:
        r = self.server.engine.cur.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return None if r is None or r[0] is None else int(r[0])

    def _set_meta(self, name: str, value: int | None) -> None:
        cur = self.server.engine.cur
        if value is None:
            cur.execute("DELETE FROM meta WHERE name = ?", (name,))
        else:
            cur.execute("INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) "
                        "DO UPDATE SET value = excluded.value", (name, value))

    def _commit_meta(self, **values: int | None) -> None:
        """A small transaction of its own (only between batches, on the loop thread)."""
        engine = self.server.engine
        engine.begin()
        try:
            for k, v in values.items():
                self._set_meta(k, v)
        except BaseException:
            engine.rollback()
            raise
        engine.commit()

    # -- start-up ----------------------------------------------------------------------

    def start(self) -> None:
        """Recover a half-done swap, replay the tail past ``aof_offset``, open for append."""
        engine = self.server.engine
        if engine.in_tx:
            engine.commit()
        pending = self._meta("aof_pending")
        if pending is not None:
            if self.tmp.exists():
                log.warning("AOF rewrite was interrupted before its swap: keeping %s", self.path)
                self.tmp.unlink()
                self._commit_meta(aof_pending=None)
            else:
                log.warning("AOF rewrite was interrupted after its swap: offset %d", pending)
                self._commit_meta(aof_offset=pending, aof_pending=None)
        elif self.tmp.exists():
            self.tmp.unlink()
        offset = self._meta("aof_offset")
        if not self.path.exists():
            if offset is not None:
                log.warning("the append only file %s is missing: writing a new one from the database",
                            self.path)
            self._write_fresh()
        else:
            size = self.path.stat().st_size
            if offset is None:
                if self.server.ks.dbsize(0) or engine.cur.execute("SELECT 1 FROM keys LIMIT 1").fetchone():
                    from aki.storage.engine import FileRefused

                    raise FileRefused(
                        f"{self.path} exists but {engine.path} holds data and no record of how much "
                        "of that log it contains; move the log away (aki writes a new one) or import "
                        "it with 'aki import --format aof'")
                offset = 0
            if offset == STALE:
                log.warning("the append only file %s was switched off while the server ran: "
                            "writing a new one from the database", self.path)
                self._write_fresh()
            elif size < offset:
                log.warning("the append only file %s is shorter (%d bytes) than the database has "
                            "applied (%d): rewriting it from the database", self.path, size, offset)
                self._write_fresh()
            else:
                self._replay(offset)
        self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        self.size = os.fstat(self.fd).st_size
        base = self._meta("aof_base")
        self.base_size = base if base is not None and 0 < base <= self.size else self.size
        self.enabled = True

    def begin_live(self) -> None:
        """Open a new log on a running server (CONFIG SET appendonly yes), between batches:
        whatever file is there is replaced by one written from the database."""
        if self.tmp.exists():
            self.tmp.unlink()
        self._write_fresh()
        self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        self.size = self.base_size = os.fstat(self.fd).st_size
        self.enabled = True

    def mark_stale(self) -> None:
        """The log was switched off: the database moves on without it (see _switch)."""
        try:
            self._commit_meta(aof_offset=STALE)
        except apsw.Error as exc:
            log.error("could not mark the append only file stale: %s", exc)

    def _pin_snapshot(self) -> apsw.Connection:
        """A read transaction on its own connection, pinned now (its first read fixes the
        snapshot): what a log written from it contains is exactly the committed state."""
        conn = self.server.engine.snapshot_connection()
        try:
            conn.execute("BEGIN")
            conn.execute("SELECT count(*) FROM meta").fetchall()
        except BaseException:
            conn.close()
            raise
        return conn

    def _write_fresh(self) -> None:
        """A whole new log from the database, on this thread (start-up, appendonly yes;
        so without ``rdb-key-save-delay``, which only slows background writers)."""
        self._rewrite_thread(self._pin_snapshot(), background=False)
        self._install(self.tmp.stat().st_size)

    def _write_snapshot(self, conn: apsw.Connection, f: BinaryIO, background: bool) -> None:
        cfg = self.server.config
        write_base(conn, f, preamble=bool(cfg.aof_use_rdb_preamble), compress=bool(cfg.rdbcompression),
                   key_delay=cfg.rdb_key_save_delay if background else 0)

    def _install(self, new_offset: int) -> None:
        """Atomically make the temp file the log whose applied length is ``new_offset``."""
        self._commit_meta(aof_pending=new_offset)
        self.server.engine.fsync_wal()
        os.replace(self.tmp, self.path)
        _fsync_dir(self.path.parent)
        # the log's size right after a rewrite: the base auto-aof-rewrite-percentage
        # measures growth from, across restarts too (Redis 7 keeps it as its base file)
        self._commit_meta(aof_offset=new_offset, aof_pending=None, aof_base=new_offset)
        self.cur_db = -1

    def _replay(self, offset: int) -> None:
        """Apply the records past ``offset`` (a crash between log append and COMMIT)."""
        from aki.core.dispatch import execute
        from aki.core.session import Client

        server = self.server
        engine = server.engine
        cfg = server.config
        client = Client(server, addr="aof", kind="aof")
        client.authenticated = True
        guard = server.extensions.pop("guard", None)
        self.loading = True
        applied = 0
        end = offset
        valid_before_multi = offset
        try:
            with open(self.path, "rb") as f:
                if offset == 0 and f.read(5) == b"REDIS":
                    end = self._load_preamble(f)
                    valid_before_multi = end
                try:
                    for argv, pos in read_commands(f, end):
                        name = argv[0].lower()
                        if name == b"multi":
                            valid_before_multi = end
                        execute(client, argv)
                        applied += 1
                        if not client.in_multi:
                            end = pos
                            valid_before_multi = pos
                    if client.in_multi:
                        log.warning("Revert incomplete MULTI/EXEC transaction in AOF file %s", self.path)
                        raise AOFError("unfinished MULTI at the end of the log", end,
                                       valid_before_multi, True)
                except AOFError as exc:
                    good = valid_before_multi if client.in_multi else exc.valid_up_to
                    client.in_multi = False
                    client.multi_queue = []
                    if not exc.truncated or not cfg.aof_load_truncated:
                        engine.rollback()
                        from aki.storage.engine import FileRefused

                        what = "Unexpected end of file" if exc.truncated else "Bad file format"
                        raise FileRefused(
                            f"{what} reading the append only file {self.path} at byte offset "
                            f"{exc.offset} (last valid command ends at {good}); "
                            "set aof-load-truncated yes to start from there, or repair the log"
                        ) from None
                    log.warning("!!! Warning: short read while loading the AOF file %s!!!", self.path)
                    log.warning("!!! Truncating the AOF %s at offset %d !!!", self.path, good)
                    os.truncate(self.path, good)
                    end = good
        finally:
            self.loading = False
            if guard is not None:
                server.extensions["guard"] = guard
        if not engine.in_tx:
            engine.begin()
        self._set_meta("aof_offset", end)
        engine.commit()
        server.ks.touched = []
        if applied:
            log.info("AOF: replayed %d commands past offset %d of %s", applied, offset, self.path)

    def _load_preamble(self, f: BinaryIO) -> int:
        """An RDB preamble at offset 0 (a Redis log placed here): bulk-load it."""
        from aki.rdb import RDBReader
        from aki.storage import bulk

        server = self.server
        f.seek(0)
        reader = RDBReader(f, on_warning=log.warning)
        if not server.engine.in_tx:
            server.engine.begin()
        loader = bulk.BulkLoader(server.engine.conn, limits=bulk.Limits.from_config(server.config),
                                 dbmap=server.ks.dbmap, on_warning=log.warning)
        loader.add_rdb_records(reader.records())
        loader.finish()
        server.ks.invalidate()
        return f.tell() - len(reader.tail())

    # -- the write path ----------------------------------------------------------------

    def feed(self, db: int, argv: list[bytes]) -> None:
        """A propagated write (server.propagators)."""
        if self.loading or not self.enabled or type(argv) is ReplOnly:
            return
        if db != self.cur_db:
            self.buf.append(encode([b"SELECT", b"%d" % db]))
            self.cur_db = db
        self.buf.append(encode(argv))

    def before_commit(self) -> None:
        """Append the batch to the log (before SQLite's COMMIT) and record the new length."""
        if not self.buf or self.fd < 0:
            self.batch_bytes = 0
            return
        cfg = self.server.config
        if cfg.aof_timestamp_enabled:
            now = int(time.time())
            if now > self.last_ts:
                self.buf.insert(0, b"#TS:%d\r\n" % now)
                self.last_ts = now
        data = b"".join(self.buf)
        self.buf.clear()
        self.batch_start = self.size
        try:
            _write_all(self.fd, data)
            if cfg.appendfsync == "always" and not (self.rewriting and cfg.no_appendfsync_on_rewrite):
                os.fsync(self.fd)
            else:
                self.dirty = True
        except OSError as exc:
            log.error("writing the append only file failed: %s", exc)
            self._truncate_back()
            self.server.batch_failed = True
            self.last_fsync_status = "err"
            self.batch_bytes = 0
            return
        self.size += len(data)
        self.batch_bytes = len(data)
        if self.rewriting:
            self.rewrite_buf.append(data)
        self._set_meta("aof_offset", self.size)

    def fsync_now(self) -> None:
        """Make what the log holds durable now (DEBUG LOADAOF's flushAppendOnlyFile)."""
        if self.fd >= 0:
            os.fsync(self.fd)
            self.dirty = False

    def after_commit(self, ok: bool) -> None:
        if not ok and self.batch_bytes:
            self._truncate_back()
            if self.rewriting and self.rewrite_buf:
                self.rewrite_buf.pop()
            self.cur_db = -1
        self.batch_bytes = 0
        if self.pending_swap and not self.server.engine.in_tx:
            self.pending_swap = False
            self._swap()

    def _truncate_back(self) -> None:
        try:
            os.ftruncate(self.fd, self.batch_start)
        except OSError as exc:
            log.error("truncating the append only file back failed: %s", exc)
        self.size = self.batch_start

    async def everysec(self) -> None:
        """fsync the log about once a second (appendfsync everysec), off the loop thread."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(1.0)
            cfg = self.server.config
            if (cfg.appendfsync != "everysec" or not self.dirty or self.fd < 0
                    or self.fsync_running or (self.rewriting and cfg.no_appendfsync_on_rewrite)):
                continue
            self.dirty = False
            self.fsync_running = True
            try:
                await loop.run_in_executor(None, os.fsync, self.fd)
                self.last_fsync_status = "ok"
            except OSError as exc:
                log.error("fsync of the append only file failed: %s", exc)
                self.last_fsync_status = "err"
            finally:
                self.fsync_running = False

    # -- rewrite -----------------------------------------------------------------------

    def maybe_auto_rewrite(self) -> None:
        """serverCron's automatic rewrite: the log is past ``auto-aof-rewrite-min-size``
        and has grown by ``auto-aof-rewrite-percentage`` over its size after the last
        rewrite (or at start-up, for a log no rewrite has written). After three failures in a row it waits 1, 2, 4 ... 60 minutes
        between tries, as Redis 7.0 does."""
        cfg = self.server.config
        perc = cfg.auto_aof_rewrite_percentage
        if (not perc or not self.enabled or self.rewriting
                or self.size <= cfg.auto_aof_rewrite_min_size):
            return
        if rdbsave.bgsave_running(self.server) or time.time() < self.auto_not_before:
            return
        growth = self.size * 100 // (self.base_size or 1) - 100
        if growth >= perc:
            log.info("Starting automatic rewriting of AOF on %d%% growth", growth)
            self.request_rewrite()

    def request_rewrite(self) -> bool:
        """Start a rewrite once the current batch has committed. False if one is running."""
        if self.rewriting:
            return False
        self.rewriting = True
        self.rewrite_started = time.time()
        between_batches(self.app, self._start_rewrite)
        return True

    def request_offline_rewrite(self) -> bool:
        """BGREWRITEAOF with ``appendonly no``: write a whole log from a snapshot, as Redis
        7 writes a new base then. The log stays off: meta ``aof_offset`` is marked stale
        first (so a later start with appendonly yes writes its own log rather than trust
        this one), then a thread writes ``<file>.offline.tmp`` and renames it over the log.
        False if one is running."""
        if self.rewriting:
            return False
        self.rewriting = True
        self.rewrite_started = time.time()
        self.tmp = Path(str(self.path) + ".offline.tmp")

        def begin() -> None:
            try:
                self._commit_meta(aof_offset=STALE)
                conn = self._pin_snapshot()
            except (apsw.Error, OSError) as exc:
                log.error("AOF rewrite could not start: %s", exc)
                self._rewrite_failed()
                return
            log.info("Background append only file rewriting started")
            fut = self.app.loop.run_in_executor(None, self._offline_thread, conn)
            fut.add_done_callback(self._offline_done)

        between_batches(self.app, begin)
        return True

    def _offline_thread(self, conn: apsw.Connection) -> None:
        self._rewrite_thread(conn)
        os.replace(self.tmp, self.path)
        _fsync_dir(self.path.parent)

    def _offline_done(self, fut: asyncio.Future) -> None:
        if not self._thread_failed(fut):
            self.size = self.path.stat().st_size
            self._rewrite_succeeded()

    def _start_rewrite(self) -> None:
        """Pin a snapshot between batches; from here on batches are also buffered."""
        try:
            conn = self._pin_snapshot()
        except apsw.Error as exc:
            log.error("AOF rewrite could not open a snapshot: %s", exc)
            self.rewriting = False
            self.last_rewrite_status = "err"
            return
        self.rewrite_buf = []
        self.cur_db = -1  # the next batch starts with SELECT in both logs
        log.info("Background append only file rewriting started")
        fut = self.app.loop.run_in_executor(None, self._rewrite_thread, conn)
        fut.add_done_callback(self._rewrite_done)

    def _rewrite_thread(self, conn: apsw.Connection, background: bool = True) -> None:
        """Write the snapshot ``conn`` pins to the temp file, fsynced; closes ``conn``."""
        try:
            with open(self.tmp, "wb") as f:
                self._write_snapshot(conn, f, background)
                f.flush()
                os.fsync(f.fileno())
        finally:
            conn.close()

    def _rewrite_done(self, fut: asyncio.Future) -> None:
        if self._thread_failed(fut):
            return
        if self.server.engine.in_tx:
            self.pending_swap = True  # after_commit swaps once the batch is done
        else:
            self._swap()

    def _thread_failed(self, fut: asyncio.Future) -> bool:
        """Did the rewrite's thread raise? (then the rewrite is over, failed)"""
        exc = fut.exception()
        if exc is None:
            return False
        log.error("Background AOF rewrite failed: %s", exc)
        self._rewrite_failed()
        return True

    def _rewrite_succeeded(self) -> None:
        self.failures = 0
        self.auto_not_before = 0.0
        self.rewriting = False
        self.rewrite_buf = []
        self.rewrites += 1
        self.last_rewrite_status = "ok"
        self.last_rewrite_time = int(time.time() - self.rewrite_started)
        log.info("Background AOF rewrite finished successfully (%d bytes)", self.size)
        self._rewrite_ended()

    def _rewrite_failed(self) -> None:
        self.failures += 1
        if self.failures >= 3:
            minutes = min(60, 1 << (self.failures - 3))
            self.auto_not_before = time.time() + minutes * 60
            log.warning("Background AOF rewrite has repeatedly failed and triggered the limit, "
                        "will retry in %d minutes", minutes)
        self.rewriting = False
        self.rewrite_buf = []
        self.last_rewrite_status = "err"
        try:
            self.tmp.unlink()
        except FileNotFoundError:
            pass
        self._rewrite_ended()

    def _rewrite_ended(self) -> None:
        """A switch-off that waited for this rewrite happens now (see _switch)."""
        if self.off_after_rewrite:
            self.off_after_rewrite = False
            _turn_off(self.app, self)

    def _swap(self) -> None:
        try:
            with open(self.tmp, "ab") as f:
                f.write(b"".join(self.rewrite_buf))
                f.flush()
                os.fsync(f.fileno())
            new_size = self.tmp.stat().st_size
            self._install(new_size)
        except (OSError, apsw.Error) as exc:
            log.error("Background AOF rewrite could not install the new log: %s", exc)
            self._rewrite_failed()
            return
        old = self.fd
        self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        self.size = self.base_size = new_size
        if old >= 0:
            os.close(old)
        self._rewrite_succeeded()

    def close(self) -> None:
        if self.fd >= 0:
            try:
                os.fsync(self.fd)
            except OSError:
                pass
            os.close(self.fd)
            self.fd = -1
        self.enabled = False

    def info(self) -> dict[str, Any]:
        """Fields for INFO persistence."""
        return {
            "aof_enabled": int(self.enabled),
            "aof_rewrite_in_progress": int(self.rewriting),
            "aof_last_rewrite_time_sec": self.last_rewrite_time,
            "aof_current_rewrite_time_sec": int(time.time() - self.rewrite_started) if self.rewriting else -1,
            "aof_last_bgrewrite_status": self.last_rewrite_status,
            "aof_rewrites": self.rewrites,
            "aof_last_write_status": self.last_fsync_status,
            "aof_current_size": self.size,
            "aof_base_size": self.base_size,
            "aof_rewrites_consecutive_failures": self.failures,
        }


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def startup(app: Any) -> None:
    """server/listener.py startup hook: open (and recover) the log when appendonly is on,
    and let ``CONFIG SET appendonly`` switch it on and off while the server runs."""
    server = app.server
    server.config.on_change("appendonly", lambda on: _switch(app, bool(on)))
    if not server.config.appendonly:
        return
    aof = AppendOnlyLog(app)
    aof.start()
    _attach(app, aof)


def _attach(app: Any, aof: AppendOnlyLog) -> None:
    """Hook an open log to the road: propagation, the committer, the everysec task."""
    server = app.server
    server.extensions["aof"] = aof
    server.propagators.append(aof.feed)
    app.committer.before_commit.append(aof.before_commit)
    app.committer.after_commit.append(aof.after_commit)
    aof.task = app.loop.create_task(aof.everysec())
    app.tasks.append(aof.task)
    server.extensions.setdefault("shutdown_hooks", []).append(aof.close)


def _detach(app: Any, aof: AppendOnlyLog) -> None:
    server = app.server
    server.extensions.pop("aof", None)
    server.propagators.remove(aof.feed)
    app.committer.before_commit.remove(aof.before_commit)
    app.committer.after_commit.remove(aof.after_commit)
    if aof.task is not None:
        aof.task.cancel()
        if aof.task in app.tasks:
            app.tasks.remove(aof.task)
    hooks = server.extensions.get("shutdown_hooks", [])
    if aof.close in hooks:
        hooks.remove(aof.close)


def rewrite_while_off(server: Any) -> bool:
    """BGREWRITEAOF with the log off (see AppendOnlyLog.request_offline_rewrite); the
    object stays in ``extensions["aof_offline"]`` for INFO. False if one is running."""
    app = server.extensions.get("app")
    if app is None:
        return False  # the embedded library keeps no AOF
    offline = server.extensions.get("aof_offline")
    if offline is None:
        offline = server.extensions["aof_offline"] = AppendOnlyLog(app)
    return offline.request_offline_rewrite()


def _switch(app: Any, on: bool) -> None:
    """``CONFIG SET appendonly yes|no`` (Redis's startAppendOnly / stopAppendOnly).

    The switch happens between two batches, right after the COMMIT of the batch that holds
    the CONFIG SET: every write before it is in the database the new log is written from,
    and every write after it is fed to the log. Turning it on writes a whole new log from
    a snapshot (as Redis rewrites one); turning it off fsyncs and closes the log and marks
    it stale (meta ``aof_offset`` = -1), so a later start with ``appendonly yes`` writes
    a new one instead of appending to a log that misses what happened meanwhile."""
    server = app.server
    if on and not os.access(server.config.dir, os.W_OK):
        log.warning("Unable to turn on AOF: %s is not writable", server.config.dir)
        raise ConfigError("Unable to turn on AOF. Check server logs.")
    offline = server.extensions.get("aof_offline")
    if on and offline is not None and offline.rewriting:
        # both would write the log file (Redis kills its rewrite child and starts anew)
        log.warning("Unable to turn on AOF: a BGREWRITEAOF of the switched-off log is running")
        raise ConfigError("Unable to turn on AOF. Check server logs.")

    if on and server.extensions.get("aof") is None and server.in_exec:
        log.warning("AOF was enabled during a transaction. An AOF background was scheduled "
                    "to start when possible.")

    def apply() -> None:
        current = server.extensions.get("aof")
        if on and current is None:
            aof = AppendOnlyLog(app)
            try:
                aof.begin_live()
            except (OSError, apsw.Error) as exc:
                log.error("Unable to turn on AOF: %s", exc)
                aof.close()
                server.config.set("appendonly", "no")  # as Redis: it stays off
                return
            _attach(app, aof)
            log.info("AOF turned on: %s written from the database", aof.path)
        elif on and current is not None:
            current.off_after_rewrite = False  # yes again before a waiting switch-off
        elif not on and current is not None:
            if current.rewriting:
                # Redis kills its rewrite child. A thread cannot be killed, and the
                # rewrite installs its log (and a current offset) when it ends, so the
                # log stays on, and fed, until then, and goes off and stale after it.
                current.off_after_rewrite = True
                log.info("AOF will be turned off when the running rewrite ends")
                return
            _turn_off(app, current)

    between_batches(app, apply)


def _turn_off(app: Any, aof: AppendOnlyLog) -> None:
    """stopAppendOnly: detach, fsync and close the log, mark it stale."""
    _detach(app, aof)
    aof.close()
    aof.mark_stale()
    log.info("AOF turned off")


def between_batches(app: Any, work: Callable[[], None]) -> None:
    """Run ``work`` with no batch open: now if none is, else right after the COMMIT of the
    open one (before any later batch begins; its writes are in that COMMIT)."""
    if not app.server.engine.in_tx:
        work()
        return
    committer = app.committer

    def once(_ok: bool) -> None:
        committer.after_commit.remove(once)
        work()

    committer.after_commit.append(once)
