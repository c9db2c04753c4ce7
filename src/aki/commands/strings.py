"""String commands (t_string.c): values live inline in the key row."""

from __future__ import annotations

from fractions import Fraction

from aki import errors
from aki.commands.common import (
    check_string_size,
    ld_add,
    ld_human,
    parse_int,
    strtold,
    to_int,
)
from aki.core.dispatch import rewrite
from aki.core.registry import command
from aki.errors import RedisError
from aki.resp.types import OK
from aki.storage.keyspace import KEEP, STRING

WRONGTYPE = errors.WRONGTYPE

# SET option flags
NX, XX, GET, KEEPTTL, EX, PX, EXAT, PXAT, PERSIST = (1 << i for i in range(9))
_EXPIRES = EX | PX | EXAT | PXAT


def _c_opt(arg: bytes) -> bytes:
    """An option name as Redis compares it: a C string (up to the first NUL), any case."""
    return arg.split(b"\0", 1)[0].lower()


def parse_set_options(argv: list[bytes], start: int, for_get: bool) -> tuple[int, bytes | None]:
    """parseExtendedStringArgumentsOrReply: the flags and the expire argument."""
    flags = 0
    expire: bytes | None = None
    n = len(argv)
    j = start
    while j < n:
        opt = _c_opt(argv[j])
        has_next = j + 1 < n
        if opt == b"nx" and not flags & XX and not for_get:
            flags |= NX
        elif opt == b"xx" and not flags & NX and not for_get:
            flags |= XX
        elif opt == b"get" and not for_get:
            flags |= GET
        elif opt == b"keepttl" and not flags & (PERSIST | _EXPIRES) and not for_get:
            flags |= KEEPTTL
        elif opt == b"persist" and for_get and not flags & (_EXPIRES | KEEPTTL):
            flags |= PERSIST
        elif opt in (b"ex", b"px", b"exat", b"pxat") and has_next and \
                not flags & (KEEPTTL | PERSIST | (_EXPIRES & ~_OPT_FLAG[opt])):
            flags |= _OPT_FLAG[opt]
            expire = argv[j + 1]
            j += 1
        else:
            raise RedisError(errors.SYNTAX)
        j += 1
    return flags, expire


_OPT_FLAG = {b"ex": EX, b"px": PX, b"exat": EXAT, b"pxat": PXAT}


def expire_ms(c, expire: bytes, flags: int, name: str) -> int:
    """getExpireMillisecondsOrReply: the absolute expiry in ms."""
    v = to_int(expire)
    if v is None:
        raise RedisError(errors.NOT_INTEGER)
    seconds = flags & (EX | EXAT)
    if v <= 0 or (seconds and v > (2**63 - 1) // 1000):
        raise RedisError(errors.INVALID_EXPIRE.format(name))
    if seconds:
        v *= 1000
    if flags & (EX | PX):
        v += c.server.ks.now()
    if v <= 0 or v > 2**63 - 1:
        raise RedisError(errors.INVALID_EXPIRE.format(name))
    return v


def get_string(c, key: bytes) -> bytes | None:
    row = c.server.ks.lookup_read(c.db, key)
    if row is None:
        return None
    if row.type != STRING:
        raise RedisError(WRONGTYPE)
    return row.value


def get_cached(c, argv):
    """GET's cached_read: execute()'s short road, and what the C lane (aki/_lane.c)
    does itself for a lone GET; it names this function to know the command is GET."""
    return c.server.ks.read_string(c.db, argv[1])


@command("get", cached_read=get_cached, cache_only=True)
def get(c, argv):
    row = c.server.ks.lookup_read(c.db, argv[1])
    if row is None:
        return None
    if row.type != STRING:
        raise RedisError(WRONGTYPE)
    return row.value


def _set_generic(c, argv, key: bytes, value: bytes, flags: int, expire: bytes | None,
                 name: str, ok_reply=OK, abort_reply=None):
    ks = c.server.ks
    at = expire_ms(c, expire, flags, name) if expire is not None else None
    old = None
    if flags & GET:
        old_row = ks.lookup_read(c.db, key)
        if old_row is not None and old_row.type != STRING:
            raise RedisError(WRONGTYPE)
        old = old_row.value if old_row is not None else None
        row = old_row
    else:
        row = ks.lookup(c.db, key)
    found = row is not None
    if (flags & NX and found) or (flags & XX and not found):
        return old if flags & GET else abort_reply
    ks.set_string(c.db, key, value, KEEP if flags & KEEPTTL else at, row)
    ks.notify("$", "set", c.db, key)
    if at is not None:
        rewrite(c.server, c.db, [b"SET", key, value, b"PXAT", b"%d" % at])
        ks.notify("g", "expire", c.db, key)
    elif flags & GET:
        rewrite(c.server, c.db, [a for i, a in enumerate(argv) if i < 3 or _c_opt(a) != b"get"])
    return old if flags & GET else ok_reply


@command("set", cache_only=True)
def set_(c, argv):
    if len(argv) == 3:
        # the common case, kept short
        ks = c.server.ks
        key = argv[1]
        ks.set_string(c.db, key, argv[2])
        if ks.notify_enabled:
            ks.notify("$", "set", c.db, key)
        return OK
    flags, expire = parse_set_options(argv, 3, False)
    return _set_generic(c, argv, argv[1], argv[2], flags, expire, "set")


@command("setnx")
def setnx(c, argv):
    return _set_generic(c, argv, argv[1], argv[2], NX, None, "setnx", 1, 0)


@command("setex")
def setex(c, argv):
    return _set_generic(c, argv, argv[1], argv[3], EX, argv[2], "setex")


@command("psetex")
def psetex(c, argv):
    return _set_generic(c, argv, argv[1], argv[3], PX, argv[2], "psetex")


@command("getex")
def getex(c, argv):
    flags, expire = parse_set_options(argv, 2, True)
    ks = c.server.ks
    key = argv[1]
    row = ks.lookup_read(c.db, key)
    if row is None:
        return None
    if row.type != STRING:
        raise RedisError(WRONGTYPE)
    at = expire_ms(c, expire, flags, "getex") if expire is not None else None
    value = row.value
    if flags & (PXAT | EXAT) and at is not None and at <= ks.now():
        ks.delete_row(row)
        rewrite(c.server, c.db, [b"DEL", key])
        ks.notify("g", "del", c.db, key)
    elif at is not None:
        ks.set_expire(row, at)
        rewrite(c.server, c.db, [b"PEXPIREAT", key, b"%d" % at])
        ks.notify("g", "expire", c.db, key)
    elif flags & PERSIST:
        if row.expire_at is not None:
            ks.set_expire(row, None)
            rewrite(c.server, c.db, [b"PERSIST", key])
            ks.notify("g", "persist", c.db, key)
    return value


@command("getdel")
def getdel(c, argv):
    ks = c.server.ks
    value = get_string(c, argv[1])
    if value is not None:
        ks.delete(c.db, argv[1])
        rewrite(c.server, c.db, [b"DEL", argv[1]])
        ks.notify("g", "del", c.db, argv[1])
    return value


@command("getset")
def getset(c, argv):
    ks = c.server.ks
    old = get_string(c, argv[1])
    ks.set_string(c.db, argv[1], argv[2])
    ks.notify("$", "set", c.db, argv[1])
    rewrite(c.server, c.db, [b"SET", argv[1], argv[2]])
    return old


@command("mget")
def mget(c, argv):
    ks = c.server.ks
    out = []
    for key in argv[1:]:
        row = ks.lookup_read(c.db, key)
        out.append(row.value if row is not None and row.type == STRING else None)
    return out


@command("mset")
def mset(c, argv):
    if len(argv) % 2 == 0:
        raise errors.wrong_arity("mset")
    ks = c.server.ks
    for i in range(1, len(argv), 2):
        ks.set_string(c.db, argv[i], argv[i + 1])
        ks.notify("$", "set", c.db, argv[i])
    return OK


@command("msetnx")
def msetnx(c, argv):
    if len(argv) % 2 == 0:
        raise errors.wrong_arity("msetnx")
    ks = c.server.ks
    for i in range(1, len(argv), 2):
        if ks.lookup(c.db, argv[i]) is not None:
            return 0
    for i in range(1, len(argv), 2):
        ks.set_string(c.db, argv[i], argv[i + 1])
        ks.notify("$", "set", c.db, argv[i])
    return 1


@command("append")
def append(c, argv):
    ks = c.server.ks
    key, extra = argv[1], argv[2]
    row = ks.lookup(c.db, key)
    if row is None:
        value = extra
        ks.set_string(c.db, key, value, None, None)
    else:
        if row.type != STRING:
            raise RedisError(WRONGTYPE)
        check_string_size(len(row.value) + len(extra), c.server)
        value = row.value + extra
        # dbUnshareStringValue: a string appended to is raw from now on
        ks.set_string(c.db, key, value, KEEP, row, enc=1)
    ks.notify("$", "append", c.db, key)
    return len(value)


@command("strlen")
def strlen(c, argv):
    value = get_string(c, argv[1])
    return 0 if value is None else len(value)


@command("getrange")
def getrange(c, argv):
    start = parse_int(argv[2])
    end = parse_int(argv[3])
    value = get_string(c, argv[1])
    if value is None:
        return b""
    n = len(value)
    if start < 0 and end < 0 and start > end:
        return b""
    if start < 0:
        start += n
    if end < 0:
        end += n
    start = max(start, 0)
    end = max(end, 0)
    if end >= n:
        end = n - 1
    if start > end or n == 0:
        return b""
    return value[start : end + 1]


command("substr")(getrange)


@command("setrange")
def setrange(c, argv):
    ks = c.server.ks
    key, value = argv[1], argv[3]
    offset = parse_int(argv[2])
    if offset < 0:
        raise RedisError("ERR offset is out of range")
    row = ks.lookup(c.db, key)
    if row is None:
        if not value:
            return 0
        check_string_size(offset + len(value), c.server)
        old = b""
    else:
        if row.type != STRING:
            raise RedisError(WRONGTYPE)
        old = row.value
        if not value:
            return len(old)
        check_string_size(offset + len(value), c.server)
    if len(old) < offset:
        old = old + b"\x00" * (offset - len(old))
    new = old[:offset] + value + old[offset + len(value):]
    # a new sds (new key) or dbUnshareStringValue (existing key): raw either way
    ks.set_string(c.db, key, new, KEEP, row, enc=1)
    ks.notify("$", "setrange", c.db, key)
    return len(new)


def _incr(c, key: bytes, delta: int) -> int:
    ks = c.server.ks
    if not ks.notify_enabled and (c.db, key) not in ks.cache \
            and ks.add_string(c.db, key, b"%d" % delta):
        return delta  # a new counter, in one INSERT (0 + delta cannot overflow)
    row = ks.lookup(c.db, key)
    if row is None:
        cur = 0
    else:
        if row.type != STRING:
            raise RedisError(WRONGTYPE)
        v = row.value
        cur = to_int(v) if len(v) <= 20 else None
        if cur is None:
            raise RedisError(errors.NOT_INTEGER)
    new = cur + delta
    if new > 2**63 - 1 or new < -(2**63):
        raise RedisError(errors.OVERFLOW)
    ks.set_string(c.db, key, b"%d" % new, KEEP, row)
    ks.notify("$", "incrby", c.db, key)
    return new


@command("incr")
def incr(c, argv):
    return _incr(c, argv[1], 1)


@command("decr")
def decr(c, argv):
    return _incr(c, argv[1], -1)


@command("incrby")
def incrby(c, argv):
    return _incr(c, argv[1], parse_int(argv[2]))


@command("decrby")
def decrby(c, argv):
    delta = parse_int(argv[2])
    if delta == -(2**63):
        raise RedisError("ERR decrement would overflow")
    return _incr(c, argv[1], -delta)


@command("incrbyfloat")
def incrbyfloat(c, argv):
    ks = c.server.ks
    key = argv[1]
    row = ks.lookup(c.db, key)
    if row is not None and row.type != STRING:
        raise RedisError(WRONGTYPE)
    cur = strtold(row.value) if row is not None else Fraction(0)
    incr = strtold(argv[2]) if cur is not None else None
    if cur is None or incr is None:
        raise RedisError(errors.NOT_FLOAT)
    new = None
    if isinstance(cur, Fraction) and isinstance(incr, Fraction):
        new = ld_add(cur, incr)
    if new is None:  # an infinite operand, or a sum past the long double range
        raise RedisError("ERR increment would produce NaN or Infinity")
    text = ld_human(new)
    # createStringObjectFromLongDouble: embstr/raw, never int (INCRBYFLOAT k 1 is embstr)
    ks.set_string(c.db, key, text, KEEP, row, enc=2)
    ks.notify("$", "incrbyfloat", c.db, key)
    rewrite(c.server, c.db, [b"SET", key, text, b"KEEPTTL"])
    return text


class LcsTable:
    """LCS(a[:i], b[:k]) for every i, k, as lcsCommand's table, computed bit-parallel
    (Hyyro): column k is one integer whose zero bits below bit i count LCS(a[:i], b[:k]).
    O(len(b) * len(a) / 64) word operations instead of a Python loop per cell."""

    def __init__(self, a: bytes, b: bytes) -> None:
        masks: dict[int, int] = {}
        for i, ch in enumerate(a):
            masks[ch] = masks.get(ch, 0) | (1 << i)
        v = (1 << len(a)) - 1
        cols = [v]
        for ch in b:
            u = v & masks.get(ch, 0)
            v = (v + u) | (v - u)
            cols.append(v)
        self.cols = cols

    def get(self, i: int, k: int) -> int:
        return i - (self.cols[k] & ((1 << i) - 1)).bit_count()


@command("lcs")
def lcs(c, argv):
    ks = c.server.ks
    ra = ks.lookup_read(c.db, argv[1])
    rb = ks.lookup_read(c.db, argv[2])
    if (ra is not None and ra.type != STRING) or (rb is not None and rb.type != STRING):
        raise RedisError("ERR The specified keys must contain string values")
    a = ra.value if ra is not None else b""
    b = rb.value if rb is not None else b""
    getlen = getidx = withmatchlen = False
    minmatchlen = 0
    j = 3
    n = len(argv)
    while j < n:
        opt = _c_opt(argv[j])
        more = n - 1 - j
        if opt == b"idx":
            getidx = True
        elif opt == b"len":
            getlen = True
        elif opt == b"withmatchlen":
            withmatchlen = True
        elif opt == b"minmatchlen" and more:
            minmatchlen = parse_int(argv[j + 1])
            if minmatchlen < 0:
                minmatchlen = 0
            j += 1
        else:
            raise RedisError(errors.SYNTAX)
        j += 1
    if getlen and getidx:
        raise RedisError(
            "ERR If you want both the length and indexes, please just use IDX."
        )
    la, lb = len(a), len(b)
    if (la + 1) * (lb + 1) * 4 > c.server.config.proto_max_bulk_len:
        raise RedisError(
            "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len"
        )
    table = LcsTable(a, b)
    total = table.get(la, lb)
    if getlen and not getidx:
        return total
    # Walk back from the end, emitting ranges exactly as lcsCommand does.
    result = bytearray(total)
    idx = total
    matches = []
    arange_start, arange_end, brange_start, brange_end = la, 0, 0, 0
    i, k = la, lb
    while i > 0 and k > 0:
        emit = False
        if a[i - 1] == b[k - 1]:
            result[idx - 1] = a[i - 1]
            if arange_start == la:
                arange_start = arange_end = i - 1
                brange_start = brange_end = k - 1
            elif arange_start == i and brange_start == k:
                arange_start -= 1
                brange_start -= 1
            else:
                emit = True
            if arange_start == 0 or brange_start == 0:
                emit = True
            idx -= 1
            i -= 1
            k -= 1
        else:
            if table.get(i - 1, k) > table.get(i, k - 1):
                i -= 1
            else:
                k -= 1
            if arange_start != la:
                emit = True
        if emit:
            match_len = arange_end - arange_start + 1
            if minmatchlen == 0 or match_len >= minmatchlen:
                m: list = [[arange_start, arange_end], [brange_start, brange_end]]
                if withmatchlen:
                    m.append(match_len)
                matches.append(m)
            arange_start = la
    if getidx:
        return {b"matches": matches, b"len": total}
    return bytes(result)
