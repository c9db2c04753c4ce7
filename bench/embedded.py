"""Embedded set/get per second: aki.open() against sqlitedict, diskcache, and redis-py
talking to a real local redis-server (AOF everysec), in one run.

    pip install -e '.[bench]'
    python bench/embedded.py [-n 20000]
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def timed(n: int, fn) -> float:
    start = time.perf_counter()
    for i in range(n):
        fn(i)
    return n / (time.perf_counter() - start)


def bench_aki(tmp: Path, n: int, fsync: str) -> tuple[float, float]:
    import aki

    tmp.mkdir(parents=True, exist_ok=True)
    db = aki.open(tmp / "bench.aki", appendfsync=fsync)
    value = b"x" * 100
    s = timed(n, lambda i: db.set(b"key:%d" % i, value))
    g = timed(n, lambda i: db.get(b"key:%d" % i))
    db.close()
    return s, g


def bench_sqlitedict(tmp: Path, n: int) -> tuple[float, float]:
    from sqlitedict import SqliteDict

    d = SqliteDict(str(tmp / "sd.sqlite"), autocommit=True)
    value = b"x" * 100

    def put(i: int) -> None:
        d[f"key:{i}"] = value

    s = timed(n, put)
    g = timed(n, lambda i: d[f"key:{i}"])
    d.close()
    return s, g


def bench_diskcache(tmp: Path, n: int) -> tuple[float, float]:
    import diskcache

    c = diskcache.Cache(str(tmp / "dc"))
    value = b"x" * 100
    s = timed(n, lambda i: c.set(b"key:%d" % i, value))
    g = timed(n, lambda i: c.get(b"key:%d" % i))
    c.close()
    return s, g


def bench_redis(tmp: Path, n: int) -> tuple[float, float]:
    import redis

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--dir", str(tmp), "--save", "",
                             "--appendonly", "yes", "--appendfsync", "everysec"],
                            stdout=subprocess.DEVNULL)
    try:
        r = redis.Redis(port=port)
        for _ in range(100):
            try:
                r.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        value = b"x" * 100
        s = timed(n, lambda i: r.set(b"key:%d" % i, value))
        g = timed(n, lambda i: r.get(b"key:%d" % i))
        return s, g
    finally:
        proc.terminate()
        proc.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("-n", type=int, default=20_000)
    opts = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="aki-embed-bench-"))
    rows = []
    try:
        rows.append(("aki embedded (everysec)", *bench_aki(tmp / "a", opts.n, "everysec")))
        rows.append(("aki embedded (always)", *bench_aki(tmp / "b", opts.n // 4, "always")))
        for name, fn in (("sqlitedict (autocommit)", bench_sqlitedict),
                         ("diskcache", bench_diskcache), ("redis-py -> redis-server", bench_redis)):
            (tmp / name[:4]).mkdir(exist_ok=True)
            try:
                rows.append((name, *fn(tmp / name[:4], opts.n)))
            except ImportError as exc:
                rows.append((f"{name} (not installed: {exc.name})", 0.0, 0.0))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"| store (n={opts.n}) | set/s | get/s |")
    print("| --- | --- | --- |")
    for name, s, g in rows:
        print(f"| {name} | {s:,.0f} | {g:,.0f} |")


if __name__ == "__main__":
    main()
