"""The embedded library: aki.open(), the redis-py ConnectionPool, threads, processes, crashes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
import redis

import aki
from tests.conftest import start_aki

ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.fixture
def db(tmp_path):
    with aki.open(tmp_path / "lib.aki") as database:
        yield database


def families(r) -> None:
    """One pass over every family through redis-py method names (server or embedded)."""
    r.flushall()
    assert r.set("s", "v") is True
    assert r.get("s") == b"v"
    assert r.incrby("n", 5) == 5
    assert r.incrbyfloat("f", 0.1) == pytest.approx(0.1)
    assert r.append("s", "w") == 2
    assert r.mget("s", "n", "zz") == [b"vw", b"5", None]
    assert r.expire("s", 100) is True
    assert 0 < r.ttl("s") <= 100
    assert r.type("s") == b"string"
    assert r.hset("h", mapping={"a": "1", "b": "2"}) == 2
    assert r.hgetall("h") == {b"a": b"1", b"b": b"2"}
    assert r.hincrby("h", "a", 2) == 3
    assert r.sadd("set", "x", "y", "z") == 3
    assert r.smembers("set") == {b"x", b"y", b"z"}
    assert r.sismember("set", "y") is True or r.sismember("set", "y") == 1
    assert r.zadd("z", {"a": 1, "b": 2.5}) == 2
    assert r.zrange("z", 0, -1, withscores=True) == [(b"a", 1.0), (b"b", 2.5)]
    assert r.zscore("z", "b") == 2.5
    assert r.rpush("l", "a", "b", "c") == 3
    assert r.lrange("l", 0, -1) == [b"a", b"b", b"c"]
    assert r.lpop("l") == b"a"
    assert r.exists("s", "h", "set", "z", "l", "nope") == 5
    assert r.delete("h", "set") == 2
    assert r.dbsize() == 5
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        r.lpush("s", "x")
    with pytest.raises(redis.ResponseError, match="unknown command"):
        r.execute_command("NOSUCHCOMMAND")


def test_families_embedded(db):
    families(db)


def test_families_server_same_code(tmp_path):
    srv = start_aki(tmp_path)
    try:
        families(srv.client())
    finally:
        srv.stop()


def test_families_through_connection_pool(tmp_path):
    r = redis.Redis(connection_pool=aki.ConnectionPool(tmp_path / "pool.aki"))
    families(r)
    r.close()


def test_decode_responses_and_execute(tmp_path):
    with aki.open(tmp_path / "d.aki", decode_responses=True) as db:
        db.set("k", "välue")
        assert db.get("k") == "välue"
        assert db.execute("HSET", "h", "f", "v") == 1
        assert db.execute("HGET", "h", "f") == "v"
        assert db.execute("PING") is True


def test_binary_safety(db):
    key = bytes(range(256))
    db.set(key, key[::-1])
    assert db.get(key) == key[::-1]
    assert db.keys(b"\x00*") == [key]


def test_long_lrange_values(db):
    # a long LRANGE reply is built as wire bytes inside SQLite: the library hands back values
    items = [b"", b"\x00", b"\r\n", b"\xff\xfe", b"plain"] * 4
    db.rpush("l", *items)
    assert db.lrange("l", 0, -1) == items
    assert db.lrange("l", 3, 14) == items[3:15]
    assert db.eval("return redis.call('LRANGE', KEYS[1], 0, -1)", 1, "l") == items


def test_reopen_keeps_data(tmp_path):
    path = tmp_path / "keep.aki"
    with aki.open(path) as db:
        db.set("a", "1")
        db.rpush("l", *range(10))
    with aki.open(path) as db:
        assert db.get("a") == b"1"
        assert db.llen("l") == 10


def test_pipeline_and_transaction(tmp_path):
    r = redis.Redis(connection_pool=aki.ConnectionPool(tmp_path / "p.aki"))
    pipe = r.pipeline(transaction=False)
    for i in range(100):
        pipe.set(f"k{i}", i)
    assert all(pipe.execute())
    with r.pipeline(transaction=True) as pipe:
        pipe.incr("c").incr("c").get("c")
        assert pipe.execute() == [1, 2, b"2"]

    def incr(p: redis.client.Pipeline) -> None:
        value = int(p.get("counter") or 0)
        p.multi()
        p.set("counter", value + 1)

    for _ in range(5):
        r.transaction(incr, "counter")
    assert r.get("counter") == b"5"
    r.close()


def test_watch_conflict(tmp_path):
    pool = aki.ConnectionPool(tmp_path / "w.aki")
    r = redis.Redis(connection_pool=pool)
    other = redis.Redis(connection_pool=pool)
    with r.pipeline() as pipe:
        pipe.watch("k")
        other.set("k", "changed")
        pipe.multi()
        pipe.set("k", "mine")
        with pytest.raises(redis.WatchError):
            pipe.execute()
    assert r.get("k") == b"changed"


def test_pubsub_in_process(tmp_path):
    r = redis.Redis(connection_pool=aki.ConnectionPool(tmp_path / "ps.aki"))
    p = r.pubsub()
    p.subscribe("news")
    msg = p.get_message(timeout=2)
    assert msg["type"] == "subscribe"
    assert r.publish("news", "hello") == 1
    msg = p.get_message(timeout=2)
    assert msg["type"] == "message" and msg["data"] == b"hello"
    p.close()


def test_threads_share_a_database(db):
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(200):
                db.incr("shared")
                db.set(f"t{n}:{i}", i)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert db.get("shared") == b"800"
    assert db.dbsize() == 801


def test_expiry_without_a_server(db):
    db.set("gone", "x", px=50)
    for i in range(50):
        db.set(f"short{i}", "x", px=50)
    db.set("stays", "y")
    time.sleep(0.2)
    assert db.get("gone") is None  # lazy
    for i in range(200):  # writes drive the active pass
        db.set("tick", i)
    assert db.dbsize() == 2  # "stays" and "tick": the expired ones were reclaimed


def _child(code: str, *args: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src") + os.pathsep + str(ROOT))
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


WRITER = """
    import sys, aki
    db = aki.open(sys.argv[1])
    name = sys.argv[2]
    for i in range(int(sys.argv[3])):
        db.rpush("log", f"{name}:{i}")
        db.incr("total")
    db.close()
"""


def test_two_processes_write_one_file(tmp_path):
    path = str(tmp_path / "shared.aki")
    aki.open(path).close()  # create it first
    procs = [_child(WRITER, path, name, "300") for name in ("a", "b")]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    with aki.open(path) as db:
        assert db.get("total") == b"600"
        items = db.lrange("log", 0, -1)
        assert len(items) == 600
        for name in (b"a", b"b"):
            mine = [int(x.split(b":")[1]) for x in items if x.startswith(name + b":")]
            assert mine == list(range(300))  # each writer's order kept, nothing lost
        assert db.execute("DBSIZE") == 2


def test_server_and_library_share_a_file(tmp_path):
    srv = start_aki(tmp_path, dbfile="both.aki")
    try:
        r = srv.client()
        r.set("from-server", "1")
        with aki.open(tmp_path / "both.aki") as db:
            assert db.get("from-server") == b"1"
            db.set("from-library", "2")
            db.incr("counter")
            assert r.get("from-library") == b"2"
            r.incr("counter")
            assert db.get("counter") == b"2"
    finally:
        srv.stop()


def test_server_reads_from_its_cache_see_another_process_write(tmp_path):
    """GET answered from the server's row cache (no transaction) still notices a
    commit by another process: the cache is re-validated every loop iteration."""
    srv = start_aki(tmp_path, dbfile="both.aki")
    try:
        r = srv.client()
        r.set("k", "1")
        for _ in range(3):
            assert r.get("k") == b"1"  # cached now
        with aki.open(tmp_path / "both.aki") as db:
            db.set("k", "2")
            db.delete("gone")
        assert r.get("k") == b"2"
        r.set("gone", "x")
        assert r.get("gone") == b"x"
        with aki.open(tmp_path / "both.aki") as db:
            db.delete("gone")
        assert r.get("gone") is None
    finally:
        srv.stop()


CRASHER = """
    import sys, aki
    db = aki.open(sys.argv[1], appendfsync="always")
    i = 0
    while True:
        db.set(f"k{i}", i)
        print(i, flush=True)
        i += 1
"""


def test_kill_9_of_an_embedded_writer_loses_no_acknowledged_write(tmp_path):
    path = str(tmp_path / "crash.aki")
    p = _child(CRASHER, path)
    acked = -1
    deadline = time.time() + 30
    while time.time() < deadline:
        line = p.stdout.readline()
        if not line:
            break
        acked = int(line)
        if acked >= 300:
            break
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert acked >= 300
    with aki.open(path) as db:
        for i in range(acked + 1):
            assert db.get(f"k{i}") == str(i).encode()


def test_cli_one_shot_and_prompt(tmp_path):
    path = str(tmp_path / "cli.aki")
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    run = [sys.executable, "-m", "aki", "cli", path]
    out = subprocess.run(run + ["SET", "a", "1"], capture_output=True, text=True, env=env)
    assert out.stdout == "OK\n" and out.returncode == 0
    out = subprocess.run(run + ["RPUSH", "l", "x", "y"], capture_output=True, text=True, env=env)
    assert out.stdout == "(integer) 2\n"
    out = subprocess.run(run + ["RPUSH", "long", *"abcdefghij"], capture_output=True, text=True,
                         env=env)
    assert out.stdout == "(integer) 10\n"
    script = 'LRANGE l 0 -1\nGET nope\nINCR l\nSET "sp ace" "v w"\nGET "sp ace"\nLRANGE long 0 -1\n'
    out = subprocess.run(run, input=script, capture_output=True, text=True, env=env)
    assert out.stdout.splitlines()[:6] == [
        '1) "x"', '2) "y"', "(nil)",
        "(error) WRONGTYPE Operation against a key holding the wrong kind of value",
        "OK", '"v w"',
    ]
    assert out.stdout.splitlines()[6:] == [f'{i + 1:2d}) "{c}"' for i, c in enumerate("abcdefghij")]
    assert out.returncode == 1  # an error was printed


def test_lua_and_lock_embedded(tmp_path):
    """redis-py's Lock (EVALSHA scripts) and plain Lua, on both embedded paths."""
    path = tmp_path / "lock.aki"
    with aki.open(path) as db:
        lock = db.lock("res", timeout=5)
        assert lock.acquire(blocking=False)
        assert db.lock("res", timeout=5, blocking_timeout=0.2).acquire() is False
        assert lock.extend(2)
        lock.release()
        assert not lock.locked()
        r = redis.Redis(connection_pool=aki.ConnectionPool(path))
        with r.lock("res2", timeout=5):
            assert r.exists("res2") == 1
        assert r.exists("res2") == 0
        assert r.eval("return redis.call('SET', KEYS[1], ARGV[1])", 1, "k", "v") == b"OK"
        assert db.get("k") == b"v"
        double = r.register_script("return tonumber(ARGV[1]) * 2")
        assert double(args=[21]) == 42
        r.close()


def test_read_that_must_expire_retries_after_another_process_wrote(tmp_path):
    """A read-only call runs in a DEFERRED transaction. When it finds an expired key it
    must delete it; if another connection committed in between, SQLite refuses that
    upgrade (SQLITE_BUSY_SNAPSHOT). The call is retried, not answered with an error."""
    import apsw

    path = tmp_path / "snap.aki"
    with aki.open(path) as db:
        db.set("k", "v", px=30)
        db.set("other", "1")
        time.sleep(0.06)
        ks = db._core.server.ks
        real = ks._expire_row
        fired = []

        def expire_after_a_foreign_commit(row):
            if not fired:  # another process commits between our read and our delete
                fired.append(True)
                conn = apsw.Connection(str(path))
                conn.setbusytimeout(2000)
                conn.execute("UPDATE keys SET value = x'32' WHERE key = x'6f74686572'")
                conn.close()
            real(row)

        ks._expire_row = expire_after_a_foreign_commit
        assert db.get("k") is None  # no "rolled back" error
        assert fired and db.exists("k") == 0
        assert db.get("other") == b"2"


@pytest.mark.parametrize("slow_disk", [False, True])
def test_the_wal_stays_bounded(tmp_path, monkeypatch, slow_disk):
    """The embedded database folds its WAL into the file past checkpoint-wal-size, as the
    server does (it grew without bound: SQLite's own auto-checkpoint is off in aki). A
    background run that falls behind (a slow or loaded disk: CI saw 6 MB against a 1 MB
    limit) holds the writer at four times the limit, so the bound holds at any disk speed."""
    from aki.durability.checkpoint import Checkpointer

    if slow_disk:
        real_run = Checkpointer._run

        def slow_run(self):
            time.sleep(0.3)
            return real_run(self)

        monkeypatch.setattr(Checkpointer, "_run", slow_run)
    path = tmp_path / "lib.aki"
    wal = tmp_path / "lib.aki-wal"
    limit = 1 << 20
    with aki.open(path, checkpoint_wal_size=limit) as database:
        largest = 0
        for i in range(3000):
            database.set(f"k{i % 500}", os.urandom(4000))  # about 12 MB written in all
            largest = max(largest, wal.stat().st_size)
        # four times the limit in pages, their frame headers and one more commit
        assert largest < 4.2 * limit, f"the WAL grew to {largest} bytes"
        assert database.info("aki")["aki_checkpoints"] > 0
    with aki.open(path) as database:
        assert database.dbsize() == 500
