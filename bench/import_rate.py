"""Import/export rate: `aki import` and `aki dump` of a DEBUG POPULATE dump, and real
Redis loading the same dump at start-up (until PING answers).

    python bench/import_rate.py [--keys 1000000] [--workdir DIR]

Prints keys/s for the three. The dump is generated once with the real redis-server
(started with --enable-debug-command yes) and reused from the work directory.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REDIS = shutil.which("redis-server") or "/usr/bin/redis-server"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ping_ok(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def redis_cli(port: int, *args: str) -> str:
    return subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True, text=True,
                          check=True).stdout.strip()


def make_dump(workdir: Path, keys: int) -> Path:
    dump = workdir / f"populate-{keys}.rdb"
    if dump.exists():
        return dump
    port = free_port()
    proc = subprocess.Popen([REDIS, "--port", str(port), "--save", "", "--appendonly", "no",
                             "--dir", str(workdir), "--dbfilename", dump.name,
                             "--enable-debug-command", "yes"], stdout=subprocess.DEVNULL)
    try:
        while not ping_ok(port):
            time.sleep(0.05)
        redis_cli(port, "DEBUG", "POPULATE", str(keys))
        redis_cli(port, "SAVE")
    finally:
        proc.terminate()
        proc.wait()
    return dump


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def redis_load_time(dump: Path, workdir: Path) -> float:
    d = workdir / "redis-load"
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir()
    shutil.copy(dump, d / "dump.rdb")
    port = free_port()
    start = time.perf_counter()
    proc = subprocess.Popen([REDIS, "--port", str(port), "--save", "", "--appendonly", "no",
                             "--dir", str(d)], stdout=subprocess.DEVNULL)
    try:
        while not ping_ok(port):
            time.sleep(0.002)
        return time.perf_counter() - start
    finally:
        proc.terminate()
        proc.wait()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys", type=int, default=1_000_000)
    ap.add_argument("--workdir", default=None)
    args = ap.parse_args()
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="aki-bench-import-"))
    workdir.mkdir(parents=True, exist_ok=True)
    dump = make_dump(workdir, args.keys)
    target = workdir / "bench.aki"
    for suffix in ("", "-wal", "-shm"):
        try:
            os.unlink(str(target) + suffix)
        except FileNotFoundError:
            pass
    aki = [sys.executable, "-m", "aki"]
    t_import = timed([*aki, "import", str(dump), "--target", str(target)])
    out = workdir / "aki-dump.rdb"
    t_dump = timed([*aki, "dump", "--file", str(target), "--output", str(out)])
    t_redis = redis_load_time(dump, workdir)
    n = args.keys
    print(f"keys: {n:,} ({dump.stat().st_size / 1e6:.1f} MB RDB), cpus: {os.cpu_count()}")
    print(f"aki import        : {t_import:6.2f} s  {n / t_import:>10,.0f} keys/s")
    print(f"aki dump          : {t_dump:6.2f} s  {n / t_dump:>10,.0f} keys/s")
    print(f"redis-server load : {t_redis:6.2f} s  {n / t_redis:>10,.0f} keys/s (start-up until PING)")


if __name__ == "__main__":
    main()
