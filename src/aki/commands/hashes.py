"""Hash commands (t_hash.c). The SQL lives in storage/hashes.py."""

from __future__ import annotations

from fractions import Fraction

from aki import errors
from aki.commands.common import (
    INT64_MAX,
    INT64_MIN,
    ld_add,
    ld_human,
    parse_cursor,
    reply_over_output_limit,
    strtold,
    to_int,
)
from aki.commands.sets import EMPTY_SCAN, parse_collection_scan
from aki.core.dispatch import rewrite
from aki.core.registry import command
from aki.errors import RedisError
from aki.resp.types import OK
from aki.storage import hashes as H
from aki.storage.keyspace import HASH, compile_glob

WRONGTYPE = errors.WRONGTYPE
LONG_MAX = 2**63 - 1
NAN_OR_INF = "ERR increment would produce NaN or Infinity"


def _hash_or_none(ks, db: int, key: bytes, read: bool = False):
    row = ks.lookup_read(db, key) if read else ks.lookup(db, key)
    if row is not None and row.type != HASH:
        raise RedisError(WRONGTYPE)
    return row


def _set_fields(c, key: bytes, row, pairs: list[tuple[bytes, bytes]]) -> int:
    """hashTypeLookupWriteOrCreate + hashTypeTryConversion + hashTypeSet for each pair.
    Returns how many fields were created."""
    ks = c.server.ks
    if row is None:
        row = ks.create(c.db, key, HASH)
    cfg = c.server.config
    enc = row.enc
    if enc == 0:
        maxv = cfg.hash_max_listpack_value
        for f, v in pairs:
            if len(f) > maxv or len(v) > maxv:
                enc = 1
                break
    if len(pairs) == 1:
        created = int(H.put(ks.cur, row.id, pairs[0][0], pairs[0][1], row.head))
    else:
        created = H.put_many(ks.cur, row.id, pairs, row.head)
    n = row.len + created
    if enc == 0 and n > cfg.hash_max_listpack_entries:
        enc = 1
    if created or enc != row.enc:
        ks.set_meta(row, length=n, head=row.head + created, enc=enc)
    else:
        ks.touch(c.db, key)
    return created


def _hset(c, argv, name: str):
    if len(argv) % 2:
        raise RedisError(f"ERR wrong number of arguments for '{name}' command")
    key = argv[1]
    row = _hash_or_none(c.server.ks, c.db, key)
    pairs = [(argv[i], argv[i + 1]) for i in range(2, len(argv), 2)]
    created = _set_fields(c, key, row, pairs)
    c.server.ks.notify("h", "hset", c.db, key)
    return created


@command("hset", cache_only=True)
def hset(c, argv):
    return _hset(c, argv, "hset")


@command("hmset")
def hmset(c, argv):
    _hset(c, argv, "hmset")
    return OK


@command("hsetnx")
def hsetnx(c, argv):
    ks = c.server.ks
    key = argv[1]
    row = _hash_or_none(ks, c.db, key)
    if row is not None and H.get(ks.cur, row.id, argv[2]) is not None:
        return 0
    _set_fields(c, key, row, [(argv[2], argv[3])])
    ks.notify("h", "hset", c.db, key)
    return 1


@command("hget", cache_only=True)
def hget(c, argv):
    ks = c.server.ks
    row = ks.lookup_read(c.db, argv[1])
    if row is None:
        return None
    if row.type != HASH:
        raise RedisError(WRONGTYPE)
    return H.get(ks.cur, row.id, argv[2])


@command("hmget")
def hmget(c, argv):
    ks = c.server.ks
    row = _hash_or_none(ks, c.db, argv[1], True)
    if row is None:
        return [None] * (len(argv) - 2)
    cur, kid = ks.cur, row.id
    return [H.get(cur, kid, f) for f in argv[2:]]


@command("hdel")
def hdel(c, argv):
    ks = c.server.ks
    key = argv[1]
    row = _hash_or_none(ks, c.db, key)
    if row is None:
        return 0
    deleted = H.delete(ks.cur, ks.engine.conn, row.id, argv[2:])
    if deleted:
        ks.set_len(row, row.len - deleted)
        ks.notify("h", "hdel", c.db, key)
        if row.len == 0:
            ks.notify("g", "del", c.db, key)
    return deleted


@command("hlen", cache_only=True)
def hlen(c, argv):
    row = _hash_or_none(c.server.ks, c.db, argv[1], True)
    return row.len if row is not None else 0


@command("hstrlen")
def hstrlen(c, argv):
    ks = c.server.ks
    row = _hash_or_none(ks, c.db, argv[1], True)
    return H.strlen(ks.cur, row.id, argv[2]) if row is not None else 0


@command("hexists")
def hexists(c, argv):
    ks = c.server.ks
    row = _hash_or_none(ks, c.db, argv[1], True)
    if row is None:
        return 0
    return int(H.get(ks.cur, row.id, argv[2]) is not None)


@command("hkeys")
def hkeys(c, argv):
    ks = c.server.ks
    row = _hash_or_none(ks, c.db, argv[1], True)
    if row is None:
        return []
    return [f for (f,) in H.items(ks.cur, row.id, row.enc, "field")]


@command("hvals")
def hvals(c, argv):
    ks = c.server.ks
    row = _hash_or_none(ks, c.db, argv[1], True)
    if row is None:
        return []
    return [v for (v,) in H.items(ks.cur, row.id, row.enc, "value")]


@command("hgetall")
def hgetall(c, argv):
    ks = c.server.ks
    row = _hash_or_none(ks, c.db, argv[1], True)
    if row is None:
        return {}
    return dict(H.items(ks.cur, row.id, row.enc))


# -- increments ---------------------------------------------------------------------------


@command("hincrby")
def hincrby(c, argv):
    incr = to_int(argv[3])
    if incr is None:
        raise RedisError(errors.NOT_INTEGER)
    ks = c.server.ks
    key, field = argv[1], argv[2]
    row = _hash_or_none(ks, c.db, key)
    old = H.get(ks.cur, row.id, field) if row is not None else None
    if old is None:
        value = 0
    else:
        value = to_int(old)
        if value is None:
            raise RedisError("ERR hash value is not an integer")
    if (incr < 0 and value < 0 and incr < INT64_MIN - value) or \
            (incr > 0 and value > 0 and incr > INT64_MAX - value):
        raise RedisError("ERR increment or decrement would overflow")
    value += incr
    _set_fields(c, key, row, [(field, b"%d" % value)])
    ks.notify("h", "hincrby", c.db, key)
    return value


@command("hincrbyfloat")
def hincrbyfloat(c, argv):
    incr = strtold(argv[3])
    if incr is None:
        raise RedisError(errors.NOT_FLOAT)
    if not isinstance(incr, Fraction):
        raise RedisError("ERR value is NaN or Infinity")
    ks = c.server.ks
    key, field = argv[1], argv[2]
    row = _hash_or_none(ks, c.db, key)
    old = H.get(ks.cur, row.id, field) if row is not None else None
    if old is None:
        value: Fraction | float = Fraction(0)
    else:
        parsed = strtold(old)
        if parsed is None:
            raise RedisError("ERR hash value is not a float")
        value = parsed
    new = ld_add(value, incr) if isinstance(value, Fraction) else None
    if new is None:  # an infinite stored value, or a sum past the long double range
        raise RedisError(NAN_OR_INF)
    text = ld_human(new)
    _set_fields(c, key, row, [(field, text)])
    ks.notify("h", "hincrbyfloat", c.db, key)
    rewrite(c.server, c.db, [b"HSET", key, field, text])
    return text


# -- HRANDFIELD ---------------------------------------------------------------------------


@command("hrandfield")
def hrandfield(c, argv):
    ks = c.server.ks
    if len(argv) >= 3:
        n = to_int(argv[2])
        if n is None:
            raise RedisError(errors.NOT_INTEGER)
        if n < -LONG_MAX:
            raise RedisError(
                f"ERR value is out of range, value must between {-LONG_MAX} and {LONG_MAX}")
        if len(argv) > 4 or (len(argv) == 4 and argv[3].lower() != b"withvalues"):
            raise RedisError(errors.SYNTAX)
        withvalues = len(argv) == 4
        if withvalues and (n < -(LONG_MAX // 2) or n > LONG_MAX // 2):
            raise RedisError("ERR value is out of range")
        return _hrandfield_count(c, argv[1], n, withvalues)
    row = _hash_or_none(ks, c.db, argv[1], True)
    if row is None:
        return None
    return H.random_row(ks.cur, row.id, row.len)[1]


def _pairs_reply(c, rows, withvalues: bool, fi: int = 1, vi: int = 2) -> list:
    if not withvalues:
        return [r[fi] for r in rows]
    if c.resp > 2:
        return [[r[fi], r[vi]] for r in rows]
    out = []
    for r in rows:
        out.append(r[fi])
        out.append(r[vi])
    return out


def _hrandfield_count(c, key: bytes, n: int, withvalues: bool):
    ks = c.server.ks
    row = _hash_or_none(ks, c.db, key, True)
    if row is None or n == 0:
        return []
    cur, kid, size = ks.cur, row.id, row.len
    if n < 0 or n == 1:
        if reply_over_output_limit(c, abs(n) * (2 if withvalues else 1)):
            return []  # the client is being closed: nothing is sent
        return _pairs_reply(c, H.random_with_repeats(cur, kid, size, abs(n)), withvalues)
    if n >= size:
        return _pairs_reply(c, H.items(cur, kid, row.enc), withvalues, 0, 1)
    picked = H.random_distinct(cur, kid, size, n)
    if row.enc == 0 and n * 3 <= size:
        picked.sort(key=lambda r: r[3])  # lpRandomPairsUnique keeps listpack order
    return _pairs_reply(c, picked, withvalues)


# -- HSCAN --------------------------------------------------------------------------------


@command("hscan")
def hscan(c, argv):
    cursor = parse_cursor(argv[2])
    ks = c.server.ks
    row = _hash_or_none(ks, c.db, argv[1], True)
    if row is None:
        return EMPTY_SCAN
    count, pattern = parse_collection_scan(argv, 3)
    if row.enc == 0:
        nxt, pairs = 0, H.items(ks.cur, row.id, 0)
    else:
        nxt, pairs = H.scan(ks.cur, row.id, cursor, count)
    match = compile_glob(pattern) if pattern is not None else None
    out = []
    for f, v in pairs:
        if match is None or match(f):
            out.append(f)
            out.append(v)
    return [b"%d" % nxt, out]
