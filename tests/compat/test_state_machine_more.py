"""More random sequences against redis-server: bitmaps, ranges and stores over the
collections, SORT, LCS, streams with consumer groups, HyperLogLog, geo, and MULTI/EXEC
with WATCH and EVAL; in RESP2 and RESP3. The first machine runs with the
listpack/intset thresholds lowered to 3, so that its sequences cross encoding
conversions (OBJECT ENCODING is compared too). Only orders Redis leaves to its hash tables are compared as multisets.
"""

from __future__ import annotations

import hypothesis.strategies as st
import pytest

from tests.compat import test_state_machine_collections as C
from tests.compat.test_state_machine import _cmd, make_machine, run_machine
from tests.conftest import RawClient

K = C.KEYS
M = C.MEMBERS
SMALL = C.SMALL
# Plain draws fill the keys (the collections machine's flatmapped ones are slow to draw).
FILL = st.one_of(
    _cmd("RPUSH", K, M, M), _cmd("SADD", K, M, M), _cmd("SADD", K, st.integers(-3, 9)),
    _cmd("HSET", K, M, M), _cmd("ZADD", K, C.SCORES, M), _cmd("SET", K, M),
    _cmd("DEL", K), _cmd("LPOP", K), _cmd("SREM", K, M), _cmd("ZREM", K, M),
)
BITS = st.one_of(
    _cmd("SETBIT", K, st.integers(0, 40), st.sampled_from([0, 1, 2, "x"])),
    _cmd("GETBIT", K, st.integers(-1, 40)),
    _cmd("BITCOUNT", K), _cmd("BITCOUNT", K, SMALL, SMALL),
    _cmd("BITCOUNT", K, SMALL, SMALL, st.sampled_from(["BIT", "BYTE", "X"])),
    _cmd("BITPOS", K, st.sampled_from([0, 1])), _cmd("BITPOS", K, st.sampled_from([0, 1]), SMALL),
    _cmd("BITPOS", K, st.sampled_from([0, 1]), SMALL, SMALL, st.sampled_from(["BIT", "BYTE"])),
    st.lists(K, min_size=1, max_size=3).flatmap(lambda ks: st.sampled_from(["AND", "OR", "XOR", "NOT"]).flatmap(
        lambda op: K.map(lambda d: ("BITOP", op, d, *ks)))),
    _cmd("BITFIELD", K, "INCRBY", st.sampled_from(["i5", "u4", "i64", "u63", "u64"]), st.integers(0, 20), SMALL),
    _cmd("BITFIELD", K, "OVERFLOW", st.sampled_from(["SAT", "FAIL", "WRAP"]), "INCRBY", "i4", 0, st.integers(-20, 20)),
    _cmd("BITFIELD_RO", K, "GET", st.sampled_from(["i8", "u8", "i3"]), st.integers(0, 30)),
    _cmd("GETRANGE", K, SMALL, SMALL), _cmd("SETRANGE", K, st.integers(0, 8), M),
    _cmd("APPEND", K, M), _cmd("STRLEN", K),
)
ENC = st.one_of(_cmd("OBJECT", "ENCODING", K))
MORE = st.one_of(
    _cmd("ZRANGE", K, SMALL, SMALL, "REV"), _cmd("ZRANGE", K, C.RANGE_SCORE, C.RANGE_SCORE, "BYSCORE"),
    _cmd("ZRANGE", K, C.RANGE_SCORE, C.RANGE_SCORE, "BYSCORE", "REV", "LIMIT", SMALL, SMALL, "WITHSCORES"),
    _cmd("ZRANGESTORE", K, K, SMALL, SMALL), _cmd("ZMSCORE", K, M, M),
    _cmd("ZRANDMEMBER", K, st.sampled_from([0, -0])),
    st.lists(K, min_size=1, max_size=3).map(lambda ks: ("ZUNION", len(ks), *ks, "WITHSCORES")),
    st.lists(K, min_size=1, max_size=3).map(lambda ks: ("ZINTER", len(ks), *ks, "WITHSCORES")),
    st.lists(K, min_size=1, max_size=3).map(lambda ks: ("ZDIFF", len(ks), *ks, "WITHSCORES")),
    st.lists(K, min_size=1, max_size=3).map(lambda ks: ("ZINTERCARD", len(ks), *ks)),
    st.lists(K, min_size=1, max_size=3).map(lambda ks: ("SINTERCARD", len(ks), *ks, "LIMIT", 2)),
    st.lists(K, min_size=1, max_size=2).flatmap(lambda ks: st.sampled_from(["LEFT", "RIGHT"]).map(lambda d: ("LMPOP", len(ks), *ks, d, "COUNT", 2))),
    st.lists(K, min_size=1, max_size=2).flatmap(lambda ks: st.sampled_from(["MIN", "MAX"]).map(lambda d: ("ZMPOP", len(ks), *ks, d, "COUNT", 2))),
    _cmd("LPOS", K, M, "RANK", st.sampled_from([1, -1, 2, 0]), "COUNT", st.integers(0, 3), "MAXLEN", st.integers(0, 4)),
    _cmd("SORT", K), _cmd("SORT", K, "ALPHA"), _cmd("SORT", K, "ALPHA", "DESC", "LIMIT", SMALL, SMALL),
    _cmd("SORT", K, "BY", "nosort", "ALPHA"), _cmd("SORT", K, "ALPHA", "STORE", K),
    _cmd("COPY", K, K), _cmd("COPY", K, K, "REPLACE"),
    _cmd("GETEX", K, st.sampled_from(["PERSIST", "EX", "PX"]), st.sampled_from([100000, 0, -1])),
    _cmd("LCS", K, K), _cmd("LCS", K, K, "LEN"), _cmd("LCS", K, K, "IDX", "MINMATCHLEN", st.integers(0, 2), "WITHMATCHLEN"),
    _cmd("HRANDFIELD", K, 0), _cmd("SRANDMEMBER", K, 0),
    _cmd("OBJECT", "ENCODING", K),
    _cmd("EXPIRETIME", K), _cmd("TYPE", K),
)

SK = st.sampled_from(["a", "b", "s1"])
IDS = st.sampled_from(["1-1", "1-2", "2-0", "0-1", "5", "5-*", "0-0", "18446744073709551615-18446744073709551615", "x", "3-"])
RID = st.sampled_from(["-", "+", "1-1", "(1-1", "2", "0", "5-0", "(5", "x"])
FV = st.lists(st.tuples(st.sampled_from(["f", "g", "1"]), st.sampled_from(["v", "1", ""])), min_size=1, max_size=2).map(lambda pairs: tuple(x for p in pairs for x in p))
STREAMS = st.one_of(
    st.tuples(SK, IDS, FV).map(lambda t: ("XADD", t[0], t[1], *t[2])),
    st.tuples(SK, st.sampled_from([("MAXLEN", "2"), ("MAXLEN", "=", "1"), ("MINID", "2"), ("NOMKSTREAM",), ("MAXLEN", "~", "1")]), FV).flatmap(lambda t: IDS.map(lambda i: ("XADD", t[0], *t[1], i, *t[2]))),
    _cmd("XLEN", SK), _cmd("XRANGE", SK, RID, RID), _cmd("XREVRANGE", SK, RID, RID, "COUNT", SMALL),
    _cmd("XDEL", SK, IDS), _cmd("XTRIM", SK, "MAXLEN", st.integers(-1, 3)), _cmd("XTRIM", SK, "MINID", IDS),
    _cmd("XREAD", "COUNT", 2, "STREAMS", SK, IDS),
    _cmd("XGROUP", "CREATE", SK, st.sampled_from(["g1", "g2"]), st.sampled_from(["$", "0", "1-1"])),
    _cmd("XGROUP", "CREATE", SK, "g1", "0", "MKSTREAM"),
    _cmd("XGROUP", "DESTROY", SK, "g1"), _cmd("XGROUP", "SETID", SK, "g1", st.sampled_from(["0", "$", "1-1"])),
    _cmd("XGROUP", "CREATECONSUMER", SK, "g1", "c1"), _cmd("XGROUP", "DELCONSUMER", SK, "g1", "c1"),
    _cmd("XREADGROUP", "GROUP", "g1", st.sampled_from(["c1", "c2"]), "COUNT", 2, "STREAMS", SK, st.sampled_from([">", "0", "1-1"])),
    _cmd("XACK", SK, "g1", IDS), _cmd("XPENDING", SK, "g1"), _cmd("XPENDING", SK, "g1", "-", "+", 5),
    _cmd("XCLAIM", SK, "g1", "c2", 0, IDS, "JUSTID"),
    _cmd("XAUTOCLAIM", SK, "g1", "c2", 0, "0-0", "COUNT", 2, "JUSTID"),
    _cmd("XSETID", SK, IDS),
    _cmd("XINFO", "GROUPS", SK),
    _cmd("TYPE", SK), _cmd("DEL", SK),
)
HLL = st.one_of(
    st.lists(st.sampled_from(["x", "y", "z", "1", "2", ""]), min_size=0, max_size=4).flatmap(lambda es: SK.map(lambda k: ("PFADD", k, *es))),
    st.lists(SK, min_size=1, max_size=3).map(lambda ks: ("PFCOUNT", *ks)),
    st.lists(SK, min_size=1, max_size=3).flatmap(lambda ks: SK.map(lambda d: ("PFMERGE", d, *ks))),
    _cmd("SET", SK, "x"),
)
LONLAT = st.sampled_from([("13.361389", "38.115556"), ("15.087269", "37.502669"), ("-200", "0"), ("0", "86"), ("2.35", "48.85")])
GEO = st.one_of(
    st.tuples(SK, LONLAT, st.sampled_from(["p1", "p2", "p3"]), st.sampled_from([(), ("NX",), ("XX",), ("CH",)])).map(lambda t: ("GEOADD", t[0], *t[3], *t[1], t[2])),
    _cmd("GEODIST", SK, "p1", "p2", st.sampled_from(["m", "km", "mi", "ft", "x"])),
    _cmd("GEOPOS", SK, "p1", "p3", "zz"), _cmd("GEOHASH", SK, "p1", "p2"),
    _cmd("GEOSEARCH", SK, "FROMMEMBER", "p1", "BYRADIUS", st.sampled_from([10, 200, 5000]), "km", "ASC", "WITHDIST", "WITHCOORD"),
    _cmd("GEOSEARCH", SK, "FROMLONLAT", "15", "37", "BYBOX", 400, 400, "km", "DESC", "COUNT", 2, "WITHHASH"),
    _cmd("GEOSEARCHSTORE", SK, SK, "FROMLONLAT", "15", "37", "BYRADIUS", 300, "km", "STOREDIST"),
    _cmd("GEORADIUS", SK, "15", "37", 200, "km", "WITHDIST", "ASC"),
    _cmd("ZRANGE", SK, 0, -1, "WITHSCORES"),
)
TX = st.one_of(
    _cmd("MULTI"), _cmd("EXEC"), _cmd("DISCARD"), _cmd("WATCH", SK), _cmd("UNWATCH"),
    _cmd("SET", SK, "v"), _cmd("INCR", SK), _cmd("LPUSH", SK, "x"), _cmd("GET", SK),
    _cmd("EVAL", st.sampled_from(["return redis.call('incr', KEYS[1])", "return redis.pcall('lpush', KEYS[1], 'a')",
                                  "return {1, 2.5, 'x', false, {err='bad'}}", "return redis.call('nosuch')",
                                  "return tonumber(ARGV[1]) + 1", "redis.call('set', KEYS[1], 'z') return redis.call('type', KEYS[1])"]), 1, SK, st.sampled_from(["1", "x"])),
    _cmd("DEL", SK), _cmd("SET"),
)


def normalize(cmd: tuple, reply: bytes) -> bytes:
    """Hashtable-encoded hashes and sets, and SORT BY nosort of a set, come in Redis's
    hash order: compared as multisets (HGETALL as field-value pairs)."""
    if cmd[0] == "EXPIRETIME" and reply.startswith(b":") and int(reply[1:]) > 0:
        return b":positive\r\n"
    if reply[:1] == b"*" and (cmd[0] in ("HKEYS", "HVALS")
                             or (cmd[0] == "SORT" and "nosort" in cmd)):
        return reply[:1] + b"".join(sorted(C._elements(reply)))
    if cmd[0] == "HGETALL" and reply[:1] == b"*":
        e = C._elements(reply)
        return reply[:1] + b"".join(sorted(a + b for a, b in zip(e[::2], e[1::2], strict=True)))
    return C.normalize(cmd, reply)


_LOW = [("hash-max-listpack-entries", "3"), ("zset-max-listpack-entries", "3"),
        ("set-max-intset-entries", "3"), ("list-max-listpack-size", "3"),
        ("hash-max-listpack-value", "3"), ("zset-max-listpack-value", "3")]


def _run(families: list, keys: tuple[str, ...], resp: int, aki_port: int,
         redis_port: int, examples: int) -> None:
    """``examples`` fixed sequences (CI-sized; randomized runs of 300
    sequences of 50 steps per family set, RESP2 and RESP3, found no divergence)."""
    base = make_machine(families, normalize=normalize, keys=keys)

    class Machine(base):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            super().__init__()
            if resp == 3:
                for c in (self.a, self.r):
                    assert c.cmd("HELLO", "3").startswith(b"%")

    run_machine(Machine, aki_port, redis_port, examples)


@pytest.fixture
def low_thresholds(aki_server, redis_server):
    saved = {}
    for port in (aki_server.port, redis_server.port):
        c = RawClient(port)
        for name, value in _LOW:
            saved[name] = c.cmd("CONFIG", "GET", name).split(b"\r\n")[-2].decode()
            assert c.cmd("CONFIG", "SET", name, value) == b"+OK\r\n"
        c.close()
    yield
    for port in (aki_server.port, redis_server.port):
        c = RawClient(port)
        for name, value in saved.items():
            c.cmd("CONFIG", "SET", name, value)
        c.close()


@pytest.mark.parametrize("resp", [2, 3])
def test_bitmaps_ranges_and_stores(aki_server, redis_server, low_thresholds, resp):
    _run([FILL, BITS, MORE], ("a", "b", "c", "k1"), resp, aki_server.port,
         redis_server.port, 40)


@pytest.mark.parametrize("resp", [2, 3])
def test_streams_hll_geo_and_transactions(aki_server, redis_server, resp):
    _run([STREAMS, HLL, GEO, TX], ("a", "b", "s1"), resp, aki_server.port, redis_server.port,
         40)
