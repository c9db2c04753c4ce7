"""MIGRATE between aki and real Redis, timeouts, events, the log, and the connection cache."""

from __future__ import annotations

import threading
import time

import pytest
import redis

from tests.conftest import aof_incr, start_aki, start_redis


@pytest.fixture(scope="module")
def redis_target(tmp_path_factory):
    srv = start_redis(tmp_path_factory.mktemp("redis-target"))
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def aki_target(tmp_path_factory):
    srv = start_aki(tmp_path_factory.mktemp("aki-target"))
    yield srv
    srv.stop()


def fill(c: redis.Redis) -> None:
    c.set("s", b"\x00binary\xff")
    c.set("t", "with-ttl", px=50_000)
    c.rpush("l", *[f"e{i}" for i in range(300)])
    c.hset("h", mapping={f"f{i}": f"v{i}" for i in range(200)})
    c.sadd("set", *range(600))
    c.zadd("z", {f"m{i}": i / 3 for i in range(150)})
    c.xadd("x", {"a": "1"}, id="5-1")


def check(c: redis.Redis) -> None:
    assert c.get("s") == b"\x00binary\xff"
    assert 40_000 < c.pttl("t") <= 50_000
    assert c.lrange("l", 0, -1) == [f"e{i}".encode() for i in range(300)]
    assert c.hgetall("h") == {f"f{i}".encode(): f"v{i}".encode() for i in range(200)}
    assert c.smembers("set") == {str(i).encode() for i in range(600)}
    assert c.zrange("z", 0, -1, withscores=True) == [(f"m{i}".encode(), i / 3) for i in range(150)]
    assert c.xrange("x") == [(b"5-1", {b"a": b"1"})]


KEYS = ["s", "t", "l", "h", "set", "z", "x"]


def test_aki_to_redis_and_back(r, redis_target, aki_server):
    dst = redis_target.client()
    dst.flushall()
    r.flushall()
    fill(r)
    assert r.execute_command("MIGRATE", "127.0.0.1", redis_target.port, "", 3, 5000,
                             "KEYS", *KEYS) == b"OK"
    assert r.dbsize() == 0
    dst.execute_command("SELECT", 3)
    check(redis.Redis(port=redis_target.port, db=3))
    # and from real Redis into aki
    back = redis.Redis(port=redis_target.port, db=3)
    assert back.execute_command("MIGRATE", "127.0.0.1", aki_server.port, "", 0, 5000,
                                "KEYS", *KEYS) == b"OK"
    check(r)
    assert back.dbsize() == 0


def test_timeout(r, aki_target):
    """A target that does not answer in time: IOERR, and the key stays here."""
    r.set("k", "v")
    sleeper = aki_target.client()
    t = threading.Thread(target=sleeper.execute_command, args=("DEBUG", "SLEEP", "1.5"))
    t.start()
    time.sleep(0.2)
    start = time.monotonic()
    with pytest.raises(redis.ResponseError, match="^IOERR error or timeout reading to target"):
        r.execute_command("MIGRATE", "127.0.0.1", aki_target.port, "k", 0, 300)
    assert time.monotonic() - start < 1.2
    assert r.get("k") == b"v"
    t.join()


def test_events_and_log(tmp_path, aki_target):
    """Moved keys fire 'del' and are logged as DEL, only the ones the target took."""
    src = start_aki(tmp_path, "--appendonly", "yes", "--dir", str(tmp_path),
                    "--notify-keyspace-events", "Eg", "--appendfsync", "always")
    try:
        c = src.client()
        dst = aki_target.client()
        dst.flushall()
        dst.set("taken", "x")
        ps = c.pubsub()
        ps.subscribe("__keyevent@0__:del")
        ps.get_message(timeout=2)
        c.mset({"a": "1", "b": "2", "taken": "3"})
        with pytest.raises(redis.ResponseError, match="BUSYKEY"):
            c.execute_command("MIGRATE", "127.0.0.1", aki_target.port, "", 0, 2000,
                              "KEYS", "a", "taken", "b")
        got = []
        for _ in range(2):
            m = ps.get_message(timeout=2)
            got.append(m["data"])
        assert sorted(got) == [b"a", b"b"]
        assert c.get("taken") == b"3" and dst.mget("a", "b") == [b"1", b"2"]
        c.execute_command("MIGRATE", "127.0.0.1", aki_target.port, "taken", 0, 2000, "COPY",
                          "REPLACE")
        ps.close()
        c.close()
    finally:
        src.stop()
    log = aof_incr(tmp_path).read_bytes()
    assert b"*3\r\n$3\r\nDEL\r\n$1\r\na\r\n$1\r\nb\r\n" in log
    assert b"MIGRATE" not in log and log.count(b"DEL") == 1
    src.start()
    try:
        c = src.client()
        assert c.mget("a", "b", "taken") == [None, None, b"3"]
        c.close()
    finally:
        src.stop()


def test_cached_connection_is_closed_after_ten_seconds(r, aki_target):
    r.set("k", "v")
    target = aki_target.client()
    before = target.info("clients")["connected_clients"]
    cached = r.info("stats")["migrate_cached_sockets"]  # links of the tests before
    r.execute_command("MIGRATE", "127.0.0.1", aki_target.port, "k", 0, 1000, "COPY", "REPLACE")
    assert r.info("stats")["migrate_cached_sockets"] == cached + 1
    assert target.info("clients")["connected_clients"] == before + 1
    time.sleep(3)
    r.execute_command("MIGRATE", "127.0.0.1", aki_target.port, "k", 0, 1000, "COPY", "REPLACE")
    time.sleep(9)  # not yet 10 s unused (MIGRATE_SOCKET_CACHE_TTL): still open
    assert target.info("clients")["connected_clients"] == before + 1
    time.sleep(2.5)
    assert target.info("clients")["connected_clients"] == before
    assert r.info("stats")["migrate_cached_sockets"] == 0
