"""Benchmark runner: real redis-server and aki side by side, same load, one run.

    python bench/run.py                      # appendfsync everysec on both
    python bench/run.py --fsync always       # appendfsync always on both
    python bench/run.py --tests set,get -n 100000 --pipelines 1
    python bench/run.py --repeat 5           # median of 5 alternating runs per line
    python bench/run.py --tests set,get --ceiling  # also bench/ceiling.py's minimal servers
    python bench/run.py --tests set,set_changing   # SET of a constant value, and of new ones

Redis runs with AOF (``appendonly yes``) and the same fsync policy, so both
promise the same durability. Each workload is ``redis-benchmark -r 100000
-n N -c 50 -P p -t <test>`` against each server in turn; the table prints
requests/s for both and the ratio aki/Redis. On a shared machine one run moves by
±25 %: ``--repeat`` alternates Redis and aki that many times per line and reports
the median of each and the lowest and highest of the per-pair ratios. ``--ceiling``
adds two minimal servers to the SET/GET rotation (bench/ceiling.py: uvloop + hiredis
over a dict, and over SQLite with aki's group commit): the most a Python server of
aki's design can reach on this machine at the time of the run.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_TESTS = "set,get,incr,mset,lpush,rpop,sadd,hset,zadd,lrange_100"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} did not open")


def start_redis(workdir: Path, fsync: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(workdir),
         "--appendonly", "yes", "--appendfsync", fsync, "--save", ""],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    wait_port(port)
    return proc, port


def start_aki(workdir: Path, fsync: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "aki", "server", "--port", str(port),
         "--dbfile", str(workdir / "bench.aki"), "--appendfsync", fsync, "--loglevel", "warning"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    wait_port(port)
    return proc, port


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()


# Workloads redis-benchmark has no -t name for, as custom commands. SET_CHANGING writes a
# new value each time: `-t set` always writes "xxx", and SQLite does not rewrite a cell
# whose bytes are unchanged, so on existing keys `-t set` measures no page writes.
CUSTOM = {"set_changing": ["SET", "key:__rand_int__", "v__rand_int__"]}


def redis_benchmark(port: int, test: str, n: int, clients: int, pipeline: int) -> float:
    what = CUSTOM.get(test) or ["-t", test]
    out = subprocess.run(
        ["redis-benchmark", "-p", str(port), "-r", "100000", "-n", str(n), "-c", str(clients),
         "-P", str(pipeline), "--csv", *what],
        capture_output=True, text=True, check=True,
    ).stdout
    rows = list(csv.reader(io.StringIO(out)))
    if test in CUSTOM:
        return float(rows[1][1])
    # Some tests print a preparation row first ("LPUSH (needed to benchmark LRANGE)"
    # before "LRANGE_100 (first 100 elements)"): take the row named after the test.
    for row in rows[1:]:
        if row and row[0].split(" ")[0].upper() == test.upper():
            return float(row[1])
    raise RuntimeError(f"no result for {test}: {out!r}")


def zrangebyscore(port: int, n: int, clients: int, pipeline: int, members: int = 100_000) -> float:
    """ZRANGEBYSCORE with LIMIT on a 100,000-member zset (filled first, not timed)."""
    import redis

    r = redis.Redis(port=port)
    r.delete("bench:zset")
    pipe = r.pipeline(transaction=False)
    for i in range(0, members, 1000):
        pipe.zadd("bench:zset", {f"m{j}": j for j in range(i, i + 1000)})
    pipe.execute()
    out = subprocess.run(
        ["redis-benchmark", "-p", str(port), "-n", str(n), "-c", str(clients), "-P", str(pipeline),
         "-r", str(members - 100), "--csv",
         "ZRANGEBYSCORE", "bench:zset", "__rand_int__", "+inf", "LIMIT", "0", "10"],
        capture_output=True, text=True, check=True,
    ).stdout
    rows = list(csv.reader(io.StringIO(out)))
    return float(rows[1][1])


def start_ceiling(kind: str, workdir: Path) -> tuple[subprocess.Popen, int]:
    """bench/ceiling.py: the least a Python server does for SET/GET (see its docstring)."""
    port = free_port()
    argv = [sys.executable, str(Path(__file__).with_name("ceiling.py")), kind, str(port)]
    if kind == "sqlite":
        argv.append(str(workdir / "ceiling.db"))
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    return proc, port


CEILING_TESTS = {"set", "get", "set_changing"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fsync", default="everysec", choices=["always", "everysec", "no"])
    ap.add_argument("--tests", default=DEFAULT_TESTS)
    ap.add_argument("-n", type=int, default=200_000)
    ap.add_argument("-c", "--clients", type=int, default=50)
    ap.add_argument("--pipelines", default="1,16")
    ap.add_argument("--zrange", action="store_true", help="add ZRANGEBYSCORE on a 100k zset")
    ap.add_argument("--repeat", type=int, default=1,
                    help="alternate the servers this many times per line; report medians")
    ap.add_argument("--ceiling", action="store_true",
                    help="for SET/GET also run bench/ceiling.py (dict and sqlite) in the rotation")
    opts = ap.parse_args()
    if not shutil.which("redis-benchmark"):
        sys.exit("redis-benchmark not found: apt-get install redis-tools")
    tmp = Path(tempfile.mkdtemp(prefix="aki-bench-"))
    (tmp / "redis").mkdir()
    (tmp / "aki").mkdir()
    procs = {"redis": start_redis(tmp / "redis", opts.fsync), "aki": start_aki(tmp / "aki", opts.fsync)}
    if opts.ceiling:
        procs["dict"] = start_ceiling("dict", tmp)
        procs["sqlite"] = start_ceiling("sqlite", tmp)
    results: list[tuple[str, int, dict[str, float], dict[str, tuple[float, float]]]] = []
    try:
        for p in [int(x) for x in opts.pipelines.split(",")]:
            for test in opts.tests.split(","):
                names = [k for k in procs if k in ("redis", "aki") or test in CEILING_TESTS]
                runs = [{k: redis_benchmark(procs[k][1], test, opts.n, opts.clients, p)
                         for k in names} for _ in range(opts.repeat)]
                report(results, test.upper(), p, runs)
            if opts.zrange:
                n = max(opts.n // 4, 10_000)
                runs = [{k: zrangebyscore(procs[k][1], n, opts.clients, p) for k in ("redis", "aki")}
                        for _ in range(opts.repeat)]
                report(results, "ZRANGEBYSCORE", p, runs)
    finally:
        for proc, _port in procs.values():
            stop(proc)
        shutil.rmtree(tmp, ignore_errors=True)
    print()
    print(f"appendfsync {opts.fsync}, -c {opts.clients}, -n {opts.n}, -r 100000"
          + (f", median of {opts.repeat} alternating runs" if opts.repeat > 1 else ""))
    spread = opts.repeat > 1
    extra = [k for k in procs if k not in ("redis", "aki")]
    print("| workload | -P | redis req/s | aki req/s | aki/redis |"
          + (" ratio range |" if spread else "") + "".join(f" {k} ceiling/redis |" for k in extra))
    print("| --- | --- | --- | --- | --- |" + (" --- |" if spread else "") + " --- |" * len(extra))
    for name, p, med, rng in results:
        red = med["redis"]
        line = f"| {name} | {p} | {red:,.0f} | {med['aki']:,.0f} | {med['aki'] / red:.2f} |"
        if spread:
            lo, hi = rng["aki"]
            line += f" {lo:.2f}-{hi:.2f} |"
        line += "".join(f" {med[k] / red:.2f} |" if k in med else " |" for k in extra)
        print(line)


def report(results: list, name: str, p: int, runs: list[dict[str, float]]) -> None:
    """Record one line: each server's median req/s and its range of per-run ratios to Redis
    (each run pairs the servers measured back to back)."""
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    rng = {k: (min(r[k] / r["redis"] for r in runs), max(r[k] / r["redis"] for r in runs))
           for k in runs[0]}
    results.append((name, p, med, rng))
    red = med["redis"]
    print(f"{name:<12} -P {p:<3} redis {red:>11,.0f}/s  "
          + "  ".join(f"{k} {v:>11,.0f}/s ({v / red:4.2f})" for k, v in med.items() if k != "redis"),
          flush=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
