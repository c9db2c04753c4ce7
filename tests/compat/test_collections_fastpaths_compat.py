"""The single-element fast paths of the collection commands redis-benchmark drives
(LPUSH/RPOP, LRANGE, SADD, HSET, ZADD, ZRANGEBYSCORE ... LIMIT) against real Redis
7.0.15, byte for byte: binary elements, unchanged values, encodings, WATCH and
keyspace events (a write that changes nothing must not touch the key)."""

from __future__ import annotations

import pytest

from tests.conftest import RawClient

BINARY = [b"", b"\x00", b"a\x00b", b"\xff", b"x\xffy", bytes(range(256)), b"\xc3\xa9", b"xxx"]


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def p(pair, request):
    if request.param == 3:
        pair.both("HELLO", "3")
    return pair


def test_lrange_binary_elements(p):
    # LRANGE builds a long range's reply inside SQLite and joins a short one there,
    # splitting it on 0xff: every range shape, with and without elements containing
    # that byte (or CR LF, NUL, nothing), must come back exactly
    for v in BINARY * 3:
        p.same("RPUSH", "l", v)
    n = len(BINARY) * 3
    for start, end in [(0, -1), (0, 3), (1, 4), (2, 9), (-5, -1), (3, 3), (0, 0), (5, 100)]:
        p.same("LRANGE", "l", start, end)
    p.same("DEL", "l")
    for i in range(n):
        p.same("LPUSH", "l", b"e%d" % i)
    p.same("RPUSH", "l", b"", b"", b"", b"", b"")
    for start, end in [(0, -1), (0, 99), (n - 2, n + 3), (-7, -1), (10, 5)]:
        p.same("LRANGE", "l", start, end)


def test_wire_replies_inside_scripts_and_exec(p):
    # a long LRANGE, a ZRANGE by rank or a ZRANGEBYSCORE without scores are wire bytes:
    # scripts and EXEC must still see their values
    for i, v in enumerate(BINARY):
        p.same("ZADD", "z", i % 3, v)
    p.same("EVAL", "return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '+inf')", 1, "z")
    p.same("EVAL", "return #redis.call('ZREVRANGEBYSCORE', KEYS[1], 1, 0, 'LIMIT', 1, 3)", 1, "z")
    p.same("EVAL", "return redis.call('ZRANGEBYSCORE', KEYS[1], 5, 6)", 1, "z")
    p.same("EVAL", "return redis.call('ZREVRANGE', KEYS[1], 1, -2)", 1, "z")
    for start, end in [(0, -1), (1, 3), (-3, -1), (5, 2), (0, 100), (6, 7)]:
        p.same("ZRANGE", "z", start, end)
        p.same("ZREVRANGE", "z", start, end)
        p.same("ZRANGE", "z", start, end, "REV")
    p.same("MULTI")
    p.same("ZRANGEBYSCORE", "z", "(0", "+inf", "LIMIT", 0, 10)
    p.same("ZRANGE", "z", 0, 2, "BYSCORE")
    p.same("EXEC")
    for v in BINARY * 2:
        p.same("RPUSH", "l", v)
    p.same("EVAL", "return redis.call('LRANGE', KEYS[1], 0, -1)", 1, "l")
    p.same("EVAL", "local t = redis.call('LRANGE', KEYS[1], 0, -1) return {#t, t[1], t[6]}", 1, "l")
    p.same("EVAL", "return redis.pcall('LRANGE', KEYS[1], 2, 13)", 1, "l")
    p.same("MULTI")
    p.same("LRANGE", "l", 0, -1)
    p.same("LRANGE", "l", 1, 2)
    p.same("LLEN", "l")
    p.same("EXEC")


def test_pop_single_until_empty(p):
    p.same("RPUSH", "l", "a", b"\xff", "c", "d")
    p.same("RPOP", "l")
    p.same("LPOP", "l")
    p.same("LRANGE", "l", 0, -1)
    p.same("RPOP", "l")
    p.same("LPUSH", "l", "z")
    p.same("LRANGE", "l", 0, -1)
    p.same("LPOP", "l")
    p.same("RPOP", "l")
    p.same("EXISTS", "l")
    p.same("RPOP", "l")
    p.same("LPUSH", "l", "again")
    p.same("LLEN", "l")
    p.same("OBJECT", "ENCODING", "l")


def test_hset_new_same_and_changed_values(p):
    p.same("HSET", "h", "f1", "xxx")
    p.same("HSET", "h", "f1", "xxx")  # unchanged: not created
    p.same("HSET", "h", "f2", "yyy")
    p.same("HSET", "h", "f1", "zzz")
    p.same("HSET", "h", "f3", "", "f3", "a", "f4", "b", "f1", "zzz")
    p.same("HSET", "h", "f3", "")
    p.same("HSET", "h", "bin", b"\x00\xff", "bin", b"\x00\xff")
    p.same("HGETALL", "h")
    p.same("HLEN", "h")
    p.same("OBJECT", "ENCODING", "h")
    p.same("HSETNX", "h", "f2", "no")
    p.same("HSETNX", "h", "f9", "yes")
    p.same("HGETALL", "h")
    p.same("HSET", "h", "long", "v" * 100)
    p.same("OBJECT", "ENCODING", "h")
    p.same("HSET", "h", "long", "v" * 100)
    p.same("HLEN", "h")


def test_zadd_single_member(p):
    p.same("ZADD", "z", "000000012345", "element:000000012345")
    p.same("ZADD", "z", "12345", "element:000000012345")  # same score: 0
    p.same("ZADD", "z", "7", "element:000000012345")  # changed score: 0
    p.same("ZADD", "z", "0", "zero")
    p.same("ZADD", "z", "-0", "zero")  # -0 == 0: no change
    p.same("ZADD", "z", "+inf", "top")
    p.same("ZADD", "z", "inf", "top")
    p.same("ZADD", "z", "-inf", "bottom")
    p.same("ZADD", "z", "1e3", "e")
    p.same("ZADD", "z", "1.5", "e")
    p.same("ZADD", "z", "0x10", "hex")
    p.same("ZADD", "z", "abc", "bad")
    p.same("ZADD", "z", "", "bad")
    p.same("ZADD", "z", " 1", "bad")
    p.same("ZADD", "z", "1" * 400, "bad")
    p.same("ZADD", "z", "0" * 400, "zeros")
    p.same("ZADD", "z", "nan", "bad")
    p.same("ZRANGE", "z", 0, -1, "WITHSCORES")
    p.same("ZCARD", "z")
    p.same("OBJECT", "ENCODING", "z")
    p.same("ZADD", "z", "1", "m" * 65)  # a long member converts to a skiplist
    p.same("OBJECT", "ENCODING", "z")
    p.same("SET", "s", "v")
    p.same("ZADD", "s", "1", "m")
    p.same("ZADD", "z2", "NX", "1", "m")
    p.same("ZADD", "z2", "1", "m", "2", "n")
    p.same("ZRANGE", "z2", 0, -1, "WITHSCORES")


def test_zadd_listpack_limit(p):
    for i in range(128):
        p.same("ZADD", "z", i, b"m%d" % i)
    p.same("OBJECT", "ENCODING", "z")
    p.same("ZADD", "z", 5, b"m5")
    p.same("OBJECT", "ENCODING", "z")
    p.same("ZADD", "z", 500, b"m500")
    p.same("OBJECT", "ENCODING", "z")
    p.same("ZCARD", "z")


def test_zrangebyscore_limit(p):
    for i in range(50):
        p.same("ZADD", "z", i, b"m%02d" % i)
    for args in [("0", "+inf", "LIMIT", 0, 10), ("000000000010", "+inf", "LIMIT", 0, 10),
                 ("10", "+inf", "LIMIT", 5, 3), ("(10", "20", "LIMIT", 0, -1),
                 ("-inf", "+inf", "LIMIT", 45, 10), ("48", "+inf", "LIMIT", 0, 10),
                 ("60", "+inf", "LIMIT", 0, 10), ("10", "+inf", "LIMIT", -1, 10),
                 ("10", "+inf", "WITHSCORES", "LIMIT", 1, 2)]:
        p.same("ZRANGEBYSCORE", "z", *args)
        p.same("ZREVRANGEBYSCORE", "z", args[1], args[0], *args[2:])
    p.same("ZRANGE", "z", 3, 8)
    p.same("ZRANGE", "z", -8, -3, "REV")
    p.same("ZRANGEBYLEX", "z", "[m10", "+", "LIMIT", 2, 4)


def test_sadd_single_member(p):
    p.same("SADD", "s", "1")
    p.same("SADD", "s", "1")
    p.same("OBJECT", "ENCODING", "s")
    p.same("SADD", "s", "element:000000000001")
    p.same("SADD", "s", "element:000000000001")
    p.same("OBJECT", "ENCODING", "s")
    p.same("SCARD", "s")
    p.same("SMISMEMBER", "s", "1", "element:000000000001", "2")


@pytest.mark.parametrize("setup,write", [
    (("ZADD", "k", "1", "m"), ("ZADD", "k", "1", "m")),  # unchanged: WATCH survives
    (("ZADD", "k", "1", "m"), ("ZADD", "k", "2", "m")),
    (("ZADD", "k", "1", "m"), ("ZADD", "k", "1", "n")),
    (("HSET", "k", "f", "v"), ("HSET", "k", "f", "v")),  # Redis signals HSET always
    (("HSET", "k", "f", "v"), ("HSET", "k", "f", "w")),
    (("SADD", "k", "m"), ("SADD", "k", "m")),  # nothing added: WATCH survives
    (("SADD", "k", "m"), ("SADD", "k", "n")),
    (("RPUSH", "k", "a", "b"), ("RPOP", "k")),
    (("RPUSH", "k", "a"), ("LPUSH", "k", "b")),
])
def test_watch_after_write(p, aki_server, redis_server, setup, write):
    """Whether a write signals the key (a WATCH then fails), as in Redis."""
    p.same(*setup)
    got = []
    for port in (aki_server.port, redis_server.port):
        a, b = RawClient(port), RawClient(port)
        try:
            assert a.cmd("WATCH", "k") == b"+OK\r\n"
            b.cmd(*write)
            a.cmd("MULTI")
            a.cmd("PING")
            got.append(a.cmd("EXEC"))
        finally:
            a.close()
            b.close()
    assert got[0] == got[1], (setup, write, got)
