"""Big hashes and sets: a 1,000,000-field hash and a 1,000,000-member set.

Point operations (HGET/HSET/SISMEMBER/SADD) must cost the same on a 1M-element key
as on a 1k-element one (one indexed statement each), and DEL of the big key must
not stall other clients: its rows are reclaimed in the background (garbage table
+ server cron), which this test watches finish through a read-only connection.
"""

from __future__ import annotations

import random
import statistics
import threading
import time

import apsw
import pytest

N = 1_000_000
BATCH = 1000


def build(client, cmd: str, key: str, n: int, pairs: bool) -> None:
    pipe = client.pipeline(transaction=False)
    for start in range(0, n, BATCH):
        args = []
        for i in range(start, min(start + BATCH, n)):
            args.append(f"f{i}")
            if pairs:
                args.append(i)
        pipe.execute_command(cmd, key, *args)
        if len(pipe) >= 50:
            pipe.execute()
    pipe.execute()


def median_latency(fn, ops: int = 1500) -> float:
    samples = []
    for _ in range(ops):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples)


def element_rows(path: str, table: str) -> int:
    conn = apsw.Connection(path, flags=apsw.SQLITE_OPEN_READONLY)
    try:
        conn.setbusytimeout(5000)
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    finally:
        conn.close()


def garbage_rows(path: str) -> int:
    conn = apsw.Connection(path, flags=apsw.SQLITE_OPEN_READONLY)
    try:
        conn.setbusytimeout(5000)
        return conn.execute("SELECT count(*) FROM garbage").fetchone()[0]
    finally:
        conn.close()


@pytest.fixture(scope="module")
def big(aki_server):
    c = aki_server.client()
    c.flushall()
    build(c, "HSET", "smallh", 1000, True)
    build(c, "SADD", "smalls", 1000, False)
    build(c, "HSET", "bigh", N, True)
    build(c, "SADD", "bigs", N, False)
    yield c
    c.close()


def test_sizes_and_encodings(big):
    assert big.hlen("bigh") == N and big.scard("bigs") == N
    assert big.hget("bigh", f"f{N - 1}") == str(N - 1).encode()
    assert big.sismember("bigs", "f123456") == 1
    assert big.object("encoding", "bigh") == b"hashtable"
    assert big.object("encoding", "bigs") == b"hashtable"


@pytest.mark.parametrize("op", ["hget", "hset", "sismember", "sadd"])
def test_point_latency_is_flat(big, op):
    rnd = random.Random(1)

    def run(small: bool):
        key_h, key_s = ("smallh", "smalls") if small else ("bigh", "bigs")
        size = 1000 if small else N
        if op == "hget":
            return lambda: big.hget(key_h, f"f{rnd.randrange(size)}")
        if op == "hset":
            return lambda: big.hset(key_h, f"f{rnd.randrange(size)}", "x")
        if op == "sismember":
            return lambda: big.sismember(key_s, f"f{rnd.randrange(size)}")
        return lambda: big.sadd(key_s, f"n{rnd.randrange(10**9)}")

    small = median_latency(run(True))
    large = median_latency(run(False))
    assert large < small * 3 + 0.0002, f"{op}: 1k {small * 1e6:.0f}us, 1M {large * 1e6:.0f}us"


def test_random_and_scan_on_big_keys(big):
    assert big.hrandfield("bigh") is not None
    got = big.hrandfield("bigh", 5, withvalues=True)
    assert len(got) == 10
    assert len(set(big.srandmember("bigs", 20))) == 20
    assert len(big.srandmember("bigs", -20)) == 20
    cursor, items = big.sscan("bigs", 0, count=100)
    assert cursor != 0 and len(items) >= 100
    cursor, items = big.hscan("bigh", 0, count=100)
    assert cursor != 0 and len(items) >= 100
    before = big.scard("bigs")
    popped = big.spop("bigs", 10)
    assert len(set(popped)) == 10 and big.scard("bigs") == before - 10
    assert not any(big.smismember("bigs", popped))
    big.sadd("bigs", *popped)


def test_del_of_big_keys_does_not_block(big, aki_server):
    path = str(aki_server.workdir / "data.aki")
    other = aki_server.client()
    worst = [0.0]
    stop = threading.Event()

    def pinger():
        while not stop.is_set():
            t = time.perf_counter()
            other.ping()
            worst[0] = max(worst[0], time.perf_counter() - t)
            time.sleep(0.002)

    big.config_set("hz", 100)
    th = threading.Thread(target=pinger)
    th.start()
    try:
        t = time.perf_counter()
        assert big.delete("bigh", "bigs") == 2
        del_time = time.perf_counter() - t
        assert big.exists("bigh", "bigs") == 0
        assert garbage_rows(path) >= 1 or element_rows(path, "set_members") < N
        # the cron reclaims the rows in small steps; the server stays responsive
        deadline = time.time() + 60
        while time.time() < deadline and garbage_rows(path):
            time.sleep(0.5)
        assert garbage_rows(path) == 0
    finally:
        stop.set()
        th.join()
        big.config_set("hz", 10)
        other.close()
    assert del_time < 0.1, f"DEL took {del_time:.3f}s"
    assert worst[0] < 0.1, f"PING stalled {worst[0]:.3f}s while the big keys were reclaimed"
    assert element_rows(path, "hash_fields") == big.hlen("smallh")
    assert element_rows(path, "set_members") == big.scard("smalls")
