"""The append-only log: format, replay, torn tails, timestamps, rewrite, Redis interchange."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis

from tests.conftest import free_port, start_aki, start_redis, wait_until

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "rdb"


def aof_server(d: Path, *extra: str):
    return start_aki(d, "--appendonly", "yes", "--dir", str(d), *extra)


@contextmanager
def redis_loading(log: Path, d: Path) -> Iterator[redis.Redis]:
    """A client of a real redis-server started on a copy of aki's log in ``d`` (aki
    writes an old-style AOF, which Redis 7 loads)."""
    d.mkdir()
    shutil.copy(log, d / "appendonly.aof")
    red = start_redis(d, "--appendonly", "yes")
    try:
        yield red.client()
    finally:
        red.stop()


def applied_offset(d: Path) -> int:
    con = sqlite3.connect(d / "data.aki")
    try:
        return int(con.execute("SELECT value FROM meta WHERE name = 'aof_offset'").fetchone()[0])
    finally:
        con.close()


def test_log_format_and_replay_of_unapplied_tail(tmp_path):
    srv = aof_server(tmp_path, "--appendfsync", "always", "--aof-timestamp-enabled", "yes")
    r = srv.client()
    r.set("a", "1")
    r.expire("a", 1000)
    r.execute_command("SELECT", 2)
    r.set("b", "2")
    with r.pipeline(transaction=True) as p:
        p.set("c", "3").incr("c")
        p.execute()
    r.close()
    srv.stop("kill")
    log = (tmp_path / "appendonly.aof").read_bytes()
    assert log.startswith(b"REDIS0010")  # the base written when the log was created
    assert b"#TS:" in log
    assert b"$9\r\nPEXPIREAT\r\n" in log  # EXPIRE propagated as Redis does
    assert b"*2\r\n$6\r\nSELECT\r\n$1\r\n2\r\n" in log and b"MULTI" in log
    assert applied_offset(tmp_path) == len(log)
    # a crash between the log append and the COMMIT: records past the stored offset
    with open(tmp_path / "appendonly.aof", "ab") as f:
        f.write(b"#TS:1700000000\r\n*3\r\n$3\r\nset\r\n$7\r\nunsaved\r\n$1\r\nx\r\n")
    srv.start()
    r = srv.client()
    assert r.get("unsaved") == b"x" and r.get("a") == b"1" and 0 < r.ttl("a") <= 1000
    r.execute_command("SELECT", 2)
    assert r.get("c") == b"4"
    r.close()
    srv.stop()
    assert applied_offset(tmp_path) == (tmp_path / "appendonly.aof").stat().st_size


@pytest.mark.parametrize("truncated_ok", ["yes", "no"])
def test_torn_tail(tmp_path, truncated_ok):
    srv = aof_server(tmp_path)
    r = srv.client()
    r.set("k", "v")
    r.close()
    srv.stop("kill")
    path = tmp_path / "appendonly.aof"
    good = path.stat().st_size
    with open(path, "ab") as f:  # a whole MULTI that never got its EXEC, then a torn record
        f.write(b"*1\r\n$5\r\nMULTI\r\n*3\r\n$3\r\nset\r\n$1\r\nm\r\n$1\r\n1\r\n*3\r\n$3\r\nset\r\n$4\r\ntor")
    argv = [sys.executable, "-m", "aki", "server", "--port", str(free_port()), "--dbfile",
            str(tmp_path / "data.aki"), "--appendonly", "yes", "--dir", str(tmp_path),
            "--aof-load-truncated", truncated_ok]
    if truncated_ok == "no":
        res = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        assert res.returncode == 2
        assert f"last valid command ends at {good}" in res.stderr and "aof-load-truncated" in res.stderr
        assert path.stat().st_size > good  # nothing was changed
        return
    srv.argv = argv[:5] + [str(srv.port)] + argv[6:]
    srv.start()
    r = srv.client()
    assert r.get("k") == b"v" and r.get("m") is None
    r.set("after", "1")
    r.close()
    srv.stop()
    assert b"Truncating the AOF" in (tmp_path / "aki.log").read_bytes()
    log = path.read_bytes()
    assert b"MULTI" not in log[good:] and log.endswith(b"after\r\n$1\r\n1\r\n")


def test_bgrewriteaof_compacts_and_keeps_writes(tmp_path):
    srv = aof_server(tmp_path, "--appendfsync", "always")
    r = srv.client()
    for i in range(300):
        r.set("counter", i)
        r.hset("h", f"f{i % 10}", i)
    big = (tmp_path / "appendonly.aof").stat().st_size
    assert r.bgrewriteaof() in (True, b"Background append only file rewriting started")
    for i in range(50):
        r.rpush("during", i)
    deadline = time.time() + 20
    while r.info("persistence").get("aof_rewrite_in_progress", 0) and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    r.set("after", "yes")
    small = (tmp_path / "appendonly.aof").stat().st_size
    assert small < big
    r.close()
    srv.stop("kill")
    assert applied_offset(tmp_path) == small + len(b"*3\r\n$3\r\nset\r\n$5\r\nafter\r\n$3\r\nyes\r\n") or \
        applied_offset(tmp_path) == (tmp_path / "appendonly.aof").stat().st_size
    # real Redis loads aki's log (an old-style AOF with an RDB preamble)
    with redis_loading(tmp_path / "appendonly.aof", tmp_path / "red") as rc:
        assert rc.get("counter") == b"299" and rc.get("after") == b"yes"
        assert rc.lrange("during", 0, -1) == [str(i).encode() for i in range(50)]
        assert len(rc.hgetall("h")) == 10
    # and aki restarts on it with nothing to replay
    srv.start()
    r = srv.client()
    assert r.get("after") == b"yes" and r.llen("during") == 50
    r.close()
    srv.stop()


def test_automatic_rewrite_on_growth(tmp_path):
    """auto-aof-rewrite-percentage/-min-size start a rewrite by themselves, as Redis's
    serverCron does; the base size moves to the rewritten log's."""
    srv = aof_server(tmp_path, "--auto-aof-rewrite-min-size", "65536",
                     "--auto-aof-rewrite-percentage", "100")
    r = srv.client()
    try:
        base = r.info("persistence")["aof_base_size"]
        assert r.info("persistence")["aof_rewrites"] == 0
        for i in range(2000):  # ~100 KB of log for one key: a rewrite leaves one SET
            r.set("k", f"{i:050d}")
        # 2000 SETs write the log past the minimum more than once: one rewrite or more
        wait_until(lambda: r.info("persistence")["aof_rewrites"] >= 1, timeout=20)
        wait_until(lambda: not r.info("persistence")["aof_rewrite_in_progress"])
        info = r.info("persistence")
        rewrites = info["aof_rewrites"]
        assert info["aof_last_bgrewrite_status"] == "ok"
        assert base < info["aof_base_size"] < 65536
        assert info["aof_current_size"] < 2000 * 77  # 77 bytes a SET: the log was compacted
        assert "Starting automatic rewriting of AOF on" in srv.log.read_text()
        base = info["aof_base_size"]
        r.close()
        srv.stop()
        srv.start()  # the base survives a restart, as Redis 7's base file does
        r = srv.client()
        assert r.info("persistence")["aof_base_size"] == base
        r.config_set("auto-aof-rewrite-percentage", 0)  # 0 turns it off
        for i in range(2000):
            r.set("k", f"{i:050d}")
        time.sleep(0.5)
        assert r.info("persistence")["aof_rewrites"] == 0  # counted since this start
        assert r.get("k") == f"{1999:050d}".encode()
        assert rewrites >= 1
    finally:
        r.close()
        srv.stop()


def test_interrupted_swap_recovers(tmp_path):
    """A crash after the pending offset committed: with the temp file present the old log
    stays; without it (renamed) the pending offset is adopted."""
    srv = aof_server(tmp_path)
    r = srv.client()
    r.set("k", "v")
    r.close()
    srv.stop("kill")
    path = tmp_path / "appendonly.aof"
    con = sqlite3.connect(tmp_path / "data.aki")
    con.execute("INSERT INTO meta (name, value) VALUES ('aof_pending', 999999)")
    con.commit()
    con.close()
    (tmp_path / "appendonly.aof.rewrite.tmp").write_bytes(b"partial")
    srv.start()
    assert srv.client().get("k") == b"v"
    srv.stop()
    assert not (tmp_path / "appendonly.aof.rewrite.tmp").exists()
    assert applied_offset(tmp_path) == path.stat().st_size


def test_redis_preamble_fixture_and_appendonlydir_import(tmp_path):
    res = subprocess.run([sys.executable, "-m", "aki", "import", str(FIXTURES / "rdb-preamble.aof"),
                          "--target", str(tmp_path / "p.aki")], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    # a Redis 7 appendonlydir: base (RDB) + incr files, from a real redis-server
    d = tmp_path / "redis"
    d.mkdir()
    red = start_redis(d, "--appendonly", "yes", "--appendfsync", "always")
    rc = red.client()
    rc.set("before", "1")
    rc.rpush("l", "a", "b")
    rc.hset("h", "f", "v")
    rc.bgrewriteaof()
    deadline = time.time() + 20
    while rc.info("persistence")["aof_rewrite_in_progress"] and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    rc.set("after", "2")
    rc.incr("after")
    rc.execute_command("SELECT", 5)
    rc.sadd("s5", "x")
    rc.close()
    red.stop()
    target = tmp_path / "dir.aki"
    res = subprocess.run([sys.executable, "-m", "aki", "import", str(d / "appendonlydir"),
                          "--target", str(target)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    srv = start_aki(tmp_path, dbfile="dir.aki")
    try:
        r = srv.client()
        assert r.get("before") == b"1" and r.get("after") == b"3"
        assert r.lrange("l", 0, -1) == [b"a", b"b"] and r.hgetall("h") == {b"f": b"v"}
        r.execute_command("SELECT", 5)
        assert r.smembers("s5") == {b"x"}
    finally:
        srv.stop()


def _commands_in_log(data: bytes) -> list[list[bytes]]:
    """The commands of an AOF (after an RDB preamble, if any), names lowercased."""
    import io

    import hiredis

    from aki.rdb import RDBReader

    start = data.find(b"*")
    if data.startswith(b"REDIS"):
        # read the preamble through to its EOF opcode and checksum (a 0xff byte may also
        # appear inside it: the ctime aux field is the current time)
        f = io.BytesIO(data)
        rdb = RDBReader(f)
        for _record in rdb.records():
            pass
        start = f.tell() - len(rdb.tail())
    reader = hiredis.Reader()
    reader.feed(data[start:])
    out = []
    while (cmd := reader.gets()) is not False:
        out.append([cmd[0].lower(), *cmd[1:]])
    return out


def test_publish_is_not_logged_as_in_redis(tmp_path):
    """Redis sends PUBLISH/SPUBLISH to replicas only: its AOF never holds them, alone
    or inside MULTI (a transaction of only PUBLISH leaves no MULTI/EXEC either)."""
    def run(r):
        r.publish("ch", "hello")
        r.execute_command("SPUBLISH", "ch2", "x")
        r.set("a", "1")
        with r.pipeline(transaction=True) as p:
            p.publish("ch", "in-multi")
            p.execute()
        with r.pipeline(transaction=True) as p:
            p.set("b", "2").publish("ch", "with-a-write")
            p.execute()

    (tmp_path / "redis").mkdir()
    red = start_redis(tmp_path / "redis", "--appendonly", "yes", "--appendfsync", "always",
                      "--dir", str(tmp_path / "redis"))
    try:
        run(red.client())
    finally:
        red.stop()
    incr = next((tmp_path / "redis" / "appendonlydir").glob("*.incr.aof")).read_bytes()
    expected = _commands_in_log(incr)
    srv = aof_server(tmp_path, "--appendfsync", "always")
    try:
        run(srv.client())
    finally:
        srv.stop()
    got = _commands_in_log((tmp_path / "appendonly.aof").read_bytes())
    assert b"publish" not in {c[0] for c in got} and b"spublish" not in {c[0] for c in got}
    assert got == expected


def test_config_set_appendonly_switches_the_log_live(tmp_path):
    """CONFIG SET appendonly yes on a running server writes a whole log from the database
    and logs every write after it; no closes it and marks it stale, so the next start
    with appendonly yes writes a new one instead of appending to a log with a gap."""
    srv = start_aki(tmp_path, "--dir", str(tmp_path), "--appendfsync", "always")
    r = srv.client()
    r.set("before", "1")
    r.rpush("l", "a")
    path = tmp_path / "appendonly.aof"
    with r.pipeline(transaction=False) as p:  # one batch: a write on each side of the switch
        p.set("same-batch-before", "x").config_set("appendonly", "yes").set("same-batch-after", "y")
        assert p.execute() == [True, True, True]
    assert r.config_get("appendonly") == {"appendonly": "yes"}
    assert r.info("persistence")["aof_enabled"] == 1
    r.rpush("l", "b")
    assert path.exists() and applied_offset(tmp_path) == path.stat().st_size
    assert path.read_bytes().lower().endswith(b"*3\r\n$5\r\nrpush\r\n$1\r\nl\r\n$1\r\nb\r\n")
    # the log alone rebuilds the data set in real Redis
    with redis_loading(path, tmp_path / "red") as rc:
        assert rc.get("before") == b"1" and rc.get("same-batch-before") == b"x"
        assert rc.get("same-batch-after") == b"y" and rc.lrange("l", 0, -1) == [b"a", b"b"]
    # switched off: nothing more is appended, INFO says so
    assert r.config_set("appendonly", "no")
    assert r.info("persistence")["aof_enabled"] == 0
    size = path.stat().st_size
    r.set("while-off", "1")
    assert path.stat().st_size == size
    r.close()
    srv.stop()
    # started again with the log on: a new log that includes the write made while it was off
    srv = start_aki(tmp_path, "--dir", str(tmp_path), "--appendonly", "yes")
    r = srv.client()
    assert r.get("while-off") == b"1" and r.get("before") == b"1"
    r.close()
    srv.stop()
    assert applied_offset(tmp_path) == path.stat().st_size
    with redis_loading(path, tmp_path / "red2") as rc:
        assert rc.get("while-off") == b"1"


def test_appendonly_no_during_a_rewrite(tmp_path):
    """CONFIG SET appendonly no while BGREWRITEAOF runs: the rewrite must not install a
    log that then passes for current (it used to, with offset = its size, and a later
    start appended to a log that missed every write made while it was off)."""
    srv = aof_server(tmp_path)
    r = srv.client()
    with r.pipeline(transaction=False) as p:  # enough data for a rewrite of ~1 s
        for i in range(300):
            p.mset({f"k:{i}:{j}": "v" * 20 for j in range(1000)})
        p.execute()
    path = tmp_path / "appendonly.aof"
    assert r.bgrewriteaof()
    assert r.config_set("appendonly", "no")
    assert r.info("persistence")["aof_rewrite_in_progress"] == 1
    r.set("while-rewriting", "1")  # still logged: the log goes off when the rewrite ends
    deadline = time.monotonic() + 60
    while r.info("persistence")["aof_rewrite_in_progress"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert r.info("persistence")["aof_enabled"] == 0
    assert applied_offset(tmp_path) == -1  # off and stale
    size = path.stat().st_size
    r.set("while-off", "1")
    assert path.stat().st_size == size
    r.close()
    srv.stop()
    srv = aof_server(tmp_path)  # a new log, with what was written while it was off
    r = srv.client()
    assert r.get("while-off") == b"1" and r.dbsize() == 300_002
    r.close()
    srv.stop()
    assert applied_offset(tmp_path) == path.stat().st_size
    data = path.read_bytes()
    assert b"while-off" in data and b"while-rewriting" in data


def test_debug_loadaof_round_trip_matches_redis(tmp_path):
    """DEBUG LOADAOF after the log is switched on: the data set (values, TTLs, digest) is
    what it was, on aki as on Redis; writes after it keep going to the log."""
    def run(srv):
        r = srv.client()
        r.set("x", "10")
        r.expire("x", 1000)
        r.rpush("l", "a", "b")
        r.hset("h", mapping={"f": "1", "g": "2"})
        r.zadd("z", {"m": 1.5})
        before = r.execute_command("DEBUG", "DIGEST")
        assert r.config_set("appendonly", "yes")
        deadline = time.time() + 20
        while r.info("persistence")["aof_rewrite_in_progress"] and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)  # Redis: the rewrite's done-handler runs on its next cron
        reply = r.execute_command("DEBUG", "LOADAOF")
        state = (reply, before == r.execute_command("DEBUG", "DIGEST"), r.get("x"),
                 900 < r.ttl("x") <= 1000, r.lrange("l", 0, -1), r.hgetall("h"),
                 r.zrange("z", 0, -1, withscores=True))
        r.set("after", "1")
        r.close()
        return state

    (tmp_path / "redis").mkdir()
    (tmp_path / "aki").mkdir()
    red = start_redis(tmp_path / "redis")
    try:
        expected = run(red)
    finally:
        red.stop()
    srv = start_aki(tmp_path / "aki", "--dir", str(tmp_path / "aki"))
    try:
        assert run(srv) == expected
        assert expected[:2] == (b"OK", True)
    finally:
        srv.stop()
    assert (tmp_path / "aki" / "appendonly.aof").read_bytes().lower().endswith(
        b"*3\r\n$3\r\nset\r\n$5\r\nafter\r\n$1\r\n1\r\n")


def test_bgrewriteaof_with_the_log_off_writes_a_whole_log(tmp_path):
    """appendonly no: BGREWRITEAOF still writes a log of the whole data set (Redis 7 writes
    a new base then), which real Redis loads; the log stays off, and a later start with
    appendonly yes writes its own log rather than trust that one."""
    srv = start_aki(tmp_path, "--dir", str(tmp_path))
    path = tmp_path / "appendonly.aof"
    try:
        r = srv.client()
        r.set("a", "1")
        r.hset("h", mapping={"f": "v"})
        assert r.bgrewriteaof() in (True, b"Background append only file rewriting started")
        deadline = time.time() + 20
        while time.time() < deadline:
            info = r.info("persistence")
            if info["aof_rewrites"] == 1 and not info["aof_rewrite_in_progress"]:
                break
            time.sleep(0.05)
        assert info["aof_enabled"] == 0 and info["aof_last_bgrewrite_status"] == "ok"
        assert path.exists() and not (tmp_path / "appendonly.aof.offline.tmp").exists()
        size = path.stat().st_size
        r.set("later", "2")  # not logged: the log is off
        assert path.stat().st_size == size
        r.close()
    finally:
        srv.stop()
    with redis_loading(path, tmp_path / "red") as rc:
        assert rc.get("a") == b"1" and rc.hgetall("h") == {b"f": b"v"} and rc.get("later") is None
    srv = start_aki(tmp_path, "--dir", str(tmp_path), "--appendonly", "yes")
    try:
        assert srv.client().get("later") == b"2"
    finally:
        srv.stop()
    assert applied_offset(tmp_path) == path.stat().st_size
    with redis_loading(path, tmp_path / "red2") as rc:
        assert rc.get("later") == b"2"
