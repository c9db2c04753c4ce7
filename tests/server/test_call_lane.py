"""The compiled lane's generic part (src/aki/_lane.c, serve_call): any other plain
command, parsed in C and handed to dispatch.call(), answers and counts exactly as the
Python road.

Three servers get the same requests on raw sockets (real Redis, aki with the lane, aki
with ``AKI_LANE=0``): replies must be byte-identical across all three, and the counters
identical between the two aki servers. The script puts every connection state the lane
must notice in the middle of pipelines: a blocking command, MULTI, CLIENT REPLY, a
subscription, HELLO 3, QUIT.
"""

from __future__ import annotations

import re
import time

import pytest

from tests.conftest import RawClient, encode_command, start_aki
from tests.server.lanes import assert_same_replies, counters, info, three_servers


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    yield from three_servers(tmp_path_factory)


def _call_served(c: RawClient) -> int:
    return int(info(c, "aki").get("aki_call_lane_served", "0"))


# Commands of every family, their errors included, each sent alone and then all of them
# again as one pipeline.
COMMANDS = [
    ("PING",), ("PING", "hi"), ("ECHO", "x"),
    ("LPUSH", "l", "a", "b", "c"), ("RPUSH", "l", "d"), ("LRANGE", "l", "0", "-1"),
    ("LPOP", "l"), ("RPOP", "l", "2"), ("LLEN", "l"), ("LINDEX", "l", "0"),
    ("HSET", "h", "f", "1", "g", "2"), ("HGET", "h", "f"), ("HGETALL", "h"),
    ("HINCRBY", "h", "f", "5"), ("HDEL", "h", "g"), ("HLEN", "h"),
    ("SADD", "s", "1", "2", "3"), ("SISMEMBER", "s", "2"), ("SCARD", "s"), ("SREM", "s", "1"),
    ("ZADD", "z", "1", "a", "2.5", "b"), ("ZRANGE", "z", "0", "-1", "WITHSCORES"),
    ("ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", "0", "1"), ("ZSCORE", "z", "b"),
    ("ZINCRBY", "z", "0.1", "a"), ("ZCARD", "z"),
    ("INCR", "n"), ("INCRBY", "n", "10"), ("DECR", "n"), ("INCRBYFLOAT", "f", "1.5"),
    ("MSET", "a", "1", "b", "2"), ("MGET", "a", "b", "nope"), ("APPEND", "a", "x"),
    ("SETEX", "e", "100", "v"), ("TTL", "e"), ("PERSIST", "e"), ("TTL", "e"),
    ("SET", "k", "v", "EX", "100"), ("SET", "k", "w", "KEEPTTL"), ("TTL", "k"),
    ("SET", "k", "x", "NX"), ("SET", "k", "y", "XX", "GET"), ("GETDEL", "k"),
    ("EXISTS", "a", "b", "nope"), ("TYPE", "h"), ("DEL", "a", "nope"), ("UNLINK", "b"),
    ("DBSIZE",), ("STRLEN", "f"),
    ("LPUSH", "h", "x"), ("HGET", "l", "f"), ("INCR", "l"),  # WRONGTYPE
    ("LPUSH", "l"), ("HSET", "h", "f"), ("ZADD", "z", "x", "a"),  # arity, syntax
    ("NOSUCHCOMMAND", "x"), ("SELECT", "2"), ("SET", "db2", "1"), ("DBSIZE",),
    ("SELECT", "0"), ("DBSIZE",),
]


def _script(c: RawClient) -> list[bytes]:
    out = []
    c.cmd("FLUSHALL")
    for args in COMMANDS:
        out.append(c.cmd(*args))
    c.cmd("FLUSHALL")
    c.send(b"".join(encode_command(*a) for a in COMMANDS))
    out.extend(c.read_reply() for _ in COMMANDS)

    def pipeline(*reqs, replies=None):
        c.send(b"".join(encode_command(*r) for r in reqs))
        out.extend(c.read_reply() for _ in range(len(reqs) if replies is None else replies))

    # a transaction inside a pipeline: queued commands, then the lane again
    pipeline(("INCR", "t"), ("MULTI",), ("INCR", "t"), ("LPUSH", "tl", "x"), ("EXEC",),
             ("INCR", "t"), ("LLEN", "tl"))
    # CLIENT REPLY OFF / ON inside a pipeline
    pipeline(("INCR", "r"), ("CLIENT", "REPLY", "OFF"), ("INCR", "r"), ("INCR", "r"),
             ("CLIENT", "REPLY", "ON"), ("GET", "r"), replies=3)
    # a blocking command that must wait: the rest of the pipeline waits behind it
    c.send(b"".join(encode_command(*r) for r in (
        ("BLPOP", "bl", "0.2"), ("LPUSH", "after", "1"), ("LLEN", "after"))))
    out.extend(c.read_reply() for _ in range(3))
    # ... and one served at once
    pipeline(("RPUSH", "bl", "v"), ("BLPOP", "bl", "1"), ("LLEN", "bl"))
    # RESP3 replies from the lane
    c.cmd("HELLO", "3")
    pipeline(("HSET", "h3", "a", "1"), ("HGETALL", "h3"), ("ZADD", "z3", "1.5", "m"),
             ("ZSCORE", "z3", "m"), ("ZRANGE", "z3", "0", "-1", "WITHSCORES"), ("PING",))
    c.cmd("HELLO", "2")
    # a subscription in the middle of a pipeline: what follows is refused (RESP2)
    pipeline(("INCR", "p"), ("SUBSCRIBE", "ch"), ("INCR", "p"), ("PING",),
             ("UNSUBSCRIBE", "ch"), ("INCR", "p"))
    # a request split over two reads, after lane requests in the first
    req = encode_command("HSET", "split", "f", "v")
    c.send(encode_command("INCR", "q") + req[:10])
    time.sleep(0.05)
    c.send(req[10:])
    out.extend(c.read_reply() for _ in range(2))
    out.append(c.cmd("HGETALL", "split"))
    # an inline command after lane requests in the same read
    c.send(encode_command("INCR", "q") + b"INCR q\r\n")
    out.extend(c.read_reply() for _ in range(2))
    # QUIT inside a pipeline: its OK, nothing after it
    c.send(encode_command("INCR", "z9") + encode_command("QUIT") + encode_command("INCR", "z9"))
    out.extend(c.read_reply() for _ in range(2))
    return out


def test_replies_match_redis_and_the_python_road(servers):
    replies = {}
    served = 0
    for name, srv in servers.items():
        c = RawClient(srv.port)
        try:
            before = _call_served(c) if name == "lane" else 0
            replies[name] = _script(c)
        finally:
            c.close()
        if name == "lane":
            c = RawClient(srv.port)
            served = _call_served(c) - before
            # QUIT closed the connection: the INCR after it was never run
            assert c.cmd("GET", "z9") == b"$1\r\n1\r\n"
            c.close()
    assert_same_replies(replies)
    # each spelling's first use teaches execute() the spelling (the Python road); the
    # pipeline of the same commands then takes the lane
    assert served >= len(COMMANDS) - 10


def _counters(port: int) -> dict[str, str]:
    return counters(port, ("total_commands_processed", "rdb_changes_since_last_save", "db0",
                    "keyspace_hits", "keyspace_misses", "total_error_replies"),
                    ("cmdstat_", "errorstat_", "latency_percentiles_usec_"))


def test_counters_match_the_python_road(servers):
    seen = {}
    for name in ("lane", "python"):
        c = RawClient(servers[name].port)
        try:
            c.cmd("FLUSHALL")
            c.cmd("SAVE")
            for args in COMMANDS:  # the spellings are learned
                c.cmd(*args)
            c.cmd("FLUSHALL")
            c.cmd("CONFIG", "RESETSTAT")
            served = _call_served(c)
            before = info(c, "stats")
            for args in COMMANDS:
                c.cmd(*args)
            c.send(b"".join(encode_command(*a) for a in COMMANDS))
            for _ in COMMANDS:
                c.read_reply()
            after = info(c, "stats")
            # (both ask, so that both count the same INFO calls)
            assert (_call_served(c) - served >= len(COMMANDS)) == (name == "lane")
            client_list = c.cmd("CLIENT", "LIST").decode()
        finally:
            c.close()
        seen[name] = (_counters(servers[name].port),
                      *(int(after[k]) - int(before[k]) for k in (
                          "total_net_input_bytes", "total_net_output_bytes",
                          "total_reads_processed", "total_writes_processed")),
                      re.search(r" cmd=(\S+)", client_list).group(1))
    lane, python = seen["lane"], seen["python"]
    assert {k: v for k, v in lane[0].items() if python[0].get(k) != v} == {}
    assert lane == python
    assert "calls=2" in lane[0]["cmdstat_hincrby"]


def test_slowlog_and_last_command(servers):
    for name in ("lane", "python"):
        c = RawClient(servers[name].port)
        try:
            c.cmd("FLUSHALL")
            c.cmd("HSET", "h", "f", "v")
            c.cmd("CONFIG", "SET", "slowlog-log-slower-than", "0")
            c.cmd("SLOWLOG", "RESET")
            c.cmd("HSET", "h", "f", "logged")
            log = c.cmd("SLOWLOG", "GET", "10")
            assert b"$4\r\nHSET\r\n$1\r\nh\r\n$1\r\nf\r\n$6\r\nlogged\r\n" in log
            c.cmd("CONFIG", "SET", "slowlog-log-slower-than", "10000")
            c.cmd("CLIENT", "SETNAME", "writer")
            c.cmd("LPUSH", "l", "x")
            other = RawClient(servers[name].port)
            listing = other.cmd("CLIENT", "LIST").decode()
            other.close()
            assert re.search(r"name=writer .* cmd=lpush ", listing)
        finally:
            c.cmd("CONFIG", "SET", "slowlog-log-slower-than", "10000")
            c.close()


def test_a_blocked_client_is_woken_by_a_lane_push(servers):
    for name in ("lane", "redis"):
        port = servers[name].port
        blk, w = RawClient(port), RawClient(port)
        try:
            w.cmd("FLUSHALL")
            blk.send(encode_command("BLPOP", "q", "5"))
            time.sleep(0.1)
            assert w.cmd("RPUSH", "q", "job") == b":1\r\n"
            assert blk.read_reply() == b"*2\r\n$1\r\nq\r\n$3\r\njob\r\n"
            assert w.cmd("LLEN", "q") == b":0\r\n"
        finally:
            blk.close()
            w.close()


def test_rename_command_and_acl(tmp_path):
    srv = start_aki(tmp_path, "--rename-command", "HSET", "HPUT")
    try:
        c = RawClient(srv.port)
        assert c.cmd("HSET", "h", "f", "v").startswith(b"-ERR unknown command 'HSET'")
        assert c.cmd("HPUT", "h", "f", "v") == b":1\r\n"
        assert c.cmd("ACL", "SETUSER", "ro", "on", "nopass", "~*", "+hget") == b"+OK\r\n"
        assert c.cmd("AUTH", "ro", "x") == b"+OK\r\n"
        assert c.cmd("HPUT", "h", "f", "w").startswith(b"-NOPERM")
        assert c.cmd("HGET", "h", "f") == b"$1\r\nv\r\n"
        c.close()
    finally:
        srv.stop()
