"""kill -9 under load with the append-only log on: no acknowledged write is lost."""

from __future__ import annotations

import random
import threading
import time

import redis

from tests.conftest import start_aki


def writer(port: int, name: str, acked: dict, stop: threading.Event) -> None:
    r = redis.Redis(port=port, socket_timeout=5)
    i = 0
    try:
        while not stop.is_set():
            i += 1
            r.set(f"{name}:{i}", i)
            r.rpush(f"{name}:list", i)
            acked[name] = i
    except (redis.ConnectionError, redis.TimeoutError):
        pass


def run_and_kill(tmp_path, seconds: float, rewrite: bool) -> dict:
    srv = start_aki(tmp_path, "--appendonly", "yes", "--appendfsync", "always", "--dir", str(tmp_path))
    acked: dict[str, int] = {}
    stop = threading.Event()
    threads = [threading.Thread(target=writer, args=(srv.port, f"w{n}", acked, stop)) for n in range(4)]
    for t in threads:
        t.start()
    if rewrite:
        time.sleep(seconds / 2)
        redis.Redis(port=srv.port).bgrewriteaof()
    time.sleep(seconds / 2 if rewrite else seconds)
    srv.stop("kill")
    stop.set()
    for t in threads:
        t.join()
    return srv, acked


def check(srv, acked: dict) -> None:
    srv.start()
    r = srv.client()
    try:
        for name, last in acked.items():
            assert r.get(f"{name}:{last}") == str(last).encode(), name
            n = r.llen(f"{name}:list")
            assert n >= last
            assert r.lrange(f"{name}:list", 0, -1) == [str(i).encode() for i in range(1, n + 1)]
    finally:
        r.close()
        srv.stop()


def test_kill9_under_load_loses_no_acknowledged_write(tmp_path):
    srv, acked = run_and_kill(tmp_path, 2.0 + random.random(), rewrite=False)
    assert acked and min(acked.values()) > 10
    check(srv, acked)


def test_kill9_during_rewrite(tmp_path):
    srv, acked = run_and_kill(tmp_path, 3.0, rewrite=True)
    check(srv, acked)
    # and the log still describes the database: a second restart replays nothing new
    check(srv, acked)
