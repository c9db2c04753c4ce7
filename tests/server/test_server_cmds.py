"""Server and connection commands whose answers depend on aki's own state."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import redis

from tests.conftest import RawClient, start_aki, wait_until


def _info(r, *sections) -> dict:
    return r.info(*sections) if sections else r.info()


def test_info_fields_consistent(r):
    r.set("a", "1")
    r.set("b", "2", ex=100)
    r.get("a")
    r.get("missing")
    info = r.info("everything")
    assert info["redis_version"] == "7.0.15"
    assert "aki_version" in info and len(info["run_id"]) == 40
    assert info["role"] == "master" and len(info["master_replid"]) == 40
    assert info["db0"]["keys"] == 2 and info["db0"]["expires"] == 1
    assert 0 < info["db0"]["avg_ttl"] <= 100_000
    assert info["keyspace_hits"] >= 1 and info["keyspace_misses"] >= 1
    assert info["connected_clients"] >= 1
    assert info["used_memory"] > 0 and info["total_commands_processed"] > 0
    assert info["cmdstat_get"]["calls"] >= 2
    assert info["aki_file_size"] > 0 and info["aki_commits"] > 0
    assert info["aki_appendfsync"] == "everysec"


def test_config_set_appendfsync_live(r):
    """CONFIG SET appendfsync takes effect on a running server (SQLite changes its
    safety level only between transactions: the switch lands when the batch ends)."""
    try:
        for policy in ("always", "no", "everysec", "always"):
            assert r.config_set("appendfsync", policy) is True
            assert r.config_get("appendfsync") == {"appendfsync": policy}
            assert r.info("aki")["aki_appendfsync"] == policy
        before = r.info("aki")["aki_fsyncs"]
        for i in range(5):  # one batch each: under always, each COMMIT fsyncs
            r.set(f"durable:{i}", i)
        assert r.info("aki")["aki_fsyncs"] >= before + 5
        pipe = r.pipeline(transaction=False)  # a switch in the middle of a batch
        pipe.set("p:1", 1).config_set("appendfsync", "everysec").set("p:2", 2)
        assert pipe.execute() == [True, True, True]
        assert r.mget("p:1", "p:2") == [b"1", b"2"]
        assert r.config_get("appendfsync") == {"appendfsync": "everysec"}
    finally:
        r.config_set("appendfsync", "everysec")


def test_info_sections_and_errorstats(aki_server, r):
    with pytest.raises(redis.ResponseError):
        r.execute_command("SELECT", "x")
    c = RawClient(aki_server.port)
    try:
        text = c.cmd("INFO", "errorstats")
        assert b"errorstat_ERR:count=" in text
        text = c.cmd("INFO")
        assert b"# Aki" in text and b"# Commandstats" not in text
        assert b"rdb_changes_since_last_save:" in text
        assert b"# Commandstats" in c.cmd("INFO", "commandSTATS")
    finally:
        c.close()


def test_info_resp3_is_verbatim(aki_server):
    c = RawClient(aki_server.port)
    try:
        c.cmd("HELLO", "3")
        assert c.cmd("INFO", "server").startswith(b"=")
        assert c.cmd("CLIENT", "INFO").startswith(b"=")
    finally:
        c.close()


def test_config_resetstat(r):
    r.get("x")
    r.config_resetstat()
    info = r.info("stats")
    assert info["keyspace_misses"] == 0
    assert "cmdstat_get" not in r.info("commandstats")


def test_client_list_kill(aki_server, r):
    other = RawClient(aki_server.port)
    other.cmd("CLIENT", "SETNAME", "victim")
    cid = int(other.cmd("CLIENT", "ID")[1:-2])
    me = [c for c in r.client_list() if c["name"] == "victim"][0]
    assert int(me["id"]) == cid and me["cmd"] == "client|id"
    assert r.execute_command("CLIENT", "KILL", "ID", str(cid)) == 1
    other.sock.settimeout(2)
    with pytest.raises((ConnectionError, OSError)):
        other.cmd("PING")
    other.close()
    assert all(c["name"] != "victim" for c in r.client_list())
    c2 = RawClient(aki_server.port)
    assert c2.cmd("PING") == b"+PONG\r\n"  # accepted by the server before we name it
    host, port = c2.sock.getsockname()[:2]
    assert r.execute_command("CLIENT", "KILL", f"{host}:{port}") in (True, b"OK")
    c2.close()
    assert r.execute_command("CLIENT", "KILL", "ID", str(r.client_id()), "SKIPME", "yes") == 0


def test_client_kill_self(aki_server):
    c = RawClient(aki_server.port)
    cid = int(c.cmd("CLIENT", "ID")[1:-2])
    assert c.cmd("CLIENT", "KILL", "ID", str(cid), "SKIPME", "no") == b":1\r\n"
    with pytest.raises((ConnectionError, OSError)):
        c.cmd("PING")
    c.close()


def test_client_pause_write(aki_server, r):
    r.set("k", "1")
    r.execute_command("CLIENT", "PAUSE", "300", "WRITE")
    other = aki_server.client()
    t0 = time.time()
    assert other.get("k") == b"1"  # reads go on
    assert time.time() - t0 < 0.2
    other.set("k", "2")  # waits for the pause to end
    assert time.time() - t0 >= 0.25
    assert r.get("k") == b"2"


def test_client_unpause(aki_server, r):
    r.execute_command("CLIENT", "PAUSE", "10000", "WRITE")
    other = aki_server.client()
    done = []
    th = threading.Thread(target=lambda: done.append(other.set("x", "1")))
    th.start()
    time.sleep(0.1)
    assert not done
    r.execute_command("CLIENT", "UNPAUSE")
    th.join(5)
    assert done == [True]


def test_monitor(aki_server, r):
    m = RawClient(aki_server.port)
    try:
        assert m.cmd("MONITOR") == b"+OK\r\n"
        r.set("mk", "a\nb")
        line = m.read_reply()
        assert line.startswith(b"+") and b'"set" "mk" "a\\nb"' in line.lower()
    finally:
        m.close()


def test_slowlog_records(r):
    r.config_set("slowlog-log-slower-than", 0)
    r.slowlog_reset()
    r.set("s", "v")
    entries = r.slowlog_get(5)
    assert any(e["command"] == b"SET s v" for e in entries)
    r.config_set("slowlog-log-slower-than", 10000)


def test_memory_usage_and_debug_object(r):
    r.set("str", "x" * 100)
    r.set("num", "12345")
    assert r.memory_usage("str") > 100
    assert r.memory_usage("num") > 0
    assert r.memory_usage("missing") is None
    obj = r.execute_command("DEBUG", "OBJECT", "num")
    obj = obj.decode() if isinstance(obj, bytes) else obj
    assert obj.startswith("Value at:0x") and "encoding:int" in obj and "lru_seconds_idle:" in obj
    assert "encoding:raw" in str(r.execute_command("DEBUG", "OBJECT", "str"))
    stats = r.memory_stats()
    assert stats["keys.count"] == 2


def test_command_count_and_list(aki_server, r):
    c = RawClient(aki_server.port)
    try:
        count = int(c.cmd("COMMAND", "COUNT")[1:-2])
        assert c.cmd("COMMAND").startswith(b"*%d\r\n" % count)
        names = c.cmd("COMMAND", "LIST")
        assert b"\r\nclient|list\r\n" in names and b"\r\nget\r\n" in names
    finally:
        c.close()


def test_lolwut(r):
    assert r.execute_command("LOLWUT") == b"Redis ver. 7.0.15\n"
    art = r.execute_command("LOLWUT", "VERSION", "5", "20")
    assert art.endswith(b"Georg Nees - schotter, plotter on paper, 1968. Redis ver. 7.0.15\n")


@pytest.fixture
def own_aki(tmp_path):
    srv = start_aki(tmp_path)
    yield srv
    srv.stop()


def test_save_empties_wal(own_aki):
    c = own_aki.client()
    for i in range(200):
        c.set(f"k{i}", "v" * 100)
    wal = own_aki.workdir / "data.aki-wal"
    assert wal.exists() and wal.stat().st_size > 0
    before = c.lastsave()
    assert c.save() is True
    assert wal.stat().st_size == 0
    assert c.lastsave() >= before
    assert c.info("persistence")["rdb_changes_since_last_save"] == 0
    assert c.bgsave() is True
    time.sleep(0.2)
    assert c.info("persistence")["rdb_bgsave_in_progress"] == 0


def test_bgsave_folds_the_wal_into_the_file(own_aki):
    """After BGSAVE the main file alone holds what was written before it."""
    c = own_aki.client()
    c.mset({f"k{i}": "v" * 100 for i in range(500)})
    before = c.info("aki")["aki_checkpoints"]
    assert c.bgsave() is True
    wait_until(lambda: c.info("aki")["aki_checkpoints"] > before)
    own_aki.proc.kill()
    own_aki.proc.wait(10)
    own_aki.proc = None
    own_aki.logf.close()
    for side in ("data.aki-wal", "data.aki-shm"):
        (own_aki.workdir / side).unlink()
    own_aki.start()
    c = own_aki.client()
    assert c.dbsize() == 500 and c.get("k499") == b"v" * 100


def test_debug_reload_keeps_data(own_aki):
    c = own_aki.client()
    c.set("a", "1")
    c.set("b", "2", ex=1000)
    assert c.execute_command("DEBUG", "RELOAD") == b"OK"
    assert c.get("a") == b"1" and 0 < c.ttl("b") <= 1000
    c.set("c", "3")
    assert c.dbsize() == 3


def test_shutdown_clean(own_aki):
    c = RawClient(own_aki.port)
    c.cmd("SET", "persist", "yes")
    c.send(b"*1\r\n$8\r\nSHUTDOWN\r\n")
    with pytest.raises((ConnectionError, OSError)):
        c.read_reply()
    own_aki.proc.wait(10)
    assert own_aki.proc.returncode == 0
    wal = own_aki.workdir / "data.aki-wal"
    assert not wal.exists() or wal.stat().st_size == 0
    own_aki.proc = None
    own_aki.logf.close()
    own_aki.start()
    assert own_aki.client().get("persist") == b"yes"


def test_shutdown_while_a_background_checkpoint_runs(tmp_path):
    """SHUTDOWN waits for the checkpoint thread instead of closing its connection under
    it (that failed the shutdown with a ThreadingViolationError)."""
    for i in range(4):
        (tmp_path / str(i)).mkdir()
        srv = start_aki(tmp_path / str(i), "--checkpoint-wal-size", "1mb")
        c = srv.client()
        pipe = c.pipeline(transaction=False)
        for j in range(300):
            pipe.set(f"k{j}", "x" * 20000)  # about 6 MB of WAL: checkpoints start
        pipe.execute()
        time.sleep(i * 0.01)
        c.shutdown()  # redis-py takes the closed connection as success
        assert srv.proc.wait(20) == 0
        log = srv.log.read_text()
        assert "Traceback" not in log and "ready to exit" in log
        srv.proc = None
        srv.logf.close()
        srv.start()
        assert srv.client().get("k299") == b"x" * 20000
        srv.stop()


def test_timeout_closes_idle(own_aki):
    c = own_aki.client()
    c.config_set("timeout", 1)
    s = socket.create_connection(("127.0.0.1", own_aki.port))
    time.sleep(2.5)
    s.settimeout(2)
    assert s.recv(10) == b""
    s.close()
    c.config_set("timeout", 0)


def test_requirepass_and_auth(own_aki):
    c = own_aki.client()
    c.config_set("requirepass", "secret")
    raw = RawClient(own_aki.port)
    try:
        assert raw.cmd("GET", "x").startswith(b"-NOAUTH")
        assert raw.cmd("AUTH", "wrong").startswith(b"-WRONGPASS")
        assert raw.cmd("AUTH", "secret") == b"+OK\r\n"
        assert raw.cmd("CONFIG", "SET", "requirepass", "") == b"+OK\r\n"
    finally:
        raw.close()


def test_config_set_port_rebinds(tmp_path):
    """CONFIG SET port moves the listener, or fails cleanly when the port is taken."""
    import socket

    import redis

    from tests.conftest import free_port, start_aki

    srv = start_aki(tmp_path)
    try:
        r = srv.client()
        busy = socket.socket()
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        with pytest.raises(redis.ResponseError, match="Unable to listen on this port"):
            r.config_set("port", taken)
        assert r.config_get("port") == {"port": str(srv.port)}
        busy.close()
        new = free_port()
        assert r.config_set("port", new)
        assert redis.Redis(port=new).ping()
        srv.port = new
    finally:
        srv.stop()


def test_row_cache_bound_and_big_strings(tmp_path):
    """The row cache is bounded by row-cache-entries (CONFIG SET lowers it live) and
    never keeps a string over 64 KiB: such values are served from the file."""
    srv = start_aki(tmp_path, "--row-cache-entries", "5000")
    try:
        r = srv.client()
        assert r.config_get("row-cache-entries") == {"row-cache-entries": "5000"}
        big = b"x" * (64 * 1024 + 1)
        r.set("big", big)
        assert r.get("big") == big and r.get("big") == big
        assert r.info("aki")["aki_row_cache_entries"] == 0
        r.set("small", "1")
        r.append("small", big)  # grows past the bound in place: dropped from the cache
        assert r.info("aki")["aki_row_cache_entries"] == 0
        assert r.strlen("small") == len(big) + 1
        with r.pipeline(transaction=False) as p:
            for i in range(12_000):
                p.set(f"k{i}", i)
            p.execute()
        assert 0 < r.info("aki")["aki_row_cache_entries"] <= 5000
        r.config_set("row-cache-entries", "1000")
        r.get("k1")
        assert r.info("aki")["aki_row_cache_max_entries"] == 1000
        assert 0 < r.info("aki")["aki_row_cache_entries"] <= 1000
        assert r.get("k11999") == b"11999" and r.dbsize() == 12_002
        with pytest.raises(redis.ResponseError):
            r.config_set("row-cache-entries", "10")
    finally:
        srv.stop()


def test_lazyfree_counters_follow_background_reclaim(r):
    """INFO memory's lazyfree_pending_objects / lazyfreed_objects count aki's own lazy
    free: a big deleted collection waits in the reclaim queue, then is counted as freed."""
    r.flushall()
    r.config_resetstat()
    r.sadd("small", *range(10))
    r.unlink("small")  # reclaimed at once, never pending
    r.rpush("big", *range(5000))
    r.xadd("stream", {"f": "v"})
    r.unlink("big")
    info = r.info("memory")
    assert info["lazyfree_pending_objects"] in (0, 1)
    deadline = time.time() + 10
    while r.info("memory")["lazyfree_pending_objects"] and time.time() < deadline:
        time.sleep(0.05)
    info = r.info("memory")
    assert info["lazyfree_pending_objects"] == 0 and info["lazyfreed_objects"] == 1
    r.config_resetstat()
    assert r.info("memory")["lazyfreed_objects"] == 0


def _server_side_timer(server_port: int, client_port: int) -> int | None:
    """The timer kind /proc/net/tcp shows for the server's end of one connection
    (2 = keepalive pending), or None if the socket is not listed."""
    for line in open("/proc/net/tcp").read().splitlines()[1:]:
        fields = line.split()
        local, remote, timer = fields[1], fields[2], fields[5]
        if int(local.split(":")[1], 16) == server_port and int(remote.split(":")[1], 16) == client_port:
            return int(timer.split(":")[0], 16)
    return None


def test_tcp_keepalive_applies_to_new_connections(aki_server, r):
    """tcp-keepalive (default 300) arms the keepalive timer of every accepted TCP
    connection, as anetKeepAlive does; 0 leaves it off (live through CONFIG SET)."""
    def timer_of_new_connection() -> int | None:
        s = socket.create_connection(("127.0.0.1", aki_server.port))
        try:
            s.sendall(b"PING\r\n")
            assert s.recv(16) == b"+PONG\r\n"
            return _server_side_timer(aki_server.port, s.getsockname()[1])
        finally:
            s.close()

    assert r.config_get("tcp-keepalive") == {"tcp-keepalive": "300"}
    assert timer_of_new_connection() == 2
    r.config_set("tcp-keepalive", 0)
    try:
        assert timer_of_new_connection() == 0
    finally:
        r.config_set("tcp-keepalive", 300)
