"""Stream repository: every SQL statement over the stream tables (t_stream.c's data model).

Layout (storage/schema.sql):

- ``stream_entries (key_id, ms, seq, fields)``: the live entries; ``fields`` is the
  flat field/value list packed by ``pack``.
- ``stream_nodes``: one row per radix-tree node (listpack) Redis would have: its
  master ID, the ID of its last entry (tombstones included), live and deleted
  counts, the listpack's size without the two counters, and the master fields.
  They are kept so that node-granular behaviour (``~`` trimming, the LIMIT budget,
  XINFO radix-tree-keys/nodes, the MINID rewrite) is exactly Redis's, with
  ``stream-node-max-bytes`` / ``stream-node-max-entries`` applied as
  ``streamAppendItem`` applies them.
- ``stream_groups``, ``stream_consumers``, ``stream_pel``: consumer groups, their
  consumers and the pending entries list, keyed by ``key_id`` and group name, so
  no command loads a whole stream or PEL to answer.

Stream IDs are two unsigned 64-bit numbers; SQLite integers are signed, so every
ID part is stored shifted by 2**63 (order preserved). The stream's own metadata
(last ID, max deleted ID, entries added, recorded first ID) lives in ``keys.value``.
"""

from __future__ import annotations

import struct

import apsw

from aki.rdb import listpack

OFF = 1 << 63
U64 = (1 << 64) - 1
MAX_ID = (U64, U64)
LISTPACK_MAX_SIZE = 1 << 30  # STREAM_LISTPACK_MAX_SIZE

StreamID = tuple[int, int]

_META = struct.Struct(">QQQQQQQ")
_LEN = struct.Struct(">I")


# -- ids ---------------------------------------------------------------------------------


def fmt(i: StreamID) -> bytes:
    return b"%d-%d" % i


def incr(i: StreamID) -> StreamID | None:
    """streamIncrID: the successor, or None past the last possible ID."""
    ms, seq = i
    if seq == U64:
        if ms == U64:
            return None
        return (ms + 1, 0)
    return (ms, seq + 1)


def decr(i: StreamID) -> StreamID | None:
    ms, seq = i
    if seq == 0:
        if ms == 0:
            return None
        return (ms - 1, U64)
    return (ms, seq - 1)


def _d(i: StreamID) -> tuple[int, int]:
    return i[0] - OFF, i[1] - OFF


def _u(ms: int, seq: int) -> StreamID:
    return ms + OFF, seq + OFF


# -- metadata (keys.value) ---------------------------------------------------------------


class Meta:
    __slots__ = ("last", "maxdel", "added", "first")

    def __init__(self, value: bytes | None) -> None:
        if value:
            a, b, c, d, e, f, g = _META.unpack(value)
            self.last = (a, b)
            self.maxdel = (c, d)
            self.added = e
            self.first = (f, g)
        else:
            self.last = (0, 0)
            self.maxdel = (0, 0)
            self.added = 0
            self.first = (0, 0)

    def pack(self) -> bytes:
        return _META.pack(*self.last, *self.maxdel, self.added, *self.first)


# -- field lists -------------------------------------------------------------------------


def pack(items: list[bytes]) -> bytes:
    return b"".join(_LEN.pack(len(x)) + x for x in items)


def unpack(blob: bytes) -> list[bytes]:
    out = []
    i = 0
    n = len(blob)
    while i < n:
        ln = _LEN.unpack_from(blob, i)[0]
        i += 4
        out.append(bytes(blob[i:i + ln]))
        i += ln
    return out


# -- listpack sizes (lpBytes bookkeeping) ------------------------------------------------


def _isize(v: int) -> int:
    if 0 <= v <= 127:
        return 2
    if -4096 <= v <= 4095:
        return 3
    if -32768 <= v <= 32767:
        return 4
    if -(1 << 23) <= v < (1 << 23):
        return 5
    if -(1 << 31) <= v < (1 << 31):
        return 6
    return 10


def _ssize(s: bytes) -> int:
    v = listpack.try_int(s) if len(s) <= 20 else None
    if v is not None:
        return _isize(v)
    n = len(s)
    if n < 64:
        return n + 2
    body = n + (2 if n < 4096 else 5)
    return body + listpack._backlen_size(body)


def _delta(a: int, b: int) -> int:
    d = (a - b) & U64
    return d - (1 << 64) if d >= (1 << 63) else d


# -- entries -----------------------------------------------------------------------------


def tail_node(cur: apsw.Cursor, kid: int):
    return cur.execute(
        "SELECT ms, seq, live, deleted, ebytes, master FROM stream_nodes WHERE key_id = ? "
        "ORDER BY ms DESC, seq DESC LIMIT 1", (kid,)).fetchone()


def append(cur: apsw.Cursor, kid: int, eid: StreamID, items: list[bytes],
           max_bytes: int, max_entries: int) -> None:
    """streamAppendItem's node logic plus the entry row (the ID is already validated)."""
    fields = items[0::2]
    values = items[1::2]
    numfields = len(fields)
    totelelen = sum(len(x) for x in items)
    tail = tail_node(cur, kid)
    new_node = tail is None
    if tail is not None:
        live, deleted, ebytes = tail[2], tail[3], tail[4]
        lp_bytes = 7 + _isize(live) + _isize(deleted) + ebytes
        nmax = max_bytes
        if nmax == 0 or nmax > LISTPACK_MAX_SIZE:
            nmax = LISTPACK_MAX_SIZE
        if lp_bytes + totelelen >= nmax:
            new_node = True
        elif max_entries and live + deleted >= max_entries:
            new_node = True
    dms, dseq = _d(eid)
    if new_node:
        master = eid
        same = True
        ebytes = _isize(numfields) + sum(_ssize(f) for f in fields) + _isize(0)
    else:
        master = _u(tail[0], tail[1])
        same = unpack(tail[5]) == fields
    size = _isize(2 if same else 0) + _isize(_delta(eid[0], master[0])) \
        + _isize(_delta(eid[1], master[1]))
    if same:
        size += sum(_ssize(v) for v in values) + _isize(numfields + 3)
    else:
        size += _isize(numfields) + sum(_ssize(x) for x in items) + _isize(2 * numfields + 4)
    if new_node:
        cur.execute(
            "INSERT INTO stream_nodes (key_id, ms, seq, last_ms, last_seq, live, deleted, ebytes, "
            "master) VALUES (?, ?, ?, ?, ?, 1, 0, ?, ?)",
            (kid, dms, dseq, dms, dseq, ebytes + size, pack(fields)))
    else:
        cur.execute(
            "UPDATE stream_nodes SET last_ms = ?, last_seq = ?, live = live + 1, ebytes = ebytes + ? "
            "WHERE key_id = ? AND ms = ? AND seq = ?",
            (dms, dseq, size, kid, tail[0], tail[1]))
    cur.execute("INSERT INTO stream_entries (key_id, ms, seq, fields) VALUES (?, ?, ?, ?)",
                (kid, dms, dseq, pack(items)))


def insert_node_raw(cur: apsw.Cursor, kid: int, master: StreamID, last: StreamID, live: int,
                    deleted: int, ebytes: int, fields: list[bytes]) -> None:
    cur.execute(
        "INSERT INTO stream_nodes (key_id, ms, seq, last_ms, last_seq, live, deleted, ebytes, "
        "master) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (kid, *_d(master), *_d(last), live, deleted, ebytes, pack(fields)))


def range_entries(cur: apsw.Cursor, kid: int, start: StreamID, end: StreamID, count: int = 0,
                  rev: bool = False) -> list[tuple[StreamID, list[bytes]]]:
    """Entries with start <= id <= end, ascending (or descending), at most ``count`` (0 = all)."""
    if start > end:
        return []
    sms, sseq = _d(start)
    ems, eseq = _d(end)
    order = "DESC" if rev else "ASC"
    rows = cur.execute(
        "SELECT ms, seq, fields FROM stream_entries WHERE key_id = ?1 AND "
        "(ms > ?2 OR (ms = ?2 AND seq >= ?3)) AND (ms < ?4 OR (ms = ?4 AND seq <= ?5)) "
        f"ORDER BY ms {order}, seq {order} LIMIT ?6",
        (kid, sms, sseq, ems, eseq, count if count > 0 else -1)).fetchall()
    return [(_u(ms, seq), unpack(f)) for ms, seq, f in rows]


def get(cur: apsw.Cursor, kid: int, eid: StreamID) -> list[bytes] | None:
    r = cur.execute("SELECT fields FROM stream_entries WHERE key_id = ? AND ms = ? AND seq = ?",
                    (kid, *_d(eid))).fetchone()
    return None if r is None else unpack(r[0])


def exists(cur: apsw.Cursor, kid: int, eid: StreamID) -> bool:
    return cur.execute("SELECT 1 FROM stream_entries WHERE key_id = ? AND ms = ? AND seq = ?",
                       (kid, *_d(eid))).fetchone() is not None


def edge_entry(cur: apsw.Cursor, kid: int, last: bool) -> StreamID | None:
    """The first (or last) live entry's ID."""
    order = "DESC" if last else "ASC"
    r = cur.execute(f"SELECT ms, seq FROM stream_entries WHERE key_id = ? ORDER BY ms {order}, "
                    f"seq {order} LIMIT 1", (kid,)).fetchone()
    return None if r is None else _u(*r)


def first_node_id(cur: apsw.Cursor, kid: int) -> StreamID | None:
    """streamGetEdgeID(first, with tombstones): the master ID of the first node."""
    r = cur.execute("SELECT ms, seq FROM stream_nodes WHERE key_id = ? ORDER BY ms, seq LIMIT 1",
                    (kid,)).fetchone()
    return None if r is None else _u(*r)


def _node_of(cur: apsw.Cursor, kid: int, eid: StreamID):
    ms, seq = _d(eid)
    return cur.execute(
        "SELECT ms, seq, live FROM stream_nodes WHERE key_id = ?1 AND (ms < ?2 OR (ms = ?2 AND "
        "seq <= ?3)) ORDER BY ms DESC, seq DESC LIMIT 1", (kid, ms, seq)).fetchone()


def delete_entry(conn: apsw.Connection, cur: apsw.Cursor, kid: int, eid: StreamID) -> bool:
    """streamDeleteItem: remove one entry, marking it deleted in (or freeing) its node."""
    ms, seq = _d(eid)
    cur.execute("DELETE FROM stream_entries WHERE key_id = ? AND ms = ? AND seq = ?", (kid, ms, seq))
    if conn.changes() == 0:
        return False
    node = _node_of(cur, kid, eid)
    if node is not None:
        if node[2] <= 1:
            cur.execute("DELETE FROM stream_nodes WHERE key_id = ? AND ms = ? AND seq = ?",
                        (kid, node[0], node[1]))
        else:
            cur.execute("UPDATE stream_nodes SET live = live - 1, deleted = deleted + 1 "
                        "WHERE key_id = ? AND ms = ? AND seq = ?", (kid, node[0], node[1]))
    return True


def trim(conn: apsw.Connection, cur: apsw.Cursor, kid: int, length: int, maxlen: int | None, minid: StreamID | None,
         approx: bool, limit: int) -> int:
    """streamTrim: returns how many entries were removed (``maxlen`` or ``minid`` is set)."""
    deleted = 0
    while True:
        if maxlen is not None and length <= maxlen:
            break
        # the head node: removed nodes are gone, so this walks the nodes in order
        node = cur.execute(
            "SELECT ms, seq, last_ms, last_seq, live FROM stream_nodes WHERE key_id = ? "
            "ORDER BY ms, seq LIMIT 1", (kid,)).fetchone()
        if node is None:
            break
        ms, seq, lms, lseq, live = node
        if limit and deleted + live > limit:
            break
        if maxlen is not None:
            remove = length - live >= maxlen
        else:
            remove = _u(lms, lseq) < minid  # type: ignore[operator]
        if remove:
            cur.execute("DELETE FROM stream_entries WHERE key_id = ?1 AND (ms > ?2 OR (ms = ?2 AND "
                        "seq >= ?3)) AND (ms < ?4 OR (ms = ?4 AND seq <= ?5))",
                        (kid, ms, seq, lms, lseq))
            cur.execute("DELETE FROM stream_nodes WHERE key_id = ? AND ms = ? AND seq = ?",
                        (kid, ms, seq))
            length -= live
            deleted += live
            continue
        if approx:
            break
        if maxlen is not None:
            n = length - maxlen
            cur.execute(
                "DELETE FROM stream_entries WHERE key_id = ?1 AND (ms, seq) IN (SELECT ms, seq FROM "
                "stream_entries WHERE key_id = ?1 AND (ms > ?2 OR (ms = ?2 AND seq >= ?3)) "
                "ORDER BY ms, seq LIMIT ?4)", (kid, ms, seq, n))
        else:
            mms, mseq = _d(minid)  # type: ignore[arg-type]
            cur.execute(
                "DELETE FROM stream_entries WHERE key_id = ?1 AND (ms > ?2 OR (ms = ?2 AND seq >= ?3)) "
                "AND (ms < ?4 OR (ms = ?4 AND seq < ?5))", (kid, ms, seq, mms, mseq))
            n = conn.changes()
        cur.execute("UPDATE stream_nodes SET live = live - ?, deleted = deleted + ? "
                    "WHERE key_id = ? AND ms = ? AND seq = ?", (n, n, kid, ms, seq))
        deleted += n
        length -= n
        break
    return deleted


def node_keys(cur: apsw.Cursor, kid: int) -> list[bytes]:
    return [struct.pack(">QQ", *_u(ms, seq)) for ms, seq in cur.execute(
        "SELECT ms, seq FROM stream_nodes WHERE key_id = ? ORDER BY ms, seq", (kid,))]


def rax_nodes(keys: list[bytes]) -> int:
    """raxSize's numnodes for a radix tree holding ``keys`` (sorted, same length)."""
    def below(lo: int, hi: int, depth: int) -> int:
        # nodes strictly below the node at ``depth`` holding keys[lo:hi]
        first, last = keys[lo], keys[hi - 1]
        n = len(first)
        common = depth
        while common < n and first[common] == last[common]:
            common += 1
        if common == n:
            return 0 if depth == n else 1
        if common > depth:
            return 1 + below(lo, hi, common)
        total = 0
        i = lo
        while i < hi:
            b = keys[i][depth]
            j = i
            while j < hi and keys[j][depth] == b:
                j += 1
            total += 1 + below(i, j, depth + 1)
            i = j
        return total

    if not keys:
        return 1
    return 1 + below(0, len(keys), 0)


def nodes_all(cur: apsw.Cursor, kid: int) -> list[tuple]:
    """Every node as (master, last, live, deleted, ebytes, fields) for dumping."""
    return [(_u(a, b), _u(c, d), e, f, g, unpack(h)) for a, b, c, d, e, f, g, h in cur.execute(
        "SELECT ms, seq, last_ms, last_seq, live, deleted, ebytes, master FROM stream_nodes "
        "WHERE key_id = ? ORDER BY ms, seq", (kid,))]


# -- consumer groups ---------------------------------------------------------------------


class Group:
    __slots__ = ("name", "last", "entries_read")

    def __init__(self, name: bytes, last: StreamID, entries_read: int) -> None:
        self.name = name
        self.last = last
        self.entries_read = entries_read


def group(cur: apsw.Cursor, kid: int, name: bytes) -> Group | None:
    r = cur.execute("SELECT last_ms, last_seq, entries_read FROM stream_groups WHERE key_id = ? "
                    "AND name = ?", (kid, name)).fetchone()
    return None if r is None else Group(name, _u(r[0], r[1]), r[2])


def groups(cur: apsw.Cursor, kid: int) -> list[Group]:
    return [Group(bytes(n), _u(a, b), e) for n, a, b, e in cur.execute(
        "SELECT name, last_ms, last_seq, entries_read FROM stream_groups WHERE key_id = ? "
        "ORDER BY name", (kid,))]


def group_count(cur: apsw.Cursor, kid: int) -> int:
    return cur.execute("SELECT count(*) FROM stream_groups WHERE key_id = ?", (kid,)).fetchone()[0]


def create_group(cur: apsw.Cursor, kid: int, name: bytes, last: StreamID, entries_read: int) -> None:
    cur.execute("INSERT INTO stream_groups (key_id, name, last_ms, last_seq, entries_read) "
                "VALUES (?, ?, ?, ?, ?)", (kid, name, *_d(last), entries_read))


def save_group(cur: apsw.Cursor, kid: int, g: Group) -> None:
    cur.execute("UPDATE stream_groups SET last_ms = ?, last_seq = ?, entries_read = ? "
                "WHERE key_id = ? AND name = ?", (*_d(g.last), g.entries_read, kid, g.name))


def destroy_group(cur: apsw.Cursor, kid: int, name: bytes) -> None:
    for table, col in (("stream_pel", "grp"), ("stream_consumers", "grp"), ("stream_groups", "name")):
        cur.execute(f"DELETE FROM {table} WHERE key_id = ? AND {col} = ?", (kid, name))


def consumer_seen(cur: apsw.Cursor, kid: int, grp: bytes, name: bytes) -> int | None:
    r = cur.execute("SELECT seen_time FROM stream_consumers WHERE key_id = ? AND grp = ? AND name = ?",
                    (kid, grp, name)).fetchone()
    return None if r is None else r[0]


def create_consumer(cur: apsw.Cursor, kid: int, grp: bytes, name: bytes, now: int) -> None:
    cur.execute("INSERT INTO stream_consumers (key_id, grp, name, seen_time) VALUES (?, ?, ?, ?)",
                (kid, grp, name, now))


def touch_consumer(cur: apsw.Cursor, kid: int, grp: bytes, name: bytes, now: int) -> None:
    cur.execute("UPDATE stream_consumers SET seen_time = ? WHERE key_id = ? AND grp = ? AND name = ?",
                (now, kid, grp, name))


def consumers(cur: apsw.Cursor, kid: int, grp: bytes) -> list[tuple[bytes, int, int]]:
    """(name, seen_time, pending count) in name order."""
    return [(bytes(n), s, p) for n, s, p in cur.execute(
        "SELECT c.name, c.seen_time, (SELECT count(*) FROM stream_pel p WHERE p.key_id = c.key_id "
        "AND p.grp = c.grp AND p.consumer = c.name) FROM stream_consumers c "
        "WHERE c.key_id = ? AND c.grp = ? ORDER BY c.name", (kid, grp))]


def consumer_count(cur: apsw.Cursor, kid: int, grp: bytes) -> int:
    return cur.execute("SELECT count(*) FROM stream_consumers WHERE key_id = ? AND grp = ?",
                       (kid, grp)).fetchone()[0]


def delete_consumer(conn: apsw.Connection, cur: apsw.Cursor, kid: int, grp: bytes,
                    name: bytes) -> int:
    cur.execute("DELETE FROM stream_pel WHERE key_id = ? AND grp = ? AND consumer = ?",
                (kid, grp, name))
    n = conn.changes()
    cur.execute("DELETE FROM stream_consumers WHERE key_id = ? AND grp = ? AND name = ?",
                (kid, grp, name))
    return n


# -- pending entries ---------------------------------------------------------------------


def pel_get(cur: apsw.Cursor, kid: int, grp: bytes, eid: StreamID):
    """(consumer, delivery_time, delivery_count) or None."""
    r = cur.execute("SELECT consumer, delivery_time, delivery_count FROM stream_pel WHERE key_id = ? "
                    "AND grp = ? AND ms = ? AND seq = ?", (kid, grp, *_d(eid))).fetchone()
    return None if r is None else (r[0] if r[0] is None else bytes(r[0]), r[1], r[2])


def pel_put(cur: apsw.Cursor, kid: int, grp: bytes, eid: StreamID, consumer: bytes | None,
            dtime: int, dcount: int) -> None:
    cur.execute("INSERT INTO stream_pel (key_id, grp, ms, seq, consumer, delivery_time, "
                "delivery_count) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key_id, grp, ms, seq) DO "
                "UPDATE SET consumer = excluded.consumer, delivery_time = excluded.delivery_time, "
                "delivery_count = excluded.delivery_count",
                (kid, grp, *_d(eid), consumer, dtime, dcount))


def pel_delete(conn: apsw.Connection, cur: apsw.Cursor, kid: int, grp: bytes, eid: StreamID) -> bool:
    cur.execute("DELETE FROM stream_pel WHERE key_id = ? AND grp = ? AND ms = ? AND seq = ?",
                (kid, grp, *_d(eid)))
    return conn.changes() > 0


def pel_range(cur: apsw.Cursor, kid: int, grp: bytes, start: StreamID, end: StreamID | None,
              consumer: bytes | None = None, limit: int = -1):
    """[(id, consumer, delivery_time, delivery_count)] in ID order from ``start``."""
    sms, sseq = _d(start)
    sql = ("SELECT ms, seq, consumer, delivery_time, delivery_count FROM stream_pel WHERE key_id = ?1 "
           "AND grp = ?2 AND (ms > ?3 OR (ms = ?3 AND seq >= ?4))")
    args: list = [kid, grp, sms, sseq]
    if end is not None:
        ems, eseq = _d(end)
        sql += " AND (ms < ?5 OR (ms = ?5 AND seq <= ?6))"
        args += [ems, eseq]
    else:
        sql += " AND ?5 IS NULL AND ?6 IS NULL"
        args += [None, None]
    if consumer is not None:
        sql += " AND consumer = ?7"
        args.append(consumer)
    sql += " ORDER BY ms, seq LIMIT " + str(int(limit))
    for ms, seq, c, t, n in cur.execute(sql, args):
        yield _u(ms, seq), (c if c is None else bytes(c)), t, n


def pel_summary(cur: apsw.Cursor, kid: int, grp: bytes):
    """(count, first id, last id) of a group's PEL."""
    n = cur.execute("SELECT count(*) FROM stream_pel WHERE key_id = ? AND grp = ?",
                    (kid, grp)).fetchone()[0]
    if not n:
        return 0, None, None
    a = cur.execute("SELECT ms, seq FROM stream_pel WHERE key_id = ? AND grp = ? ORDER BY ms, seq "
                    "LIMIT 1", (kid, grp)).fetchone()
    b = cur.execute("SELECT ms, seq FROM stream_pel WHERE key_id = ? AND grp = ? ORDER BY ms DESC, "
                    "seq DESC LIMIT 1", (kid, grp)).fetchone()
    return n, _u(*a), _u(*b)


def pel_by_consumer(cur: apsw.Cursor, kid: int, grp: bytes) -> list[tuple[bytes, int]]:
    return [(bytes(c), n) for c, n in cur.execute(
        "SELECT consumer, count(*) FROM stream_pel WHERE key_id = ? AND grp = ? GROUP BY consumer "
        "ORDER BY consumer", (kid, grp))]


def pel_count(cur: apsw.Cursor, kid: int, grp: bytes) -> int:
    return cur.execute("SELECT count(*) FROM stream_pel WHERE key_id = ? AND grp = ?",
                       (kid, grp)).fetchone()[0]


# -- whole values (DUMP/RESTORE, aki import/dump) ------------------------------------------


def read_value(cur: apsw.Cursor, kid: int, value: bytes | None):
    """The stream as an ``aki.rdb.StreamValue`` (entries, metadata, groups, PELs)."""
    from aki.rdb import StreamConsumer, StreamGroup, StreamPending, StreamValue

    meta = Meta(value)
    entries = []
    for ms, seq, f in cur.execute(
            "SELECT ms, seq, fields FROM stream_entries WHERE key_id = ? ORDER BY ms, seq", (kid,)):
        items = unpack(f)
        entries.append((_u(ms, seq), list(zip(items[0::2], items[1::2], strict=True))))
    sv = StreamValue(entries=entries, length=len(entries), last_id=meta.last,
                     first_id=meta.first, max_deleted_entry_id=meta.maxdel,
                     entries_added=meta.added)
    for g in groups(cur, kid):
        grp = StreamGroup(g.name, g.last, g.entries_read)
        owned: dict[bytes, list[StreamID]] = {}
        for eid, consumer, t, n in pel_range(cur, kid, g.name, (0, 0), None):
            grp.pending.append(StreamPending(eid, consumer, t, n))
            owned.setdefault(consumer or b"", []).append(eid)
        for name, seen, _p in consumers(cur, kid, g.name):
            grp.consumers.append(StreamConsumer(name, seen, seen, owned.get(name, [])))
        sv.groups.append(grp)
    return sv


def write_value(cur: apsw.Cursor, kid: int, sv, max_bytes: int = 4096,
                max_entries: int = 100) -> tuple[int, bytes]:
    """Store a ``StreamValue`` under ``kid`` (no rows yet); returns (length, keys.value)."""
    for eid, pairs in sv.entries:
        items: list[bytes] = []
        for f, v in pairs:
            items.append(bytes(f))
            items.append(bytes(v))
        append(cur, kid, eid, items, max_bytes, max_entries)
    meta = Meta(None)
    meta.last = sv.last_id
    meta.maxdel = sv.max_deleted_entry_id
    meta.added = sv.entries_added
    meta.first = sv.entries[0][0] if sv.entries else (0, 0)
    for g in sv.groups:
        create_group(cur, kid, g.name, g.last_id, g.entries_read)
        for cons in g.consumers:
            create_consumer(cur, kid, g.name, cons.name, cons.seen_time)
        for p in g.pending:
            pel_put(cur, kid, g.name, p.id, p.consumer, p.delivery_time, p.delivery_count)
    return len(sv.entries), meta.pack()
