"""LATENCY HISTOGRAM and INFO latencystats against real redis-server.

Durations differ between the two servers, so what is compared is everything that does
not depend on them: which commands have a distribution, their call counts, the
bucket labels (Redis's powers of two), the percentile fields, and the directives.
"""

from __future__ import annotations

import redis

BUCKETS = {1, 2, 4, 8, 16, 33, 66, 132, 264, 528, 1056, 2113, 4227, 8454, 16908, 33816, 67633,
           135266, 270532, 541065, 1073741}


def histogram(c: redis.Redis, *names: str) -> dict:
    """{command: (calls, [(bucket, cumulative calls), ...])} (redis-py parses the maps)."""
    raw = c.execute_command("LATENCY", "HISTOGRAM", *names)
    return {name: (body[b"calls"], list(body[b"histogram_usec"].items()))
            for name, body in raw.items()}


def shape(h: dict) -> dict:
    for calls, buckets in h.values():
        assert buckets and buckets[-1][1] == calls
        assert all(b in BUCKETS for b, _ in buckets)
        counts = [n for _, n in buckets]
        assert counts == sorted(set(counts))  # cumulative, empty buckets left out
    return {name: calls for name, (calls, _) in h.items()}


def latencystats(raw) -> dict:
    """{field: [percentile names]} from INFO latencystats, read off a raw connection."""
    text = raw.cmd("INFO", "latencystats").decode()
    out = {}
    for line in text.split("\r\n")[2:]:  # the bulk length, then "# Latencystats"
        if not line:
            continue
        name, _, fields = line.partition(":")
        out[name] = [f.split("=")[0] for f in fields.split(",") if f]
        assert all(float(f.split("=")[1]) > 0 for f in fields.split(",") if f)
    return out


def run_both(r, rr, *cmds) -> None:
    for c in (r, rr):
        c.execute_command("CONFIG", "RESETSTAT")
        for cmd in cmds:
            try:
                c.execute_command(*cmd)
            except redis.ResponseError:
                pass


WORK = [("SET", "k", "v"), ("GET", "k"), ("GET", "k"), ("INCR", "n"), ("LPUSH", "l", "a"),
        ("CONFIG", "GET", "maxmemory"), ("CLIENT", "ID"), ("GET", "k", "extra"),
        ("HSET", "k", "f", "v")]


def test_histogram_matches_in_shape(r, rr):
    run_both(r, rr, *WORK)
    got, want = shape(histogram(r)), shape(histogram(rr))
    # a rejected call (wrong arity) is not a call; a failed one (WRONGTYPE) is
    assert got == want
    assert got[b"get"] == 2 and got[b"hset"] == 1 and got[b"config|get"] == 1
    assert shape(histogram(r, "get", "CONFIG", "nosuch", "client|id")) == \
        shape(histogram(rr, "get", "CONFIG", "nosuch", "client|id"))
    assert histogram(r, "nosuch") == histogram(rr, "nosuch") == {}


def test_latencystats_percentiles(r, rr, pair):
    run_both(r, rr, *WORK)
    assert latencystats(pair.a) == latencystats(pair.r)
    try:
        for c in (r, rr):
            c.config_set("latency-tracking-info-percentiles", "0 12.5 100")
        assert latencystats(pair.a) == latencystats(pair.r)
        assert latencystats(pair.a)["latency_percentiles_usec_get"] == ["p0", "p12.5", "p100"]
        for c in (r, rr):
            c.config_set("latency-tracking-info-percentiles", "")
        assert latencystats(pair.a) == latencystats(pair.r)
        assert latencystats(pair.a)["latency_percentiles_usec_get"] == []
    finally:
        for c in (r, rr):
            c.config_set("latency-tracking-info-percentiles", "50 99 99.9")


def test_tracking_off(r, rr, pair):
    run_both(r, rr)
    try:
        for c in (r, rr):
            c.config_set("latency-tracking", "no")
            c.get("k")
        assert latencystats(pair.a) == latencystats(pair.r) == {}
        assert shape(histogram(r)) == shape(histogram(rr)) == {b"config|resetstat": 1}
    finally:
        for c in (r, rr):
            c.config_set("latency-tracking", "yes")


def test_percentiles_directive(pair):
    for value in ("50.0 1e1 0x10", "abc", "101", "-1", "nan", "inf", "1_0", " 50", "",
                  "99.99 0 100"):
        pair.same("CONFIG", "SET", "latency-tracking-info-percentiles", value)
        pair.same("CONFIG", "GET", "latency-tracking-info-percentiles")
    pair.same("CONFIG", "SET", "latency-tracking-info-percentiles", "50 99 99.9")
    pair.same("LATENCY", "HISTOGRAM", "nosuch")
