"""The server's own cost per command, without sockets: a profiling aid for code changes.

    python bench/inproc.py set                  # CPU µs per command, best of 3 passes
    python bench/inproc.py get --pipeline 16    # 16 requests per read
    python bench/inproc.py set --profile        # cProfile of one pass
    python bench/inproc.py get -n 3000 --keyspace 20000 --instructions  # callgrind count

It drives the real road (``RespConnection.data_received`` -> parser -> ``execute()`` ->
handler -> SQLite -> encoder -> committer) through fake transports: ``--clients``
connections each send one request per loop pass and one group commit ends the pass,
as under ``redis-benchmark -c 50 -P 1``. Wall-clock ratios against Redis (bench/run.py)
move by ±25 % on a shared machine; CPU time here moves less, and the instruction count
(``--instructions``: callgrind at n and 3n requests, less the same for building the
requests alone, per command) is repeatable.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import itertools
import os
import pstats
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORKLOADS = {
    "ping": lambda k: [b"PING"],
    "set": lambda k: [b"SET", k, b"xxx"],
    # a new value every time: SQLite skips rewriting a cell whose bytes are unchanged, so
    # "set" (always "xxx", as redis-benchmark's) mostly measures overwrites that write nothing
    "set_changing": lambda k, _n=itertools.count(): [b"SET", k, b"v%d" % next(_n)],
    "get": lambda k: [b"GET", k],
    "incr": lambda k: [b"INCR", k],
    "lpush": lambda k: [b"LPUSH", b"mylist", b"xxx"],
    "sadd": lambda k: [b"SADD", b"myset", k],
    "hset": lambda k: [b"HSET", b"myhash", k, b"xxx"],
    "zadd": lambda k: [b"ZADD", b"myzset", k[-5:], k],
    "lrange_100": lambda k: [b"LRANGE", b"mylist", b"0", b"99"],
    "rpop": lambda k: [b"RPOP", b"mylist"],
    "zrangebyscore": lambda k: [b"ZRANGEBYSCORE", b"bench:zset", b"%d" % int(k[-6:]), b"+inf",
                                b"LIMIT", b"0", b"10"],
}

# Data a read workload needs first (not timed), as bench/run.py sets it up.
SETUP = {
    "lrange_100": lambda opts: ([b"LPUSH", b"mylist", *[b"xxx"] * 1000] for _ in range(1)),
    "rpop": lambda opts: ([b"LPUSH", b"mylist", *[b"xxx"] * 1000]
                          for _ in range(opts.n * (opts.passes + 1) // 1000 + 1)),
    "zrangebyscore": lambda opts: ([b"ZADD", b"bench:zset",
                               *[x for j in range(i, i + 1000) for x in (b"%d" % j, b"m%d" % j)]]
                              for i in range(0, 100_000, 1000)),
}


class FakeTransport:
    """What RespConnection asks of an asyncio transport."""

    def write(self, data: bytes) -> None:
        pass

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return 0

    def set_write_buffer_limits(self, high=None, low=None) -> None:
        pass

    def get_extra_info(self, name: str, default=None):
        return {"peername": ("127.0.0.1", 5555), "sockname": ("127.0.0.1", 6379)}.get(name)

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


def encode(argv: list[bytes]) -> bytes:
    return b"*%d\r\n" % len(argv) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in argv)


def measure(opts: argparse.Namespace) -> float:
    import uvloop

    from aki.commands import load_all
    from aki.config import Config
    from aki.core.state import Server
    from aki.server.listener import App

    load_all()
    workdir = Path(tempfile.mkdtemp(prefix="aki-inproc-"))
    cfg = Config()
    cfg.dbfile = str(workdir / "inproc.aki")
    cfg.page_size = str(opts.page_size)
    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    app = App(Server(cfg), loop)
    conns = []
    for _ in range(opts.clients):
        conn = app.protocol()
        conn.connection_made(FakeTransport())
        conns.append(conn)
    rnd = random.Random(1)
    keys = [b"key:%012d" % rnd.randrange(opts.keyspace) for _ in range(opts.n)]
    if opts.workload == "get":  # every key exists, as after redis-benchmark's SET run
        for i in range(opts.keyspace):
            conns[0].data_received(encode([b"SET", b"key:%012d" % i, b"xxx"]))
            if i % 50 == 49:
                app.committer.flush()
        app.committer.flush()
    for argv in SETUP.get(opts.workload, lambda opts: [])(opts):
        conns[0].data_received(encode(argv))
        app.committer.flush()
    make = WORKLOADS[opts.workload]
    p = opts.pipeline
    reads = [b"".join(encode(make(k)) for k in keys[i:i + p]) for i in range(0, len(keys), p)]

    if opts.dry:  # the harness alone (see instructions())
        app.server.close()
        shutil.rmtree(workdir, ignore_errors=True)
        return 0.0

    def one_pass() -> float:
        start = time.process_time()
        for i in range(0, len(reads), len(conns)):
            for conn, data in zip(conns, reads[i:i + len(conns)], strict=False):
                conn.data_received(data)
            app.committer.flush()
        return time.process_time() - start

    if opts.profile:
        prof = cProfile.Profile()
        prof.enable()
        best = one_pass()
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(25)
    else:
        best = min(one_pass() for _ in range(opts.passes))
    app.server.close()
    shutil.rmtree(workdir, ignore_errors=True)
    return best / len(keys) * 1e6


def instructions(opts: argparse.Namespace) -> float:
    """Instructions per command: callgrind at n and 3n, the difference divided out, less
    the same difference for a dry run (building the requests alone costs ~16k per
    command, which counts before 2026-11-22 (fourth session) still included)."""
    def count(n: int, dry: bool) -> int:
        argv = [sys.executable, __file__, opts.workload, "-n", str(n), "--passes", "1",
                "--keyspace", str(opts.keyspace), "--pipeline", str(opts.pipeline),
                "--clients", str(opts.clients), "--page-size", str(opts.page_size)]
        out = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                              *argv, *(["--dry"] if dry else [])],
                             capture_output=True, text=True, check=True).stderr
        return int(re.search(r"Collected : (\d+)", out).group(1))  # type: ignore[union-attr]

    n = opts.n
    road = count(3 * n, False) - count(n, False)
    harness = count(3 * n, True) - count(n, True)
    return (road - harness) / (2 * n)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("workload", choices=sorted(WORKLOADS))
    ap.add_argument("-n", type=int, default=200_000, help="commands per pass")
    ap.add_argument("--keyspace", type=int, default=100_000, help="like redis-benchmark -r")
    ap.add_argument("--clients", type=int, default=29, help="requests per group commit")
    ap.add_argument("--pipeline", type=int, default=1)
    ap.add_argument("--passes", type=int, default=3)
    ap.add_argument("--page-size", type=int, default=4096, help="of the new file")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--instructions", action="store_true")
    ap.add_argument("--dry", action="store_true", help=argparse.SUPPRESS)  # harness only
    opts = ap.parse_args()
    if opts.instructions:
        print(f"{opts.workload}: {instructions(opts):,.0f} instructions/command")
    else:
        print(f"{opts.workload}: {measure(opts):.2f} CPU µs/command")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")  # for the callgrind children: same hashing
    main()
