"""List commands against real Redis 7.0.15: every reply compared byte for byte,
in RESP2 and RESP3 (the ``proto`` fixture switches both raw clients)."""

from __future__ import annotations

import random

import pytest


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def p(pair, request):
    if request.param == 3:
        pair.both("HELLO", "3")
    return pair


def fill(p, key, *values):
    p.same("RPUSH", key, *values)


def test_push_and_len(p):
    p.same("LPUSH", "l", "a")
    p.same("LPUSH", "l", "b", "c")
    p.same("RPUSH", "l", "d", "e", "f")
    p.same("LLEN", "l")
    p.same("LRANGE", "l", 0, -1)
    p.same("LPUSHX", "nokey", "a")
    p.same("RPUSHX", "nokey", "a", "b")
    p.same("EXISTS", "nokey")
    p.same("LPUSHX", "l", "x", "y")
    p.same("RPUSHX", "l", "z")
    p.same("LRANGE", "l", 0, -1)
    p.same("LLEN", "nokey")
    p.same("OBJECT", "ENCODING", "l")
    p.same("TYPE", "l")


def test_wrongtype(p):
    p.same("SET", "s", "v")
    for cmd in (("LPUSH", "s", "a"), ("RPUSH", "s", "a"), ("LPUSHX", "s", "a"), ("RPUSHX", "s", "a"),
                ("LPOP", "s"), ("RPOP", "s", 2), ("LLEN", "s"), ("LINDEX", "s", 0),
                ("LINSERT", "s", "BEFORE", "a", "b"), ("LPOS", "s", "a"), ("LRANGE", "s", 0, 1),
                ("LREM", "s", 0, "a"), ("LSET", "s", 0, "a"), ("LTRIM", "s", 0, 1),
                ("LMOVE", "s", "d", "LEFT", "LEFT"), ("RPOPLPUSH", "s", "d"),
                ("LMPOP", 1, "s", "LEFT"), ("BLPOP", "s", 0), ("BRPOP", "s", 0),
                ("BLMOVE", "s", "d", "LEFT", "LEFT", 0), ("BRPOPLPUSH", "s", "d", 0),
                ("BLMPOP", 0, 1, "s", "LEFT")):
        p.same(*cmd)
    fill(p, "l", "a")
    p.same("LMOVE", "l", "s", "LEFT", "RIGHT")
    p.same("RPOPLPUSH", "l", "s")
    p.same("BLMOVE", "l", "s", "LEFT", "RIGHT", 0)
    p.same("LRANGE", "l", 0, -1)


def test_pop_variants(p):
    fill(p, "l", *"abcdefg")
    p.same("LPOP", "l")
    p.same("RPOP", "l")
    p.same("LPOP", "l", 2)
    p.same("RPOP", "l", 2)
    p.same("LPOP", "l", 0)
    p.same("RPOP", "l", 10)
    p.same("EXISTS", "l")
    p.same("LPOP", "l")
    p.same("LPOP", "l", 0)
    p.same("LPOP", "l", 3)
    p.same("RPOP", "l", 3)
    for bad in ("-1", "abc", "1.5", "", "99999999999999999999"):
        p.same("LPOP", "l", bad)
    p.same("LPOP", "l", 1, 2)
    p.same("RPOP", "l", 1, 2)
    p.same("LPOP")


def test_lindex_lset(p):
    fill(p, "l", *"abcde")
    for i in (0, 1, 4, 5, -1, -5, -6, 100):
        p.same("LINDEX", "l", i)
    p.same("LINDEX", "l", "x")
    p.same("LINDEX", "nokey", "x")
    p.same("LSET", "l", 0, "A")
    p.same("LSET", "l", -1, "E")
    p.same("LSET", "l", 5, "X")
    p.same("LSET", "l", -6, "X")
    p.same("LSET", "l", "x", "X")
    p.same("LSET", "nokey", 0, "X")
    p.same("LSET", "nokey", "x", "X")
    p.same("LRANGE", "l", 0, -1)


def test_lrange_ltrim(p):
    fill(p, "l", *[str(i) for i in range(10)])
    for a, b in ((0, -1), (2, 4), (-3, -1), (5, 2), (-100, 100), (20, 30), (0, 0), (-1, -1), (9, 100)):
        p.same("LRANGE", "l", a, b)
    p.same("LRANGE", "l", "a", 1)
    p.same("LRANGE", "nokey", "a", 1)
    p.same("LRANGE", "nokey", 0, 1)
    p.same("LTRIM", "l", 1, -2)
    p.same("LRANGE", "l", 0, -1)
    p.same("LTRIM", "l", 0, 100)
    p.same("LTRIM", "l", -3, -1)
    p.same("LRANGE", "l", 0, -1)
    p.same("LTRIM", "l", "x", 1)
    p.same("LTRIM", "nokey", 0, 1)
    p.same("LTRIM", "l", 5, 1)
    p.same("EXISTS", "l")
    fill(p, "l2", "a", "b")
    p.same("LTRIM", "l2", 0, -1)
    p.same("LRANGE", "l2", 0, -1)


def test_linsert(p):
    fill(p, "l", "a", "b", "c", "d", "e")
    p.same("LINSERT", "l", "BEFORE", "a", "0")
    p.same("LINSERT", "l", "AFTER", "e", "f")
    p.same("LINSERT", "l", "before", "c", "x")
    p.same("LINSERT", "l", "after", "c", "y")
    p.same("LINSERT", "l", "AFTER", "b", "z")
    p.same("LINSERT", "l", "BEFORE", "d", "w")
    p.same("LINSERT", "l", "BEFORE", "nope", "q")
    p.same("LINSERT", "l", "MIDDLE", "a", "q")
    p.same("LINSERT", "nokey", "BEFORE", "a", "q")
    p.same("LINSERT", "nokey", "MIDDLE", "a", "q")
    p.same("LRANGE", "l", 0, -1)
    for i in range(5):
        p.same("LINDEX", "l", i)
    p.same("LLEN", "l")


def test_linsert_random(p):
    rnd = random.Random(7)
    fill(p, "l", *[str(i) for i in range(30)])
    for _ in range(60):
        pivot = str(rnd.randrange(30))
        p.same("LINSERT", "l", rnd.choice(["BEFORE", "AFTER"]), pivot, "n%d" % rnd.randrange(1000))
        if rnd.random() < 0.3:
            p.same(rnd.choice(["LPOP", "RPOP"]), "l")
        if rnd.random() < 0.2:
            p.same(rnd.choice(["LPUSH", "RPUSH"]), "l", str(rnd.randrange(30)))
    p.same("LRANGE", "l", 0, -1)


def test_lrem(p):
    fill(p, "l", *"abacabadabacaba")
    p.same("LREM", "l", 2, "a")
    p.same("LRANGE", "l", 0, -1)
    p.same("LREM", "l", -2, "b")
    p.same("LRANGE", "l", 0, -1)
    p.same("LREM", "l", 0, "a")
    p.same("LRANGE", "l", 0, -1)
    p.same("LREM", "l", 0, "zz")
    p.same("LREM", "l", "x", "a")
    p.same("LREM", "nokey", 0, "a")
    p.same("LREM", "nokey", "x", "a")
    p.same("LREM", "l", 0, "b")
    p.same("LREM", "l", 0, "c")
    p.same("LREM", "l", 0, "d")
    p.same("EXISTS", "l")


def test_lrem_random(p):
    rnd = random.Random(11)
    fill(p, "l", *[rnd.choice("abcd") for _ in range(80)])
    for _ in range(25):
        p.same("LREM", "l", rnd.randrange(-4, 5), rnd.choice("abcd"))
        p.same("LPUSH", "l", rnd.choice("abcd"))
        p.same("LRANGE", "l", 0, -1)


def test_lpos(p):
    fill(p, "l", *"abcabcabcx")
    cases = [
        ("a",), ("x",), ("z",), ("a", "RANK", 2), ("a", "RANK", -1), ("a", "RANK", -3),
        ("a", "RANK", 4), ("a", "COUNT", 0), ("a", "COUNT", 2), ("a", "COUNT", 2, "RANK", 2),
        ("a", "COUNT", 0, "RANK", -1), ("a", "MAXLEN", 3), ("a", "MAXLEN", 4, "COUNT", 0),
        ("c", "RANK", -1, "MAXLEN", 2), ("c", "RANK", -1, "MAXLEN", 2, "COUNT", 0),
        ("z", "COUNT", 0), ("a", "RANK", 0), ("a", "RANK", "x"), ("a", "COUNT", -1),
        ("a", "COUNT", "x"), ("a", "MAXLEN", -1), ("a", "MAXLEN", "x"), ("a", "FOO", 1),
        ("a", "RANK"), ("a", "COUNT", 1, "MAXLEN", 0, "RANK", 1),
        ("a", "rank", -9223372036854775807), ("a", "RANK", "-9223372036854775808"),
    ]
    for args in cases:
        p.same("LPOS", "l", *args)
    p.same("LPOS", "nokey", "a")
    p.same("LPOS", "nokey", "a", "COUNT", 1)
    p.same("LPOS", "nokey", "a", "RANK", 0)


def test_lmove_rpoplpush(p):
    fill(p, "src", *"abcde")
    for a in ("LEFT", "RIGHT"):
        for b in ("LEFT", "RIGHT"):
            p.same("LMOVE", "src", "dst", a, b)
    p.same("LRANGE", "dst", 0, -1)
    p.same("RPOPLPUSH", "src", "dst")
    p.same("RPOPLPUSH", "src", "dst")
    p.same("EXISTS", "src")
    p.same("RPOPLPUSH", "src", "dst")
    p.same("LMOVE", "src", "dst", "LEFT", "LEFT")
    p.same("LMOVE", "src", "dst", "UP", "LEFT")
    p.same("LMOVE", "src", "dst", "LEFT", "DOWN")
    p.same("LRANGE", "dst", 0, -1)
    # rotation on the same key
    for a in ("LEFT", "RIGHT"):
        for b in ("LEFT", "RIGHT"):
            p.same("LMOVE", "dst", "dst", a, b)
            p.same("LRANGE", "dst", 0, -1)
    p.same("RPOPLPUSH", "dst", "dst")
    p.same("LRANGE", "dst", 0, -1)
    fill(p, "one", "x")
    p.same("RPOPLPUSH", "one", "one")
    p.same("LMOVE", "one", "one", "LEFT", "RIGHT")
    p.same("LRANGE", "one", 0, -1)


def test_lmpop(p):
    fill(p, "a", *"123")
    fill(p, "b", *"456")
    p.same("LMPOP", 2, "nokey", "a", "LEFT")
    p.same("LMPOP", 2, "nokey", "a", "RIGHT", "COUNT", 10)
    p.same("LMPOP", 2, "a", "b", "RIGHT", "COUNT", 2)
    p.same("LMPOP", 1, "nokey", "LEFT")
    for bad in ((0, "a", "LEFT"), (-1, "a", "LEFT"), ("x", "a", "LEFT"), (3, "a", "LEFT"),
                (1, "a", "MIDDLE"), (1, "a", "LEFT", "COUNT"), (1, "a", "LEFT", "COUNT", 0),
                (1, "a", "LEFT", "COUNT", -1), (1, "a", "LEFT", "COUNT", "x"),
                (1, "a", "LEFT", "COUNT", 1, "COUNT", 1), (1, "a", "LEFT", "FOO"),
                (2, "a", "LEFT")):
        p.same("LMPOP", *bad)
    p.same("LMPOP", 1)
    p.same("LRANGE", "b", 0, -1)


def test_blocking_nonblocking_paths(p):
    fill(p, "a", *"123")
    p.same("BLPOP", "nokey", "a", 0)
    p.same("BRPOP", "nokey", "a", 0)
    p.same("BLMPOP", 0, 2, "nokey", "a", "LEFT", "COUNT", 5)
    p.same("EXISTS", "a")
    fill(p, "a", *"123")
    p.same("BLMOVE", "a", "b", "RIGHT", "LEFT", 0)
    p.same("BRPOPLPUSH", "a", "b", 0)
    p.same("LRANGE", "b", 0, -1)
    for t in ("-1", "abc", "", "inf", "-inf", "nan", "1e400", " 1", "1 "):
        p.same("BLPOP", "nokey", t)
        p.same("BLMOVE", "nokey", "x", "LEFT", "LEFT", t)
        p.same("BRPOPLPUSH", "nokey", "x", t)
        p.same("BLMPOP", t, 1, "nokey", "LEFT")
    p.same("BLMOVE", "a", "b", "UP", "LEFT", "x")
    p.same("BLMPOP", "x", 0, "a", "LEFT")
    p.same("BLMPOP", "x", 1, "a", "FOO")
    p.same("BLPOP", "a")
    p.same("BLMPOP", 0, 1, "a")


def test_timeouts_return_null(p):
    p.same("BLPOP", "nokey", "0.01")
    p.same("BRPOP", "nokey", "nokey2", "0.01")
    p.same("BLMOVE", "nokey", "x", "LEFT", "LEFT", "0.01")
    p.same("BRPOPLPUSH", "nokey", "x", "0.01")
    p.same("BLMPOP", "0.01", 1, "nokey", "LEFT")
    p.same("BLPOP", "nokey", "0x0.1p-3")


def test_blocking_inside_multi(p):
    p.same("MULTI")
    for cmd in (("BLPOP", "nokey", 0), ("BRPOP", "nokey", 0), ("BLMOVE", "nokey", "x", "LEFT", "LEFT", 0),
                ("BRPOPLPUSH", "nokey", "x", 0), ("BLMPOP", 0, 1, "nokey", "LEFT")):
        p.same(*cmd)
    p.same("EXEC")


def test_binary_and_big_values(p):
    blob = bytes(range(256)) * 40
    p.same("RPUSH", "l", blob, b"", b"\x00\r\n", "123", "-5")
    p.same("LRANGE", "l", 0, -1)
    p.same("LPOS", "l", b"")
    p.same("LREM", "l", 0, blob)
    p.same("LINSERT", "l", "AFTER", b"\x00\r\n", blob)
    p.same("LRANGE", "l", 0, -1)


def test_delete_and_recreate(p):
    fill(p, "l", *[str(i) for i in range(300)])
    p.same("DEL", "l")
    p.same("LRANGE", "l", 0, -1)
    fill(p, "l", "x", "y")
    p.same("LRANGE", "l", 0, -1)
    p.same("LLEN", "l")


def test_arity(p):
    for cmd in ("LPUSH", "RPUSH", "LPUSHX", "RPUSHX", "LPOP", "RPOP", "LLEN", "LINDEX", "LINSERT",
                "LPOS", "LRANGE", "LREM", "LSET", "LTRIM", "LMOVE", "RPOPLPUSH", "LMPOP", "BLPOP",
                "BRPOP", "BLMOVE", "BRPOPLPUSH", "BLMPOP"):
        p.same(cmd)
        p.same(cmd, "k")
    p.same("LLEN", "a", "b")
    p.same("LINDEX", "a", 1, 2)


def test_keyspace_events(pair):
    """The events each list command fires, in order, against Redis."""
    from tests.conftest import RawClient

    subs = []
    for port in (pair.a.sock.getpeername()[1], pair.r.sock.getpeername()[1]):
        s = RawClient(port)
        subs.append(s)
        assert s.cmd("PSUBSCRIBE", "__keyevent@0__:*").startswith(b"*3\r\n")
    pair.same("CONFIG", "SET", "notify-keyspace-events", "KEA")
    try:
        script = [
            ("RPUSH", "l", "a", "b", "c", "d"), ("LPUSH", "l", "z"), ("LPOP", "l"), ("RPOP", "l", 1),
            ("LINSERT", "l", "BEFORE", "b", "x"), ("LINSERT", "l", "BEFORE", "nope", "x"),
            ("LSET", "l", 0, "q"), ("LREM", "l", 1, "x"), ("LREM", "l", 1, "nope"),
            ("LTRIM", "l", 0, 5), ("LMOVE", "l", "m", "LEFT", "RIGHT"), ("RPOPLPUSH", "l", "l"),
            ("LMOVE", "l", "m", "LEFT", "RIGHT"), ("LMPOP", 1, "m", "LEFT", "COUNT", 5),
            ("RPUSH", "t", "1"), ("LTRIM", "t", 1, 0), ("RPUSHX", "t", "x"), ("BLPOP", "m", "t", "l", 0),
            ("SET", "end", "1"),
        ]
        for cmd in script:
            pair.same(*cmd)
        got = []
        for s in subs:
            msgs = []
            while True:
                m = s.read_reply()
                msgs.append(m)
                if b"\r\nend\r\n" in m:
                    break
            got.append(msgs)
        assert got[0] == got[1]
    finally:
        for s in subs:
            s.close()
        pair.same("CONFIG", "SET", "notify-keyspace-events", "")
