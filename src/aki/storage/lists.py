"""List repository: every SQL statement for lists.

Invariant: the elements of a list are the rows ``(key_id, pos)`` with ``pos`` in
``[row.head, row.head + row.len)``, contiguous. So push/pop at either end is one
INSERT/DELETE (no renumbering), LINDEX/LSET one primary-key lookup, LRANGE one
range scan of exactly the rows returned. Only LINSERT/LREM renumber, and only the
smaller side of the change; renumbering moves rows through a free region above
every used position first, so no UPDATE can hit a PRIMARY KEY conflict.

Redis 7.0 always stores lists as quicklists (OBJECT ENCODING "quicklist"), so
``KeyRow.enc`` is 1 for every list.
"""

from __future__ import annotations

from aki.resp.types import BulkArray
from aki.storage.keyspace import LIST, KeyRow, Keyspace

QUICKLIST = 1

_INSERT = "INSERT INTO list_items (key_id, pos, value) VALUES (?, ?, ?)"
_GET = "SELECT value FROM list_items WHERE key_id = ? AND pos = ?"
_DELETE_AT = "DELETE FROM list_items WHERE key_id = ? AND pos = ?"


def create(ks: Keyspace, db: int, key: bytes) -> KeyRow:
    """A new, empty list key; the push that follows records enc = QUICKLIST in the file."""
    return ks.create(db, key, LIST)


def _set_len_head(ks: Keyspace, row: KeyRow, length: int, head: int) -> None:
    """set_meta(length=, head=) for a list that stays non-empty, without the keyword
    plumbing (the hot path of every push and pop). Keeps the cached row, the pending
    counters and ``touched`` exactly as Keyspace.set_meta does."""
    row.len = length
    row.head = head
    ks.pending_meta[row.id] = row  # written once per batch (Keyspace.flush_meta)
    ks.touched.append((row.db, row.key))


def push(ks: Keyspace, row: KeyRow, values: list[bytes], left: bool) -> int:
    """LPUSH/RPUSH ``values`` one after the other; returns the new length."""
    rid = row.id
    head = row.head
    n = len(values)
    if left:
        if n == 1:
            ks.cur.execute(_INSERT, (rid, head - 1, values[0]))
        else:
            ks.cur.executemany(_INSERT, [(rid, head - 1 - i, v) for i, v in enumerate(values)])
        head -= n
    else:
        tail = head + row.len
        if n == 1:
            ks.cur.execute(_INSERT, (rid, tail, values[0]))
        else:
            ks.cur.executemany(_INSERT, [(rid, tail + i, v) for i, v in enumerate(values)])
    length = row.len + n
    if row.enc != QUICKLIST:
        ks.set_meta(row, length=length, head=head, enc=QUICKLIST)
    else:
        _set_len_head(ks, row, length, head)
    return length


def pop(ks: Keyspace, row: KeyRow, left: bool, count: int = 1) -> list[bytes]:
    """Remove up to ``count`` elements from one end, in pop order (deletes an emptied key)."""
    length = row.len
    k = min(count, length)
    head = row.head
    if left:
        lo, hi = head, head + k - 1
        new_head = head + k
    else:
        lo, hi = head + length - k, head + length - 1
        new_head = head
    cur = ks.cur
    if k == 1:
        # SELECT + DELETE: cheaper than one DELETE ... RETURNING
        rid = row.id
        values = [cur.execute(_GET, (rid, lo)).fetchone()[0]]
        cur.execute(_DELETE_AT, (rid, lo))
        if k < length:
            _set_len_head(ks, row, length - 1, new_head)
        else:
            ks.set_meta(row, length=0, head=new_head)  # deletes the key
        return values
    rows = cur.execute(
        "DELETE FROM list_items WHERE key_id = ? AND pos BETWEEN ? AND ? RETURNING pos, value",
        (row.id, lo, hi),
    ).fetchall()
    rows.sort(reverse=not left)
    values = [v for _p, v in rows]
    ks.set_meta(row, length=length - k, head=new_head)
    return values


def index_pos(row: KeyRow, index: int) -> int | None:
    """The position of LINDEX-style ``index`` (negative from the tail), None if out of range."""
    if index < 0:
        index += row.len
    if index < 0 or index >= row.len:
        return None
    return row.head + index


def get(ks: Keyspace, row: KeyRow, index: int) -> bytes | None:
    pos = index_pos(row, index)
    if pos is None:
        return None
    r = ks.cur.execute(_GET, (row.id, pos)).fetchone()
    return r[0] if r is not None else None


def set_at(ks: Keyspace, row: KeyRow, index: int, value: bytes) -> bool:
    pos = index_pos(row, index)
    if pos is None:
        return False
    ks.cur.execute(
        "UPDATE list_items SET value = ? WHERE key_id = ? AND pos = ?", (value, row.id, pos)
    )
    ks.touch(row.db, row.key)
    return True


def clamp_range(length: int, start: int, end: int) -> tuple[int, int] | None:
    """Redis's start/end normalization (LRANGE/LTRIM): (start, end) or None when empty."""
    if start < 0:
        start += length
    if end < 0:
        end += length
    if start < 0:
        start = 0
    if start > end or start >= length:
        return None
    if end >= length:
        end = length - 1
    return start, end


# LRANGE's rows in one value: the elements joined by a 0xff byte, split into the reply
# in C (BulkArray.joined; the C lane's serve_lrange runs this statement too). Fetching
# 100 rows one by one costs ~0.3 us each in the row API; one aggregate row and a split
# cost a fraction of that, and half of building the RESP elements inside SQLite. group_concat keeps the bytes of BLOBs as they
# are (embedded NULs included); it sees the rows in primary-key order, the only order
# a key_id/pos range scan of list_items can produce (tests/storage pin it). An element
# containing 0xff makes the split longer than the range: the rows are then fetched
# one by one.
_RANGE_JOINED = ("SELECT CAST(group_concat(value, x'ff') AS BLOB) FROM list_items "
                 "WHERE key_id = ? AND pos BETWEEN ? AND ?")


def range_wire(ks: Keyspace, row: KeyRow, start: int, end: int) -> BulkArray | None:
    """Elements start..end (already clamped) as the wire bytes of a RESP array, from the
    rows joined in one value (``_RANGE_JOINED``); None if an element holds a 0xff byte
    or the rows found are not the whole range (the caller then reads them one by one)."""
    head = row.head
    joined = ks.cur.execute(_RANGE_JOINED, (row.id, head + start, head + end)).fetchone()[0]
    return BulkArray.joined(joined, end - start + 1)


def range_(ks: Keyspace, row: KeyRow, start: int, end: int, reverse: bool = False) -> list[bytes]:
    """Elements at indexes start..end (already clamped), optionally tail first."""
    head = row.head
    args = (row.id, head + start, head + end)
    if not reverse and end - start >= 3:
        joined = ks.cur.execute(_RANGE_JOINED, args).fetchone()[0]
        if joined is not None:
            parts = joined.split(b"\xff")
            if len(parts) == end - start + 1:
                return parts
    order = "DESC" if reverse else "ASC"
    return [
        v for (v,) in ks.cur.execute(
            "SELECT value FROM list_items WHERE key_id = +? AND pos BETWEEN ? AND ? "
            "ORDER BY pos " + order,
            args,
        )
    ]


def trim(ks: Keyspace, row: KeyRow, ltrim: int, rtrim: int) -> None:
    """Remove ``ltrim`` elements from the head and ``rtrim`` from the tail."""
    head = row.head
    length = row.len
    cur = ks.cur
    if ltrim:
        cur.execute("DELETE FROM list_items WHERE key_id = ? AND pos >= ? AND pos < ?",
                    (row.id, head, head + ltrim))
    if rtrim:
        cur.execute("DELETE FROM list_items WHERE key_id = ? AND pos >= ? AND pos < ?",
                    (row.id, head + length - rtrim, head + length))
    ks.set_meta(row, length=length - ltrim - rtrim, head=head + ltrim)


def _renumber(ks: Keyspace, row: KeyRow, lo: int, hi: int, top: int, new_start: int,
              gaps: bool) -> None:
    """Give the rows in positions [lo, hi] contiguous positions from ``new_start``.

    ``top`` is at least the highest used position of the list. Rows first move above
    both ``top`` and the target range, then down into place: neither UPDATE can
    collide with a row that has not moved yet.
    """
    cur = ks.cur
    rid = row.id
    count = hi - lo + 1
    base = max(top, new_start + count - 1) + 1
    cur.execute(
        "UPDATE list_items SET pos = pos - ? + ? WHERE key_id = ? AND pos BETWEEN ? AND ?",
        (lo, base, rid, lo, hi),
    )
    if not gaps:
        cur.execute(
            "UPDATE list_items SET pos = pos - ? + ? WHERE key_id = ? AND pos >= ?",
            (base, new_start, rid, base),
        )
        return
    cur.execute(
        "UPDATE list_items SET pos = t.rn - 1 + ? FROM ("
        "  SELECT pos AS old, row_number() OVER (ORDER BY pos) AS rn"
        "  FROM list_items WHERE key_id = ? AND pos >= ?) AS t "
        "WHERE list_items.key_id = ? AND list_items.pos = t.old",
        (new_start, rid, base, rid),
    )


def insert(ks: Keyspace, row: KeyRow, pivot: bytes, value: bytes, after: bool) -> int:
    """LINSERT: -1 when ``pivot`` is absent, else the new length."""
    rid = row.id
    r = ks.cur.execute(
        "SELECT pos FROM list_items WHERE key_id = +? AND value = ? ORDER BY pos LIMIT 1",
        (rid, pivot),
    ).fetchone()
    if r is None:
        return -1
    p = r[0]
    head = row.head
    length = row.len
    tail = head + length - 1
    at = p + 1 if after else p  # the new element's position, once room is made
    if at - head < tail + 1 - at:
        # shift [head, at-1] one down; the new element goes to at-1
        if at > head:
            _renumber(ks, row, head, at - 1, tail, head - 1, False)
        ks.cur.execute(_INSERT, (rid, at - 1, value))
        head -= 1
    else:
        if at <= tail:
            _renumber(ks, row, at, tail, tail, at + 1, False)
        ks.cur.execute(_INSERT, (rid, at, value))
    ks.set_meta(row, length=length + 1, head=head)
    return length + 1


def positions(ks: Keyspace, row: KeyRow, value: bytes, from_tail: bool, skip: int,
              limit: int, maxlen: int) -> list[int]:
    """LPOS: indexes of matches, scanning at most ``maxlen`` elements (0 = all)."""
    head = row.head
    length = row.len
    if maxlen and maxlen < length:
        lo, hi = (head + length - maxlen, head + length - 1) if from_tail else (head, head + maxlen - 1)
    else:
        lo, hi = head, head + length - 1
    order = "DESC" if from_tail else "ASC"
    return [
        p - head for (p,) in ks.cur.execute(
            "SELECT pos FROM list_items WHERE key_id = +? AND pos BETWEEN ? AND ? AND value = ? "
            "ORDER BY pos " + order + " LIMIT +? OFFSET +?",
            (row.id, lo, hi, value, limit, skip),
        )
    ]


def remove(ks: Keyspace, row: KeyRow, value: bytes, count: int) -> int:
    """LREM: remove up to |count| matches (0 = all) from the head (count >= 0) or tail."""
    rid = row.id
    cur = ks.cur
    order = "DESC" if count < 0 else "ASC"
    limit = abs(count) or -1
    r = cur.execute(
        "SELECT count(*), min(pos), max(pos) FROM (SELECT pos FROM list_items "
        "WHERE key_id = +? AND value = ? ORDER BY pos " + order + " LIMIT +?)",
        (rid, value, limit),
    ).fetchone()
    removed, first, last = r
    if not removed:
        return 0
    cur.execute(
        "DELETE FROM list_items WHERE key_id = ? AND pos BETWEEN ? AND ? AND value = ?",
        (rid, first, last, value),
    )
    head = row.head
    length = row.len
    tail = head + length - 1
    left_side = last - head + 1 - removed  # survivors before the last removed one
    right_side = tail - first + 1 - removed  # survivors after the first removed one
    new_len = length - removed
    if new_len == 0:
        ks.set_meta(row, length=0)
        return removed
    if left_side <= right_side:
        # survivors in [head, last] move up so they end at `last`
        if left_side:
            _renumber(ks, row, head, last, tail, last - left_side + 1, True)
        head = last - left_side + 1 if left_side else last + 1
    else:
        if right_side:
            _renumber(ks, row, first, tail, tail, first, True)
    ks.set_meta(row, length=new_len, head=head)
    return removed


def move_within(ks: Keyspace, row: KeyRow, from_left: bool, to_left: bool) -> bytes:
    """LMOVE with source == destination: rotate one element without emptying the key."""
    head = row.head
    tail = head + row.len - 1
    src = head if from_left else tail
    value = ks.cur.execute(
        "SELECT value FROM list_items WHERE key_id = ? AND pos = ?", (row.id, src)
    ).fetchone()[0]
    if from_left == to_left or row.len == 1:
        ks.touch(row.db, row.key)
        return value
    if from_left:  # head element to the tail
        ks.cur.execute("UPDATE list_items SET pos = ? WHERE key_id = ? AND pos = ?",
                       (tail + 1, row.id, src))
        head += 1
    else:  # tail element to the head
        ks.cur.execute("UPDATE list_items SET pos = ? WHERE key_id = ? AND pos = ?",
                       (head - 1, row.id, src))
        head -= 1
    ks.set_meta(row, head=head)
    return value
