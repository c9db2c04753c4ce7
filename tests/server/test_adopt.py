"""A first open of a Redis data directory (durability/adopt.py): aki started where
redis-server kept its dump.rdb or its Redis 7 appendonlydir starts with that data, and
refuses what redis-server refuses, in Redis's words."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REDIS_SERVER, ServerProcess, aof_files, dump_db, free_port, start_aki, start_redis


def _fill(r) -> None:
    """One key of every type, in two databases, one with a TTL."""
    r.set("s", "text")
    r.set("n", 41)
    r.incr("n")
    r.rpush("l", *[f"e{i}" for i in range(300)])  # a quicklist
    r.hset("h", mapping={"a": "1", "b": "2"})
    r.sadd("set", 1, 2, 3, "x")
    r.zadd("z", {"m1": 1.5, "m2": -2})
    r.xadd("st", {"f": "v"}, id="1-1")
    r.set("ttl", "v", ex=1000)
    r.select(3)
    r.set("other-db", "3")
    r.select(0)


def _contents(r) -> dict:
    """Every key of databases 0 and 3, type by type (conftest's dump_db)."""
    out: dict = {}
    for db in (0, 3):
        r.select(db)
        out.update({(db, k): v for k, v in dump_db(r).items()})
    r.select(0)
    return out


def _redis_dump_with_one_key(d: Path) -> None:
    """dump.rdb in ``d`` as real Redis writes it, holding k = v."""
    red = start_redis(d)
    try:
        red.client().set("k", "v")
        red.client().save()
    finally:
        red.stop()


def _run_aki(d: Path, *extra: str) -> subprocess.CompletedProcess:
    """A start expected to stop on its own (a refused source)."""
    return subprocess.run([sys.executable, "-m", "aki", "server", "--port", str(free_port()),
                           "--dir", str(d), *extra], cwd=d, capture_output=True, text=True,
                          timeout=60)


def test_first_open_loads_the_rdb_redis_left_in_dir(tmp_path: Path):
    red = start_redis(tmp_path)
    try:
        rr = red.client()
        _fill(rr)
        expected = _contents(rr)
        rr.save()
    finally:
        red.stop()
    rdb_bytes = (tmp_path / "dump.rdb").read_bytes()
    # aki started the way redis-server was: the same dir, its dbfile a name inside it
    srv = start_aki(tmp_path, "--dir", str(tmp_path))
    try:
        r = srv.client()
        assert _contents(r) == expected
        r.set("s", "changed by aki")
    finally:
        srv.stop()
    log = (tmp_path / "aki.log").read_text()
    assert "Done loading RDB, keys loaded: 9, keys expired: 0." in log
    assert "DB loaded from disk:" in log
    assert (tmp_path / "dump.rdb").read_bytes() == rdb_bytes  # Redis's file left as it was
    assert not list(tmp_path.glob("*.adopt.tmp*"))
    # a second open: the .aki file is the truth, the dump is not loaded again
    srv.start()
    try:
        assert srv.client().get("s") == b"changed by aki"
    finally:
        srv.stop()
    assert (tmp_path / "aki.log").read_text().count("Done loading RDB") == 1


def test_first_open_with_appendonly_loads_the_redis7_appendonlydir(tmp_path: Path):
    red = start_redis(tmp_path, "--appendonly", "yes", "--appendfsync", "always")
    try:
        rr = red.client()
        _fill(rr)
        rr.bgrewriteaof()  # a base RDB file, then commands in the incr file
        for _ in range(100):
            if rr.info("persistence")["aof_rewrite_in_progress"] == 0 and \
                    len(list((tmp_path / "appendonlydir").glob("*.base.rdb"))):
                break
            time.sleep(0.05)
        rr.incr("n")
        rr.lpush("l", "head")
        rr.delete("set")
        with rr.pipeline(transaction=True) as p:
            p.set("in-multi", "1").hset("h", "c", "3").execute()
        expected = _contents(rr)
    finally:
        red.stop()
    redis_files = aof_files(tmp_path)
    assert [p.name for p in redis_files] == ["appendonly.aof.2.base.rdb", "appendonly.aof.2.incr.aof"]
    srv = start_aki(tmp_path, "--dir", str(tmp_path), "--appendonly", "yes")
    try:
        r = srv.client()
        assert _contents(r) == expected
        assert r.get("n") == b"43" and r.get("in-multi") == b"1"
        r.set("written-by-aki", "1")
        expected = _contents(r)
    finally:
        srv.stop()
    log = (tmp_path / "aki.log").read_text()
    assert "DB loaded from append only file:" in log
    assert "taking over the append only files" in log
    # aki took the log over as a Redis rewrite would: its own base and incr, with seqs
    # above Redis's; Redis's files are gone
    assert [p.name for p in aof_files(tmp_path)] == ["appendonly.aof.3.base.rdb",
                                                      "appendonly.aof.3.incr.aof"]
    assert not any(p.exists() for p in redis_files)
    # redis-server started in the same directory loads aki's current data
    red2 = start_redis(tmp_path, "--appendonly", "yes")
    try:
        assert _contents(red2.client()) == expected
    finally:
        red2.stop()


def _redis_aof_dir(d: Path, incr: bytes) -> None:
    """A Redis 7 appendonlydir holding one incr file, as Redis's own tests write it."""
    (d / "appendonlydir").mkdir(parents=True)
    (d / "appendonlydir" / "appendonly.aof.1.incr.aof").write_bytes(incr)
    (d / "appendonlydir" / "appendonly.aof.manifest").write_text(
        "file appendonly.aof.1.incr.aof seq 1 type i\n")


def _cmd(*args: str) -> bytes:
    out = b"*%d\r\n" % len(args)
    for a in args:
        out += b"$%d\r\n%s\r\n" % (len(a.encode()), a.encode())
    return out


@pytest.mark.parametrize("tail", ["short-read", "unfinished-multi"])
def test_torn_aof_tail_loads_up_to_the_last_whole_command_with_load_truncated(tmp_path, tail):
    body = _cmd("incr", "foo") * 5
    body += _cmd("incr", "foo")[:-1] if tail == "short-read" else \
        _cmd("multi") + _cmd("set", "bar", "world")
    _redis_aof_dir(tmp_path, body)
    srv = start_aki(tmp_path, "--dir", str(tmp_path), "--appendonly", "yes",
                    "--aof-load-truncated", "yes")
    try:
        r = srv.client()
        assert r.get("foo") == b"5" and r.get("bar") is None
        assert r.incr("foo") == 6
    finally:
        srv.stop()
    # aki took the log over (base 1 and incr 2 from its database); Redis's torn file,
    # never truncated by aki, is gone with the takeover
    assert not (tmp_path / "appendonlydir" / "appendonly.aof.1.incr.aof").exists()
    assert [p.name for p in aof_files(tmp_path)] == ["appendonly.aof.1.base.rdb",
                                                      "appendonly.aof.2.incr.aof"]
    srv.start()
    try:
        assert srv.client().get("foo") == b"6"
    finally:
        srv.stop()


@pytest.mark.parametrize("case, words", [
    ("short-read", "Unexpected end of file reading the append only file"),
    ("unfinished-multi", "Unexpected end of file reading the append only file"),
    ("bad-format", "Bad file format reading the append only file"),
])
def test_damaged_aof_refuses_the_start_in_redis_words(tmp_path: Path, case: str, words: str):
    body = {"short-read": _cmd("set", "foo", "hello") + _cmd("set", "bar", "world")[:-1],
            "unfinished-multi": _cmd("set", "foo", "hello") + _cmd("multi") + _cmd("set", "b", "w"),
            "bad-format": _cmd("set", "foo", "hello") + b"!!!" + _cmd("set", "foo", "hello")}[case]
    _redis_aof_dir(tmp_path, body)
    truncated = "yes" if case == "bad-format" else "no"  # a format error refuses either way
    res = _run_aki(tmp_path, "--appendonly", "yes", "--aof-load-truncated", truncated)
    assert res.returncode == 1, res.stdout + res.stderr
    assert words in res.stdout, res.stdout
    assert "appendonly.aof.1.incr.aof" in res.stdout
    assert not (tmp_path / "data.aki").exists()
    assert not list(tmp_path.glob("data.aki*"))


def test_corrupt_or_unreadable_rdb_refuses_the_start(tmp_path: Path):
    _redis_dump_with_one_key(tmp_path)
    rdb = tmp_path / "dump.rdb"
    data = bytearray(rdb.read_bytes())
    data[-8:] = b"foobar00"  # the CRC64 trailer, as Redis's integration/rdb test does
    rdb.write_bytes(bytes(data))
    res = _run_aki(tmp_path)
    assert res.returncode == 1
    assert "CRC error" in res.stdout and "Fatal error loading the DB" in res.stdout, res.stdout
    assert res.stdout.count("Terminating server after rdb file reading failure.") == 1
    assert not list(tmp_path.glob("data.aki*"))
    # real redis-server refuses the same file, with the same words
    res = subprocess.run([REDIS_SERVER, "--port", str(free_port()), "--dir", str(tmp_path),
                          "--save", ""], capture_output=True, text=True, timeout=60)
    assert res.returncode == 1 and "CRC error" in res.stdout, res.stdout
    rdb.write_bytes(b"REDIS0009\xfa")  # cut short
    res = _run_aki(tmp_path)
    assert res.returncode == 1 and "Fatal error loading the DB" in res.stdout, res.stdout
    assert not list(tmp_path.glob("data.aki*"))


def test_a_stale_adoption_temp_file_is_replaced(tmp_path: Path):
    """A crash in the middle of a first open leaves only ``data.aki.adopt.tmp``: the next
    start removes it and adopts again (tests/crash kills one for real)."""
    _redis_dump_with_one_key(tmp_path)
    (tmp_path / "data.aki.adopt.tmp").write_bytes(b"half an import")
    (tmp_path / "data.aki.adopt.tmp-wal").write_bytes(b"junk")
    srv = start_aki(tmp_path, "--dir", str(tmp_path))
    try:
        assert srv.client().get("k") == b"v"
    finally:
        srv.stop()
    assert not list(tmp_path.glob("*.adopt.tmp*"))


def test_appendonly_without_a_manifest_starts_empty_as_redis(tmp_path: Path):
    """Redis 7 with appendonly yes loads only the AOF: a dump.rdb beside it is not read."""
    _redis_dump_with_one_key(tmp_path)
    srv = start_aki(tmp_path, "--dir", str(tmp_path), "--appendonly", "yes")
    try:
        assert srv.client().dbsize() == 0
    finally:
        srv.stop()


def test_config_file_dir_holds_the_aki_file(tmp_path: Path):
    """`dir` in a redis.conf: every file lives there (Redis chdirs to it), the .aki too."""
    work = tmp_path / "data"
    work.mkdir()
    port = free_port()
    conf = tmp_path / "redis.conf"
    conf.write_text(f"port {port}\ndir {work}\n")
    srv = ServerProcess([sys.executable, "-m", "aki", "server", str(conf)], port, tmp_path,
                        tmp_path / "aki.log").start()
    try:
        r = srv.client()
        r.set("k", "v")
        assert r.config_get("dir")["dir"] == str(work)
    finally:
        srv.stop()
    assert (work / "data.aki").exists() and not (tmp_path / "data.aki").exists()
    res = subprocess.run([sys.executable, "-m", "aki", "server", "--dir", str(tmp_path / "nope")],
                         cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert res.returncode == 1
    assert f"Can't chdir to '{tmp_path / 'nope'}': No such file or directory" in res.stderr


def test_empty_collections_in_the_rdb_are_skipped_and_counted(tmp_path: Path):
    """Redis's corrupt_empty_keys.rdb: nine empty collections, each skipped with Redis's
    log line, and the count in the 'Done loading RDB' line."""
    fixture = Path(__file__).resolve().parent.parent / "fixtures" / "rdb" / "corrupt_empty_keys.rdb"
    (tmp_path / "dump.rdb").write_bytes(fixture.read_bytes())
    srv = start_aki(tmp_path, "--dir", str(tmp_path))
    try:
        assert srv.client().dbsize() == 0
    finally:
        srv.stop()
    log = (tmp_path / "aki.log").read_text()
    for key in ("set", "list_quicklist", "list_quicklist_empty_ziplist", "list_ziplist", "hash",
                "hash_ziplist", "zset", "zset_ziplist", "zset_listpack"):
        assert f"skipping empty key: {key} (" in log, key
    assert "Done loading RDB, keys loaded: 0, keys expired: 0, empty keys skipped: 9." in log


def test_manifest_with_incr_files_out_of_order_refuses_the_start(tmp_path: Path):
    """aofLoadManifestFromFile refuses incr seqs that do not increase; so does aki."""
    _redis_aof_dir(tmp_path, _cmd("set", "k1", "v1"))
    d = tmp_path / "appendonlydir"
    (d / "appendonly.aof.2.incr.aof").write_bytes(_cmd("set", "k2", "v2"))
    (d / "appendonly.aof.manifest").write_text("file appendonly.aof.2.incr.aof seq 2 type i\n"
                                              "file appendonly.aof.1.incr.aof seq 1 type i\n")
    res = _run_aki(tmp_path, "--appendonly", "yes")
    assert res.returncode == 1
    assert "Found a non-monotonic sequence number" in res.stdout, res.stdout
    assert "rdb file reading failure" not in res.stdout
    assert not list(tmp_path.glob("data.aki*"))


@pytest.mark.parametrize("manifest, words", [
    ("", "Found an empty AOF manifest"),
    ("file appendonly.aof.1.incr.aof seq 1 type i\n\nfile appendonly.aof.2.incr.aof seq 2 type i\n",
     "Invalid AOF manifest file format"),  # a blank line
    ("file appendonly.aof.1.incr.aof seq 1 type x\n", "Unknown AOF file type"),
    ("filx appendonly.aof.1.incr.aof seq 1 type i\n", "Invalid AOF manifest file format"),
    ("file appendonly.aof.1.incr.aof type i\n", "Invalid AOF manifest file format"),
    ("file appendonly.aof.1.incr.aof seq 1 type i newkey\n", "Invalid AOF manifest file format"),
    ("file appendonly.aof.1.incr.aof seq 1 type i" + " x y" * 300 + "\n",
     "The AOF manifest file contains too long line"),
    ("file appendonly.aof.1.base.aof seq 1 type b\nfile appendonly.aof.1.base.aof seq 1 type b\n",
     "Found duplicate base file information"),
    ("file ../appendonly.aof.1.incr.aof seq 1 type i\n", "File can't be a path, just a filename"),
])
def test_invalid_manifest_refuses_the_start_in_redis_words(tmp_path: Path, manifest, words):
    """aofLoadManifestFromFile's checks and words (Redis's integration/aof-multi-part)."""
    _redis_aof_dir(tmp_path, _cmd("set", "k1", "v1"))
    (tmp_path / "appendonlydir" / "appendonly.aof.1.base.aof").write_bytes(b"")
    (tmp_path / "appendonlydir" / "appendonly.aof.manifest").write_text(manifest)
    res = _run_aki(tmp_path, "--appendonly", "yes")
    assert res.returncode == 1
    assert words in res.stdout, res.stdout
    assert not list(tmp_path.glob("data.aki*"))
