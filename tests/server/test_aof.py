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

from tests.conftest import (
    aof_bytes,
    aof_files,
    aof_incr,
    copy_aof,
    free_port,
    start_aki,
    start_redis,
    wait_until,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "rdb"


def aof_server(d: Path, *extra: str):
    return start_aki(d, "--appendonly", "yes", "--dir", str(d), *extra)


@contextmanager
def redis_loading(src: Path, d: Path) -> Iterator[redis.Redis]:
    """A client of a real redis-server started on a copy of aki's appendonlydir (in
    ``src``) in ``d``: aki writes Redis 7's multi-part layout, which Redis loads."""
    copy_aof(src, d)
    red = start_redis(d, "--appendonly", "yes")
    try:
        yield red.client()
    finally:
        red.stop()


def _meta(d: Path, name: str) -> int | None:
    con = sqlite3.connect(d / "data.aki")
    try:
        row = con.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return None if row is None else int(row[0])
    finally:
        con.close()


def applied_offset(d: Path) -> int:
    """Meta aof_offset: how much of the current incr file the database holds."""
    return _meta(d, "aof_offset")


def applied_seq(d: Path) -> int | None:
    """Meta aof_seq: which incr file that offset is in."""
    return _meta(d, "aof_seq")


def incr_size(d: Path) -> int:
    return aof_incr(d).stat().st_size


def log_size(d: Path) -> int:
    return sum(p.stat().st_size for p in aof_files(d))


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
    base, incr = aof_files(tmp_path)
    assert base.name == "appendonly.aof.1.base.rdb" and incr.name == "appendonly.aof.1.incr.aof"
    assert base.read_bytes().startswith(b"REDIS0010")  # the base written when the log was created
    log = incr.read_bytes()
    assert b"#TS:" in log
    assert b"$9\r\nPEXPIREAT\r\n" in log  # EXPIRE propagated as Redis does
    assert b"*2\r\n$6\r\nSELECT\r\n$1\r\n2\r\n" in log and b"MULTI" in log
    assert applied_offset(tmp_path) == len(log) and applied_seq(tmp_path) == 1
    # a crash between the log append and the COMMIT: records past the stored offset
    with open(incr, "ab") as f:
        f.write(b"#TS:1700000000\r\n*3\r\n$3\r\nset\r\n$7\r\nunsaved\r\n$1\r\nx\r\n")
    srv.start()
    r = srv.client()
    assert r.get("unsaved") == b"x" and r.get("a") == b"1" and 0 < r.ttl("a") <= 1000
    r.execute_command("SELECT", 2)
    assert r.get("c") == b"4"
    r.close()
    srv.stop()
    assert applied_offset(tmp_path) == incr_size(tmp_path)


@pytest.mark.parametrize("truncated_ok", ["yes", "no"])
def test_torn_tail(tmp_path, truncated_ok):
    srv = aof_server(tmp_path)
    r = srv.client()
    r.set("k", "v")
    r.close()
    srv.stop("kill")
    path = aof_incr(tmp_path)
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
    big = log_size(tmp_path)
    before = aof_files(tmp_path)
    assert r.bgrewriteaof() in (True, b"Background append only file rewriting started")
    for i in range(50):
        r.rpush("during", i)
    deadline = time.time() + 20
    while r.info("persistence").get("aof_rewrite_in_progress", 0) and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    r.set("after", "yes")
    small = log_size(tmp_path)
    assert small < big
    r.close()
    srv.stop("kill")
    # base 2 and incr 2 replaced base 1 and incr 1, which are gone
    after = aof_files(tmp_path)
    assert [p.name for p in after] == ["appendonly.aof.2.base.rdb", "appendonly.aof.2.incr.aof"]
    assert not any(p.exists() for p in before)
    assert sorted(p.name for p in (tmp_path / "appendonlydir").iterdir()) == sorted(
        [p.name for p in after] + ["appendonly.aof.manifest"])
    assert (tmp_path / "appendonlydir" / "appendonly.aof.manifest").read_text() == (
        "file appendonly.aof.2.base.rdb seq 2 type b\n"
        "file appendonly.aof.2.incr.aof seq 2 type i\n")
    assert applied_seq(tmp_path) == 2 and applied_offset(tmp_path) == incr_size(tmp_path)
    # real Redis loads aki's log (base with an RDB preamble, then the incr file)
    with redis_loading(tmp_path, tmp_path / "red") as rc:
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


def make_old_layout(d: Path) -> Path:
    """Turn the stopped server's log in ``d`` into what aki before the multi-part layout
    left: one file, ``dir/appendonly.aof`` (base then commands), meta aof_offset = its
    length and no aof_seq."""
    old = d / "appendonly.aof"
    old.write_bytes(aof_bytes(d))
    shutil.rmtree(d / "appendonlydir")
    con = sqlite3.connect(d / "data.aki")
    con.execute("DELETE FROM meta WHERE name IN ('aof_seq', 'aof_base')")
    con.execute("UPDATE meta SET value = ? WHERE name = 'aof_offset'", (old.stat().st_size,))
    con.commit()
    con.close()
    return old


def test_interrupted_legacy_swap_recovers_before_the_upgrade(tmp_path):
    """An old single-file log with a crash after its pending offset committed: with the
    temp file present the old log stays; the upgrade then moves it in as the base."""
    srv = aof_server(tmp_path)
    r = srv.client()
    r.set("k", "v")
    r.close()
    srv.stop("kill")
    make_old_layout(tmp_path)
    con = sqlite3.connect(tmp_path / "data.aki")
    con.execute("INSERT INTO meta (name, value) VALUES ('aof_pending', 999999)")
    con.commit()
    con.close()
    (tmp_path / "appendonly.aof.rewrite.tmp").write_bytes(b"partial")
    srv.start()
    assert srv.client().get("k") == b"v"
    srv.stop()
    assert not (tmp_path / "appendonly.aof.rewrite.tmp").exists()
    assert _meta(tmp_path, "aof_pending") is None
    assert [p.name for p in aof_files(tmp_path)] == ["appendonly.aof", "appendonly.aof.1.incr.aof"]
    assert applied_offset(tmp_path) == incr_size(tmp_path)


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
    got = _commands_in_log(aof_incr(tmp_path).read_bytes())
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
    with r.pipeline(transaction=False) as p:  # one batch: a write on each side of the switch
        p.set("same-batch-before", "x").config_set("appendonly", "yes").set("same-batch-after", "y")
        assert p.execute() == [True, True, True]
    assert r.config_get("appendonly") == {"appendonly": "yes"}
    assert r.info("persistence")["aof_enabled"] == 1
    r.rpush("l", "b")  # while the first rewrite may still run: in the temp incr file
    # Redis 7's switch-on: a background rewrite installs base 1 and incr 1 (the temp incr)
    wait_until(lambda: r.info("persistence")["aof_rewrites"] == 1
               and not r.info("persistence")["aof_rewrite_in_progress"])
    assert not list((tmp_path / "appendonlydir").glob("temp-*"))
    assert [p.name for p in aof_files(tmp_path)] == ["appendonly.aof.1.base.rdb",
                                                      "appendonly.aof.1.incr.aof"]
    path = aof_incr(tmp_path)
    assert applied_offset(tmp_path) == path.stat().st_size
    assert path.read_bytes().lower().endswith(b"*3\r\n$5\r\nrpush\r\n$1\r\nl\r\n$1\r\nb\r\n")
    # the log alone rebuilds the data set in real Redis
    with redis_loading(tmp_path, tmp_path / "red") as rc:
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
    assert applied_offset(tmp_path) == incr_size(tmp_path)
    assert not path.exists()  # the stale log was replaced, as a rewrite replaces one
    with redis_loading(tmp_path, tmp_path / "red2") as rc:
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
    assert r.bgrewriteaof()
    assert r.config_set("appendonly", "no")
    assert r.info("persistence")["aof_rewrite_in_progress"] == 1
    r.set("while-rewriting", "1")  # still logged: the log goes off when the rewrite ends
    deadline = time.monotonic() + 60
    while r.info("persistence")["aof_rewrite_in_progress"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert r.info("persistence")["aof_enabled"] == 0
    assert applied_offset(tmp_path) == -1  # off and stale
    path = aof_incr(tmp_path)
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
    assert applied_offset(tmp_path) == incr_size(tmp_path)
    data = aof_bytes(tmp_path)
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
    assert aof_incr(tmp_path / "aki").read_bytes().lower().endswith(
        b"*3\r\n$3\r\nset\r\n$5\r\nafter\r\n$1\r\n1\r\n")


def test_bgrewriteaof_with_the_log_off_writes_a_whole_log(tmp_path):
    """appendonly no: BGREWRITEAOF still writes a log of the whole data set (Redis 7 writes
    a new base then), which real Redis loads; the log stays off, and a later start with
    appendonly yes writes its own log rather than trust that one."""
    srv = start_aki(tmp_path, "--dir", str(tmp_path))
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
        # Redis 7 with the log off: the manifest lists the new base alone
        files = aof_files(tmp_path)
        assert [p.name for p in files] == ["appendonly.aof.1.base.rdb"]
        assert not list((tmp_path / "appendonlydir").glob("temp-*"))
        path = files[0]
        size = path.stat().st_size
        r.set("later", "2")  # not logged: the log is off
        assert path.stat().st_size == size
        r.close()
    finally:
        srv.stop()
    with redis_loading(tmp_path, tmp_path / "red") as rc:
        assert rc.get("a") == b"1" and rc.hgetall("h") == {b"f": b"v"} and rc.get("later") is None
    srv = start_aki(tmp_path, "--dir", str(tmp_path), "--appendonly", "yes")
    try:
        assert srv.client().get("later") == b"2"
    finally:
        srv.stop()
    assert applied_offset(tmp_path) == incr_size(tmp_path)
    assert [p.name for p in aof_files(tmp_path)] == ["appendonly.aof.2.base.rdb",
                                                      "appendonly.aof.1.incr.aof"]
    with redis_loading(tmp_path, tmp_path / "red2") as rc:
        assert rc.get("later") == b"2"


REDIS_CHECK_AOF = shutil.which("redis-check-aof")


def _check_aof(d: Path) -> None:
    """redis-check-aof accepts the manifest and every file it lists."""
    # Debian's redis-tools, which scripts/test.sh installs with redis-server
    assert REDIS_CHECK_AOF is not None, "redis-check-aof missing: install redis-tools"
    res = subprocess.run([REDIS_CHECK_AOF, str(d / "appendonlydir" / "appendonly.aof.manifest")],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "All AOF files and manifest are valid" in res.stdout, res.stdout


def _dataset(r: redis.Redis) -> dict:
    out = {}
    for db in (0, 4):
        r.execute_command("SELECT", db)
        for k in sorted(r.keys("*")):
            out[(db, k)] = (r.type(k), r.dump(k))
    r.execute_command("SELECT", 0)
    return out


def _redis_in_place(d: Path) -> dict:
    """What a redis-server with appendonly yes started in aki's own dir loads."""
    red = start_redis(d, "--appendonly", "yes")
    try:
        return _dataset(red.client())
    finally:
        red.stop()


@pytest.mark.parametrize("preamble", ["yes", "no"])
def test_redis_server_loads_akis_layout_before_and_after_a_rewrite(tmp_path, preamble):
    """redis-server started in aki's dir loads the manifest, base and incr files aki wrote,
    before and after a BGREWRITEAOF; redis-check-aof accepts them."""
    srv = aof_server(tmp_path, "--aof-use-rdb-preamble", preamble, "--appendfsync", "always")
    r = srv.client()
    r.set("s", "v")
    r.rpush("l", *range(100))
    r.hset("h", mapping={f"f{i}": i for i in range(100)})
    r.execute_command("SELECT", 4)
    r.zadd("z", {"a": 1.5, "b": -2})
    r.execute_command("SELECT", 0)
    r.incr("n")
    want = _dataset(r)
    r.close()
    srv.stop()
    ext = "rdb" if preamble == "yes" else "aof"
    assert [p.name for p in aof_files(tmp_path)] == [f"appendonly.aof.1.base.{ext}",
                                                      "appendonly.aof.1.incr.aof"]
    _check_aof(tmp_path)
    assert _redis_in_place(tmp_path) == want
    srv.start()
    r = srv.client()
    assert _dataset(r) == want
    assert r.bgrewriteaof()
    wait_until(lambda: r.info("persistence")["aof_rewrites"] == 1
               and not r.info("persistence")["aof_rewrite_in_progress"])
    r.incr("n")
    r.sadd("after", "x")
    want = _dataset(r)
    info = r.info("persistence")
    r.close()
    srv.stop()
    files = aof_files(tmp_path)
    assert [p.name for p in files] == [f"appendonly.aof.2.base.{ext}", "appendonly.aof.2.incr.aof"]
    assert info["aof_current_size"] == sum(p.stat().st_size for p in files)
    assert info["aof_base_size"] == files[0].stat().st_size
    _check_aof(tmp_path)
    assert _redis_in_place(tmp_path) == want
    srv.start()  # and aki starts on the log as Redis left it
    try:
        assert _dataset(srv.client()) == want
    finally:
        srv.stop()


def test_manifest_names_are_quoted_as_redis_quotes_them(tmp_path):
    """An appendfilename with a space: the manifest quotes it (sdscatrepr) and Redis,
    aki and redis-check-aof read it back."""
    from aki.durability.aof import Manifest, _split_args

    srv = aof_server(tmp_path, "--appendfilename", "my log.aof")
    r = srv.client()
    r.set("k", "v")
    r.close()
    srv.stop()
    man = (tmp_path / "appendonlydir" / "my log.aof.manifest").read_text()
    assert man == ('file "my log.aof.1.base.rdb" seq 1 type b\n'
                   'file "my log.aof.1.incr.aof" seq 1 type i\n')
    assert _split_args('file "a\\x20b\\"c" seq 2') == ["file", 'a b"c', "seq", "2"]
    assert Manifest(("b c", 3), [("d", 4)], [("e", 2)]).render() == (
        'file "b c" seq 3 type b\nfile e seq 2 type h\nfile d seq 4 type i\n')
    red = start_redis(tmp_path, "--appendonly", "yes", "--appendfilename", "my log.aof")
    try:
        assert red.client().get("k") == b"v"
    finally:
        red.stop()


def test_upgrade_from_the_old_single_file(tmp_path):
    """An aki deployment from before the multi-part layout: ``dir/appendonly.aof`` and
    meta aof_offset. Start-up replays what the file holds past the offset, moves the file
    into appendonlydir as the base (as Redis 7 upgrades an old-style AOF), starts incr 1,
    and records the new position; nothing is lost, Redis and redis-check-aof read it."""
    srv = aof_server(tmp_path, "--appendfsync", "always")
    r = srv.client()
    r.set("a", "1")
    r.rpush("l", "x", "y")
    r.incr("n")
    r.close()
    srv.stop("kill")
    old = make_old_layout(tmp_path)
    # a crash between an append and its COMMIT: a record past the offset
    with open(old, "ab") as f:
        f.write(b"*2\r\n$4\r\nincr\r\n$1\r\nn\r\n")
    old_bytes = old.read_bytes()
    srv.start()
    r = srv.client()
    assert r.get("a") == b"1" and r.lrange("l", 0, -1) == [b"x", b"y"] and r.get("n") == b"2"
    r.incr("n")
    r.close()
    srv.stop()
    assert not old.exists()
    files = aof_files(tmp_path)
    assert [p.name for p in files] == ["appendonly.aof", "appendonly.aof.1.incr.aof"]
    assert files[0].read_bytes() == old_bytes  # moved, not rewritten
    assert (tmp_path / "appendonlydir" / "appendonly.aof.manifest").read_text() == (
        "file appendonly.aof seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n")
    assert applied_seq(tmp_path) == 1 and applied_offset(tmp_path) == incr_size(tmp_path)
    assert "Successfully migrated an old-style AOF file" in srv.log.read_text()
    _check_aof(tmp_path)
    srv.start()
    try:
        assert srv.client().get("n") == b"3"
    finally:
        srv.stop()
    red = start_redis(tmp_path, "--appendonly", "yes")
    try:
        assert red.client().get("n") == b"3" and red.client().get("a") == b"1"
    finally:
        red.stop()


@pytest.mark.parametrize("step", ["upgrade-manifest-written", "upgrade-meta-committed"])
def test_upgrade_interrupted_by_a_crash(tmp_path, monkeypatch, step):
    """A crash inside the upgrade: before the meta commit the next start repeats it,
    after it the next start finishes the rename."""
    srv = aof_server(tmp_path, "--appendfsync", "always")
    r = srv.client()
    for _i in range(20):
        r.incr("n")
    r.close()
    srv.stop("kill")
    make_old_layout(tmp_path)
    monkeypatch.setenv("AKI_TEST_AOF_CRASH_AT", step)
    res = subprocess.run(srv.argv, cwd=tmp_path, capture_output=True, timeout=60)
    assert res.returncode == 137  # died at the step, as kill -9 would leave it
    monkeypatch.delenv("AKI_TEST_AOF_CRASH_AT")
    assert (tmp_path / "appendonlydir" / "appendonly.aof.manifest").exists()
    assert (tmp_path / "appendonly.aof").exists()  # not renamed yet
    srv.start()
    try:
        r = srv.client()
        assert r.get("n") == b"20"
        r.incr("n")
    finally:
        srv.stop()
    assert not (tmp_path / "appendonly.aof").exists()
    assert [p.name for p in aof_files(tmp_path)] == ["appendonly.aof", "appendonly.aof.1.incr.aof"]
    red = start_redis(tmp_path, "--appendonly", "yes")
    try:
        assert red.client().get("n") == b"21"
    finally:
        red.stop()


def test_stale_old_single_file_is_replaced(tmp_path):
    """An old single file switched off while the server ran (aof_offset -1): a new log is
    written from the database and the stale file removed, not moved in."""
    srv = aof_server(tmp_path)
    r = srv.client()
    r.set("a", "1")
    r.close()
    srv.stop()
    make_old_layout(tmp_path)
    con = sqlite3.connect(tmp_path / "data.aki")
    con.execute("UPDATE meta SET value = -1 WHERE name = 'aof_offset'")
    con.commit()
    con.close()
    srv.start()
    try:
        assert srv.client().get("a") == b"1"
    finally:
        srv.stop()
    assert not (tmp_path / "appendonly.aof").exists()
    assert [p.name for p in aof_files(tmp_path)] == ["appendonly.aof.1.base.rdb",
                                                      "appendonly.aof.1.incr.aof"]


def test_a_log_the_database_has_no_record_of_is_refused(tmp_path):
    """An appendonlydir beside a database that holds data and no record of that log (not
    what a first open leaves): aki cannot tell how much of it the data holds, and refuses."""
    (tmp_path / "red").mkdir()
    red = start_redis(tmp_path / "red", "--appendonly", "yes")
    red.client().set("r", "1")
    red.stop()
    srv = start_aki(tmp_path, "--dir", str(tmp_path))  # appendonly no: a database of its own
    srv.client().set("mine", "1")
    srv.stop()
    shutil.copytree(tmp_path / "red" / "appendonlydir", tmp_path / "appendonlydir")
    res = subprocess.run([sys.executable, "-m", "aki", "server", "--port", str(free_port()),
                          "--dbfile", str(tmp_path / "data.aki"), "--dir", str(tmp_path),
                          "--appendonly", "yes"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 2, res.stdout + res.stderr
    assert "no record of how much of that log it contains" in res.stderr
