"""aki as a replica of a real redis-server: full sync (diskless and on disk) with every
type, the command stream, READONLY byte for byte against a real Redis replica,
REPLICAOF NO ONE, partial resync after the master drops the link, a master that is
not there, and ``replicaof`` in the config file."""

from __future__ import annotations

import io
import signal
import socket
import threading
import time

import pytest
import redis

from aki.rdb import load_value, write_rdb
from tests.conftest import (
    RawClient,
    free_port,
    start_aki,
    start_aki_from_config,
    start_redis,
    wait_until,
)

DBS = (0, 2, 5)
_WRITE_FN = (b"#!lua name=replib\n"
             b"redis.register_function('wfn', function(keys, args) "
             b"return redis.call('set', keys[1], 'w') end)\n"
             b"redis.register_function{function_name='rfn', "
             b"callback=function(keys, args) return 'ro' end, flags={'no-writes'}}\n")


def _synced(master: redis.Redis, replica: redis.Redis) -> bool:
    """ROLE says connected and the replica applied everything the master has sent."""
    role = replica.execute_command("ROLE")
    if role[0] != b"slave" or role[3] != b"connected":
        return False
    return role[4] == master.info("replication")["master_repl_offset"]


def _wait_synced(master: redis.Redis, replica: redis.Redis) -> None:
    wait_until(lambda: _synced(master, replica), what="the replica to catch up")


def _stream_flowing(master: redis.Redis, replica: redis.Redis) -> None:
    """Wait until writes reach the replica through the stream. After a diskless sync the
    master starts the stream on an ACK it takes once it saw its RDB child end (up to a
    second later, as for a Redis replica), and a first probe written before the fork
    arrives in the RDB itself: a second one, written after the first arrived, cannot."""
    for n in (1, 2):
        master.set("probe", n)
        wait_until(lambda n=n: replica.get("probe") == b"%d" % n, what="the stream to start")


def _content(payload: bytes):
    """A DUMP payload decoded, in a form that ignores what may rightly differ: element
    order of unordered types, LZF choices, and stream delivery and seen times (the
    master's XREADGROUP reaches a replica as an XCLAIM run at the replica's clock, and
    leaves a real Redis replica's entries_read unknown too)."""
    kind, value = load_value(payload)
    if kind in ("set", "hash", "zset"):
        return kind, sorted(value)
    if kind == "stream":
        groups = sorted(
            (g.name, g.last_id,
             sorted((p.id, p.consumer, p.delivery_count) for p in g.pending),
             sorted((c.name, sorted(c.pending)) for c in g.consumers))
            for g in value.groups)
        return kind, (value.entries, value.length, value.last_id, value.first_id,
                      value.max_deleted_entry_id, value.entries_added, groups)
    return kind, value


def _snapshot(port: int) -> dict:
    """Every key of DBS: (type, decoded DUMP, has a TTL)."""
    out = {}
    for db in DBS:
        c = redis.Redis(port=port, db=db)
        for k in c.keys("*"):
            out[(db, k)] = (c.type(k), _content(c.dump(k)), c.pttl(k) > 0)
        c.close()
    return out


def _fill(m0: redis.Redis, tag: str) -> None:
    """Keys of every type and encoding, with and without TTLs, in several databases."""
    m0.set(f"s:{tag}", "v" * 100)
    m0.set(f"n:{tag}", 12345)
    m0.set(f"big:{tag}", b"\x00\xff" * 40000)
    m0.set(f"ttl:{tag}", "x", ex=1000)
    m0.rpush(f"l:{tag}", *[f"e{i}" for i in range(300)])
    m0.rpush(f"ls:{tag}", "a", "b", 3)
    m0.hset(f"h:{tag}", mapping={f"f{i}": i for i in range(200)})
    m0.hset(f"hs:{tag}", mapping={"a": 1, "b": 2})
    m0.pexpire(f"hs:{tag}", 500_000)
    m0.sadd(f"si:{tag}", *range(50))
    m0.sadd(f"ss:{tag}", *[f"m{i}" for i in range(300)])
    m0.zadd(f"z:{tag}", {f"m{i}": i / 3 for i in range(200)})
    m0.zadd(f"zs:{tag}", {"a": 1.5, "b": -2})
    for i in range(20):
        m0.xadd(f"x:{tag}", {"f": i, "g": "v"})
    m0.xgroup_create(f"x:{tag}", "grp", id="0")
    m0.xreadgroup("grp", "alice", {f"x:{tag}": ">"}, count=5)
    m0.xack(f"x:{tag}", "grp", m0.xrange(f"x:{tag}", count=1)[0][0])
    m0.pfadd(f"hll:{tag}", *[f"e{i}" for i in range(100)])
    m2 = redis.Redis(port=m0.connection_pool.connection_kwargs["port"], db=2)
    m2.set(f"db2:{tag}", "two")
    m2.lpush(f"db2l:{tag}", "a", "b")
    m2.close()
    m5 = redis.Redis(port=m0.connection_pool.connection_kwargs["port"], db=5)
    m5.zadd(f"db5z:{tag}", {"x": 1})
    m5.set(f"db5ttl:{tag}", "t", px=900_000)
    m5.close()


@pytest.fixture(scope="module")
def master(tmp_path_factory):
    srv = start_redis(tmp_path_factory.mktemp("master"), "--repl-diskless-sync-delay", "0")
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def aki(tmp_path_factory):
    srv = start_aki(tmp_path_factory.mktemp("replica"))
    yield srv
    srv.stop()


@pytest.fixture
def m(master):
    c = master.client()
    c.flushall()
    c.function_flush()
    c.config_set("repl-diskless-sync", "yes")
    yield c
    c.close()


@pytest.fixture
def a(aki):
    c = aki.client()
    c.execute_command("REPLICAOF", "NO", "ONE")
    c.flushall()
    yield c
    c.execute_command("REPLICAOF", "NO", "ONE")
    c.close()


@pytest.mark.parametrize("diskless", ["yes", "no"])
def test_full_sync_then_stream(m, a, master, aki, diskless):
    m.config_set("repl-diskless-sync", diskless)
    _fill(m, "before")
    m.function_load(_WRITE_FN.decode())
    a.set("stale", "gone after the sync")
    redis.Redis(port=aki.port, db=2).set("stale2", "gone too")
    assert a.execute_command("REPLICAOF", "127.0.0.1", master.port) == b"OK"
    _wait_synced(m, a)
    assert _snapshot(aki.port) == _snapshot(master.port)
    assert a.fcall_ro("rfn", 0) == b"ro"  # the function library came with the RDB
    # the stream: every type again, MULTI/EXEC, a script's effects, SELECT, deletes
    _fill(m, "after")
    with m.pipeline(transaction=True) as p:
        p.incr("n:after").lpush("l:after", "in-multi").hincrby("h:after", "f1", 5)
        p.execute()
    m.eval("redis.call('set', KEYS[1], 'by-script'); return redis.call('incr', KEYS[2])",
           2, "scripted", "n:before")
    m.fcall("wfn", 1, "by-function")
    m.delete("s:before", "l:before")
    m.expire("z:before", 700)
    m.persist("hs:before")
    m.spop("ss:before", 3)
    m.xtrim("x:after", maxlen=5)
    m.rename("zs:before", "zs:renamed")
    m.getex("s:after", ex=800)
    redis.Redis(port=master.port, db=5).flushdb()
    _wait_synced(m, a)
    assert _snapshot(aki.port) == _snapshot(master.port)
    assert a.get("scripted") == b"by-script"
    assert a.get("by-function") == b"w"


def test_readonly_errors_match_a_real_replica(m, a, master, aki, tmp_path):
    m.function_load(_WRITE_FN.decode())
    m.set("k", "v")
    real = start_redis(tmp_path, "--replicaof", f"127.0.0.1 {master.port}")
    try:
        a.execute_command("REPLICAOF", "127.0.0.1", master.port)
        rr = real.client()
        _wait_synced(m, a)
        _wait_synced(m, rr)
        ra, rb = RawClient(aki.port), RawClient(real.port)
        cases = [
            ("SET", "k", "x"), ("INCR", "n"), ("DEL", "k"), ("GET", "k"),
            ("LPUSH", "l", "a"), ("EXPIRE", "k", 10), ("FLUSHALL",),
            ("EVAL", "#!lua\nreturn 1", 0), ("EVAL", "#!lua flags=no-writes\nreturn 1", 0),
            ("EVAL", "return redis.call('set', 'k', 'x')", 0),
            ("EVAL", "return redis.call('get', 'k')", 0),
            ("EVAL_RO", "return redis.call('set', 'k', 'x')", 0),
            ("FCALL", "wfn", 1, "k"), ("FCALL", "rfn", 0), ("FCALL_RO", "rfn", 0),
            ("FUNCTION", "FLUSH"), ("PUBLISH", "ch", "m"), ("SELECT", 2), ("SET", "k", "y"),
            ("MULTI",), ("GET", "k"), ("SET", "k", "z"), ("EXEC",),
            ("MULTI",), ("GET", "k"), ("EXEC",),
        ]
        for cmd in cases:
            got, want = ra.cmd(*cmd), rb.cmd(*cmd)
            assert got == want, f"{cmd!r}: aki {got!r} != redis {want!r}"
        ra.close()
        rb.close()
        rr.close()
        assert a.get("k") == b"v"  # nothing was written
        # replica-read-only no: the replica takes writes (and the master overwrites them)
        a.config_set("replica-read-only", "no")
        assert a.set("local", "1")
        a.config_set("replica-read-only", "yes")
        with pytest.raises(redis.ReadOnlyError):
            a.set("local", "2")
    finally:
        real.stop()


def test_replicaof_no_one_keeps_data_and_shifts_the_replid(m, a, master):
    m.set("a", "1")
    m.rpush("l", 1, 2, 3)
    a.execute_command("REPLICAOF", "127.0.0.1", master.port)
    _wait_synced(m, a)
    replid = m.info("replication")["master_replid"]
    offset = a.execute_command("ROLE")[4]
    assert a.execute_command("REPLICAOF", "127.0.0.1", master.port) == \
        b"OK Already connected to specified master"
    assert a.execute_command("REPLICAOF", "NO", "ONE") == b"OK"
    assert a.execute_command("ROLE")[0] == b"master"
    assert a.get("a") == b"1" and a.lrange("l", 0, -1) == [b"1", b"2", b"3"]
    assert a.set("a", "mine")
    info = a.info("replication")
    assert info["master_replid2"] == replid
    assert info["second_repl_offset"] == offset + 1
    assert info["master_replid"] != replid
    assert a.execute_command("REPLICAOF", "NO", "ONE") == b"OK"  # already a master: OK
    m.set("a", "master's")
    time.sleep(0.05)
    assert a.get("a") == b"mine"  # no longer following


def test_partial_resync_after_the_master_drops_the_link(m, a, master, aki):
    _fill(m, "p")
    a.execute_command("REPLICAOF", "127.0.0.1", master.port)
    _wait_synced(m, a)
    for round_ in range(2):
        before = m.info("stats")["sync_partial_ok"]
        full = m.info("stats")["sync_full"]
        assert m.client_kill_filter(_type="replica") >= 1
        m.set(f"while-down:{round_}", "x")
        m.incr("n:p")
        wait_until(lambda b=before: m.info("stats")["sync_partial_ok"] > b, what="+CONTINUE")
        _wait_synced(m, a)
        assert m.info("stats")["sync_full"] == full
        assert a.get(f"while-down:{round_}") == b"x"
    # the link dropped on aki's side (CLIENT KILL TYPE master) also continues
    before = m.info("stats")["sync_partial_ok"]
    assert a.client_kill_filter(_type="master") == 1
    m.set("after-kill", "y")
    wait_until(lambda: m.info("stats")["sync_partial_ok"] > before, what="+CONTINUE")
    _wait_synced(m, a)
    assert _snapshot(aki.port) == _snapshot(master.port)


def test_a_master_that_is_not_there_leaves_the_link_down(a, aki):
    port = free_port()
    assert a.execute_command("REPLICAOF", "127.0.0.1", port) == b"OK"
    wait_until(lambda: a.execute_command("ROLE")[3] in (b"connect", b"connecting"))
    role = a.execute_command("ROLE")
    assert role[:3] == [b"slave", b"127.0.0.1", port] and role[4] == -1
    info = a.info("replication")
    assert info["role"] == "slave" and info["master_link_status"] == "down"
    assert info["master_link_down_since_seconds"] == -1
    assert a.ping() and a.get("nothing") is None  # still serving reads
    with pytest.raises(redis.ReadOnlyError):
        a.set("x", "y")
    with pytest.raises(redis.ResponseError, match="Invalid master port"):
        a.execute_command("REPLICAOF", "127.0.0.1", "70000")


def test_serve_stale_data_no_matches_a_real_replica(a, aki, tmp_path):
    port = free_port()
    real = start_redis(tmp_path, "--replicaof", f"127.0.0.1 {port}",
                       "--replica-serve-stale-data", "no")
    try:
        a.execute_command("REPLICAOF", "127.0.0.1", port)
        a.config_set("replica-serve-stale-data", "no")
        ra, rb = RawClient(aki.port), RawClient(real.port)
        for cmd in [("GET", "k"), ("SET", "k", "v"), ("PING",), ("DBSIZE",), ("INFO", "foo"),
                    ("CONFIG", "GET", "replica-serve-stale-data"), ("MULTI",), ("GET", "k"),
                    ("EXEC",), ("MULTI",), ("EXEC",), ("EVAL", "return 1", 0),
                    ("EVAL", "#!lua flags=no-writes,allow-stale\nreturn 1", 0),
                    # scriptVerifyAllowStale: a command without the stale flag inside it
                    ("EVAL", "#!lua flags=no-writes,allow-stale\nreturn redis.call('get','k')", 0),
                    ("EVAL", "#!lua flags=no-writes,allow-stale\nreturn redis.pcall('get','k')", 0),
                    ("EVAL", "#!lua flags=no-writes,allow-stale\n"
                             "return redis.call('info','foo')", 0)]:
            got, want = ra.cmd(*cmd), rb.cmd(*cmd)
            assert got == want, f"{cmd!r}: aki {got!r} != redis {want!r}"
        ra.close()
        rb.close()
        a.config_set("replica-serve-stale-data", "yes")
        assert a.get("k") is None
    finally:
        real.stop()


def test_expired_keys_wait_for_the_masters_del(m, a, master):
    a.execute_command("REPLICAOF", "127.0.0.1", master.port)
    # after a diskless sync the master starts the stream on an ACK it takes in state
    # online (up to a second later, as with a Redis replica): wait for a write to flow
    _stream_flowing(m, a)
    m.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", 0)  # the master expires on access only
    try:
        m.set("short", "v", px=100)
        m.set("long", "v")
        _wait_synced(m, a)
        time.sleep(0.15)
        assert a.get("short") is None  # expired: reads as missing on the replica ...
        assert a.dbsize() == 3  # ... but stays stored until the master says DEL
        assert m.get("short") is None  # the master's lazy expiry deletes and propagates
        _wait_synced(m, a)
        assert a.dbsize() == 2
    finally:
        m.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", 1)


def test_the_masters_write_sees_a_key_expired_only_here(m, a, master, aki):
    """A key expired on the replica but not yet on the master is still there for the
    master's commands (Redis's expireIfNeeded answers 0 for the master client): an INCR
    that reaches the replica late increments it and keeps its TTL."""
    a.execute_command("REPLICAOF", "127.0.0.1", master.port)
    _stream_flowing(m, a)
    m.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", 0)
    try:
        m.set("k", "1", px=600)
        wait_until(lambda: (a.pttl("k") or 0) > 0, what="k on the replica")
        aki.proc.send_signal(signal.SIGSTOP)  # the INCR arrives after k expired here
        try:
            assert m.incr("k") == 2  # still live on the master
            time.sleep(0.65)
        finally:
            aki.proc.send_signal(signal.SIGCONT)
        _wait_synced(m, a)
        assert a.exists("k") == 0  # logically expired for a normal client
        assert a.execute_command("DEBUG", "OBJECT", "k").startswith(b"Value at:")  # stored
        assert a.dbsize() == 2
        m.get("k")  # the master expires it and sends the DEL
        _wait_synced(m, a)
        assert a.dbsize() == 1
    finally:
        m.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", 1)


def test_client_pause_holds_the_masters_stream(m, a, master):
    """processCommand pauses the master's client too: during CLIENT PAUSE WRITE the replica
    reads the stream (slave_read_repl_offset) but applies none of it (slave_repl_offset,
    what it ACKs) until the pause ends, as a Redis replica (TCL unit/pause)."""
    a.execute_command("REPLICAOF", "127.0.0.1", master.port)
    _stream_flowing(m, a)
    m.set("foo", "bar")
    wait_until(lambda: a.info("replication")["slave_repl_offset"]
               == m.info("replication")["master_repl_offset"], what="the replica in step")
    before = a.info("replication")["slave_repl_offset"]
    a.execute_command("CLIENT", "PAUSE", 100000, "WRITE")
    try:
        m.set("foo2", "bar2")
        target = m.info("replication")["master_repl_offset"]
        wait_until(lambda: a.info("replication")["slave_read_repl_offset"] == target,
                   what="the write read by the replica")
        time.sleep(0.2)
        assert a.info("replication")["slave_repl_offset"] == before
        assert a.get("foo2") is None
    finally:
        a.execute_command("CLIENT", "UNPAUSE")
    wait_until(lambda: a.info("replication")["slave_repl_offset"] == target,
               what="the held stream applied after the pause")
    assert a.get("foo2") == b"bar2"


def test_bind_source_addr_is_the_replicas_address(m, a, master):
    """bind-source-addr: the replica connects to its master from that address (the master
    lists it so); an address it cannot bind is dropped (Redis's best-effort binding)."""
    a.config_set("bind-source-addr", "127.0.0.2")
    m.config_set("protected-mode", "no")  # 127.0.0.2 is not loopback to protected mode
    try:
        a.execute_command("REPLICAOF", "127.0.0.1", master.port)
        wait_until(lambda: (m.info("replication").get("slave0") or {}).get("ip") == "127.0.0.2",
                   what="the replica seen from 127.0.0.2")
        a.execute_command("REPLICAOF", "NO", "ONE")
        a.config_set("bind-source-addr", "192.0.2.1")  # not this host's
        a.execute_command("REPLICAOF", "127.0.0.1", master.port)
        _stream_flowing(m, a)
    finally:
        a.config_set("bind-source-addr", "")
        m.config_set("protected-mode", "yes")


def test_a_writable_replica_expires_its_own_keys(m, a, master):
    """Keys a writable replica's clients wrote with a TTL are expired by the replica (the
    master never sends their DEL); the master's keys still wait for the master."""
    a.execute_command("REPLICAOF", "127.0.0.1", master.port)
    _stream_flowing(m, a)
    m.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", 0)
    a.config_set("replica-read-only", "no")
    try:
        m.set("from-master", "v", px=200)
        wait_until(lambda: a.dbsize() == 2, what="the master's key")
        a.set("local1", "1", px=200)
        a.set("local2", "2", px=200)
        a.set("local3", "3")
        assert a.dbsize() == 5
        wait_until(lambda: a.dbsize() == 3, timeout=5, what="the local keys to expire")
        assert a.get("local3") == b"3"
        assert a.get("from-master") is None and a.dbsize() == 3  # waits for the master's DEL
        # a client's write of it deletes it first (LOOKUP_WRITE), as on a Redis replica
        assert a.incr("from-master") == 1 and a.ttl("from-master") == -1
        assert a.rpush("from-master-list", "x") == 1
        assert a.dbsize() == 4
    finally:
        a.config_set("replica-read-only", "yes")
        m.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", 1)


def test_replicaof_in_the_config_file_with_masterauth(tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "r").mkdir()
    master = start_redis(tmp_path / "m", "--requirepass", "s3cret",
                         "--repl-diskless-sync-delay", "0")
    try:
        mc = master.client(password="s3cret")
        mc.set("secret", "data")
        replica = start_aki_from_config(tmp_path / "r", f"replicaof 127.0.0.1 {master.port}\n"
                                             "masterauth s3cret\n")
        try:
            rc = replica.client()
            _wait_synced(mc, rc)
            assert rc.get("secret") == b"data"
            assert rc.config_get("replicaof") == {"replicaof": f"127.0.0.1 {master.port}"}
            rc.execute_command("REPLICAOF", "NO", "ONE")
            assert rc.config_get("replicaof") == {"replicaof": ""}
            rc.close()
        finally:
            replica.stop()
        mc.close()
    finally:
        master.stop()


@pytest.mark.parametrize("how", ["term", "kill"])
def test_a_restarted_replica_continues_with_psync(tmp_path, how):
    """The replication position is kept in the file, in the COMMIT of the data it
    describes: after a clean stop or a kill -9, the replica continues with PSYNC (no
    full sync) and ends with exactly the master's data."""
    (tmp_path / "m").mkdir()
    (tmp_path / "r").mkdir()
    master = start_redis(tmp_path / "m", "--repl-diskless-sync-delay", "0")
    try:
        mc = master.client()
        mc.rpush("l", *range(50))
        replica = start_aki_from_config(tmp_path / "r", f"replicaof 127.0.0.1 {master.port}\n")
        try:
            rc = replica.client()
            _stream_flowing(mc, rc)
            for i in range(200):
                mc.rpush("l", i)
                mc.incr("n")
            _wait_synced(mc, rc)
            full = mc.info("stats")["sync_full"]
            replica.stop(how)
            mc.rpush("l", "while-down")  # in the master's backlog
            replica.start()
            rc = replica.client()
            _wait_synced(mc, rc)
            stats = mc.info("stats")
            assert stats["sync_full"] == full and stats["sync_partial_ok"] == 1
            assert rc.lrange("l", 0, -1) == mc.lrange("l", 0, -1)
            assert rc.get("n") == b"200"
            rc.execute_command("REPLICAOF", "NO", "ONE")  # forgets the position ...
            rc.set("local", "write")
            replica.restart()
            rc = replica.client()  # ... so following again starts with a full sync
            _wait_synced(mc, rc)
            assert mc.info("stats")["sync_full"] == full + 1
            assert rc.get("local") is None and rc.get("n") == b"200"
        finally:
            replica.stop()
    finally:
        master.stop()


class FakeMaster:
    """A socket that plays a master: answers the handshake, then serves ``payloads`` in
    turn, one per PSYNC (each: the bytes after +FULLRESYNC, or a tuple of pieces sent
    10 ms apart). Records what it was sent."""

    def __init__(self, payloads: list[bytes | tuple[bytes, ...]]) -> None:
        self.payloads = list(payloads)
        self.served = 0
        self.received: list[bytes] = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            buf = b""
            synced = False
            while True:
                try:
                    data = conn.recv(65536)
                except OSError:
                    break
                if not data:
                    break
                buf += data
                while True:  # whole multibulk requests only
                    argv, buf = _take_command(buf)
                    if argv is None:
                        break
                    self.received.append(b" ".join(argv))
                    name = argv[0].upper()
                    if synced:
                        continue  # REPLCONF ACK: a master never answers it
                    if name == b"PING":
                        conn.sendall(b"+PONG\r\n")
                    elif name in (b"REPLCONF", b"AUTH"):
                        conn.sendall(b"+OK\r\n")
                    elif name == b"PSYNC":
                        synced = True
                        self._psync(conn)

    def _psync(self, conn: socket.socket) -> None:
        payload = self.payloads[min(self.served, len(self.payloads) - 1)]
        self.served += 1
        try:
            conn.sendall(b"+FULLRESYNC " + b"a" * 40 + b" 100\r\n\n\n")
            for piece in payload if isinstance(payload, tuple) else (payload,):
                time.sleep(0.01)
                conn.sendall(piece)
        except OSError:
            pass  # the replica hung up (the test is over, or it gave up on this sync)

    def close(self) -> None:
        self.sock.close()
        for c in self.conns:
            c.close()


def _take_command(buf: bytes) -> tuple[list[bytes] | None, bytes]:
    """One RESP multibulk request off the front of ``buf`` (None: not all there yet)."""
    if b"\r\n" not in buf:
        return None, buf
    head, _, rest = buf.partition(b"\r\n")
    argv = []
    for _ in range(int(head[1:])):
        if b"\r\n" not in rest:
            return None, buf
        size, _, rest = rest.partition(b"\r\n")
        n = int(size[1:])
        if len(rest) < n + 2:
            return None, buf
        argv.append(rest[:n])
        rest = rest[n + 2:]
    return argv, rest


def _rdb(keys: list[tuple[int, bytes, str, object, int | None]], corrupt: bool = False) -> bytes:
    buf = io.BytesIO()
    write_rdb(buf, keys)
    data = bytearray(buf.getvalue())
    if corrupt:
        data[-1] ^= 0xFF  # the CRC64 trailer: found wrong only after every key was read
    return bytes(data)


@pytest.mark.parametrize("split", [None, 1, 20, 39])
def test_a_diskless_payload_that_ends_like_its_mark_loads(a, split):
    """The EOF mark is found at the end of what arrived, as readSyncBulkPayload does: a
    payload whose CRC ends with the mark's first byte (here 'm', with a mark of 40 'm')
    was cut one byte early, and every retry failed the same way (seen in CI, 1 in 256).
    ``split``: the mark arrives in two pieces, cut that many bytes in."""
    mark = b"m" * 40
    for i in range(5000):  # a value that makes the RDB's last byte (of its CRC) an 'm'
        good = _rdb([(0, b"k", "string", b"v%d" % i, None)])
        if good.endswith(b"m"):
            break
    assert good.endswith(b"m")
    head = b"$EOF:" + mark + b"\r\n" + good
    payload = head + mark if split is None else (head + mark[:split], mark[split:])
    fake = FakeMaster([payload])
    try:
        a.execute_command("REPLICAOF", "127.0.0.1", fake.port)
        wait_until(lambda: a.execute_command("ROLE")[3] == b"connected", what="the sync")
        assert a.get("k") == b"v%d" % i and fake.served == 1
    finally:
        a.execute_command("REPLICAOF", "NO", "ONE")
        fake.close()


def test_a_failed_full_sync_load_keeps_the_previous_dataset(a):
    a.set("mine", "kept")
    a.rpush("mylist", 1, 2)
    keys = [(0, b"k%d" % i, "string", b"v", None) for i in range(3000)]
    keys.append((0, b"mine", "string", b"theirs", None))
    bad = _rdb(keys, corrupt=True)
    good = _rdb([(0, b"k", "string", b"v", None), (1, b"db1", "list", [b"x"], None)])
    stream = (b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$5\r\nafter\r\n$1\r\n1\r\n")
    fake = FakeMaster([b"$%d\r\n" % len(bad) + bad,
                       b"$EOF:" + b"m" * 40 + b"\r\n" + good + b"m" * 40])
    try:
        a.execute_command("REPLICAOF", "127.0.0.1", fake.port)
        wait_until(lambda: fake.served >= 1 and a.execute_command("ROLE")[3] != b"sync",
               what="the first (corrupt) full sync to fail")
        assert a.get("mine") == b"kept" and a.lrange("mylist", 0, -1) == [b"1", b"2"]
        assert a.dbsize() == 2
        # the second attempt (a second later) loads; the stream starts after the first ACK
        wait_until(lambda: a.execute_command("ROLE")[3] == b"connected", what="the good sync")
        assert a.get("mine") is None and a.get("k") == b"v"
        assert redis.Redis(port=a.connection_pool.connection_kwargs["port"], db=1).lrange(
            "db1", 0, -1) == [b"x"]
        fake.conns[-1].sendall(stream)
        wait_until(lambda: a.get("after") == b"1", what="the stream after the RDB")
        assert a.execute_command("ROLE")[4] == 100 + len(stream)
        wait_until(lambda: b"REPLCONF ACK %d" % (100 + len(stream)) in fake.received,
               what="REPLCONF ACK with the new offset")
        # GETACK is answered at once, with the offset before the GETACK itself (as Redis)
        getack = b"*3\r\n$8\r\nREPLCONF\r\n$6\r\nGETACK\r\n$1\r\n*\r\n"
        fake.received.clear()
        fake.conns[-1].sendall(getack)
        wait_until(lambda: fake.received, timeout=0.9, what="an ACK before the periodic one")
        assert fake.received[0] == b"REPLCONF ACK %d" % (100 + len(stream))
        # a master silent for repl-timeout: dropped, and asked to continue where we were
        a.config_set("repl-timeout", 1)
        want = b"PSYNC " + b"a" * 40 + b" %d" % (100 + len(stream) + len(getack) + 1)
        wait_until(lambda: want in fake.received, what="PSYNC after the timeout")
    finally:
        a.config_set("repl-timeout", 60)
        a.execute_command("REPLICAOF", "NO", "ONE")
        fake.close()


def test_appendonly_replica_rewrites_its_log_after_the_sync(m, master, tmp_path):
    _fill(m, "aof")
    replica = start_aki(tmp_path, "--appendonly", "yes")
    try:
        rc = replica.client()
        rc.set("old", "dropped by the sync")
        rc.execute_command("REPLICAOF", "127.0.0.1", master.port)
        _wait_synced(m, rc)
        m.set("streamed", "1")
        m.rpush("l:aof", "more")
        _wait_synced(m, rc)
        want = _snapshot(master.port)
        assert _snapshot(replica.port) == want
        assert rc.info("persistence")["aof_enabled"] == 1
        rc.close()
        replica.restart()  # replays the log on top of the file: still the master's data
        rc = replica.client()
        assert _snapshot(replica.port) == want
        assert rc.get("old") is None
        rc.close()
    finally:
        replica.stop()


def test_replicaof_unblocks_clients_blocked_on_keys(a, aki):
    blocked = RawClient(aki.port)
    blocked.send(b"*3\r\n$5\r\nBLPOP\r\n$5\r\nqueue\r\n$1\r\n0\r\n")
    wait_until(lambda: a.info("clients")["blocked_clients"] == 1, what="BLPOP to block")
    a.execute_command("REPLICAOF", "127.0.0.1", free_port())
    assert blocked.read_reply() == (b"-UNBLOCKED force unblock from blocking operation, "
                                    b"instance state changed (master -> replica?)\r\n")
    blocked.close()


def test_a_silent_master_in_the_handshake_times_out(a, aki):
    """A master that accepts and then answers nothing (Redis's test: a primary in DEBUG
    SLEEP while the replica waits for its PSYNC reply): after repl-timeout the replica
    logs Redis's "Timeout connecting to the MASTER..." and tries again."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(4)
    try:
        a.config_set("repl-timeout", 1)
        a.execute_command("REPLICAOF", "127.0.0.1", silent.getsockname()[1])
        wait_until(lambda: a.execute_command("ROLE")[3] == b"handshake", what="handshake")
        wait_until(lambda: "Timeout connecting to the MASTER..." in aki.log.read_text(),
                   timeout=10, what="the timeout")
    finally:
        a.config_set("repl-timeout", 60)
        a.execute_command("REPLICAOF", "NO", "ONE")
        silent.close()
