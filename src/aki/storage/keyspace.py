"""The key table: lookup with lazy expiry, create, delete, rename, expire, scan.

Every write of the ``keys`` table goes through this module, for three reasons:
the row cache in front of SQLite stays correct, every modified key is recorded
in ``touched`` (WATCH, client tracking and blocked clients hang on it), and
every keyspace event is recorded in ``events`` for ``execute()`` to deliver.

Databases are addressed by their logical (SELECT) index; ``dbmap`` turns it
into the physical number stored in the file, so SWAPDB is O(1).

Collections store their elements in their own tables keyed by ``KeyRow.id``;
their repositories call ``set_len``/``set_meta`` to keep ``len``/``head``/``enc``
current and ``delete_row`` when a collection becomes empty.

Those counters are written to the file once per batch, not once per command
(``pending_meta``, ``flush_meta``): the cached row is always the newer one. The
invariant that keeps this right: a row with pending counters is never out of the
row cache and the file's copy is never read while it is pending. The pending
rows are written before every COMMIT (``Engine.pre_commit``), before a command
that is not declared ``cache_only`` (``dispatch.call``), before server-side work
(``run_internal``), before a cache eviction, and before that row's DELETE (its
trigger reads ``len``); a rollback drops them with the cache (``invalidate``).
"""

from __future__ import annotations

import functools
import itertools
import random
import re
import time
from collections.abc import Callable, Iterator

from aki.errors import WRONGTYPE, RedisError
from aki.storage.engine import Engine

STRING, LIST, SET, ZSET, HASH, STREAM = 0, 1, 2, 3, 4, 5
TYPE_NAMES = {STRING: "string", LIST: "list", SET: "set", ZSET: "zset", HASH: "hash", STREAM: "stream"}
TYPE_BY_NAME = {v: k for k, v in TYPE_NAMES.items()}

_ROW_COLS = "id, type, value, expire_at, len, head, enc"
# SCAN steps (see Keyspace.scan). "+?" for LIMIT: a bound LIMIT otherwise makes this
# SQLite re-prepare the statement on every run (see storage/zsets.py).
_SCAN_BY_ID = ("SELECT id, key, type, expire_at FROM keys WHERE +db = ? AND id > ? "
               "ORDER BY id LIMIT +?")
_SCAN_BY_DB = ("SELECT id, key, type, expire_at FROM keys WHERE db = ? AND id > ? "
               "ORDER BY id LIMIT +?")
_INSERT_IF_ABSENT = ("INSERT INTO keys (db, key, type, value) VALUES (?, ?, 0, ?) "
                     "ON CONFLICT (db, key) DO NOTHING")
_UPSERT_STRING = (
    "INSERT INTO keys (db, key, type, value, expire_at, enc) VALUES (?1, ?2, 0, ?3, ?4, ?5) "
    "ON CONFLICT (db, key) DO UPDATE SET value = ?3, expire_at = ?4, enc = ?5 "
    "WHERE type = 0 AND (expire_at IS NULL OR expire_at > ?6)"
)

# SET of a live string whose TTL and encoding stay: the value only (no expiry index entry
# or counter trigger to consider). The C lane (aki/_lane.c) runs the same two statements.
_UPDATE_VALUE = "UPDATE keys SET value = ? WHERE id = ?"

# Tables holding a collection's elements, keyed by ``key_id`` (COPY duplicates their
# rows). A family that adds a table of per-key rows (stream groups ...) appends it here.
ELEMENT_TABLES: dict[int, list[str]] = {
    1: ["list_items"], 2: ["set_members"], 3: ["zset_members"], 4: ["hash_fields"],
    5: ["stream_entries", "stream_nodes", "stream_groups", "stream_consumers", "stream_pel"],
}
_MISSING = None
# The id of a new collection: above every live key and every collection awaiting reclaim.
_NEXT_ID = ("SELECT max(ifnull((SELECT max(id) FROM keys), 0), "
            "ifnull((SELECT max(key_id) FROM garbage), 0)) + 1")
_SET_COUNTERS = "UPDATE keys SET len = ?, head = ?, enc = ? WHERE id = ?"


def wire_columns(col: str) -> str:
    """SELECT columns giving (count, RESP body) of the BLOB column ``col`` over the rows in
    scan order: each as "$<len>\r\n<bytes>\r\n", so no Python object exists per element
    (``length()`` of a BLOB counts bytes; elements are always bound as BLOBs)."""
    return (f"count(*), CAST(group_concat('$' || length({col}) || x'0d0a' || {col} "
            "|| x'0d0a', '') AS BLOB)")
BIG_VALUE = 64 * 1024  # strings longer than this are never kept in the row cache
UNCACHED = _UNCACHED = object()  # cache.get() default: None in the cache means "no such key"
KEEP = object()  # sentinel: keep the current TTL (SET KEEPTTL)


class ServerTouch(tuple):
    """A ``touched`` entry (db, key) that the server caused, not the command's client:
    equal to the plain tuple (WATCH and the blocking registry see no difference)."""

    __slots__ = ()


class KeyRow:
    """One row of ``keys``. Repositories read it; only Keyspace writes it."""

    __slots__ = ("id", "type", "value", "expire_at", "len", "head", "enc", "db", "key", "atime")

    def __init__(self, db: int, key: bytes, row: tuple) -> None:
        self.db = db
        self.key = key
        self.id, self.type, self.value, self.expire_at, self.len, self.head, self.enc = row
        self.atime = 0.0  # last access while cached (0: none); see Keyspace.idle_seconds


_ID_SLOT = KeyRow.id  # the slot descriptor, for LazyIdRow


class LazyIdRow(KeyRow):
    """A string row written by the one-statement UPSERT that overwrote an existing
    row, so SQLite reported no id: it is fetched on first use. Most string rows are
    never asked for theirs (GET, SET again by key), and RETURNING id would cost every
    SET about 3 us. ``pdb`` is the physical database, which SWAPDB does not change."""

    __slots__ = ("pdb", "cur")

    def __init__(self, db: int, key: bytes, pdb: int, cur, value: bytes,
                 expire_at: int | None, enc: int) -> None:
        self.db = db
        self.key = key
        self.type = 0
        self.value = value
        self.expire_at = expire_at
        self.len = 0
        self.head = 0
        self.enc = enc
        self.atime = 0.0
        self.pdb = pdb
        self.cur = cur

    @property  # type: ignore[override]
    def id(self) -> int:
        try:
            return _ID_SLOT.__get__(self)
        except AttributeError:
            rid = self.cur.execute("SELECT id FROM keys WHERE db = ? AND key = ?",
                                   (self.pdb, self.key)).fetchone()[0]
            _ID_SLOT.__set__(self, rid)
            return rid

    @id.setter
    def id(self, rid: int) -> None:
        _ID_SLOT.__set__(self, rid)


_time = time.time
_perf = time.perf_counter


def now_ms() -> int:
    return int(time.time() * 1000)


class Keyspace:
    """Key-level operations over the engine's writer connection."""

    def __init__(self, engine: Engine, cache_entries: int = 200_000) -> None:
        self.engine = engine
        self.cur = engine.cur
        self.cache: dict[tuple[int, bytes], KeyRow | None] = {}
        self.cache_entries = cache_entries
        self.touched: list[tuple[int, bytes]] = []
        self.events: list[tuple[str, str, int, bytes]] = []
        self.expired_count = 0
        self.lazyfreed = 0  # deleted collections fully reclaimed (INFO lazyfreed_objects)
        self.hits = 0
        self.notify_enabled = False  # set while notify-keyspace-events is not empty
        self.misses = 0
        self.expire_enabled = True  # DEBUG SET-ACTIVE-EXPIRE also stops lazy? no: active only
        self.lazy_expire = True  # False on a replica: it waits for the primary's DEL
        # True while a replica applies its primary's stream: an expired key is still there
        # for the primary's commands (expireIfNeeded returns 0 for the master client)
        self.master_view = False
        # the running command is a write (set by call()): Redis's LOOKUP_WRITE, which
        # deletes an expired key even where reads leave it (a writable replica)
        self.writing = False
        self.clock: int | None = None  # frozen time inside MULTI/Lua, as Redis does
        self.dbmap: list[int] = list(range(engine.databases))
        # Last access times (OBJECT IDLETIME): a cached row carries its own (``atime``,
        # no second dict probe per command); ``access`` holds those of keys not cached,
        # bounded: past ``access_entries`` the oldest-inserted entries are dropped, and
        # ``access_horizon`` remembers the latest time dropped (from either place), so
        # the idle time of a forgotten key is a lower bound. LFU counters: ``freq``.
        self.access: dict[tuple[int, bytes], float] = {}
        self.access_entries = cache_entries
        self.access_horizon = time.time()  # keys not in ``access`` are idle at least since
        self.lfu = False  # maxmemory-policy is an LFU one: keep counters in ``freq``
        # CLIENT NO-TOUCH: the running command's lookups leave access times alone (set by
        # dispatch.call() for a top-level command; reads without a batch never see it set:
        # a no-touch client's GET takes call())
        self.no_touch = False
        self.lfu_log_factor = 10
        self.lfu_decay_time = 1
        self.freq: dict[tuple[int, bytes], tuple[int, int]] = {}
        # Collections whose len/head/enc changed in this batch and are not yet written
        # (by row id): see the module docstring.
        self.pending_meta: dict[int, KeyRow] = {}
        self._load_dbmap()
        engine.on_external_change.append(self._external_change)
        engine.pre_commit = self.flush_meta

    def flush_meta(self) -> None:
        """Write the pending collection counters (one statement for all of them)."""
        pending = self.pending_meta
        if pending:
            self.cur.executemany(_SET_COUNTERS, [(r.len, r.head, r.enc, r.id)
                                                 for r in pending.values()])
            pending.clear()

    # -- plumbing ------------------------------------------------------------------------

    def _load_dbmap(self) -> None:
        row = self.cur.execute("SELECT value FROM meta WHERE name = 'dbmap'").fetchone()
        if row is not None:
            mapping = [int(x) for x in bytes(row[0]).decode().split(",")]
            if len(mapping) == len(self.dbmap):
                self.dbmap = mapping

    def _external_change(self) -> None:
        """Another process committed to the file: forget everything cached."""
        self.cache.clear()
        self._load_dbmap()

    def invalidate(self) -> None:
        self.pending_meta.clear()  # rolled back with the batch (or already written)
        self.cache.clear()
        self.access_horizon = time.time()  # the rows' access times went with them

    def now(self) -> int:
        return self.clock if self.clock is not None else int(time.time() * 1000)

    def set_cache_entries(self, n: int) -> None:
        """CONFIG SET row-cache-entries: the bound of the row cache and access map."""
        self.cache_entries = self.access_entries = n
        if len(self.cache) > n:
            self.cache.clear()
        if len(self.access) > n:
            self._evict_access()

    def _remember(self, db: int, key: bytes, row: KeyRow | None) -> None:
        if row is not None and row.type == STRING and len(row.value) > BIG_VALUE:
            # the cache is bounded by entries: a big string is read from the file (and
            # whatever the cache said about this key before is now wrong)
            self.cache.pop((db, key), None)
            return
        cache = self.cache
        if len(cache) >= self.cache_entries:
            if self.pending_meta:
                self.flush_meta()  # an evicted row would be read back from the file
            # Evict the oldest eighth in one pass. Popping one entry at a time from the
            # front of a dict is O(n) each (the iterator walks over the deleted slots).
            horizon = self.access_horizon
            for old in list(itertools.islice(cache, max(1, self.cache_entries // 8))):
                r = cache.pop(old)
                if r is not None and r.atime > horizon:
                    horizon = r.atime
            self.access_horizon = horizon
        cache[(db, key)] = row

    def touch(self, db: int, key: bytes) -> None:
        """Record a modification of ``key`` (for WATCH, tracking, blocked clients)."""
        self.touched.append((db, key))

    def notify(self, cls: str, event: str, db: int, key: bytes) -> None:
        """Record a keyspace event; ``execute()`` delivers it after the command."""
        if self.notify_enabled:
            self.events.append((cls, event, db, key))

    # -- lookup --------------------------------------------------------------------------

    def _load(self, db: int, key: bytes) -> KeyRow | None:
        """Read ``key``'s row from the file (None: no such key) and cache the answer."""
        r = self.cur.execute(
            "SELECT " + _ROW_COLS + " FROM keys WHERE db = ? AND key = ?",
            (self.dbmap[db], key),
        ).fetchone()
        row = KeyRow(db, key, r) if r is not None else None
        self._remember(db, key, row)
        return row

    def lookup(self, db: int, key: bytes) -> KeyRow | None:
        """The live row for ``key``, or None. An expired key is deleted here (lazy expiry).
        Records the access (LRU/LFU), as Redis's lookupKey does."""
        ck = (db, key)
        row = self.cache.get(ck, _UNCACHED)
        if row is _UNCACHED:
            row = self._load(db, key)
        if row is None:
            return None
        if row.expire_at is not None and row.expire_at <= self.now() and not self.master_view:
            if not self.lazy_expire and not self.writing:
                return None  # a replica's read: missing, but kept for the master's DEL
            self._expire_row(row)
            return None
        if not self.no_touch:
            row.atime = _time()
            if self.lfu:
                self._lfu_touch(ck)
        return row

    def read_string(self, db: int, key: bytes) -> object:
        """GET without a batch transaction, or ``UNCACHED`` when only the full road can
        answer (another type, expired, LFU bookkeeping due). A row not in the cache is
        read by one SELECT in autocommit mode, which is its own consistent snapshot:
        outside an open batch everything it and the cache see is committed, and inside
        one the reply is held until the COMMIT like any other."""
        if not self.fresh and not self.refresh():
            return _UNCACHED
        ck = (db, key)
        row = self.cache.get(ck, _UNCACHED)
        if row is _UNCACHED:
            row = self._load(db, key)
        if row is None:
            self.misses += 1
            return None
        if row.type != STRING or self.lfu:
            return _UNCACHED
        exp = row.expire_at
        if exp is not None and exp <= self.now():
            return _UNCACHED
        self.hits += 1
        row.atime = _time()
        return row.value

    def refresh(self) -> bool:
        """Make the row cache current for reads without a transaction, once per event-loop
        iteration: drop it if another process wrote. False where reads must take the
        full road (no loop to mark the next iteration: the embedded library)."""
        if self.schedule_stale is None:
            return False
        if not self.engine.in_tx:
            self.engine.check_external()
        self.fresh = True
        self.schedule_stale()
        return True

    # Reads served without a transaction (read_string) need the cache known current:
    # ``fresh`` is set by a data_version check and cleared by ``schedule_stale``, which
    # the server binds to the next loop iteration. Unbound (the embedded library, where
    # every call opens its own transaction) those reads take the full road.
    fresh = False
    schedule_stale: Callable[[], None] | None = None

    def stored(self, db: int, key: bytes) -> KeyRow | None:
        """The stored row, logically expired or not, without deleting it or recording an
        access (keyIsExpired-style checks: WATCH must tell an expired key from none)."""
        row = self.cache.get((db, key), _UNCACHED)
        if row is _UNCACHED:
            row = self._load(db, key)
        return row

    def peek(self, db: int, key: bytes) -> KeyRow | None:
        """lookup() without recording an access (LOOKUP_NOTOUCH: TYPE, TTL, OBJECT ...)."""
        row = self.stored(db, key)
        if row is not None and row.expire_at is not None and row.expire_at <= self.now() \
                and not self.master_view:
            if self.lazy_expire or self.writing:
                self._expire_row(row)
            return None
        return row

    # -- access tracking (OBJECT IDLETIME / FREQ) ------------------------------------------

    def _evict_access(self) -> None:
        """Drop the oldest eighth of the access map in one pass (see _remember for why)."""
        acc = self.access
        freq = self.freq
        horizon = self.access_horizon
        for ck in list(itertools.islice(acc, max(1, self.access_entries // 8))):
            t = acc.pop(ck)
            if t > horizon:
                horizon = t
            freq.pop(ck, None)
        self.access_horizon = horizon

    def record_access(self, db: int, key: bytes, when: float | None = None) -> None:
        """A key was created or used now (or at ``when``, RESTORE IDLETIME)."""
        t = _time() if when is None else when
        ck = (db, key)
        row = self.cache.get(ck)
        if row is not None:
            row.atime = t
            if when is not None:
                self.access.pop(ck, None)  # an older time must not lose to a stale entry
            return
        acc = self.access
        acc.pop(ck, None)
        acc[ck] = t
        if len(acc) > self.access_entries:
            self._evict_access()

    def idle_seconds(self, db: int, key: bytes) -> int:
        """estimateObjectIdleTime / 1000 for a live key."""
        ck = (db, key)
        t = self.access.get(ck)
        row = self.cache.get(ck)
        if row is not None and row.atime and (t is None or row.atime > t):
            t = row.atime
        if t is None:
            t = self.access_horizon
        return max(0, int(_time() - t))

    def _lfu_minutes(self) -> int:
        return (int(_time()) // 60) & 65535

    def _lfu_decr(self, counter: int, ldt: int) -> int:
        """LFUDecrAndReturn: the counter decayed by the minutes since its last decrement."""
        now = self._lfu_minutes()
        elapsed = now - ldt if now >= ldt else 65535 - ldt + now
        periods = elapsed // self.lfu_decay_time if self.lfu_decay_time else 0
        if periods:
            return 0 if periods > counter else counter - periods
        return counter

    def _lfu_touch(self, ck: tuple[int, bytes]) -> None:
        """updateLFU: decay, then a logarithmic increment (LFULogIncr)."""
        cur = self.freq.get(ck)
        counter = 5 if cur is None else self._lfu_decr(*cur)
        if counter < 255:
            base = counter - 5 if counter > 5 else 0
            if random.random() < 1.0 / (base * self.lfu_log_factor + 1):
                counter += 1
        self.freq[ck] = (counter, self._lfu_minutes())

    def frequency(self, db: int, key: bytes) -> int:
        """LFUDecrAndReturn for a live key (5, LFU_INIT_VAL, when never counted)."""
        cur = self.freq.get((db, key))
        if cur is None:
            return 5
        return self._lfu_decr(*cur)

    def set_frequency(self, db: int, key: bytes, counter: int) -> None:
        """RESTORE FREQ."""
        self.freq[(db, key)] = (max(0, min(255, counter)), self._lfu_minutes())

    def lookup_read(self, db: int, key: bytes) -> KeyRow | None:
        """lookup() for read commands: counts keyspace hits and misses for INFO."""
        row = self.lookup(db, key)
        if row is None:
            self.misses += 1
        else:
            self.hits += 1
        return row

    def lookup_type(self, db: int, key: bytes, type_: int) -> KeyRow | None:
        """Like lookup, raising WRONGTYPE when the key holds another type."""
        row = self.lookup(db, key)
        if row is not None and row.type != type_:
            raise RedisError(WRONGTYPE)
        return row

    def exists(self, db: int, key: bytes) -> bool:
        return self.lookup(db, key) is not None

    def _expire_row(self, row: KeyRow) -> None:
        start = _perf()
        self._delete(row)
        # Redis signals a lazy expiry as a change by no client (signalModifiedKey(NULL,
        # ...)): a BCAST+NOLOOP tracker is told even when its own command found the key
        # expired, where a write of its own would not be sent to it.
        self.touched[-1] = ServerTouch(self.touched[-1])
        if self.on_latency is not None:
            self.on_latency("expire-del", int((_perf() - start) * 1000))
        self.expired_count += 1
        self.notify("x", "expired", row.db, row.key)
        if self.on_expired is not None:
            self.on_expired(row.db, row.key)

    on_expired = None  # set by the server: propagate DEL of a lazily expired key
    on_latency = None  # set by the server: LATENCY events (event, ms)

    # -- writes --------------------------------------------------------------------------

    def set_string(
        self, db: int, key: bytes, value: bytes, expire_at: int | None | object = None,
        row: KeyRow | None | object = KEEP, enc: int = 0,
    ) -> None:
        """Create or overwrite ``key`` as a string. ``row``: the caller's lookup, if any.
        ``enc`` for strings: 0 the encoding Redis derives from the value (int/embstr/raw),
        1 forced raw (APPEND, SETRANGE, SETBIT... modify in place), 2 no int (embstr/raw)."""
        if row is KEEP:
            dk = (db, key)
            cache = self.cache
            if expire_at is not KEEP and not self.notify_enabled and dk not in cache:
                # One statement instead of SELECT + INSERT/UPDATE: insert, or overwrite a
                # live string in place; anything else (a collection, an expired key)
                # returns no row and takes the general path below.
                conn = self.engine.conn
                conn.set_last_insert_rowid(0)
                pdb = self.dbmap[db]
                now = _time()
                clock = self.clock
                self.cur.execute(_UPSERT_STRING, (pdb, key, value, expire_at, enc,
                                                  int(now * 1000) if clock is None else clock))
                if conn.changes():
                    rid = conn.last_insert_rowid()
                    new = KeyRow(db, key, (rid, STRING, value, expire_at, 0, 0, enc)) if rid \
                        else LazyIdRow(db, key, pdb, self.cur, value, expire_at, enc)
                    if len(value) > BIG_VALUE:
                        self._remember(db, key, new)  # not kept: drops any stale entry
                        self.record_access(db, key)  # so the access map has the time
                    else:
                        new.atime = now  # record_access without looking it up again
                        if len(cache) < self.cache_entries:
                            cache[dk] = new  # _remember's common case
                        else:
                            self._remember(db, key, new)
                    self.touched.append(dk)
                    return
            row = self.lookup(db, key)
        if expire_at is KEEP:
            expire_at = row.expire_at if row is not None else None  # type: ignore[union-attr]
        if row is not None and row.type == STRING:  # type: ignore[union-attr]
            if enc != row.enc:  # type: ignore[union-attr]
                self.cur.execute(
                    "UPDATE keys SET value = ?, expire_at = ?, enc = ? WHERE id = ?",
                    (value, expire_at, enc, row.id),  # type: ignore[union-attr]
                )
                row.enc = enc  # type: ignore[union-attr]
            elif expire_at == row.expire_at:  # type: ignore[union-attr]
                # value only: no expiry index entry or counter trigger to consider
                self.cur.execute(_UPDATE_VALUE, (value, row.id))  # type: ignore[union-attr]
            else:
                self.cur.execute(
                    "UPDATE keys SET value = ?, expire_at = ? WHERE id = ?",
                    (value, expire_at, row.id),  # type: ignore[union-attr]
                )
            row.value = value  # type: ignore[union-attr]
            row.expire_at = expire_at  # type: ignore[union-attr]
            if len(value) > BIG_VALUE:
                self.cache.pop((db, key), None)  # see _remember
        else:
            if row is not None:
                self._delete(row)  # type: ignore[arg-type]
            elif self.notify_enabled:
                self.notify("n", "new", db, key)  # dbAdd; an overwrite is not new
            self.cur.execute(
                "INSERT INTO keys (db, key, type, value, expire_at, enc) VALUES (?, ?, 0, ?, ?, ?)",
                (self.dbmap[db], key, value, expire_at, enc),
            )
            rid = self.engine.conn.last_insert_rowid()
            self._remember(db, key, KeyRow(db, key, (rid, STRING, value, expire_at, 0, 0, enc)))
            self.record_access(db, key)
        self.touched.append((db, key))

    def add_string(self, db: int, key: bytes, value: bytes) -> bool:
        """Create ``key`` as the string ``value`` in one INSERT if no row of any kind
        exists for it (INCR of a counter the row cache does not know: one statement
        instead of a SELECT and an INSERT). False, and nothing written, when a row exists
        (a live key, an expired one, another type): the caller takes its general path.
        Not for a known key, nor with keyspace events on (their "new" event)."""
        conn = self.engine.conn
        self.cur.execute(_INSERT_IF_ABSENT, (self.dbmap[db], key, value))
        if not conn.changes():
            return False
        row = KeyRow(db, key, (conn.last_insert_rowid(), STRING, value, None, 0, 0, 0))
        row.atime = _time()
        self._remember(db, key, row)
        self.touched.append((db, key))
        return True

    def create(self, db: int, key: bytes, type_: int, value: bytes | None = None,
               expire_at: int | None = None) -> KeyRow:
        """Insert a new, empty key of ``type_`` (deleting any current one first)."""
        old = self.lookup(db, key)
        if old is not None:
            self._delete(old)
        elif self.notify_enabled:
            self.notify("n", "new", db, key)  # dbAdd; an overwrite is not new
        rid = self.new_id() if type_ != STRING else None
        self.cur.execute(
            "INSERT INTO keys (id, db, key, type, value, expire_at) VALUES (?, ?, ?, ?, ?, ?)",
            (rid, self.dbmap[db], key, type_, value, expire_at),
        )
        if rid is None:
            rid = self.engine.conn.last_insert_rowid()
        row = KeyRow(db, key, (rid, type_, value, expire_at, 0, 0, 0))
        self._remember(db, key, row)
        self.record_access(db, key)
        self.touched.append((db, key))
        return row

    def new_id(self) -> int:
        """An id for a new collection that no element rows can already carry (see the
        schema: ids of deleted collections still being reclaimed are not reused)."""
        return self.cur.execute(_NEXT_ID).fetchone()[0]

    def set_len(self, row: KeyRow, length: int) -> None:
        """A collection's element count changed; an empty collection is deleted."""
        if length <= 0:
            row.len = 0
            self._delete(row)
            return
        row.len = length
        self.pending_meta[row.id] = row  # written once per batch: flush_meta
        self.touched.append((row.db, row.key))

    def set_meta(self, row: KeyRow, *, length: int | None = None, head: int | None = None,
                 enc: int | None = None, value: bytes | None | object = KEEP) -> None:
        """Update several bookkeeping columns of a collection in one statement."""
        if length is not None:
            row.len = length
        if head is not None:
            row.head = head
        if enc is not None:
            row.enc = enc
        if value is not KEEP:
            row.value = value
        if row.len <= 0 and row.type != STREAM:
            self._delete(row)
            return
        if value is KEEP:
            self.pending_meta[row.id] = row  # written once per batch: flush_meta
        else:
            self.pending_meta.pop(row.id, None)
            self.cur.execute(
                "UPDATE keys SET len = ?, head = ?, enc = ?, value = ? WHERE id = ?",
                (row.len, row.head, row.enc, row.value, row.id),
            )
        self.touched.append((row.db, row.key))

    def delete(self, db: int, key: bytes) -> bool:
        row = self.lookup(db, key)
        if row is None:
            return False
        self._delete(row)
        return True

    def delete_row(self, row: KeyRow) -> None:
        self._delete(row)

    def _delete(self, row: KeyRow) -> None:
        if self.pending_meta and self.pending_meta.pop(row.id, None) is not None:
            # the delete trigger decides by ``len`` whether the elements go at once
            self.cur.execute(_SET_COUNTERS, (row.len, row.head, row.enc, row.id))
        self.cur.execute("DELETE FROM keys WHERE id = ?", (row.id,))
        self._remember(row.db, row.key, None)
        self.touched.append((row.db, row.key))

    def set_expire(self, row: KeyRow, expire_at: int | None) -> None:
        self.cur.execute("UPDATE keys SET expire_at = ? WHERE id = ?", (expire_at, row.id))
        row.expire_at = expire_at
        self.touched.append((row.db, row.key))

    def rename(self, row: KeyRow, db: int, newkey: bytes) -> KeyRow:
        """Move ``row`` to ``newkey`` in ``db`` (any existing target is deleted first)."""
        target = self.lookup(db, newkey)
        if target is not None and target.id != row.id:
            self._delete(target)
        if self.notify_enabled:
            self.notify("n", "new", db, newkey)  # RENAME/MOVE: dbAdd of the new name
        self.cur.execute(
            "UPDATE keys SET db = ?, key = ? WHERE id = ?", (self.dbmap[db], newkey, row.id)
        )
        self._remember(row.db, row.key, None)
        self.touched.append((row.db, row.key))
        new = KeyRow(db, newkey, (row.id, row.type, row.value, row.expire_at, row.len, row.head, row.enc))
        self._remember(db, newkey, new)
        self.record_access(db, newkey)
        self.touched.append((db, newkey))
        return new

    def copy(self, row: KeyRow, db: int, newkey: bytes) -> KeyRow:
        """COPY: a new key ``newkey`` in ``db`` with ``row``'s value, TTL and elements.
        Any existing target must already be deleted. Element rows are copied by SQL."""
        if self.notify_enabled:
            self.notify("n", "new", db, newkey)
        rid = self.new_id()
        self.cur.execute(
            "INSERT INTO keys (id, db, key, type, value, expire_at, len, head, enc) "
            "SELECT ?, ?, ?, type, value, expire_at, len, head, enc FROM keys WHERE id = ?",
            (rid, self.dbmap[db], newkey, row.id),
        )
        for table in ELEMENT_TABLES.get(row.type, ()):
            cols = self._element_columns(table)
            self.cur.execute(
                f"INSERT INTO {table} (key_id, {cols}) SELECT ?, {cols} FROM {table} WHERE key_id = ?",
                (rid, row.id),
            )
        new = KeyRow(db, newkey, (rid, row.type, row.value, row.expire_at, row.len, row.head, row.enc))
        self._remember(db, newkey, new)
        self.record_access(db, newkey)
        self.touched.append((db, newkey))
        return new

    _columns: dict[str, str] = {}

    def _element_columns(self, table: str) -> str:
        cols = self._columns.get(table)
        if cols is None:
            names = [r[1] for r in self.cur.execute(f"PRAGMA table_info({table})").fetchall()]
            cols = ", ".join(n for n in names if n != "key_id")
            self._columns[table] = cols
        return cols

    # -- whole databases -----------------------------------------------------------------

    def dbsize(self, db: int) -> int:
        r = self.cur.execute("SELECT keys FROM dbstats WHERE db = ?", (self.dbmap[db],)).fetchone()
        return r[0] if r else 0

    def db_stats(self, db: int) -> tuple[int, int]:
        r = self.cur.execute(
            "SELECT keys, expires FROM dbstats WHERE db = ?", (self.dbmap[db],)
        ).fetchone()
        return (r[0], r[1]) if r else (0, 0)

    def flushdb(self, db: int) -> None:
        self.cur.execute(
            "INSERT INTO garbage (key_id, type) SELECT id, type FROM keys WHERE db = ? AND type != 0",
            (self.dbmap[db],),
        )
        self.cur.execute("UPDATE keys SET len = 0 WHERE db = ? AND type != 0", (self.dbmap[db],))
        self.cur.execute("DELETE FROM keys WHERE db = ?", (self.dbmap[db],))
        self.cache.clear()

    def swapdb(self, a: int, b: int) -> None:
        m = self.dbmap
        m[a], m[b] = m[b], m[a]
        self.cur.execute(
            "INSERT INTO meta (name, value) VALUES ('dbmap', ?) "
            "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (",".join(map(str, m)).encode(),),
        )
        self.cache.clear()

    def iter_keys(self, db: int, pattern: bytes | None = None) -> Iterator[bytes]:
        """Every live key of ``db`` (KEYS); patterns with a literal prefix use the index."""
        now = self.now()
        phys = self.dbmap[db]
        prefix = glob_prefix(pattern) if pattern else b""
        matcher = compile_glob(pattern) if pattern is not None and pattern != b"*" else None
        end = prefix_end(prefix) if prefix else None
        if end is not None:
            sql = ("SELECT key FROM keys WHERE db = ? AND key >= ? AND key < ? "
                   "AND (expire_at IS NULL OR expire_at > ?)")
            rows = self.engine.conn.execute(sql, (phys, prefix, end, now))
        else:
            rows = self.engine.conn.execute(
                "SELECT key FROM keys WHERE db = ? AND (expire_at IS NULL OR expire_at > ?)",
                (phys, now),
            )
        for (k,) in rows:
            if matcher is None or matcher(k):
                yield k

    def scan(self, db: int, cursor: int, count: int, pattern: bytes | None,
             type_: int | None) -> tuple[int, list[bytes]]:
        """SCAN by key id: a cursor is the last id returned, stable across inserts/deletes."""
        now = self.now()
        matcher = compile_glob(pattern) if pattern is not None and pattern != b"*" else None
        # By id from the cursor: when this database holds a good share of the file, walk
        # the table itself (``+db`` keeps SQLite off the (db, key) index, which would
        # sort every key of the database on each call: O(n) per SCAN step); when it is a
        # small minority, the index finds its keys and the sort is small.
        here = self.dbsize(db)
        total = self.cur.execute("SELECT total(keys) FROM dbstats").fetchone()[0]
        rows = self.engine.conn.execute(
            _SCAN_BY_ID if here * 4 >= total else _SCAN_BY_DB,
            (self.dbmap[db], cursor, count),
        ).fetchall()
        out = []
        for _rid, k, t, exp in rows:
            if matcher is not None and not matcher(k):
                continue
            if exp is not None and exp <= now:
                # scanGenericCommand: an expired key that matches is deleted (and the DEL
                # propagated), whatever TYPE asked for
                if self.lazy_expire:
                    self.peek(db, k)
                continue
            if type_ is not None and t != type_:
                continue
            out.append(k)
        next_cursor = rows[-1][0] if len(rows) == count else 0
        return next_cursor, out

    def random_key(self, db: int) -> bytes | None:
        """dbRandomKey: a random live key (expired ones met on the way are deleted)."""
        phys = self.dbmap[db]
        now = self.now()
        for _ in range(100):
            n = self.dbsize(db)
            if n <= 0:
                return None
            if n <= 10_000:
                # small databases: exactly uniform, O(n) at worst over the name index
                r = self.cur.execute(
                    "SELECT key, expire_at FROM keys WHERE db = ? LIMIT 1 OFFSET +?",
                    (phys, random.randrange(n)),
                ).fetchone()
            else:
                # big ones: probe a random id (ids are dense unless many keys were deleted)
                top = self.cur.execute("SELECT max(id) FROM keys").fetchone()[0] or 0
                r = self.cur.execute(
                    # +db: walk ids (the (db, key) index would sort the whole database)
                    "SELECT key, expire_at FROM keys WHERE id >= ? AND +db = ? ORDER BY id LIMIT 1",
                    (random.randint(0, top), phys),
                ).fetchone()
            if r is None:
                r = self.cur.execute(
                    "SELECT key, expire_at FROM keys WHERE db = ? LIMIT 1", (phys,)
                ).fetchone()
                if r is None:
                    return None
            if r[1] is None or r[1] > now:
                return r[0]
            if not self.lazy_expire:
                return r[0]  # a replica answers with a logically expired key, as Redis does
            self.peek(db, r[0])  # expires it
        return None

    # -- active expiry -------------------------------------------------------------------

    def expire_cycle(self, limit: int = 20) -> int:
        """Delete up to ``limit`` due keys through the expiry index. Returns how many."""
        if not self.lazy_expire:
            return 0  # a replica waits for the primary's DEL
        now = self.now()
        rows = self.cur.execute(
            "SELECT db, key FROM keys WHERE expire_at <= ? ORDER BY expire_at LIMIT +?",
            (now, limit),
        ).fetchall()
        if not rows:
            return 0
        inv = {p: i for i, p in enumerate(self.dbmap)}
        n = 0
        for phys, key in rows:
            db = inv.get(phys)
            if db is None:
                continue
            if self.peek(db, key) is None:
                n += 1
        return n

    def reclaim_garbage(self, budget: int = 2000) -> int:
        """Delete up to ``budget`` element rows of deleted big collections."""
        row = self.cur.execute("SELECT key_id, type FROM garbage LIMIT 1").fetchone()
        if row is None:
            return 0
        key_id, type_ = row
        tables = {
            LIST: [("list_items", "pos")],
            SET: [("set_members", "h")],
            ZSET: [("zset_members", "member")],
            HASH: [("hash_fields", "h")],
            STREAM: [("stream_entries", "ms"), ("stream_nodes", "ms"), ("stream_pel", "ms"),
                     ("stream_consumers", "name"), ("stream_groups", "name")],
        }[type_]
        n = 0
        for table, col in tables:
            self.cur.execute(
                f"DELETE FROM {table} WHERE key_id = ? AND {col} IN "
                f"(SELECT {col} FROM {table} WHERE key_id = ? LIMIT ?)",
                (key_id, key_id, budget - n),
            )
            n += self.engine.conn.changes()
            if n >= budget:
                break
        if n < budget:
            self.cur.execute("DELETE FROM garbage WHERE key_id = ?", (key_id,))
            self.lazyfreed += 1
        return n

    def has_garbage(self) -> bool:
        return self.cur.execute("SELECT 1 FROM garbage LIMIT 1").fetchone() is not None

    def garbage_pending(self) -> int:
        """Deleted collections whose elements are still being reclaimed."""
        return self.cur.execute("SELECT count(*) FROM garbage").fetchone()[0]


# -- glob patterns (Redis's stringmatchlen semantics) ----------------------------------


@functools.lru_cache(maxsize=256)
def compile_glob(pattern: bytes):
    """A matcher with exactly the semantics of Redis's stringmatchlen (util.c).

    Quirks kept on purpose: ranges compare *signed* chars (so bytes >= 0x80 sort
    before 0x00), ``[a-]`` is the range a..']', an unterminated ``[`` class ends the
    pattern, a trailing ``\\`` is literal, and the empty string only matches the
    empty pattern (``*`` needs at least one byte there)."""
    n = len(pattern)
    out: list[bytes] = []
    i = 0
    while i < n:
        c = pattern[i]
        if c == 0x2A:  # *
            while i + 1 < n and pattern[i + 1] == 0x2A:
                i += 1
            out.append(b".*")
        elif c == 0x3F:  # ?
            out.append(b".")
        elif c == 0x5B:  # [
            i += 1
            neg = i < n and pattern[i] == 0x5E
            if neg:
                i += 1
            members = bytearray(256)
            while True:
                if i < n and pattern[i] == 0x5C and n - i >= 2:
                    i += 1
                    members[pattern[i]] = 1
                elif i < n and pattern[i] == 0x5D:
                    break
                elif i >= n:
                    break
                elif n - i >= 3 and pattern[i + 1] == 0x2D:
                    lo, hi = _signed(pattern[i]), _signed(pattern[i + 2])
                    if lo > hi:
                        lo, hi = hi, lo
                    for b in range(256):
                        if lo <= _signed(b) <= hi:
                            members[b] = 1
                    i += 2
                else:
                    members[pattern[i]] = 1
                i += 1
            chosen = [b for b in range(256) if members[b] != neg]
            if not chosen:
                out.append(b"(?!)")
            else:
                out.append(b"[" + b"".join(re.escape(bytes([b])) for b in chosen) + b"]")
        elif c == 0x5C and i + 1 < n:  # backslash escapes the next byte
            i += 1
            out.append(re.escape(pattern[i : i + 1]))
        else:
            out.append(re.escape(pattern[i : i + 1]))
        i += 1
    if not pattern:
        return lambda s: not s
    if b".*" not in out:
        full = re.compile(b"".join(out), re.DOTALL).fullmatch
        return lambda s: bool(s) and full(s) is not None
    # With stars, a single regex can backtrack exponentially ("a*a*a*...b" against a
    # long run of a's). Between stars every atom is one byte, so the star-free segments
    # are matched leftmost-first in order, which is exact for globs and O(n*m).
    segments: list[list[bytes]] = [[]]
    for atom in out:
        if atom == b".*":
            segments.append([])
        else:
            segments[-1].append(atom)
    head = re.compile(b"".join(segments[0]), re.DOTALL).match
    tail_len = len(segments[-1])
    tail = re.compile(b"".join(segments[-1]), re.DOTALL).fullmatch
    middle = [re.compile(b"".join(seg), re.DOTALL).search for seg in segments[1:-1] if seg]
    head_len = len(segments[0])

    def match(s: bytes) -> bool:
        n = len(s)
        if not s or head_len + tail_len > n or head(s) is None:
            return False
        end = n - tail_len
        if tail_len and tail(s, end) is None:
            return False
        pos = head_len
        for search in middle:
            m = search(s, pos, end)
            if m is None:
                return False
            pos = m.end()
        return True

    return match


def _signed(b: int) -> int:
    return b - 256 if b >= 128 else b


def glob_match(pattern: bytes, s: bytes) -> bool:
    return compile_glob(pattern)(s)


def glob_prefix(pattern: bytes) -> bytes:
    """The literal prefix of a glob pattern (lets KEYS/SCAN use the key index)."""
    out = bytearray()
    for c in pattern:
        if c in b"*?[\\":
            break
        out.append(c)
    return bytes(out)


def prefix_end(prefix: bytes) -> bytes | None:
    """The smallest byte string greater than every string starting with ``prefix``."""
    p = bytearray(prefix)
    while p and p[-1] == 0xFF:
        p.pop()
    if not p:
        return None
    p[-1] += 1
    return bytes(p)
