"""Sets: the same commands to redis-server 7.0.15 and aki, replies compared byte for byte
(sorted where Redis gives no order), in RESP2 and RESP3."""

from __future__ import annotations

import pytest


def parse(buf: bytes):
    """A RESP2/3 reply as Python values; sets become sorted lists (``("set", [...])``)."""

    def one(i: int):
        j = buf.index(b"\r\n", i)
        t, line, i = buf[i:i + 1], buf[i + 1:j], j + 2
        if t in (b"+", b"-", b":", b",", b"_", b"#", b"("):
            return (t + line), i
        if t in (b"$", b"="):
            n = int(line)
            if n < 0:
                return None, i
            return buf[i:i + n], i + n + 2
        n = int(line)
        if n < 0:
            return None, i
        if t == b"%":
            n *= 2
        items = []
        for _ in range(n):
            v, i = one(i)
            items.append(v)
        if t == b"~":
            return ("set", sorted(items, key=repr)), i
        if t == b"%":
            return ("map", sorted(zip(items[::2], items[1::2], strict=True), key=repr)), i
        return items, i

    v, _ = one(0)
    return v


def same_unordered(pair, *args):
    """Both servers agree on the reply as a multiset (top-level order ignored)."""
    got, want = pair.both(*args)
    pg, pw = parse(got), parse(want)
    if isinstance(pg, list) and isinstance(pw, list):
        pg, pw = sorted(pg, key=repr), sorted(pw, key=repr)
    assert pg == pw, f"{args!r}: aki {got!r} != redis {want!r}"
    return pg


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def p(request, pair):
    if request.param == 3:
        pair.a.cmd("HELLO", "3")
        pair.r.cmd("HELLO", "3")
    return pair


def test_sadd_srem_scard_sismember(p):
    for cmd in [
        ("SADD", "s", "a", "b", "c", "a"), ("SADD", "s", "a"), ("SCARD", "s"),
        ("SISMEMBER", "s", "a"), ("SISMEMBER", "s", "zz"), ("SISMEMBER", "nokey", "a"),
        ("SMISMEMBER", "s", "a", "zz", "c"), ("SMISMEMBER", "nokey", "a", "b"),
        ("SREM", "s", "a", "zz"), ("SREM", "nokey", "a"), ("SCARD", "nokey"),
        ("SREM", "s", "b", "c"), ("EXISTS", "s"), ("SADD", "s"), ("SREM", "s"),
        ("SMISMEMBER", "s"), ("SCARD", "s", "x"),
    ]:
        p.same(*cmd)


def test_wrongtype(p):
    p.same("SET", "str", "x")
    for cmd in [
        ("SADD", "str", "a"), ("SREM", "str", "a"), ("SCARD", "str"), ("SISMEMBER", "str", "a"),
        ("SMISMEMBER", "str", "a"), ("SMEMBERS", "str"), ("SPOP", "str"), ("SPOP", "str", "2"),
        ("SRANDMEMBER", "str"), ("SRANDMEMBER", "str", "3"), ("SINTER", "str"),
        ("SINTER", "nokey", "str"), ("SUNION", "str"), ("SDIFF", "nokey", "str"),
        ("SINTERSTORE", "d", "str"), ("SUNIONSTORE", "d", "str"), ("SDIFFSTORE", "d", "str"),
        ("SINTERCARD", "1", "str"), ("SSCAN", "str", "0"), ("SMOVE", "str", "d", "a"),
    ]:
        p.same(*cmd)


def test_intset_order_is_sorted(p):
    p.same("SADD", "i", "5", "-3", "100", "0", "7", "-9223372036854775808", "9223372036854775807")
    p.same("SMEMBERS", "i")
    p.same("SSCAN", "i", "0")
    p.same("SSCAN", "i", "0", "MATCH", "1*")
    p.same("SRANDMEMBER", "i", "100")
    p.same("SINTER", "i")
    p.same("SUNION", "i", "nokey")
    p.same("SADD", "j", "7", "100", "8")
    p.same("SINTER", "i", "j")
    p.same("SDIFF", "i", "j")
    p.same("SUNION", "i", "j")
    # non-canonical integers are strings: the set converts
    p.same("SADD", "k", "1", "01")
    same_unordered(p, "SMEMBERS", "k")


def test_smembers_hashtable(p):
    p.same("SADD", "s", *[f"m{i}" for i in range(50)])
    same_unordered(p, "SMEMBERS", "s")
    p.same("SMEMBERS", "nokey")


def test_smove(p):
    p.same("SADD", "a", "1", "2", "x")
    p.same("SADD", "b", "3")
    for cmd in [
        ("SMOVE", "a", "b", "1"), ("SMOVE", "a", "b", "zz"), ("SMOVE", "nokey", "b", "1"),
        ("SMOVE", "a", "a", "2"), ("SMOVE", "a", "a", "zz"), ("SMOVE", "a", "new", "x"),
        ("SMEMBERS", "b"), ("SMEMBERS", "new"), ("SMOVE", "a", "b", "2"), ("EXISTS", "a"),
        ("SMEMBERS", "b"),
    ]:
        p.same(*cmd)
    p.same("SET", "str", "v")
    p.same("SMOVE", "nokey", "str", "1")
    p.same("SMOVE", "b", "str", "1")
    p.same("SMOVE", "str", "b", "1")


def test_spop(p):
    p.same("SPOP", "nokey")
    p.same("SPOP", "nokey", "3")
    p.same("SPOP", "nokey", "0")
    p.same("SPOP", "s", "-1")
    p.same("SPOP", "s", "x")
    p.same("SPOP", "s", "1", "2")
    p.same("SADD", "s", "1", "2", "3", "4", "5")
    p.same("SPOP", "s", "0")
    a, r = p.both("SPOP", "s")
    assert parse(a) in (b"1", b"2", b"3", b"4", b"5") and parse(r) in (b"1", b"2", b"3", b"4", b"5")
    got = parse(p.a.cmd("SPOP", "s", "2"))
    p.r.cmd("SPOP", "s", "2")
    items = got[1] if isinstance(got, tuple) else got
    assert len(items) == 2 and len(set(items)) == 2
    p.same("SCARD", "s")
    # count >= size: the whole set, key deleted (intset: sorted)
    p.same("SPOP", "t", "10")
    p.same("SADD", "t", "9", "3", "5")
    p.same("SPOP", "t", "10")
    p.same("EXISTS", "t")


def test_spop_count_large_share(p):
    members = [f"m{i}" for i in range(100)]
    p.same("SADD", "s", *members)
    for count in (5, 90):
        got = parse(p.a.cmd("SPOP", "s", str(count)))
        p.r.cmd("SPOP", "s", str(count))
        items = got[1] if isinstance(got, tuple) else got
        assert len(items) == count == len(set(items))
        assert not set(items) - {m.encode() for m in members}
        p.same("SCARD", "s")
        for m in items:
            assert p.a.cmd("SISMEMBER", "s", m) == b":0\r\n"


def test_srandmember(p):
    p.same("SRANDMEMBER", "nokey")
    p.same("SRANDMEMBER", "nokey", "5")
    p.same("SRANDMEMBER", "nokey", "-5")
    p.same("SRANDMEMBER", "s", "x")
    p.same("SRANDMEMBER", "s", "1", "2")
    p.same("SRANDMEMBER", "s", "-9223372036854775808")
    p.same("SADD", "s", "a", "b", "c")
    p.same("SRANDMEMBER", "s", "0")
    same_unordered(p, "SRANDMEMBER", "s", "3")
    same_unordered(p, "SRANDMEMBER", "s", "10")
    for n in ("-10", "2", "1", "-1"):
        got = parse(p.a.cmd("SRANDMEMBER", "s", n))
        assert len(got) == min(abs(int(n)), 3 if int(n) > 0 else 99)
        assert set(got) <= {b"a", b"b", b"c"}
        if int(n) > 0:
            assert len(set(got)) == len(got)
    assert parse(p.a.cmd("SRANDMEMBER", "s")) in (b"a", b"b", b"c")


def test_inter_union_diff(p):
    p.same("SADD", "a", "x", "y", "z", "1")
    p.same("SADD", "b", "y", "z", "w")
    p.same("SADD", "c", "z", "q")
    p.same("SET", "str", "v")
    for op in ("SINTER", "SUNION", "SDIFF"):
        for keys in (("a",), ("a", "b"), ("a", "b", "c"), ("a", "nokey"), ("nokey", "a"),
                     ("a", "a"), ("b", "a", "b")):
            same_unordered(p, op, *keys)
    for op in ("SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"):
        for keys in (("a", "b"), ("a", "nokey"), ("nokey",), ("a", "a"), ("a", "b", "c")):
            p.same(op, "dst", *keys)
            same_unordered(p, "SMEMBERS", "dst")
            p.same("EXISTS", "dst")
        # destination of another type is overwritten; a TTL is dropped
        p.same("SET", "dst", "v", "EX", "100")
        p.same(op, "dst", "a", "b")
        p.same("TTL", "dst")
        p.same("TYPE", "dst")
        # empty result deletes the destination
        p.same(op, "dst", "nokey", "nokey2")
        p.same("EXISTS", "dst")


def test_store_into_a_source(p):
    p.same("SADD", "a", "1", "2", "3", "x")
    p.same("SADD", "b", "2", "3", "4")
    p.same("SINTERSTORE", "a", "a", "b")
    p.same("SMEMBERS", "a")
    p.same("SUNIONSTORE", "b", "a", "b")
    p.same("SMEMBERS", "b")
    p.same("SDIFFSTORE", "b", "b", "a")
    p.same("SMEMBERS", "b")
    p.same("SDIFFSTORE", "b", "b", "b")
    p.same("EXISTS", "b")


def test_sintercard(p):
    p.same("SADD", "a", "1", "2", "3", "4", "x")
    p.same("SADD", "b", "2", "3", "4", "x", "y")
    for cmd in [
        ("SINTERCARD", "2", "a", "b"), ("SINTERCARD", "2", "a", "b", "LIMIT", "2"),
        ("SINTERCARD", "2", "a", "b", "LIMIT", "0"), ("SINTERCARD", "2", "a", "b", "limit", "100"),
        ("SINTERCARD", "1", "a"), ("SINTERCARD", "2", "a", "nokey"),
        ("SINTERCARD", "0", "a"), ("SINTERCARD", "-1", "a"), ("SINTERCARD", "x", "a"),
        ("SINTERCARD", "3", "a", "b"), ("SINTERCARD", "2", "a", "b", "LIMIT"),
        ("SINTERCARD", "2", "a", "b", "LIMIT", "-1"), ("SINTERCARD", "2", "a", "b", "LIMIT", "x"),
        ("SINTERCARD", "2", "a", "b", "FOO", "1"), ("SINTERCARD", "1", "a", "b"),
    ]:
        p.same(*cmd)


def test_sscan(p):
    p.same("SSCAN", "nokey", "0")
    p.same("SSCAN", "nokey", "0", "COUNT", "0")
    p.same("SSCAN", "s", "x")
    p.same("SADD", "s", *[f"m{i}" for i in range(300)])
    for bad in (("COUNT", "0"), ("COUNT", "x"), ("TYPE", "set"), ("MATCH",), ("FOO", "1")):
        p.same("SSCAN", "s", "0", *bad)
    for match in (None, "m1*"):
        seen: dict[str, set] = {}
        for side, client in (("a", p.a), ("r", p.r)):
            cursor, got = b"0", set()
            while True:
                args = ["SSCAN", "s", cursor, "COUNT", "17"] + (["MATCH", match] if match else [])
                reply = parse(client.cmd(*args))
                cursor = reply[0]
                got.update(reply[1])
                if cursor == b"0":
                    break
            seen[side] = got
        assert seen["a"] == seen["r"]
        assert len(seen["a"]) == (300 if match is None else 111)


def test_arity_and_unknown_args(p):
    for cmd in [("SADD", "s"), ("SREM", "s"), ("SCARD",), ("SMOVE", "a", "b"), ("SPOP",),
                ("SINTER",), ("SINTERSTORE", "d"), ("SSCAN", "s"), ("SISMEMBER", "s")]:
        p.same(*cmd)


def test_encoding_transitions(p):
    p.same("CONFIG", "SET", "set-max-intset-entries", "4")
    try:
        p.same("SADD", "i", "1", "2", "3", "4")
        p.same("OBJECT", "ENCODING", "i")
        p.same("SADD", "i", "5")
        p.same("OBJECT", "ENCODING", "i")
        p.same("SREM", "i", "5")
        p.same("OBJECT", "ENCODING", "i")  # one-way
        p.same("SADD", "j", "1", "x")
        p.same("OBJECT", "ENCODING", "j")
        p.same("SADD", "k", "x")
        p.same("SADD", "k2", "1")
        p.same("OBJECT", "ENCODING", "k")
        p.same("SMOVE", "k", "k3", "x")
        p.same("OBJECT", "ENCODING", "k3")
        p.same("SMOVE", "k2", "k4", "1")
        p.same("OBJECT", "ENCODING", "k4")
        p.same("SADD", "h", "1", "2", "x")
        p.same("SREM", "h", "x")
        p.same("SUNIONSTORE", "u", "h")
        p.same("OBJECT", "ENCODING", "u")
        p.same("SADD", "big", "1", "2", "3", "4", "5", "6")
        p.same("SINTERSTORE", "u2", "big", "big")
        p.same("OBJECT", "ENCODING", "u2")
        p.both("SPOP", "big", "5")  # CASE 3 rebuilds the set: intset again
        p.same("OBJECT", "ENCODING", "big")
        p.same("SMEMBERS", "u")
    finally:
        p.same("CONFIG", "SET", "set-max-intset-entries", "512")


def keyevents(redis_port: int, embedded_path, script: list[tuple]) -> tuple[list, list]:
    """The (event, key) keyspace events of ``script`` on redis-server (PSUBSCRIBE) and on
    aki (recorded by execute(), captured in an embedded instance: aki's pub/sub commands
    are another family)."""
    import redis

    import aki

    rr = redis.Redis(port=redis_port)
    rr.flushall()
    rr.config_set("notify-keyspace-events", "KEA")
    ps = rr.pubsub()
    ps.psubscribe("__keyevent@0__:*")
    ps.get_message(timeout=5)
    db = aki.open(str(embedded_path))
    server = db._core.server
    got: list[tuple[str, bytes]] = []
    deliver = server.extensions["notify"]

    def capture(events):
        # KEA: every class but 'n' (new keys) and 'm' (misses), as the notifier filters
        got.extend((e, k) for cls, e, _db, k in events if cls not in "nm")
        deliver(events)

    server.extensions["notify"] = capture
    try:
        db.execute("FLUSHALL")
        db.execute("CONFIG", "SET", "notify-keyspace-events", "KEA")
        for cmd in script:
            try:
                rr.execute_command(*cmd)
            except redis.ResponseError:
                pass
            try:
                db.execute(*cmd)
            except redis.ResponseError:
                pass
        want = []
        while True:
            m = ps.get_message(timeout=1)
            if m is None:
                break
            if m["type"] == "pmessage":
                want.append((m["channel"].decode().split(":", 1)[1], m["data"]))
        return got, want
    finally:
        server.extensions["notify"] = deliver
        rr.config_set("notify-keyspace-events", "")
        ps.close()
        rr.close()
        db.close()


def test_keyspace_events(redis_server, tmp_path):
    script = [
        ("SADD", "s", "1", "2", "3"), ("SADD", "s", "1"), ("SREM", "s", "1"), ("SREM", "s", "zz"),
        ("SPOP", "s"), ("SMOVE", "s", "d", "x"), ("SADD", "s", "a"), ("SMOVE", "s", "d", "a"),
        ("SINTERSTORE", "e", "d", "d"), ("SUNIONSTORE", "e", "d"), ("SDIFFSTORE", "e", "d"),
        ("SDIFFSTORE", "e", "d", "d"), ("SADD", "t", "1", "2"), ("SPOP", "t", "1"),
        ("SPOP", "t", "5"), ("SREM", "d", "a"), ("SADD", "u", "1", "2"), ("SREM", "u", "1", "2"),
        ("SINTERSTORE", "e", "nokey"), ("SET", "end", "1"),
    ]
    got, want = keyevents(redis_server.port, tmp_path / "ev.aki", script)
    assert got == want
