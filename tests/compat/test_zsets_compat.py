"""Sorted sets: the same commands to redis-server 7.0.15 and to aki, replies compared
byte for byte, in RESP2 and in RESP3 (reply shapes differ there: pairs and doubles)."""

from __future__ import annotations

import pytest

RESP = [2, 3]


def hello(pair, proto: int) -> None:
    if proto == 3:
        pair.a.cmd("HELLO", "3")
        pair.r.cmd("HELLO", "3")


def run(pair, proto: int, script) -> None:
    hello(pair, proto)
    for cmd in script:
        pair.same(*cmd)


def cmds(text: str) -> list[list[str]]:
    """One command per line, words split on spaces (no quoting needed here)."""
    return [line.split() for line in text.strip().splitlines() if line.strip()]


@pytest.mark.parametrize("proto", RESP)
def test_zadd_options(pair, proto):
    run(pair, proto, cmds("""
        ZADD z 1 a 2 b 3 c
        ZADD z 1 a 5 b
        ZADD z CH 1 a 6 b 7 d
        ZADD z NX 10 a 11 e
        ZADD z XX 10 a 12 f
        ZADD z XX CH 10 a 12 f
        ZADD z GT 1 a 20 b
        ZADD z GT CH 1 a 30 b
        ZADD z LT CH 100 a 0 b
        ZADD z XX GT CH 50 a 50 nope
        ZADD z INCR 5 a
        ZADD z INCR NX 5 a
        ZADD z INCR XX 5 zz
        ZADD z INCR GT -1 a
        ZADD z INCR LT -1 a
        ZADD z incr nx 3 newone
        ZADD nokey XX 1 a
        ZADD nokey XX INCR 1 a
        EXISTS nokey
        ZRANGE z 0 -1 WITHSCORES
        ZCARD z
        ZINCRBY z 2.5 a
        ZINCRBY z -2.5 brandnew
        ZINCRBY z 0 a
        ZRANGE z 0 -1 WITHSCORES
        ZADD dup 1 a 2 a 3 b
        ZADD dup CH 5 a 5 a 6 a 1 c 2 c
        ZADD dup GT CH 1 d 5 d 3 d 9 a
        ZADD dup LT CH 0 a 7 a -1 a
        ZADD dup NX 1 a 1 e 2 e
        ZADD dup XX CH 1 f 3 e 4 e
        ZRANGE dup 0 -1 WITHSCORES
    """))


@pytest.mark.parametrize("proto", RESP)
def test_zadd_errors(pair, proto):
    run(pair, proto, cmds("""
        ZADD z
        ZADD z 1
        ZADD z 1 a 2
        ZADD z NX XX 1 a
        ZADD z NX GT 1 a
        ZADD z LT GT 1 a
        ZADD z NX LT 1 a
        ZADD z INCR 1 a 2 b
        ZADD z NX
        ZADD z abc a
        ZADD z 1 a nan b
        ZADD z nan a
        ZADD z 1e500 a
        ZADD z 1e-500 a
        ZADD z 1_0 a
        ZADD z 0x10 a
        ZADD z 1p3 a
        ZADD z .5 b 5. c
        ZADD z +inf pi -inf ni
        ZADD z INCR -inf pi
        ZRANGE z 0 -1 WITHSCORES
        ZINCRBY z nan a
        ZINCRBY z abc a
        ZINCRBY z 1
        SET s v
        ZADD s 1 a
        ZINCRBY s 1 a
        ZSCORE s a
        ZCARD s
        ZREM s a
        ZRANGE s 0 -1
        EXISTS z
    """))
    for raw in ([b"ZADD", b"z", b" 1", b"x"], [b"ZADD", b"z", b"1 ", b"x"],
                [b"ZADD", b"z", b"1\x00", b"x"], [b"ZADD", b"z", b"", b"x"]):
        pair.same(*raw)


@pytest.mark.parametrize("proto", RESP)
def test_score_formatting(pair, proto):
    script = cmds("""
        ZADD z 1.5 a 3.0 b 1e300 d inf e -inf f 0.1 g 1e-300 h 123456789012345678 i
        ZADD z 0x10 j 1.7976931348623157e308 k 5e-324 l 3.14159265358979 m 100 n -2.5 o
        ZADD z 0.30000000000000004 p 1e15 q 1e16 r 1e17 s 12345.678 t
        ZRANGE z 0 -1 WITHSCORES
        ZREVRANGE z 0 -1 WITHSCORES
        ZSCORE z a
        ZSCORE z e
        ZSCORE z f
        ZSCORE z h
        ZSCORE z i
        ZSCORE z l
        ZSCORE z missing
        ZSCORE nokey a
        ZMSCORE z a b e f missing h
        ZMSCORE nokey a b
        ZSCAN z 0
        ZSCAN z 0 MATCH *a*
        ZINCRBY z 0.1 g
        ZINCRBY z 0.2 g
        ZINCRBY z 1e308 k
        ZPOPMIN z
        ZPOPMAX z
        ZPOPMIN z 2
        ZPOPMAX z 2
    """)
    run(pair, proto, script)


@pytest.mark.parametrize("proto", RESP)
def test_zrem_zcard_rank(pair, proto):
    run(pair, proto, cmds("""
        ZADD z 1 a 2 b 3 c 3 d 3 e 4 f
        ZRANK z a
        ZRANK z d
        ZRANK z f
        ZRANK z nope
        ZREVRANK z a
        ZREVRANK z d
        ZREVRANK z f
        ZRANK nokey a
        ZREM z a nope b
        ZREM z nope
        ZCARD z
        ZCARD nokey
        ZREM nokey a
        ZREM z c d e f g
        EXISTS z
        ZCARD z
    """))


@pytest.mark.parametrize("proto", RESP)
def test_zcount_zlexcount(pair, proto):
    run(pair, proto, cmds("""
        ZADD z 1 a 2 b 3 c 4 d 5 e -inf ni +inf pi
        ZCOUNT z -inf +inf
        ZCOUNT z 2 4
        ZCOUNT z (2 4
        ZCOUNT z (2 (4
        ZCOUNT z 4 2
        ZCOUNT z (3 3
        ZCOUNT z inf inf
        ZCOUNT z -inf (-inf
        ZCOUNT z abc 1
        ZCOUNT z 1 (abc
        ZCOUNT z ( 1
        ZCOUNT z 1 nan
        ZCOUNT nokey 1 2
        ZADD l 0 a 0 b 0 c 0 d 0 e 0 f
        ZLEXCOUNT l - +
        ZLEXCOUNT l [b [d
        ZLEXCOUNT l (b (d
        ZLEXCOUNT l (b +
        ZLEXCOUNT l - (c
        ZLEXCOUNT l + -
        ZLEXCOUNT l [d [b
        ZLEXCOUNT l b d
        ZLEXCOUNT l [b d
        ZLEXCOUNT l +x -
        ZLEXCOUNT l -- +
        ZLEXCOUNT nokey - +
        ZLEXCOUNT l [ +
        ZLEXCOUNT l ( (
    """))
    for raw in ([b"ZCOUNT", b"z", b"", b""], [b"ZCOUNT", b"z", b" 2", b" 4"],
                [b"ZCOUNT", b"z", b"2 ", b"4"], [b"ZCOUNT", b"z", b"  ", b"4"],
                [b"ZCOUNT", b"z", b"2\x00junk", b"4"], [b"ZLEXCOUNT", b"z", b"", b"+"]):
        pair.same(*raw)


@pytest.mark.parametrize("proto", RESP)
def test_zrange_family(pair, proto):
    run(pair, proto, cmds("""
        ZADD z 1 a 2 b 3 c 4 d 5 e 6 f 7 g
        ZRANGE z 0 -1
        ZRANGE z 0 -1 WITHSCORES
        ZRANGE z 2 4 withscores
        ZRANGE z -3 -1
        ZRANGE z -100 100
        ZRANGE z 5 2
        ZRANGE z 10 20
        ZRANGE z 5 -1 REV
        ZRANGE z 0 1 REV WITHSCORES
        ZRANGE z 6 6
        ZRANGE z 0 0 REV
        ZREVRANGE z 0 -1
        ZREVRANGE z 1 3 WITHSCORES
        ZREVRANGE z 0 1 REV
        ZRANGE z 2 5 BYSCORE
        ZRANGE z (2 5 BYSCORE WITHSCORES
        ZRANGE z 5 2 BYSCORE REV
        ZRANGE z 5 (2 BYSCORE REV WITHSCORES LIMIT 1 2
        ZRANGE z -inf +inf BYSCORE LIMIT 2 3
        ZRANGE z -inf +inf BYSCORE LIMIT 2 -1
        ZRANGE z -inf +inf BYSCORE LIMIT -1 2
        ZRANGE z -inf +inf BYSCORE LIMIT 0 0
        ZRANGE z -inf +inf BYSCORE LIMIT 7 1
        ZRANGE z -inf +inf BYSCORE LIMIT 6 1
        ZRANGE z 0 -1 LIMIT 0 1
        ZRANGE z [a [c BYLEX WITHSCORES
        ZRANGE z 0 -1 BYSCORE BYLEX
        ZRANGE z 0 -1 foo
        ZRANGE z 0 -1 LIMIT 1
        ZRANGE z a b
        ZRANGE z 0 x
        ZRANGE z 0 1 BYSCORE LIMIT a 1
        ZRANGE nokey 0 -1
        ZRANGE nokey 0 -1 BYSCORE
        ZRANGEBYSCORE z 2 5
        ZRANGEBYSCORE z -inf +inf WITHSCORES LIMIT 1 3
        ZRANGEBYSCORE z (1 (3 WITHSCORES
        ZRANGEBYSCORE z 1 3 BYSCORE
        ZRANGEBYSCORE z 1 3 REV
        ZRANGEBYSCORE z x 3
        ZREVRANGEBYSCORE z 5 2
        ZREVRANGEBYSCORE z +inf -inf WITHSCORES LIMIT 0 2
        ZREVRANGEBYSCORE z (5 (2
        ZREVRANGEBYSCORE z 2 5
        ZADD l 0 a 0 b 0 c 0 d 0 e 0 f 0 g
        ZRANGEBYLEX l - +
        ZRANGEBYLEX l [b (e
        ZRANGEBYLEX l (b [e LIMIT 1 2
        ZRANGEBYLEX l - + LIMIT 0 -1
        ZRANGEBYLEX l - + LIMIT -1 1
        ZRANGEBYLEX l + -
        ZRANGEBYLEX l b e
        ZRANGEBYLEX l - + WITHSCORES
        ZREVRANGEBYLEX l + -
        ZREVRANGEBYLEX l [e (b
        ZREVRANGEBYLEX l + - LIMIT 2 2
        ZREVRANGEBYLEX l - +
        ZRANGE l + - BYLEX REV LIMIT 1 3
        ZRANGE l [c + BYLEX
        ZRANGE l [c + BYLEX WITHSCORES
        SET s v
        ZRANGE s 0 -1
        ZRANGEBYSCORE s 0 1
        ZRANGEBYLEX s - +
        ZRANGE s 0 -1 foo
    """))


@pytest.mark.parametrize("proto", RESP)
def test_zrangestore(pair, proto):
    run(pair, proto, cmds("""
        ZADD z 1 a 2 b 3 c 4 d 5 e
        ZRANGESTORE d z 0 -1
        ZRANGE d 0 -1 WITHSCORES
        OBJECT ENCODING d
        ZRANGESTORE d z 1 2 REV
        ZRANGE d 0 -1 WITHSCORES
        ZRANGESTORE d z (1 4 BYSCORE LIMIT 1 5
        ZRANGE d 0 -1 WITHSCORES
        ZRANGESTORE d z [b [d BYLEX
        ZRANGE d 0 -1 WITHSCORES
        ZRANGESTORE d z 10 20
        EXISTS d
        ZRANGESTORE d nokey 0 -1
        ZRANGESTORE d z 0 -1 WITHSCORES
        ZRANGESTORE z z 0 1
        ZRANGE z 0 -1 WITHSCORES
        SET str v
        ZRANGESTORE str z 0 -1
        TYPE str
        ZRANGESTORE d str 0 -1
    """))


@pytest.mark.parametrize("proto", RESP)
def test_zremrange(pair, proto):
    run(pair, proto, cmds("""
        ZADD z 1 a 2 b 3 c 4 d 5 e 6 f
        ZREMRANGEBYRANK z 1 2
        ZRANGE z 0 -1
        ZREMRANGEBYRANK z -1 -1
        ZREMRANGEBYRANK z 5 1
        ZREMRANGEBYRANK z 10 20
        ZREMRANGEBYRANK z a 1
        ZREMRANGEBYRANK nokey 0 -1
        ZRANGE z 0 -1
        ZADD z 10 x 20 y 30 w
        ZREMRANGEBYSCORE z (10 20
        ZREMRANGEBYSCORE z -inf (5
        ZREMRANGEBYSCORE z x 1
        ZRANGE z 0 -1 WITHSCORES
        ZREMRANGEBYSCORE z -inf +inf
        EXISTS z
        ZADD l 0 a 0 b 0 c 0 d 0 e
        ZREMRANGEBYLEX l [b (d
        ZREMRANGEBYLEX l + -
        ZREMRANGEBYLEX l b d
        ZRANGE l 0 -1
        ZREMRANGEBYLEX l - +
        EXISTS l
        ZREMRANGEBYLEX nokey - +
        SET s v
        ZREMRANGEBYRANK s 0 1
        ZREMRANGEBYSCORE s 0 1
        ZREMRANGEBYLEX s - +
    """))


@pytest.mark.parametrize("proto", RESP)
def test_pops(pair, proto):
    run(pair, proto, cmds("""
        ZADD z 1 a 2 b 3 c 4 d 5 e 6 f
        ZPOPMIN z
        ZPOPMAX z
        ZPOPMIN z 2
        ZPOPMAX z 1
        ZPOPMIN z 0
        ZPOPMIN z 10
        EXISTS z
        ZPOPMIN z
        ZPOPMIN z 3
        ZPOPMAX nokey 0
        ZPOPMIN z -1
        ZPOPMIN z abc
        ZPOPMIN z 1 2
        ZADD z 1 a 2 b 3 c 4 d
        ZMPOP 1 z MIN
        ZMPOP 1 z MAX COUNT 2
        ZMPOP 2 nokey z MIN COUNT 10
        ZMPOP 2 nokey z MIN
        ZMPOP 0 z MIN
        ZMPOP -1 z MIN
        ZMPOP x z MIN
        ZMPOP 1 z
        ZMPOP 2 z MIN
        ZMPOP 1 z MID
        ZMPOP 1 z MIN COUNT 0
        ZMPOP 1 z MIN COUNT -1
        ZMPOP 1 z MIN COUNT x
        ZMPOP 1 z MIN COUNT 1 COUNT 1
        ZMPOP 1 z MIN COUNT
        ZMPOP 1 z MIN foo
        SET s v
        ZPOPMIN s
        ZMPOP 2 nokey s MIN
        ZADD z2 1 a
        ZMPOP 2 z2 s MIN
    """))


@pytest.mark.parametrize("proto", RESP)
def test_zrandmember_deterministic(pair, proto):
    run(pair, proto, cmds("""
        ZADD z 1 a 2 b 3 c
        ZRANDMEMBER nokey
        ZRANDMEMBER nokey 5
        ZRANDMEMBER nokey -5 WITHSCORES
        ZRANDMEMBER z 0
        ZRANDMEMBER z 0 WITHSCORES
        ZRANDMEMBER z 3
        ZRANDMEMBER z 10 WITHSCORES
        ZRANDMEMBER z 1 foo
        ZRANDMEMBER z 1 WITHSCORES foo
        ZRANDMEMBER z abc
        ZRANDMEMBER z -9223372036854775808
        ZRANDMEMBER z -9223372036854775807 WITHSCORES
        ZRANDMEMBER z 9223372036854775807 WITHSCORES
        ZRANDMEMBER z 4611686018427387904 WITHSCORES
        ZADD one 5 x
        ZRANDMEMBER one
        ZRANDMEMBER one -3 WITHSCORES
        ZRANDMEMBER one 1 WITHSCORES
        SET s v
        ZRANDMEMBER s
        ZRANDMEMBER s 1
    """))


def test_zrandmember_random_shapes(pair, r):
    pair.same("ZADD", "z", *[x for i in range(50) for x in (str(i), f"m{i}")])
    members = {f"m{i}".encode() for i in range(50)}
    got = r.zrandmember("z", 10)
    assert len(got) == 10 and len(set(got)) == 10 and set(got) <= members
    got = r.zrandmember("z", -100)
    assert len(got) == 100 and set(got) <= members
    flat = r.zrandmember("z", -5, withscores=True)
    got = list(zip(flat[::2], flat[1::2], strict=True))
    assert len(got) == 5 and all(float(m[1:]) == float(s) for m, s in got)
    assert r.zrandmember("z") in members
    got = r.zrandmember("z", 40)  # the "copy then remove" case in Redis
    assert len(set(got)) == 40 and set(got) <= members


@pytest.mark.parametrize("proto", RESP)
def test_union_inter_diff(pair, proto):
    run(pair, proto, cmds("""
        ZADD a 1 x 2 y 3 z
        ZADD b 10 y 20 z 30 w
        ZADD c 100 z
        ZUNION 2 a b
        ZUNION 2 a b WITHSCORES
        ZUNION 3 a b c WITHSCORES AGGREGATE MIN
        ZUNION 3 a b c WITHSCORES AGGREGATE MAX WEIGHTS 1 2 -1
        ZUNION 2 a nokey WITHSCORES WEIGHTS 2 3
        ZINTER 2 a b WITHSCORES
        ZINTER 3 a b c WITHSCORES
        ZINTER 2 a b WITHSCORES AGGREGATE MIN WEIGHTS 3 0.5
        ZINTER 2 a nokey
        ZINTER 2 a a WITHSCORES
        ZDIFF 2 a b
        ZDIFF 2 a b WITHSCORES
        ZDIFF 3 b a c WITHSCORES
        ZDIFF 1 a WITHSCORES
        ZDIFF 2 nokey a
        ZDIFF 2 a a
        ZINTERCARD 2 a b
        ZINTERCARD 3 a b c
        ZINTERCARD 2 a b LIMIT 1
        ZINTERCARD 2 a b LIMIT 0
        ZINTERCARD 2 a nokey
        ZINTERCARD 2 a b LIMIT -1
        ZINTERCARD 2 a b LIMIT x
        ZINTERCARD 0 a
        ZINTERCARD 3 a b
        ZINTERCARD 2 a b WITHSCORES
        ZINTERCARD 2 a b AGGREGATE SUM
        ZUNIONSTORE d 2 a b
        ZRANGE d 0 -1 WITHSCORES
        OBJECT ENCODING d
        ZINTERSTORE d 2 a b WEIGHTS 2 2
        ZRANGE d 0 -1 WITHSCORES
        ZDIFFSTORE d 2 b a
        ZRANGE d 0 -1 WITHSCORES
        ZINTERSTORE d 2 a nokey
        EXISTS d
        ZUNIONSTORE a 2 a b
        ZRANGE a 0 -1 WITHSCORES
        ZUNION 0 a
        ZUNION -1 a
        ZUNION x a
        ZUNION 3 a b
        ZUNION 2 a b WEIGHTS 1
        ZUNION 2 a b WEIGHTS 1 x
        ZUNION 2 a b WEIGHTS 1 nan
        ZUNION 2 a b AGGREGATE AVG
        ZUNION 2 a b AGGREGATE
        ZUNION 2 a b foo
        ZUNIONSTORE d 2 a b WITHSCORES
        ZUNIONSTORE d 0 a
        ZINTERSTORE d 0 a
        ZDIFFSTORE d 0 a
        ZDIFF 0 a
        ZINTER 0 a
        ZDIFF 2 a b WEIGHTS 1 2
        ZDIFF 2 a b AGGREGATE SUM
        SET s v
        ZUNION 2 a s
        ZINTERSTORE d 2 s a
        ZDIFF 2 a s
        ZUNIONSTORE s 1 a
        TYPE s
    """))


@pytest.mark.parametrize("proto", RESP)
def test_union_inter_infinities(pair, proto):
    run(pair, proto, cmds("""
        ZADD a +inf x -inf y 1 z
        ZADD b -inf x +inf y 2 z
        ZUNION 2 a b WITHSCORES
        ZINTER 2 a b WITHSCORES
        ZUNION 2 a b WITHSCORES WEIGHTS 0 0
        ZINTER 2 a b WITHSCORES WEIGHTS 0 1
        ZINTER 2 a b WITHSCORES WEIGHTS 1 0
        ZINTER 2 a b WITHSCORES WEIGHTS 1 0 AGGREGATE MIN
        ZINTER 2 a b WITHSCORES WEIGHTS 1 0 AGGREGATE MAX
        ZUNION 2 a b WITHSCORES AGGREGATE MIN
        ZUNION 2 a b WITHSCORES AGGREGATE MAX
        ZADD f 0.1 x 0.2 y 0.3 z
        ZADD g 0.2 x 0.1 y 0.7 z
        ZADD h 0.3 x 0.4 y 1e-17 z
        ZUNION 3 f g h WITHSCORES
        ZINTER 3 f g h WITHSCORES WEIGHTS 1.1 2.2 3.3
    """))


@pytest.mark.parametrize("proto", RESP)
def test_set_inputs(pair, proto):
    pair.same("SADD", "probe", "x")
    run(pair, proto, cmds("""
        SADD s x y q
        SADD ints 1 2 3
        ZADD z 5 x 6 y 7 w
        ZUNION 2 s z WITHSCORES
        ZUNION 2 s z WITHSCORES WEIGHTS 3 1
        ZINTER 2 s z WITHSCORES
        ZINTER 2 z s WITHSCORES AGGREGATE MAX WEIGHTS 0.1 2
        ZDIFF 2 z s WITHSCORES
        ZDIFF 2 s z WITHSCORES
        ZINTERCARD 2 s z
        ZUNIONSTORE d 2 s ints
        ZRANGE d 0 -1 WITHSCORES
        ZDIFFSTORE d 2 ints z
        ZRANGE d 0 -1 WITHSCORES
        ZINTERSTORE d 2 s s
        ZRANGE d 0 -1 WITHSCORES
    """))


@pytest.mark.parametrize("proto", RESP)
def test_zscan(pair, proto):
    run(pair, proto, cmds("""
        ZADD z 1 a 2 b 3 c 1.5 ab
        ZSCAN z 0
        ZSCAN z 0 COUNT 1
        ZSCAN z 0 MATCH a*
        ZSCAN z 0 MATCH * COUNT 100
        ZSCAN z 0 COUNT 0
        ZSCAN z 0 COUNT x
        ZSCAN z 0 TYPE zset
        ZSCAN z 0 MATCH
        ZSCAN z x
        ZSCAN z -1
        ZSCAN nokey 0
        ZSCAN nokey 0 COUNT 0
        SET s v
        ZSCAN s 0
        ZSCAN s 0 COUNT 0
    """))


def test_zscan_big_key_returns_everything(pair, r):
    members = {f"m{i}".encode() for i in range(500)}
    r.zadd("big", {m: i for i, m in enumerate(members)})
    assert r.object("encoding", "big") == b"skiplist"
    seen: dict[bytes, float] = {}
    cursor = 0
    calls = 0
    while True:
        cursor, batch = r.zscan("big", cursor, count=37)
        seen.update(batch)
        calls += 1
        if cursor == 0:
            break
    assert set(seen) == members and calls > 5
    # the cursor survives deletes and inserts made between calls
    cursor, batch = r.zscan("big", 0, count=100)
    r.zrem("big", *[m for m, _ in batch])
    r.zadd("big", {b"zzz-new": 1})
    rest = set()
    while cursor:
        cursor, more = r.zscan("big", cursor, count=100)
        rest.update(m for m, _ in more)
    assert members - {m for m, _ in batch} <= rest


def test_encodings(pair):
    for cmd in cmds("""
        CONFIG SET zset-max-listpack-entries 4
        CONFIG SET zset-max-listpack-value 8
        ZADD z 1 a 2 b 3 c 4 d
        OBJECT ENCODING z
        ZADD z 5 e
        OBJECT ENCODING z
        ZREM z a b c d
        OBJECT ENCODING z
        ZADD y 1 aaaaaaaaa
        OBJECT ENCODING y
        ZADD x 1 aaaaaaaa
        OBJECT ENCODING x
        ZINCRBY w 1 aaaaaaaaaa
        OBJECT ENCODING w
        ZADD v 1 a 2 b 3 c 4 d 5 e
        ZRANGESTORE dst v 0 3
        OBJECT ENCODING dst
        ZRANGESTORE dst v 0 4
        OBJECT ENCODING dst
        ZUNIONSTORE dst 2 v z
        OBJECT ENCODING dst
        ZINTERSTORE dst 2 v z
        OBJECT ENCODING dst
        ZDIFFSTORE dst 2 v y
        OBJECT ENCODING dst
        ZUNIONSTORE dst 1 y
        OBJECT ENCODING dst
        CONFIG SET zset-max-listpack-entries 0
        ZADD u 1 a
        OBJECT ENCODING u
        CONFIG SET zset-max-listpack-entries 128
        CONFIG SET zset-max-listpack-value 64
    """):
        pair.same(*cmd)


def test_keyspace_events(aki_server, redis_server):
    """The notifications each command emits, in order, as Redis emits them."""
    import redis

    script = cmds("""
        ZADD z 1 a 2 b 3 c 4 d 5 e
        ZADD z 1 a
        ZADD z 10 a
        ZINCRBY z 1 b
        ZREM z nope
        ZREM z a
        ZREMRANGEBYSCORE z 0 2
        ZREMRANGEBYRANK z 0 0
        ZADD l 0 a 0 b
        ZREMRANGEBYLEX l - +
        ZPOPMIN z
        ZPOPMAX z 5
        ZADD z 1 a 2 b
        ZUNIONSTORE u 1 z
        ZINTERSTORE i 1 z
        ZDIFFSTORE f 1 z
        ZRANGESTORE r z 0 0
        ZRANGESTORE r z 5 6
        ZINTERSTORE i 2 z nokey
        ZMPOP 1 z MAX COUNT 5
        SET done 1
    """)

    logs = []
    for srv in (aki_server, redis_server):
        c = redis.Redis(port=srv.port)
        c.flushall()
        c.config_set("notify-keyspace-events", "KEA")
        ps = c.pubsub()
        ps.psubscribe("__keyevent@0__:*")
        ps.get_message(timeout=2)
        for cmd in script:
            c.execute_command(*cmd)
        events = []
        while True:
            m = ps.get_message(timeout=2)
            if m is None:
                break
            if m["type"] == "pmessage":
                events.append((m["channel"], m["data"]))
                if m["data"] == b"done":
                    break
        c.config_set("notify-keyspace-events", "")
        ps.close()
        c.close()
        logs.append(events)
    assert logs[0] == logs[1]
