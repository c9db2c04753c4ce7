"""``aki bench``: redis-benchmark load against a running aki, and the side-by-side runner."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import start_aki


def aki(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "aki", *args], capture_output=True, text=True,
                          timeout=300)


def _table(stdout: str) -> dict[tuple[str, int], list[str]]:
    rows = {}
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and cells[1].isdigit():
            rows[(cells[0], int(cells[1]))] = cells[2:]
    return rows


def _rate(cell: str) -> float:
    return float(cell.replace(",", ""))


def test_bench_loads_a_running_server(aki_server):
    r = aki_server.client()
    r.flushall()
    res = aki("bench", "--port", str(aki_server.port), "-t", "set,get,lpush", "-n", "2000",
              "-c", "4", "-P", "1,8")
    assert res.returncode == 0, res.stderr
    rows = _table(res.stdout)
    assert set(rows) == {(t, p) for t in ("SET", "GET", "LPUSH") for p in (1, 8)}
    assert all(_rate(cells[0]) > 0 for cells in rows.values())
    # the load really went to that server: redis-benchmark's keys and list are there
    assert r.exists("key:__rand_int__") or r.dbsize() > 1
    assert r.llen("mylist") == 4000


def test_bench_with_a_password(tmp_path):
    srv = start_aki(tmp_path, "--requirepass", "s3cret")
    try:
        ok = aki("bench", "--port", str(srv.port), "-a", "s3cret", "-t", "ping", "-n", "500",
                 "-c", "2", "-P", "1")
        assert ok.returncode == 0, ok.stderr
        assert _rate(_table(ok.stdout)[("PING", 1)][0]) > 0
        bad = aki("bench", "--port", str(srv.port), "-t", "set", "-n", "500", "-c", "2", "-P", "1")
        assert bad.returncode == 1
        assert "refused PING" in bad.stderr and "authenticated" in bad.stderr
    finally:
        srv.stop()


def test_bench_compare_prints_ratios():
    res = aki("bench", "--compare", "-t", "set,get", "-n", "2000", "-c", "4", "-P", "1",
              "--repeat", "2", "--zrange")
    assert res.returncode == 0, res.stderr
    assert "appendfsync everysec, -c 4, -n 2000" in res.stdout
    rows = _table(res.stdout)
    assert set(rows) == {("SET", 1), ("GET", 1), ("ZRANGEBYSCORE", 1)}
    for redis_rate, aki_rate, ratio, spread in rows.values():
        assert abs(_rate(aki_rate) / _rate(redis_rate) - float(ratio)) < 0.011
        lo, hi = map(float, spread.split("-"))
        assert lo <= hi


def test_bench_bad_arguments():
    res = aki("bench", "-P", "one")
    assert res.returncode == 2
    assert "not a list of integers" in res.stderr
    res = aki("bench", "-n", "0")
    assert res.returncode == 2
    res = aki("bench", "--port", "1", "-t", "set", "-n", "10", "-P", "1")
    assert res.returncode == 1
    assert "aki bench: cannot connect to 127.0.0.1:1" in res.stderr
