"""``aki bench``: redis-benchmark load against one server, or aki beside real Redis.

    aki bench                                  # the server on 127.0.0.1:6379
    aki bench -p 6380 -t set,get -P 16         # another port, pipelined
    aki bench --compare                        # start redis-server and aki, print aki/Redis
    aki bench --compare --fsync always --repeat 3 --zrange

The load is ``redis-benchmark`` (Debian package ``redis-tools``), the tool Redis users
already trust, so a number here means what it means for Redis. ``--compare`` starts a
real ``redis-server`` with AOF and the same ``appendfsync`` as aki (both promise the
same durability) and an aki on a fresh file, runs each workload against each in turn
and prints requests/s and the ratio aki/Redis: the table in the README comes from it
(``bench/run.py`` is the same runner, with the ceiling servers added). On a shared
machine one run moves by ±25 %: ``--repeat`` alternates the servers that many times per
line and reports medians and the range of the per-pair ratios.
"""

from __future__ import annotations

import csv
import io
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import click

DEFAULT_TESTS = "set,get,incr,mset,lpush,rpop,sadd,hset,zadd,lrange_100"
KEYSPACE = 100_000  # redis-benchmark -r

# Workloads redis-benchmark has no -t name for, as custom commands. SET_CHANGING writes a
# new value each time: `-t set` always writes "xxx", and SQLite does not rewrite a cell
# whose bytes are unchanged, so on existing keys `-t set` measures no page writes.
CUSTOM = {"set_changing": ["SET", "key:__rand_int__", "v__rand_int__"]}


class BenchError(Exception):
    """A server or redis-benchmark failed: the message says which and why."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen | None = None, timeout: float = 30) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise BenchError(f"{proc.args[0]} exited with code {proc.returncode} before listening")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise BenchError(f"port {port} did not open within {timeout:.0f} s")


def start_redis(workdir: Path, fsync: str) -> tuple[subprocess.Popen, int]:
    """A real redis-server with AOF under ``fsync``, no RDB snapshots."""
    port = free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(workdir),
         "--appendonly", "yes", "--appendfsync", fsync, "--save", ""],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    wait_port(port, proc)
    return proc, port


def start_aki(workdir: Path, fsync: str) -> tuple[subprocess.Popen, int]:
    """This aki (the same interpreter) on a fresh file in ``workdir``."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "aki", "server", "--port", str(port),
         "--dbfile", str(workdir / "bench.aki"), "--appendfsync", fsync, "--loglevel", "warning"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    wait_port(port, proc)
    return proc, port


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@dataclass
class Target:
    """Where redis-benchmark connects."""

    port: int
    host: str = "127.0.0.1"
    password: str | None = None

    def check(self) -> None:
        """PING it first: redis-benchmark waits forever on a port nobody listens on, and
        prints an AUTH failure as a result line."""
        import redis

        try:
            with redis.Redis(host=self.host, port=self.port, password=self.password,
                             socket_timeout=10, socket_connect_timeout=5) as r:
                r.ping()
        except redis.AuthenticationError as exc:  # (a ConnectionError too)
            raise BenchError(f"{self.host}:{self.port} refused PING: {exc}") from exc
        except redis.ConnectionError as exc:
            raise BenchError(f"cannot connect to {self.host}:{self.port}: {exc}") from exc
        except redis.RedisError as exc:
            raise BenchError(f"{self.host}:{self.port} refused PING: {exc}") from exc

    def args(self) -> list[str]:
        out = ["-h", self.host, "-p", str(self.port)]
        return out + (["-a", self.password] if self.password else [])


def _run(argv: list[str]) -> list[list[str]]:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=3600)
    except FileNotFoundError as exc:
        raise BenchError("redis-benchmark not found: install it (Debian: apt-get install "
                         "redis-tools)") from exc
    if done.returncode != 0:
        raise BenchError(f"redis-benchmark failed ({done.returncode}): "
                         f"{(done.stderr or done.stdout).strip()[:300]}")
    rows = [r for r in csv.reader(io.StringIO(done.stdout)) if r]
    if len(rows) < 2 or rows[0][:2] != ["test", "rps"]:
        # e.g. an AUTH error: redis-benchmark prints it and no CSV
        raise BenchError(f"redis-benchmark gave no result: {(done.stdout + done.stderr).strip()[:300]}")
    return rows


def redis_benchmark(target: Target, test: str, n: int, clients: int, pipeline: int,
                    keyspace: int = KEYSPACE) -> float:
    """Requests per second of one redis-benchmark workload (a ``-t`` name or CUSTOM)."""
    what = CUSTOM.get(test) or ["-t", test]
    rows = _run(["redis-benchmark", *target.args(), "-r", str(keyspace), "-n", str(n),
                 "-c", str(clients), "-P", str(pipeline), "--csv", *what])
    if test in CUSTOM:
        return float(rows[1][1])
    # Some tests print a preparation row first ("LPUSH (needed to benchmark LRANGE)"
    # before "LRANGE_100 (first 100 elements)"): take the row named after the test.
    named = {row[0].split(" ")[0].upper(): float(row[1]) for row in rows[1:]}
    if test.upper() in named:
        return named[test.upper()]
    if test.upper() + "_MBULK" in named:  # -t ping: PING_INLINE and PING_MBULK
        return named[test.upper() + "_MBULK"]
    raise BenchError(f"redis-benchmark printed no {test.upper()} line (is it a -t name?)")


def zrangebyscore(target: Target, n: int, clients: int, pipeline: int,
                  members: int = 100_000) -> float:
    """ZRANGEBYSCORE with LIMIT on a 100,000-member zset (filled first, not timed)."""
    import redis

    r = redis.Redis(host=target.host, port=target.port, password=target.password)
    r.delete("bench:zset")
    pipe = r.pipeline(transaction=False)
    for i in range(0, members, 1000):
        pipe.zadd("bench:zset", {f"m{j}": j for j in range(i, i + 1000)})
    pipe.execute()
    r.close()
    rows = _run(["redis-benchmark", *target.args(), "-n", str(n), "-c", str(clients),
                 "-P", str(pipeline), "-r", str(members - 100), "--csv",
                 "ZRANGEBYSCORE", "bench:zset", "__rand_int__", "+inf", "LIMIT", "0", "10"])
    return float(rows[1][1])


@dataclass
class Line:
    """One workload at one pipeline depth: each server's median req/s over the runs and
    the range of the per-run ratios to Redis (each run pairs the servers back to back)."""

    name: str
    pipeline: int
    median: dict[str, float]
    spread: dict[str, tuple[float, float]]


def summarize(name: str, pipeline: int, runs: list[dict[str, float]]) -> Line:
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    rng = {k: (min(r[k] / r["redis"] for r in runs), max(r[k] / r["redis"] for r in runs))
           for k in runs[0]}
    return Line(name, pipeline, med, rng)


def compare(tests: list[str], n: int, clients: int, pipelines: list[int], fsync: str,
            repeat: int = 1, zrange: bool = False,
            extra: dict[str, tuple[Callable[[Path], tuple[subprocess.Popen, int]], set[str]]]
            | None = None,
            echo: Callable[[str], None] = print) -> list[Line]:
    """Start redis-server and aki (and ``extra`` servers, each with the tests it can
    run), run every workload against each in turn ``repeat`` times, return the lines."""
    if not shutil.which("redis-server"):
        raise BenchError("redis-server not found: install it (Debian: apt-get install redis-server)")
    tmp = Path(tempfile.mkdtemp(prefix="aki-bench-"))
    (tmp / "redis").mkdir()
    (tmp / "aki").mkdir()
    procs: dict[str, tuple[subprocess.Popen, int]] = {}
    lines: list[Line] = []
    try:
        procs["redis"] = start_redis(tmp / "redis", fsync)
        procs["aki"] = start_aki(tmp / "aki", fsync)
        for name, (start, _tests) in (extra or {}).items():
            procs[name] = start(tmp)
        def line(name: str, p: int, names: list[str], bench: Callable[[Target], float]) -> None:
            runs = [{k: bench(Target(procs[k][1])) for k in names} for _ in range(repeat)]
            lines.append(summarize(name, p, runs))
            echo(progress_line(lines[-1]))

        for p in pipelines:
            for test in tests:
                names = [k for k in procs if k in ("redis", "aki") or test in (extra or {})[k][1]]
                line(test.upper(), p, names,
                     lambda t, test=test, p=p: redis_benchmark(t, test, n, clients, p))
            if zrange:
                line("ZRANGEBYSCORE", p, ["redis", "aki"],
                     lambda t, p=p: zrangebyscore(t, max(n // 4, 10_000), clients, p))
    finally:
        for proc, _port in procs.values():
            stop(proc)
        shutil.rmtree(tmp, ignore_errors=True)
    return lines


def progress_line(line: Line) -> str:
    med = line.median
    red = med["redis"]
    return (f"{line.name:<14} -P {line.pipeline:<3} redis {red:>11,.0f}/s  "
            + "  ".join(f"{k} {v:>11,.0f}/s ({v / red:4.2f})" for k, v in med.items() if k != "redis"))


def comparison_table(lines: list[Line], repeat: int, fsync: str, clients: int, n: int) -> list[str]:
    """The run's settings, then the Markdown table the README shows."""
    spread = repeat > 1
    extra = sorted({k for ln in lines for k in ln.median} - {"redis", "aki"})
    out = [f"appendfsync {fsync}, -c {clients}, -n {n}, -r {KEYSPACE}"
           + (f", median of {repeat} alternating runs" if spread else ""),
           "| workload | -P | redis req/s | aki req/s | aki/redis |"
           + (" ratio range |" if spread else "") + "".join(f" {k} ceiling/redis |" for k in extra),
           "| --- | --- | --- | --- | --- |" + (" --- |" if spread else "") + " --- |" * len(extra)]
    for ln in lines:
        red, aki = ln.median["redis"], ln.median["aki"]
        row = f"| {ln.name} | {ln.pipeline} | {red:,.0f} | {aki:,.0f} | {aki / red:.2f} |"
        if spread:
            lo, hi = ln.spread["aki"]
            row += f" {lo:.2f}-{hi:.2f} |"
        row += "".join(f" {ln.median[k] / red:.2f} |" if k in ln.median else " |" for k in extra)
        out.append(row)
    return out


def _split(text: str) -> list[str]:
    return [t.strip().lower() for t in text.split(",") if t.strip()]


def register(cli: click.Group) -> None:
    @cli.command("bench")
    @click.option("--host", default="127.0.0.1", show_default=True,
                  help="server to load (ignored with --compare)")
    @click.option("-p", "--port", type=int, default=6379, show_default=True)
    @click.option("-a", "--password", help="AUTH password of that server")
    @click.option("-t", "--tests", default=DEFAULT_TESTS, show_default=True,
                  help="redis-benchmark -t names, comma separated (and set_changing)")
    @click.option("-n", "requests", type=int, default=200_000, show_default=True,
                  help="requests per workload")
    @click.option("-c", "--clients", type=int, default=50, show_default=True)
    @click.option("-P", "--pipelines", default="1,16", show_default=True,
                  help="pipeline depths, comma separated")
    @click.option("--compare", "side_by_side", is_flag=True,
                  help="start redis-server and aki side by side and print aki/Redis")
    @click.option("--fsync", type=click.Choice(["always", "everysec", "no"]), default="everysec",
                  show_default=True, help="appendfsync of both servers (--compare)")
    @click.option("--repeat", type=int, default=1, show_default=True,
                  help="alternate the servers this many times per line; report medians (--compare)")
    @click.option("--zrange", is_flag=True, help="add ZRANGEBYSCORE on a 100,000-member zset")
    def bench_cmd(host: str, port: int, password: str | None, tests: str, requests: int,
                  clients: int, pipelines: str, side_by_side: bool, fsync: str, repeat: int,
                  zrange: bool) -> None:
        """Run redis-benchmark against a server, or (--compare) aki against real Redis."""
        try:
            depths = [int(x) for x in pipelines.split(",") if x.strip()]
        except ValueError:
            raise click.BadParameter(f"not a list of integers: {pipelines!r}",
                                     param_hint="-P/--pipelines") from None
        names = _split(tests)
        if not names or not depths or requests < 1 or clients < 1 or repeat < 1 \
                or min(depths) < 1:
            raise click.UsageError("tests, pipelines, -n, -c and --repeat must be non-empty/positive")
        if not shutil.which("redis-benchmark"):
            click.echo("aki bench: redis-benchmark not found: install it "
                       "(Debian: apt-get install redis-tools)", err=True)
            sys.exit(2)
        try:
            if side_by_side:
                lines = compare(names, requests, clients, depths, fsync, repeat, zrange)
                click.echo()
                for row in comparison_table(lines, repeat, fsync, clients, requests):
                    click.echo(row)
                return
            target = Target(port, host, password)
            target.check()
            rows = ["| workload | -P | req/s |", "| --- | --- | --- |"]
            for p in depths:
                for test in names:
                    rps = redis_benchmark(target, test, requests, clients, p)
                    click.echo(f"{test.upper():<14} -P {p:<3} {rps:>11,.0f}/s")
                    rows.append(f"| {test.upper()} | {p} | {rps:,.0f} |")
                if zrange:
                    rps = zrangebyscore(target, max(requests // 4, 10_000), clients, p)
                    click.echo(f"{'ZRANGEBYSCORE':<14} -P {p:<3} {rps:>11,.0f}/s")
                    rows.append(f"| ZRANGEBYSCORE | {p} | {rps:,.0f} |")
            click.echo()
            click.echo(f"{host}:{port}, -c {clients}, -n {requests}, -r {KEYSPACE}")
            for row in rows:
                click.echo(row)
        except BenchError as exc:
            click.echo(f"aki bench: {exc}", err=True)
            sys.exit(1)
