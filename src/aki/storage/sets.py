"""Set members: every SQL statement for the set type.

Rows live in ``set_members(key_id, h, member)`` with primary key
``(key_id, h, member)``; ``h`` is ``mhash(member)``, a 62-bit hash. Why a hash in
the key: SSCAN needs an integer cursor that stays valid while the set changes
(the cursor is "the next h"), and SPOP/SRANDMEMBER on a big set need a random
member in O(log n) (the first row at or after a random h). Membership tests stay
one indexed lookup (key_id, h, member).

``KeyRow.enc`` is 0 while Redis would use an intset (every member an integer by
string2ll's rule and at most set-max-intset-entries members), 1 once converted;
conversion is one-way, as in Redis 7.0. An intset's order (ascending integers) is
reproduced; a hashtable's order is h order, as arbitrary as Redis's.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from zlib import adler32, crc32

from aki.commands.common import to_int

# Collections up to this size are sampled exactly (uniformly) by fetching them;
# bigger ones by probing random hashes.
SMALL = 1024
# A single uniform pick walks up to this many rows (LIMIT 1 OFFSET r); beyond it a
# random hash probe is O(log n) and close to uniform.
SMALL_PICK = 256
HASH_SPACE = 1 << 62


def mhash(m: bytes) -> int:
    """A stable 62-bit hash (the same in every process: it is stored in the file)."""
    return (crc32(m) << 30) ^ adler32(m)


def all_ints(members: Iterable[bytes]) -> bool:
    """Could an intset hold these? (string2ll: canonical 64-bit integers only)."""
    for m in members:
        if to_int(m) is None:
            return False
    return True


def intset_max(config) -> int:
    n = config.set_max_intset_entries
    return n if n < (1 << 30) else (1 << 30)


def redis_order(members: list[bytes], enc: int) -> list[bytes]:
    """An intset iterates in ascending integer order; a hashtable in any order."""
    if enc == 0:
        members.sort(key=int)
    return members


def result_order(members: list[bytes], config) -> list[bytes]:
    """Order of a set Redis builds on the fly (SUNION/SDIFF/SPOP-all): it starts as an
    intset and stays one while every member is an integer and it is small enough."""
    if len(members) <= intset_max(config) and all_ints(members):
        members.sort(key=int)
    return members


# -- single members ------------------------------------------------------------------


def is_member(cur, kid: int, m: bytes) -> bool:
    return cur.execute(
        "SELECT 1 FROM set_members WHERE key_id = ? AND h = ? AND member = ?", (kid, mhash(m), m)
    ).fetchone() is not None


# also the C lane's SADD (aki/_lane.c, serve_cwrite)
INSERT_OR_IGNORE = "INSERT OR IGNORE INTO set_members (key_id, h, member) VALUES (?, ?, ?)"


def add(cur, conn, kid: int, members: list[bytes]) -> int:
    """Insert members (duplicates ignored); returns how many were new."""
    if len(members) == 1:
        m = members[0]
        cur.execute(INSERT_OR_IGNORE, (kid, mhash(m), m))
        return conn.changes()
    before = conn.total_changes()
    cur.executemany(INSERT_OR_IGNORE, [(kid, mhash(m), m) for m in members])
    return conn.total_changes() - before


def remove(cur, conn, kid: int, members: list[bytes]) -> int:
    """Delete members; returns how many existed."""
    if len(members) == 1:
        m = members[0]
        cur.execute("DELETE FROM set_members WHERE key_id = ? AND h = ? AND member = ?",
                    (kid, mhash(m), m))
        return conn.changes()
    before = conn.total_changes()
    cur.executemany("DELETE FROM set_members WHERE key_id = ? AND h = ? AND member = ?",
                    [(kid, mhash(m), m) for m in members])
    return conn.total_changes() - before


def remove_rows(cur, kid: int, rows: list[tuple[int, bytes]]) -> None:
    cur.executemany("DELETE FROM set_members WHERE key_id = ? AND h = ? AND member = ?",
                    [(kid, h, m) for h, m in rows])


# -- whole sets ----------------------------------------------------------------------


def members(cur, kid: int) -> list[bytes]:
    return [m for (m,) in cur.execute("SELECT member FROM set_members WHERE key_id = ?", (kid,))]


def rows(cur, kid: int) -> list[tuple[int, bytes]]:
    return cur.execute("SELECT h, member FROM set_members WHERE key_id = ?", (kid,)).fetchall()


def first_members(cur, kid: int, limit: int) -> list[bytes]:
    return [m for (m,) in cur.execute(
        "SELECT member FROM set_members WHERE key_id = ? LIMIT +?", (kid, limit))]


# -- random members ------------------------------------------------------------------


def random_row(cur, kid: int, size: int) -> tuple[int, bytes]:
    """One random member: uniform for small sets, by hash probe for big ones."""
    if size <= SMALL_PICK:
        return cur.execute("SELECT h, member FROM set_members WHERE key_id = ? LIMIT 1 OFFSET +?",
                           (kid, random.randrange(size))).fetchone()
    r = cur.execute("SELECT h, member FROM set_members WHERE key_id = +? AND h >= ? "
                    "ORDER BY h LIMIT 1", (kid, random.getrandbits(62))).fetchone()
    if r is None:
        r = cur.execute("SELECT h, member FROM set_members WHERE key_id = +? ORDER BY h LIMIT 1",
                        (kid,)).fetchone()
    return r


def random_with_repeats(cur, kid: int, size: int, count: int) -> list[bytes]:
    """``count`` independent random picks (SRANDMEMBER with a negative count)."""
    if size <= SMALL:
        pool = members(cur, kid)
        return random.choices(pool, k=count)
    return [random_row(cur, kid, size)[1] for _ in range(count)]


def random_distinct(cur, kid: int, size: int, count: int) -> list[tuple[int, bytes]]:
    """``count`` < ``size`` distinct random rows. Fetches the set only when it is small
    or the request is a large share of it (then the reply is as big anyway)."""
    if size <= SMALL or count * 3 > size:
        return random.sample(rows(cur, kid), count)
    picked: dict[tuple[int, bytes], None] = {}
    while len(picked) < count:
        picked[random_row(cur, kid, size)] = None
    return list(picked)


# -- SSCAN ---------------------------------------------------------------------------


def scan(cur, kid: int, cursor: int, count: int) -> tuple[int, list[bytes]]:
    """One SSCAN page in h order; the next cursor is the last h + 1 (rows sharing that
    h are returned together, so a page boundary never splits them)."""
    if cursor >= HASH_SPACE:
        return 0, []
    got = cur.execute("SELECT h, member FROM set_members WHERE key_id = +? AND h >= ? "
                      "ORDER BY h LIMIT +?", (kid, cursor, count)).fetchall()
    if len(got) < count:
        return 0, [m for _, m in got]
    last = got[-1][0]
    out = [m for h, m in got if h != last]
    out.extend(m for (m,) in cur.execute(
        "SELECT member FROM set_members WHERE key_id = ? AND h = ?", (kid, last)))
    return last + 1, out


# -- algebra (SINTER / SUNION / SDIFF): the work is done by SQLite ---------------------

_IN = " AND EXISTS (SELECT 1 FROM set_members b WHERE b.key_id = ? AND b.h = a.h AND b.member = a.member)"


def _inter_sql(first: int, others: list[int]) -> tuple[str, list[int]]:
    sql = "SELECT a.h, a.member FROM set_members a WHERE a.key_id = ?" + _IN * len(others)
    return sql, [first, *others]


def _union_sql(ids: list[int]) -> tuple[str, list[int]]:
    marks = ", ".join("?" * len(ids))
    return f"SELECT DISTINCT h, member FROM set_members WHERE key_id IN ({marks})", list(ids)


def _diff_sql(first: int, others: list[int]) -> tuple[str, list[int]]:
    if not others:
        return "SELECT h, member FROM set_members a WHERE a.key_id = ?", [first]
    marks = ", ".join("?" * len(others))
    return ("SELECT a.h, a.member FROM set_members a WHERE a.key_id = ? AND NOT EXISTS "
            f"(SELECT 1 FROM set_members b WHERE b.key_id IN ({marks}) "
            "AND b.h = a.h AND b.member = a.member)"), [first, *others]


def inter(cur, first: int, others: list[int]) -> list[bytes]:
    sql, params = _inter_sql(first, others)
    return [m for _, m in cur.execute(sql, params)]


def inter_card(cur, first: int, others: list[int], limit: int) -> int:
    sql, params = _inter_sql(first, others)
    return cur.execute(f"SELECT count(*) FROM ({sql} LIMIT +?)",
                       [*params, limit if limit > 0 else -1]).fetchone()[0]


def union(cur, ids: list[int]) -> list[bytes]:
    sql, params = _union_sql(ids)
    return [m for _, m in cur.execute(sql, params)]


def diff(cur, first: int, others: list[int]) -> list[bytes]:
    sql, params = _diff_sql(first, others)
    return [m for _, m in cur.execute(sql, params)]


def store_sql(op: str, ids: list[int]) -> tuple[str, list[int]]:
    """The SELECT of (h, member) rows of ``op`` over ``ids`` (inter: smallest first)."""
    if op == "inter":
        return _inter_sql(ids[0], ids[1:])
    if op == "union":
        return _union_sql(ids)
    return _diff_sql(ids[0], ids[1:])


def insert_select(cur, conn, kid: int, sql: str, params: list[int]) -> int:
    """Insert the rows a SELECT of (h, member) returns under ``kid``; returns how many."""
    cur.execute(f"INSERT OR IGNORE INTO set_members (key_id, h, member) SELECT ?, * FROM ({sql})",
                [kid, *params])
    return conn.changes()


def move_rows(cur, conn, from_kid: int, to_kid: int) -> int:
    cur.execute("UPDATE set_members SET key_id = ? WHERE key_id = ?", (to_kid, from_kid))
    return conn.changes()


def fill(ks, row, members: Iterable[bytes], config) -> int:
    """Bulk-load members into a freshly created set key (RESTORE, RDB load, SORT STORE ...),
    in batches so memory stays bounded; sets len and enc as SADD would. Returns the size."""
    cur, conn = ks.cur, ks.engine.conn
    cap = intset_max(config)
    enc = row.enc if row.len else 0
    total = row.len
    batch: list[bytes] = []
    for m in members:
        batch.append(m)
        if len(batch) >= 1000:
            total += add(cur, conn, row.id, batch)
            if enc == 0 and not all_ints(batch):
                enc = 1
            batch = []
    if batch:
        total += add(cur, conn, row.id, batch)
        if enc == 0 and not all_ints(batch):
            enc = 1
    if total > cap:
        enc = 1
    ks.set_meta(row, length=total, enc=enc)
    return total
