"""Bulk write and read of whole keys of every type, in SQL, for import/export paths.

Used by ``aki import`` (an RDB, JSONL or AOF-preamble into a file), RESTORE (one key
through the keyspace), ``aki dump`` / BGSAVE / BGREWRITEAOF (whole databases read
from an MVCC snapshot connection).

Why a module of its own: the collection repositories (storage/lists.py, sets.py ...)
are written for one command touching a few elements; an import writes millions of
rows, so here every table is filled with ``executemany`` over batches, key ids are
assigned in Python (no round trip per key), and a file import may suspend the
``keys_insert`` trigger and recompute ``dbstats`` once at the end (``fast=True``).

Invariants (what a crash or a bad input can and cannot leave behind):

* ``BulkLoader`` never commits: the caller owns the transaction. An import runs in
  ONE transaction, so a crash or an error mid-way leaves the file exactly as it was
  (the trigger drop/re-create of ``fast`` mode is inside that transaction too:
  SQLite DDL is transactional).
* The element rows of a key and its ``keys`` row are written in the same flush, with
  ``len``/``head``/``enc`` computed from the rows written, so ``aki check``'s
  invariants (len = element count, contiguous list positions, dbstats = counts)
  hold after every flush.
* Key ids are taken above ``max(keys.id)``, every id in ``garbage`` and (older files)
  the AUTOINCREMENT high-water mark, so an id of a deleted key whose rows may still
  await reclaiming is never reused.
"""

from __future__ import annotations

import base64
import math
import random
import time
from collections.abc import Callable, Iterator
from typing import Any

import apsw

from aki.commands.common import to_int
from aki.storage.sets import mhash

STRING, LIST, SET, ZSET, HASH, STREAM = 0, 1, 2, 3, 4, 5
TYPE_CODES = {"string": STRING, "list": LIST, "set": SET, "zset": ZSET, "hash": HASH, "stream": STREAM}
TYPE_NAMES = {v: k for k, v in TYPE_CODES.items()}

_INSERT_KEY = ("INSERT INTO keys (id, db, key, type, value, expire_at, len, head, enc) "
               "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
_INSERT_LIST = "INSERT INTO list_items (key_id, pos, value) VALUES (?, ?, ?)"
_INSERT_SET = "INSERT INTO set_members (key_id, h, member) VALUES (?, ?, ?)"
_INSERT_ZSET = "INSERT INTO zset_members (key_id, member, score) VALUES (?, ?, ?)"
_INSERT_HASH = "INSERT INTO hash_fields (key_id, h, field, value, seq) VALUES (?, ?, ?, ?, ?)"

FUNCTION_PREFIX = "function:"


class BulkError(Exception):
    """The data cannot be written as asked (a duplicate key inside one dump ...)."""


class Limits:
    """The encoding thresholds that decide ``keys.enc`` (Redis's directives)."""

    __slots__ = ("hash_entries", "hash_value", "intset_entries", "zset_entries", "zset_value")

    def __init__(self, hash_entries: int = 128, hash_value: int = 64, intset_entries: int = 512,
                 zset_entries: int = 128, zset_value: int = 64) -> None:
        self.hash_entries = hash_entries
        self.hash_value = hash_value
        self.intset_entries = min(intset_entries, 1 << 30)
        self.zset_entries = zset_entries
        self.zset_value = zset_value

    @classmethod
    def from_config(cls, cfg: Any) -> Limits:
        return cls(cfg.hash_max_listpack_entries, cfg.hash_max_listpack_value,
                   cfg.set_max_intset_entries, cfg.zset_max_listpack_entries,
                   cfg.zset_max_listpack_value)


def set_enc(members: list[bytes], lim: Limits) -> int:
    """0 (intset) when every member is a canonical integer and there are few enough."""
    if len(members) > lim.intset_entries:
        return 1
    for m in members:
        if to_int(m) is None:
            return 1
    return 0


def zset_enc(pairs: list[tuple[bytes, float]], lim: Limits) -> int:
    if len(pairs) > lim.zset_entries:
        return 1
    mv = lim.zset_value
    for m, _ in pairs:
        if len(m) > mv:
            return 1
    return 0


def hash_enc(pairs: list[tuple[bytes, bytes]], lim: Limits) -> int:
    if len(pairs) > lim.hash_entries:
        return 1
    mv = lim.hash_value
    for f, v in pairs:
        if len(f) > mv or len(v) > mv:
            return 1
    return 0


def next_key_id(cur: apsw.Cursor) -> int:
    """The first id above every live key, every collection awaiting reclaim and, in
    files made before aki dropped AUTOINCREMENT, its high-water mark."""
    top = cur.execute("SELECT max(id) FROM keys").fetchone()[0] or 0
    gone = cur.execute("SELECT max(key_id) FROM garbage").fetchone()[0] or 0
    seq = 0
    if cur.execute("SELECT 1 FROM sqlite_schema WHERE name = 'sqlite_sequence'").fetchone():
        row = cur.execute("SELECT seq FROM sqlite_sequence WHERE name = 'keys'").fetchone()
        seq = row[0] if row else 0
    return max(top, gone, seq) + 1


def element_rows(kid: int, type_: int, value: Any, lim: Limits,
                 out: dict[int, list[tuple]]) -> tuple[int, int, int]:
    """Append the element rows of one collection to ``out[type]``; returns (len, head, enc).

    Duplicate set members / hash fields / zset members are corruption: raises BulkError."""
    if type_ == LIST:
        rows = out[LIST]
        rows.extend([(kid, i, v) for i, v in enumerate(value)])
        return len(value), 0, 1  # storage/lists.py: Redis 7.0 lists are always quicklists
    if type_ == SET:
        out[SET].extend([(kid, mhash(m), m) for m in value])
        return len(value), 0, set_enc(value, lim)
    if type_ == ZSET:
        for _, s in value:
            if math.isnan(s):
                raise BulkError("a sorted set score is NaN")
        out[ZSET].extend([(kid, m, s) for m, s in value])
        return len(value), 0, zset_enc(value, lim)
    if type_ == HASH:
        out[HASH].extend([(kid, mhash(f), f, v, i) for i, (f, v) in enumerate(value)])
        return len(value), len(value), hash_enc(value, lim)
    raise BulkError(f"cannot store a value of type {TYPE_NAMES.get(type_, type_)}")


class BulkLoader:
    """Write whole keys into an open transaction, in batches.

    ``add(db, key, type, value, expire_ms)`` with the shapes of ``aki.rdb.KeyRecord``
    (``db`` is the logical index; ``dbmap`` maps it to the stored number). A key that
    already exists is skipped (``on_warning`` is told) unless ``replace``. Expired keys
    are dropped (counted in ``expired``), as Redis drops them loading as a primary.
    ``fast`` suspends the per-row ``keys_insert`` trigger and recomputes ``dbstats``
    in ``finish()``: only for a connection that alone writes the file (``aki import``).
    """

    def __init__(self, conn: apsw.Connection, *, limits: Limits | None = None,
                 dbmap: list[int] | None = None, replace: bool = False, fast: bool = False,
                 on_warning: Callable[[str], None] | None = None, batch: int = 20000,
                 now_ms: int | None = None, threaded: bool = False) -> None:
        self.conn = conn
        self.cur = conn.cursor()
        self.lim = limits or Limits()
        self.dbmap = dbmap
        self.replace = replace
        self.warn = on_warning or (lambda m: None)
        self.batch = batch
        self.now = now_ms if now_ms is not None else int(time.time() * 1000)
        self.next_id = next_key_id(self.cur)
        self.keys: list[tuple] = []
        self.elems: dict[int, list[tuple]] = {LIST: [], SET: [], ZSET: [], HASH: []}
        self.pending = 0
        self.loaded = 0
        self.skipped = 0
        self.replaced = 0
        self.expired = 0
        self.functions = 0
        self.elements = 0
        self.dbs_touched: set[int] = set()
        self._dbinfo: dict[int, tuple[int, bool]] = {}
        self._seen: set[tuple[int, bytes]] = set()  # keys of this load in non-empty dbs
        self._trigger_sql: str | None = None
        # threaded: batches are written by a worker thread while the caller parses the
        # next ones (apsw releases the GIL inside SQLite); the caller's thread touches the
        # connection only after waiting for the worker (``_wait``).
        self._pool = None
        self._inflight = None
        if threaded:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(1, thread_name_prefix="aki-bulk")
        if fast:
            row = self.cur.execute(
                "SELECT sql FROM sqlite_schema WHERE type = 'trigger' AND name = 'keys_insert'"
            ).fetchone()
            if row is not None:
                self._trigger_sql = row[0]
                self.cur.execute("DROP TRIGGER keys_insert")

    def _db_info(self, db: int) -> tuple[int, bool]:
        """(stored number, was empty when the load began) of logical ``db``."""
        if self.dbmap is None:
            phys = db
        elif db >= len(self.dbmap):
            raise BulkError(f"database {db} is out of range (the file has {len(self.dbmap)})")
        else:
            phys = self.dbmap[db]
        self._wait()
        empty = self.cur.execute("SELECT 1 FROM keys WHERE db = ? LIMIT 1", (phys,)).fetchone() is None
        self._dbinfo[db] = (phys, empty)
        self.dbs_touched.add(phys)
        return phys, empty

    def add(self, db: int, key: bytes, kind: str, value: Any, expire_ms: int | None) -> bool:
        """Queue one key; True when it will be written."""
        if expire_ms is not None and expire_ms <= self.now:
            self.expired += 1
            return False
        info = self._dbinfo.get(db)
        phys, empty = info if info is not None else self._db_info(db)
        if empty and kind == "string":  # the hot path of a big import: no per-key query
            kid = self.next_id
            self.next_id = kid + 1
            self.keys.append((kid, phys, key, STRING, value, expire_ms, 0, 0, 0))
            self.loaded += 1
            self.pending += 1
            if self.pending >= self.batch:
                self.flush()
            return True
        return self._add(db, phys, empty, key, kind, value, expire_ms)

    def _add(self, db: int, phys: int, empty: bool, key: bytes, kind: str, value: Any,
             expire_ms: int | None) -> bool:
        type_ = TYPE_CODES.get(kind)
        if type_ is None:
            self.skipped += 1
            self.warn(f"skipping key {key!r} in db {db}: aki cannot store a {kind} yet")
            return False
        if not empty:
            self._wait()
            ck = (phys, key)
            if ck in self._seen:
                raise BulkError(f"duplicate key {key!r} in db {db}")
            old = self.cur.execute("SELECT id FROM keys WHERE db = ? AND key = ?", (phys, key)).fetchone()
            if old is not None:
                if not self.replace:
                    self.skipped += 1
                    self.warn(f"key {key!r} already exists in db {db}: skipped (use --replace)")
                    return False
                self.flush()
                self._wait()
                self.cur.execute("DELETE FROM keys WHERE id = ?", (old[0],))
                self.replaced += 1
            self._seen.add(ck)
        kid = self.next_id
        self.next_id = kid + 1
        if type_ == STRING:
            self.keys.append((kid, phys, key, STRING, value, expire_ms, 0, 0, 0))
            self.pending += 1
        elif type_ == STREAM:
            from aki.storage import streams

            self._wait()
            n, meta = streams.write_value(self.cur, kid, value)
            self.keys.append((kid, phys, key, STREAM, meta, expire_ms, n, 0, 0))
            self.pending += n + 1
            self.elements += n
        else:
            n, head, enc = element_rows(kid, type_, value, self.lim, self.elems)
            if n == 0:
                self.skipped += 1
                self.warn(f"skipping empty {kind} {key!r} in db {db}")
                return False
            self.keys.append((kid, phys, key, type_, None, expire_ms, n, head, enc))
            self.pending += n + 1
            self.elements += n
        self.loaded += 1
        if self.pending >= self.batch:
            self.flush()
        return True

    def add_rdb_records(self, records: Iterator[Any]) -> dict[bytes, bytes]:
        """Every record of an RDB reader: keys and function libraries loaded; the AUX
        fields returned (``repl-stream-db`` ...)."""
        from aki.rdb import AuxRecord, FunctionRecord

        aux: dict[bytes, bytes] = {}
        for rec in records:
            t = type(rec)
            if t is AuxRecord:
                aux[rec.key] = rec.value
            elif t is FunctionRecord:
                self.add_function(rec.code)
            else:
                self.add(*rec)
        return aux

    def add_function(self, code: bytes) -> None:
        """A function library, stored as meta 'function:<name>' (its FUNCTION LOAD source)."""
        self._wait()
        name = library_name(code)
        if name is None:
            self.skipped += 1
            self.warn("skipping a function library without a '#!<engine> name=<name>' shebang")
            return
        exists = self.cur.execute("SELECT 1 FROM meta WHERE name = ?", (FUNCTION_PREFIX + name,)).fetchone()
        if exists and not self.replace:
            self.skipped += 1
            self.warn(f"function library '{name}' already exists: skipped (use --replace)")
            return
        self.cur.execute("INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) "
                         "DO UPDATE SET value = excluded.value", (FUNCTION_PREFIX + name, bytes(code)))
        self.functions += 1

    def flush(self) -> None:
        if not self.keys:
            return
        keys, elems = self.keys, self.elems
        self.keys = []
        self.elems = {LIST: [], SET: [], ZSET: [], HASH: []}
        self.pending = 0
        if self._pool is None:
            self._write(keys, elems)
            return
        self._wait()
        self._inflight = self._pool.submit(self._write, keys, elems)

    def _wait(self) -> None:
        """Wait for the worker's batch (re-raising its error) before using the connection."""
        fut = self._inflight
        if fut is not None:
            self._inflight = None
            fut.result()

    def abort(self) -> None:
        """Stop after an error: wait for the worker (its result no longer matters) so the
        caller can roll back on a connection no other thread is using."""
        fut, self._inflight = self._inflight, None
        if fut is not None:
            try:
                fut.result()
            except Exception:  # noqa: BLE001 - the caller is already handling a failure
                pass
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def _write(self, keys: list[tuple], el: dict[int, list[tuple]]) -> None:
        cur = self.cur
        try:
            cur.executemany(_INSERT_KEY, keys)
        except apsw.ConstraintError as exc:
            raise BulkError(f"duplicate key in the input ({exc})") from None
        if el[LIST]:
            cur.executemany(_INSERT_LIST, el[LIST])
        if el[SET]:
            cur.executemany(_INSERT_SET, el[SET])
        if el[ZSET]:
            cur.executemany(_INSERT_ZSET, el[ZSET])
        if el[HASH]:
            cur.executemany(_INSERT_HASH, el[HASH])

    def finish(self) -> None:
        """Flush, and in fast mode recompute dbstats and restore the trigger."""
        self.flush()
        try:
            self._wait()
        finally:
            if self._pool is not None:
                self._pool.shutdown()
                self._pool = None
        if self._trigger_sql is not None:
            recompute_dbstats(self.cur)
            self.cur.execute(self._trigger_sql)
            self._trigger_sql = None


def recompute_dbstats(cur: apsw.Cursor) -> None:
    """dbstats from the keys table (what the triggers maintain row by row)."""
    cur.execute("DELETE FROM dbstats")
    cur.execute("INSERT INTO dbstats (db, keys, expires) "
                "SELECT db, count(*), count(expire_at) FROM keys GROUP BY db")


def library_name(code: bytes) -> str | None:
    """The ``name=`` of a library's shebang line (``#!lua name=mylib``)."""
    first = bytes(code).split(b"\n", 1)[0]
    if not first.startswith(b"#!"):
        return None
    for part in first[2:].split()[1:]:
        if part.startswith(b"name="):
            return part[5:].decode("utf-8", "replace") or None
    return None


# -- reading (export) ------------------------------------------------------------------


def read_dbmap(conn: apsw.Connection) -> list[int]:
    """Logical index -> stored number (meta 'dbmap', kept by SWAPDB)."""
    n = conn.execute("SELECT value FROM meta WHERE name = 'databases'").fetchone()
    count = int(n[0]) if n else 16
    row = conn.execute("SELECT value FROM meta WHERE name = 'dbmap'").fetchone()
    if row is not None:
        mapping = [int(x) for x in bytes(row[0]).decode().split(",")]
        if len(mapping) == count:
            return mapping
    return list(range(count))


def read_value(cur: apsw.Cursor, kid: int, type_: int, enc: int, value: Any) -> Any:
    """The value of one key in ``aki.rdb.KeyRecord`` shape, in Redis's iteration order."""
    if type_ == STRING:
        return value
    if type_ == LIST:
        return [r[0] for r in cur.execute(
            "SELECT value FROM list_items WHERE key_id = ? ORDER BY pos", (kid,))]
    if type_ == SET:
        members = [r[0] for r in cur.execute("SELECT member FROM set_members WHERE key_id = ?", (kid,))]
        if enc == 0:
            ints = [to_int(m) for m in members]
            if None not in ints:
                members = [m for _, m in sorted(zip(ints, members, strict=False))]  # type: ignore[arg-type]
        return members
    if type_ == ZSET:
        return cur.execute("SELECT member, score FROM zset_members WHERE key_id = ? "
                           "ORDER BY score, member", (kid,)).fetchall()
    if type_ == HASH:
        order = " ORDER BY seq" if enc == 0 else ""
        return cur.execute(f"SELECT field, value FROM hash_fields WHERE key_id = ?{order}",
                           (kid,)).fetchall()
    if type_ == STREAM:
        from aki.storage import streams

        return streams.read_value(cur, kid, value)
    raise BulkError(f"cannot read a value of type {type_}")


def iter_db(conn: apsw.Connection, phys: int, *, now_ms: int | None = None,
            on_warning: Callable[[str], None] | None = None) -> Iterator[tuple[bytes, str, Any, int | None]]:
    """Every live key of one stored database: ``(key, type name, value, expire_ms)``.

    Run it on a snapshot (a read transaction open on ``conn``) to get one point in time.
    Keys already expired are left out (they are logically gone)."""
    now = now_ms if now_ms is not None else int(time.time() * 1000)
    inner = conn.cursor()
    # +db: stream the table in id order; through the (db, key) index SQLite would first
    # sort every row of the database, values included, in memory
    rows = conn.cursor().execute(
        "SELECT id, key, type, value, expire_at, enc FROM keys WHERE +db = ? ORDER BY id",
        (phys,))
    for kid, key, type_, value, exp, enc in rows:
        if exp is not None and exp <= now:
            continue
        if type_ == STRING:
            yield key, "string", value, exp
            continue
        v = read_value(inner, kid, type_, enc, value)
        if type_ != STREAM and not v:
            continue
        yield key, TYPE_NAMES[type_], v, exp


def db_counts(conn: apsw.Connection, phys: int) -> tuple[int, int]:
    r = conn.execute("SELECT keys, expires FROM dbstats WHERE db = ?", (phys,)).fetchone()
    return (r[0], r[1]) if r else (0, 0)


def functions(conn: apsw.Connection) -> list[bytes]:
    """Function library sources stored in meta, by name."""
    return [bytes(r[0]) for r in conn.execute(
        "SELECT value FROM meta WHERE name >= 'function:' AND name < 'function;' ORDER BY name")]


def write_snapshot_rdb(conn: apsw.Connection, fileobj: Any, *, db: int | None = None,
                       compress: bool = True, checksum: bool = True, aof_base: bool = False,
                       on_warning: Callable[[str], None] | None = None,
                       progress: Callable[[int], None] | None = None, begin: bool = True,
                       keys: bool = True, functions_too: bool = True,
                       key_delay: int = 0, cancelled: Callable[[], bool] | None = None) -> int:
    """Write an RDB of ``conn``'s data (all databases or logical ``db``) to ``fileobj``;
    ``keys``/``functions_too`` False leave those out (a replica's rdb-filter-only);
    ``key_delay``: ``rdb-key-save-delay``, a pause per key (``debug_delay``);
    ``cancelled``: asked every few keys, True stops the writing (``SnapshotCancelled``).

    With ``begin`` it opens (and ends) a read transaction on ``conn`` so everything comes
    from one snapshot; without, the caller already holds one. Returns the keys written."""
    from aki.rdb import RDBWriter

    w = RDBWriter(fileobj, compress=compress, checksum=checksum, aof_base=aof_base)
    n = 0
    if begin:
        conn.execute("BEGIN")
    try:
        dbmap = read_dbmap(conn)
        w.begin()
        for code in functions(conn) if functions_too else ():
            w.write_function(code)
        for logical, phys in enumerate(dbmap):
            if not keys:
                break
            if db is not None and logical != db:
                continue
            size, expires = db_counts(conn, phys)
            if size == 0:
                continue
            w.select_db(logical if db is None else db, size, expires)
            for key, kind, value, exp in iter_db(conn, phys, on_warning=on_warning):
                w.write_key(key, kind, value, exp)
                n += 1
                if key_delay:
                    debug_delay(key_delay)
                if cancelled is not None and (key_delay or not n & 255) and cancelled():
                    raise SnapshotCancelled()
                if progress is not None and not n % 10000:
                    progress(n)
        w.finish()
    finally:
        if begin:
            conn.execute("COMMIT")
    return n


class SnapshotCancelled(Exception):
    """``write_snapshot_rdb`` was told to stop (a BGSAVE killed at shutdown)."""


def debug_delay(usec: int) -> None:
    """Redis's debugDelay, for ``rdb-key-save-delay`` (a test setting that makes a save
    slow): ``usec`` microseconds, or when negative one microsecond once in ``-usec`` calls
    (a statistically shorter pause)."""
    if usec < 0:
        usec = 1 if random.randrange(-usec) == 0 else 0
    if usec:
        time.sleep(usec / 1_000_000)


# -- JSONL -------------------------------------------------------------------------------


def jbytes(b: bytes) -> Any:
    """UTF-8 text as a JSON string, anything else as {"base64": "..."}."""
    try:
        return bytes(b).decode("utf-8")
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(b).decode()}


def unjbytes(v: Any) -> bytes:
    if isinstance(v, str):
        return v.encode("utf-8")
    if isinstance(v, dict) and set(v) == {"base64"}:
        return base64.b64decode(v["base64"], validate=True)
    raise ValueError(f"expected a string or {{\"base64\": ...}}, got {v!r}")


def _jscore(s: float) -> Any:
    if math.isinf(s):
        return "inf" if s > 0 else "-inf"
    return s


def _unjscore(v: Any) -> float:
    if v in ("inf", "+inf"):
        return math.inf
    if v == "-inf":
        return -math.inf
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise ValueError(f"bad score {v!r}")
    return float(v)


def _jid(i: tuple[int, int]) -> str:
    return "%d-%d" % i


def _unjid(v: Any) -> tuple[int, int]:
    if not isinstance(v, str) or v.count("-") != 1:
        raise ValueError(f"bad stream ID {v!r}")
    ms, seq = v.split("-")
    if not (ms.isdigit() and seq.isdigit()) or int(ms) >= 1 << 64 or int(seq) >= 1 << 64:
        raise ValueError(f"bad stream ID {v!r}")
    return int(ms), int(seq)


def _jint(v: Any, what: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise ValueError(f"bad {what} {v!r}")
    return v


def _stream_to_json(s: Any) -> dict:
    """A StreamValue as JSON: everything XINFO STREAM FULL shows, so nothing is lost."""
    return {
        "entries": [[_jid(i), [[jbytes(f), jbytes(v)] for f, v in fields]]
                    for i, fields in s.entries],
        "length": s.length, "last_id": _jid(s.last_id), "first_id": _jid(s.first_id),
        "max_deleted_entry_id": _jid(s.max_deleted_entry_id), "entries_added": s.entries_added,
        "groups": [{
            "name": jbytes(g.name), "last_id": _jid(g.last_id), "entries_read": g.entries_read,
            "pending": [[_jid(p.id), None if p.consumer is None else jbytes(p.consumer),
                         p.delivery_time, p.delivery_count] for p in g.pending],
            "consumers": [{"name": jbytes(c.name), "seen_time": c.seen_time,
                           "active_time": c.active_time, "pending": [_jid(i) for i in c.pending]}
                          for c in g.consumers],
        } for g in s.groups],
    }


def _stream_from_json(v: Any) -> Any:
    from aki.rdb.stream import StreamConsumer, StreamGroup, StreamPending, StreamValue

    if not isinstance(v, dict):
        raise ValueError("a stream value is not an object")
    try:
        return StreamValue(
            entries=[(_unjid(i), [(unjbytes(f), unjbytes(x)) for f, x in fields])
                     for i, fields in v["entries"]],
            length=_jint(v["length"], "length"), last_id=_unjid(v["last_id"]),
            first_id=_unjid(v["first_id"]),
            max_deleted_entry_id=_unjid(v["max_deleted_entry_id"]),
            entries_added=_jint(v["entries_added"], "entries_added"),
            groups=[StreamGroup(
                name=unjbytes(g["name"]), last_id=_unjid(g["last_id"]),
                entries_read=_jint(g["entries_read"], "entries_read"),
                pending=[StreamPending(_unjid(i), None if c is None else unjbytes(c),
                                       _jint(t, "delivery_time"), _jint(n, "delivery_count"))
                         for i, c, t, n in g["pending"]],
                consumers=[StreamConsumer(unjbytes(c["name"]), _jint(c["seen_time"], "seen_time"),
                                          _jint(c["active_time"], "active_time"),
                                          [_unjid(i) for i in c["pending"]])
                           for c in g["consumers"]],
            ) for g in v["groups"]],
        )
    except (KeyError, TypeError) as exc:  # a missing member, a wrong shape
        raise ValueError(f"malformed stream value: {exc!r}") from None


def to_json_record(db: int, key: bytes, kind: str, value: Any, expire_ms: int | None) -> dict:
    if kind == "string":
        jv: Any = jbytes(value)
    elif kind in ("list", "set"):
        jv = [jbytes(x) for x in value]
    elif kind == "zset":
        jv = [[jbytes(m), _jscore(s)] for m, s in value]
    elif kind == "hash":
        jv = [[jbytes(f), jbytes(v)] for f, v in value]
    elif kind == "stream":
        jv = _stream_to_json(value)
    else:
        raise ValueError(f"cannot write a {kind} as JSON")
    return {"db": db, "key": jbytes(key), "type": kind, "value": jv, "expire_ms": expire_ms}


def from_json_record(obj: dict) -> tuple[int, bytes, str, Any, int | None]:
    """The inverse of ``to_json_record``; raises ValueError on a malformed object."""
    if not isinstance(obj, dict):
        raise ValueError("a line is not a JSON object")
    db = obj.get("db", 0)
    kind = obj.get("type")
    exp = obj.get("expire_ms")
    if not isinstance(db, int) or db < 0 or (exp is not None and not isinstance(exp, int)):
        raise ValueError("bad 'db' or 'expire_ms'")
    key = unjbytes(obj.get("key"))
    v = obj.get("value")
    if kind == "string":
        value: Any = unjbytes(v)
    elif kind in ("list", "set"):
        value = [unjbytes(x) for x in v]
    elif kind == "zset":
        value = [(unjbytes(m), _unjscore(s)) for m, s in v]
    elif kind == "hash":
        value = [(unjbytes(f), unjbytes(x)) for f, x in v]
    elif kind == "stream":
        value = _stream_from_json(v)
    else:
        raise ValueError(f"unknown type {kind!r}")
    return db, key, kind, value, exp
