"""Hash fields: every SQL statement for the hash type.

Rows live in ``hash_fields(key_id, h, field, value, seq)`` with primary key
``(key_id, h, field)``; ``h`` is ``sets.mhash(field)`` (why: see storage/sets.py:
a stable HSCAN cursor and O(log n) random fields). ``seq`` is the insertion
order, taken from ``KeyRow.head`` (the next sequence number): a listpack-encoded
hash (``KeyRow.enc`` 0) iterates in insertion order in Redis, and clients see
that order, so aki reproduces it; a hashtable (``enc`` 1) iterates in h order.
"""

from __future__ import annotations

import random
from collections.abc import Iterable

from aki.storage.sets import HASH_SPACE, SMALL, SMALL_PICK, mhash

_GET = "SELECT value FROM hash_fields WHERE key_id = ? AND h = ? AND field = ?"
_INSERT_OR_IGNORE = ("INSERT OR IGNORE INTO hash_fields (key_id, h, field, value, seq) "
                     "VALUES (?, ?, ?, ?, ?)")
_UPDATE_IF_CHANGED = ("UPDATE hash_fields SET value = ?4 WHERE key_id = ?1 AND h = ?2 AND field = ?3 "
                      "AND value != ?4")


def get(cur, kid: int, field: bytes) -> bytes | None:
    r = cur.execute(_GET, (kid, mhash(field), field)).fetchone()
    return r[0] if r is not None else None


def strlen(cur, kid: int, field: bytes) -> int:
    r = cur.execute("SELECT length(value) FROM hash_fields WHERE key_id = ? AND h = ? AND field = ?",
                    (kid, mhash(field), field)).fetchone()
    return r[0] if r is not None else 0


def put(cur, kid: int, field: bytes, value: bytes, seq: int) -> bool:
    """Insert or update one field; True when it is new (it then took ``seq``;
    an updated field keeps its place, as in a listpack). Two plain statements cost
    less than one upsert with RETURNING, and an unchanged value is not rewritten."""
    h = mhash(field)
    cur.execute(_INSERT_OR_IGNORE, (kid, h, field, value, seq))
    if cur.connection.changes():
        return True
    cur.execute(_UPDATE_IF_CHANGED, (kid, h, field, value))
    return False


def put_many(cur, kid: int, pairs: list[tuple[bytes, bytes]], seq: int) -> int:
    """Set several fields; returns how many were new. New fields take seq, seq+1, ..."""
    created = 0
    for f, v in pairs:
        if put(cur, kid, f, v, seq + created):
            created += 1
    return created


def insert_new(cur, kid: int, field: bytes, value: bytes, seq: int) -> None:
    cur.execute("INSERT INTO hash_fields (key_id, h, field, value, seq) VALUES (?, ?, ?, ?, ?)",
                (kid, mhash(field), field, value, seq))


def delete(cur, conn, kid: int, fields: list[bytes]) -> int:
    """Delete fields; returns how many existed."""
    if len(fields) == 1:
        f = fields[0]
        cur.execute("DELETE FROM hash_fields WHERE key_id = ? AND h = ? AND field = ?",
                    (kid, mhash(f), f))
        return conn.changes()
    before = conn.total_changes()
    cur.executemany("DELETE FROM hash_fields WHERE key_id = ? AND h = ? AND field = ?",
                    [(kid, mhash(f), f) for f in fields])
    return conn.total_changes() - before


def items(cur, kid: int, enc: int, what: str = "field, value") -> list[tuple]:
    """Every row (``what`` columns) in Redis's iteration order for the encoding."""
    order = " ORDER BY seq" if enc == 0 else ""
    return cur.execute(f"SELECT {what} FROM hash_fields WHERE key_id = +?{order}", (kid,)).fetchall()


# -- random fields ---------------------------------------------------------------------

_COLS = "h, field, value, seq"


def random_row(cur, kid: int, size: int) -> tuple:
    """One random (h, field, value, seq): uniform for small hashes, by hash probe for big."""
    if size <= SMALL_PICK:
        return cur.execute(f"SELECT {_COLS} FROM hash_fields WHERE key_id = ? LIMIT 1 OFFSET +?",
                           (kid, random.randrange(size))).fetchone()
    r = cur.execute(f"SELECT {_COLS} FROM hash_fields WHERE key_id = +? AND h >= ? "
                    "ORDER BY h LIMIT 1", (kid, random.getrandbits(62))).fetchone()
    if r is None:
        r = cur.execute(f"SELECT {_COLS} FROM hash_fields WHERE key_id = +? ORDER BY h LIMIT 1",
                        (kid,)).fetchone()
    return r


def random_with_repeats(cur, kid: int, size: int, count: int) -> list[tuple]:
    if size <= SMALL:
        pool = cur.execute(f"SELECT {_COLS} FROM hash_fields WHERE key_id = ?", (kid,)).fetchall()
        return random.choices(pool, k=count)
    return [random_row(cur, kid, size) for _ in range(count)]


def random_distinct(cur, kid: int, size: int, count: int) -> list[tuple]:
    """``count`` < ``size`` distinct random rows."""
    if size <= SMALL or count * 3 > size:
        pool = cur.execute(f"SELECT {_COLS} FROM hash_fields WHERE key_id = ?", (kid,)).fetchall()
        return random.sample(pool, count)
    picked: dict[tuple[int, bytes], tuple] = {}
    while len(picked) < count:
        r = random_row(cur, kid, size)
        picked[(r[0], r[1])] = r
    return list(picked.values())


# -- HSCAN -------------------------------------------------------------------------------


def scan(cur, kid: int, cursor: int, count: int) -> tuple[int, list[tuple[bytes, bytes]]]:
    """One HSCAN page of a hashtable-encoded hash, in h order (see sets.scan)."""
    if cursor >= HASH_SPACE:
        return 0, []
    got = cur.execute("SELECT h, field, value FROM hash_fields WHERE key_id = +? AND h >= ? "
                      "ORDER BY h LIMIT +?", (kid, cursor, count)).fetchall()
    if len(got) < count:
        return 0, [(f, v) for _, f, v in got]
    last = got[-1][0]
    out = [(f, v) for h, f, v in got if h != last]
    out.extend(cur.execute("SELECT field, value FROM hash_fields WHERE key_id = ? AND h = ?",
                           (kid, last)).fetchall())
    return last + 1, out


def fill(ks, row, pairs: Iterable[tuple[bytes, bytes]], config) -> int:
    """Bulk-load (field, value) pairs into a freshly created hash key (RESTORE, RDB load ...),
    keeping their order as the listpack order; sets len/head/enc as HSET would."""
    cur = ks.cur
    maxv = config.hash_max_listpack_value
    enc = row.enc
    seq = row.head
    created = 0
    for f, v in pairs:
        if put(cur, row.id, f, v, seq + created):
            created += 1
        if enc == 0 and (len(f) > maxv or len(v) > maxv):
            enc = 1
    total = row.len + created
    if total > config.hash_max_listpack_entries:
        enc = 1
    ks.set_meta(row, length=total, head=seq + created, enc=enc)
    return total
