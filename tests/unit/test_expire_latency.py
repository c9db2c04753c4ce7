"""LATENCY events of expiry: "expire-del" for each expired key deleted, recorded as Redis's
latencyAddSampleIfNeeded does (only at or over latency-monitor-threshold)."""

from __future__ import annotations

import time


def test_expire_del_samples_reach_the_latency_monitor(run):
    server = run.server
    samples = []
    server.ks.on_latency = lambda event, ms: samples.append((event, ms))

    run("SET", "k", "v", "PX", 1)
    time.sleep(0.01)
    assert run("GET", "k") is None  # lazily expired
    assert [e for e, _ in samples] == ["expire-del"] and samples[0][1] >= 0
    # the server's own hook keeps only samples at or over the threshold
    server.add_latency("expire-del", 0)
    assert "expire-del" not in server.latency_events
    run("CONFIG", "SET", "latency-monitor-threshold", 5)
    server.add_latency("expire-del", 3)
    server.add_latency("expire-cycle", 7)
    assert list(server.latency_events) == ["expire-cycle"]
