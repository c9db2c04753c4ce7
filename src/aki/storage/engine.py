"""The SQLite file: opening, schema, pragmas, transactions and checkpoints.

Invariants (what a crash can and cannot leave behind):

* Every change is made inside one SQLite transaction opened by ``begin()`` and
  ended by ``commit()``; SQLite's WAL makes that commit atomic. A crash before
  the commit frame is in the WAL loses the whole batch, never part of it; a
  torn frame at the WAL tail fails its checksum and is discarded on open.
* Nothing is acknowledged before ``commit()`` returns (the committer holds the
  replies), so a process crash loses no acknowledged write. Under
  ``appendfsync always`` the WAL is fsynced inside ``commit()`` (synchronous=FULL),
  so power loss loses none either.
* A file that is not an aki database, or that a newer aki wrote, is refused
  before any pragma that could modify it is issued.
* Checkpoints copy committed pages from the WAL into the main file; they never
  change what a reader sees and can be interrupted at any point.
* With the WAL buffer (aki._walbuf) a commit's frames reach the file inside
  ``commit()``, before SQLite publishes the commit: the two points above hold as
  they are (its source states its own invariants).
"""

from __future__ import annotations

import ctypes
import logging
import os
import threading
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import apsw

log = logging.getLogger("aki.storage")

APPLICATION_ID = 0x616B6931  # "aki1"
SCHEMA_VERSION = 1
NUM_DBS_DEFAULT = 16
# Page size of a new file (the ``page-size`` directive); an existing file keeps its own.
# Measured here (docs/benchmarks.md): 1 KiB pages make each dirty page cheaper to commit
# but split B-tree pages four times as often, and every transaction with a split pays
# SQLite a scan of the whole page-cache hash (pcache1Truncate after balance_nonroot's
# temporary page number); end to end SET/HSET came out equal, ZADD on a big zset ~8 %
# faster, and reads of values of many KiB up to 3x slower. So 4 KiB, SQLite's default.
DEFAULT_PAGE_SIZE = 4096
WAL_BUFFER_BYTES = 4 << 20  # aki._walbuf gathers a commit's frames up to this size


class FileRefused(Exception):
    """The file is not one aki may open (not aki, newer schema, unreadable)."""


def _check_header(path: Path) -> None:
    """Refuse foreign files by reading their header, without opening them in SQLite."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return
    if size == 0:
        return
    with open(path, "rb") as f:
        header = f.read(100)
    if not header.startswith(b"SQLite format 3\x00"):
        raise FileRefused(f"{path} is not an aki database (not an SQLite file); refusing to open it")
    if len(header) < 100:
        raise FileRefused(f"{path} is truncated (SQLite header incomplete); refusing to open it")
    app_id = int.from_bytes(header[68:72], "big")
    user_version = int.from_bytes(header[60:64], "big")
    if app_id not in (0, APPLICATION_ID):
        # 0 may still be aki: page 1 of a fresh file can live in the WAL until a checkpoint.
        raise FileRefused(
            f"{path} is an SQLite database but not an aki database "
            f"(application_id {app_id:#x}); refusing to open it"
        )
    if user_version > SCHEMA_VERSION:
        raise FileRefused(
            f"{path} was written by a newer aki (schema version {user_version}, "
            f"this aki knows up to {SCHEMA_VERSION}); refusing to open it"
        )


class Engine:
    """One writer connection on one aki file, plus helpers for snapshots."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        appendfsync: str = "everysec",
        cache_size_kb: int = 64 * 1024,
        databases: int = NUM_DBS_DEFAULT,
        readonly: bool = False,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> None:
        self.path = Path(path)
        self.wal_path = Path(str(self.path) + "-wal")
        self.readonly = readonly
        _check_header(self.path)
        # NOMUTEX: one thread at a time uses this connection (the event loop, or an
        # embedded caller under its Database lock); other threads open their own
        # (snapshot_connection, the checkpointer). SQLite's per-call mutexes cost ~1 % of a
        # write. A new use from another thread must take that lock or its own connection.
        flags = apsw.SQLITE_OPEN_NOMUTEX | (apsw.SQLITE_OPEN_READONLY if readonly else (
            apsw.SQLITE_OPEN_READWRITE | apsw.SQLITE_OPEN_CREATE
        ))
        try:
            self.conn = apsw.Connection(str(self.path), flags=flags)
        except apsw.Error as exc:
            raise FileRefused(f"cannot open {self.path}: {exc}") from exc
        self.conn.setbusytimeout(5000)
        self.cur = self.conn.cursor()
        self.in_tx = False
        self.lock = threading.RLock()  # embedded use: threads share one Engine
        self.commits = 0
        self.fsyncs = 0
        self.checkpoints = 0
        self.wal_pages = 0
        self._data_version = -1
        self.on_external_change: list = []
        self.pre_commit: Callable[[], None] | None = None
        self.databases = databases
        try:
            self._open_schema(cache_size_kb, page_size)
        except apsw.Error as exc:
            self.conn.close()
            raise FileRefused(f"cannot use {self.path}: {exc}") from exc
        self.appendfsync = ""
        self._sync = ""  # the synchronous level in force ("FULL" or "NORMAL")
        self._next_sync: str | None = None  # set live inside a batch: applied when it ends
        self.set_appendfsync(appendfsync)
        self.wal_file = 0  # the WAL's sqlite3_file* when aki._walbuf buffers it
        if not readonly:
            self.conn.setwalhook(self._wal_hook)
            self._buffer_wal()

    def _buffer_wal(self) -> None:
        """Have aki._walbuf write each commit's WAL frames in a few large writes (see
        its source for why and for its invariants). Without the extension, or with
        AKI_WALBUF=0, SQLite writes them itself: the same bytes, more calls."""
        if os.environ.get("AKI_WALBUF", "1") == "0":
            return
        try:
            from aki import _walbuf
        except ImportError:
            return
        ptr = ctypes.c_void_p()
        if not self.conn.filecontrol("main", apsw.SQLITE_FCNTL_JOURNAL_POINTER,
                                     ctypes.addressof(ptr)) or not ptr.value:
            return
        if _walbuf.install(ptr.value, WAL_BUFFER_BYTES):
            self.wal_file = ptr.value

    def wal_buffer_stats(self) -> tuple[int, int] | None:
        """(writes, bytes) the WAL buffer made, or None when it is not in use."""
        if not self.wal_file:
            return None
        from aki import _walbuf

        return _walbuf.stats(self.wal_file)

    # -- opening ---------------------------------------------------------------------

    def _open_schema(self, cache_size_kb: int, page_size: int) -> None:
        cur = self.cur
        app_id = cur.execute("PRAGMA application_id").fetchone()[0]
        version = cur.execute("PRAGMA user_version").fetchone()[0]
        tables = cur.execute("SELECT count(*) FROM sqlite_schema").fetchone()[0]
        if app_id not in (0, APPLICATION_ID) or (app_id == 0 and tables):
            raise FileRefused(f"{self.path} is not an aki database; refusing to open it")
        if version > SCHEMA_VERSION:
            raise FileRefused(
                f"{self.path} was written by a newer aki (schema version {version}); refusing to open it"
            )
        if app_id == 0 and not self.readonly:
            # only a new, empty file takes it: an existing one keeps its page size
            cur.execute(f"PRAGMA page_size = {int(page_size)}")
        cur.execute(f"PRAGMA cache_size = -{int(cache_size_kb)}")
        self.page_size = cur.execute("PRAGMA page_size").fetchone()[0]
        if self.readonly:
            return
        mode = cur.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode.lower() != "wal":
            raise FileRefused(f"{self.path}: cannot switch to WAL mode (got {mode})")
        cur.execute("PRAGMA journal_size_limit = 67108864")
        cur.execute("PRAGMA temp_store = MEMORY")
        if app_id == 0:
            sql = resources.files("aki.storage").joinpath("schema.sql").read_text()
            with self.conn:
                cur.execute(sql)
                cur.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                cur.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                cur.execute(
                    "INSERT INTO meta (name, value) VALUES ('databases', ?)", (self.databases,)
                )
            log.info("created new aki database %s", self.path)
        else:
            row = cur.execute("SELECT value FROM meta WHERE name = 'databases'").fetchone()
            if row is not None:
                self.databases = int(row[0])

    # -- durability policy -------------------------------------------------------------

    def set_appendfsync(self, policy: str) -> None:
        """always -> synchronous=FULL (WAL fsynced in every commit); else NORMAL.
        SQLite refuses a new level inside a transaction, so a change made inside a
        batch (CONFIG SET on the server) takes effect when the batch ends; a switch to
        ``always`` then fsyncs that batch's COMMIT too, since its replies, sent after
        it, are heard under the new policy."""
        self.appendfsync = policy
        if self.readonly:
            return
        level = "FULL" if policy == "always" else "NORMAL"
        if self.in_tx:
            self._next_sync = level
            return
        self.cur.execute(f"PRAGMA synchronous = {level}")
        self._sync = level

    def _switch_sync(self, committed: bool) -> None:
        """Apply the level set during the batch that just ended."""
        level = self._next_sync
        self._next_sync = None
        if committed and level == "FULL" and self._sync != "FULL":
            self.fsync_wal()
        self.cur.execute(f"PRAGMA synchronous = {level}")
        self._sync = level

    # -- transactions ------------------------------------------------------------------

    # The embedded library runs each call in its own transaction: a read-only call may
    # then take a DEFERRED one (no write lock; it can never need an upgrade).
    read_deferred = False

    def begin(self, readonly: bool = False) -> None:
        """Open the batch's transaction: IMMEDIATE (one writer, no upgrade races), or
        DEFERRED for a read-only single call of the embedded library."""
        self.cur.execute("BEGIN" if readonly and self.read_deferred else "BEGIN IMMEDIATE")
        self.in_tx = True
        self.check_external()

    def check_external(self) -> None:
        """Run the external-change callbacks if another connection committed since
        the last look (PRAGMA data_version: it moves only for other connections)."""
        dv = self.cur.execute("PRAGMA data_version").fetchone()[0]
        if dv != self._data_version:
            if self._data_version != -1:
                for cb in self.on_external_change:
                    cb()
            self._data_version = dv

    def commit(self) -> None:
        """Commit the batch. Under synchronous=FULL this includes the WAL fsync."""
        if not self.in_tx:
            return
        if self.pre_commit is not None:
            self.pre_commit()  # the keyspace's pending counters (an error fails the batch)
        try:
            self.cur.execute("COMMIT")
        finally:
            self.in_tx = False
        self.commits += 1
        if self._sync == "FULL":
            self.fsyncs += 1  # the one inside COMMIT
        if self._next_sync is not None:
            self._switch_sync(committed=True)

    def rollback(self) -> None:
        if not self.in_tx:
            return
        try:
            self.cur.execute("ROLLBACK")
        except apsw.Error:
            pass
        self.in_tx = False
        if self._next_sync is not None:
            self._switch_sync(committed=False)

    def fsync_wal(self) -> bool:
        """fsync the WAL file from any thread (everysec). False when there is no WAL."""
        try:
            fd = os.open(self.wal_path, os.O_RDONLY)
        except FileNotFoundError:
            return False
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        self.fsyncs += 1
        return True

    # -- checkpoints -------------------------------------------------------------------

    def _wal_hook(self, conn: apsw.Connection, dbname: str, pages: int) -> int:
        self.wal_pages = pages
        return apsw.SQLITE_OK

    def checkpoint(self, mode: str = "PASSIVE") -> tuple[int, int, int]:
        """Fold the WAL into the main file on the writer connection (outside a batch)."""
        row = self.cur.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
        self.checkpoints += 1
        if row and row[0] == 0 and row[1] == row[2]:
            self.wal_pages = 0 if mode in ("RESTART", "TRUNCATE") else self.wal_pages
        return tuple(row) if row else (0, 0, 0)  # type: ignore[return-value]

    def snapshot_connection(self) -> apsw.Connection:
        """A read-only connection for long reads in another thread (MVCC snapshot)."""
        conn = apsw.Connection(str(self.path), flags=apsw.SQLITE_OPEN_READONLY)
        conn.setbusytimeout(5000)
        return conn

    def file_sizes(self) -> tuple[int, int]:
        def size(p: Path) -> int:
            try:
                return p.stat().st_size
            except FileNotFoundError:
                return 0

        return size(self.path), size(self.wal_path)

    def close(self) -> None:
        if self.in_tx:
            self.commit()
        try:
            if not self.readonly:
                self.cur.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except apsw.Error as exc:
            log.warning("final checkpoint failed: %s", exc)
        self.wal_file = 0
        self.conn.close()
