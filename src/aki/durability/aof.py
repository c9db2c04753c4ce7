"""The append-only command log (``appendonly yes``): Redis 7's multi-part AOF beside the file.

Layout (Redis 7.0's, aof.c), in ``dir/<appenddirname>`` (default ``appendonlydir``):

* ``<appendfilename>.manifest``: one line a file, ``file <name> seq <n> type <b|h|i>``,
  the base first, then history files, then the incr files by seq (a name with spaces or
  special characters quoted as Redis's sdscatrepr quotes it). It is only ever replaced
  whole: a temp manifest (``temp-<appendfilename>.manifest``) is written and fsynced,
  renamed over it, and the directory fsynced (writeAofManifestFile).
* ``<appendfilename>.<seq>.base.rdb`` (``.base.aof`` when ``aof-use-rdb-preamble no``):
  a snapshot written by a rewrite, never appended to. A log upgraded from an older aki
  keeps its single file as the base, under its old name (as Redis 7 upgrades one).
* ``<appendfilename>.<seq>.incr.aof``: RESP commands since that base, with
  ``#TS:<unix-seconds>`` annotations when ``aof-timestamp-enabled``. Appends go to the
  last one. Usually there is one; a rewrite that failed leaves two or more.

redis-server, redis-check-aof and ``aki import --format aof`` read this directory.

How a batch travels: ``feed`` (a ``server.propagators`` entry) encodes each propagated
command as RESP (a SELECT first when the db changes); the committer's ``before_commit``
hook appends the batch's bytes to the current incr file, fsyncs them under
``appendfsync always``, and writes meta ``aof_seq`` (that file's seq) and ``aof_offset``
(its new length) inside the still-open SQLite transaction; ``after_commit`` truncates the
file back if the batch did not commit.

Invariants (what a crash can and cannot leave behind):

* meta (``aof_seq``, ``aof_offset``) names a record boundary of an incr file the manifest
  lists, and the database holds exactly the effect of the log up to it (the base, every
  incr file before it, that file up to the offset): the database and that position change
  in the same COMMIT. The database never depends on the base: start-up replays incr files
  only (the base is loaded only into an empty database with no record of the log).
* A record reaches the log before its batch's COMMIT. A crash after the append and
  before the COMMIT leaves records past ``aof_offset``: start-up replays them, and any
  incr file listed after ``aof_seq``, through ``execute()``, and commits the new position
  with them (so nothing the log holds is lost or applied twice).
* A torn record at the tail of the last incr file (a crash mid-append) is past the offset
  and was never acknowledged: ``aof-load-truncated yes`` truncates that file to the last
  whole record (and drops an unfinished MULTI), ``no`` refuses to start and names the
  offset. A torn record in an earlier file refuses the start either way, as in Redis.
* Under ``everysec``/``no`` the log's tail may be lost on power loss while SQLite kept
  the commit (or the reverse): if the incr file is shorter than ``aof_offset``, missing,
  or the manifest does not list ``aof_seq`` (or is missing), the log no longer describes
  the database, and start-up writes a new log from it (logged). The database is the
  truth in every such case: every acknowledged write is in it.
* Writing a new log on the loop thread (start-up, a takeover, the restart after a
  replica's full sync): a snapshot is
  written to ``temp-rewriteaof-bg-<pid>.aof`` and fsynced, renamed to base seq+1, an
  empty incr seq+1 is created (seqs above any the old manifest lists); meta ``aof_seq`` =
  the new incr, ``aof_offset`` = 0 is committed (WAL fsynced); then the manifest is
  switched to the new base and incr, with the old files as history, and those are
  deleted. A crash before the commit leaves the old manifest and the old position (the
  new files are unlisted and overwritten next time); between the commit and the manifest
  switch, a position the old manifest lacks (so the log is written anew again); after
  it, the new log. Temp files are removed at start-up.
* Rewrite (BGREWRITEAOF, automatic), Redis 7's way, with no rewrite buffer:
  1. between two batches, an empty incr seq+1 is created and fsynced, the manifest is
     switched to list it after the current ones, meta points at it (offset 0), appends
     switch to it, and a snapshot is pinned at that same moment;
  2. a thread writes the snapshot to ``temp-rewriteaof-bg-<pid>.aof`` and fsyncs it;
  3. between two batches, the temp file is renamed to base seq+1 (directory fsynced), the
     manifest is switched to that base plus the incr files from seq+1 on, with the old
     base and incr files as history (type h), and those are then deleted and the manifest
     written without them (aofDelHistoryFiles).
  A crash in 1 before the manifest switch leaves an unlisted empty incr file (the old
  position is still right); after it, the old base + old incr + new incr, a whole log.
  A crash in 2 leaves that same log and a temp file (removed at start-up). A crash in 3
  before the switch leaves an unlisted base (overwritten by the next rewrite); after it,
  history files, which start-up deletes. At every point the manifest lists files whose
  replay is the database's whole history, and meta's position is in one of them, so
  start-up recovers with the ordinary replay. No step can race a write: they run with no
  batch open, on the only thread that starts batches; the snapshot and the switch of
  incr files happen at the same point between two batches, so the base holds exactly
  what precedes the new incr file.
* Upgrade from aki's older single file (``dir/<appendfilename>``, meta ``aof_offset``
  with no ``aof_seq``): the file is first recovered by its old rules (an interrupted
  swap, records past ``aof_offset``, a torn tail), so the database holds all of it; then
  an empty incr 1 is created and a manifest written naming the old file as base (seq 1)
  and incr 1; meta ``aof_seq`` = 1, ``aof_offset`` = 0 is committed; the file is renamed
  into the directory. A crash before the commit repeats the upgrade (Redis's own rule:
  the old file exists and the manifest's base, named like it, is not in the directory);
  after it, start-up finishes the rename. A stale or short old file is not moved: a new
  log is written and the old file deleted.
* A Redis appendonlydir loaded by a first open (durability/adopt.py marks the new file
  with meta ``aof_adopted``) is taken over: a new log is written as above, with seqs
  above Redis's, and Redis's files become history and are deleted. The mark is dropped
  in the same commit that records the new position, so a crash repeats the takeover.
  A log the database has no record of (no ``aof_seq``/``aof_offset``, no mark) is
  loaded whole into an empty database, and refuses the start if the database holds data:
  aki cannot tell which of it the database already holds.
* ``CONFIG SET appendonly yes|no`` switches between two batches (after the COMMIT of the
  one holding the CONFIG SET). Switched on, Redis 7's way (startAppendOnly, its
  AOF_WAIT_REWRITE): meta ``aof_offset`` is marked stale, appends go to
  ``temp-<appendfilename>.incr`` (no manifest lists it), and a snapshot pinned at that
  moment is written in a thread; then, between batches, the temp base and temp incr are
  renamed to base and incr with seqs above the old manifest's (directory fsynced), meta
  is pointed at the incr (its length; WAL fsynced), the manifest is switched with the
  old files as history, which are deleted. A crash before the meta commit leaves a stale
  mark, after it a seq the old manifest lacks: either way start-up writes a new log from
  the database, which holds every acknowledged write. A first rewrite that fails leaves
  the log off (``appendonly no``) and stale. Switched off, the log is closed and marked
  stale (``aof_offset`` -1), and a later start writes a new one rather than append to a
  log that lacks the writes made meanwhile. A switch-off during a rewrite waits for the
  rewrite to end (the log is fed until then).
* BGREWRITEAOF with ``appendonly no`` marks the log stale first, then writes a new base
  in a thread; the manifest becomes that base alone (the incr files history, deleted),
  as Redis 7 leaves it; a later start with ``appendonly yes`` writes its own log.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import apsw

from aki.commands.common import atoi
from aki.config import ConfigError
from aki.core.state import ReplOnly
from aki.durability import rdbsave

if TYPE_CHECKING:
    from aki.core.state import Server

log = logging.getLogger("aki.aof")

REWRITE_ITEMS_PER_CMD = 64  # AOF_REWRITE_ITEMS_PER_CMD
STALE = -1  # meta aof_offset of a log switched off while the server ran

MANIFEST_SUFFIX = ".manifest"
BASE_SUFFIX = ".base"
INCR_SUFFIX = ".incr.aof"
TEMP_PREFIX = "temp-"
TEMP_REWRITE_PREFIX = "temp-rewriteaof-bg-"
_CRASH_AT = os.environ.get("AKI_TEST_AOF_CRASH_AT", "")


def hook(step: str) -> None:
    """A test hook: with AKI_TEST_AOF_CRASH_AT=<step> the process dies at that step as a
    kill -9 would (tests/crash/test_aof_rewrite_steps.py)."""
    if _CRASH_AT and _CRASH_AT == step:
        os._exit(137)


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


class Manifest:
    """A Redis 7 manifest (aof.c's aofManifest): one base file, history files (type h,
    waiting to be deleted) and incr files in seq order. ``render`` writes what
    getAofManifestAsString writes: base first, then history, then incr, one line each,
    ``file <name> seq <n> type <b|h|i>``, a name with spaces or special characters
    quoted as sdscatrepr quotes it."""

    def __init__(self, base: tuple[str, int] | None = None,
                 incrs: list[tuple[str, int]] | None = None,
                 history: list[tuple[str, int]] | None = None) -> None:
        self.base = base
        self.incrs = list(incrs or [])
        self.history = list(history or [])

    @classmethod
    def read(cls, path: Path) -> Manifest:
        """Parse a manifest by aofLoadManifestFromFile's rules; ValueError with Redis's
        words (which redis-server logs before it exits) if invalid."""
        man = cls()
        incr: list[tuple[int, str]] = []
        invalid = "Invalid AOF manifest file format"
        lines = path.read_text(encoding="latin-1").splitlines(keepends=True)
        if not lines:
            raise ValueError("Found an empty AOF manifest")
        for raw in lines:
            if raw.startswith("#"):
                continue
            if len(raw) > MANIFEST_MAX_LINE or not raw.endswith("\n"):
                raise ValueError("The AOF manifest file contains too long line")
            line = raw.strip(" \t\r\n")
            if not line:
                raise ValueError(invalid)
            try:
                toks = _split_args(line)
            except ValueError:
                raise ValueError(invalid) from None
            if len(toks) < 6 or len(toks) % 2:  # more pairs: forward compatibility
                raise ValueError(invalid)
            fields = {k.lower(): v for k, v in zip(toks[::2], toks[1::2], strict=False)}
            name, kind = fields.get("file"), fields.get("type", "")[:1]
            if name is not None and "/" in name:
                raise ValueError("File can't be a path, just a filename")
            seq = atoi(fields.get("seq", "").encode("latin-1"))
            if not name or not seq or not kind:
                raise ValueError(invalid)
            if kind == "b":
                if man.base is not None:
                    raise ValueError("Found duplicate base file information")
                man.base = (name, seq)
            elif kind == "h":
                man.history.append((name, seq))
            elif kind == "i":
                if incr and seq <= incr[-1][0]:
                    raise ValueError("Found a non-monotonic sequence number")
                incr.append((seq, name))
            else:
                raise ValueError("Unknown AOF file type")
        if man.base is None and not incr:
            raise ValueError("Found an empty AOF manifest")
        man.incrs = [(n, s) for s, n in incr]
        return man

    def render(self) -> str:
        out = []
        if self.base is not None:
            out.append(_manifest_line(*self.base, "b"))
        out.extend(_manifest_line(n, s, "h") for n, s in self.history)
        out.extend(_manifest_line(n, s, "i") for n, s in self.incrs)
        return "".join(out)

    def files(self) -> list[tuple[str, str]]:
        """``[(file name, type)]`` in load order (base, then incr by seq)."""
        out = [(self.base[0], "b")] if self.base is not None else []
        return out + [(n, "i") for n, _ in self.incrs]

    @property
    def base_seq(self) -> int:
        return self.base[1] if self.base is not None else 0

    @property
    def incr_seq(self) -> int:
        return max((s for _, s in self.incrs), default=0)


def parse_manifest(path: Path) -> list[tuple[str, str]]:
    """A Redis 7 manifest: ``[(file name, type)]`` in load order (base, then incr by seq);
    history files (type h) are left out."""
    return Manifest.read(path).files()


def _manifest_line(name: str, seq: int, kind: str) -> str:
    return f"file {_repr_name(name)} seq {seq} type {kind}\n"


def _repr_name(name: str) -> str:
    """sdsneedsrepr / sdscatrepr (the name is kept as latin-1: one char a byte)."""
    def printable(ch: str) -> bool:
        return 0x20 < ord(ch) < 0x7f  # isprint and not isspace, in the C locale

    if all(printable(ch) and ch not in '\\"' for ch in name):
        return name
    out = ['"']
    esc = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t", "\a": "\\a",
           "\b": "\\b"}
    for ch in name:
        if ch in esc:
            out.append(esc[ch])
        elif 0x20 <= ord(ch) < 0x7f:
            out.append(ch)
        else:
            out.append("\\x%02x" % ord(ch))
    out.append('"')
    return "".join(out)


MANIFEST_MAX_LINE = 1024  # Redis reads a manifest line into a buffer this size


def _split_args(line: str) -> list[str]:
    """sdssplitargs (resp/parser.py's, as inline commands and config lines are split)."""
    from aki.resp.parser import split_args

    words = split_args(line.encode("latin-1"))
    if words is None:
        raise ValueError("unbalanced quotes in a manifest line")
    return [w.decode("latin-1") for w in words]


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



class AppendOnlyLog:
    """The AOF of a running server (see the module docstring for the invariants)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.server: Server = app.server
        cfg = self.server.config
        self.name = cfg.appendfilename
        self.dirpath = Path(cfg.dir) / cfg.appenddirname
        self.manifest_path = self.dirpath / (self.name + MANIFEST_SUFFIX)
        self.old_path = Path(cfg.dir) / self.name  # the single-file layout of aki < this
        self.tmp = self.dirpath / f"{TEMP_REWRITE_PREFIX}{os.getpid()}.aof"
        self.man = Manifest()
        self.seq = 0  # the incr file appends go to
        self.fd = -1
        self.size = 0  # of that incr file
        self.other_size = 0  # of the base and the incr files before it
        self.new_seq = 0  # the incr file a running rewrite opened
        # switched on live (CONFIG SET appendonly yes): appends go to a temp incr file
        # until the first rewrite installs the log (Redis's AOF_WAIT_REWRITE)
        self.wait_rewrite = False
        self.temp_incr = self.dirpath / (TEMP_PREFIX + self.name + ".incr")
        self.buf: list[bytes] = []
        self.cur_db = -1
        self.loading = False
        self.last_ts = 0
        self.batch_start = 0
        self.batch_bytes = 0
        self.dirty = False  # appended but not fsynced (everysec/no)
        self.rewriting = False
        self.rewrite_started = 0.0
        self.last_rewrite_time = -1
        self.last_rewrite_status = "ok"
        self.rewrites = 0
        # the whole log's size after the last rewrite (auto-aof-rewrite-*; meta aof_base)
        self.base_size = 0
        self.failures = 0  # rewrites failed in a row
        self.auto_not_before = 0.0  # after repeated failures, no automatic rewrite before
        self.pending_swap = False
        # CONFIG SET appendonly no arrived during a rewrite: go off when it ends
        self.off_after_rewrite = False
        self.fsync_running = False
        self.last_fsync_status = "ok"
        self.enabled = False
        self.task: asyncio.Task | None = None  # the everysec fsync task (see _attach)

    # -- names -------------------------------------------------------------------------

    def _incr_name(self, seq: int) -> str:
        return f"{self.name}.{seq}{INCR_SUFFIX}"

    def _base_name(self, seq: int) -> str:
        ext = ".rdb" if self.server.config.aof_use_rdb_preamble else ".aof"
        return f"{self.name}.{seq}{BASE_SUFFIX}{ext}"

    def total_size(self) -> int:
        """aof_current_size: the base and every incr file."""
        return self.other_size + self.size

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

    # -- the directory -----------------------------------------------------------------

    def _persist(self, man: Manifest) -> None:
        """writeAofManifestFile: a temp manifest, fsynced, renamed over, directory fsynced."""
        tmp = self.dirpath / (TEMP_PREFIX + self.name + MANIFEST_SUFFIX)
        with open(tmp, "w", encoding="latin-1") as f:
            f.write(man.render())
            f.flush()
            os.fsync(f.fileno())
        hook("manifest-temp-written")
        os.replace(tmp, self.manifest_path)
        fsync_path(self.dirpath)
        self.man = man

    def _read_manifest(self) -> Manifest | None:
        if not self.manifest_path.is_file():
            return None
        return Manifest.read(self.manifest_path)

    def _manifest_to_replace(self) -> Manifest:
        """The current manifest, about to be replaced by a new log (an unreadable one is
        logged and replaced: the database, not that log, holds the data)."""
        try:
            return self._read_manifest() or Manifest()
        except (ValueError, OSError) as exc:
            log.warning("the append only file manifest %s cannot be read (%s): replacing it",
                        self.manifest_path, exc)
            return Manifest()

    def _ensure_dir(self) -> None:
        if not self.dirpath.is_dir():
            self.dirpath.mkdir(parents=True, exist_ok=True)
            fsync_path(self.dirpath.parent)

    def _new_incr(self, seq: int) -> None:
        """An empty incr file, durable (its directory entry too) before any manifest names it."""
        path = self.dirpath / self._incr_name(seq)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        fsync_path(self.dirpath)

    def _delete_history(self) -> None:
        """aofDelHistoryFiles: remove the files a rewrite replaced, then drop their lines."""
        if not self.man.history:
            return
        for name, _seq in self.man.history:
            try:
                (self.dirpath / name).unlink()
            except FileNotFoundError:
                pass
        fsync_path(self.dirpath)
        self._persist(Manifest(self.man.base, self.man.incrs))

    def _delete_unlisted(self) -> None:
        """Files named like a base or incr with a seq above the manifest's: left by a step a
        crash interrupted before the manifest named them (never loaded by anyone)."""
        pat = re.compile(re.escape(self.name) + r"\.(\d+)\.(base\.rdb|base\.aof|incr\.aof)")
        listed = {n for n, _ in self.man.incrs} | ({self.man.base[0]} if self.man.base else set())
        removed = False
        for p in self.dirpath.iterdir():
            m = pat.fullmatch(p.name)
            if m is None or p.name in listed:
                continue
            seq = int(m.group(1))
            top = self.man.incr_seq if m.group(2) == "incr.aof" else self.man.base_seq
            if seq > top:
                log.info("removing %s, which an interrupted rewrite left unlisted", p.name)
                p.unlink()
                removed = True
        if removed:
            fsync_path(self.dirpath)

    def _clean_temps(self) -> None:
        if not self.dirpath.is_dir():
            return
        for p in self.dirpath.glob(TEMP_REWRITE_PREFIX + "*"):
            p.unlink(missing_ok=True)
        (self.dirpath / (TEMP_PREFIX + self.name + MANIFEST_SUFFIX)).unlink(missing_ok=True)
        self.temp_incr.unlink(missing_ok=True)

    def _sizes(self) -> None:
        """other_size/size from the files the manifest lists."""
        def size(name: str) -> int:
            try:
                return (self.dirpath / name).stat().st_size
            except FileNotFoundError:
                return 0

        other = size(self.man.base[0]) if self.man.base is not None else 0
        for name, seq in self.man.incrs:
            if seq != self.seq:
                other += size(name)
        self.other_size = other

    def _open_current(self) -> None:
        """Open the current incr file for append; the log is on."""
        self.fd = os.open(self.dirpath / self._incr_name(self.seq),
                          os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.size = os.fstat(self.fd).st_size
        self._sizes()
        base = self._meta("aof_base")
        total = self.total_size()
        self.base_size = base if base is not None and 0 < base <= total else total
        self.cur_db = -1
        self.enabled = True

    # -- start-up ----------------------------------------------------------------------

    def start(self) -> None:
        """Bring the log and the database into agreement, then open the log for append:
        upgrade an old single file, take over a Redis appendonlydir just adopted, replay
        what the current incr file holds past the recorded offset."""
        engine = self.server.engine
        if engine.in_tx:
            engine.commit()
        self._clean_temps()
        seq = self._meta("aof_seq")
        offset = self._meta("aof_offset")
        if offset == STALE:
            log.warning("the append only file was switched off while the server ran: "
                        "writing a new one from the database")
            self._write_fresh(drop_old_file=seq is None)
        elif seq is None and self.old_path.is_file() and self._old_file_needs_upgrade():
            self._upgrade(offset)
        elif seq is None:
            man = self._read_manifest_or_refuse()
            if man is None:
                if offset is not None:
                    log.warning("the append only file is missing: writing a new one from the "
                                "database")
                self._write_fresh()
            elif self._meta("aof_adopted"):
                log.info("taking over the append only files in %s: writing a new base from "
                         "the database (Redis's files are replaced as a rewrite replaces them)",
                         self.dirpath)
                self._write_fresh()
            elif offset is None and not self._has_data():
                self.man = man
                self._load_all()
            else:
                self._refuse(self.manifest_path)
        else:
            man = self._read_manifest_or_refuse()
            if man is None:
                log.warning("the append only file manifest %s is missing: writing a new log "
                            "from the database", self.manifest_path)
                self._write_fresh()
            else:
                self.man = man
                self._recover(seq, offset or 0)
        self._open_current()

    def _read_manifest_or_refuse(self) -> Manifest | None:
        try:
            return self._read_manifest()
        except (ValueError, OSError) as exc:
            from aki.storage.engine import FileRefused

            raise FileRefused(f"the append only file manifest {self.manifest_path} cannot be "
                              f"read: {exc}") from None

    def _has_data(self) -> bool:
        return bool(self.server.engine.cur.execute("SELECT 1 FROM keys LIMIT 1").fetchone())

    def _refuse(self, what: Path) -> None:
        from aki.storage.engine import FileRefused

        raise FileRefused(
            f"{what} exists but {self.server.engine.path} holds data and no record of how much "
            "of that log it contains; move the log away (aki writes a new one) or import "
            "it with 'aki import --format aof'")

    def _old_file_needs_upgrade(self) -> bool:
        """Redis's rule (loadAppendOnlyFiles): an old-style file in ``dir`` is moved into the
        directory when there is no manifest, or when the manifest's base is that file and it
        is not in the directory yet (an upgrade interrupted before its rename)."""
        try:
            man = self._read_manifest()
        except (ValueError, OSError):
            return False
        if man is None:
            return True
        return (man.base is not None and man.base[0] == self.name
                and not (self.dirpath / self.name).exists())

    def _upgrade(self, offset: int | None) -> None:
        """aki's single-file log becomes the base of the multi-part layout (Redis's
        aofUpgradePrepare): first the old file is recovered by its old rules (a pending
        swap, records past ``aof_offset``, a torn tail), so the database holds all of it;
        then an empty incr 1 is created, the manifest (base = the old file, seq 1; incr 1)
        written, meta ``aof_seq`` = 1 / ``aof_offset`` = 0 committed, and the file renamed
        into the directory. A crash before the commit repeats the upgrade; after it, start-up
        finishes the rename (see _recover)."""
        legacy_tmp = Path(str(self.old_path) + ".rewrite.tmp")
        pending = self._meta("aof_pending")
        if pending is not None:
            if legacy_tmp.exists():
                log.warning("AOF rewrite was interrupted before its swap: keeping %s", self.old_path)
                legacy_tmp.unlink()
                self._commit_meta(aof_pending=None)
            else:
                log.warning("AOF rewrite was interrupted after its swap: offset %d", pending)
                self._commit_meta(aof_offset=pending, aof_pending=None)
            offset = self._meta("aof_offset")
        for suffix in (".rewrite.tmp", ".offline.tmp"):
            Path(str(self.old_path) + suffix).unlink(missing_ok=True)
        size = self.old_path.stat().st_size
        if offset is None:
            if self._has_data():
                self._refuse(self.old_path)
            offset = 0
        if size < offset:
            log.warning("the append only file %s is shorter (%d bytes) than the database has "
                        "applied (%d): rewriting it from the database", self.old_path, size, offset)
            self._write_fresh(drop_old_file=True)
            return
        self._replay_files([(self.old_path, offset)], None)
        size = self.old_path.stat().st_size
        self._ensure_dir()
        self._new_incr(1)
        self._persist(Manifest((self.name, 1), [(self._incr_name(1), 1)]))
        hook("upgrade-manifest-written")
        self._commit_meta(aof_seq=1, aof_offset=0, aof_base=size, aof_pending=None)
        hook("upgrade-meta-committed")
        os.replace(self.old_path, self.dirpath / self.name)
        fsync_path(self.dirpath)
        fsync_path(self.old_path.parent)
        self.seq = 1
        log.info("Successfully migrated an old-style AOF file (%s) into the AOF directory (%s).",
                 self.old_path.name, self.dirpath.name)

    def _recover(self, seq: int, offset: int) -> None:
        """Meta names incr ``seq`` at ``offset``: replay what it (and any incr file after
        it) holds past that point; if the log cannot describe the database, write it anew."""
        man = self.man
        if (man.base is not None and man.base[0] == self.name
                and not (self.dirpath / self.name).exists() and self.old_path.is_file()):
            os.replace(self.old_path, self.dirpath / self.name)  # an interrupted upgrade
            fsync_path(self.dirpath)
            fsync_path(self.old_path.parent)
        self._delete_history()
        self._delete_unlisted()
        listed = [s for _, s in man.incrs]
        if seq not in listed:
            log.warning("the append only file manifest %s does not list incr file %d, which the "
                        "database was written with: writing a new log from the database",
                        self.manifest_path, seq)
            self._write_fresh()
            return
        i = listed.index(seq)
        path = self.dirpath / man.incrs[i][0]
        size = path.stat().st_size if path.exists() else -1
        if size < offset:
            log.warning("the append only file %s is %s than the database has applied (%d): "
                        "rewriting it from the database", path,
                        "missing" if size < 0 else f"shorter ({size} bytes)", offset)
            self._write_fresh()
            return
        files = [(path, offset)] + [(self.dirpath / n, 0) for n, _ in man.incrs[i + 1:]]
        for p, _ in files[1:]:
            if not p.exists():
                log.warning("the append only file %s is missing: rewriting the log from the "
                            "database", p)
                self._write_fresh()
                return
        self.seq = man.incrs[-1][1]
        self._replay_files(files, self.seq)

    def _load_all(self) -> None:
        """An empty database and a log it has no record of: load the whole log (base, then
        every incr file), as Redis would."""
        man = self.man
        self._delete_history()
        files = [(self.dirpath / n, 0) for n, _ in man.files()]
        for p, _ in files:
            if not p.exists():
                from aki.storage.engine import FileRefused

                raise FileRefused(f"the append only file {p} listed in {self.manifest_path} "
                                  "does not exist")
        if not man.incrs:  # listed before the load: the load commits the position in it
            seq = man.incr_seq + 1
            self._new_incr(seq)
            self._persist(Manifest(man.base, [(self._incr_name(seq), seq)]))
            files.append((self.dirpath / self._incr_name(seq), 0))
        self.seq = self.man.incrs[-1][1]
        self._replay_files(files, self.seq)

    def begin_live(self) -> None:
        """Open a new log on a running server, between batches, written on this thread:
        whatever log is there is replaced by one written from the database (the restart
        of the log after a replica's full sync)."""
        self._clean_temps()
        self._write_fresh()
        self._open_current()

    def begin_switch_on(self) -> None:
        """CONFIG SET appendonly yes, between batches, Redis 7's way (startAppendOnly):
        meta is marked stale, appends go to ``temp-<appendfilename>.incr`` (listed by no
        manifest), and a snapshot pinned now is written in a thread; when it is done,
        _install_switch_on names both files base and incr with seqs above the old
        manifest's, records the position and switches the manifest. Until then the old
        files (if any) are untouched and meta stays stale: a crash leaves a start-up that
        writes a new log from the database."""
        self._ensure_dir()
        self._clean_temps()
        self._commit_meta(aof_offset=STALE)
        conn = self._pin_snapshot()
        try:
            self.fd = os.open(self.temp_incr, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND,
                              0o644)
        except OSError:
            conn.close()
            raise
        self.size = self.other_size = self.seq = 0
        self.cur_db = -1
        self.wait_rewrite = True
        self.enabled = True
        self.rewriting = True
        self.rewrite_started = time.time()
        log.info("Background append only file rewriting started")
        fut = self.app.loop.run_in_executor(None, self._rewrite_thread, conn)
        fut.add_done_callback(self._rewrite_done)

    def _install_switch_on(self) -> None:
        try:
            old = self._manifest_to_replace()
            bseq, iseq = old.base_seq + 1, old.incr_seq + 1
            bname, iname = self._base_name(bseq), self._incr_name(iseq)
            os.fsync(self.fd)
            os.replace(self.tmp, self.dirpath / bname)
            os.replace(self.temp_incr, self.dirpath / iname)  # the open fd follows it
            fsync_path(self.dirpath)
            hook("switch-on-files-renamed")
            base_size = (self.dirpath / bname).stat().st_size
            self._commit_meta(aof_seq=iseq, aof_offset=self.size, aof_base=base_size + self.size,
                              aof_adopted=None)
            self.server.engine.fsync_wal()
            hook("switch-on-meta-committed")
            history = ([old.base] if old.base is not None else []) + old.history + old.incrs
            self.man = old
            self._persist(Manifest((bname, bseq), [(iname, iseq)], history))
            self.seq = iseq
            self.wait_rewrite = False
            self._delete_history()
            self._sizes()
            self.base_size = self.total_size()
        except (OSError, apsw.Error) as exc:
            log.error("Background AOF rewrite could not install the new log: %s", exc)
            self._rewrite_failed()
            return
        self._rewrite_succeeded()

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

    def _write_fresh(self, drop_old_file: bool = False) -> None:
        """A whole new log from the database, on this thread (start-up, appendonly yes;
        so without ``rdb-key-save-delay``, which only slows background writers): base and
        incr files with seqs above any the manifest lists, meta pointing at the new incr
        (committed before the manifest names it: a crash in between finds a seq the
        manifest lacks and writes the log anew), then the manifest, with the files it
        listed as history, deleted last. ``drop_old_file``: the single-file log of an
        older aki is stale; remove it once the new log is installed."""
        self._ensure_dir()
        old = self._manifest_to_replace()
        bseq, iseq = old.base_seq + 1, old.incr_seq + 1
        self._rewrite_thread(self._pin_snapshot(), background=False)
        bname = self._base_name(bseq)
        os.replace(self.tmp, self.dirpath / bname)
        self._new_incr(iseq)
        hook("fresh-files-written")
        size = (self.dirpath / bname).stat().st_size
        self._commit_meta(aof_seq=iseq, aof_offset=0, aof_base=size, aof_pending=None,
                          aof_adopted=None)
        self.server.engine.fsync_wal()
        hook("fresh-meta-committed")
        history = ([old.base] if old.base is not None else []) + old.history + old.incrs
        self.man = old
        self._persist(Manifest((bname, bseq), [(self._incr_name(iseq), iseq)], history))
        hook("fresh-manifest-written")
        self._delete_history()
        if drop_old_file and self.old_path.is_file():
            self.old_path.unlink()
            fsync_path(self.old_path.parent)
        self.seq = iseq
        self.cur_db = -1

    def _write_snapshot(self, conn: apsw.Connection, f: BinaryIO, background: bool) -> None:
        cfg = self.server.config
        write_base(conn, f, preamble=bool(cfg.aof_use_rdb_preamble), compress=bool(cfg.rdbcompression),
                   key_delay=cfg.rdb_key_save_delay if background else 0)

    def _replay_files(self, files: list[tuple[Path, int]], seq: int | None) -> None:
        """Apply the records of ``files`` (each from its start offset; an RDB preamble at
        offset 0 is bulk-loaded) and commit them together with the new position: meta
        ``aof_offset`` = the end of the last file's last whole command, ``aof_seq`` = ``seq``
        (None: the old single file, no seq). A torn tail of the last file is truncated
        under ``aof-load-truncated yes`` (an unfinished MULTI dropped); anything else
        refuses the start."""
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
        try:
            for n, (path, offset) in enumerate(files):
                last = n == len(files) - 1
                end = offset
                valid_before_multi = offset
                with open(path, "rb") as f:
                    if offset == 0 and f.read(5) == b"REDIS":
                        end = self._load_preamble(f)
                        valid_before_multi = end
                    try:
                        for argv, pos in read_commands(f, end):
                            if argv[0].lower() == b"multi":
                                valid_before_multi = end
                            execute(client, argv)
                            applied += 1
                            if not client.in_multi:
                                end = pos
                                valid_before_multi = pos
                        if client.in_multi and last:
                            log.warning("Revert incomplete MULTI/EXEC transaction in AOF file %s",
                                        path)
                            raise AOFError("unfinished MULTI at the end of the log", end,
                                           valid_before_multi, True)
                    except AOFError as exc:
                        good = valid_before_multi if client.in_multi else exc.valid_up_to
                        client.in_multi = False
                        client.multi_queue = []
                        if not exc.truncated or not cfg.aof_load_truncated or not last:
                            engine.rollback()
                            from aki.storage.engine import FileRefused

                            what = "Unexpected end of file" if exc.truncated else "Bad file format"
                            raise FileRefused(
                                f"{what} reading the append only file {path} at byte offset "
                                f"{exc.offset} (last valid command ends at {good}); "
                                "set aof-load-truncated yes to start from there, or repair the log"
                            ) from None
                        log.warning("!!! Warning: short read while loading the AOF file %s!!!", path)
                        log.warning("!!! Truncating the AOF %s at offset %d !!!", path, good)
                        os.truncate(path, good)
                        end = good
                if applied:
                    log.info("AOF: replayed commands of %s from offset %d", path.name, offset)
        finally:
            self.loading = False
            if guard is not None:
                server.extensions["guard"] = guard
        if not engine.in_tx:
            engine.begin()
        if seq is not None:
            self._set_meta("aof_seq", seq)
        self._set_meta("aof_offset", end)
        engine.commit()
        server.ks.touched = []
        if applied:
            log.info("AOF: replayed %d commands", applied)

    def _load_preamble(self, f: BinaryIO) -> int:
        """An RDB preamble at offset 0 (a base file): bulk-load it."""
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
        """Append the batch to the current incr file (before SQLite's COMMIT) and record
        its seq and new length."""
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
        if not self.wait_rewrite:  # else meta stays stale until the log is installed
            # both in one statement: this runs once per batch
            self.server.engine.cur.execute(
                "INSERT INTO meta (name, value) VALUES ('aof_seq', ?), ('aof_offset', ?) "
                "ON CONFLICT (name) DO UPDATE SET value = excluded.value", (self.seq, self.size))

    def fsync_now(self) -> None:
        """Make what the log holds durable now (DEBUG LOADAOF's flushAppendOnlyFile)."""
        if self.fd >= 0:
            os.fsync(self.fd)
            self.dirty = False

    def after_commit(self, ok: bool) -> None:
        if not ok and self.batch_bytes:
            self._truncate_back()
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
            fd = self.fd
            try:
                await loop.run_in_executor(None, os.fsync, fd)
                self.last_fsync_status = "ok"
            except OSError as exc:
                if fd == self.fd:  # not an fd a rewrite closed meanwhile
                    log.error("fsync of the append only file failed: %s", exc)
                    self.last_fsync_status = "err"
            finally:
                self.fsync_running = False

    # -- rewrite -----------------------------------------------------------------------

    def maybe_auto_rewrite(self) -> None:
        """serverCron's automatic rewrite: the log (base and incr files) is past
        ``auto-aof-rewrite-min-size`` and has grown by ``auto-aof-rewrite-percentage`` over
        its size after the last rewrite (or at start-up, for a log no rewrite has written).
        After three failures in a row it waits 1, 2, 4 ... 60 minutes between tries, as
        Redis 7.0 does."""
        cfg = self.server.config
        perc = cfg.auto_aof_rewrite_percentage
        size = self.total_size()
        if (not perc or not self.enabled or self.rewriting
                or size <= cfg.auto_aof_rewrite_min_size):
            return
        if rdbsave.bgsave_running(self.server) or time.time() < self.auto_not_before:
            return
        growth = size * 100 // (self.base_size or 1) - 100
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
        """BGREWRITEAOF with ``appendonly no``: a new base from a snapshot, as Redis 7
        writes one then; the manifest becomes that base alone (the incr files are history).
        The log stays off: meta ``aof_offset`` is marked stale first (so a later start with
        appendonly yes writes its own log rather than trust this one). False if one is
        running."""
        if self.rewriting:
            return False
        self.rewriting = True
        self.rewrite_started = time.time()

        def begin() -> None:
            try:
                self._commit_meta(aof_offset=STALE)
                self._ensure_dir()
                self._clean_temps()
                conn = self._pin_snapshot()
            except (apsw.Error, OSError) as exc:
                log.error("AOF rewrite could not start: %s", exc)
                self._rewrite_failed()
                return
            log.info("Background append only file rewriting started")
            fut = self.app.loop.run_in_executor(None, self._rewrite_thread, conn)
            fut.add_done_callback(self._offline_done)

        between_batches(self.app, begin)
        return True

    def _offline_done(self, fut: asyncio.Future) -> None:
        if self._thread_failed(fut):
            return
        try:
            old = self._manifest_to_replace()
            bseq = old.base_seq + 1
            bname = self._base_name(bseq)
            os.replace(self.tmp, self.dirpath / bname)
            fsync_path(self.dirpath)
            history = ([old.base] if old.base is not None else []) + old.history + old.incrs
            self.man = old
            self._persist(Manifest((bname, bseq), [], history))
            self._delete_history()
            self.size = (self.dirpath / bname).stat().st_size
        except OSError as exc:
            log.error("Background AOF rewrite could not install the new base: %s", exc)
            self._rewrite_failed()
            return
        self._rewrite_succeeded()

    def _start_rewrite(self) -> None:
        """Between batches: open incr seq+1 and switch appends to it (the manifest lists it
        first), then pin the snapshot the new base is written from, in a thread."""
        new_seq = self.man.incr_seq + 1
        try:
            self._new_incr(new_seq)
            fd = os.open(self.dirpath / self._incr_name(new_seq), os.O_WRONLY | os.O_APPEND)
            try:
                man = Manifest(self.man.base, self.man.incrs + [(self._incr_name(new_seq), new_seq)])
                self._persist(man)
            except BaseException:
                os.close(fd)
                raise
        except (apsw.Error, OSError) as exc:
            log.error("AOF rewrite could not start: %s", exc)
            self.rewriting = False
            self.last_rewrite_status = "err"
            return
        hook("rewrite-incr-listed")
        # listed: appends switch to it now, whatever happens to the rest of the rewrite
        old = self.fd
        self.fd = fd
        self.seq = self.new_seq = new_seq
        self.other_size += self.size
        self.size = 0
        self.cur_db = -1  # the new incr file starts with SELECT
        if old >= 0:
            try:
                os.fsync(old)
            except OSError as exc:
                log.error("fsync of the append only file failed: %s", exc)
            os.close(old)
        self.dirty = False
        try:
            self._commit_meta(aof_seq=new_seq, aof_offset=0)
            conn = self._pin_snapshot()
        except (apsw.Error, OSError) as exc:
            log.error("AOF rewrite could not start: %s", exc)
            self.rewriting = False
            self.last_rewrite_status = "err"
            return
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
        self.rewrites += 1
        self.last_rewrite_status = "ok"
        self.last_rewrite_time = int(time.time() - self.rewrite_started)
        log.info("Background AOF rewrite finished successfully (%d bytes)", self.total_size())
        self._rewrite_ended()

    def _rewrite_failed(self) -> None:
        self.failures += 1
        if self.failures >= 3:
            minutes = min(60, 1 << (self.failures - 3))
            self.auto_not_before = time.time() + minutes * 60
            log.warning("Background AOF rewrite has repeatedly failed and triggered the limit, "
                        "will retry in %d minutes", minutes)
        self.rewriting = False
        self.last_rewrite_status = "err"
        try:
            self.tmp.unlink()
        except FileNotFoundError:
            pass
        if self.wait_rewrite:
            # a switch-on whose first rewrite failed: the log stays off (and stale), as
            # Redis leaves it when it cannot start one (it retries in its cron; aki waits
            # for the next CONFIG SET appendonly yes)
            log.warning("Unable to turn on AOF: its first rewrite failed")
            self.off_after_rewrite = False
            _detach(self.app, self)
            self.close()
            self.wait_rewrite = False
            self.temp_incr.unlink(missing_ok=True)
            self.server.config.set("appendonly", "no")
            return
        self._rewrite_ended()

    def _rewrite_ended(self) -> None:
        """A switch-off that waited for this rewrite happens now (see _switch)."""
        if self.off_after_rewrite:
            self.off_after_rewrite = False
            _turn_off(self.app, self)

    def _swap(self) -> None:
        """Between batches, the written base takes over: renamed to base seq+1, the manifest
        becomes that base and the incr files from the one the rewrite opened (the old base
        and incr files as history), then those are deleted."""
        if self.wait_rewrite:
            self._install_switch_on()
            return
        try:
            bseq = self.man.base_seq + 1
            bname = self._base_name(bseq)
            os.replace(self.tmp, self.dirpath / bname)
            fsync_path(self.dirpath)
            hook("rewrite-base-renamed")
            old = self.man
            keep = [(n, s) for n, s in old.incrs if s >= self.new_seq]
            history = ([old.base] if old.base is not None else []) + old.history + \
                [(n, s) for n, s in old.incrs if s < self.new_seq]
            self._persist(Manifest((bname, bseq), keep, history))
            hook("rewrite-manifest-switched")
            self._delete_history()
            self._sizes()
            self.base_size = self.total_size()
            self._commit_meta(aof_base=self.base_size)
        except (OSError, apsw.Error) as exc:
            log.error("Background AOF rewrite could not install the new base: %s", exc)
            self._rewrite_failed()
            return
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
            "aof_current_size": self.total_size(),
            "aof_base_size": self.base_size,
            "aof_rewrites_consecutive_failures": self.failures,
        }


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def fsync_path(path: Path) -> None:
    """fsync a file or a directory by name (a directory: the renames in it are durable)."""
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
                aof.begin_switch_on()
            except (OSError, apsw.Error) as exc:
                log.error("Unable to turn on AOF: %s", exc)
                aof.close()
                aof.temp_incr.unlink(missing_ok=True)
                server.config.set("appendonly", "no")  # as Redis: it stays off
                return
            _attach(app, aof)
            log.info("AOF turned on: writing %s from the database in the background",
                     aof.dirpath)
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
