"""The compiled SET lane (src/aki/_lane.c, serve_set) writes, answers and counts exactly
as the Python road.

As for the GET lane: three servers get the same requests on raw sockets (real Redis,
aki with the lane, aki with ``AKI_LANE=0``); replies must be byte-identical across all
three, and what a SET changes (the value, its TTL and encoding, the row cache, INFO
counters, WATCH, tracking, notifications, the AOF) identical between the two aki
servers. Each scenario also checks that the lane really served the SETs it should.
"""

from __future__ import annotations

import re
import threading
import time

import pytest
import redis

from tests.conftest import RawClient, encode_command, start_aki
from tests.server.lanes import assert_same_replies, counters, info, primary_and_replica, three_servers


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    yield from three_servers(tmp_path_factory)


def _set_served(c: RawClient) -> int:
    return int(info(c, "aki").get("aki_set_lane_served", "0"))


def _script(c: RawClient) -> list[bytes]:
    """SETs in every state a key can be in, each followed by the reads that show what
    it left behind; single requests and pipelines."""
    out = []

    def cmd(*args):
        out.append(c.cmd(*args))

    def show(key):
        for args in (("GET", key), ("TTL", key), ("TYPE", key), ("OBJECT", "ENCODING", key),
                     ("STRLEN", key)):
            cmd(*args)

    cmd("SET", "k", "v")  # a new key
    cmd("SET", "k", "v2")  # a cached live string
    show("k")
    cmd("set", "k", "lower")
    cmd("sEt", "k", "mixed")
    show("k")
    cmd("SET", "n", "12345")  # OBJECT ENCODING int, then embstr, then raw
    show("n")
    cmd("SET", "n", "x" * 50)
    show("n")
    cmd("SET", "n", "0")
    show("n")
    cmd("SET", "", "")  # empty key and value
    show("")
    cmd("SET", b"bin\r\n\x00key", b"\x00\xff\r\n$3\r\n")
    show(b"bin\r\n\x00key")
    cmd("SET", "ttl", "a", "EX", "100")
    cmd("SET", "ttl", "b")  # a SET clears the TTL
    show("ttl")
    cmd("RPUSH", "list", "a", "b")
    cmd("SET", "list", "now a string")  # another type is replaced
    show("list")
    cmd("LLEN", "list")
    cmd("GET", "absent")  # a cached absence, then a SET of it
    cmd("SET", "absent", "here")
    show("absent")
    cmd("SET", "soon", "x", "PX", "30")
    time.sleep(0.1)
    cmd("SET", "soon", "back")  # over an expired key
    show("soon")
    cmd("DBSIZE")
    cmd("SET", "big", "b" * 70000)  # over the row cache's bound
    cmd("SET", "big", "c" * 70000)
    cmd("STRLEN", "big")
    cmd("SET", "big", "small again")
    show("big")
    cmd("SET", "k")  # arity
    cmd("SET", "k", "v", "extra")  # a syntax error
    cmd("SET", "k", "v", "NX")
    cmd("SET", "k", "v3", "XX", "GET")
    show("k")

    def pipeline(*reqs):
        c.send(b"".join(encode_command(*r) for r in reqs))
        out.extend(c.read_reply() for _ in reqs)

    pipeline(*[("SET", f"p{i}", f"v{i}") for i in range(16)])
    pipeline(*[("GET", f"p{i}") for i in range(16)])
    pipeline(("SET", "m", "1"), ("GET", "m"), ("INCR", "m"), ("SET", "m", "7"), ("GET", "m"),
             ("SET", "list", "x"), ("LPUSH", "list", "y"), ("SET", "m", "8"))
    show("m")
    # a SET split over two reads
    req = encode_command("SET", "split", "value")
    c.send(req[:11])
    time.sleep(0.05)
    c.send(req[11:])
    out.append(c.read_reply())
    show("split")
    cmd("MULTI")
    cmd("SET", "tx", "1")
    cmd("GET", "tx")
    cmd("EXEC")
    c.send(encode_command("CLIENT", "REPLY", "SKIP"))
    time.sleep(0.05)
    c.send(encode_command("SET", "skipped", "1"))  # no reply, but written
    time.sleep(0.05)
    cmd("GET", "skipped")
    c.cmd("HELLO", "3")
    cmd("SET", "r3", "x")
    show("r3")
    c.cmd("HELLO", "2")
    cmd("SUBSCRIBE", "ch")
    cmd("SET", "k", "refused")  # RESP2 pub/sub context
    cmd("UNSUBSCRIBE", "ch")
    cmd("GET", "k")
    cmd("SELECT", "3")
    cmd("SET", "k", "db3")
    cmd("GET", "k")
    cmd("SELECT", "0")
    cmd("GET", "k")
    cmd("DEBUG", "RELOAD")  # every row leaves the cache: SETs of stored, uncached keys
    for value in ("r1", "r2", "r3"):
        cmd("SET", "k", value)
        show("k")
    cmd("DBSIZE")
    return out


def test_replies_match_redis_and_the_python_road(servers):
    replies = {}
    served = {}
    for name, srv in servers.items():
        c = RawClient(srv.port)
        try:
            c.cmd("FLUSHALL")
            before = _set_served(c) if name == "lane" else 0
            replies[name] = _script(c)
            if name == "lane":
                served[name] = _set_served(c) - before
        finally:
            c.close()
    assert_same_replies(replies)
    # most plain SETs took the lane (each spelling's first use and the states above that
    # leave it take the Python road)
    assert served["lane"] >= 25


def _counters(port: int) -> dict[str, str]:
    return counters(port, ("total_commands_processed", "rdb_changes_since_last_save", "db0",
                    "keyspace_hits", "keyspace_misses", "expired_keys"),
                    ("cmdstat_", "latency_percentiles_usec_"))


def test_counters_and_the_file_match_the_python_road(servers, tmp_path):
    seen = {}
    for name in ("lane", "python"):
        c = RawClient(servers[name].port)
        try:
            c.cmd("FLUSHALL")
            c.cmd("CONFIG", "RESETSTAT")
            c.cmd("SAVE")
            c.cmd("SET", "warm", "up")  # the spellings are learned
            served = _set_served(c)
            before = info(c, "stats")
            for i in range(20):
                assert c.cmd("SET", f"k{i % 7}", f"v{i}") == b"+OK\r\n"
            c.send(b"".join(encode_command("SET", f"p{i}", "x" * i) for i in range(10)))
            for _ in range(10):
                assert c.read_reply() == b"+OK\r\n"
            after = info(c, "stats")
            assert _set_served(c) - served == (30 if name == "lane" else 0)
            assert c.cmd("INFO", "aki").count(
                b"aki_get_lane:on" if name == "lane" else b"aki_get_lane:off") == 1
            client_list = c.cmd("CLIENT", "LIST").decode()
            values = [c.cmd("GET", f"k{i}") for i in range(7)] + [
                c.cmd("GET", f"p{i}") for i in range(10)]
            # the same after the file is closed and reopened (nothing only in the cache)
            c.cmd("DEBUG", "RELOAD")
            reloaded = [c.cmd("GET", f"k{i}") for i in range(7)] + [
                c.cmd("GET", f"p{i}") for i in range(10)]
            assert reloaded == values
        finally:
            c.close()
        seen[name] = (_counters(servers[name].port), values,
                      int(after["total_net_input_bytes"]) - int(before["total_net_input_bytes"]),
                      int(after["total_net_output_bytes"]) - int(before["total_net_output_bytes"]),
                      int(after["total_reads_processed"]) - int(before["total_reads_processed"]),
                      int(after["total_writes_processed"]) - int(before["total_writes_processed"]),
                      re.search(r" cmd=(\S+)", client_list).group(1))
    assert seen["lane"] == seen["python"]
    counters = seen["lane"][0]
    assert "calls=31" in counters["cmdstat_set"]


@pytest.mark.parametrize("name", ["lane", "python"])
def test_slowlog_latency_idle_and_dirty(servers, name):
    c = RawClient(servers[name].port)
    try:
        c.cmd("FLUSHALL")
        c.cmd("CONFIG", "RESETSTAT")
        c.cmd("SET", "k", "v")
        c.cmd("CONFIG", "SET", "slowlog-log-slower-than", "0")
        c.cmd("SLOWLOG", "RESET")
        c.cmd("SET", "k", "logged")
        assert b"$3\r\nSET\r\n$1\r\nk\r\n$6\r\nlogged\r\n" in c.cmd("SLOWLOG", "GET", "10")
        c.cmd("CONFIG", "SET", "slowlog-log-slower-than", "10000")
        time.sleep(2.1)
        assert int(c.cmd("OBJECT", "IDLETIME", "k")[1:-2]) >= 2
        c.cmd("SET", "k", "again")  # a SET records the access
        assert c.cmd("OBJECT", "IDLETIME", "k") == b":0\r\n"
        dirty = int(info(c, "persistence")["rdb_changes_since_last_save"])
        c.cmd("SET", "k", "more")
        assert int(info(c, "persistence")["rdb_changes_since_last_save"]) == dirty + 1
        assert b"$5\r\ncalls\r\n:4\r\n" in c.cmd("LATENCY", "HISTOGRAM", "set")
    finally:
        c.cmd("CONFIG", "SET", "slowlog-log-slower-than", "10000")
        c.close()


@pytest.mark.parametrize("name", ["lane", "python", "redis"])
def test_watch_sees_a_lane_set(servers, name):
    port = servers[name].port
    a, b = RawClient(port), RawClient(port)
    try:
        a.cmd("FLUSHALL")
        a.cmd("SET", "w", "1")
        assert a.cmd("WATCH", "w") == b"+OK\r\n"
        assert b.cmd("SET", "w", "2") == b"+OK\r\n"
        a.cmd("MULTI")
        a.cmd("GET", "w")
        assert a.cmd("EXEC") == b"*-1\r\n"
        # and a SET of another key leaves the transaction alone
        a.cmd("WATCH", "w")
        b.cmd("SET", "other", "x")
        a.cmd("MULTI")
        a.cmd("GET", "w")
        assert a.cmd("EXEC") == b"*1\r\n$1\r\n2\r\n"
    finally:
        a.close()
        b.close()


@pytest.mark.parametrize("name", ["lane", "python", "redis"])
def test_tracking_invalidation_and_notifications(servers, name):
    """Tracking (default and BCAST) and keyspace notifications see every SET."""
    port = servers[name].port
    t, bc, sub, w = RawClient(port), RawClient(port), RawClient(port), RawClient(port)
    try:
        w.cmd("FLUSHALL")
        w.cmd("SET", "tk", "1")
        t.cmd("HELLO", "3")
        t.cmd("CLIENT", "TRACKING", "ON")
        t.cmd("GET", "tk")
        bc.cmd("HELLO", "3")
        bc.cmd("CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "tk")
        assert w.cmd("SET", "tk", "2") == b"+OK\r\n"
        assert t.read_reply() == b">2\r\n$10\r\ninvalidate\r\n*1\r\n$2\r\ntk\r\n"
        assert bc.read_reply() == b">2\r\n$10\r\ninvalidate\r\n*1\r\n$2\r\ntk\r\n"
        t.cmd("CLIENT", "TRACKING", "OFF")
        bc.cmd("CLIENT", "TRACKING", "OFF")
        w.cmd("CONFIG", "SET", "notify-keyspace-events", "K$")
        sub.cmd("SUBSCRIBE", "__keyspace@0__:nk")
        assert w.cmd("SET", "nk", "1") == b"+OK\r\n"
        assert sub.read_reply() == (b"*3\r\n$7\r\nmessage\r\n$17\r\n__keyspace@0__:nk\r\n"
                                    b"$3\r\nset\r\n")
    finally:
        w.cmd("CONFIG", "SET", "notify-keyspace-events", "")
        for x in (t, bc, sub, w):
            x.close()


@pytest.mark.parametrize("name", ["lane", "python", "redis"])
def test_client_pause_write_holds_a_set(servers, name):
    port = servers[name].port
    a, b = RawClient(port), RawClient(port)
    try:
        a.cmd("FLUSHALL")
        assert a.cmd("CLIENT", "PAUSE", "300", "WRITE") == b"+OK\r\n"
        start = time.monotonic()
        assert b.cmd("SET", "paused", "1") == b"+OK\r\n"
        assert time.monotonic() - start >= 0.25
        assert b.cmd("GET", "paused") == b"$1\r\n1\r\n"
    finally:
        a.close()
        b.close()


@pytest.mark.parametrize("name", ["lane", "python", "redis"])
def test_monitor_and_a_blocked_client(servers, name):
    """MONITOR shows the SET; a client blocked on the key SET turns into a string stays
    blocked, as in Redis 7.0 (its BLPOP times out)."""
    port = servers[name].port
    mon, w, blk = RawClient(port), RawClient(port), RawClient(port)
    try:
        w.cmd("FLUSHALL")
        assert mon.cmd("MONITOR") == b"+OK\r\n"
        w.cmd("SET", "seen", "1")
        assert b'"SET" "seen" "1"' in mon.read_reply()
        blk.send(encode_command("BLPOP", "bk", "0.3"))
        time.sleep(0.1)
        assert w.cmd("SET", "bk", "x") == b"+OK\r\n"
        assert blk.read_reply() == b"*-1\r\n"
    finally:
        for x in (mon, w, blk):
            x.close()


def test_acl_and_rename_command_are_honoured(tmp_path):
    srv = start_aki(tmp_path, "--rename-command", "SET", "PUT")
    try:
        c = RawClient(srv.port)
        assert c.cmd("SET", "k", "v").startswith(b"-ERR unknown command 'SET'")
        assert c.cmd("PUT", "k", "v") == b"+OK\r\n"
        assert c.cmd("ACL", "SETUSER", "ro", "on", "nopass", "~*", "+get") == b"+OK\r\n"
        assert c.cmd("AUTH", "ro", "x") == b"+OK\r\n"
        assert c.cmd("PUT", "k", "w").startswith(b"-NOPERM")
        assert c.cmd("GET", "k") == b"$1\r\nv\r\n"
        c.close()
    finally:
        srv.stop()


def test_the_aof_and_a_replica_get_every_lane_set(tmp_path):
    primary, replica = primary_and_replica(tmp_path, "--appendonly", "yes")
    deadline = time.monotonic() + 20
    try:
        p = redis.Redis(port=primary.port)
        r = redis.Redis(port=replica.port)
        served = int(p.info("aki")["aki_set_lane_served"])
        for i in range(50):
            p.set(f"k{i}", f"v{i}")
        assert int(p.info("aki")["aki_set_lane_served"]) - served >= 49
        while r.dbsize() < 50:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert [r.get(f"k{i}") for i in range(50)] == [b"v%d" % i for i in range(50)]
        with pytest.raises(redis.ReadOnlyError):  # a replica refuses a plain SET too
            r.set("k0", "x")
    finally:
        replica.stop()
    # the AOF holds the SETs: a fresh aki started on a copy of the AOF alone has them
    primary.stop()
    aof = tmp_path / "p" / "appendonlydir"
    assert aof.is_dir()
    text = b"".join(f.read_bytes() for f in aof.glob("*.incr.aof"))
    for i in range(50):
        assert encode_command("set", f"k{i}", f"v{i}").lower() in text.lower()


def test_concurrent_writers_lose_nothing(servers):
    """Pipelined and single SETs from several clients at once, then every value read back
    (the lane's writes share group commits with the Python road's)."""
    port = servers["lane"].port
    redis.Redis(port=port).flushall()
    errors = []

    def writer(n):
        try:
            c = redis.Redis(port=port)
            for i in range(200):
                c.set(f"w{n}:{i}", i)
            pipe = c.pipeline(transaction=False)
            for i in range(200, 400):
                pipe.set(f"w{n}:{i}", i)
                if i % 50 == 0:
                    pipe.incr(f"w{n}:count")
            pipe.execute()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    c = redis.Redis(port=port)
    for n in range(6):
        assert c.mget([f"w{n}:{i}" for i in range(400)]) == [b"%d" % i for i in range(400)]
        assert c.get(f"w{n}:count") == b"4"
