"""aki as a replication primary: a real redis-server replicates from it (full sync, the
command stream, partial resync after a dropped link, WAIT), and the raw stream a SYNC
client reads is the one real Redis sends for the same commands."""

from __future__ import annotations

import os
import subprocess
import time

import pytest
import redis

from tests.conftest import RawClient, aof_incr, dump_db, encode_command, start_aki, start_redis, wait_until


def _dump_all(port: int, dbs=(0, 3, 7)) -> dict:
    return {db: dump_db(redis.Redis(port=port, db=db)) for db in dbs}


def _in_sync(primary: redis.Redis, replica: redis.Redis) -> bool:
    off = primary.info("replication")["master_repl_offset"]
    rinfo = replica.info("replication")
    return rinfo.get("master_link_status") == "up" and rinfo.get("slave_repl_offset") == off


def _fill(port: int, tag: str) -> None:
    c0 = redis.Redis(port=port, db=0)
    c3 = redis.Redis(port=port, db=3)
    c0.set(f"s:{tag}", "v" * 100)
    c0.set(f"n:{tag}", 12345)
    c0.set(f"ttl:{tag}", "x", ex=1000)
    c0.rpush(f"l:{tag}", *[f"e{i}" for i in range(300)])
    c0.hset(f"h:{tag}", mapping={f"f{i}": i for i in range(200)})
    c0.hset(f"hs:{tag}", mapping={"a": 1, "b": 2})
    c0.sadd(f"si:{tag}", *range(50))
    c0.sadd(f"ss:{tag}", *[f"m{i}" for i in range(300)])
    c0.zadd(f"z:{tag}", {f"m{i}": i / 3 for i in range(200)})
    c0.zadd(f"zs:{tag}", {"a": 1.5, "b": -2})
    c0.xadd(f"x:{tag}", {"f": "v"})
    c3.set(f"db3:{tag}", "three")
    c3.lpush(f"db3l:{tag}", "a", "b")


@pytest.fixture
def primary_and_replica(tmp_path):
    aki = start_aki(tmp_path)
    replica = None
    try:
        _fill(aki.port, "before")
        redis.Redis(port=aki.port).function_load(
            "#!lua name=replib\nredis.register_function('f1', function() return 1 end)")
        replica = start_redis(None, "--replicaof", "127.0.0.1", str(aki.port))
        yield aki, replica
    finally:
        if replica is not None:
            replica.stop()
        aki.stop()


def test_redis_replica_full_sync_and_stream(primary_and_replica):
    aki, replica = primary_and_replica
    p = aki.client()
    rep = replica.client()
    wait_until(lambda: _in_sync(p, rep), what="the full sync")
    assert _dump_all(replica.port) == _dump_all(aki.port)
    assert rep.function_list()[0][1] == b"replib"
    # streamed (Redis 7 replicas read $EOF:), the stream started at the replica's ACK
    assert "Waiting for REPLCONF ACK from slave to enable streaming" in aki.log.read_text()

    # the stream: plain writes, other dbs, expiries, a transaction, a script, deletes
    _fill(aki.port, "after")
    p.expire("s:after", 500)
    p.pexpire("n:after", 1)  # expires on the primary, the DEL reaches the replica
    with p.pipeline(transaction=True) as tx:
        tx.incr("counter").lpush("l:after", "tx").hincrby("h:after", "f1", 5).execute()
    p.eval("redis.call('set', KEYS[1], 'a'); redis.call('append', KEYS[1], 'b')", 1, "scripted")
    p.fcall("f1", 0)
    redis.Redis(port=aki.port, db=7).set("db7", "seven")
    p.delete("z:before", "ss:before")
    time.sleep(0.05)
    p.get("n:after")  # lazy expiry: propagated as DEL
    wait_until(lambda: _in_sync(p, rep), what="the stream")
    assert _dump_all(replica.port) == _dump_all(aki.port)
    assert rep.get("scripted") == b"ab"
    assert rep.exists("n:after") == 0
    assert 0 < rep.ttl("s:after") <= 500

    info = p.info("replication")
    assert info["connected_slaves"] == 1
    assert info["slave0"]["state"] == "online"
    assert info["repl_backlog_active"] == 1
    role = p.execute_command("ROLE")
    assert role[0] == b"master" and role[1] == info["master_repl_offset"]
    assert [r[1] for r in role[2]] == [str(replica.port).encode()]
    assert p.info("stats")["sync_full"] == 1
    clients = p.client_list(_type="replica")
    assert len(clients) == 1 and clients[0]["flags"] == "S"
    assert p.info("clients")["connected_clients"] == 1  # replicas are not counted, as in Redis


def test_partial_resync_after_the_link_drops(primary_and_replica):
    aki, replica = primary_and_replica
    p = aki.client()
    rep = replica.client()
    wait_until(lambda: _in_sync(p, rep), what="the full sync")
    assert p.client_kill_filter(_type="replica") == 1
    p.set("while-down", "1")
    p.rpush("l:before", "more")
    wait_until(lambda: _in_sync(p, rep), what="the partial resync")
    stats = p.info("stats")
    assert stats["sync_partial_ok"] == 1 and stats["sync_full"] == 1
    assert rep.get("while-down") == b"1"
    assert _dump_all(replica.port) == _dump_all(aki.port)


def test_wait_counts_acknowledging_replicas(primary_and_replica):
    aki, replica = primary_and_replica
    p = aki.client()
    rep = replica.client()
    wait_until(lambda: _in_sync(p, rep), what="the full sync")
    p.set("k", "v")
    assert p.execute_command("WAIT", 1, 5000) == 1
    start = time.time()
    assert p.execute_command("WAIT", 2, 300) == 1  # only one replica: the timeout answers 1
    assert time.time() - start >= 0.25
    wait_until(lambda: p.info("replication")["slave0"]["offset"]
           == p.info("replication")["master_repl_offset"], what="the replica's ACK")


def _read_rdb(c: RawClient, psync: bool) -> bytes:
    if psync:
        line = c._line()
        assert line.startswith(b"+FULLRESYNC ")
    while True:
        line = c._line().lstrip(b"\n")  # bare newlines: keepalives while the RDB is made
        if line:
            break
    assert line.startswith(b"$")
    if line.startswith(b"$EOF:"):  # diskless: the payload ends with the 40-byte mark
        mark = line[5:45]
        while not c.buf.endswith(mark):
            c._fill()
        rdb, c.buf = c.buf[:-40], b""
        return rdb
    n = int(line[1:])
    while len(c.buf) < n:
        c._fill()
    rdb, c.buf = c.buf[:n], c.buf[n:]
    return rdb


def _read_stream(c: RawClient, n: int) -> list[list[bytes]]:
    cmds = []
    for _ in range(n):
        reply = c.read_reply()
        parts = reply.split(b"\r\n")
        cmds.append([parts[i] for i in range(2, len(parts) - 1, 2)])
    return cmds


# Commands whose propagation is deterministic (no timestamps), and what each should put
# into the stream: the same on both servers
STREAM_SCRIPT = [
    ("SET", "a", "1"),
    ("PUBLISH", "ch", "m"),  # replicas only (never the AOF)
    ("INCR", "a"),
    ("GET", "a"),  # a read: nothing in the stream
    ("SELECT", "2"),
    ("RPUSH", "l", "x", "y"),
    ("LPOP", "l"),
    ("MULTI",), ("SET", "b", "2"), ("DEL", "a", "b"), ("EXEC",),
    ("EVAL", "redis.call('set', 'c', '1'); redis.call('incr', 'c')", "0"),
    ("SELECT", "0"),
    ("DEL", "nothing"),  # deletes nothing: not propagated
    ("MULTI",), ("SET", "d", "1"), ("PUBLISH", "ch", "x"), ("EXEC",),
    ("FLUSHALL",),
]


def test_sync_stream_matches_redis(redis_server, tmp_path):
    aki = start_aki(tmp_path)
    try:
        streams = []
        for port in (aki.port, redis_server.port):
            ctl = RawClient(port)
            ctl.cmd("FLUSHALL")
            ctl.cmd("CONFIG", "SET", "repl-ping-replica-period", "3600")
            repl = RawClient(port)
            repl.send(b"SYNC\r\n")
            rdb = _read_rdb(repl, psync=False)
            assert rdb.startswith(b"REDIS00") and len(rdb) > 9
            for cmd in STREAM_SCRIPT:
                ctl.cmd(*cmd)
            # SELECT 0, SET, PUBLISH, INCR, SELECT 2, RPUSH, LPOP, MULTI, SET, DEL, EXEC,
            # MULTI, SET, INCR, EXEC, SELECT 0, MULTI, SET, PUBLISH, EXEC, FLUSHALL
            streams.append(_read_stream(repl, 21))
            ctl.close()
            repl.close()
        assert streams[0] == streams[1], f"aki {streams[0]} != redis {streams[1]}"
        assert streams[0][0] == [b"SELECT", b"0"]
    finally:
        aki.stop()


def test_psync_full_then_continue_and_pings(tmp_path):
    aki = start_aki(tmp_path)
    try:
        ctl = aki.client()
        ctl.set("k", "v")
        repl = RawClient(aki.port)
        repl.send(encode_command("REPLCONF", "capa", "psync2"))
        assert repl.read_reply() == b"+OK\r\n"
        repl.send(encode_command("PSYNC", "?", "-1"))
        head = repl._line()
        _, replid, offset = head.split()
        repl.buf = head + b"\r\n" + repl.buf
        _read_rdb(repl, psync=True)
        ctl.set("k2", "v2")
        got = _read_stream(repl, 2)
        assert got == [[b"SELECT", b"0"], [b"SET", b"k2", b"v2"]]
        consumed = len(encode_command("SELECT", "0") + encode_command("SET", "k2", "v2"))
        repl.close()
        # continue where it stopped: the backlog holds what was written meanwhile
        ctl.set("k3", "v3")
        again = RawClient(aki.port)
        again.cmd("REPLCONF", "capa", "psync2")
        again.send(encode_command("PSYNC", replid.decode(), int(offset) + consumed + 1))
        assert again._line() == b"+CONTINUE " + replid
        assert _read_stream(again, 1) == [[b"SET", b"k3", b"v3"]]
        # DEBUG REPLICATE: straight into the stream (Redis's test hook for divergence)
        assert ctl.execute_command("DEBUG", "REPLICATE", "fake-command", "x") == b"OK"
        assert _read_stream(again, 1) == [[b"fake-command", b"x"]]
        # a PING into the stream every repl-ping-replica-period seconds
        ctl.config_set("repl-ping-replica-period", 1)
        assert _read_stream(again, 1) == [[b"PING"]]
        # an unknown replication id: full resync
        third = RawClient(aki.port)
        third.send(encode_command("PSYNC", "0" * 40, "1"))
        assert third._line().startswith(b"+FULLRESYNC " + replid)
        stats = ctl.info("stats")
        assert (stats["sync_full"], stats["sync_partial_ok"], stats["sync_partial_err"]) == (2, 1, 1)
        third.close()
        again.close()
    finally:
        aki.stop()


def test_replication_command_errors(pair):
    pair.same("PSYNC", "abc", "notanumber")
    pair.same("REPLCONF", "listening-port")
    pair.same("REPLCONF", "nosuchoption", "1")
    pair.same("REPLCONF", "listening-port", "x")
    pair.same("REPLCONF", "listening-port", "6380", "capa", "eof", "capa", "whatever")
    pair.same("REPLCONF", "ip-address", "x" * 255)
    pair.same("REPLCONF", "ip-address", "x" * 256)
    pair.same("REPLCONF", "rdb-filter-only", "nope")
    pair.same("REPLCONF", "rdb-only", "2")
    pair.same("REPLCONF", "rdb-only", "x")
    pair.same("REPLCONF", "rdb-only", "1", "rdb-filter-only", "functions")
    pair.same("SYNC", "extra")
    # REPLCONF ACK from a client that is no replica answers nothing at all
    for c in (pair.a, pair.r):
        c.send(encode_command("REPLCONF", "ACK", "10") + encode_command("PING"))
        assert c.read_reply() == b"+PONG\r\n"
    pair.same("MULTI")
    pair.same("SYNC")
    pair.same("DISCARD")


def test_min_replicas_to_write_without_replicas(pair):
    pair.same("SET", "x", "1")
    pair.same("CONFIG", "SET", "min-replicas-to-write", "1")
    try:
        pair.same("SET", "x", "2")
        pair.same("GET", "x")
        pair.same("INCR", "x")
        pair.same("MULTI")
        pair.same("SET", "x", "3")
        pair.same("EXEC")
        pair.same("MULTI")
        pair.same("GET", "x")
        pair.same("EXEC")
        pair.same("EVAL", "return redis.call('set', 'x', 4)", "0")
        pair.same("EVAL", "return redis.call('get', 'x')", "0")
        pair.same("EVAL", "#!lua\nreturn redis.call('get', 'x')", "0")
        pair.same("EVAL", "#!lua flags=no-writes\nreturn redis.call('get', 'x')", "0")
        pair.same("CONFIG", "SET", "min-replicas-max-lag", "0")  # 0: the check is off
        pair.same("SET", "x", "5")
    finally:
        pair.same("CONFIG", "SET", "min-replicas-to-write", "0")
        pair.same("CONFIG", "SET", "min-replicas-max-lag", "10")
    pair.same("SET", "x", "6")


def test_writes_in_the_syncs_own_batch_are_in_the_rdb_only(tmp_path):
    """Writes committed in the same batch as the SYNC are in the snapshot: they must not
    also reach the replica through the stream (applied twice, a list would grow)."""
    aki = start_aki(tmp_path)
    try:
        ctl = aki.client()
        repl = RawClient(aki.port)  # connected first: its SYNC is read first in the pass
        sleeper = RawClient(aki.port)
        writer = RawClient(aki.port)
        sleeper.send(encode_command("DEBUG", "SLEEP", "0.3"))  # holds the loop ...
        time.sleep(0.1)
        repl.send(b"SYNC\r\n")  # ... so that these two are read in one pass, one batch
        writer.send(encode_command("LPUSH", "x", "in-the-rdb"))
        assert sleeper.read_reply() == b"+OK\r\n"
        assert writer.read_reply() == b":1\r\n"
        rdb = _read_rdb(repl, psync=False)
        assert b"in-the-rdb" in rdb
        ctl.set("after", "1")
        assert _read_stream(repl, 2) == [[b"SELECT", b"0"], [b"SET", b"after", b"1"]]
    finally:
        aki.stop()


def test_chained_replication_and_promotion(tmp_path):
    """A -> B -> C: an aki replica (B) serves a Redis replica (C) its primary's stream as
    it came; promoted with REPLICAOF NO ONE, B keeps its backlog and C continues with
    PSYNC (the old id is B's replid2) instead of a full sync."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = start_aki(tmp_path / "a")
    b = start_aki(tmp_path / "b")
    c = None
    try:
        pa, pb = a.client(), b.client()
        pa.set("before", "1")
        pb.execute_command("REPLICAOF", "127.0.0.1", a.port)
        wait_until(lambda: pb.info("replication")["master_link_status"] == "up", what="B's link")
        c = start_redis(None, "--replicaof", "127.0.0.1", str(b.port))
        pc = c.client()
        wait_until(lambda: pc.info("replication")["master_link_status"] == "up", what="C's link")
        assert pc.get("before") == b"1"
        pa.set("through", "B")
        pa.rpush("l", "x", "y")
        redis.Redis(port=a.port, db=4).set("db4", "v")
        wait_until(lambda: pc.lrange("l", 0, -1) == [b"x", b"y"], what="the stream through B")
        # the SET in db 4 comes after the RPUSH in the stream: C may not have applied it yet
        wait_until(lambda: redis.Redis(port=c.port, db=4).get("db4") == b"v", what="db 4 on C")
        info_b = pb.info("replication")
        assert info_b["role"] == "slave" and info_b["connected_slaves"] == 1
        wait_until(lambda: pc.info("replication")["slave_repl_offset"]
               == pa.info("replication")["master_repl_offset"], what="C at A's offset")

        pb.execute_command("REPLICAOF", "NO", "ONE")
        wait_until(lambda: pc.info("replication")["master_link_status"] == "up"
               and pb.info("stats")["sync_partial_ok"] >= 1, what="C's partial resync")
        assert pb.info("stats")["sync_full"] == 1  # only the first sync was full
        pb.set("after-promotion", "1")
        wait_until(lambda: pc.get("after-promotion") == b"1", what="B's own stream")
        assert pc.get("through") == b"B"
    finally:
        if c is not None:
            c.stop()
        b.stop()
        a.stop()


def test_a_replica_that_does_not_read_is_dropped_at_its_output_limit(tmp_path):
    """The stream queued for a replica during its full sync counts against the
    ``replica`` class of client-output-buffer-limit, as in Redis: memory stays bounded."""
    aki = start_aki(tmp_path)
    try:
        ctl = aki.client()
        with ctl.pipeline(transaction=False) as p:  # a ~20 MB RDB that does not compress
            for i in range(20000):
                p.set(f"k{i}", os.urandom(1000))
            p.execute()
        # above what the stalled RDB transfer itself leaves unsent (~4.3 MB): what trips
        # the limit is the stream queued behind it
        ctl.config_set("client-output-buffer-limit", "replica 6291456 0 0")
        repl = RawClient(aki.port)
        repl.send(b"SYNC\r\n")  # and never read: the RDB transfer stalls
        wait_until(lambda: ctl.info("replication")["connected_slaves"] == 1, what="SYNC")
        time.sleep(0.5)
        assert ctl.info("replication")["connected_slaves"] == 1
        with ctl.pipeline(transaction=False) as p:
            for i in range(7000):
                p.set(f"w{i}", "x" * 1000)
            p.execute()
        wait_until(lambda: ctl.info("replication")["connected_slaves"] == 0,
                   what="the replica to be dropped")
        assert "output buffer limits" in (tmp_path / "aki.log").read_text()
        repl.close()
        ctl.set("still", "serving")
        assert ctl.get("still") == b"serving"
    finally:
        aki.stop()


def test_replicas_continue_after_a_clean_restart_of_the_primary(tmp_path):
    """A primary stopped cleanly records its stream position; restarted, it keeps that
    history as replid2, so a replica that was in step continues with PSYNC. After a
    kill -9 nothing is recorded and the replica syncs in full."""
    (tmp_path / "a").mkdir()
    aki = start_aki(tmp_path / "a")
    replica = start_redis(None, "--replicaof", "127.0.0.1", str(aki.port))
    try:
        p, rep = aki.client(), replica.client()
        p.rpush("l", *range(100))
        wait_until(lambda: _in_sync(p, rep), what="the first sync")
        old_replid = p.info("replication")["master_replid"]
        aki.restart()  # SIGTERM: a clean stop
        p = aki.client()
        info = p.info("replication")
        assert info["master_replid2"] == old_replid
        wait_until(lambda: p.info("replication")["connected_slaves"] == 1
                   and _in_sync(p, rep), what="the replica back")
        stats = p.info("stats")
        assert (stats["sync_full"], stats["sync_partial_ok"]) == (0, 1)
        p.rpush("l", "after")
        wait_until(lambda: rep.lrange("l", -1, -1) == [b"after"], what="the stream")
        assert rep.lrange("l", 0, -1) == p.lrange("l", 0, -1)

        aki.restart("kill")  # nothing recorded: a full sync
        p = aki.client()
        assert p.info("replication")["master_replid2"] in (0, "0" * 40)  # (redis-py: 0)
        wait_until(lambda: p.info("stats")["sync_full"] == 1 and _in_sync(p, rep),
                   what="the full sync")
        assert rep.lrange("l", 0, -1) == p.lrange("l", 0, -1)
    finally:
        replica.stop()
        aki.stop()


def _rdb_records(path) -> tuple[list[bytes], list[bytes]]:
    """(key names, function library codes) in an RDB file."""
    from aki.rdb.reader import FunctionRecord, KeyRecord, RDBReader

    keys, libs = [], []
    with open(path, "rb") as f:
        for rec in RDBReader(f).records():
            if isinstance(rec, KeyRecord):
                keys.append(rec.key)
            elif isinstance(rec, FunctionRecord):
                libs.append(rec.code)
    return keys, libs


def test_redis_cli_rdb_and_functions_rdb(tmp_path):
    """redis-cli --rdb (REPLCONF rdb-only 1) gets the whole RDB and no stream, then is
    let go; --functions-rdb (rdb-filter-only functions) gets the functions and no keys."""
    srv = start_aki(tmp_path)
    try:
        c = srv.client()
        c.mset({"a": "1", "b": "2"})
        c.function_load("#!lua name=mylib\nredis.register_function('f1', function() return 1 end)")
        for flag, want_keys in (("--rdb", [b"a", b"b"]), ("--functions-rdb", [])):
            out = tmp_path / f"{flag.strip('-')}.rdb"
            proc = subprocess.run(["redis-cli", "-p", str(srv.port), flag, str(out)],
                                  capture_output=True, text=True, timeout=60)
            assert proc.returncode == 0 and "Transfer finished with success" in proc.stdout + proc.stderr
            keys, libs = _rdb_records(out)
            assert sorted(keys) == want_keys
            assert len(libs) == 1 and b"mylib" in libs[0]
            wait_until(lambda: c.info("replication")["connected_slaves"] == 0,
                       what="the rdb-only replica let go")
        assert "RDB transfer completed, rdb only replica" in srv.log.read_text()
        with pytest.raises(redis.ResponseError, match="^Unsupported rdb-filter-only option: keys$"):
            c.execute_command("REPLCONF", "rdb-filter-only", "functions keys")
    finally:
        srv.stop()


def test_script_set_repl_targets_the_aof_and_the_replicas_apart(tmp_path):
    """redis.set_repl: REPL_NONE writes go nowhere, REPL_AOF to the AOF only, REPL_REPLICA
    to the replicas only (TCL 'Test selective replication of certain Redis commands')."""
    aki = start_aki(tmp_path, "--appendonly", "yes", "--dir", str(tmp_path))
    replica = None
    try:
        p = aki.client()
        replica = start_redis(None, "--replicaof", "127.0.0.1", str(aki.port))
        rep = replica.client()
        wait_until(lambda: _in_sync(p, rep), what="the full sync")
        p.eval("redis.call('set','a','1'); redis.set_repl(redis.REPL_NONE); "
               "redis.call('set','b','2'); redis.set_repl(redis.REPL_AOF); "
               "redis.call('set','c','3'); redis.set_repl(redis.REPL_REPLICA); "
               "redis.call('set','e','5'); redis.set_repl(redis.REPL_ALL); "
               "redis.call('set','d','4')", 0)
        wait_until(lambda: _in_sync(p, rep), what="the stream")
        assert p.mget("a", "b", "c", "d", "e") == [b"1", b"2", b"3", b"4", b"5"]
        assert rep.mget("a", "b", "c", "d", "e") == [b"1", None, None, b"4", b"5"]
        log = aof_incr(tmp_path).read_bytes()
        for key, present in (("a", True), ("b", False), ("c", True), ("d", True), ("e", False)):
            assert (b"$3\r\nset\r\n$1\r\n%s\r\n" % key.encode() in log.lower()) == present, key
    finally:
        if replica is not None:
            replica.stop()
        aki.stop()


def _psync(port: int) -> RawClient:
    """A raw replica that asks for a full sync, as a Redis 7 replica does (capa eof)."""
    r = RawClient(port)
    assert r.cmd("REPLCONF", "capa", "eof", "capa", "psync2") == b"+OK\r\n"
    r.send(encode_command("PSYNC", "?", "-1"))
    return r


def _fullresync(r: RawClient) -> bytes:
    line = r._line().lstrip(b"\n")  # newlines keep the link alive while the sync waits
    assert line.startswith(b"+FULLRESYNC ")
    return line


def test_full_syncs_wait_for_the_delay_and_share_one_rdb(tmp_path):
    """repl-diskless-sync-delay: the RDB starts once the first replica has waited that
    long, or as soon as repl-diskless-sync-max-replicas wait; the replicas that waited
    together get one RDB, one offset, and the same stream."""
    aki = start_aki(tmp_path, "--repl-diskless-sync-delay", "3",
                    "--repl-diskless-sync-max-replicas", "2")
    try:
        ctl = aki.client()
        ctl.set("k", "v")
        r1 = _psync(aki.port)
        time.sleep(0.5)
        info = ctl.info()
        assert info["rdb_bgsave_in_progress"] == 0 and info["connected_slaves"] == 1
        assert info["slave0"]["state"] == "wait_bgsave"
        assert "Delay next BGSAVE for diskless SYNC" in aki.log.read_text()
        ctl.set("between", "1")  # before the snapshot: in the RDB, not the stream
        asked = time.time()
        r2 = _psync(aki.port)
        heads = [_fullresync(r1), _fullresync(r2)]
        assert time.time() - asked < 2  # the second replica started it, not the delay
        assert heads[0] == heads[1]
        rdbs = [_read_rdb(r1, psync=False), _read_rdb(r2, psync=False)]
        assert rdbs[0] == rdbs[1] and b"between" in rdbs[0]
        assert aki.log.read_text().count(
            "Starting BGSAVE for SYNC with target: replicas sockets") == 1
        ctl.set("after", "2")
        # streamed: the stream waits for the replica's first ACK (it has loaded)
        time.sleep(0.2)
        assert ctl.info()["slave0"]["state"] == "online"
        offset = int(heads[0].split()[2])
        for r in (r1, r2):
            r.send(encode_command("REPLCONF", "ACK", offset))
            assert _read_stream(r, 2) == [[b"SELECT", b"0"], [b"SET", b"after", b"2"]]
        # alone, a replica waits the whole delay
        asked = time.time()
        r3 = _psync(aki.port)
        _fullresync(r3)
        assert time.time() - asked >= 2.9
        for r in (r1, r2, r3):
            r.close()
    finally:
        aki.stop()


def _first_sync_under_way(tmp_path, *extra: str):
    """A primary with ten keys and a slow RDB (rdb-key-save-delay), a first raw replica
    whose RDB is being written, and ``mid`` set after that RDB's snapshot."""
    aki = start_aki(tmp_path, *extra)
    try:
        ctl = aki.client()
        ctl.mset({f"k{i}": i for i in range(10)})
        r1 = _psync(aki.port)
        head1 = _fullresync(r1)
        wait_until(lambda: ctl.info()["rdb_bgsave_in_progress"] == 1, what="the RDB")
        ctl.set("mid", "1")
    except BaseException:
        aki.stop()
        raise
    return aki, ctl, r1, head1


def test_a_replica_joins_the_rdb_being_written(tmp_path):
    """A full sync asked for while another's RDB is written takes that RDB (Redis's
    attach to a disk BGSAVE in progress): the same offset, and the stream queued since
    its snapshot, so both replicas end with the same data; the file goes afterwards."""
    aki, ctl, r1, head1 = _first_sync_under_way(
        tmp_path, "--rdb-key-save-delay", "150000",  # 0.15 s per key
        "--repl-diskless-sync", "no")  # a streamed RDB cannot be joined
    try:
        r2 = _psync(aki.port)
        assert _fullresync(r2) == head1
        ctl.set("mid2", "2")
        rdbs = [_read_rdb(r1, psync=False), _read_rdb(r2, psync=False)]
        assert rdbs[0] == rdbs[1] and b"k9" in rdbs[0] and b"mid" not in rdbs[0]
        for r in (r1, r2):
            assert _read_stream(r, 3) == [[b"SELECT", b"0"], [b"SET", b"mid", b"1"],
                                          [b"SET", b"mid2", b"2"]]
        text = aki.log.read_text()
        assert text.count("Starting BGSAVE for SYNC with target: disk") == 1
        assert "Waiting for end of BGSAVE for SYNC" in text
        wait_until(lambda: ctl.info()["rdb_bgsave_in_progress"] == 0, what="the end")
        assert not list(tmp_path.glob("temp-sync-*"))
        for r in (r1, r2):
            r.close()
    finally:
        aki.stop()


def test_a_streamed_rdb_uses_no_file_and_a_late_replica_waits_for_the_next(tmp_path):
    """repl-diskless-sync: the RDB goes to the sockets as it is written (no file in dir);
    a replica asking meanwhile waits for the next one, as Redis's socket target; one
    that hangs up mid-transfer stops the writing."""
    aki, ctl, r1, head1 = _first_sync_under_way(
        tmp_path, "--rdb-key-save-delay", "100000")  # 0.1 s per key
    try:
        assert not list(tmp_path.glob("temp-*"))
        r2 = _psync(aki.port)
        rdb1 = _read_rdb(r1, psync=False)
        assert b"k9" in rdb1 and b"mid" not in rdb1
        head2 = _fullresync(r2)  # its own RDB, from a later snapshot
        assert int(head2.split()[2]) > int(head1.split()[2])
        assert b"mid" in _read_rdb(r2, psync=False)
        text = aki.log.read_text()
        assert "Current BGSAVE has socket target. Waiting for next BGSAVE for SYNC" in text
        assert text.count("Starting BGSAVE for SYNC with target: replicas sockets") == 2
        # a replica that leaves in the middle: the writing stops, the server goes on
        r3 = _psync(aki.port)
        _fullresync(r3)  # its RDB is being written (1 s of key delays)
        r3.close()
        wait_until(lambda: ctl.info()["rdb_bgsave_in_progress"] == 0, timeout=5,
                   what="the writing to stop")
        text = aki.log.read_text()
        assert "Diskless rdb transfer, last replica dropped, stopping the RDB writer." in text
        assert "Diskless rdb transfer, done reading from pipe, 1 replicas still up." in text
        assert ctl.info()["connected_slaves"] == 2
        for r in (r1, r2):
            r.close()
    finally:
        aki.stop()
