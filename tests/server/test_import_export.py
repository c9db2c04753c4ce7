"""aki import / aki dump / aki check / --load-rdb, round trips through real redis-server."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from aki.cli.import_ import ImportFailed, import_into_file
from aki.rdb import load_value
from tests.conftest import start_aki, start_redis, wait_until

LIB = "#!lua name=mylib\nredis.register_function('myfunc', function(keys, args) return 1 end)"
FAR = 4_102_444_800_000  # 2100-01-01 in ms


def aki(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "aki", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=120)


def fill_redis(r) -> None:
    """Every type and encoding, binary data, expiries, several dbs, a function library."""
    r.set("str", "hello")
    r.set("int", "12345")
    r.set("bigint", str(2**62))
    r.set("bin", bytes(range(256)))
    r.set("long", b"abc" * 2000)
    r.set("ttl", "v", px=10_000_000)
    r.set("absttl", "v")
    r.pexpireat("absttl", FAR)
    r.rpush("list_small", "a", "b", "1", b"\x00\xff")
    r.rpush("list_big", *[f"item{i}" * 20 for i in range(2000)])
    r.hset("hash_small", mapping={"z": "1", "a": "2", "m": "3"})
    r.hset("hash_big", mapping={f"f{i}": f"v{i}" for i in range(300)})
    r.hset("hash_longval", mapping={"f": "x" * 100})
    r.sadd("set_int", *range(10))
    r.sadd("set_bigint", *range(1000))
    r.sadd("set_str", "a", "b", "c")
    r.zadd("zset_small", {"a": 1, "b": 2.5, "c": -1.25})
    r.zadd("zset_big", {f"m{i}": i / 7 for i in range(300)})
    r.zadd("zset_inf", {"lo": float("-inf"), "hi": float("inf")})
    r.xadd("stream", {"f": "v"}, id="1-1")
    r.xadd("stream", {"a": "1", "b": bytes(range(250, 256))}, id="2-0")
    r.xadd("stream", {"f": "w"}, id="3-0")
    r.xgroup_create("stream", "g", id="0")
    r.xreadgroup("g", "c1", {"stream": ">"}, count=2)
    r.xgroup_create("stream", b"g\xff", id="$")
    r.xdel("stream", "2-0")
    r.execute_command("SELECT", 3)
    r.set("in3", "three")
    r.hset("h3", "f", "v")
    r.execute_command("SELECT", 0)
    r.function_load(LIB)


def snapshot(client, dbs=(0, 3)) -> dict:
    """Every key: (db, key) -> (type, normalized value, expire time)."""
    out = {}
    for db in dbs:
        client.execute_command("SELECT", db)
        for k in client.scan_iter(count=1000):
            kind, value = load_value(client.dump(k))
            if kind in ("set", "hash", "zset"):
                value = sorted(value)
            out[(db, k)] = (kind, value, client.pexpiretime(k))
    client.execute_command("SELECT", 0)
    return out


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A real redis-server filled with everything, its dump.rdb and its snapshot."""
    d = tmp_path_factory.mktemp("src")
    srv = start_redis(d)
    r = srv.client()
    fill_redis(r)
    r.save()
    snap = snapshot(r)
    r.close()
    srv.stop()
    return d / "dump.rdb", snap


def test_import_then_serve_then_dump_then_redis_loads(source, tmp_path):
    rdb, snap = source
    target = tmp_path / "data.aki"
    res = aki("import", str(rdb), "--target", str(target))
    assert res.returncode == 0, res.stderr
    assert f"imported {len(snap)} keys" in res.stdout
    assert aki("check", str(target)).returncode == 0
    con = sqlite3.connect(target)
    assert con.execute("SELECT value FROM meta WHERE name = 'function:mylib'").fetchone()[0].decode() == LIB
    con.close()
    srv = start_aki(tmp_path)
    try:
        r = srv.client()
        assert snapshot(r) == snap
        # native reads agree too
        assert r.hgetall("hash_small") == {b"z": b"1", b"a": b"2", b"m": b"3"}
        assert r.object("encoding", "hash_small") == b"listpack"
        assert r.object("encoding", "hash_big") == b"hashtable"
        assert r.object("encoding", "set_int") == b"intset"
        assert r.object("encoding", "set_bigint") == b"hashtable"
        assert r.lrange("list_small", 0, -1) == [b"a", b"b", b"1", b"\x00\xff"]
        assert r.zrange("zset_inf", 0, -1, withscores=True) == [(b"lo", float("-inf")), (b"hi", float("inf"))]
        assert r.get("bin") == bytes(range(256))
        # aki dump of the live file (a snapshot read while the server runs)
        out = tmp_path / "out.rdb"
        res = aki("dump", "--file", str(target), "--output", str(out))
        assert res.returncode == 0, res.stderr
        assert aki("check", "--rdb", str(out)).returncode == 0
        # aki dump from the server over the wire
        out2 = tmp_path / "out2.rdb"
        res = aki("dump", "--addr", f"127.0.0.1:{srv.port}", "--output", str(out2))
        assert res.returncode == 0, res.stderr
        r.close()
    finally:
        srv.stop()
    for dump_file in (out, out2):
        d = tmp_path / dump_file.stem
        d.mkdir()
        shutil.copy(dump_file, d / "dump.rdb")
        red = start_redis(d, "--dbfilename", "dump.rdb")
        try:
            rc = red.client()
            assert snapshot(rc) == snap, dump_file
            if dump_file is out:
                assert b"mylib" in rc.function_list()[0]
            rc.close()
        finally:
            red.stop()


def test_jsonl_round_trip(source, tmp_path):
    rdb, snap = source
    a = tmp_path / "a.aki"
    assert aki("import", str(rdb), "--target", str(a)).returncode == 0
    jl = tmp_path / "d.jsonl"
    res = aki("dump", "--file", str(a), "--format", "jsonl", "--output", str(jl))
    assert res.returncode == 0, res.stderr
    lines = [json.loads(x) for x in jl.read_text().splitlines()]
    assert len([x for x in lines if x.get("type") != "function"]) == len(snap)
    binrec = next(x for x in lines if x.get("key") == "bin")
    assert set(binrec["value"]) == {"base64"}
    b = tmp_path / "b.aki"
    res = aki("import", str(jl), "--target", str(b))
    assert res.returncode == 0, res.stderr
    out = tmp_path / "b.rdb"
    assert aki("dump", "--file", str(b), "--output", str(out)).returncode == 0
    d = tmp_path / "red"
    d.mkdir()
    shutil.copy(out, d / "dump.rdb")
    red = start_redis(d)
    try:
        assert snapshot(red.client()) == snap
    finally:
        red.stop()


def test_existing_keys_db_filter_dry_run(source, tmp_path):
    rdb, snap = source
    t = tmp_path / "t.aki"
    res = aki("import", str(rdb), "--target", str(t), "--db", "3")
    assert res.returncode == 0 and "imported 2 keys" in res.stdout, res.stdout + res.stderr
    res = aki("import", str(rdb), "--target", str(t), "--dry-run")
    assert res.returncode == 0 and f"would import {len(snap) - 2} keys" in res.stdout
    assert "already exists" in res.stderr
    con = sqlite3.connect(t)
    assert con.execute("SELECT count(*) FROM keys").fetchone()[0] == 2  # dry run wrote nothing
    con.close()
    res = aki("import", str(rdb), "--target", str(t), "--replace")
    assert res.returncode == 0 and "2 replaced" in res.stdout, res.stdout
    assert aki("check", str(t)).returncode == 0


def test_import_to_running_server(source, tmp_path):
    rdb, snap = source
    srv = start_aki(tmp_path)
    try:
        r = srv.client()
        r.set("str", "already here")
        res = aki("import", str(rdb), "--addr", f"127.0.0.1:{srv.port}")
        assert res.returncode == 0, res.stderr
        assert "already exists" in res.stderr and r.get("str") == b"already here"
        res = aki("import", str(rdb), "--addr", f"127.0.0.1:{srv.port}", "--replace")
        assert res.returncode == 0, res.stderr
        assert snapshot(r) == snap
        r.close()
    finally:
        srv.stop()


def small_dump(tmp_path: Path) -> bytes:
    d = tmp_path / "small"
    d.mkdir()
    srv = start_redis(d)
    r = srv.client()
    r.set("a", "1")
    r.hset("h", "f", "v")
    r.rpush("l", "x", "y")
    r.save()
    srv.stop()
    return (d / "dump.rdb").read_bytes()


def test_truncated_and_corrupt_files_import_nothing(tmp_path):
    data = small_dump(tmp_path)
    src = tmp_path / "bad.rdb"
    target = tmp_path / "t.aki"
    for cut in range(len(data)):
        src.write_bytes(data[:cut])
        with pytest.raises(ImportFailed, match="offset"):
            import_into_file(src, target, "rdb")
        assert not target.exists()
    for i in range(9, len(data)):
        src.write_bytes(data[:i] + bytes([data[i] ^ 0x55]) + data[i + 1:])
        with pytest.raises(ImportFailed):
            import_into_file(src, target, "rdb")
        assert not target.exists()
    # an existing file stays as it was
    good = tmp_path / "good.rdb"
    good.write_bytes(data)
    import_into_file(good, target, "rdb")
    before = target.stat().st_size, sqlite3.connect(target).execute("SELECT count(*) FROM keys").fetchone()
    src.write_bytes(data[:-3])
    res = aki("import", str(src), "--target", str(target), "--replace")
    assert res.returncode == 1 and "byte offset" in res.stderr and "nothing was imported" in res.stderr
    assert sqlite3.connect(target).execute("SELECT count(*) FROM keys").fetchone() == before[1]
    # an unknown type byte
    at = data.index(b"\x00\x01a")  # type 0, key "a"
    src.write_bytes(data[:at] + b"\x07" + data[at + 1:])
    res = aki("check", "--rdb", str(src))
    assert res.returncode == 2
    res = aki("check", "--rdb", str(tmp_path / "good.rdb"))
    assert res.returncode == 0 and "checksum" in res.stdout


def test_check_exit_codes_and_fix(tmp_path):
    good = tmp_path / "good.rdb"
    good.write_bytes(small_dump(tmp_path))
    t = tmp_path / "t.aki"
    import_into_file(good, t, "rdb")
    assert aki("check", str(t)).returncode == 0
    con = sqlite3.connect(t)
    con.execute("UPDATE dbstats SET keys = 99")
    con.commit()
    assert aki("check", str(t)).returncode == 1
    con.execute("UPDATE keys SET len = len + 1 WHERE type = 1")
    con.execute("INSERT INTO list_items VALUES (424242, 0, x'00')")
    con.commit()
    con.close()
    res = aki("check", str(t))
    assert res.returncode == 2 and "keys.len" in res.stdout and "belong to no key" in res.stdout
    res = aki("check", str(t), "--fix")
    assert res.returncode == 0, res.stdout
    assert aki("check", str(t)).returncode == 0
    junk = tmp_path / "junk.aki"
    junk.write_bytes(b"not a database at all" * 10)
    assert aki("check", str(junk)).returncode == 3


def test_load_rdb_on_first_open_only(source, tmp_path):
    rdb, snap = source
    srv = start_aki(tmp_path, "--load-rdb", str(rdb))
    try:
        assert snapshot(srv.client()) == snap
    finally:
        srv.stop()
    res = aki("server", "--port", "0", "--dbfile", str(tmp_path / "data.aki"), "--load-rdb", str(rdb))
    assert res.returncode == 2 and "already exists" in res.stderr


def test_save_writes_rdb_when_configured(tmp_path):
    srv = start_aki(tmp_path, "--save", "3600 1", "--dir", str(tmp_path))
    try:
        r = srv.client()
        r.set("k", "v")
        r.hset("h", "f", "v")
        assert r.save()
        assert (tmp_path / "dump.rdb").exists()
        r.set("k2", "v2")
        assert r.bgsave()
        deadline = time.time() + 10
        while r.info("persistence")["rdb_bgsave_in_progress"] and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)
        r.close()
    finally:
        srv.stop()
    d = tmp_path / "red"
    d.mkdir()
    shutil.copy(tmp_path / "dump.rdb", d / "dump.rdb")
    red = start_redis(d)
    try:
        rc = red.client()
        assert rc.get("k2") == b"v2" and rc.hgetall("h") == {b"f": b"v"}
    finally:
        red.stop()


def test_save_points_start_a_bgsave_by_themselves(tmp_path):
    """``save <seconds> <changes>``: once that many writes happened and that many seconds
    passed since the last save, a BGSAVE starts by itself, as Redis's serverCron does."""
    srv = start_aki(tmp_path, "--save", "1 3", "--dir", str(tmp_path))
    rdb = tmp_path / "dump.rdb"
    try:
        r = srv.client()
        r.set("a", "1")
        r.set("b", "2")
        time.sleep(1.5)
        assert not rdb.exists()  # two changes: below the save point
        r.set("c", "3")
        wait_until(rdb.exists, timeout=10)
        wait_until(lambda: r.info("persistence")["rdb_changes_since_last_save"] == 0)
        assert "3 changes in 1 seconds. Saving..." in srv.log.read_text()
        assert r.info("persistence")["rdb_last_bgsave_status"] == "ok"
        r.close()
    finally:
        srv.stop()
    d = tmp_path / "red"
    d.mkdir()
    shutil.copy(rdb, d / "dump.rdb")
    red = start_redis(d)
    try:
        assert red.client().mget("a", "b", "c") == [b"1", b"2", b"3"]
    finally:
        red.stop()


@pytest.mark.parametrize("save, how, written", [
    ("3600 1", "sigterm", True),  # save points configured: the final snapshot
    ("3600 1", "shutdown nosave", False),
    ("", "sigterm", False),  # aki's default: the .aki file is the persistence
    ("", "shutdown save", True),
    ("3600 1", "sigterm, shutdown-on-sigterm nosave", False),
])
def test_shutdown_writes_the_final_rdb_as_redis(tmp_path, save, how, written):
    """prepareForShutdown: with save points (and no NOSAVE), or with SHUTDOWN SAVE, the RDB
    is written once more before exiting."""
    srv = start_aki(tmp_path, "--save", save, "--dir", str(tmp_path))
    rdb = tmp_path / "dump.rdb"
    r = srv.client()
    r.set("last", "write")
    assert not rdb.exists()
    if how.startswith("shutdown"):
        with pytest.raises(redis.ConnectionError):  # Redis closes without a reply
            r.execute_command(*how.upper().split())
        assert srv.proc.wait(15) == 0
    else:
        if "nosave" in how:
            r.config_set("shutdown-on-sigterm", "nosave")
        assert srv.stop() == 0
    log = srv.log.read_text()
    assert rdb.exists() == written
    assert ("Saving the final RDB snapshot before exiting." in log) == written
    if written:
        d = tmp_path / "red"
        d.mkdir()
        shutil.copy(rdb, d / "dump.rdb")
        red = start_redis(d)
        try:
            assert red.client().get("last") == b"write"
        finally:
            red.stop()
    srv.stop()


def test_flushall_stops_a_running_bgsave_which_then_never_replaces_the_dump(tmp_path):
    """flushAllDataAndResetRDB: FLUSHALL kills the BGSAVE in progress (its dump would hold
    the data just flushed) and, with `save` set, writes the empty dump at once. The stopped
    save shares no temp file with that SAVE and cannot rename its file over it later."""
    from aki.rdb import KeyRecord, RDBReader

    srv = start_aki(tmp_path, "--save", "3600 1", "--dir", str(tmp_path))
    try:
        r = srv.client()
        r.execute_command("DEBUG", "POPULATE", 3000)
        r.config_set("rdb-key-save-delay", 1000)  # µs per key: the save takes ~3 s
        assert r.bgsave()
        assert r.info("persistence")["rdb_bgsave_in_progress"] == 1
        assert r.flushall()
        deadline = time.time() + 2
        while r.info("persistence")["rdb_bgsave_in_progress"] and time.time() < deadline:
            time.sleep(0.02)
        info = r.info("persistence")
        assert info["rdb_bgsave_in_progress"] == 0
        assert info["rdb_last_bgsave_status"] == "ok"  # a killed save is no error (SIGUSR1)
        time.sleep(0.5)
        with open(tmp_path / "dump.rdb", "rb") as f:
            keys = [rec for rec in RDBReader(f).records() if type(rec) is KeyRecord]
        assert keys == []
        assert not list(tmp_path.glob("temp-*.rdb"))
        r.config_set("rdb-key-save-delay", 0)
        r.set("after", "1")
        assert r.bgsave()  # the next BGSAVE starts (nothing left running)
    finally:
        srv.stop()
    assert "Background saving stopped before its end" in (tmp_path / "aki.log").read_text()


def test_save_that_cannot_write_the_rdb_answers_err_as_redis(tmp_path):
    """saveCommand answers a bare -ERR when rdbSave fails (here: dbfilename is a
    directory, so the rename fails); aki answered OK and only logged it."""
    from tests.conftest import RawClient, start_redis

    replies = []
    for kind in ("aki", "redis"):
        d = tmp_path / kind
        d.mkdir()
        srv = (start_aki(d, "--save", "3600 1", "--dir", str(d)) if kind == "aki"
               else start_redis(d, "--save", "3600 1"))
        try:
            (d / "dump.rdb").mkdir()  # after the start: both refuse such a dump at start-up
            c = RawClient(srv.port)
            c.cmd("SET", "k", "v")
            replies.append((c.cmd("SAVE"), c.cmd("GET", "k")))
            c.close()
        finally:
            (d / "dump.rdb").rmdir()  # or the final save fails too, and both refuse to exit
            srv.stop()
    assert replies[0] == replies[1] == (b"-ERR\r\n", b"$1\r\nv\r\n")
