"""Set commands (t_set.c). The SQL lives in storage/sets.py."""

from __future__ import annotations

from aki import errors
from aki.commands.common import parse_cursor, reply_over_output_limit, to_int
from aki.core.dispatch import rewrite
from aki.core.registry import command
from aki.errors import RedisError
from aki.resp.types import RespSet
from aki.storage import sets as S
from aki.storage.keyspace import SET, compile_glob

WRONGTYPE = errors.WRONGTYPE
LONG_MAX = 2**63 - 1
POSITIVE = "ERR value is out of range, must be positive"


def _set_or_none(ks, db: int, key: bytes, read: bool = False):
    row = ks.lookup_read(db, key) if read else ks.lookup(db, key)
    if row is not None and row.type != SET:
        raise RedisError(WRONGTYPE)
    return row


def _enc_after_add(row_enc: int, new_len: int, added: list[bytes], config) -> int:
    """setTypeAdd's conversions: a non-integer member or too many members -> hashtable."""
    if row_enc == 0 and (new_len > S.intset_max(config) or not S.all_ints(added)):
        return 1
    return row_enc


@command("sadd", cache_only=True)
def sadd(c, argv):
    ks = c.server.ks
    key = argv[1]
    row = _set_or_none(ks, c.db, key)
    created = row is None
    if created:
        row = ks.create(c.db, key, SET)
        row.enc = 0 if to_int(argv[2]) is not None else 1  # setTypeCreate (file: set_meta below)
    members = argv[2:]
    added = S.add(ks.cur, ks.engine.conn, row.id, members)
    if added:
        n = row.len + added
        enc = _enc_after_add(row.enc, n, members, c.server.config)
        if created or enc != row.enc:
            ks.set_meta(row, length=n, enc=enc)
        else:
            ks.set_len(row, n)
        ks.notify("s", "sadd", c.db, key)
    return added


@command("srem")
def srem(c, argv):
    ks = c.server.ks
    key = argv[1]
    row = _set_or_none(ks, c.db, key)
    if row is None:
        return 0
    removed = S.remove(ks.cur, ks.engine.conn, row.id, argv[2:])
    if removed:
        ks.set_len(row, row.len - removed)
        ks.notify("s", "srem", c.db, key)
        if row.len == 0:
            ks.notify("g", "del", c.db, key)
    return removed


@command("smove")
def smove(c, argv):
    ks = c.server.ks
    src_key, dst_key, ele = argv[1], argv[2], argv[3]
    src = ks.lookup(c.db, src_key)
    dst = ks.lookup(c.db, dst_key)
    if src is None:
        return 0
    if src.type != SET or (dst is not None and dst.type != SET):
        raise RedisError(WRONGTYPE)
    cur, conn = ks.cur, ks.engine.conn
    if src.id == (dst.id if dst is not None else None):
        return int(S.is_member(cur, src.id, ele))
    if not S.remove(cur, conn, src.id, [ele]):
        return 0
    ks.notify("s", "srem", c.db, src_key)
    ks.set_len(src, src.len - 1)
    if src.len == 0:
        ks.notify("g", "del", c.db, src_key)
    if dst is None:
        dst = ks.create(c.db, dst_key, SET)
        dst.enc = 0 if to_int(ele) is not None else 1
    if S.add(cur, conn, dst.id, [ele]):
        n = dst.len + 1
        ks.set_meta(dst, length=n, enc=_enc_after_add(dst.enc, n, [ele], c.server.config))
        ks.notify("s", "sadd", c.db, dst_key)
    return 1


@command("sismember", cache_only=True)
def sismember(c, argv):
    ks = c.server.ks
    row = _set_or_none(ks, c.db, argv[1], True)
    if row is None:
        return 0
    return int(S.is_member(ks.cur, row.id, argv[2]))


@command("smismember")
def smismember(c, argv):
    ks = c.server.ks
    row = _set_or_none(ks, c.db, argv[1], True)
    if row is None:
        return [0] * (len(argv) - 2)
    cur, kid = ks.cur, row.id
    return [int(S.is_member(cur, kid, m)) for m in argv[2:]]


@command("scard", cache_only=True)
def scard(c, argv):
    row = _set_or_none(c.server.ks, c.db, argv[1], True)
    return row.len if row is not None else 0


# -- SPOP / SRANDMEMBER ----------------------------------------------------------------


@command("spop")
def spop(c, argv):
    if len(argv) == 3:
        return _spop_count(c, argv)
    if len(argv) > 3:
        raise RedisError(errors.SYNTAX)
    ks = c.server.ks
    key = argv[1]
    row = _set_or_none(ks, c.db, key)
    if row is None:
        return None
    h, ele = S.random_row(ks.cur, row.id, row.len)
    S.remove_rows(ks.cur, row.id, [(h, ele)])
    ks.notify("s", "spop", c.db, key)
    rewrite(c.server, c.db, [b"SREM", key, ele])
    ks.set_len(row, row.len - 1)
    if row.len == 0:
        ks.notify("g", "del", c.db, key)
    return ele


def _spop_count(c, argv):
    count = to_int(argv[2])
    if count is None or count < 0:
        raise RedisError(POSITIVE)
    ks = c.server.ks
    key = argv[1]
    row = _set_or_none(ks, c.db, key)
    if row is None or count == 0:
        return RespSet()
    cur, kid, size = ks.cur, row.id, row.len
    ks.notify("s", "spop", c.db, key)
    if count >= size:
        out = S.result_order(S.members(cur, kid), c.server.config)
        ks.delete_row(row)
        ks.notify("g", "del", c.db, key)
        rewrite(c.server, c.db, [b"DEL", key])
        return RespSet(out)
    remaining = size - count
    if remaining * 5 > count:
        popped = S.random_distinct(cur, kid, size, count)
        enc = row.enc
    else:
        # Keep ``remaining`` random members and pop all the others (Redis's CASE 3,
        # which also rebuilds the set, so its encoding is recomputed).
        keep = S.random_distinct(cur, kid, size, remaining)
        kept = set(keep)
        popped = [r for r in S.rows(cur, kid) if r not in kept]
        enc = 0 if remaining <= S.intset_max(c.server.config) and \
            S.all_ints(m for _, m in keep) else 1
    S.remove_rows(cur, kid, popped)
    out = [m for _, m in popped]
    for m in out:
        rewrite(c.server, c.db, [b"SREM", key, m])
    ks.set_meta(row, length=remaining, enc=enc)
    return RespSet(out)


def _parse_signed_count(b: bytes) -> int:
    """getRangeLongFromObjectOrReply(-LONG_MAX, LONG_MAX)."""
    v = to_int(b)
    if v is None:
        raise RedisError(errors.NOT_INTEGER)
    if v < -LONG_MAX:
        raise RedisError(
            f"ERR value is out of range, value must between {-LONG_MAX} and {LONG_MAX}")
    return v


@command("srandmember")
def srandmember(c, argv):
    ks = c.server.ks
    if len(argv) > 3:
        raise RedisError(errors.SYNTAX)
    if len(argv) == 3:
        n = _parse_signed_count(argv[2])
        row = _set_or_none(ks, c.db, argv[1], True)
        if row is None or n == 0:
            return []
        cur, kid, size = ks.cur, row.id, row.len
        if n < 0 or n == 1:
            if reply_over_output_limit(c, abs(n)):
                return []  # the client is being closed: nothing is sent
            return S.random_with_repeats(cur, kid, size, abs(n))
        if n >= size:
            return S.redis_order(S.members(cur, kid), row.enc)
        return [m for _, m in S.random_distinct(cur, kid, size, n)]
    row = _set_or_none(ks, c.db, argv[1], True)
    if row is None:
        return None
    return S.random_row(ks.cur, row.id, row.len)[1]


# -- SINTER / SUNION / SDIFF -----------------------------------------------------------


def _source_rows(c, keys: list[bytes]) -> list:
    """lookupKeyRead of every key, in order; WRONGTYPE stops at the first bad one."""
    ks = c.server.ks
    out = []
    for k in keys:
        row = ks.lookup_read(c.db, k)
        if row is not None and row.type != SET:
            raise RedisError(WRONGTYPE)
        out.append(row)
    return out


def _inter_order(rows: list) -> tuple[object, list[int]]:
    """Smallest set first (a stable sort, as glibc's qsort is), other distinct ids."""
    ordered = sorted(rows, key=lambda r: r.len)
    first = ordered[0]
    others: list[int] = []
    for r in ordered[1:]:
        if r.id != first.id and r.id not in others:
            others.append(r.id)
    return first, others


def _sinter(c, keys: list[bytes]):
    rows = _source_rows(c, keys)
    if any(r is None for r in rows):
        return RespSet()
    first, others = _inter_order(rows)
    out = S.inter(c.server.ks.cur, first.id, others)
    return RespSet(S.redis_order(out, first.enc))


@command("sinter")
def sinter(c, argv):
    return _sinter(c, argv[1:])


@command("smembers")
def smembers(c, argv):
    ks = c.server.ks
    row = _set_or_none(ks, c.db, argv[1], True)
    if row is None:
        return RespSet()
    return RespSet(S.redis_order(S.members(ks.cur, row.id), row.enc))


@command("sintercard")
def sintercard(c, argv):
    msg = "ERR numkeys should be greater than 0"
    numkeys = to_int(argv[1])
    if numkeys is None or numkeys < 1:
        raise RedisError(msg)
    if numkeys > len(argv) - 2:
        raise RedisError("ERR Number of keys can't be greater than number of args")
    limit = 0
    j = 2 + numkeys
    while j < len(argv):
        if argv[j].lower() == b"limit" and j + 1 < len(argv):
            j += 1
            limit = to_int(argv[j])
            if limit is None or limit < 0:
                raise RedisError("ERR LIMIT can't be negative")
        else:
            raise RedisError(errors.SYNTAX)
        j += 1
    rows = _source_rows(c, argv[2:2 + numkeys])
    if any(r is None for r in rows):
        return 0
    first, others = _inter_order(rows)
    return S.inter_card(c.server.ks.cur, first.id, others, limit)


def _store(c, dst: bytes, op: str, ids: list[int], event: str) -> int:
    """Write the result of ``op`` over ``ids`` into ``dst`` (setKey or dbDelete)."""
    ks = c.server.ks
    cur, conn = ks.cur, ks.engine.conn
    old = ks.lookup(c.db, dst)
    n = 0
    if ids:
        sql, params = S.store_sql(op, ids)
        if old is not None and old.id in ids:
            # dst is also a source: stage the result under a key id no key can have
            staging = -old.id
            n = S.insert_select(cur, conn, staging, sql, params)
            if n:
                row = ks.create(c.db, dst, SET)
                S.move_rows(cur, conn, staging, row.id)
        else:
            row = ks.create(c.db, dst, SET)
            n = S.insert_select(cur, conn, row.id, sql, params)
            if not n:
                ks.delete_row(row)
    if not n:
        if old is not None:
            if ks.lookup(c.db, dst) is not None:
                ks.delete(c.db, dst)
            ks.notify("g", "del", c.db, dst)
        return 0
    cap = S.intset_max(c.server.config)
    enc = 0 if n <= cap and S.all_ints(S.first_members(cur, row.id, n)) else 1
    ks.set_meta(row, length=n, enc=enc)
    ks.notify("s", event, c.db, dst)
    return n


@command("sinterstore")
def sinterstore(c, argv):
    rows = _source_rows(c, argv[2:])
    ids: list[int] = []
    if all(r is not None for r in rows):
        first, others = _inter_order(rows)
        ids = [first.id, *others]
    return _store(c, argv[1], "inter", ids, "sinterstore")


def _union_ids(rows: list) -> list[int]:
    ids: list[int] = []
    for r in rows:
        if r is not None and r.id not in ids:
            ids.append(r.id)
    return ids


def _diff_ids(rows: list) -> list[int]:
    if rows[0] is None:
        return []
    return [rows[0].id] + [r.id for r in rows[1:] if r is not None]


@command("sunion")
def sunion(c, argv):
    ids = _union_ids(_source_rows(c, argv[1:]))
    out = S.union(c.server.ks.cur, ids) if ids else []
    return RespSet(S.result_order(out, c.server.config))


@command("sunionstore")
def sunionstore(c, argv):
    ids = _union_ids(_source_rows(c, argv[2:]))
    return _store(c, argv[1], "union", ids, "sunionstore")


@command("sdiff")
def sdiff(c, argv):
    ids = _diff_ids(_source_rows(c, argv[1:]))
    out = S.diff(c.server.ks.cur, ids[0], ids[1:]) if ids else []
    return RespSet(S.result_order(out, c.server.config))


@command("sdiffstore")
def sdiffstore(c, argv):
    ids = _diff_ids(_source_rows(c, argv[2:]))
    return _store(c, argv[1], "diff", ids, "sdiffstore")


# -- SSCAN ----------------------------------------------------------------------------


def parse_collection_scan(argv: list[bytes], start: int) -> tuple[int, bytes | None]:
    """scanGenericCommand's options for a key's collection: COUNT and MATCH (no TYPE)."""
    count = 10
    pattern: bytes | None = None
    i = start
    n = len(argv)
    while i < n:
        opt = argv[i].lower()
        if opt == b"count" and n - i >= 2:
            v = to_int(argv[i + 1])
            if v is None:
                raise RedisError(errors.NOT_INTEGER)
            if v < 1:
                raise RedisError(errors.SYNTAX)
            count = v
        elif opt == b"match" and n - i >= 2:
            pattern = argv[i + 1]
            if pattern == b"*":
                pattern = None
        else:
            raise RedisError(errors.SYNTAX)
        i += 2
    return count, pattern


EMPTY_SCAN = [b"0", []]


@command("sscan")
def sscan(c, argv):
    cursor = parse_cursor(argv[2])
    ks = c.server.ks
    row = _set_or_none(ks, c.db, argv[1], True)
    if row is None:
        return EMPTY_SCAN
    count, pattern = parse_collection_scan(argv, 3)
    if row.enc == 0:
        nxt, out = 0, S.redis_order(S.members(ks.cur, row.id), 0)
    else:
        nxt, out = S.scan(ks.cur, row.id, cursor, count)
    if pattern is not None:
        match = compile_glob(pattern)
        out = [m for m in out if match(m)]
    return [b"%d" % nxt, out]
