"""Sorted-set commands (t_zset.c), replies byte-identical to Redis 7.0.15.

The SQL lives in ``storage/zsets.py``; here are argument parsing (with
Redis's exact strictness and error texts), reply shapes (RESP2 flat vs RESP3
pairs) and the key bookkeeping: ``KeyRow.len`` and ``KeyRow.enc`` (0 while
Redis would keep a listpack, 1 once it converted to a skiplist; one-way, as in
7.0 for keys modified in place).
"""

from __future__ import annotations

import itertools
import math
import random
import re

from aki import errors
from aki.commands.common import format_float_human, parse_cursor, reply_over_output_limit, to_int
from aki.core.blocking import NOT_READY, manager, may_block, parse_block_timeout
from aki.core.dispatch import rewrite
from aki.core.registry import command
from aki.errors import RedisError
from aki.resp.types import BulkArray, NullArray
from aki.storage import zsets as Z
from aki.storage.keyspace import SET, ZSET, compile_glob

WRONGTYPE = errors.WRONGTYPE
NAN_ERR = "ERR resulting score is not a number (NaN)"
RANGE_NOT_FLOAT = "ERR min or max is not a float"
LEX_NOT_VALID = "ERR min or max not valid string range item"
LONG_MAX = 2**63 - 1

# -- number parsing ----------------------------------------------------------------------

_SPACE = b" \t\n\v\f\r"
_BAD_CHARS = re.compile(rb"[\s_\x00]")
_HEX = re.compile(rb"[+-]?0[xX]([0-9a-fA-F]*)\.?([0-9a-fA-F]*)(?:[pP][+-]?[0-9]+)?\Z")


def _text_to_float(s: bytes) -> float | None:
    """strtod over the whole of ``s`` (already free of spaces/NULs), or None."""
    try:
        return float(s)
    except ValueError:
        pass
    m = _HEX.match(s)
    if m is None or not (m.group(1) or m.group(2)):
        return None
    try:
        return float.fromhex(s.decode())
    except OverflowError:
        return math.inf if not s.startswith(b"-") else -math.inf
    except ValueError:
        return None


def _zero_mantissa(s: bytes) -> bool:
    m = _HEX.match(s)
    if m is not None:
        return not (m.group(1) + m.group(2)).strip(b"0")
    mant = re.split(rb"[eE]", s, maxsplit=1)[0]
    return not any(ch in b"123456789" for ch in mant)


def string2d(b: bytes) -> float | None:
    """Redis string2d (scores, increments, weights): the whole string, no leading
    space, no NaN, no overflow to infinity, no underflow to zero."""
    if len(b) < 300 and b.isdigit():
        return float(b)  # plain ASCII digits: exact, no overflow, no underflow
    if not b or _BAD_CHARS.search(b):
        return None
    v = _text_to_float(b)
    if v is None or v != v:
        return None
    if math.isinf(v) and b"inf" not in b.lower():
        return None
    if v == 0.0 and not _zero_mantissa(b):
        return None
    return v


_INF_WORDS = {b"+inf": math.inf, b"-inf": -math.inf, b"inf": math.inf}


def _strtod(b: bytes) -> float | None:
    """``strtod(s, &eptr)`` with ``*eptr == '\\0'`` required (zslParseRange): leading
    spaces allowed, stops at a NUL byte, an empty string is 0, NaN refused."""
    if len(b) < 300 and b.isdigit():
        return float(b)
    v = _INF_WORDS.get(b)
    if v is not None:
        return v
    nul = b.find(b"\x00")
    if nul >= 0:
        b = b[:nul]
    if not b:
        return 0.0
    s = b.lstrip(_SPACE)
    if not s or _BAD_CHARS.search(s):
        return None
    v = _text_to_float(s)
    if v is None or v != v:
        return None
    return v


def parse_score(b: bytes, message: str = errors.NOT_FLOAT) -> float:
    v = string2d(b)
    if v is None:
        raise RedisError(message)
    return v


def parse_score_range(bmin: bytes, bmax: bytes) -> tuple[Z.ScoreBound, Z.ScoreBound]:
    out = []
    for b in (bmin, bmax):
        ex = b[:1] == b"("
        v = _strtod(b[1:] if ex else b)
        if v is None:
            raise RedisError(RANGE_NOT_FLOAT)
        out.append((v, ex))
    return out[0], out[1]


_EMPTY = object()


def _lex_item(b: bytes, is_min: bool):
    """zslParseLexRangeItem: None = unbounded this side, _EMPTY = nothing can match."""
    c0 = b[:1]
    if c0 == b"+" or c0 == b"-":
        if len(b) > 1 and b[1] != 0:
            raise RedisError(LEX_NOT_VALID)
        if (c0 == b"-") == is_min:
            return None
        return _EMPTY
    if c0 == b"(":
        return (b[1:], True)
    if c0 == b"[":
        return (b[1:], False)
    raise RedisError(LEX_NOT_VALID)


def parse_lex_range(bmin: bytes, bmax: bytes):
    """(lo, hi) or None when the range is empty by construction (min '+' or max '-')."""
    lo = _lex_item(bmin, True)
    hi = _lex_item(bmax, False)
    if lo is _EMPTY or hi is _EMPTY:
        return None
    return lo, hi


def _long(b: bytes, message: str = errors.NOT_INTEGER) -> int:
    v = to_int(b)
    if v is None:
        raise RedisError(message)
    return v


def _range_long(b: bytes, lo: int, hi: int, message: str | None = None) -> int:
    """getRangeLongFromObjectOrReply."""
    v = to_int(b)
    if v is None:
        raise RedisError(message or errors.NOT_INTEGER)
    if v < lo or v > hi:
        raise RedisError(message or f"ERR value is out of range, value must between {lo} and {hi}")
    return v


# -- helpers -----------------------------------------------------------------------------


def _read(c, key: bytes):
    row = c.server.ks.lookup_read(c.db, key)
    if row is not None and row.type != ZSET:
        raise RedisError(WRONGTYPE)
    return row


def _write(c, key: bytes):
    row = c.server.ks.lookup(c.db, key)
    if row is not None and row.type != ZSET:
        raise RedisError(WRONGTYPE)
    return row


def _limits(c) -> tuple[int, int]:
    cfg = c.server.config
    return cfg.zset_max_listpack_entries, cfg.zset_max_listpack_value


def _dest_enc(c, n: int, longest: int) -> int:
    entries, value = _limits(c)
    return 0 if n <= entries and longest <= value else 1


def _pairs(c, rows, withscores: bool) -> list:
    """A range reply: members, or member/score flat (RESP2) or as pairs (RESP3)."""
    if not withscores:
        return [m for m, _ in rows]
    if c.resp == 3:
        return [[m, s] for m, s in rows]
    return [x for row in rows for x in row]


def _after_delete(c, row, deleted: int, event: str) -> None:
    """Shrink ``row`` by ``deleted`` members, deleting the key when it empties."""
    if not deleted:
        return
    ks = c.server.ks
    n = row.len - deleted
    ks.set_len(row, n)
    ks.notify("z", event, c.db, row.key)
    if n <= 0:
        ks.notify("g", "del", c.db, row.key)


# -- ZADD / ZINCRBY ----------------------------------------------------------------------

_ZADD_OPTS = {b"nx": 1, b"xx": 2, b"ch": 4, b"incr": 8, b"gt": 16, b"lt": 32}


def _zadd(c, argv, flags: int):
    idx = 2
    n = len(argv)
    while idx < n:
        f = _ZADD_OPTS.get(argv[idx].lower())
        if f is None:
            break
        flags |= f
        idx += 1
    if not flags and n == idx + 2:
        return _zadd_one(c, argv[1], parse_score(argv[idx]), argv[idx + 1])
    nx, xx, ch, incr, gt, lt = (bool(flags & b) for b in (1, 2, 4, 8, 16, 32))
    elements = n - idx
    if elements % 2 or not elements:
        raise RedisError(errors.SYNTAX)
    elements //= 2
    if nx and xx:
        raise RedisError("ERR XX and NX options at the same time are not compatible")
    if (gt and nx) or (lt and nx) or (gt and lt):
        raise RedisError("ERR GT, LT, and/or NX options at the same time are not compatible")
    if incr and elements > 1:
        raise RedisError("ERR INCR option supports a single increment-element pair")
    scores = [parse_score(argv[idx + 2 * j]) for j in range(elements)]
    ks = c.server.ks
    key = argv[1]
    row = _write(c, key)
    if row is None:
        if xx:
            return None if incr else 0
        row = ks.create(c.db, key, ZSET)
    cur = ks.cur
    kid = row.id
    members = argv[idx + 1::2]
    # Present scores in one statement; the members are then applied in order against
    # this dict (a member may repeat) and the net changes written in two batches.
    if row.len == 0:
        present: dict[bytes, float] = {}
    elif elements == 1:
        old = Z.score(cur, kid, members[0])
        present = {} if old is None else {members[0]: old}
    else:
        present = Z.scores_many(cur, kid, list(set(members)))
    state = dict(present)
    writes: dict[bytes, float] = {}
    entries, maxval = _limits(c)
    length = row.len
    enc = row.enc
    added = updated = processed = 0
    result = 0.0
    error = None
    for j in range(elements):
        s = scores[j]
        member = members[j]
        old = state.get(member)
        if old is not None:
            if nx:
                continue
            if incr:
                s += old
                if s != s:
                    error = NAN_ERR
                    break
            if (lt and s >= old) or (gt and s <= old):
                continue
            if s != old:
                state[member] = writes[member] = s
                updated += 1
        elif not xx:
            if not enc and (length + 1 > entries or len(member) > maxval):
                enc = 1
            state[member] = writes[member] = s
            length += 1
            added += 1
        else:
            continue
        processed += 1
        result = s
    if writes:
        Z.write_many(cur, kid, [(m, v) for m, v in writes.items() if m not in present],
                     [(m, v) for m, v in writes.items() if m in present])
    if added or enc != row.enc:
        ks.set_meta(row, length=length, enc=enc)
    elif updated:
        ks.touch(c.db, key)
    elif row.len == 0:
        ks.delete_row(row)  # created for an INCR that failed: Redis never keeps it empty
    if added or updated:
        ks.notify("z", "zincr" if incr else "zadd", c.db, key)
    if error is not None:
        raise RedisError(error)
    if incr:
        return result if processed else None
    return added + updated if ch else added


def _zadd_one(c, key: bytes, s: float, member: bytes) -> int:
    """ZADD key score member without options (the common case): the member's row is
    inserted, or its score updated when it differs, by at most two statements and
    without reading the old score first."""
    ks = c.server.ks
    row = _write(c, key)
    if row is None:
        row = ks.create(c.db, key, ZSET)
    length = row.len
    if length == 0:
        Z.insert(ks.cur, row.id, member, s)
        added = True
    else:
        added = Z.insert_or_update(ks.engine.conn, ks.cur, row.id, member, s)
        if added is None:
            return 0  # present with this score: no write, no event
    if added:
        enc = row.enc
        if not enc:
            entries, maxval = _limits(c)
            if length + 1 > entries or len(member) > maxval:
                enc = 1
        if enc != row.enc:
            ks.set_meta(row, length=length + 1, enc=enc)
        else:
            ks.set_len(row, length + 1)
    else:
        ks.touch(c.db, key)
    ks.notify("z", "zadd", c.db, key)
    return 1 if added else 0


@command("zadd", cache_only=True)
def zadd(c, argv):
    return _zadd(c, argv, 0)


@command("zincrby")
def zincrby(c, argv):
    return _zadd(c, argv, 8)


@command("zrem")
def zrem(c, argv):
    row = _write(c, argv[1])
    if row is None:
        return 0
    ks = c.server.ks
    conn = ks.engine.conn
    deleted = 0
    for member in argv[2:]:
        if Z.delete(conn, ks.cur, row.id, member):
            deleted += 1
            if deleted == row.len:
                break
    _after_delete(c, row, deleted, "zrem")
    return deleted


# -- reads -------------------------------------------------------------------------------


@command("zcard", cache_only=True)
def zcard(c, argv):
    row = _read(c, argv[1])
    return 0 if row is None else row.len


@command("zscore", cache_only=True)
def zscore(c, argv):
    row = _read(c, argv[1])
    if row is None:
        return None
    return Z.score(c.server.ks.cur, row.id, argv[2])


@command("zmscore")
def zmscore(c, argv):
    row = _read(c, argv[1])
    if row is None:
        return [None] * (len(argv) - 2)
    cur = c.server.ks.cur
    return [Z.score(cur, row.id, m) for m in argv[2:]]


def _zrank(c, argv, reverse: bool):
    row = _read(c, argv[1])
    if row is None:
        return None
    cur = c.server.ks.cur
    s = Z.score(cur, row.id, argv[2])
    if s is None:
        return None
    r = Z.rank(cur, row.id, argv[2], s)
    return row.len - 1 - r if reverse else r


@command("zrank")
def zrank(c, argv):
    return _zrank(c, argv, False)


@command("zrevrank")
def zrevrank(c, argv):
    return _zrank(c, argv, True)


@command("zcount")
def zcount(c, argv):
    lo, hi = parse_score_range(argv[2], argv[3])
    row = _read(c, argv[1])
    if row is None:
        return 0
    return Z.count_score(c.server.ks.cur, row.id, lo, hi)


@command("zlexcount")
def zlexcount(c, argv):
    rng = parse_lex_range(argv[2], argv[3])
    row = _read(c, argv[1])
    if row is None or rng is None:
        return 0
    return Z.count_lex(c.server.ks.cur, row.id, rng[0], rng[1])


# -- ZRANGE and friends ------------------------------------------------------------------

RANK, SCORE, LEX = 1, 2, 3


def _rank_rows(cur, row, start: int, end: int, rev: bool, wire: bool = False):
    """Rows for ranks [start, end] (sanitized); the OFFSET is taken from the nearer end.
    ``wire``: the members alone, as reply bytes built by SQLite, when read in reply order."""
    llen = row.len
    if start < 0:
        start += llen
    if end < 0:
        end += llen
    if start < 0:
        start = 0
    if start > end or start >= llen:
        return []
    if end >= llen:
        end = llen - 1
    count = end - start + 1
    if start > llen - 1 - end:
        rows = Z.range_rank(cur, row.id, llen - 1 - end, count, not rev)
        rows.reverse()
        return rows
    if wire:
        return Z.range_rank_wire(cur, row.id, start, count, rev)
    return Z.range_rank(cur, row.id, start, count, rev)


def _zrange(c, argv, start_idx: int, store: bool, rangetype: int = 0, rev: bool | None = None):
    """zrangeGenericCommand: ZRANGE/ZRANGESTORE and the older Z[REV]RANGE[BYSCORE|BYLEX]."""
    withscores = False
    offset, limit = 0, -1
    n = len(argv)
    j = start_idx + 3
    auto_dir = rev is None
    while j < n:
        opt = argv[j].lower()
        left = n - j - 1
        if not store and opt == b"withscores":
            withscores = True
        elif opt == b"limit" and left >= 2:
            offset = _long(argv[j + 1])
            limit = _long(argv[j + 2])
            j += 2
        elif auto_dir and opt == b"rev":
            rev = True
        elif rangetype == 0 and opt == b"bylex":
            rangetype = LEX
        elif rangetype == 0 and opt == b"byscore":
            rangetype = SCORE
        else:
            raise RedisError(errors.SYNTAX)
        j += 1
    rev = bool(rev)
    rangetype = rangetype or RANK
    if limit != -1 and rangetype == RANK:
        raise RedisError("ERR syntax error, LIMIT is only supported in combination with "
                         "either BYSCORE or BYLEX")
    if withscores and rangetype == LEX:
        raise RedisError("ERR syntax error, WITHSCORES not supported in combination with BYLEX")
    amin, amax = argv[start_idx + 1], argv[start_idx + 2]
    if rev and rangetype != RANK:
        amin, amax = amax, amin
    if rangetype == RANK:
        start, end = _long(amin), _long(amax)
    elif rangetype == SCORE:
        lo, hi = parse_score_range(amin, amax)
    else:
        lex = parse_lex_range(amin, amax)
    row = _read(c, argv[start_idx])
    if row is None:
        rows: list = []
    else:
        cur = c.server.ks.cur
        if rangetype == RANK:
            rows = _rank_rows(cur, row, start, end, rev, not (withscores or store))
            if type(rows) is BulkArray:
                return rows
        elif offset < 0 or limit == 0 or (offset > 0 and offset >= row.len):
            rows = []
        elif rangetype == SCORE:
            if not (withscores or store):  # the reply's wire bytes, built by SQLite
                return Z.range_score_wire(cur, row.id, lo, hi, rev, offset, limit)
            rows = Z.range_score(cur, row.id, lo, hi, rev, offset, limit)
        elif lex is None:
            rows = []
        else:
            rows = Z.range_lex(cur, row.id, lex[0], lex[1], rev, offset, limit)
    if store:
        return _store_rows(c, argv[1], rows, "zrangestore")
    return _pairs(c, rows, withscores)


def _store_rows(c, dst: bytes, rows: list, event: str) -> int:
    ks = c.server.ks
    if not rows:
        if ks.delete(c.db, dst):
            ks.notify("g", "del", c.db, dst)
        return 0
    cur = ks.cur
    longest = max(len(m) for m, _ in rows)
    new = ks.create(c.db, dst, ZSET)
    cur.executemany("INSERT INTO zset_members (key_id, member, score) VALUES (?, ?, ?)",
                    [(new.id, m, s) for m, s in rows])
    ks.set_meta(new, length=len(rows), enc=_dest_enc(c, len(rows), longest))
    ks.notify("z", event, c.db, dst)
    return len(rows)


@command("zrange", cache_only=True)
def zrange(c, argv):
    return _zrange(c, argv, 1, False)


@command("zrangestore")
def zrangestore(c, argv):
    return _zrange(c, argv, 2, True)


@command("zrevrange")
def zrevrange(c, argv):
    return _zrange(c, argv, 1, False, RANK, True)


@command("zrangebyscore", cache_only=True)
def zrangebyscore(c, argv):
    return _zrange(c, argv, 1, False, SCORE, False)


@command("zrevrangebyscore")
def zrevrangebyscore(c, argv):
    return _zrange(c, argv, 1, False, SCORE, True)


@command("zrangebylex")
def zrangebylex(c, argv):
    return _zrange(c, argv, 1, False, LEX, False)


@command("zrevrangebylex")
def zrevrangebylex(c, argv):
    return _zrange(c, argv, 1, False, LEX, True)


# -- ZREMRANGEBY* ------------------------------------------------------------------------


@command("zremrangebyrank")
def zremrangebyrank(c, argv):
    start, end = _long(argv[2]), _long(argv[3])
    row = _write(c, argv[1])
    if row is None:
        return 0
    llen = row.len
    if start < 0:
        start += llen
    if end < 0:
        end += llen
    if start < 0:
        start = 0
    if start > end or start >= llen:
        return 0
    if end >= llen:
        end = llen - 1
    ks = c.server.ks
    deleted = Z.delete_rank(ks.engine.conn, ks.cur, row.id, start, end - start + 1)
    _after_delete(c, row, deleted, "zremrangebyrank")
    return deleted


@command("zremrangebyscore")
def zremrangebyscore(c, argv):
    lo, hi = parse_score_range(argv[2], argv[3])
    row = _write(c, argv[1])
    if row is None:
        return 0
    ks = c.server.ks
    deleted = Z.delete_score(ks.engine.conn, ks.cur, row.id, lo, hi)
    _after_delete(c, row, deleted, "zremrangebyscore")
    return deleted


@command("zremrangebylex")
def zremrangebylex(c, argv):
    rng = parse_lex_range(argv[2], argv[3])
    row = _write(c, argv[1])
    if row is None or rng is None:
        return 0
    ks = c.server.ks
    deleted = Z.delete_lex(ks.engine.conn, ks.cur, row.id, rng[0], rng[1])
    _after_delete(c, row, deleted, "zremrangebylex")
    return deleted


# -- pops --------------------------------------------------------------------------------


def pop_rows(c, row, count: int, highest: bool) -> list:
    """Pop up to ``count`` members of ``row`` (a live zset), with events and key deletion."""
    ks = c.server.ks
    rows = Z.pop(ks.engine.conn, ks.cur, row.id, count, highest)
    if rows:
        _after_delete(c, row, len(rows), "zpopmax" if highest else "zpopmin")
    return rows


def _zpop(c, argv, highest: bool):
    if len(argv) > 3:
        raise RedisError(errors.SYNTAX)
    count = -1
    if len(argv) == 3:
        count = _range_long(argv[2], 0, LONG_MAX, "ERR value is out of range, must be positive")
    row = _write(c, argv[1])
    if row is None or count == 0:
        return []
    rows = pop_rows(c, row, 1 if count == -1 else count, highest)
    if c.resp == 3 and count != -1:
        return [[m, s] for m, s in rows]
    return [x for r in rows for x in r]


@command("zpopmin")
def zpopmin(c, argv):
    return _zpop(c, argv, False)


@command("zpopmax")
def zpopmax(c, argv):
    return _zpop(c, argv, True)


def parse_mpop(argv, numkeys_idx: int) -> tuple[list[bytes], bool, int]:
    """ZMPOP/BZMPOP arguments: (keys, highest, count)."""
    numkeys = _range_long(argv[numkeys_idx], 1, LONG_MAX, "ERR numkeys should be greater than 0")
    where_idx = numkeys_idx + numkeys + 1
    if where_idx >= len(argv):
        raise RedisError(errors.SYNTAX)
    where = argv[where_idx].lower()
    if where not in (b"min", b"max"):
        raise RedisError(errors.SYNTAX)
    count = -1
    j = where_idx + 1
    while j < len(argv):
        if count == -1 and argv[j].lower() == b"count" and j + 1 < len(argv):
            count = _range_long(argv[j + 1], 1, LONG_MAX, "ERR count should be greater than 0")
            j += 2
        else:
            raise RedisError(errors.SYNTAX)
    return argv[numkeys_idx + 1:where_idx], where == b"max", 1 if count == -1 else count


def mpop_from(c, key: bytes, row, highest: bool, count: int) -> list:
    """Pop from one key for ZMPOP/BZMPOP: reply [key, [[m, s]...]], propagated as ZPOP*."""
    n = min(count, row.len)
    rows = pop_rows(c, row, count, highest)
    rewrite(c.server, c.db, [b"ZPOPMAX" if highest else b"ZPOPMIN", key, b"%d" % n])
    return [key, [[m, s] for m, s in rows]]


@command("zmpop")
def zmpop(c, argv):
    keys, highest, count = parse_mpop(argv, 1)
    for key in keys:
        row = _write(c, key)
        if row is not None:
            return mpop_from(c, key, row, highest, count)
    return NullArray


# -- blocking: BZPOPMIN BZPOPMAX BZMPOP -------------------------------------------------


def _bzpop_reply(c, key: bytes, row, highest: bool, count: int):
    """Pop for a blocking command (now or when served) and propagate it as ZPOP*."""
    if count != -1:
        return mpop_from(c, key, row, highest, count)
    m, s = pop_rows(c, row, 1, highest)[0]
    rewrite(c.server, c.db, [b"ZPOPMAX" if highest else b"ZPOPMIN", key])
    return [key, m, s]


def _blocking_zpop(c, keys: list[bytes], highest: bool, timeout_arg: bytes, count: int):
    """blockingGenericZpopCommand: count -1 is BZPOPMIN/BZPOPMAX, else BZMPOP."""
    timeout = parse_block_timeout(timeout_arg)
    for key in keys:
        row = _write(c, key)
        if row is None or not row.len:
            continue
        return _bzpop_reply(c, key, row, highest, count)
    if not may_block(c):
        return NullArray
    ks = c.server.ks

    def retry(key: bytes):
        row = ks.lookup(c.db, key)
        if row is None or row.type != ZSET or not row.len:
            return NOT_READY
        return _bzpop_reply(c, key, row, highest, count)

    return manager(c.server).block(c, list(keys), timeout, retry, kind="zset")


@command("bzpopmin")
def bzpopmin(c, argv):
    return _blocking_zpop(c, argv[1:-1], False, argv[-1], -1)


@command("bzpopmax")
def bzpopmax(c, argv):
    return _blocking_zpop(c, argv[1:-1], True, argv[-1], -1)


@command("bzmpop")
def bzmpop(c, argv):
    keys, highest, count = parse_mpop(argv, 2)
    return _blocking_zpop(c, keys, highest, argv[1], count)


# -- ZRANDMEMBER -------------------------------------------------------------------------


def _random_rows(cur, row, offsets: list[int]) -> list:
    """Rows at the given offsets (any order, repeats allowed), in that order."""
    found = Z.at_offsets(cur, row.id, sorted(set(offsets)))
    return [found[o] for o in offsets if o in found]


@command("zrandmember")
def zrandmember(c, argv):
    n = len(argv)
    if n >= 3:
        count = _range_long(argv[2], -LONG_MAX, LONG_MAX)
        withscores = False
        if n > 4 or (n == 4 and argv[3].lower() != b"withscores"):
            raise RedisError(errors.SYNTAX)
        if n == 4:
            withscores = True
            if count < -LONG_MAX // 2 or count > LONG_MAX // 2:
                raise RedisError("ERR value is out of range")
        return _zrandmember_count(c, argv[1], count, withscores)
    row = _read(c, argv[1])
    if row is None:
        return None
    rows = _random_rows(c.server.ks.cur, row, [random.randrange(row.len)])
    return rows[0][0] if rows else None


def _zrandmember_count(c, key: bytes, count: int, withscores: bool):
    row = _read(c, key)
    if row is None or count == 0:
        return []
    cur = c.server.ks.cur
    size = row.len
    if count < 0 or count == 1:
        # Sampling with repetition: |count| independent draws.
        k = -count if count < 0 else 1
        if reply_over_output_limit(c, k * (2 if withscores else 1)):
            return []  # the client is being closed: nothing is sent
        rows = _random_rows(cur, row, [random.randrange(size) for _ in range(k)])
    elif count >= size:
        rows = Z.all_rows(cur, row.id)
        rows.reverse()  # Redis's zset iterator (zuiNext) walks from the tail
    else:
        rows = _random_rows(cur, row, random.sample(range(size), count))
    return _pairs(c, rows, withscores)


# -- ZUNION / ZINTER / ZDIFF -------------------------------------------------------------

UNION, INTER, DIFF = 0, 1, 2
_STORE_EVENT = {UNION: "zunionstore", INTER: "zinterstore", DIFF: "zdiffstore"}


def _setop(c, argv, dst: bytes | None, numkeys_idx: int, op: int, card_only: bool = False):
    setnum = _long(argv[numkeys_idx])
    if setnum < 1:
        raise RedisError(f"ERR at least 1 input key is needed for '{argv[0].lower().decode()}' "
                         "command")
    n = len(argv)
    if setnum > n - (numkeys_idx + 1):
        raise RedisError(errors.SYNTAX)
    ks = c.server.ks
    srcs = []  # [length, key_id, is_set, weight]
    j = numkeys_idx + 1
    for _ in range(setnum):
        row = ks.lookup_read(c.db, argv[j])
        if row is None:
            srcs.append([0, None, False, 1.0])
        elif row.type == ZSET or row.type == SET:
            srcs.append([row.len, row.id, row.type == SET, 1.0])
        else:
            raise RedisError(WRONGTYPE)
        j += 1
    agg = "sum"
    withscores = False
    limit = 0
    while j < n:
        remaining = n - j
        opt = argv[j].lower()
        if op != DIFF and not card_only and remaining >= setnum + 1 and opt == b"weights":
            j += 1
            for src in srcs:
                src[3] = parse_score(argv[j], "ERR weight value is not a float")
                j += 1
        elif op != DIFF and not card_only and remaining >= 2 and opt == b"aggregate":
            a = argv[j + 1].lower()
            if a not in (b"sum", b"min", b"max"):
                raise RedisError(errors.SYNTAX)
            agg = a.decode()
            j += 2
        elif dst is None and not card_only and opt == b"withscores":
            withscores = True
            j += 1
        elif card_only and remaining >= 2 and opt == b"limit":
            limit = _range_long(argv[j + 1], 0, LONG_MAX, "ERR LIMIT can't be negative")
            j += 2
        else:
            raise RedisError(errors.SYNTAX)
    cur = ks.cur
    if op != DIFF:
        srcs.sort(key=lambda s: s[0])  # stable, like glibc's merge-sort qsort
    if card_only:
        if srcs[0][0] == 0:
            return 0
        return Z.inter_card(cur, (srcs[0][1], srcs[0][2]),
                            [(s[1], s[2]) for s in srcs[1:]], limit)
    Z.work_reset(cur)
    if op == INTER:
        if srcs[0][0] > 0:
            first = srcs[0]
            Z.work_fill(cur, first[1], first[2], first[3])
            for s in srcs[1:]:
                Z.work_intersect(cur, s[1], s[2], s[3], agg)
    elif op == UNION:
        for s in srcs:
            if s[0]:
                Z.work_union_add(cur, s[1], s[2], s[3], agg)
    elif srcs[0][0]:
        Z.work_diff(cur, (srcs[0][1], srcs[0][2]), [(s[1], s[2]) for s in srcs[1:] if s[0]])
    if dst is None:
        return _pairs(c, Z.work_rows(cur), withscores)
    count, longest = Z.work_stats(cur)
    if not count:
        if ks.delete(c.db, dst):
            ks.notify("g", "del", c.db, dst)
        return 0
    new = ks.create(c.db, dst, ZSET)
    Z.work_store(cur, new.id)
    ks.set_meta(new, length=count, enc=_dest_enc(c, count, longest))
    ks.notify("z", _STORE_EVENT[op], c.db, dst)
    return count


@command("zunion")
def zunion(c, argv):
    return _setop(c, argv, None, 1, UNION)


@command("zinter")
def zinter(c, argv):
    return _setop(c, argv, None, 1, INTER)


@command("zdiff")
def zdiff(c, argv):
    return _setop(c, argv, None, 1, DIFF)


@command("zunionstore")
def zunionstore(c, argv):
    return _setop(c, argv, argv[1], 2, UNION)


@command("zinterstore")
def zinterstore(c, argv):
    return _setop(c, argv, argv[1], 2, INTER)


@command("zdiffstore")
def zdiffstore(c, argv):
    return _setop(c, argv, argv[1], 2, DIFF)


@command("zintercard")
def zintercard(c, argv):
    return _setop(c, argv, None, 1, INTER, True)


# -- ZSCAN -------------------------------------------------------------------------------

_LL_HALF = float((2**63 - 1) // 2)


def d2string(v: float) -> bytes:
    """Redis d2string: integral values within +-LLONG_MAX/2 print as integers."""
    if v == 0.0:
        return b"-0" if math.copysign(1.0, v) < 0 else b"0"
    if -_LL_HALF <= v <= _LL_HALF and v == int(v):
        return b"%d" % int(v)
    return format_float_human(v)

# Big-key cursors: number -> (key id, last member returned). Bounded; an unknown
# cursor restarts the iteration (every element is still returned at least once).
_CURSORS: dict[int, tuple[int, bytes]] = {}
_CURSOR_MAX = 65536
_cursor_ids = itertools.count(random.randrange(1 << 20, 1 << 40))


@command("zscan")
def zscan(c, argv):
    cursor = parse_cursor(argv[2])
    row = _read(c, argv[1])
    if row is None:
        return [b"0", []]
    count = 10
    pattern: bytes | None = None
    j, n = 3, len(argv)
    while j < n:
        opt = argv[j].lower()
        if opt == b"count" and n - j >= 2:
            count = _long(argv[j + 1])
            if count < 1:
                raise RedisError(errors.SYNTAX)
        elif opt == b"match" and n - j >= 2:
            pattern = argv[j + 1] if argv[j + 1] != b"*" else None
        else:
            raise RedisError(errors.SYNTAX)
        j += 2
    cur = c.server.ks.cur
    if row.enc == 0:
        rows = Z.all_rows(cur, row.id)
        nxt = 0
    else:
        state = _CURSORS.pop(cursor, None) if cursor else None
        after = state[1] if state is not None and state[0] == row.id else None
        rows = Z.scan_after(cur, row.id, after, count)
        nxt = 0
        if len(rows) == count:
            nxt = next(_cursor_ids)
            if len(_CURSORS) >= _CURSOR_MAX:
                del _CURSORS[next(iter(_CURSORS))]
            _CURSORS[nxt] = (row.id, rows[-1][0])
    match = compile_glob(pattern) if pattern is not None else None
    # A listpack holds scores as d2string text; a skiplist's are printed with %.17Lg.
    fmt = d2string if row.enc == 0 else format_float_human
    out: list = []
    for m, s in rows:
        if match is None or match(m):
            out.append(m)
            out.append(fmt(s))
    return [b"%d" % nxt, out]
