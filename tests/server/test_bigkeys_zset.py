"""A 1,000,000-member sorted set built with pipelined ZADD batches.

ZADD/ZSCORE/ZREM (primary key) and ZRANGEBYSCORE ... LIMIT 0 10 (score index)
must cost about the same on the 1M-member key as on a 1k-member one, and DEL of
the big key must not stall another client: its rows are reclaimed in the
background, which the test watches finish through a read-only connection.
"""

from __future__ import annotations

import statistics
import threading
import time

import apsw
import pytest

N = 1_000_000
BATCH = 1000


def build(client, key: str, n: int) -> None:
    pipe = client.pipeline(transaction=False)
    for start in range(0, n, BATCH):
        args: list = []
        for i in range(start, min(start + BATCH, n)):
            args.append(i * 0.5)
            args.append(f"m{i}")
        pipe.execute_command("ZADD", key, *args)
        if len(pipe) >= 50:
            pipe.execute()
    pipe.execute()


def median_latency(fn, ops: int = 1000) -> float:
    samples = []
    for i in range(ops):
        t = time.perf_counter()
        fn(i)
        samples.append(time.perf_counter() - t)
    return statistics.median(samples)


def count_rows(path: str, sql: str) -> int:
    conn = apsw.Connection(path, flags=apsw.SQLITE_OPEN_READONLY)
    try:
        conn.setbusytimeout(5000)
        return conn.execute(sql).fetchone()[0]
    finally:
        conn.close()


@pytest.fixture(scope="module")
def big(aki_server):
    c = aki_server.client()
    c.flushall()
    build(c, "smallz", 1000)
    build(c, "bigz", N)
    yield c
    c.close()


def test_size_order_and_encoding(big):
    assert big.zcard("bigz") == N
    assert big.object("encoding", "bigz") == b"skiplist"
    assert big.zscore("bigz", f"m{N - 1}") == (N - 1) * 0.5
    assert big.zrange("bigz", 0, 2) == [b"m0", b"m1", b"m2"]
    assert big.zrange("bigz", -2, -1) == [f"m{N - 2}".encode(), f"m{N - 1}".encode()]
    assert big.zrank("bigz", "m10") == 10
    assert big.zrevrank("bigz", f"m{N - 5}") == 4
    assert big.zcount("bigz", 1000, "(2000") == 2000


@pytest.mark.parametrize("op", ["zadd", "zscore", "zrem", "zrangebyscore_limit", "zrange_tail"])
def test_flat_latency(big, op):
    """The same operation on 1k and 1M members: within a generous constant factor."""

    def run(key: str, n: int) -> float:
        if op == "zadd":
            return median_latency(lambda i: big.zadd(key, {f"new{i}": i + 0.25}))
        if op == "zscore":
            return median_latency(lambda i: big.zscore(key, f"m{(i * 7919) % n}"))
        if op == "zrem":
            return median_latency(lambda i: big.zrem(key, f"m{(i * 7919) % n}"))
        if op == "zrangebyscore_limit":
            return median_latency(
                lambda i: big.zrangebyscore(key, (i * 7919) % n / 2, "+inf", start=0, num=10))
        # by rank from the far end: the OFFSET is taken from the nearer end
        return median_latency(lambda i: big.zrange(key, -10, -1))

    small = run("smallz", 1000)
    large = run("bigz", N)
    assert large < small * 4 + 0.001, f"{op}: 1k {small * 1e6:.0f}us, 1M {large * 1e6:.0f}us"


def test_del_does_not_block_other_clients(big, aki_server):
    """Runs last: drops the 1M-member key and watches the background reclaim."""
    path = str(aki_server.workdir / "data.aki")
    rows_before = count_rows(path, "SELECT count(*) FROM zset_members")
    worst = [0.0]
    pings = [0]
    stop = threading.Event()

    def pinger():
        c = aki_server.client()
        while not stop.is_set():
            t = time.perf_counter()
            c.ping()
            worst[0] = max(worst[0], time.perf_counter() - t)
            pings[0] += 1
        c.close()

    th = threading.Thread(target=pinger)
    th.start()
    try:
        time.sleep(0.2)
        t = time.perf_counter()
        assert big.delete("bigz") == 1
        del_time = time.perf_counter() - t
        time.sleep(3)  # reclaim runs meanwhile, in small batches
    finally:
        stop.set()
        th.join()
    assert del_time < 0.1, f"DEL took {del_time:.3f}s"
    assert worst[0] < 0.1, f"a PING waited {worst[0]:.3f}s during reclaim"
    assert pings[0] > 100
    assert big.exists("bigz") == 0 and big.zcard("smallz") > 0
    assert count_rows(path, "SELECT count(*) FROM garbage") <= 1
    assert count_rows(path, "SELECT count(*) FROM zset_members") < rows_before
