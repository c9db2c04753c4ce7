"""Benchmark runner: real redis-server and aki side by side, same load, one run.

    python bench/run.py                      # appendfsync everysec on both
    python bench/run.py --fsync always       # appendfsync always on both
    python bench/run.py --tests set,get -n 100000 --pipelines 1
    python bench/run.py --repeat 5           # median of 5 alternating runs per line
    python bench/run.py --tests set,get --ceiling  # also bench/ceiling.py's minimal servers
    python bench/run.py --tests set,set_changing   # SET of a constant value, and of new ones

The runner itself is `aki bench --compare` (src/aki/cli/bench.py); this script adds
``--ceiling``, whose servers live here in bench/

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
import os
import shutil
import subprocess
import sys
from pathlib import Path

from aki.cli.bench import (
    DEFAULT_TESTS,
    BenchError,
    compare,
    comparison_table,
    free_port,
    wait_port,
)


def start_ceiling(kind: str, workdir: Path) -> tuple[subprocess.Popen, int]:
    """bench/ceiling.py: the least a Python server does for SET/GET (see its docstring)."""
    port = free_port()
    argv = [sys.executable, str(Path(__file__).with_name("ceiling.py")), kind, str(port)]
    if kind == "sqlite":
        argv.append(str(workdir / "ceiling.db"))
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port, proc)
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
    extra = None
    if opts.ceiling:
        extra = {kind: (lambda tmp, kind=kind: start_ceiling(kind, tmp), CEILING_TESTS)
                 for kind in ("dict", "sqlite")}
    try:
        lines = compare(opts.tests.split(","), opts.n, opts.clients,
                        [int(x) for x in opts.pipelines.split(",")], opts.fsync,
                        opts.repeat, opts.zrange, extra)
    except BenchError as exc:
        sys.exit(f"bench: {exc}")
    print()
    for row in comparison_table(lines, opts.repeat, opts.fsync, opts.clients, opts.n):
        print(row)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
