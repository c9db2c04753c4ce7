"""Hashes: the same commands to redis-server 7.0.15 and aki, replies compared byte for byte
(sorted where Redis gives no order), in RESP2 and RESP3."""

from __future__ import annotations

import pytest
from test_sets_compat import keyevents, parse, same_unordered


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def p(request, pair):
    if request.param == 3:
        pair.a.cmd("HELLO", "3")
        pair.r.cmd("HELLO", "3")
    return pair


def test_basic(p):
    for cmd in [
        ("HSET", "h", "b", "1", "a", "2", "c", "3"), ("HSET", "h", "a", "20", "d", "4"),
        ("HGET", "h", "a"), ("HGET", "h", "zz"), ("HGET", "nokey", "a"),
        ("HMGET", "h", "a", "zz", "d"), ("HMGET", "nokey", "a", "b"),
        ("HGETALL", "h"), ("HKEYS", "h"), ("HVALS", "h"), ("HLEN", "h"),
        ("HGETALL", "nokey"), ("HKEYS", "nokey"), ("HVALS", "nokey"), ("HLEN", "nokey"),
        ("HEXISTS", "h", "a"), ("HEXISTS", "h", "zz"), ("HEXISTS", "nokey", "a"),
        ("HSTRLEN", "h", "a"), ("HSTRLEN", "h", "zz"), ("HSTRLEN", "nokey", "a"),
        ("HSETNX", "h", "a", "x"), ("HSETNX", "h", "e", "5"), ("HSETNX", "new", "f", "v"),
        ("HMSET", "h", "x", "1", "y", "2"), ("HGETALL", "h"),
        ("HDEL", "h", "a", "zz", "b"), ("HDEL", "nokey", "a"), ("HGETALL", "h"),
        ("HDEL", "h", "c", "d", "e", "x", "y"), ("EXISTS", "h"),
        ("HSET", "h", "f"), ("HSET", "h", "f", "v", "g"), ("HMSET", "h", "f"), ("HSET", "h"),
        ("HDEL", "h"), ("HGET", "h"), ("HSETNX", "h", "f"),
        ("HSET", "n", "-0", "1", "007", "2", "12", "3"), ("HGETALL", "n"),
        ("HSET", "e", "", ""), ("HGET", "e", ""), ("HSTRLEN", "e", ""),
    ]:
        p.same(*cmd)


def test_wrongtype(p):
    p.same("SET", "str", "x")
    for cmd in [
        ("HSET", "str", "a", "1"), ("HSETNX", "str", "a", "1"), ("HMSET", "str", "a", "1"),
        ("HGET", "str", "a"), ("HMGET", "str", "a"), ("HGETALL", "str"), ("HDEL", "str", "a"),
        ("HEXISTS", "str", "a"), ("HLEN", "str"), ("HKEYS", "str"), ("HVALS", "str"),
        ("HSTRLEN", "str", "a"), ("HINCRBY", "str", "a", "1"), ("HINCRBYFLOAT", "str", "a", "1"),
        ("HRANDFIELD", "str"), ("HRANDFIELD", "str", "2"), ("HSCAN", "str", "0"),
        ("HINCRBY", "str", "a", "x"), ("HINCRBYFLOAT", "str", "a", "x"),
    ]:
        p.same(*cmd)


def test_hashtable_order_free(p):
    fields = []
    for i in range(200):
        fields += [f"f{i}", f"v{i}"]
    p.same("HSET", "big", *fields)
    same_unordered(p, "HKEYS", "big")
    same_unordered(p, "HVALS", "big")
    a, r = p.both("HGETALL", "big")
    pa, pr = parse(a), parse(r)
    if isinstance(pa, list):  # RESP2: a flat array of pairs
        pa = sorted(zip(pa[::2], pa[1::2], strict=True))
        pr = sorted(zip(pr[::2], pr[1::2], strict=True))
    assert pa == pr


def test_hincrby(p):
    for cmd in [
        ("HINCRBY", "h", "n", "5"), ("HINCRBY", "h", "n", "-12"), ("HGET", "h", "n"),
        ("HINCRBY", "h", "n", "x"), ("HINCRBY", "h", "n", "1.5"), ("HINCRBY", "h", "n", ""),
        ("HINCRBY", "h", "n", "9223372036854775808"),
        ("HSET", "h", "s", "abc", "sp", " 1", "big", "9223372036854775807", "neg", "-9223372036854775808"),
        ("HINCRBY", "h", "s", "1"), ("HINCRBY", "h", "sp", "1"), ("HINCRBY", "h", "big", "1"),
        ("HINCRBY", "h", "big", "0"), ("HINCRBY", "h", "neg", "-1"), ("HINCRBY", "h", "neg", "1"),
        ("HINCRBY", "nokey", "n", "x"), ("EXISTS", "nokey"), ("HINCRBY", "h", "n"),
        ("HSET", "h", "z", "-0"), ("HINCRBY", "h", "z", "1"),
    ]:
        p.same(*cmd)


def test_hincrbyfloat(p):
    for cmd in [
        ("HINCRBYFLOAT", "h", "f", "0.1"), ("HINCRBYFLOAT", "h", "f", "0.2"), ("HGET", "h", "f"),
        ("HINCRBYFLOAT", "h", "f", "-1.5e3"), ("HINCRBYFLOAT", "h", "f", "x"),
        ("HINCRBYFLOAT", "h", "f", "inf"), ("HINCRBYFLOAT", "h", "f", "nan"),
        ("HINCRBYFLOAT", "h", "f", ""), ("HINCRBYFLOAT", "h", "f", " 1"),
        ("HSET", "h", "s", "abc", "i", "inf", "int", "10"),
        ("HINCRBYFLOAT", "h", "s", "1"), ("HINCRBYFLOAT", "h", "i", "1"),
        ("HINCRBYFLOAT", "h", "int", "1.25"), ("HINCRBYFLOAT", "h", "int", "3.0e3"),
        ("HINCRBYFLOAT", "h", "g", "1.7976931348623157e308"),
        ("HINCRBYFLOAT", "h", "g", "1.7976931348623157e308"),
        ("HINCRBYFLOAT", "h", "x", "0x10"), ("HINCRBYFLOAT", "nokey", "f", "x"), ("EXISTS", "nokey"),
        ("HINCRBYFLOAT", "h", "n", "10.5"), ("HINCRBYFLOAT", "h", "n", "-10.5"), ("HGET", "h", "n"),
    ]:
        p.same(*cmd)


def test_hrandfield(p):
    for cmd in [
        ("HRANDFIELD", "nokey"), ("HRANDFIELD", "nokey", "3"), ("HRANDFIELD", "nokey", "-3"),
        ("HRANDFIELD", "nokey", "3", "WITHVALUES"), ("HRANDFIELD", "h", "x"),
        ("HRANDFIELD", "h", "1", "foo"), ("HRANDFIELD", "h", "1", "WITHVALUES", "x"),
        ("HRANDFIELD", "h", "-9223372036854775808"),
        ("HRANDFIELD", "h", "-9223372036854775808", "WITHVALUES"),
        ("HRANDFIELD", "h", "-9223372036854775807", "WITHVALUES"),
        ("HRANDFIELD", "h", "4611686018427387904", "WITHVALUES"),
        ("HSET", "h", "a", "1", "b", "2", "c", "3"),
        ("HRANDFIELD", "h", "0"), ("HRANDFIELD", "h", "0", "WITHVALUES"),
        # count >= size: the whole hash, in listpack (insertion) order
        ("HRANDFIELD", "h", "3"), ("HRANDFIELD", "h", "10", "WITHVALUES"),
    ]:
        p.same(*cmd)
    values = {b"a": b"1", b"b": b"2", b"c": b"3"}
    for n in ("-10", "2", "1", "-1"):
        for wv in (False, True):
            args = ["HRANDFIELD", "h", n] + (["WITHVALUES"] if wv else [])
            got = parse(p.a.cmd(*args))
            want_len = abs(int(n)) if int(n) < 0 else min(int(n), 3)
            if wv and isinstance(got[0], list):  # RESP3: pairs
                pairs = [tuple(x) for x in got]
            elif wv:
                pairs = list(zip(got[::2], got[1::2], strict=True))
            else:
                pairs = [(f, values[f]) for f in got]
            assert len(pairs) == want_len
            assert all(values[f] == v for f, v in pairs)
            if int(n) > 0:
                assert len({f for f, _ in pairs}) == len(pairs)
    assert parse(p.a.cmd("HRANDFIELD", "h")) in values


def test_hrandfield_listpack_unique_keeps_order(p):
    fields = []
    for i in range(30):
        fields += [f"f{i:02d}", str(i)]
    p.same("HSET", "h", *fields)
    got = parse(p.a.cmd("HRANDFIELD", "h", "5"))
    assert got == sorted(got) and len(set(got)) == 5  # insertion order == sorted here


def test_hscan(p):
    p.same("HSCAN", "nokey", "0")
    p.same("HSCAN", "nokey", "0", "COUNT", "0")
    p.same("HSCAN", "h", "x")
    p.same("HSET", "h", "b", "1", "a", "2", "c", "3", "ab", "4")
    p.same("HSCAN", "h", "0")
    p.same("HSCAN", "h", "0", "MATCH", "a*")
    p.same("HSCAN", "h", "0", "COUNT", "1")
    for bad in (("COUNT", "0"), ("COUNT", "x"), ("TYPE", "hash"), ("MATCH",), ("FOO", "1")):
        p.same("HSCAN", "h", "0", *bad)
    fields = []
    for i in range(300):
        fields += [f"k{i}", f"v{i}"]
    p.same("HSET", "big", *fields)
    for match in (None, "k1*"):
        seen = {}
        for side, client in (("a", p.a), ("r", p.r)):
            cursor, got = b"0", {}
            while True:
                args = ["HSCAN", "big", cursor, "COUNT", "13"] + (["MATCH", match] if match else [])
                reply = parse(client.cmd(*args))
                cursor = reply[0]
                items = reply[1]
                got.update(zip(items[::2], items[1::2], strict=True))
                if cursor == b"0":
                    break
            seen[side] = got
        assert seen["a"] == seen["r"]
        assert len(seen["a"]) == (300 if match is None else 111)


def test_arity(p):
    for cmd in [("HGET", "h"), ("HMGET", "h"), ("HDEL", "h"), ("HLEN",), ("HINCRBY", "h", "f"),
                ("HSCAN", "h"), ("HRANDFIELD",), ("HSTRLEN", "h"), ("HGETALL",)]:
        p.same(*cmd)


def test_encoding_transitions(p):
    p.same("CONFIG", "SET", "hash-max-listpack-entries", "4")
    p.same("CONFIG", "SET", "hash-max-listpack-value", "8")
    try:
        p.same("HSET", "h", "a", "1", "b", "2", "c", "3", "d", "4")
        p.same("OBJECT", "ENCODING", "h")
        p.same("HGETALL", "h")
        p.same("HSET", "h", "e", "5")
        p.same("OBJECT", "ENCODING", "h")
        p.same("HDEL", "h", "e", "d")
        p.same("OBJECT", "ENCODING", "h")  # one-way
        p.same("HSET", "v", "a", "123456789")
        p.same("OBJECT", "ENCODING", "v")
        p.same("HSET", "w", "a", "12345678")
        p.same("OBJECT", "ENCODING", "w")
        p.same("HSET", "w", "123456789", "1")
        p.same("OBJECT", "ENCODING", "w")
        p.same("HSETNX", "x", "a", "123456789")
        p.same("OBJECT", "ENCODING", "x")
        p.same("HINCRBYFLOAT", "y", "f", "1.5")
        p.same("HINCRBYFLOAT", "y", "f", "0.123456789")
        p.same("OBJECT", "ENCODING", "y")
        p.same("HINCRBY", "z", "f", "123456789")
        p.same("OBJECT", "ENCODING", "z")
    finally:
        p.same("CONFIG", "SET", "hash-max-listpack-entries", "128")
        p.same("CONFIG", "SET", "hash-max-listpack-value", "64")


def test_keyspace_events(redis_server, tmp_path):
    script = [
        ("HSET", "h", "a", "1", "b", "2"), ("HSET", "h", "a", "1"), ("HSETNX", "h", "a", "2"),
        ("HSETNX", "h", "c", "3"), ("HMSET", "h", "d", "4"), ("HDEL", "h", "zz"),
        ("HDEL", "h", "a"), ("HINCRBY", "h", "n", "1"), ("HINCRBYFLOAT", "h", "n", "1.5"),
        ("HINCRBY", "h", "b", "x"), ("HDEL", "h", "b", "c", "d", "n"), ("SET", "end", "1"),
    ]
    got, want = keyevents(redis_server.port, tmp_path / "ev.aki", script)
    assert got == want


@pytest.mark.parametrize("incr", ["0e99999999999", "1e400", "1e4933", "1e-4940", "inf", "abc",
                                  "0x10", " 1", "10.5", "5e-1", "1" * 5200])
def test_hincrbyfloat_operands(p, incr):
    """Increments Redis's strtold reads (or refuses), including ones that once hung aki."""
    p.same("HSET", "hf", "f", "10.5")
    p.same("HINCRBYFLOAT", "hf", "f", incr)
    p.same("HGET", "hf", "f")
    p.same("HSET", "hf", "g", incr)
    p.same("HINCRBYFLOAT", "hf", "g", "1")
