"""A crash at each step of a rewrite of the multi-part AOF, and of a takeover (a new log
written over an old one): the process dies at the step (the AKI_TEST_AOF_CRASH_AT hook of
durability/aof.py exits as kill -9 would), or is killed while the rewrite's thread
writes the base. The restart finds every acknowledged write once, and the log agrees with
the database: redis-server started on the same directory loads the same data."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import redis

from tests.conftest import ServerProcess, aof_files, free_port, start_aki, start_redis, wait_until


def writer(port: int, name: str, acked: dict, stop: threading.Event) -> None:
    """Each step one MULTI (SET, RPUSH, INCR): the list is 1..n and the counter n, so a
    step applied twice or lost shows."""
    r = redis.Redis(port=port, socket_timeout=10)
    i = 0
    try:
        while not stop.is_set():
            i += 1
            with r.pipeline(transaction=True) as p:
                p.set(f"{name}:{i}", i).rpush(f"{name}:list", i).incr(f"{name}:n")
                p.execute()
            acked[name] = i
    except (redis.ConnectionError, redis.TimeoutError):
        pass


def _state(r: redis.Redis, names) -> dict:
    return {n: (r.lrange(f"{n}:list", 0, -1), r.get(f"{n}:n")) for n in names}


def check(r: redis.Redis, acked: dict) -> dict:
    state = _state(r, acked)
    for name, last in acked.items():
        items, counter = state[name]
        assert r.get(f"{name}:{last}") == str(last).encode(), name
        n = len(items)
        assert n >= last, name
        assert items == [str(i).encode() for i in range(1, n + 1)], name
        assert counter == str(n).encode(), name
    return state


def _only_listed_files(d: Path) -> None:
    listed = {p.name for p in aof_files(d)}
    present = {p.name for p in (d / "appendonlydir").iterdir()} - {"appendonly.aof.manifest"}
    assert present == listed
    assert " type h" not in (d / "appendonlydir" / "appendonly.aof.manifest").read_text()


def _restart_and_check(srv, tmp_path: Path, acked: dict) -> None:
    srv.start()
    r = srv.client()
    try:
        state = check(r, acked)
        assert r.info("persistence")["aof_enabled"] == 1
    finally:
        r.close()
        srv.stop()
    _only_listed_files(tmp_path)
    srv.start()  # a second restart replays nothing new
    r = srv.client()
    try:
        assert check(r, acked) == state
        r.incr("w0:n")  # and appends still work
    finally:
        r.close()
        srv.stop()
    red = start_redis(tmp_path, "--appendonly", "yes")
    try:
        got = _state(red.client(), acked)
    finally:
        red.stop()
    state["w0"] = (state["w0"][0], str(int(state["w0"][1]) + 1).encode())
    assert got == state


def _crash_under_writers(srv, trigger, thread_step: bool) -> dict:
    """Three acknowledged writers run while ``trigger(client)`` starts the step that ends
    the process: its own hook, or (``thread_step``) kill -9 while the rewrite thread
    writes. Returns what the writers had acknowledged when it died."""
    acked: dict[str, int] = {}
    stop = threading.Event()
    threads = [threading.Thread(target=writer, args=(srv.port, f"w{n}", acked, stop))
               for n in range(3)]
    for t in threads:
        t.start()
    try:
        wait_until(lambda: len(acked) == 3 and min(acked.values()) > 20)
        try:
            trigger(redis.Redis(port=srv.port))
        except redis.ConnectionError:
            pass  # the hook ended the process before the reply
        time.sleep(0.5)
        if thread_step:
            assert redis.Redis(port=srv.port).info("persistence")["aof_rewrite_in_progress"]
            srv.proc.kill()
        srv.proc.wait(30)
        time.sleep(0.2)
    finally:
        stop.set()
        for t in threads:
            t.join()
    code = srv.stop("kill")
    assert code in (137, -9), code
    assert acked and min(acked.values()) > 20
    return acked


@pytest.mark.parametrize("step", ["rewrite-incr-listed", "thread", "rewrite-base-renamed",
                                  "rewrite-manifest-switched"])
def test_crash_at_each_rewrite_step(tmp_path, monkeypatch, step):
    extra = ["--rdb-key-save-delay", "200"] if step == "thread" else []
    if step != "thread":
        monkeypatch.setenv("AKI_TEST_AOF_CRASH_AT", step)
    srv = start_aki(tmp_path, "--appendonly", "yes", "--appendfsync", "always",
                    "--dir", str(tmp_path), *extra)
    monkeypatch.delenv("AKI_TEST_AOF_CRASH_AT", raising=False)
    if step == "thread":  # 20000 keys at 200 us each: the thread writes for ~4 s
        srv.client().execute_command("DEBUG", "POPULATE", 20000, "pop", 10)
    acked = _crash_under_writers(srv, lambda c: c.bgrewriteaof(), step == "thread")
    if step == "rewrite-manifest-switched":  # the old files are history, not yet deleted
        text = (tmp_path / "appendonlydir" / "appendonly.aof.manifest").read_text()
        assert " type h" in text
    _restart_and_check(srv, tmp_path, acked)


def _redis_dir(d: Path) -> dict:
    red = start_redis(d, "--appendonly", "yes", "--appendfsync", "always")
    try:
        r = red.client()
        for i in range(1, 51):
            with r.pipeline(transaction=True) as p:
                p.set(f"w0:{i}", i).rpush("w0:list", i).incr("w0:n")
                p.execute()
        r.bgrewriteaof()
        wait_until(lambda: not r.info("persistence")["aof_rewrite_in_progress"])
        time.sleep(0.3)
        for i in range(51, 101):
            with r.pipeline(transaction=True) as p:
                p.set(f"w0:{i}", i).rpush("w0:list", i).incr("w0:n")
                p.execute()
    finally:
        red.stop()
    return {"w0": 100}


@pytest.mark.parametrize("step", ["fresh-files-written", "fresh-meta-committed",
                                  "fresh-manifest-written"])
def test_crash_during_the_takeover_of_an_adopted_redis_log(tmp_path, monkeypatch, step):
    """A first open of Redis's appendonlydir, killed inside the takeover: the next start
    finishes it (Redis's files replaced by aki's), with every write once."""
    acked = _redis_dir(tmp_path)
    redis_files = aof_files(tmp_path)
    port = free_port()
    argv = [sys.executable, "-m", "aki", "server", "--port", str(port), "--dbfile",
            str(tmp_path / "data.aki"), "--dir", str(tmp_path), "--appendonly", "yes",
            "--appendfsync", "always"]
    monkeypatch.setenv("AKI_TEST_AOF_CRASH_AT", step)
    res = subprocess.run(argv, cwd=tmp_path, capture_output=True, timeout=60)
    assert res.returncode == 137, res.stdout + res.stderr
    monkeypatch.delenv("AKI_TEST_AOF_CRASH_AT")
    assert (tmp_path / "data.aki").exists()  # the adoption itself was complete
    srv = ServerProcess(argv, port, tmp_path, tmp_path / "aki.log", own_port=True)
    _restart_and_check(srv, tmp_path, acked)
    assert not any(p.exists() for p in redis_files)
    assert [p.name for p in aof_files(tmp_path)][0].startswith("appendonly.aof.3.base")


@pytest.mark.parametrize("step", ["thread", "switch-on-files-renamed", "switch-on-meta-committed"])
def test_crash_during_a_live_switch_on(tmp_path, monkeypatch, step):
    """CONFIG SET appendonly yes over an old, stale log (switched off before): writes go
    to a temp incr file while the first rewrite runs. A crash at any point leaves meta
    stale or pointing at an unlisted seq, and the next start writes the log anew."""
    srv = start_aki(tmp_path, "--appendonly", "yes", "--dir", str(tmp_path))
    r = srv.client()
    r.set("before-off", "1")
    r.config_set("appendonly", "no")
    r.set("while-off", "1")
    r.close()
    srv.stop()
    old_files = aof_files(tmp_path)
    extra = ["--rdb-key-save-delay", "200"] if step == "thread" else []
    if step != "thread":
        monkeypatch.setenv("AKI_TEST_AOF_CRASH_AT", step)
    srv = start_aki(tmp_path, "--appendfsync", "always", "--dir", str(tmp_path), *extra)
    monkeypatch.delenv("AKI_TEST_AOF_CRASH_AT", raising=False)
    srv.client().execute_command("DEBUG", "POPULATE", 20000 if step == "thread" else 100,
                                 "pop", 10)
    acked = _crash_under_writers(srv, lambda c: c.config_set("appendonly", "yes"),
                                 step == "thread")
    srv.argv += ["--appendonly", "yes"]
    acked["w0"] = acked.get("w0", 0)
    _restart_and_check(srv, tmp_path, acked)
    assert not any(p.exists() for p in old_files)
    r = start_aki(tmp_path, "--dir", str(tmp_path), "--appendonly", "yes")
    try:
        c = r.client()
        assert c.get("while-off") == b"1" and c.get("before-off") == b"1"
    finally:
        r.stop()
