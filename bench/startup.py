"""Time from process start to the first answered GET, on a dataset of N keys:
aki opening its file (no load phase) against Redis loading the same data from RDB.

    python bench/startup.py [-n 1000000]

The dataset is made once by real Redis (DEBUG POPULATE), saved as dump.rdb, and
imported into an aki file with `aki import`; then each server is started cold
several times and the best and median times are printed.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def first_get(argv: list[str], port: int, cwd: Path, timeout: float = 300) -> float:
    """Seconds from spawning ``argv`` to the first successful GET reply."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        request = b"*2\r\n$3\r\nGET\r\n$9\r\nkey:12345\r\n"
        while time.perf_counter() - start < timeout:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                    s.sendall(request)
                    reply = s.recv(100)
                    if reply.startswith(b"$"):
                        return time.perf_counter() - start
            except OSError:
                pass
            time.sleep(0.002)
        raise RuntimeError("server did not answer")
    finally:
        proc.terminate()
        proc.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("-n", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    opts = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="aki-startup-"))
    try:
        port = free_port()
        proc = subprocess.Popen(["redis-server", "--port", str(port), "--dir", str(tmp), "--save", "",
                                 "--appendonly", "no", "--enable-debug-command", "yes"],
                                stdout=subprocess.DEVNULL)
        time.sleep(0.5)
        subprocess.run(["redis-cli", "-p", str(port), "DEBUG", "POPULATE", str(opts.n)], check=True,
                       capture_output=True)
        subprocess.run(["redis-cli", "-p", str(port), "SAVE"], check=True, capture_output=True)
        proc.terminate()
        proc.wait()
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "aki", "import", str(tmp / "dump.rdb"), "--target",
                        str(tmp / "data.aki")], check=True, capture_output=True)
        import_s = time.perf_counter() - t
        redis_times, aki_times = [], []
        for _ in range(opts.runs):
            p = free_port()
            redis_times.append(first_get(["redis-server", "--port", str(p), "--dir", str(tmp),
                                          "--save", "", "--appendonly", "no"], p, tmp))
            p = free_port()
            aki_times.append(first_get([sys.executable, "-m", "aki", "server", "--port", str(p),
                                        "--dbfile", str(tmp / "data.aki"), "--loglevel", "warning"],
                                       p, tmp))
        print(f"{opts.n:,} keys (aki import took {import_s:.1f} s, "
              f"{opts.n / import_s:,.0f} keys/s)")
        print("| server | best | median |")
        print("| --- | --- | --- |")
        print(f"| redis-server loading dump.rdb | {min(redis_times):.2f} s | "
              f"{statistics.median(redis_times):.2f} s |")
        print(f"| aki opening data.aki | {min(aki_times):.2f} s | "
              f"{statistics.median(aki_times):.2f} s |")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
