"""Sorted-set repository: every SQL statement over ``zset_members``.

Layout (storage/schema.sql): the primary key ``(key_id, member)`` answers
member -> score (ZSCORE, ZADD, ZREM in O(log n)); the index
``zset_by_score (key_id, score, member)`` gives Redis's order (score, then
member byte-wise: SQLite compares BLOBs with memcmp, so members are always
bound as ``bytes``). Range reads push LIMIT/OFFSET into SQL so they cost what
they return, plus the OFFSET skip (O(offset), done inside SQLite).

Multi-key operations (ZUNION/ZINTER/ZDIFF and their STORE forms, ZRANGESTORE)
aggregate into a per-connection temp table ``zwork`` with upserts, one input
after the other in Redis's order, so the double arithmetic (and its rounding)
is the same as Redis's: SQLite turns a NaN result into NULL, which
``coalesce(..., 0.0)`` maps to 0 exactly as Redis does.

SQLite 3.5x re-prepares a statement on every execution (~5 us) when a bound
parameter can steer its plan: ``key_id = ?`` next to an ORDER BY, or ``LIMIT ?``.
Those parameters are written ``+?`` (a unary plus: same value, same plan, no
re-prepare); see ``_K``.
"""

from __future__ import annotations

import weakref

import apsw

from aki.resp.types import BulkArray
from aki.storage.keyspace import wire_columns

# Score bounds: (value, exclusive). Lex bounds: None = unbounded, else (bytes, exclusive).
ScoreBound = tuple[float, bool]
LexBound = tuple[bytes, bool] | None

# "key_id = ?" for statements with an ORDER BY or a LIMIT (see the module docstring).
_K = "key_id = +?"
_LIMIT = " LIMIT +? OFFSET +?"
_ORDER = " ORDER BY score, member"
_ORDER_REV = " ORDER BY score DESC, member DESC"


def score(cur: apsw.Cursor, kid: int, member: bytes) -> float | None:
    r = cur.execute(
        "SELECT score FROM zset_members WHERE key_id = ? AND member = ?", (kid, member)
    ).fetchone()
    return None if r is None else r[0]


def scores_many(cur: apsw.Cursor, kid: int, members: list[bytes]) -> dict[bytes, float]:
    """Current scores of the present ``members``: one statement per 500 members."""
    out: dict[bytes, float] = {}
    for i in range(0, len(members), 500):
        chunk = members[i:i + 500]
        sql = ("SELECT member, score FROM zset_members WHERE key_id = ? AND member IN ("
               + ",".join("?" * len(chunk)) + ")")
        out.update(cur.execute(sql, (kid, *chunk)))
    return out


def write_many(cur: apsw.Cursor, kid: int, inserts: list[tuple], updates: list[tuple]) -> None:
    """``inserts``/``updates``: (member, score) rows known to be absent/present."""
    if inserts:
        cur.executemany("INSERT INTO zset_members (key_id, member, score) VALUES (?, ?, ?)",
                        [(kid, m, v) for m, v in inserts])
    if updates:
        cur.executemany("UPDATE zset_members SET score = ? WHERE key_id = ? AND member = ?",
                        [(v, kid, m) for m, v in updates])


def insert(cur: apsw.Cursor, kid: int, member: bytes, value: float) -> None:
    cur.execute("INSERT INTO zset_members (key_id, member, score) VALUES (?, ?, ?)",
                (kid, member, value))


_INSERT_OR_IGNORE = "INSERT OR IGNORE INTO zset_members (key_id, member, score) VALUES (?, ?, ?)"
_UPDATE_IF_CHANGED = ("UPDATE zset_members SET score = ?3 WHERE key_id = ?1 AND member = ?2 "
                      "AND score != ?3")


def insert_or_update(conn: apsw.Connection, cur: apsw.Cursor, kid: int, member: bytes,
                     value: float) -> bool | None:
    """Set ``member``'s score: True when it was added, False when its score changed,
    None when it already had this score (nothing written; -0.0 equals 0.0, as in Redis).
    The UPDATE goes first: re-scoring a present member (the steady state of a busy
    zset) is then one statement; a new member costs a no-op UPDATE more."""
    cur.execute(_UPDATE_IF_CHANGED, (kid, member, value))
    if conn.changes():
        return False
    cur.execute(_INSERT_OR_IGNORE, (kid, member, value))
    return True if conn.changes() else None


def update(cur: apsw.Cursor, kid: int, member: bytes, value: float) -> None:
    cur.execute("UPDATE zset_members SET score = ? WHERE key_id = ? AND member = ?",
                (value, kid, member))


def delete(conn: apsw.Connection, cur: apsw.Cursor, kid: int, member: bytes) -> bool:
    cur.execute("DELETE FROM zset_members WHERE key_id = ? AND member = ?", (kid, member))
    return conn.changes() > 0


def _score_where(lo: ScoreBound, hi: ScoreBound) -> str:
    return (" AND score " + (">" if lo[1] else ">=") + " ? AND score "
            + ("<" if hi[1] else "<=") + " ?")


def _lex_where(lo: LexBound, hi: LexBound) -> tuple[str, list[bytes]]:
    sql = ""
    args: list[bytes] = []
    if lo is not None:
        sql += " AND member " + (">" if lo[1] else ">=") + " ?"
        args.append(lo[0])
    if hi is not None:
        sql += " AND member " + ("<" if hi[1] else "<=") + " ?"
        args.append(hi[0])
    return sql, args


def count_score(cur: apsw.Cursor, kid: int, lo: ScoreBound, hi: ScoreBound) -> int:
    return cur.execute("SELECT count(*) FROM zset_members WHERE key_id = ?" + _score_where(lo, hi),
                       (kid, lo[0], hi[0])).fetchone()[0]


def count_lex(cur: apsw.Cursor, kid: int, lo: LexBound, hi: LexBound) -> int:
    where, args = _lex_where(lo, hi)
    return cur.execute("SELECT count(*) FROM zset_members WHERE key_id = ?" + where,
                       (kid, *args)).fetchone()[0]


def rank(cur: apsw.Cursor, kid: int, member: bytes, value: float) -> int:
    """0-based ascending rank of a present member: a COUNT over the score index, O(rank)."""
    return cur.execute(
        "SELECT (SELECT count(*) FROM zset_members WHERE key_id = ?1 AND score < ?2)"
        " + (SELECT count(*) FROM zset_members WHERE key_id = ?1 AND score = ?2 AND member < ?3)",
        (kid, value, member),
    ).fetchone()[0]


def range_rank(cur: apsw.Cursor, kid: int, start: int, count: int, rev: bool) -> list[tuple]:
    """``count`` (member, score) rows from ``start`` in (rev) order; OFFSET is O(start)."""
    return cur.execute(
        "SELECT member, score FROM zset_members WHERE " + _K
        + (_ORDER_REV if rev else _ORDER) + _LIMIT,
        (kid, count, start),
    ).fetchall()


def range_score(cur: apsw.Cursor, kid: int, lo: ScoreBound, hi: ScoreBound, rev: bool,
                offset: int = 0, limit: int = -1) -> list[tuple]:
    return cur.execute(
        "SELECT member, score FROM zset_members WHERE " + _K + _score_where(lo, hi)
        + (_ORDER_REV if rev else _ORDER) + _LIMIT,
        (kid, lo[0], hi[0], limit, offset),
    ).fetchall()


# A members-only range reply: the members joined by 0xff bytes in one value (as LRANGE's,
# storage/lists.py), or built by SQLite as wire bytes when a member holds a 0xff byte.
# The inner query's ORDER BY ... LIMIT makes it a co-routine whose rows the aggregate
# takes in that order (tests/compat compares every range shape with Redis).
_JOINED = ("SELECT count(*), CAST(group_concat(member, x'ff') AS BLOB) FROM "
           "(SELECT member FROM zset_members WHERE ")
_WIRE = "SELECT " + wire_columns("member") + " FROM (SELECT member FROM zset_members WHERE "


# ZRANGEBYSCORE's statement by (min exclusive, max exclusive), index 2 * min_ex + max_ex:
# range_score_wire's for an ascending range, and the C lane's (serve_zrangebyscore).
RANGE_SCORE_JOINED = tuple(
    _JOINED + _K + _score_where((0.0, lo_ex), (0.0, hi_ex)) + _ORDER + _LIMIT + ")"
    for lo_ex in (False, True) for hi_ex in (False, True))


def _members_wire(cur: apsw.Cursor, where: str, args: tuple) -> BulkArray:
    n, joined = cur.execute(_JOINED + where + ")", args).fetchone()
    wire = BulkArray.joined(joined, n)
    if wire is not None:
        return wire
    return BulkArray.of(*cur.execute(_WIRE + where + ")", args).fetchone())


def range_score_wire(cur: apsw.Cursor, kid: int, lo: ScoreBound, hi: ScoreBound, rev: bool,
                     offset: int = 0, limit: int = -1) -> BulkArray:
    """``range_score``'s members as the wire bytes of a RESP array."""
    return _members_wire(cur, _K + _score_where(lo, hi) + (_ORDER_REV if rev else _ORDER)
                         + _LIMIT, (kid, lo[0], hi[0], limit, offset))


def range_rank_wire(cur: apsw.Cursor, kid: int, start: int, count: int, rev: bool) -> BulkArray:
    """``range_rank``'s members as the wire bytes of a RESP array."""
    return _members_wire(cur, _K + (_ORDER_REV if rev else _ORDER) + _LIMIT, (kid, count, start))


def iter_score(cur: apsw.Cursor, kid: int, lo: ScoreBound, hi: ScoreBound):
    """(member, score) rows of a score range, ascending, read lazily on a cursor of their
    own: for scans that may stop early (GEOSEARCH ... COUNT n ANY)."""
    return cur.connection.cursor().execute(
        "SELECT member, score FROM zset_members WHERE " + _K + _score_where(lo, hi) + _ORDER,
        (kid, lo[0], hi[0]))


def range_lex(cur: apsw.Cursor, kid: int, lo: LexBound, hi: LexBound, rev: bool,
              offset: int = 0, limit: int = -1) -> list[tuple]:
    """Lex ranges assume equal scores (as Redis documents); the primary key gives the order."""
    where, args = _lex_where(lo, hi)
    return cur.execute(
        "SELECT member, score FROM zset_members WHERE " + _K + where
        + (" ORDER BY member DESC" if rev else " ORDER BY member") + _LIMIT,
        (kid, *args, limit, offset),
    ).fetchall()


def delete_rank(conn: apsw.Connection, cur: apsw.Cursor, kid: int, start: int, count: int) -> int:
    cur.execute(
        "DELETE FROM zset_members WHERE key_id = ?1 AND member IN (SELECT member FROM "
        "zset_members WHERE key_id = +?1 ORDER BY score, member LIMIT +?2 OFFSET +?3)",
        (kid, count, start),
    )
    return conn.changes()


def delete_score(conn: apsw.Connection, cur: apsw.Cursor, kid: int, lo: ScoreBound,
                 hi: ScoreBound) -> int:
    cur.execute("DELETE FROM zset_members WHERE key_id = ?" + _score_where(lo, hi),
                (kid, lo[0], hi[0]))
    return conn.changes()


def delete_lex(conn: apsw.Connection, cur: apsw.Cursor, kid: int, lo: LexBound,
               hi: LexBound) -> int:
    where, args = _lex_where(lo, hi)
    cur.execute("DELETE FROM zset_members WHERE key_id = ?" + where, (kid, *args))
    return conn.changes()


def pop(conn: apsw.Connection, cur: apsw.Cursor, kid: int, count: int, highest: bool) -> list[tuple]:
    """Remove and return the ``count`` lowest (or highest) members, in pop order."""
    rows = range_rank(cur, kid, 0, count, highest)
    if len(rows) == 1:
        cur.execute("DELETE FROM zset_members WHERE key_id = ? AND member = ?", (kid, rows[0][0]))
    elif rows:
        cur.executemany("DELETE FROM zset_members WHERE key_id = ? AND member = ?",
                        [(kid, m) for m, _ in rows])
    return rows


def all_rows(cur: apsw.Cursor, kid: int) -> list[tuple]:
    """Every (member, score) in Redis order (small-key ZSCAN, ZRANDMEMBER of it all)."""
    return cur.execute(
        "SELECT member, score FROM zset_members WHERE " + _K + _ORDER, (kid,)).fetchall()


def scan_after(cur: apsw.Cursor, kid: int, after: bytes | None, count: int) -> list[tuple]:
    """``count`` rows in member order after ``after`` (big-key ZSCAN)."""
    if after is None:
        return cur.execute(
            "SELECT member, score FROM zset_members WHERE key_id = +? ORDER BY member LIMIT +?",
            (kid, count)).fetchall()
    return cur.execute(
        "SELECT member, score FROM zset_members WHERE key_id = +? AND member > ? "
        "ORDER BY member LIMIT +?", (kid, after, count)).fetchall()


def at_offsets(cur: apsw.Cursor, kid: int, offsets: list[int]) -> dict[int, tuple]:
    """(member, score) at each of the sorted distinct ``offsets`` of member order.

    Each step seeks past the previous member and skips the gap inside SQLite,
    so the whole walk costs O(max offset) in C and one statement per offset.
    """
    out: dict[int, tuple] = {}
    last: bytes | None = None
    prev = -1
    for off in offsets:
        gap = off - prev - 1
        if last is None:
            r = cur.execute("SELECT member, score FROM zset_members WHERE key_id = +? "
                            "ORDER BY member LIMIT 1 OFFSET +?", (kid, off)).fetchone()
        else:
            r = cur.execute("SELECT member, score FROM zset_members WHERE key_id = +? AND "
                            "member > ? ORDER BY member LIMIT 1 OFFSET +?",
                            (kid, last, gap)).fetchone()
        if r is None:
            break
        out[off] = r
        last = r[0]
        prev = off
    return out


# -- multi-key work table (ZUNION/ZINTER/ZDIFF/ZRANGESTORE) ------------------------------

_AGG = {
    "sum": "coalesce(score + {v}, 0.0)",
    "min": "CASE WHEN {v} < score THEN {v} ELSE score END",
    "max": "CASE WHEN {v} > score THEN {v} ELSE score END",
}


_registered: weakref.WeakSet = weakref.WeakSet()


def _ensure_mhash(cur: apsw.Cursor) -> None:
    """Register ``aki_mhash()`` (storage/sets.py's member hash) on this connection, so SQL
    can probe ``set_members`` by its primary key (key_id, h, member)."""
    conn = cur.connection
    if conn in _registered:
        return
    from aki.storage.sets import mhash

    conn.create_scalar_function("aki_mhash", mhash, 1, deterministic=True)
    _registered.add(conn)


def _probe(table: str, member: str) -> str:
    """WHERE clause finding ``member`` in input ``s`` of ``table`` by its primary key."""
    if table == "set_members":
        return f"s.key_id = ? AND s.h = aki_mhash({member}) AND s.member = {member}"
    return f"s.key_id = ? AND s.member = {member}"


def work_reset(cur: apsw.Cursor) -> None:
    _ensure_mhash(cur)
    cur.execute("CREATE TEMP TABLE IF NOT EXISTS zwork "
                "(member BLOB PRIMARY KEY, score REAL NOT NULL) WITHOUT ROWID")
    cur.execute("DELETE FROM temp.zwork")


def _source(is_set: bool) -> str:
    """Rows of one input: a zset's members with their scores, or a set's with score 1."""
    if is_set:
        return "SELECT member, 1.0 AS score FROM set_members WHERE key_id = ?"
    return "SELECT member, score FROM zset_members WHERE key_id = ?"


def work_union_add(cur: apsw.Cursor, kid: int, is_set: bool, weight: float, agg: str) -> None:
    """Fold one input into zwork: new members get score*weight, present ones aggregate."""
    expr = _AGG[agg].format(v="excluded.score")
    cur.execute(
        "INSERT INTO temp.zwork (member, score) SELECT member, coalesce(score * ?, 0.0) FROM ("
        + _source(is_set) + ") WHERE true ON CONFLICT (member) DO UPDATE SET score = " + expr,
        (weight, kid),
    )


def work_fill(cur: apsw.Cursor, kid: int, is_set: bool, weight: float) -> None:
    cur.execute("INSERT INTO temp.zwork (member, score) SELECT member, coalesce(score * ?, 0.0) "
                "FROM (" + _source(is_set) + ")", (weight, kid))


def work_intersect(cur: apsw.Cursor, kid: int, is_set: bool, weight: float, agg: str) -> None:
    """Keep only members also in this input, aggregating its weighted score."""
    table, col = ("set_members", "1.0") if is_set else ("zset_members", "s.score")
    cur.execute(f"DELETE FROM temp.zwork WHERE NOT EXISTS (SELECT 1 FROM {table} s "
                "WHERE " + _probe(table, "zwork.member") + ")", (kid,))
    # No NaN->0 here: Redis aggregates the raw product (SUM then maps NaN to 0,
    # MIN/MAX keep the current score), which is what a NULL does in these CASEs.
    if is_set:
        # every remaining member is in the set: its score there is 1
        v = "(1.0 * ?2)"
    else:
        v = f"(SELECT {col} * ?2 FROM {table} s WHERE s.key_id = ?1 AND s.member = zwork.member)"
    cur.execute("UPDATE temp.zwork SET score = " + _AGG[agg].format(v=v), (kid, weight))


def work_subtract(cur: apsw.Cursor, kid: int, is_set: bool) -> None:
    table = "set_members" if is_set else "zset_members"
    cur.execute(f"DELETE FROM temp.zwork WHERE EXISTS (SELECT 1 FROM {table} s "
                "WHERE " + _probe(table, "zwork.member") + ")", (kid,))


def work_insert_rows(cur: apsw.Cursor, rows: list[tuple]) -> None:
    cur.executemany("INSERT INTO temp.zwork (member, score) VALUES (?, ?)", rows)


def work_stats(cur: apsw.Cursor) -> tuple[int, int]:
    """(count, longest member) of zwork: the destination's size and encoding."""
    n, longest = cur.execute("SELECT count(*), max(length(member)) FROM temp.zwork").fetchone()
    return n, longest or 0


def work_rows(cur: apsw.Cursor) -> list[tuple]:
    rows = cur.execute("SELECT member, score FROM temp.zwork" + _ORDER).fetchall()
    cur.execute("DELETE FROM temp.zwork")
    return rows


def work_store(cur: apsw.Cursor, kid: int) -> None:
    cur.execute("INSERT INTO zset_members (key_id, member, score) "
                "SELECT ?, member, score FROM temp.zwork", (kid,))
    cur.execute("DELETE FROM temp.zwork")


def inter_card(cur: apsw.Cursor, first: tuple[int, bool], others: list[tuple[int, bool]],
               limit: int) -> int:
    """Members of ``first`` present in every other input, counting stops at ``limit``."""
    kid, is_set = first
    sql = "SELECT 1 FROM " + ("set_members" if is_set else "zset_members") + " f WHERE f.key_id = ?"
    args: list = [kid]
    for okid, oset in others:
        table = "set_members" if oset else "zset_members"
        sql += f" AND EXISTS (SELECT 1 FROM {table} s WHERE {_probe(table, 'f.member')})"
        args.append(okid)
    args.append(limit if limit > 0 else -1)
    return cur.execute("SELECT count(*) FROM (" + sql + " LIMIT +?)", args).fetchone()[0]


def work_diff(cur: apsw.Cursor, first: tuple[int, bool], others: list[tuple[int, bool]]) -> None:
    """Fill zwork with the members of ``first`` absent from every other input."""
    kid, is_set = first
    if is_set:
        sql = "SELECT f.member, 1.0 FROM set_members f WHERE f.key_id = ?"
    else:
        sql = "SELECT f.member, f.score FROM zset_members f WHERE f.key_id = ?"
    args: list = [kid]
    for okid, oset in others:
        table = "set_members" if oset else "zset_members"
        sql += f" AND NOT EXISTS (SELECT 1 FROM {table} s WHERE {_probe(table, 'f.member')})"
        args.append(okid)
    cur.execute("INSERT INTO temp.zwork (member, score) " + sql, args)
