"""The WAL buffer (aki._walbuf) in a running server: on by default, counted in INFO,
off with AKI_WALBUF=0, and what a kill -9 leaves is every acknowledged write."""

from __future__ import annotations

import random

import pytest

from tests.conftest import start_aki


def test_on_counted_and_durable_across_kill9(tmp_path):
    srv = start_aki(tmp_path)
    try:
        c = srv.client()
        info = c.info("aki")
        assert info["aki_wal_buffer"] == "on"
        writes, written = info["aki_wal_buffer_writes"], info["aki_wal_buffer_bytes"]
        rnd = random.Random(7)
        model: dict[bytes, float] = {}
        pipe = c.pipeline(transaction=False)
        for i in range(20_000):  # a zset large enough that re-scores dirty many pages
            pipe.zadd("z", {f"m{i}": i})
            model[f"m{i}".encode()] = float(i)
        pipe.execute()
        for _ in range(20):  # batches of random re-scores: each commit spans many pages
            pipe = c.pipeline(transaction=False)
            for _ in range(300):
                m = f"m{rnd.randrange(20_000)}"
                s = rnd.randrange(1_000_000)
                pipe.zadd("z", {m: s})
                model[m.encode()] = float(s)
            assert len(pipe.execute()) == 300  # acknowledged
        info = c.info("aki")
        frames = (info["aki_wal_buffer_bytes"] - written) // (4096 + 24)
        calls = info["aki_wal_buffer_writes"] - writes
        assert frames > 1000 and 0 < calls < frames  # SQLite alone: two calls per frame
        srv.stop("kill")  # kill -9: no checkpoint, the WAL holds the commits
        srv = start_aki(tmp_path)
        c = srv.client()
        assert dict(c.zrange("z", 0, -1, withscores=True)) == model
    finally:
        srv.stop()


def test_off_with_the_switch(tmp_path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AKI_WALBUF", "0")
    srv = start_aki(tmp_path)
    try:
        c = srv.client()
        c.set("k", "v")
        info = c.info("aki")
        assert info["aki_wal_buffer"] == "off" and info["aki_wal_buffer_writes"] == 0
    finally:
        srv.stop()
