"""Stream commands (t_stream.c), replies byte-identical to Redis 7.0.15.

The SQL lives in ``storage/streams.py``. The stream's metadata (last ID, max deleted
ID, entries added, recorded first ID) is ``keys.value``; ``KeyRow.len`` is the length.
Propagation follows Redis: XADD with ``*``/``ms-*`` carries the generated ID, ``~``
trimming is rewritten to ``= <exact>``, and XREADGROUP/XCLAIM/XAUTOCLAIM propagate
XCLAIM / XGROUP SETID / XGROUP CREATECONSUMER effects instead of themselves.
"""

from __future__ import annotations

import time

from aki import errors
from aki.commands.common import to_int
from aki.core.blocking import NOT_READY, manager, may_block
from aki.core.dispatch import rewrite
from aki.core.registry import COMMANDS, command
from aki.errors import RedisError
from aki.resp.types import OK, ErrorReply, NullArray
from aki.storage import streams as S
from aki.storage.keyspace import STREAM

INVALID_ID = "ERR Invalid stream ID specified as stream command argument"
U64 = S.U64
MAX_ID = S.MAX_ID
INVALID_ENTRIES_READ = -1
LONG_MAX = 2**63 - 1


def _mstime() -> int:
    return int(time.time() * 1000)


def _s(b: bytes) -> str:
    return b.decode("utf-8", "surrogateescape").replace("\r", " ").replace("\n", " ")


def _ll(b: bytes, message: str = errors.NOT_INTEGER) -> int:
    v = to_int(b)
    if v is None:
        raise RedisError(message)
    return v


def _subcommand_syntax(argv: list[bytes]) -> RedisError:
    return RedisError(
        f"ERR unknown subcommand or wrong number of arguments for '{_s(argv[1][:128])}'. "
        f"Try {_s(argv[0]).upper()} HELP.")


def _no_propagate(c) -> None:
    """preventCommandPropagation: the effects are propagated by explicit rewrites."""
    if c.server.propagation is None:
        c.server.propagation = []


# -- IDs ---------------------------------------------------------------------------------


def _string2ull(b: bytes) -> int | None:
    v = to_int(b)
    if v is not None:
        return v if v >= 0 else None
    # strtoull: leading spaces, an optional sign, decimal digits, nothing after
    s = b.lstrip(b" \t\n\v\f\r")
    neg = False
    if s[:1] in (b"+", b"-"):
        neg = s[:1] == b"-"
        s = s[1:]
    if not s or not s.isdigit():
        return None
    v = int(s)
    if v > U64:
        return None
    return (-v) & U64 if neg else v


def parse_id(b: bytes, missing_seq: int = 0, strict: bool = False,
             seq_star: bool = False) -> tuple[S.StreamID, bool]:
    """streamGenericParseIDOrReply: (id, seq_given)."""
    if len(b) > 127 or b"\x00" in b:
        raise RedisError(INVALID_ID)
    if strict and b in (b"-", b"+"):
        raise RedisError(INVALID_ID)
    if b == b"-":
        return (0, 0), True
    if b == b"+":
        return MAX_ID, True
    head, dash, tail = b.partition(b"-")
    ms = _string2ull(head)
    if ms is None:
        raise RedisError(INVALID_ID)
    if dash:
        if seq_star and tail == b"*":
            return (ms, 0), False
        seq = _string2ull(tail)
        if seq is None:
            raise RedisError(INVALID_ID)
    else:
        seq = missing_seq
    return (ms, seq), True


def _strict(b: bytes) -> S.StreamID:
    return parse_id(b, 0, True)[0]


def _try_strict(b: bytes) -> S.StreamID | None:
    try:
        return _strict(b)
    except RedisError:
        return None


def _interval(b: bytes, missing_seq: int) -> tuple[S.StreamID, bool]:
    if len(b) > 1 and b[:1] == b"(":
        return parse_id(b[1:], missing_seq, True)[0], True
    return parse_id(b, missing_seq)[0], False


def _range_bounds(start_arg: bytes, end_arg: bytes) -> tuple[S.StreamID, S.StreamID]:
    start, ex = _interval(start_arg, 0)
    if ex:
        s2 = S.incr(start)
        if s2 is None:
            raise RedisError("ERR invalid start ID for the interval")
        start = s2
    end, ex = _interval(end_arg, U64)
    if ex:
        e2 = S.decr(end)
        if e2 is None:
            raise RedisError("ERR invalid end ID for the interval")
        end = e2
    return start, end


# -- keys --------------------------------------------------------------------------------


def _lookup(c, key: bytes, read: bool = False):
    ks = c.server.ks
    row = ks.lookup_read(c.db, key) if read else ks.lookup(c.db, key)
    if row is not None and row.type != STREAM:
        raise RedisError(errors.WRONGTYPE)
    return row


def _save(c, row, meta: S.Meta, length: int | None = None) -> None:
    c.server.ks.set_meta(row, length=length, value=meta.pack())


def _entry(eid: S.StreamID, items: list[bytes]) -> list:
    return [S.fmt(eid), items]


def _entries(c, row, start, end, count=0, rev=False) -> list:
    return [_entry(i, f) for i, f in S.range_entries(c.server.ks.cur, row.id, start, end, count, rev)]


def _refresh_first(c, row, meta: S.Meta, length: int) -> None:
    if length == 0:
        meta.first = (0, 0)
    else:
        meta.first = S.edge_entry(c.server.ks.cur, row.id, False) or (0, 0)


# -- XADD / XTRIM ------------------------------------------------------------------------


class TrimArgs:
    __slots__ = ("id", "id_given", "seq_given", "nomkstream", "strategy", "arg_idx", "approx",
                 "limit", "maxlen", "minid")

    def __init__(self) -> None:
        self.id = (0, 0)
        self.id_given = False
        self.seq_given = True
        self.nomkstream = False
        self.strategy = None  # "maxlen" | "minid"
        self.arg_idx = 0
        self.approx = False
        self.limit = 0
        self.maxlen = 0
        self.minid = (0, 0)


def _parse_add_trim(c, argv: list[bytes], xadd: bool) -> tuple[TrimArgs, int]:
    """streamParseAddOrTrimArgsOrReply: the parsed options and the ID position."""
    a = TrimArgs()
    i = 2
    n = len(argv)
    limit_given = False
    while i < n:
        more = n - 1 - i
        opt = argv[i]
        lo = opt.lower()
        if xadd and opt == b"*":
            break
        if lo == b"maxlen" and more:
            if a.strategy is not None:
                raise RedisError("ERR syntax error, MAXLEN and MINID options at the same time "
                                 "are not compatible")
            a.approx = False
            nxt = argv[i + 1]
            if more >= 2 and nxt == b"~":
                a.approx = True
                i += 1
            elif more >= 2 and nxt == b"=":
                i += 1
            a.maxlen = _ll(argv[i + 1])
            if a.maxlen < 0:
                raise RedisError("ERR The MAXLEN argument must be >= 0.")
            i += 1
            a.strategy = "maxlen"
            a.arg_idx = i
        elif lo == b"minid" and more:
            if a.strategy is not None:
                raise RedisError("ERR syntax error, MAXLEN and MINID options at the same time "
                                 "are not compatible")
            a.approx = False
            nxt = argv[i + 1]
            if more >= 2 and nxt == b"~":
                a.approx = True
                i += 1
            elif more >= 2 and nxt == b"=":
                i += 1
            a.minid = _strict(argv[i + 1])
            i += 1
            a.strategy = "minid"
            a.arg_idx = i
        elif lo == b"limit" and more:
            a.limit = _ll(argv[i + 1])
            if a.limit < 0:
                raise RedisError("ERR The LIMIT argument must be >= 0.")
            limit_given = True
            i += 1
        elif xadd and lo == b"nomkstream":
            a.nomkstream = True
        elif xadd:
            a.id, a.seq_given = parse_id(opt, 0, True, seq_star=True)
            a.id_given = True
            break
        else:
            raise RedisError(errors.SYNTAX)
        i += 1
    if a.limit and a.strategy is None:
        raise RedisError("ERR syntax error, LIMIT cannot be used without specifying a trimming "
                         "strategy")
    if not xadd and a.strategy is None:
        raise RedisError("ERR syntax error, XTRIM must be called with a trimming strategy")
    if c.kind in ("aof", "master"):
        a.limit = 0
    elif limit_given:
        if not a.approx:
            raise RedisError("ERR syntax error, LIMIT cannot be used without the special ~ option")
    elif a.approx:
        lim = 100 * c.server.config.stream_node_max_entries
        if lim <= 0:
            lim = 10000
        a.limit = min(lim, 1000000)
    else:
        a.limit = 0
    return a, i


def _do_trim(c, row, meta: S.Meta, a: TrimArgs, argv: list[bytes]) -> int:
    """streamTrim plus the first-ID update and the rewrite of ``~`` arguments."""
    ks = c.server.ks
    deleted = S.trim(ks.engine.conn, ks.cur, row.id, row.len,
                     a.maxlen if a.strategy == "maxlen" else None,
                     a.minid if a.strategy == "minid" else None, a.approx, a.limit)
    length = row.len - deleted
    if deleted:
        _refresh_first(c, row, meta, length)
    return deleted


def _rewrite_trim(c, row, a: TrimArgs, argv: list[bytes], length: int) -> None:
    argv[a.arg_idx - 1] = b"="
    if a.strategy == "maxlen":
        argv[a.arg_idx] = b"%d" % length
    else:
        first = S.first_node_id(c.server.ks.cur, row.id)
        argv[a.arg_idx] = S.fmt(first if first is not None else MAX_ID)


@command("xadd")
def xadd(c, argv):
    a, idpos = _parse_add_trim(c, argv, True)
    field_pos = idpos + 1
    nf = len(argv) - field_pos
    if nf < 2 or nf % 2 == 1:
        raise errors.wrong_arity("xadd")
    if a.id_given and a.seq_given and a.id == (0, 0):
        raise RedisError("ERR The ID specified in XADD must be greater than 0-0")
    ks = c.server.ks
    row = _lookup(c, argv[1])
    if row is None and a.nomkstream:
        return None
    meta = S.Meta(row.value if row is not None else None)
    last = meta.last
    if last == MAX_ID:
        raise RedisError("ERR The stream has exhausted the last possible ID, unable to add more items")
    items = argv[field_pos:]
    edom = RedisError("ERR The ID specified in XADD is equal or smaller than the target stream "
                      "top item")
    if a.id_given:
        if a.seq_given:
            eid = a.id
        elif last[0] == a.id[0]:
            if last[1] == U64:
                if row is None:
                    row = ks.create(c.db, argv[1], STREAM, meta.pack())
                raise edom
            eid = (last[0], last[1] + 1)
        else:
            eid = a.id
    else:
        ms = _mstime()
        eid = (ms, 0) if ms > last[0] else (S.incr(last) or (0, 0))
    if eid <= last:
        if row is None:
            row = ks.create(c.db, argv[1], STREAM, meta.pack())
        raise edom
    if sum(len(x) for x in items) > S.LISTPACK_MAX_SIZE:
        raise RedisError("ERR Elements are too large to be stored")
    if row is None:
        row = ks.create(c.db, argv[1], STREAM, meta.pack())
    cfg = c.server.config
    S.append(ks.cur, row.id, eid, list(items), cfg.stream_node_max_bytes,
             cfg.stream_node_max_entries)
    length = row.len + 1
    meta.added += 1
    meta.last = eid
    if length == 1:
        meta.first = eid
    _save(c, row, meta, length)
    ks.notify("t", "xadd", c.db, argv[1])
    out = list(argv)
    if a.strategy is not None:
        deleted = _do_trim(c, row, meta, a, out)
        if deleted:
            _save(c, row, meta, row.len - deleted)
            ks.notify("t", "xtrim", c.db, argv[1])
        if a.approx:
            _rewrite_trim(c, row, a, out, row.len)
    if not a.id_given or not a.seq_given:
        out[idpos] = S.fmt(eid)
    rewrite(c.server, c.db, out)
    return S.fmt(eid)


@command("xtrim")
def xtrim(c, argv):
    a, _ = _parse_add_trim(c, argv, False)
    row = _lookup(c, argv[1])
    if row is None:
        return 0
    meta = S.Meta(row.value)
    out = list(argv)
    deleted = _do_trim(c, row, meta, a, out)
    if deleted:
        _save(c, row, meta, row.len - deleted)
        c.server.ks.notify("t", "xtrim", c.db, argv[1])
        if a.approx:
            _rewrite_trim(c, row, a, out, row.len)
            rewrite(c.server, c.db, out)
    return deleted


@command("xlen")
def xlen(c, argv):
    row = _lookup(c, argv[1], read=True)
    return 0 if row is None else row.len


def _xrange(c, argv, rev: bool):
    start_arg, end_arg = (argv[3], argv[2]) if rev else (argv[2], argv[3])
    start, end = _range_bounds(start_arg, end_arg)
    count = -1
    j = 4
    n = len(argv)
    while j < n:
        if argv[j].lower() == b"count" and n - j - 1 >= 1:
            count = _ll(argv[j + 1])
            if count < 0:
                count = 0
            j += 2
        else:
            raise RedisError(errors.SYNTAX)
    row = _lookup(c, argv[1], read=True)
    if row is None:
        return []
    if count == 0:
        return NullArray
    return _entries(c, row, start, end, 0 if count == -1 else count, rev)


@command("xrange")
def xrange_(c, argv):
    return _xrange(c, argv, False)


@command("xrevrange")
def xrevrange(c, argv):
    return _xrange(c, argv, True)


@command("xdel")
def xdel(c, argv):
    row = _lookup(c, argv[1])
    if row is None:
        return 0
    ids = [_strict(b) for b in argv[2:]]
    ks = c.server.ks
    meta = S.Meta(row.value)
    deleted = 0
    first_entry = False
    for eid in ids:
        if S.delete_entry(ks.engine.conn, ks.cur, row.id, eid):
            if eid == meta.first:
                first_entry = True
            if eid > meta.maxdel:
                meta.maxdel = eid
            deleted += 1
    if deleted:
        length = row.len - deleted
        if length == 0:
            meta.first = (0, 0)
        elif first_entry:
            meta.first = S.edge_entry(ks.cur, row.id, False) or (0, 0)
        _save(c, row, meta, length)
        ks.notify("t", "xdel", c.db, argv[1])
    return deleted


@command("xsetid")
def xsetid(c, argv):
    eid = _strict(argv[2])
    maxdel = (0, 0)
    added = -1
    i = 3
    n = len(argv)
    while i < n:
        more = n - 1 - i
        opt = argv[i].lower()
        if opt == b"entriesadded" and more:
            added = _ll(argv[i + 1])
            if added < 0:
                raise RedisError("ERR entries_added must be positive")
            i += 2
        elif opt == b"maxdeletedid" and more:
            maxdel = _strict(argv[i + 1])
            if eid < maxdel:
                raise RedisError("ERR The ID specified in XSETID is smaller than the provided "
                                 "max_deleted_entry_id")
            i += 2
        else:
            raise RedisError(errors.SYNTAX)
    row = _lookup(c, argv[1])
    if row is None:
        raise RedisError(errors.NO_SUCH_KEY)
    meta = S.Meta(row.value)
    if row.len > 0:
        top = S.edge_entry(c.server.ks.cur, row.id, True) or (0, 0)
        if eid < top:
            raise RedisError("ERR The ID specified in XSETID is smaller than the target stream "
                             "top item")
        if added != -1 and row.len > added:
            raise RedisError("ERR The entries_added specified in XSETID is smaller than the "
                             "target stream length")
    meta.last = eid
    if added != -1:
        meta.added = added
    if maxdel != (0, 0):
        meta.maxdel = maxdel
    _save(c, row, meta)
    c.server.ks.notify("t", "xsetid", c.db, argv[1])
    return OK


# -- consumer-group helpers --------------------------------------------------------------


def _has_tombstones(meta: S.Meta, length: int, start: S.StreamID | None) -> bool:
    """streamRangeHasTombstones(s, start, NULL)."""
    if not length or meta.maxdel == (0, 0):
        return False
    if meta.first > meta.maxdel:
        return False
    s = start if start is not None else (0, 0)
    return s <= meta.maxdel


def _estimate(meta: S.Meta, length: int, eid: S.StreamID) -> int:
    """streamEstimateDistanceFromFirstEverEntry (-1 when unknown)."""
    if not meta.added:
        return 0
    if not length and eid <= meta.last:
        return meta.added
    if eid == meta.last:
        return meta.added
    if eid > meta.last:
        return INVALID_ENTRIES_READ
    if meta.maxdel == (0, 0) or meta.maxdel < meta.first:
        if eid < meta.first:
            return meta.added - length
        if eid == meta.first:
            return meta.added - length + 1
    return INVALID_ENTRIES_READ


def _lag(meta: S.Meta, length: int, g: S.Group):
    if not meta.added:
        return 0
    if g.entries_read != INVALID_ENTRIES_READ and not _has_tombstones(meta, length, g.last):
        return meta.added - g.entries_read
    er = _estimate(meta, length, g.last)
    if er != INVALID_ENTRIES_READ:
        return meta.added - er
    return None


def _nogroup(key: bytes, grp: bytes, suffix: str = "") -> RedisError:
    return RedisError(f"NOGROUP No such key '{_s(key)}' or consumer group '{_s(grp)}'{suffix}")


def _consumer(c, row, key: bytes, grp: bytes, name: bytes, refresh: bool = True) -> bool:
    """streamLookupConsumer (refreshing seen-time) or streamCreateConsumer; True if created."""
    ks = c.server.ks
    now = _mstime()
    if S.consumer_seen(ks.cur, row.id, grp, name) is not None:
        if refresh:
            S.touch_consumer(ks.cur, row.id, grp, name, now)
        return False
    S.create_consumer(ks.cur, row.id, grp, name, now)
    ks.notify("t", "xgroup-createconsumer", c.db, key)
    return True


def _propagate_xclaim(c, key: bytes, g: S.Group, idarg: bytes, consumer: bytes, dtime: int,
                      dcount: int) -> None:
    rewrite(c.server, c.db, [b"XCLAIM", key, g.name, consumer, b"0", idarg, b"TIME",
                             b"%d" % dtime, b"RETRYCOUNT", b"%d" % dcount, b"FORCE", b"JUSTID",
                             b"LASTID", S.fmt(g.last)])


def _propagate_group_id(c, key: bytes, g: S.Group) -> None:
    rewrite(c.server, c.db, [b"XGROUP", b"SETID", key, g.name, S.fmt(g.last), b"ENTRIESREAD",
                             b"%d" % g.entries_read])


def _serve_group(c, row, key: bytes, g: S.Group, consumer: bytes, start: S.StreamID,
                 count: int, noack: bool, history: bool) -> list:
    """streamReplyWithRange with a group (and its consumer) for XREADGROUP."""
    ks = c.server.ks
    cur = ks.cur
    kid = row.id
    now = _mstime()
    if history:
        out: list = []
        for eid, _owner, _t, n in list(S.pel_range(cur, kid, g.name, start, None, consumer,
                                                    count if count > 0 else -1)):
            items = S.get(cur, kid, eid)
            if items is None:
                out.append([S.fmt(eid), NullArray])
            else:
                out.append(_entry(eid, items))
                S.pel_put(cur, kid, g.name, eid, consumer, now, n + 1)
        return out
    meta = S.Meta(row.value)
    length = row.len
    out = []
    propagate_last = False
    changed = False
    for eid, items in S.range_entries(cur, kid, start, MAX_ID, count):
        if eid > g.last:
            if g.entries_read != INVALID_ENTRIES_READ and not _has_tombstones(meta, length, eid):
                g.entries_read += 1
            elif meta.added:
                g.entries_read = _estimate(meta, length, eid)
            g.last = eid
            changed = True
            if noack:
                propagate_last = True
        out.append(_entry(eid, items))
        if not noack:
            S.pel_put(cur, kid, g.name, eid, consumer, now, 1)
            _propagate_xclaim(c, key, g, S.fmt(eid), consumer, now, 1)
    if changed:
        S.save_group(cur, kid, g)
    if propagate_last:
        _propagate_group_id(c, key, g)
    return out


# -- XREAD / XREADGROUP ------------------------------------------------------------------


def _xread(c, argv, group_cmd: bool):
    timeout = -1
    count = 0
    streams_arg = 0
    nstreams = 0
    noack = False
    grp = consumer = None
    n = len(argv)
    i = 1
    while i < n:
        more = n - i - 1
        o = argv[i].lower()
        if o == b"block" and more:
            if c.kind == "lua":
                raise RedisError(f"ERR {_s(argv[0])} command is not allowed with BLOCK option "
                                 "from scripts")
            i += 1
            timeout = _ll(argv[i], "ERR timeout is not an integer or out of range")
            if timeout < 0:
                raise RedisError(errors.TIMEOUT_NEGATIVE)
        elif o == b"count" and more:
            i += 1
            count = _ll(argv[i])
            if count < 0:
                count = 0
        elif o == b"streams" and more:
            streams_arg = i + 1
            nstreams = n - streams_arg
            if nstreams % 2:
                raise RedisError("ERR Unbalanced XREAD list of streams: for each stream key an "
                                 "ID or '$' must be specified.")
            nstreams //= 2
            break
        elif o == b"group" and more >= 2:
            if not group_cmd:
                raise RedisError("ERR The GROUP option is only supported by XREADGROUP. You "
                                 "called XREAD instead.")
            grp, consumer = argv[i + 1], argv[i + 2]
            i += 2
        elif o == b"noack":
            if not group_cmd:
                raise RedisError("ERR The NOACK option is only supported by XREADGROUP. You "
                                 "called XREAD instead.")
            noack = True
        else:
            raise RedisError(errors.SYNTAX)
        i += 1
    if streams_arg == 0:
        raise RedisError(errors.SYNTAX)
    if group_cmd and grp is None:
        raise RedisError("ERR Missing GROUP option for XREADGROUP")
    if group_cmd:
        _no_propagate(c)
    keys = argv[streams_arg:streams_arg + nstreams]
    ks = c.server.ks
    ids: list[S.StreamID] = []
    groups: list[S.Group | None] = []
    for idx in range(nstreams):
        key = keys[idx]
        arg = argv[streams_arg + nstreams + idx]
        row = _lookup(c, key, read=True)
        g = None
        if grp is not None:
            g = S.group(ks.cur, row.id, grp) if row is not None else None
            if g is None:
                raise _nogroup(key, grp, " in XREADGROUP with GROUP option")
        groups.append(g)
        if arg == b"$":
            if group_cmd:
                raise RedisError(
                    "ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the "
                    "history of this consumer by specifying a proper ID, or use the > ID to get "
                    "new messages. The $ ID would just return an empty result set.")
            ids.append(S.Meta(row.value).last if row is not None else (0, 0))
            continue
        if arg == b">":
            if not group_cmd:
                raise RedisError("ERR The > ID can be specified only when calling XREADGROUP "
                                 "using the GROUP <group> <consumer> option.")
            ids.append(MAX_ID)
            continue
        ids.append(_strict(arg))
    replies: list = []
    for idx in range(nstreams):
        key = keys[idx]
        row = ks.lookup_read(c.db, key)
        if row is None:
            continue
        gt = ids[idx]
        g = groups[idx]
        serve = history = False
        if g is not None:
            if gt != MAX_ID:
                serve = history = True
            elif row.len:
                top = S.edge_entry(ks.cur, row.id, True)
                if top is not None and top > g.last:
                    serve = True
                    gt = g.last
        elif row.len:
            top = S.edge_entry(ks.cur, row.id, True)
            if top is not None and top > gt:
                serve = True
        if not serve:
            continue
        start = S.incr(gt) or (0, 0)
        if g is not None:
            created = _consumer(c, row, key, grp, consumer)
            if created and noack:
                rewrite(c.server, c.db, [b"XGROUP", b"CREATECONSUMER", key, grp, consumer])
            data = _serve_group(c, row, key, g, consumer, start, count, noack, history)
        else:
            data = _entries(c, row, start, MAX_ID, count)
        replies.append((key, data))
    if replies:
        return _read_reply(c, replies)
    if timeout != -1:
        if not may_block(c):
            return NullArray
        return _block(c, keys, ids, grp, consumer, noack, count or 1000, timeout)
    return NullArray


def _read_reply(c, replies: list):
    if c.resp == 3:
        return {k: v for k, v in replies}
    return [[k, v] for k, v in replies]


def _block(c, keys, ids, grp, consumer, noack, count, timeout_ms):
    wanted: dict[bytes, S.StreamID] = {}
    for k, i in zip(keys, ids, strict=True):
        wanted.setdefault(k, i)
    ks = c.server.ks
    mgr = manager(c.server)

    def retry(key: bytes):
        row = ks.lookup(c.db, key)
        if row is None or row.type != STREAM:
            if grp is not None:
                _unblock_group_waiters(c, key)
                # counted as a failed call by the blocking manager, as any served error
                raise RedisError("UNBLOCKED the stream key no longer exists")
            return NOT_READY
        gt = wanted[key]
        g = None
        if grp is not None:
            g = S.group(ks.cur, row.id, grp)
            if g is None:
                raise RedisError("NOGROUP the consumer group this client was blocked on no "
                                 "longer exists")
            gt = g.last
        meta = S.Meta(row.value)
        if not meta.last > gt:
            return NOT_READY
        start = S.incr(gt) or (0, 0)
        if g is not None:
            _no_propagate(c)
            created = _consumer(c, row, key, grp, consumer)
            if created and noack:
                rewrite(c.server, c.db, [b"XGROUP", b"CREATECONSUMER", key, grp, consumer])
            data = _serve_group(c, row, key, g, consumer, start, count, noack, False)
        else:
            data = _entries(c, row, start, MAX_ID, count)
        return _read_reply(c, [(key, data)])

    retry.stream_group = grp is not None  # type: ignore[attr-defined]
    ext = c.server.extensions
    if not ext.get("streams_flush_hook"):
        ext["streams_flush_hook"] = True
        ext.setdefault("flush_hooks", []).append(lambda db: _flushed(mgr, db))
    return mgr.block(c, list(wanted), timeout_ms / 1000.0, retry, NullArray, kind="stream")


def _failed_call() -> None:
    """updateStatsOnUnblock: a blocked XREADGROUP ended with an error without being retried
    (its key deleted by another command) is a failed call."""
    cmd = COMMANDS.get(b"xreadgroup")
    if cmd is not None:
        cmd.failed_calls += 1


def _flushed(mgr, db: int | None) -> None:
    """FLUSHDB/FLUSHALL (scanDatabaseForDeletedStreams): XREADGROUP waiters of the flushed
    databases are retried, and fail as their key is gone."""
    for (wdb, key), q in list(mgr.by_key.items()):
        if (db is None or wdb == db) and any(getattr(w.retry, "stream_group", False) for w in q):
            mgr.ready[(wdb, key)] = None


def _unblock_group_waiters(c, key: bytes) -> None:
    """unblockDeletedStreamReadgroupClients: every XREADGROUP waiter of a gone key fails."""
    from aki.core.dispatch import _count_error

    mgr = manager(c.server)
    q = mgr.by_key.get((c.db, key))
    if not q:
        return
    msg = "UNBLOCKED the stream key no longer exists"
    for w in list(q):
        if w.client is c or not getattr(w.retry, "stream_group", False):
            continue
        susp = w.suspend
        if susp is None or susp.done:
            continue
        mgr._forget(w)
        _failed_call()
        _count_error(c.server, msg)
        susp.resume(ErrorReply(msg))


@command("xread")
def xread(c, argv):
    return _xread(c, argv, False)


@command("xreadgroup")
def xreadgroup(c, argv):
    return _xread(c, argv, True)


# -- XGROUP ------------------------------------------------------------------------------

_XGROUP_HELP = [
    "CREATE <key> <groupname> <id|$> [option]",
    "    Create a new consumer group. Options are:",
    "    * MKSTREAM",
    "      Create the empty stream if it does not exist.",
    "    * ENTRIESREAD entries_read",
    "      Set the group's entries_read counter (internal use).",
    "CREATECONSUMER <key> <groupname> <consumer>",
    "    Create a new consumer in the specified group.",
    "DELCONSUMER <key> <groupname> <consumer>",
    "    Remove the specified consumer.",
    "DESTROY <key> <groupname>",
    "    Remove the specified group.",
    "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
    "    Set the current group ID and entries_read counter.",
]


def _xgroup_prepare(c, argv):
    """The common part of xgroupCommand: options, key, group."""
    opt = argv[1].lower()
    mkstream = False
    entries_read = INVALID_ENTRIES_READ
    i = 5
    n = len(argv)
    while i < n:
        a = argv[i].lower()
        if opt == b"create" and a == b"mkstream":
            mkstream = True
            i += 1
        elif opt in (b"create", b"setid") and a == b"entriesread" and i + 1 < n:
            entries_read = _ll(argv[i + 1])
            if entries_read < 0 and entries_read != INVALID_ENTRIES_READ:
                raise RedisError("ERR value for ENTRIESREAD must be positive or -1")
            i += 2
        else:
            raise _subcommand_syntax(argv)
    row = _lookup(c, argv[2])
    grp = argv[3]
    g = None
    if not mkstream:
        if row is None:
            raise RedisError("ERR The XGROUP subcommand requires the key to exist. Note that for "
                             "CREATE you may want to use the MKSTREAM option to create an empty "
                             "stream automatically.")
        g = S.group(c.server.ks.cur, row.id, grp)
        if g is None and opt in (b"setid", b"createconsumer", b"delconsumer"):
            raise RedisError(f"NOGROUP No such consumer group '{_s(grp)}' for key name "
                             f"'{_s(argv[2])}'")
    elif row is not None:
        g = S.group(c.server.ks.cur, row.id, grp)
    return row, g, mkstream, entries_read


@command("xgroup|help")
def xgroup_help(c, argv):
    from aki.commands.connection import help_reply

    return help_reply(argv[0], _XGROUP_HELP)


@command("xgroup|create")
def xgroup_create(c, argv):
    row, g, mkstream, entries_read = _xgroup_prepare(c, argv)
    if len(argv) > 8:
        raise _subcommand_syntax(argv)
    ks = c.server.ks
    if argv[4] == b"$":
        eid = S.Meta(row.value).last if row is not None else (0, 0)
    else:
        eid = _strict(argv[4])
    if row is None:
        row = ks.create(c.db, argv[2], STREAM, S.Meta(None).pack())
    if g is not None:
        raise RedisError("BUSYGROUP Consumer Group name already exists")
    S.create_group(ks.cur, row.id, argv[3], eid, entries_read)
    ks.notify("t", "xgroup-create", c.db, argv[2])
    rewrite(c.server, c.db, list(argv))
    return OK


@command("xgroup|setid")
def xgroup_setid(c, argv):
    row, g, _mk, entries_read = _xgroup_prepare(c, argv)
    if len(argv) not in (5, 7):
        raise _subcommand_syntax(argv)
    if argv[4] == b"$":
        eid = S.Meta(row.value).last
    else:
        eid = parse_id(argv[4])[0]
    g.last = eid
    g.entries_read = entries_read
    S.save_group(c.server.ks.cur, row.id, g)
    c.server.ks.notify("t", "xgroup-setid", c.db, argv[2])
    rewrite(c.server, c.db, list(argv))
    return OK


@command("xgroup|destroy")
def xgroup_destroy(c, argv):
    row, g, _mk, _er = _xgroup_prepare(c, argv)
    if g is None:
        return 0
    ks = c.server.ks
    S.destroy_group(ks.cur, row.id, g.name)
    ks.notify("t", "xgroup-destroy", c.db, argv[2])
    rewrite(c.server, c.db, list(argv))
    ks.touch(c.db, argv[2])  # signalKeyAsReady: blocked XREADGROUP clients get NOGROUP
    return 1


@command("xgroup|createconsumer")
def xgroup_createconsumer(c, argv):
    row, g, _mk, _er = _xgroup_prepare(c, argv)
    ks = c.server.ks
    if S.consumer_seen(ks.cur, row.id, g.name, argv[4]) is not None:
        return 0
    S.create_consumer(ks.cur, row.id, g.name, argv[4], _mstime())
    ks.notify("t", "xgroup-createconsumer", c.db, argv[2])
    rewrite(c.server, c.db, list(argv))
    return 1


@command("xgroup|delconsumer")
def xgroup_delconsumer(c, argv):
    row, g, _mk, _er = _xgroup_prepare(c, argv)
    ks = c.server.ks
    if S.consumer_seen(ks.cur, row.id, g.name, argv[4]) is None:
        return 0
    pending = S.delete_consumer(ks.engine.conn, ks.cur, row.id, g.name, argv[4])
    ks.notify("t", "xgroup-delconsumer", c.db, argv[2])
    rewrite(c.server, c.db, list(argv))
    return pending


# -- XACK / XPENDING / XCLAIM / XAUTOCLAIM -----------------------------------------------


@command("xack")
def xack(c, argv):
    row = _lookup(c, argv[1], read=True)
    ks = c.server.ks
    g = S.group(ks.cur, row.id, argv[2]) if row is not None else None
    if row is None or g is None:
        return 0
    ids = [_strict(b) for b in argv[3:]]
    n = 0
    for eid in ids:
        if S.pel_delete(ks.engine.conn, ks.cur, row.id, g.name, eid):
            n += 1
    if n:
        rewrite(c.server, c.db, list(argv))
    return n


@command("xpending")
def xpending(c, argv):
    n = len(argv)
    justinfo = n == 3
    if n != 3 and (n < 6 or n > 9):
        raise RedisError(errors.SYNTAX)
    minidle = 0
    count = 0
    consumer = None
    start = end = (0, 0)
    if n >= 6:
        sidx = 3
        if argv[3].lower() == b"idle":
            minidle = _ll(argv[4])
            if n < 8:
                raise RedisError(errors.SYNTAX)
            sidx += 2
        count = _ll(argv[sidx + 2])
        if count < 0:
            count = 0
        start, end = _range_bounds(argv[sidx], argv[sidx + 1])
        if sidx + 3 < n:
            consumer = argv[sidx + 3]
    row = _lookup(c, argv[1], read=True)
    ks = c.server.ks
    g = S.group(ks.cur, row.id, argv[2]) if row is not None else None
    if g is None:
        raise _nogroup(argv[1], argv[2])
    cur = ks.cur
    if justinfo:
        total, first, last = S.pel_summary(cur, row.id, g.name)
        if not total:
            return [0, None, None, NullArray]
        return [total, S.fmt(first), S.fmt(last),
                [[name, b"%d" % k] for name, k in S.pel_by_consumer(cur, row.id, g.name)]]
    if consumer is not None and S.consumer_seen(cur, row.id, g.name, consumer) is None:
        return []
    now = _mstime()
    out = []
    if count:
        for eid, owner, dtime, dcount in S.pel_range(cur, row.id, g.name, start, end, consumer):
            if minidle and now - dtime < minidle:
                continue
            out.append([S.fmt(eid), owner, max(0, now - dtime), dcount])
            if len(out) >= count:
                break
    return out


@command("xclaim")
def xclaim(c, argv):
    ks = c.server.ks
    row = _lookup(c, argv[1], read=True)
    g = S.group(ks.cur, row.id, argv[2]) if row is not None else None
    if row is None or g is None:
        raise _nogroup(argv[1], argv[2])
    minidle = _ll(argv[4], "ERR Invalid min-idle-time argument for XCLAIM")
    if minidle < 0:
        minidle = 0
    n = len(argv)
    ids: list[S.StreamID] = []
    j = 5
    while j < n:
        eid = _try_strict(argv[j])
        if eid is None:
            break
        ids.append(eid)
        j += 1
    last_id_arg = j - 1
    now = _mstime()
    last_id = (0, 0)
    retrycount = -1
    deliverytime = -1
    force = justid = False
    while j < n:
        more = n - 1 - j
        opt = argv[j].lower()
        if opt == b"force":
            force = True
        elif opt == b"justid":
            justid = True
        elif opt == b"idle" and more:
            j += 1
            deliverytime = now - _ll(argv[j], "ERR Invalid IDLE option argument for XCLAIM")
        elif opt == b"time" and more:
            j += 1
            deliverytime = _ll(argv[j], "ERR Invalid TIME option argument for XCLAIM")
        elif opt == b"retrycount" and more:
            j += 1
            retrycount = _ll(argv[j], "ERR Invalid RETRYCOUNT option argument for XCLAIM")
        elif opt == b"lastid" and more:
            j += 1
            last_id = _strict(argv[j])
        else:
            raise RedisError(f"ERR Unrecognized XCLAIM option '{_s(argv[j])}'")
        j += 1
    _no_propagate(c)
    cur = ks.cur
    kid = row.id
    propagate_last = False
    if last_id > g.last:
        g.last = last_id
        S.save_group(cur, kid, g)
        propagate_last = True
    if deliverytime != -1:
        if deliverytime < 0 or deliverytime > now:
            deliverytime = now
    else:
        deliverytime = now
    name = argv[3]
    have_consumer = False
    out = []
    for k in range(5, last_id_arg + 1):
        eid = ids[k - 5]
        nack = S.pel_get(cur, kid, g.name, eid)
        if not S.exists(cur, kid, eid):
            if nack is not None:
                _propagate_xclaim(c, argv[1], g, argv[k], nack[0] or b"", nack[1], nack[2])
                propagate_last = False
                S.pel_delete(ks.engine.conn, cur, kid, g.name, eid)
            continue
        if force and nack is None:
            nack = (None, now, 1)
        if nack is None:
            continue
        owner, dtime, dcount = nack
        if owner is not None and minidle and now - dtime < minidle:
            continue
        if not have_consumer:
            _consumer(c, row, argv[1], g.name, name)
            have_consumer = True
        if retrycount >= 0:
            dcount = retrycount
        elif not justid:
            dcount += 1
        S.pel_put(cur, kid, g.name, eid, name, deliverytime, dcount)
        if justid:
            out.append(S.fmt(eid))
        else:
            out.append(_entry(eid, S.get(cur, kid, eid) or []))
        _propagate_xclaim(c, argv[1], g, argv[k], name, deliverytime, dcount)
        propagate_last = False
    if propagate_last:
        _propagate_group_id(c, argv[1], g)
    return out


@command("xautoclaim")
def xautoclaim(c, argv):
    minidle = _ll(argv[4], "ERR Invalid min-idle-time argument for XAUTOCLAIM")
    if minidle < 0:
        minidle = 0
    start, ex = _interval(argv[5], 0)
    if ex:
        s2 = S.incr(start)
        if s2 is None:
            raise RedisError("ERR invalid start ID for the interval")
        start = s2
    count = 100
    justid = False
    j = 6
    n = len(argv)
    while j < n:
        more = n - 1 - j
        opt = argv[j].lower()
        if opt == b"count" and more:
            v = to_int(argv[j + 1])
            if v is None or v < 1 or v > LONG_MAX // 16:
                raise RedisError("ERR COUNT must be > 0")
            count = v
            j += 1
        elif opt == b"justid":
            justid = True
        else:
            raise RedisError(errors.SYNTAX)
        j += 1
    ks = c.server.ks
    row = _lookup(c, argv[1], read=True)
    g = S.group(ks.cur, row.id, argv[2]) if row is not None else None
    if row is None or g is None:
        raise _nogroup(argv[1], argv[2])
    _no_propagate(c)
    cur = ks.cur
    kid = row.id
    attempts = count * 10
    rows = list(S.pel_range(cur, kid, g.name, start, None, None, attempts + 1))
    now = _mstime()
    name = argv[3]
    have_consumer = False
    claimed: list = []
    deleted: list = []
    examined = 0
    for eid, owner, dtime, dcount in rows:
        if not attempts or not count:
            break
        attempts -= 1
        examined += 1
        if not S.exists(cur, kid, eid):
            _propagate_xclaim(c, argv[1], g, S.fmt(eid), owner or b"", dtime, dcount)
            S.pel_delete(ks.engine.conn, cur, kid, g.name, eid)
            deleted.append(S.fmt(eid))
            count -= 1
            continue
        if minidle and now - dtime < minidle:
            continue
        if not have_consumer:
            _consumer(c, row, argv[1], g.name, name)
            have_consumer = True
        if not justid:
            dcount += 1
        S.pel_put(cur, kid, g.name, eid, name, now, dcount)
        if justid:
            claimed.append(S.fmt(eid))
        else:
            claimed.append(_entry(eid, S.get(cur, kid, eid) or []))
        count -= 1
        _propagate_xclaim(c, argv[1], g, S.fmt(eid), name, now, dcount)
    nxt = S.fmt(rows[examined][0]) if examined < len(rows) else b"0-0"
    return [nxt, claimed, deleted]


# -- XINFO -------------------------------------------------------------------------------

_XINFO_HELP = [
    "CONSUMERS <key> <groupname>",
    "    Show consumers of <groupname>.",
    "GROUPS <key>",
    "    Show the stream consumer groups.",
    "STREAM <key> [FULL [COUNT <count>]",
    "    Show information about the stream.",
]


@command("xinfo|help")
def xinfo_help(c, argv):
    from aki.commands.connection import help_reply

    return help_reply(argv[0], _XINFO_HELP)


def _xinfo_row(c, key: bytes):
    row = _lookup(c, key, read=True)
    if row is None:
        raise RedisError(errors.NO_SUCH_KEY)
    return row


@command("xinfo|consumers")
def xinfo_consumers(c, argv):
    row = _xinfo_row(c, argv[2])
    cur = c.server.ks.cur
    g = S.group(cur, row.id, argv[3])
    if g is None:
        raise RedisError(f"NOGROUP No such consumer group '{_s(argv[3])}' for key name "
                         f"'{_s(argv[2])}'")
    now = _mstime()
    return [{b"name": name, b"pending": pending, b"idle": max(0, now - seen)}
            for name, seen, pending in S.consumers(cur, row.id, g.name)]


@command("xinfo|groups")
def xinfo_groups(c, argv):
    row = _xinfo_row(c, argv[2])
    cur = c.server.ks.cur
    meta = S.Meta(row.value)
    out = []
    for g in S.groups(cur, row.id):
        out.append({
            b"name": g.name,
            b"consumers": S.consumer_count(cur, row.id, g.name),
            b"pending": S.pel_count(cur, row.id, g.name),
            b"last-delivered-id": S.fmt(g.last),
            b"entries-read": None if g.entries_read == INVALID_ENTRIES_READ else g.entries_read,
            b"lag": _lag(meta, row.len, g),
        })
    return out


@command("xinfo|stream")
def xinfo_stream(c, argv):
    optv = argv[3:]
    full = bool(optv)
    count = 10
    if optv:
        if len(optv) not in (1, 3) or optv[0].lower() != b"full":
            raise _subcommand_syntax(argv)
        if len(optv) == 3:
            if optv[1].lower() != b"count":
                raise _subcommand_syntax(argv)
            count = _ll(optv[2])
            if count < 0:
                count = 10
    row = _xinfo_row(c, argv[2])
    cur = c.server.ks.cur
    meta = S.Meta(row.value)
    keys = S.node_keys(cur, row.id)
    out: dict = {
        b"length": row.len,
        b"radix-tree-keys": len(keys),
        b"radix-tree-nodes": S.rax_nodes(keys),
        b"last-generated-id": S.fmt(meta.last),
        b"max-deleted-entry-id": S.fmt(meta.maxdel),
        b"entries-added": meta.added,
        b"recorded-first-entry-id": S.fmt(meta.first),
    }
    if not full:
        out[b"groups"] = S.group_count(cur, row.id)
        first = _entries(c, row, (0, 0), MAX_ID, 1)
        last = _entries(c, row, (0, 0), MAX_ID, 1, True)
        out[b"first-entry"] = first[0] if first else None
        out[b"last-entry"] = last[0] if last else None
        return out
    out[b"entries"] = _entries(c, row, (0, 0), MAX_ID, count)
    groups = []
    for g in S.groups(cur, row.id):
        pel = [[S.fmt(eid), owner, dtime, dcount] for eid, owner, dtime, dcount in
               S.pel_range(cur, row.id, g.name, (0, 0), None, None, count if count else -1)]
        consumers = []
        for name, seen, pending in S.consumers(cur, row.id, g.name):
            cpel = [[S.fmt(eid), dtime, dcount] for eid, _o, dtime, dcount in
                    S.pel_range(cur, row.id, g.name, (0, 0), None, name, count if count else -1)]
            consumers.append({b"name": name, b"seen-time": seen, b"pel-count": pending,
                              b"pending": cpel})
        groups.append({
            b"name": g.name,
            b"last-delivered-id": S.fmt(g.last),
            b"entries-read": None if g.entries_read == INVALID_ENTRIES_READ else g.entries_read,
            b"lag": _lag(meta, row.len, g),
            b"pel-count": S.pel_count(cur, row.id, g.name),
            b"pending": pel,
            b"consumers": consumers,
        })
    out[b"groups"] = groups
    return out
