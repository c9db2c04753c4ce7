"""A 1,000,000-element list: single-element commands stay O(1)/O(log n), and DEL of
it does not stall other clients (elements are reclaimed in the background)."""

from __future__ import annotations

import statistics
import threading
import time

import apsw
import pytest
import redis

BIG = 1_000_000
BATCH = 1000


def build(r: redis.Redis, key: str, n: int, start: int = 0) -> None:
    """RPUSH ``n`` elements in pipelined batches of BATCH values."""
    pipe = r.pipeline(transaction=False)
    for base in range(start, start + n, BATCH):
        pipe.rpush(key, *[b"v%d" % i for i in range(base, min(base + BATCH, start + n))])
        if len(pipe) >= 50:
            pipe.execute()
    pipe.execute()


def latencies(r: redis.Redis, key: str, n: int = 200) -> dict[str, float]:
    """Median seconds per command for the single-element commands under test."""
    out: dict[str, list[float]] = {"lpush": [], "rpop": [], "lindex": [], "lrange": []}
    length = r.llen(key)
    for i in range(n):
        t = time.perf_counter()
        r.lpush(key, b"x")
        out["lpush"].append(time.perf_counter() - t)
        t = time.perf_counter()
        r.rpop(key)
        out["rpop"].append(time.perf_counter() - t)
        t = time.perf_counter()
        r.lindex(key, (i * 7919) % length)
        out["lindex"].append(time.perf_counter() - t)
        t = time.perf_counter()
        r.lrange(key, 0, 9)
        out["lrange"].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in out.items()}


@pytest.fixture
def big(aki_server):
    r = aki_server.client()
    r.flushall()
    yield r
    r.close()


def test_million_element_list(big, aki_server):
    r = big
    build(r, "big", 1000)
    small = latencies(r, "big")
    build(r, "big", BIG - 1000, start=1000)
    assert r.llen("big") == BIG
    large = latencies(r, "big")
    for name in small:
        # generous: the same command on a 1000x larger list may cost a few B-tree
        # levels more, never time proportional to the length
        assert large[name] < small[name] * 4 + 0.002, (name, small[name], large[name])
    assert r.lindex("big", 500_000) is not None
    assert r.lrange("big", -3, -1) == [b"v%d" % i for i in range(BIG - 3 - 200, BIG - 200)]

    # DEL of the big key answers fast and other clients keep being served while
    # its elements are reclaimed in the background
    r.config_set("hz", 100)
    stop = threading.Event()
    worst = [0.0]

    def pinger() -> None:
        c = aki_server.client()
        while not stop.is_set():
            t = time.perf_counter()
            c.ping()
            worst[0] = max(worst[0], time.perf_counter() - t)
        c.close()

    th = threading.Thread(target=pinger)
    th.start()
    try:
        t = time.perf_counter()
        assert r.delete("big") == 1
        del_time = time.perf_counter() - t
        db = apsw.Connection(str(aki_server.workdir / "data.aki"), flags=apsw.SQLITE_OPEN_READONLY)
        deadline = time.time() + 40
        while True:
            left = db.execute("SELECT count(*) FROM list_items").fetchone()[0]
            if left == 0:
                break
            assert time.time() < deadline, f"{left} list rows still not reclaimed"
            time.sleep(0.2)
        db.close()
    finally:
        stop.set()
        th.join()
        r.config_set("hz", 10)
    assert del_time < 0.1, f"DEL took {del_time:.3f}s"
    assert worst[0] < 0.1, f"a PING waited {worst[0]:.3f}s during reclaim"
    assert r.exists("big") == 0
    r.rpush("big", "again")
    assert r.lrange("big", 0, -1) == [b"again"]
