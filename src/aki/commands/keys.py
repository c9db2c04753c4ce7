"""Generic key commands (db.c, expire.c, object.c).

Expiry times are absolute unix milliseconds in ``keys.expire_at``; the EXPIRE
family is propagated as PEXPIREAT (or DEL when the time is already past), so
the AOF and replicas never depend on when they replay it.
"""

from __future__ import annotations

from aki import errors
from aki.commands.common import parse_cursor, parse_int, parse_scan_args, to_int
from aki.commands.connection import help_reply
from aki.core.dispatch import rewrite
from aki.core.registry import command
from aki.errors import RedisError
from aki.resp.types import OK, Status
from aki.storage.keyspace import HASH, LIST, SET, STREAM, STRING, TYPE_BY_NAME, TYPE_NAMES, ZSET

INT64_MAX = 2**63 - 1
_LL_MAX_SEC = INT64_MAX // 1000  # LLONG_MAX / 1000 (C truncates toward zero)

_STATUS_TYPES = {t: Status(n) for t, n in TYPE_NAMES.items()}
_NONE = Status("none")


@command("del")
def del_(c, argv):
    ks = c.server.ks
    n = 0
    for key in argv[1:]:
        if ks.delete(c.db, key):
            ks.notify("g", "del", c.db, key)
            n += 1
    return n


command("unlink")(del_)


@command("exists")
def exists(c, argv):
    ks = c.server.ks
    n = 0
    for key in argv[1:]:
        if ks.peek(c.db, key) is not None:
            ks.hits += 1
            n += 1
        else:
            ks.misses += 1
    return n


@command("touch")
def touch(c, argv):
    ks = c.server.ks
    return sum(1 for key in argv[1:] if ks.lookup_read(c.db, key) is not None)


@command("type")
def type_(c, argv):
    row = c.server.ks.peek(c.db, argv[1])
    return _NONE if row is None else _STATUS_TYPES[row.type]


# -- expiry ------------------------------------------------------------------------------

_NX, _XX, _GT, _LT = 1, 2, 4, 8
_FLAG_NAMES = {b"nx": _NX, b"xx": _XX, b"gt": _GT, b"lt": _LT}


def _expire_flags(argv: list[bytes]) -> int:
    """parseExtendedExpireArgumentsOrReply."""
    flags = 0
    for opt in argv[3:]:
        f = _FLAG_NAMES.get(opt.lower())
        if f is None:
            text = opt.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
            raise RedisError("ERR Unsupported option " + text.replace("\r", " ").replace("\n", " "))
        flags |= f
    if flags & _NX and flags & (_XX | _GT | _LT):
        raise RedisError("ERR NX and XX, GT or LT options at the same time are not compatible")
    if flags & _GT and flags & _LT:
        raise RedisError("ERR GT and LT options at the same time are not compatible")
    return flags


def _expire_generic(c, argv, relative: bool, seconds: bool, name: str):
    """expireGenericCommand: EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT."""
    flags = _expire_flags(argv) if len(argv) > 3 else 0
    when = parse_int(argv[2])
    if seconds:
        if when > _LL_MAX_SEC or when < -_LL_MAX_SEC:
            raise RedisError(errors.INVALID_EXPIRE.format(name))
        when *= 1000
    ks = c.server.ks
    if relative:
        base = ks.now()
        if when > INT64_MAX - base:
            raise RedisError(errors.INVALID_EXPIRE.format(name))
        when += base
    key = argv[1]
    row = ks.lookup(c.db, key)
    if row is None:
        return 0
    if flags:
        cur = row.expire_at
        if flags & _NX and cur is not None:
            return 0
        if flags & _XX and cur is None:
            return 0
        if flags & _GT and (cur is None or when <= cur):
            return 0
        if flags & _LT and cur is not None and when >= cur:
            return 0
    if when <= ks.now() and ks.lazy_expire:
        ks.delete_row(row)
        rewrite(c.server, c.db, [b"DEL", key])
        ks.notify("g", "del", c.db, key)
        return 1
    ks.set_expire(row, when)
    head = argv[0] if name == "pexpireat" else b"PEXPIREAT"
    rewrite(c.server, c.db, [head, key, b"%d" % when, *argv[3:]])
    ks.notify("g", "expire", c.db, key)
    return 1


@command("expire")
def expire(c, argv):
    return _expire_generic(c, argv, True, True, "expire")


@command("pexpire")
def pexpire(c, argv):
    return _expire_generic(c, argv, True, False, "pexpire")


@command("expireat")
def expireat(c, argv):
    return _expire_generic(c, argv, False, True, "expireat")


@command("pexpireat")
def pexpireat(c, argv):
    return _expire_generic(c, argv, False, False, "pexpireat")


def _ttl(c, key: bytes, ms: bool, absolute: bool) -> int:
    """ttlGenericCommand: -2 no key, -1 no TTL; seconds are rounded as Redis does."""
    ks = c.server.ks
    row = ks.peek(c.db, key)
    if row is None:
        ks.misses += 1
        return -2
    ks.hits += 1
    if row.expire_at is None:
        return -1
    ttl = row.expire_at if absolute else row.expire_at - ks.now()
    if ttl < 0:
        ttl = 0
    return ttl if ms else (ttl + 500) // 1000


@command("ttl")
def ttl(c, argv):
    return _ttl(c, argv[1], False, False)


@command("pttl")
def pttl(c, argv):
    return _ttl(c, argv[1], True, False)


@command("expiretime")
def expiretime(c, argv):
    return _ttl(c, argv[1], False, True)


@command("pexpiretime")
def pexpiretime(c, argv):
    return _ttl(c, argv[1], True, True)


@command("persist")
def persist(c, argv):
    ks = c.server.ks
    row = ks.lookup(c.db, argv[1])
    if row is None or row.expire_at is None:
        return 0
    ks.set_expire(row, None)
    ks.notify("g", "persist", c.db, argv[1])
    return 1


# -- rename, move, copy ------------------------------------------------------------------


def _rename(c, argv, nx: bool):
    ks = c.server.ks
    src, dst = argv[1], argv[2]
    row = ks.lookup(c.db, src)
    if row is None:
        raise RedisError(errors.NO_SUCH_KEY)
    if src == dst:
        return 0 if nx else OK
    if nx and ks.lookup(c.db, dst) is not None:
        return 0
    ks.rename(row, c.db, dst)
    ks.notify("g", "rename_from", c.db, src)
    ks.notify("g", "rename_to", c.db, dst)
    return 1 if nx else OK


@command("rename")
def rename(c, argv):
    return _rename(c, argv, False)


@command("renamenx")
def renamenx(c, argv):
    return _rename(c, argv, True)


def _db_index(c, arg: bytes) -> int:
    """getIntFromObjectOrReply + selectDb."""
    v = to_int(arg)
    if v is None:
        raise RedisError(errors.NOT_INTEGER)
    if v < -(2**31) or v >= 2**31:
        raise RedisError("ERR value is out of range, value must between -2147483648 and 2147483647")
    if v < 0 or v >= c.server.engine.databases:
        raise RedisError(errors.DB_INDEX_OUT_OF_RANGE)
    return v


@command("move")
def move(c, argv):
    ks = c.server.ks
    key = argv[1]
    dst = _db_index(c, argv[2])
    if dst == c.db:
        raise RedisError(errors.SAME_OBJECT)
    row = ks.lookup(c.db, key)
    if row is None:
        return 0
    if ks.lookup(dst, key) is not None:
        return 0
    ks.rename(row, dst, key)
    ks.notify("g", "move_from", c.db, key)
    ks.notify("g", "move_to", dst, key)
    return 1


@command("copy")
def copy(c, argv):
    ks = c.server.ks
    dst = c.db
    replace = False
    j = 3
    n = len(argv)
    while j < n:
        opt = argv[j].lower()
        if opt == b"replace":
            replace = True
        elif opt == b"db" and j + 1 < n:
            dst = _db_index(c, argv[j + 1])
            j += 1
        else:
            raise RedisError(errors.SYNTAX)
        j += 1
    key, newkey = argv[1], argv[2]
    if dst == c.db and key == newkey:
        raise RedisError(errors.SAME_OBJECT)
    row = ks.lookup_read(c.db, key)
    if row is None:
        return 0
    target = ks.lookup(dst, newkey)
    if target is not None:
        if not replace:
            return 0
        ks.delete_row(target)
    ks.copy(row, dst, newkey)
    ks.notify("g", "copy_to", dst, newkey)
    return 1


# -- iteration ---------------------------------------------------------------------------


@command("keys")
def keys(c, argv):
    return list(c.server.ks.iter_keys(c.db, argv[1]))


@command("scan")
def scan(c, argv):
    cursor = parse_cursor(argv[1])
    count, match, tname = parse_scan_args(argv, 2)
    type_id = None
    if tname is not None:
        type_id = TYPE_BY_NAME.get(tname.decode("latin-1").lower(), -1)
    ks = c.server.ks
    nxt, found = ks.scan(c.db, cursor, count, match, type_id)
    return [b"%d" % nxt, found]


@command("randomkey")
def randomkey(c, argv):
    return c.server.ks.random_key(c.db)


# -- OBJECT ------------------------------------------------------------------------------

_COLLECTION_ENCODINGS = {
    LIST: (b"quicklist", b"quicklist"),  # Redis 7.0 lists are always quicklists
    SET: (b"intset", b"hashtable"),
    ZSET: (b"listpack", b"skiplist"),
    HASH: (b"listpack", b"hashtable"),
}
_SHARED_REFCOUNT = 2147483647  # OBJ_SHARED_REFCOUNT: the shared integers 0..9999
_OBJECT_HELP = [
    "ENCODING <key>",
    "    Return the kind of internal representation used in order to store the value",
    "    associated with a <key>.",
    "FREQ <key>",
    "    Return the access frequency index of the <key>. The returned integer is",
    "    proportional to the logarithm of the recent access frequency of the key.",
    "IDLETIME <key>",
    "    Return the idle time of the <key>, that is the approximated number of",
    "    seconds elapsed since the last access to the key.",
    "REFCOUNT <key>",
    "    Return the number of references of the value associated with the specified",
    "    <key>.",
]


def string_encoding(value: bytes, enc: int) -> bytes:
    """tryObjectEncoding's choice: int (fits a long), embstr (<= 44 bytes), else raw;
    ``enc`` 1 marks a string modified in place (always raw), 2 one that skips int."""
    if enc == 1:
        return b"raw"
    if enc == 0 and len(value) <= 20 and to_int(value) is not None:
        return b"int"
    return b"embstr" if len(value) <= 44 else b"raw"


def _object_row(c, key: bytes):
    return c.server.ks.peek(c.db, key)


@command("object|help")
def object_help(c, argv):
    return help_reply(argv[0], _OBJECT_HELP)


def encoding_name(row) -> bytes:
    """OBJECT ENCODING of a live key: strings from their value (and ``enc``), collections
    from the ``enc`` their family keeps (0 while Redis would use the compact encoding)."""
    if row.type == STRING:
        return string_encoding(row.value, row.enc)
    if row.type == STREAM:
        return b"stream"
    return _COLLECTION_ENCODINGS[row.type][1 if row.enc else 0]


@command("object|encoding")
def object_encoding(c, argv):
    row = _object_row(c, argv[2])
    if row is None:
        return None
    return encoding_name(row)


@command("object|refcount")
def object_refcount(c, argv):
    row = _object_row(c, argv[2])
    if row is None:
        return None
    if row.type == STRING and row.enc == 0 and len(row.value) <= 4:
        v = to_int(row.value)
        cfg = c.server.config
        no_shared = cfg.maxmemory and ("lru" in cfg.maxmemory_policy or "lfu" in cfg.maxmemory_policy)
        if v is not None and 0 <= v < 10000 and not no_shared:
            return _SHARED_REFCOUNT
    return 1


@command("object|idletime")
def object_idletime(c, argv):
    row = _object_row(c, argv[2])
    if row is None:
        return None
    if "lfu" in c.server.config.maxmemory_policy:
        raise RedisError(
            "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that "
            "when switching between policies at runtime LRU and LFU data will take some time "
            "to adjust.")
    return c.server.ks.idle_seconds(c.db, argv[2])


@command("object|freq")
def object_freq(c, argv):
    row = _object_row(c, argv[2])
    if row is None:
        return None
    if "lfu" not in c.server.config.maxmemory_policy:
        raise RedisError(
            "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please "
            "note that when switching between policies at runtime LRU and LFU data will take "
            "some time to adjust.")
    return c.server.ks.frequency(c.db, argv[2])
