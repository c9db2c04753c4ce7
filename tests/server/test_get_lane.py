"""The compiled GET lane (src/aki/_lane.c) answers and counts exactly as the Python road.

Three servers get the same requests on raw sockets: real Redis, aki with the lane, and
aki with ``AKI_LANE=0``. Replies must be byte-identical across all three; the counters
the lane updates (INFO stats, keyspace hits/misses, commandstats, the latency
histogram, SLOWLOG, CLIENT LIST, OBJECT IDLETIME) must be identical between the two
aki servers.
"""

from __future__ import annotations

import re
import time

import pytest

from tests.conftest import RawClient, encode_command, start_aki
from tests.server.lanes import assert_same_replies, counters, three_servers


def test_the_lane_is_built():
    """The test command builds the extension (`pip install -e .`): a missing compiler
    must not silently put every GET back on the slow road in CI."""
    from aki.server import connection

    assert connection._lane is not None
    assert connection.LANE, "AKI_LANE=0 is set in the test environment"


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    yield from three_servers(tmp_path_factory)


def _script(c: RawClient) -> list[bytes]:
    """The requests, each sent alone (one request per read, as the lane wants), and
    a few shapes that must leave the lane: pipelines, split reads, odd framings."""
    out = []

    def cmd(*args):
        out.append(c.cmd(*args))

    cmd("SET", "k", "v")
    for _ in range(3):
        cmd("GET", "k")
    cmd("get", "k")
    cmd("gEt", "k")
    cmd("GET", "missing")
    cmd("SET", "", "empty key")
    cmd("GET", "")
    cmd("SET", b"bin\r\n\x00key", b"\x00\xff\r\n")
    cmd("GET", b"bin\r\n\x00key")
    cmd("RPUSH", "list", "a")
    cmd("GET", "list")  # WRONGTYPE, on the Python road
    cmd("GET", "k", "extra")  # arity
    cmd("SET", "big", "x" * 20000)  # a reply over the static buffer
    cmd("GET", "big")
    cmd("SET", "int", "12345")
    cmd("GET", "int")
    cmd("SET", "soon", "gone", "PX", "30")
    cmd("GET", "soon")
    time.sleep(0.1)
    cmd("GET", "soon")
    cmd("DBSIZE")
    # two GETs in one read, and one GET split over two reads
    c.send(encode_command("GET", "k") + encode_command("GET", "missing"))
    out.append(c.read_reply())
    out.append(c.read_reply())
    req = encode_command("GET", "k")
    c.send(req[:9])
    time.sleep(0.05)
    c.send(req[9:])
    out.append(c.read_reply())
    c.send(b"GET k\r\n")  # inline
    out.append(c.read_reply())
    # pipelines: GETs only; GETs then a write and more GETs; GETs then a partial
    # request completed by the next read; a big reply inside a pipeline
    def pipeline(*reqs, tail=b""):
        c.send(b"".join(encode_command(*r) for r in reqs) + tail)
        out.extend(c.read_reply() for _ in reqs)

    pipeline(*[("GET", "k")] * 16)
    pipeline(("GET", "k"), ("GET", "missing"), ("SET", "k2", "w"), ("GET", "k2"), ("GET", "list"))
    req = encode_command("GET", "int")
    pipeline(("GET", "k"), ("GET", ""), tail=req[:7])
    time.sleep(0.05)
    c.send(req[7:])
    out.append(c.read_reply())
    pipeline(("GET", "k"), ("GET", "big"), ("GET", "k"))
    pipeline(*[("GET", "big")] * 3)
    cmd("MULTI")
    cmd("GET", "k")
    cmd("EXEC")
    c.send(encode_command("CLIENT", "REPLY", "SKIP"))  # no reply to it ...
    time.sleep(0.05)
    c.send(encode_command("GET", "k"))  # ... nor to this one
    time.sleep(0.05)
    cmd("PING", "after skip")
    c.cmd("HELLO", "3")  # (its reply names the server, and the client id: not compared)
    cmd("GET", "missing")
    cmd("GET", "k")
    c.cmd("HELLO", "2")
    cmd("SUBSCRIBE", "ch")
    cmd("GET", "k")  # refused in the RESP2 pub/sub context
    cmd("UNSUBSCRIBE", "ch")
    cmd("GET", "k")
    # a length with a leading zero: Redis's protocol error, and the connection closes
    c.send(b"*2\r\n$3\r\nGET\r\n$01\r\nk\r\n")
    out.append(c.read_reply())
    return out


def test_replies_match_redis_and_the_python_road(servers):
    replies = {}
    for name, srv in servers.items():
        c = RawClient(srv.port)
        try:
            replies[name] = _script(c)
        finally:
            c.close()
    assert_same_replies(replies)


def _counters(port: int) -> dict[str, str]:
    return counters(port, ("keyspace_hits", "keyspace_misses", "total_commands_processed"),
                    ("cmdstat_get", "latency_percentiles_usec_get"))


def _fresh(srv):
    c = RawClient(srv.port)
    c.cmd("FLUSHALL")
    c.cmd("CONFIG", "RESETSTAT")
    c.cmd("SLOWLOG", "RESET")
    return c


def test_counters_match_the_python_road(servers):
    seen = {}
    for name in ("lane", "python"):
        c = _fresh(servers[name])
        try:
            c.cmd("SET", "k", "v")
            c.cmd("SET", "x", "1", "EX", "100")
            for key in ("k", "x", "nope", "k", "nope"):
                c.cmd("GET", key)
            served = _served(c)
            before = _net(c)
            for _ in range(10):
                assert c.cmd("GET", "k") == b"$1\r\nv\r\n"
            c.send(encode_command("GET", "k") * 5 + encode_command("GET", "nope") * 5)
            for _ in range(10):
                c.read_reply()
            after = _net(c)
            # every one of them took the lane (or none, with AKI_LANE=0)
            assert _served(c) - served == (20 if name == "lane" else 0)
            assert c.cmd("INFO", "aki").count(
                b"aki_get_lane:on" if name == "lane" else b"aki_get_lane:off") == 1
            client_list = c.cmd("CLIENT", "LIST").decode()
        finally:
            c.close()
        seen[name] = (_counters(servers[name].port),
                      after[0] - before[0], after[1] - before[1],
                      re.search(r" cmd=(\S+)", client_list).group(1))
    assert seen["lane"] == seen["python"]
    counters, net_in, net_out, last_cmd = seen["lane"]
    assert counters["keyspace_hits"] == "18" and counters["keyspace_misses"] == "7"
    assert "calls=25" in counters["cmdstat_get"]
    # twenty GETs in and their replies out, plus the second sample's own request and reply
    assert net_in == 15 * len(encode_command("GET", "k")) + 5 * len(
        encode_command("GET", "nope")) + len(encode_command("INFO", "stats"))
    assert net_out > 10 * len(b"$1\r\nv\r\n")
    assert last_cmd == "client|list"


def _served(c: RawClient) -> int:
    info = c.cmd("INFO", "aki").decode()
    return int(re.search(r"aki_get_lane_served:(\d+)", info).group(1))


def _net(c: RawClient) -> tuple[int, int]:
    info = c.cmd("INFO", "stats").decode()
    vals = dict(line.split(":", 1) for line in info.split("\r\n") if ":" in line)
    return int(vals["total_net_input_bytes"]), int(vals["total_net_output_bytes"])


@pytest.mark.parametrize("name", ["lane", "python"])
def test_slowlog_latency_and_access_time(servers, name):
    c = _fresh(servers[name])
    try:
        c.cmd("CONFIG", "SET", "slowlog-log-slower-than", "0")
        c.cmd("SET", "k", "v")
        c.cmd("DEBUG", "SLEEP", "0")
        c.cmd("SLOWLOG", "RESET")
        c.cmd("GET", "k")
        log = c.cmd("SLOWLOG", "GET", "10")
        assert b"$3\r\nGET\r\n$1\r\nk\r\n" in log
        c.cmd("CONFIG", "SET", "slowlog-log-slower-than", "10000")
        c.cmd("OBJECT", "FREQ", "k")  # (an error under the LRU policy: only its effect)
        time.sleep(2.1)
        assert int(c.cmd("OBJECT", "IDLETIME", "k")[1:-2]) >= 2
        c.cmd("GET", "k")  # a lane read records the access
        assert c.cmd("OBJECT", "IDLETIME", "k") == b":0\r\n"
        assert b"$5\r\ncalls\r\n:2\r\n" in c.cmd("LATENCY", "HISTOGRAM", "get")
    finally:
        c.cmd("CONFIG", "SET", "slowlog-log-slower-than", "10000")
        c.close()


@pytest.mark.parametrize("name", ["lane", "python"])
def test_tracking_and_monitor_still_see_gets(servers, name):
    """A tracking client's GET must be remembered, and MONITOR must show GETs: both put
    the server in a state the lane leaves alone."""
    port = servers[name].port
    c = _fresh(servers[name])
    other = RawClient(port)
    mon = RawClient(port)
    try:
        c.cmd("SET", "k", "v")
        c.cmd("HELLO", "3")
        c.cmd("CLIENT", "TRACKING", "ON")
        assert c.cmd("GET", "k") == b"$1\r\nv\r\n"
        other.cmd("SET", "k", "w")
        # the invalidation push arrives on the tracking connection
        assert c.read_reply().startswith(b">2\r\n$10\r\ninvalidate\r\n")
        assert mon.cmd("MONITOR") == b"+OK\r\n"
        other.cmd("GET", "k")
        assert b'"GET" "k"' in mon.read_reply()
    finally:
        for x in (c, other, mon):
            x.close()


def test_rename_command_is_honoured(tmp_path):
    """The lane answers a spelling only while it still names GET."""
    srv = start_aki(tmp_path, "--rename-command", "GET", "FETCH")
    try:
        c = RawClient(srv.port)
        c.cmd("SET", "k", "v")
        assert c.cmd("GET", "k").startswith(b"-ERR unknown command 'GET'")
        assert c.cmd("FETCH", "k") == b"$1\r\nv\r\n"
        c.close()
    finally:
        srv.stop()


def test_requirepass_is_honoured(tmp_path):
    srv = start_aki(tmp_path, "--requirepass", "secret")
    try:
        c = RawClient(srv.port)
        assert c.cmd("GET", "k") == b"-NOAUTH Authentication required.\r\n"
        assert c.cmd("AUTH", "secret") == b"+OK\r\n"
        c.cmd("SET", "k", "v")
        assert c.cmd("GET", "k") == b"$1\r\nv\r\n"
        c.close()
    finally:
        srv.stop()


@pytest.mark.parametrize("name", ["lane", "python"])
def test_client_no_touch(servers, name):
    """CLIENT NO-TOUCH (Redis 7.2): the client's reads and writes leave a key's access
    time alone, except TOUCH; a GET from such a client takes the Python road."""
    c = _fresh(servers[name])
    other = RawClient(servers[name].port)
    try:
        c.cmd("SET", "k", "v")
        c.cmd("SET", "w", "1")
        assert c.cmd("CLIENT", "NO-TOUCH", "ON") == b"+OK\r\n"
        time.sleep(2.1)
        c.cmd("GET", "k")
        c.send(encode_command("GET", "k") * 3)
        for _ in range(3):
            c.read_reply()
        c.cmd("INCR", "w")
        for key in ("k", "w"):
            assert int(c.cmd("OBJECT", "IDLETIME", key)[1:-2]) >= 2
        assert b"T" in c.cmd("CLIENT", "INFO").split(b" flags=")[1].split(b" ")[0]
        assert c.cmd("TOUCH", "k") == b":1\r\n"
        assert c.cmd("OBJECT", "IDLETIME", "k") == b":0\r\n"
        # another client's GET still records its access
        other.cmd("GET", "w")
        assert other.cmd("OBJECT", "IDLETIME", "w") == b":0\r\n"
        c.cmd("CLIENT", "NO-TOUCH", "OFF")
    finally:
        c.close()
        other.close()


def test_reads_and_writes_processed_match_redis(servers):
    """INFO total_reads_processed / total_writes_processed count socket reads and writes
    as Redis does, whichever road (the lane or Python) served them."""
    deltas = {}
    for name, srv in servers.items():
        c = RawClient(srv.port)
        try:
            c.cmd("SET", "k", "v")
            before = _io(c)
            for args in (("PING",), ("GET", "k"), ("GET", "k"), ("SET", "k", "w"), ("GET", "x")):
                c.cmd(*args)
            c.send(encode_command("GET", "k") * 3)  # one read, one write
            for _ in range(3):
                c.read_reply()
            deltas[name] = tuple(b - a for a, b in zip(before, _io(c), strict=True))
        finally:
            c.close()
    assert deltas["lane"] == deltas["python"] == deltas["redis"] == (7, 7)


def _io(c: RawClient) -> tuple[int, int]:
    info = c.cmd("INFO", "stats").decode()
    vals = dict(line.split(":", 1) for line in info.split("\r\n") if ":" in line)
    return int(vals["total_reads_processed"]), int(vals["total_writes_processed"])
