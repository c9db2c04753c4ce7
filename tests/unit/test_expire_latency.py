"""LATENCY events of expiry: "expire-del" for each expired key deleted, recorded as Redis's
latencyAddSampleIfNeeded does (only at or over latency-monitor-threshold)."""

from __future__ import annotations

import time

from aki.commands import load_all
from aki.config import Config
from aki.core.dispatch import call, resolve
from aki.core.session import Client
from aki.core.state import Server


def test_expire_del_samples_reach_the_latency_monitor(tmp_path):
    load_all()
    cfg = Config()
    cfg.dbfile = str(tmp_path / "l.aki")
    server = Server(cfg)
    client = Client(server)
    samples = []
    server.ks.on_latency = lambda event, ms: samples.append((event, ms))

    def run(*args):
        argv = [str(a).encode() for a in args]
        server.engine.begin()
        reply = call(client, resolve(client, argv), argv)
        server.engine.commit()
        return reply

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
    server.engine.close()
