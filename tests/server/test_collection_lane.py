"""The compiled collection commands (src/aki/_lane.c: single-element HSET, ZADD, SADD,
LPUSH, RPUSH, LPOP, RPOP; LRANGE; ZRANGEBYSCORE) write, answer and count exactly as the
Python road.

As for the GET and SET lanes: three servers get the same requests on raw sockets (real
Redis, aki with the lane, aki with ``AKI_LANE=0``); replies must be byte-identical across
all three, and what a write changes (fields, scores, lengths, encodings, INFO counters,
WATCH, tracking, the AOF, a replica) identical between the two aki servers. Each scenario
also checks that the lane really served the requests it should.
"""

from __future__ import annotations

import time

import hiredis
import pytest
import redis

from tests.conftest import RawClient, encode_command, start_aki
from tests.server.lanes import assert_same_replies, counters, info, primary_and_replica, three_servers


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    yield from three_servers(tmp_path_factory)


def _served(c: RawClient) -> int:
    return int(info(c, "aki").get("aki_collection_lane_served", "0"))


def _script(c: RawClient) -> list[bytes]:
    """HSETs and ZADDs in every state a key can be in, each followed by the reads that
    show what it left behind; single requests, pipelines, MULTI, RESP3, a reload."""
    out = []

    def cmd(*args):
        out.append(c.cmd(*args))

    def show_hash(key):
        # a hashtable's order is Redis's dict order: the pairs are compared sorted
        reader = hiredis.Reader()
        reader.feed(c.cmd("HGETALL", key))
        got = reader.gets()
        pairs = got.items() if isinstance(got, dict) else zip(got[::2], got[1::2], strict=True)
        out.append(repr(sorted(pairs)).encode())
        for args in (("HLEN", key), ("OBJECT", "ENCODING", key), ("TTL", key), ("TYPE", key)):
            cmd(*args)

    def show_list(key):
        for args in (("LRANGE", key, "0", "-1"), ("LLEN", key), ("OBJECT", "ENCODING", key),
                     ("TTL", key), ("TYPE", key), ("LINDEX", key, "0"), ("LINDEX", key, "-1")):
            cmd(*args)

    def show_zset(key):
        for args in (("ZRANGE", key, "0", "-1", "WITHSCORES"), ("ZCARD", key),
                     ("OBJECT", "ENCODING", key), ("TTL", key), ("TYPE", key)):
            cmd(*args)

    # hashes: a new key, then the cached row: new field, same value, changed value
    cmd("HSET", "h", "f1", "v1")
    cmd("HSET", "h", "f2", "v2")
    cmd("HSET", "h", "f1", "v1")
    cmd("HSET", "h", "f1", "changed")
    cmd("hset", "h", "f3", "")
    cmd("hSeT", "h", "", "empty field")
    cmd("HSET", "h", b"bin\r\n\x00\xff", b"\x00\xff\r\n$3\r\n")
    show_hash("h")
    cmd("HGET", "h", b"bin\r\n\x00\xff")
    # listpack -> hashtable by a long value or field, and by the number of entries
    cmd("HSET", "h", "long", "v" * 65)
    show_hash("h")
    cmd("CONFIG", "SET", "hash-max-listpack-entries", "4")
    for i in range(6):
        cmd("HSET", "small", f"f{i}", f"v{i}")
        cmd("OBJECT", "ENCODING", "small")
    show_hash("small")
    cmd("CONFIG", "SET", "hash-max-listpack-entries", "128")
    cmd("HSET", "h2", "a", "1")
    cmd("HSET", "h2", "b" * 65, "2")  # a long field converts too
    show_hash("h2")
    # states the lane leaves to the Python road
    cmd("HSET", "h", "a", "1", "b", "2")  # two pairs
    cmd("HSET", "h", "a")  # arity
    cmd("HSET", "h", "a", "1", "b")  # wrong number of arguments
    cmd("SET", "str", "x")
    cmd("HSET", "str", "f", "v")  # WRONGTYPE
    cmd("HSET", "ttl", "f", "v")
    cmd("EXPIRE", "ttl", "100")
    cmd("HSET", "ttl", "g", "w")  # a TTL: kept
    show_hash("ttl")
    cmd("HSET", "soon", "f", "v")
    cmd("PEXPIRE", "soon", "30")
    time.sleep(0.1)
    cmd("HSET", "soon", "g", "w")  # over an expired key
    show_hash("soon")

    # sorted sets: a new key, then the cached row: new member, same score, new score
    cmd("ZADD", "z", "1", "a")
    cmd("ZADD", "z", "2", "b")
    cmd("ZADD", "z", "2", "b")
    cmd("ZADD", "z", "3", "b")
    cmd("zadd", "z", "000000012345", "element:000000012345")
    cmd("ZaDd", "z", "12345", "element:000000012345")  # the same score: 0, no write
    cmd("ZADD", "z", "0", "")
    cmd("ZADD", "z", "7", b"\x00\xff\r\n")
    show_zset("z")
    cmd("ZSCORE", "z", "element:000000012345")
    # other score forms: the Python road, errors included
    for score in ("-1", "1.5", "+inf", "-inf", "1e3", "0x10", "abc", "", " 1", "1" * 299,
                  "1" * 300, "nan"):
        cmd("ZADD", "z", score, "m")
        cmd("ZSCORE", "z", "m")
    # listpack -> skiplist by a long member, and by the number of entries
    cmd("ZADD", "z", "1", "m" * 65)
    show_zset("z")
    cmd("CONFIG", "SET", "zset-max-listpack-entries", "3")
    for i in range(5):
        cmd("ZADD", "zs", str(i), f"m{i}")
        cmd("OBJECT", "ENCODING", "zs")
    show_zset("zs")
    cmd("CONFIG", "SET", "zset-max-listpack-entries", "128")
    # ZRANGEBYSCORE of a cached zset: bounds, LIMIT, members with 0xff (the Python road)
    for i in range(12):
        cmd("ZADD", "zr", str(i % 5), b"m%d" % i + (b"\xff" if i == 7 else b""))
    cmd("ZADD", "zr2", "-3", "neg")
    cmd("ZADD", "zr2", "4", "pos")
    for key in ("zr", "zr2"):
        for lo, hi in [("-inf", "+inf"), ("0", "2"), ("(0", "2"), ("0", "(2"), ("(1", "(3"),
                       ("3", "1"), ("inf", "inf"), ("-inf", "-inf"), ("-3", "0"), ("(-3", "4"),
                       ("000", "0004"), ("1", "inf"), ("-1", "(inf"), ("1.5", "3"),
                       (" 1", "3"), ("1e1", "+inf"), ("-INF", "+inf"), ("(", "1"), ("x", "1")]:
            cmd("ZRANGEBYSCORE", key, lo, hi)
        for off, count in [("0", "10"), ("0", "2"), ("2", "3"), ("11", "1"), ("12", "1"),
                           ("100", "5"), ("0", "0"), ("0", "-1"), ("-1", "2"), ("01", "2"),
                           ("3", "-5"), ("a", "1")]:
            cmd("zrangebyscore", key, "1", "+inf", "LIMIT", off, count)
            cmd("ZRANGEBYSCORE", key, "-inf", "(3", "limit", off, count)
    cmd("ZRANGEBYSCORE", "zr", "0", "1", "WITHSCORES")
    cmd("ZRANGEBYSCORE", "zr", "0", "1", "LIMIT", "0")
    cmd("ZRANGEBYSCORE", "zr", "0", "1", "LIMITS", "0", "1")
    cmd("ZRANGEBYSCORE", "h", "0", "1")  # WRONGTYPE
    cmd("ZRANGEBYSCORE", "nozset", "0", "1")
    cmd("ZADD", "z", "NX", "5", "a")  # options
    cmd("ZADD", "z", "1", "a", "2")  # syntax
    cmd("ZADD", "h", "1", "a")  # WRONGTYPE
    cmd("ZADD", "zt", "1", "a")
    cmd("EXPIRE", "zt", "100")
    cmd("ZADD", "zt", "2", "b")
    show_zset("zt")

    # sets: intset while the members are integers and few, then hashtable
    def show_set(key):
        reader = hiredis.Reader()
        reader.feed(c.cmd("SMEMBERS", key))
        got = reader.gets()
        out.append(repr(sorted(got)).encode())
        for args in (("SCARD", key), ("OBJECT", "ENCODING", key), ("TTL", key)):
            cmd(*args)

    cmd("SADD", "s", "1")
    for m in ("2", "-3", "2", "123456789012345678", "-0", "007", "+5",
              "9223372036854775807", "1234567890123456789", "-9223372036854775808"):
        cmd("SADD", "s", m)
        cmd("OBJECT", "ENCODING", "s")
    cmd("SADD", "s", "not a number")
    cmd("sadd", "s", b"\x00\xff")
    cmd("SADD", "s", "not a number")
    show_set("s")
    cmd("SADD", "si", "1")
    for m in ("2", "9223372036854775807"):
        cmd("SADD", "si", m)
    cmd("OBJECT", "ENCODING", "si")
    cmd("CONFIG", "SET", "set-max-intset-entries", "3")
    for i in range(5):
        cmd("SADD", "sm", str(i))
        cmd("OBJECT", "ENCODING", "sm")
    show_set("sm")
    cmd("CONFIG", "SET", "set-max-intset-entries", "512")
    cmd("SADD", "s", "a", "b")  # several members
    cmd("SADD", "h", "x")  # WRONGTYPE
    cmd("SADD", "st", "1")
    cmd("EXPIRE", "st", "100")
    cmd("SADD", "st", "2")  # a TTL
    show_set("st")

    # lists: a new key, then the cached row: pushes and pops at both ends
    cmd("RPUSH", "l", "a")
    cmd("RPUSH", "l", "b")
    cmd("LPUSH", "l", "z")
    cmd("lpush", "l", b"\x00\xff\r\n")
    cmd("rPuSh", "l", "")
    show_list("l")
    cmd("RPOP", "l")
    cmd("LPOP", "l")
    cmd("rpop", "l")
    show_list("l")
    cmd("LPOP", "l")  # down to one element
    cmd("RPOP", "l")  # the last one: the key goes (the Python road)
    cmd("EXISTS", "l")
    cmd("RPOP", "l")
    cmd("LPUSH", "l", "x", "y", "z")  # several elements
    cmd("LPOP", "l", "2")  # a count
    cmd("RPOP", "l", "0")
    cmd("RPUSH", "l", "w" * 70000)  # a big element, popped by the lane
    cmd("RPUSH", "l", "tail")
    cmd("RPOP", "l")
    cmd("STRLEN", "l")  # WRONGTYPE
    cmd("RPOP", "h")  # WRONGTYPE
    cmd("LPUSH", "z", "x")  # WRONGTYPE
    cmd("RPOP", "l")
    show_list("l")
    # LRANGE of a cached list: every range shape, elements with 0xff (the Python road)
    for v in (b"", b"\x00", b"a\r\nb", b"x" * 300, b"\xff", b"y\xffz", b"plain") * 3:
        cmd("RPUSH", "lr", v)
    for start, end in [(0, -1), (0, 0), (1, 3), (-3, -1), (-100, 100), (5, 2), (30, 40),
                       (2, 2), (-1, -1), (0, 4), (7, 11)]:
        cmd("LRANGE", "lr", str(start), str(end))
    cmd("LTRIM", "lr", "6", "11")
    cmd("lrange", "lr", "0", "-1")
    for args in (("00", "1"), ("-0", "1"), ("+1", "2"), ("1", " 2"), ("0x1", "2"),
                 ("99999999999999999999", "1"), ("0", "9223372036854775807"),
                 ("-9223372036854775808", "-1"), ("1.5", "2"), ("a", "b")):
        cmd("LRANGE", "lr", *args)
    cmd("LRANGE", "h", "0", "-1")  # WRONGTYPE
    cmd("LRANGE", "nolist", "0", "-1")
    cmd("LRANGE", "lr", "0")  # arity
    cmd("RPUSH", "lt", "1", "2", "3")
    cmd("EXPIRE", "lt", "100")
    cmd("RPOP", "lt")  # a TTL: kept
    cmd("LPUSH", "lt", "0")
    show_list("lt")
    cmd("RPUSH", "ls", "1", "2")
    cmd("LRANGE", "lt", "0", "-1")  # a TTL
    cmd("PEXPIRE", "ls", "30")
    time.sleep(0.1)
    cmd("LRANGE", "ls", "0", "-1")  # an expired key
    cmd("LPUSH", "ls", "new")  # over an expired key
    cmd("RPOP", "ls")
    show_list("ls")

    def pipeline(*reqs):
        c.send(b"".join(encode_command(*r) for r in reqs))
        out.extend(c.read_reply() for _ in reqs)

    pipeline(*[("HSET", "ph", f"f{i % 5}", f"v{i}") for i in range(16)])
    pipeline(*[("ZADD", "pz", str(i * 7 % 5), f"m{i % 6}") for i in range(16)])
    pipeline(("HSET", "ph", "x", "1"), ("HGET", "ph", "x"), ("HINCRBY", "ph", "x", "2"),
             ("HSET", "ph", "x", "9"), ("ZADD", "pz", "1", "x"), ("ZINCRBY", "pz", "2", "x"),
             ("ZADD", "pz", "5", "x"), ("ZSCORE", "pz", "x"), ("DEL", "ph"),
             ("HSET", "ph", "again", "1"))
    show_hash("ph")
    show_zset("pz")
    pipeline(*[("RPUSH" if i % 3 else "LPUSH", "pl", f"e{i}") for i in range(16)])
    pipeline(*[("RPOP" if i % 2 else "LPOP", "pl") for i in range(8)],
             ("LPUSH", "pl", "x"), ("LINSERT", "pl", "BEFORE", "x", "ins"), ("RPOP", "pl"),
             ("LSET", "pl", "0", "set"), ("LPOP", "pl"), ("LRANGE", "pl", "0", "-1"))
    show_list("pl")
    cmd("MULTI")
    cmd("HSET", "ph", "tx", "1")
    cmd("ZADD", "pz", "9", "tx")
    cmd("RPUSH", "pl", "tx")
    cmd("LPOP", "pl")
    cmd("EXEC")
    c.cmd("HELLO", "3")
    cmd("HSET", "ph", "r3", "x")
    cmd("ZADD", "pz", "4", "r3")
    cmd("RPUSH", "pl", "r3")
    cmd("RPOP", "pl")
    cmd("LPOP", "pl")
    show_hash("ph")
    show_zset("pz")
    c.cmd("HELLO", "2")
    cmd("SELECT", "3")
    cmd("HSET", "ph", "db3", "1")
    cmd("HSET", "ph", "db3b", "1")
    show_hash("ph")
    cmd("SELECT", "0")
    cmd("DEBUG", "RELOAD")  # every row leaves the cache
    for i in range(3):
        cmd("HSET", "ph", f"after{i}", "1")
        cmd("ZADD", "pz", str(i), f"after{i}")
        cmd("LPUSH", "pl", f"after{i}")
        cmd("RPOP", "pl")
    show_hash("ph")
    show_zset("pz")
    show_list("pl")
    cmd("DBSIZE")
    return out


def test_replies_match_redis_and_the_python_road(servers):
    replies = {}
    served = 0
    for name, srv in servers.items():
        c = RawClient(srv.port)
        try:
            c.cmd("FLUSHALL")
            before = _served(c) if name == "lane" else 0
            replies[name] = _script(c)
            if name == "lane":
                served = _served(c) - before
        finally:
            c.cmd("CONFIG", "SET", "hash-max-listpack-entries", "128")
            c.cmd("CONFIG", "SET", "zset-max-listpack-entries", "128")
            c.cmd("CONFIG", "SET", "set-max-intset-entries", "512")
            c.close()
    assert_same_replies(replies)
    # most single-element writes of a cached key took the lane
    assert served >= 150


def _counters(port: int) -> dict[str, str]:
    return counters(port, ("total_commands_processed", "rdb_changes_since_last_save", "db0",
                    "keyspace_hits", "keyspace_misses"),
                    ("cmdstat_", "latency_percentiles_usec_"))


def _state(c: RawClient) -> tuple[bytes, ...]:
    return (c.cmd("HGETALL", "h"), c.cmd("ZRANGE", "z", "0", "-1", "WITHSCORES"),
            c.cmd("HLEN", "h"), c.cmd("ZCARD", "z"), c.cmd("OBJECT", "ENCODING", "h"),
            c.cmd("LRANGE", "l", "0", "-1"), c.cmd("LLEN", "l"), c.cmd("SMEMBERS", "s"),
            c.cmd("OBJECT", "ENCODING", "s"))


def test_counters_and_the_file_match_the_python_road(servers):
    seen = {}
    for name in ("lane", "python"):
        c = RawClient(servers[name].port)
        try:
            c.cmd("FLUSHALL")
            c.cmd("CONFIG", "RESETSTAT")
            c.cmd("SAVE")
            c.cmd("HSET", "h", "warm", "up")  # the keys exist and are cached
            c.cmd("ZADD", "z", "0", "warm")
            c.cmd("SADD", "s", "0")
            served = _served(c)
            before = info(c, "stats")
            c.cmd("RPUSH", "l", "a", "b")
            for i in range(20):
                c.cmd("HSET", "h", f"f{i % 7}", f"v{i % 3}")
                c.cmd("ZADD", "z", str(i % 4), f"m{i % 6}")
                c.cmd("RPUSH" if i % 2 else "LPUSH", "l", f"e{i}")
                c.cmd("LPOP" if i % 3 else "RPOP", "l")
                c.cmd("LRANGE", "l", "0", str(i % 4 - 2))
                c.cmd("SADD", "s", str(i % 9))
                c.cmd("ZRANGEBYSCORE", "z", str(i % 3), "+inf", "LIMIT", "0", str(i % 4 + 1))
            c.send(b"".join(encode_command("HSET", "h", f"p{i}", "x" * i) for i in range(10)))
            for _ in range(10):
                assert c.read_reply() == b":1\r\n"
            after = info(c, "stats")
            assert _served(c) - served == (150 if name == "lane" else 0)
            client_list = c.cmd("CLIENT", "LIST").decode()
            values = _state(c)
            c.cmd("DEBUG", "RELOAD")  # nothing only in the cache
            reloaded = _state(c)
            assert reloaded == values
        finally:
            c.close()
        seen[name] = (_counters(servers[name].port), values,
                      int(after["total_net_input_bytes"]) - int(before["total_net_input_bytes"]),
                      int(after["total_net_output_bytes"]) - int(before["total_net_output_bytes"]),
                      client_list.split(" cmd=")[1].split(" ")[0])
    assert seen["lane"] == seen["python"]
    assert "calls=31" in seen["lane"][0]["cmdstat_hset"]
    assert "calls=21" in seen["lane"][0]["cmdstat_zadd"]
    assert "calls=10" in seen["lane"][0]["cmdstat_lpush"]
    assert "calls=22" in seen["lane"][0]["cmdstat_lrange"]  # 20, and two reads of the state
    assert "calls=20" in seen["lane"][0]["cmdstat_zrangebyscore"]
    assert "calls=21" in seen["lane"][0]["cmdstat_sadd"]


def _watched_exec(a: RawClient, b: RawClient, write: tuple, read: tuple) -> tuple[bytes, bytes]:
    """``a`` WATCHes the key of ``write``, ``b`` runs it, ``a`` runs ``read`` in MULTI:
    the write's reply and EXEC's (nil when the write touched the key)."""
    assert a.cmd("WATCH", write[1]) == b"+OK\r\n"
    reply = b.cmd(*write)
    a.cmd("MULTI")
    a.cmd(*read)
    return reply, a.cmd("EXEC")


@pytest.mark.parametrize("name", ["lane", "python", "redis"])
def test_dirty_and_watch_follow_what_changed(servers, name):
    """A ZADD of the same score changes nothing: no dirty, WATCH holds; a new score or an
    HSET (even of the same value, as in Redis) is a change."""
    port = servers[name].port
    a, b = RawClient(port), RawClient(port)
    try:
        a.cmd("FLUSHALL")
        a.cmd("ZADD", "z", "1", "m")
        a.cmd("HSET", "h", "f", "v")
        dirty = int(info(a, "persistence")["rdb_changes_since_last_save"])
        assert _watched_exec(a, b, ("ZADD", "z", "1", "m"), ("ZSCORE", "z", "m")) == (
            b":0\r\n", b"*1\r\n$1\r\n1\r\n")
        assert int(info(a, "persistence")["rdb_changes_since_last_save"]) == dirty
        assert _watched_exec(a, b, ("ZADD", "z", "2", "m"), ("ZSCORE", "z", "m")) == (
            b":0\r\n", b"*-1\r\n")
        assert _watched_exec(a, b, ("HSET", "h", "f", "v"), ("HGET", "h", "f")) == (
            b":0\r\n", b"*-1\r\n")
        assert int(info(a, "persistence")["rdb_changes_since_last_save"]) == dirty + 2
    finally:
        a.close()
        b.close()


@pytest.mark.parametrize("name", ["lane", "python", "redis"])
def test_tracking_and_slowlog(servers, name):
    port = servers[name].port
    t, w = RawClient(port), RawClient(port)
    try:
        w.cmd("FLUSHALL")
        w.cmd("HSET", "th", "f", "1")
        w.cmd("ZADD", "tz", "1", "m")
        t.cmd("HELLO", "3")
        t.cmd("CLIENT", "TRACKING", "ON")
        t.cmd("HGET", "th", "f")
        t.cmd("ZSCORE", "tz", "m")
        assert w.cmd("HSET", "th", "f", "2") == b":0\r\n"
        assert t.read_reply() == b">2\r\n$10\r\ninvalidate\r\n*1\r\n$2\r\nth\r\n"
        assert w.cmd("ZADD", "tz", "5", "m") == b":0\r\n"
        assert t.read_reply() == b">2\r\n$10\r\ninvalidate\r\n*1\r\n$2\r\ntz\r\n"
        w.cmd("CONFIG", "SET", "slowlog-log-slower-than", "0")
        w.cmd("SLOWLOG", "RESET")
        w.cmd("ZADD", "tz", "6", "m")
        w.cmd("HSET", "th", "g", "x")
        log = w.cmd("SLOWLOG", "GET", "10")
        assert b"$4\r\nZADD\r\n$2\r\ntz\r\n$1\r\n6\r\n$1\r\nm\r\n" in log
        assert b"$4\r\nHSET\r\n$2\r\nth\r\n$1\r\ng\r\n$1\r\nx\r\n" in log
    finally:
        w.cmd("CONFIG", "SET", "slowlog-log-slower-than", "10000")
        t.close()
        w.close()


def test_rename_command_is_honoured(tmp_path):
    srv = start_aki(tmp_path, "--rename-command", "HSET", "HPUT")
    try:
        c = RawClient(srv.port)
        c.cmd("HPUT", "h", "a", "1")
        assert c.cmd("HSET", "h", "b", "2").startswith(b"-ERR unknown command 'HSET'")
        assert c.cmd("HPUT", "h", "b", "2") == b":1\r\n"
        assert c.cmd("HLEN", "h") == b":2\r\n"
        c.close()
    finally:
        srv.stop()


def test_the_aof_and_a_replica_get_every_lane_write(tmp_path):
    primary, replica = primary_and_replica(tmp_path, "--appendonly", "yes")
    deadline = time.monotonic() + 20
    try:
        p = redis.Redis(port=primary.port)
        r = redis.Redis(port=replica.port)
        p.hset("h", "f0", "v0")
        p.zadd("z", {"m0": 0})
        p.rpush("l", "start", "x")
        p.sadd("s", "m0")
        served = int(p.info("aki")["aki_collection_lane_served"])
        for i in range(1, 30):
            p.hset("h", f"f{i}", f"v{i}")
            p.zadd("z", {f"m{i}": i})
            p.rpush("l", f"e{i}")
            p.sadd("s", f"m{i}")
            assert p.lpop("l") == (b"start" if i == 1 else b"x" if i == 2 else b"e%d" % (i - 2))
        assert p.zadd("z", {"m3": 3}) == 0  # unchanged: not propagated
        assert int(p.info("aki")["aki_collection_lane_served"]) - served >= 145
        while r.hlen("h") < 30 or r.zcard("z") < 30:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert r.hgetall("h") == {b"f%d" % i: b"v%d" % i for i in range(30)}
        assert r.zrange("z", 0, -1, withscores=True) == [(b"m%d" % i, float(i))
                                                         for i in range(30)]
        deadline = time.monotonic() + 20
        while r.lrange("l", 0, -1) != [b"e28", b"e29"] or r.scard("s") < 30:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        with pytest.raises(redis.ReadOnlyError):  # a replica refuses them too
            r.hset("h", "f0", "x")
    finally:
        replica.stop()
    primary.stop()
    aof = tmp_path / "p" / "appendonlydir"
    text = b"".join(f.read_bytes() for f in aof.glob("*.incr.aof")).lower()
    for i in range(1, 30):
        assert encode_command("hset", "h", f"f{i}", f"v{i}").lower() in text
        assert encode_command("zadd", "z", str(i), f"m{i}").lower() in text
        assert encode_command("rpush", "l", f"e{i}").lower() in text
        assert encode_command("sadd", "s", f"m{i}").lower() in text
    assert text.count(encode_command("lpop", "l").lower()) == 29
    assert text.count(encode_command("zadd", "z", "3", "m3").lower()) == 1
