"""List commands (t_list.c) and their blocking variants (BLPOP, BLMOVE, BLMPOP ...).

Argument checks run in Redis's order (some before the key lookup, some after), since
that order decides which error a malformed command gets. Blocking commands that find
nothing park the client through core.blocking's manager with a retry closure; the
retry does the same write as the immediate path and is propagated as LPOP/RPOP/LMOVE.
"""

from __future__ import annotations

from aki import errors
from aki.commands.common import parse_int, to_int
from aki.core.blocking import NOT_READY, manager, may_block, parse_block_timeout
from aki.core.dispatch import rewrite
from aki.core.registry import command
from aki.errors import RedisError
from aki.resp.types import OK, NullArray
from aki.storage import lists as L
from aki.storage.keyspace import LIST

WRONGTYPE = errors.WRONGTYPE
_POSITIVE = "ERR value is out of range, must be positive"
_LEFT, _RIGHT = b"LEFT", b"RIGHT"


def _lookup(c, key: bytes, read: bool = False):
    ks = c.server.ks
    row = ks.lookup_read(c.db, key) if read else ks.lookup(c.db, key)
    if row is not None and row.type != LIST:
        raise RedisError(WRONGTYPE)
    return row


def _range_long(b: bytes, lo: int, hi: int, message: str) -> int:
    """getRangeLongFromObjectOrReply with a custom message (used for bad input too)."""
    v = to_int(b)
    if v is None or v < lo or v > hi:
        raise RedisError(message)
    return v


def _where(b: bytes) -> bool:
    """LEFT -> True, RIGHT -> False (getListPositionFromObjectOrReply)."""
    w = b.lower()
    if w == b"left":
        return True
    if w == b"right":
        return False
    raise RedisError(errors.SYNTAX)


# -- push ------------------------------------------------------------------------------


def _push(c, argv, left: bool, xx: bool):
    ks = c.server.ks
    key = argv[1]
    row = _lookup(c, key)
    if row is None:
        if xx:
            return 0
        row = L.create(ks, c.db, key)
    n = L.push(ks, row, argv[2:], left)
    ks.notify("l", "lpush" if left else "rpush", c.db, key)
    return n


@command("lpush", cache_only=True)
def lpush(c, argv):
    return _push(c, argv, True, False)


@command("rpush", cache_only=True)
def rpush(c, argv):
    return _push(c, argv, False, False)


@command("lpushx", cache_only=True)
def lpushx(c, argv):
    return _push(c, argv, True, True)


@command("rpushx", cache_only=True)
def rpushx(c, argv):
    return _push(c, argv, False, True)


# -- pop -------------------------------------------------------------------------------


def _removed(c, row, key: bytes, left: bool) -> None:
    """listElementsRemoved: the pop event, and del when the list emptied."""
    ks = c.server.ks
    ks.notify("l", "lpop" if left else "rpop", c.db, key)
    if row.len == 0:
        ks.notify("g", "del", c.db, key)


def _pop(c, argv, left: bool):
    if len(argv) > 3:
        raise errors.wrong_arity("lpop" if left else "rpop")
    hascount = len(argv) == 3
    count = _range_long(argv[2], 0, 2**63 - 1, _POSITIVE) if hascount else 1
    row = _lookup(c, argv[1])
    if row is None:
        return NullArray if hascount else None
    if hascount and not count:
        return []
    values = L.pop(c.server.ks, row, left, count)
    _removed(c, row, argv[1], left)
    return values if hascount else values[0]


@command("lpop", cache_only=True)
def lpop(c, argv):
    return _pop(c, argv, True)


@command("rpop", cache_only=True)
def rpop(c, argv):
    return _pop(c, argv, False)


# -- read ------------------------------------------------------------------------------


@command("llen", cache_only=True)
def llen(c, argv):
    row = _lookup(c, argv[1], read=True)
    return 0 if row is None else row.len


@command("lindex")
def lindex(c, argv):
    row = _lookup(c, argv[1], read=True)
    if row is None:
        return None
    index = parse_int(argv[2])
    return L.get(c.server.ks, row, index)


@command("lrange", cache_only=True)
def lrange(c, argv):
    start = parse_int(argv[2])
    end = parse_int(argv[3])
    row = _lookup(c, argv[1], read=True)
    if row is None:
        return []
    span = L.clamp_range(row.len, start, end)
    if span is None:
        return []
    if span[1] - span[0] >= 7:
        # a longer range goes out as wire bytes (storage/lists.py: no object per element)
        wire = L.range_wire(c.server.ks, row, span[0], span[1])
        if wire is not None:
            return wire
    return L.range_(c.server.ks, row, span[0], span[1])


@command("lpos")
def lpos(c, argv):
    rank, count, maxlen = 1, -1, 0
    j = 3
    n = len(argv)
    while j < n:
        opt = argv[j].lower()
        more = j + 1 < n
        if opt == b"rank" and more:
            j += 1
            rank = parse_int(argv[j])
            if rank == 0:
                raise RedisError(
                    "ERR RANK can't be zero: use 1 to start from the first match, 2 from the "
                    "second ... or use negative to start from the end of the list")
        elif opt == b"count" and more:
            j += 1
            count = _range_long(argv[j], 0, 2**63 - 1, "ERR COUNT can't be negative")
        elif opt == b"maxlen" and more:
            j += 1
            maxlen = _range_long(argv[j], 0, 2**63 - 1, "ERR MAXLEN can't be negative")
        else:
            raise RedisError(errors.SYNTAX)
        j += 1
    row = _lookup(c, argv[1], read=True)
    if row is None:
        return [] if count != -1 else None
    from_tail = rank < 0
    # -LLONG_MIN overflows in Redis and stays negative: every match then qualifies
    skip = 0 if rank == -(2**63) else abs(rank) - 1
    if count == -1:
        found = L.positions(c.server.ks, row, argv[2], from_tail, skip, 1, maxlen)
        return found[0] if found else None
    return L.positions(c.server.ks, row, argv[2], from_tail, skip, count or -1, maxlen)


# -- modify ----------------------------------------------------------------------------


@command("linsert")
def linsert(c, argv):
    where = argv[2].lower()
    if where == b"after":
        after = True
    elif where == b"before":
        after = False
    else:
        raise RedisError(errors.SYNTAX)
    row = _lookup(c, argv[1])
    if row is None:
        return 0
    n = L.insert(c.server.ks, row, argv[3], argv[4], after)
    if n > 0:
        c.server.ks.notify("l", "linsert", c.db, argv[1])
    return n


@command("lset")
def lset(c, argv):
    row = _lookup(c, argv[1])
    if row is None:
        raise RedisError(errors.NO_SUCH_KEY)
    index = parse_int(argv[2])
    if not L.set_at(c.server.ks, row, index, argv[3]):
        raise RedisError(errors.INDEX_OUT_OF_RANGE)
    c.server.ks.notify("l", "lset", c.db, argv[1])
    return OK


@command("ltrim")
def ltrim(c, argv):
    start = parse_int(argv[2])
    end = parse_int(argv[3])
    row = _lookup(c, argv[1])
    if row is None:
        return OK
    length = row.len
    span = L.clamp_range(length, start, end)
    if span is None:
        lt, rt = length, 0
    else:
        lt, rt = span[0], length - span[1] - 1
    ks = c.server.ks
    if lt or rt:
        L.trim(ks, row, lt, rt)
    else:
        ks.touch(c.db, argv[1])
    ks.notify("l", "ltrim", c.db, argv[1])
    if row.len == 0:
        ks.notify("g", "del", c.db, argv[1])
    return OK


@command("lrem")
def lrem(c, argv):
    count = parse_int(argv[2])
    row = _lookup(c, argv[1])
    if row is None:
        return 0
    ks = c.server.ks
    removed = L.remove(ks, row, argv[3], count)
    if removed:
        ks.notify("l", "lrem", c.db, argv[1])
    if row.len == 0:
        ks.notify("g", "del", c.db, argv[1])
    return removed


# -- move ------------------------------------------------------------------------------


def _move(c, src: bytes, dst: bytes, from_left: bool, to_left: bool, srow):
    """lmoveGenericCommand on an existing, non-empty source list."""
    ks = c.server.ks
    db = c.db
    if src == dst:
        value = L.move_within(ks, srow, from_left, to_left)
        ks.notify("l", "lpush" if to_left else "rpush", db, dst)
        ks.notify("l", "lpop" if from_left else "rpop", db, src)
        return value
    drow = _lookup(c, dst)
    value = L.pop(ks, srow, from_left, 1)[0]
    if drow is None:
        drow = L.create(ks, db, dst)
    L.push(ks, drow, [value], to_left)
    ks.notify("l", "lpush" if to_left else "rpush", db, dst)
    ks.notify("l", "lpop" if from_left else "rpop", db, src)
    if srow.len == 0:
        ks.notify("g", "del", db, src)
    return value


def _lmove(c, argv, from_left: bool, to_left: bool):
    row = _lookup(c, argv[1])
    if row is None:
        return None
    return _move(c, argv[1], argv[2], from_left, to_left, row)


@command("lmove")
def lmove(c, argv):
    from_left = _where(argv[3])
    to_left = _where(argv[4])
    return _lmove(c, argv, from_left, to_left)


@command("rpoplpush")
def rpoplpush(c, argv):
    return _lmove(c, argv, False, True)


def _mpop_args(argv, numkeys_idx: int):
    numkeys = _range_long(argv[numkeys_idx], 1, 2**63 - 1, "ERR numkeys should be greater than 0")
    where_idx = numkeys_idx + numkeys + 1
    if where_idx >= len(argv):
        raise RedisError(errors.SYNTAX)
    left = _where(argv[where_idx])
    count = -1
    j = where_idx + 1
    n = len(argv)
    while j < n:
        if count == -1 and argv[j].lower() == b"count" and j + 1 < n:
            j += 1
            count = _range_long(argv[j], 1, 2**63 - 1, "ERR count should be greater than 0")
        else:
            raise RedisError(errors.SYNTAX)
        j += 1
    return argv[numkeys_idx + 1:where_idx], left, (1 if count == -1 else count)


def _pop_range_with_key(c, row, key: bytes, left: bool, count: int):
    """listPopRangeAndReplyWithKey, propagated as [LR]POP key n."""
    n = min(count, row.len)
    values = L.pop(c.server.ks, row, left, count)
    _removed(c, row, key, left)
    rewrite(c.server, c.db, [b"LPOP" if left else b"RPOP", key, b"%d" % n])
    return [key, values]


@command("lmpop")
def lmpop(c, argv):
    keys, left, count = _mpop_args(argv, 1)
    for key in keys:
        row = _lookup(c, key)
        if row is not None and row.len:
            return _pop_range_with_key(c, row, key, left, count)
    return NullArray


# -- blocking --------------------------------------------------------------------------


def _served_pop(c, left: bool, count: int):
    """The retry of a blocked BLPOP/BRPOP (count -1) or BLMPOP (count n) client."""
    ks = c.server.ks

    def retry(key: bytes):
        row = ks.lookup(c.db, key)
        if row is None or row.type != LIST or not row.len:
            return NOT_READY
        if count != -1:
            return _pop_range_with_key(c, row, key, left, count)
        value = L.pop(ks, row, left, 1)[0]
        _removed(c, row, key, left)
        rewrite(c.server, c.db, [b"LPOP" if left else b"RPOP", key])
        return [key, value]

    return retry


def _blocking_pop(c, keys: list[bytes], left: bool, timeout_arg: bytes, count: int):
    """blockingPopGenericCommand (count -1: BLPOP/BRPOP reply, else BLMPOP reply)."""
    timeout = parse_block_timeout(timeout_arg)
    ks = c.server.ks
    for key in keys:
        row = _lookup(c, key)
        if row is None or not row.len:
            continue
        if count != -1:
            return _pop_range_with_key(c, row, key, left, count)
        value = L.pop(ks, row, left, 1)[0]
        _removed(c, row, key, left)
        rewrite(c.server, c.db, [b"LPOP" if left else b"RPOP", key])
        return [key, value]
    if not may_block(c):
        return NullArray
    return manager(c.server).block(c, list(keys), timeout, _served_pop(c, left, count))


@command("blpop")
def blpop(c, argv):
    return _blocking_pop(c, argv[1:-1], True, argv[-1], -1)


@command("brpop")
def brpop(c, argv):
    return _blocking_pop(c, argv[1:-1], False, argv[-1], -1)


@command("blmpop")
def blmpop(c, argv):
    keys, left, count = _mpop_args(argv, 2)
    return _blocking_pop(c, keys, left, argv[1], count)


def _blmove(c, argv, from_left: bool, to_left: bool, timeout: float, brpoplpush: bool):
    src, dst = argv[1], argv[2]
    row = _lookup(c, src)
    if row is not None:
        value = _move(c, src, dst, from_left, to_left, row)
        if brpoplpush:
            rewrite(c.server, c.db, [b"RPOPLPUSH", src, dst])
        else:
            rewrite(c.server, c.db, [b"LMOVE", src, dst, argv[3], argv[4]])
        return value
    if not may_block(c):
        return None
    ks = c.server.ks
    db = c.db

    def retry(key: bytes):
        srow = ks.lookup(db, key)
        if srow is None or srow.type != LIST or not srow.len:
            return NOT_READY
        if key != dst:
            drow = ks.lookup(db, dst)
            if drow is not None and drow.type != LIST:
                raise RedisError(WRONGTYPE)
        value = _move(c, key, dst, from_left, to_left, srow)
        if brpoplpush:
            rewrite(c.server, db, [b"RPOPLPUSH", key, dst])
        else:
            rewrite(c.server, db, [b"LMOVE", key, dst, _LEFT if from_left else _RIGHT,
                                   _LEFT if to_left else _RIGHT])
        return value

    return manager(c.server).block(c, [src], timeout, retry)


@command("blmove")
def blmove(c, argv):
    from_left = _where(argv[3])
    to_left = _where(argv[4])
    timeout = parse_block_timeout(argv[5])
    return _blmove(c, argv, from_left, to_left, timeout, False)


@command("brpoplpush")
def brpoplpush(c, argv):
    timeout = parse_block_timeout(argv[3])
    return _blmove(c, argv, False, True, timeout, True)


@command("client|unblock")
def client_unblock(c, argv):
    error = False
    if len(argv) == 4:
        reason = argv[3].lower()
        if reason == b"error":
            error = True
        elif reason != b"timeout":
            raise RedisError("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR")
    cid = parse_int(argv[2])
    m = c.server.extensions.get("blocking")
    if m is None:
        return 0
    return 1 if m.unblock(cid, error) else 0

