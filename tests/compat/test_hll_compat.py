"""HyperLogLog commands against real redis-server: replies and stored bytes compared.

HLLs are strings, so after every PFADD/PFMERGE/PFCOUNT the value GET returns must be
the bytes Redis holds: the sparse opcodes exactly as hllSparseSet leaves them, the
promotion to dense at hll-sparse-max-bytes, the cached cardinality in the header.
Also: the estimator on the union of several keys, PFDEBUG, PFSELFTEST, the error
texts, corrupted HLLs (as the Debian 7.0.15 build detects them), keyspace events.
"""

from __future__ import annotations

import random
import time

import pytest

from aki.commands import hll as H
from tests.conftest import RawClient, aof_incr, start_aki, start_redis


def _els(rnd: random.Random, n: int) -> list[str]:
    return [str(rnd.random()) for _ in range(n)]


def test_empty_and_small(pair):
    pair.same("PFADD", "h")
    pair.same("GET", "h")
    pair.same("PFCOUNT", "h")
    pair.same("GET", "h")  # the cache is written back
    pair.same("PFADD", "h", "a", "b", "c")
    pair.same("PFADD", "h", "a")  # no register changed: 0, value untouched
    pair.same("PFADD", "h", "")
    pair.same("GET", "h")
    pair.same("PFCOUNT", "h")
    pair.same("PFCOUNT", "nokey")
    pair.same("PFCOUNT", "nokey", "nokey2")
    pair.same("PFDEBUG", "DECODE", "h")
    pair.same("PFDEBUG", "ENCODING", "h")
    pair.same("OBJECT", "ENCODING", "h")
    pair.same("STRLEN", "h")


def test_sparse_growth_and_promotion_bytes(pair):
    rnd = random.Random(11)
    els = _els(rnd, 4000)
    i = 0
    while i < len(els):
        step = rnd.randint(1, 60)
        pair.same("PFADD", "h", *els[i:i + step])
        i += step
        pair.same("GET", "h")
        if rnd.random() < 0.3:
            pair.same("PFCOUNT", "h")
    pair.same("PFDEBUG", "ENCODING", "h")
    pair.same("PFCOUNT", "h")
    pair.same("GET", "h")


def test_dense_counts(pair):
    rnd = random.Random(5)
    for n in (5000, 30000):
        els = _els(rnd, n)
        for i in range(0, n, 1000):
            pair.same("PFADD", "d", *els[i:i + 1000])
        pair.same("PFCOUNT", "d")
        pair.same("GET", "d")
    # a dense HLL from PFDEBUG TODENSE (the header is kept), then adds
    pair.same("PFADD", "t", "x")
    pair.same("PFDEBUG", "TODENSE", "t")
    pair.same("PFDEBUG", "TODENSE", "t")
    pair.same("PFADD", "t", *_els(rnd, 50))
    pair.same("GET", "t")
    pair.same("PFDEBUG", "GETREG", "t")


def test_union_count_and_merge(pair):
    rnd = random.Random(3)
    sizes = {"s1": 10, "s2": 200, "s3": 1500, "d1": 6000, "d2": 12000}
    for k, n in sizes.items():
        pair.same("PFADD", k, *_els(rnd, n))
    keys = list(sizes) + ["missing"]
    for _ in range(25):
        ks = rnd.sample(keys, rnd.randint(2, 4))
        pair.same("PFCOUNT", *ks)
    for j, srcs in enumerate([("s1", "s2"), ("s1", "s3"), ("s2", "d1"), ("missing",),
                              ("d1", "d2", "s3"), ()]):
        dest = f"m{j}"
        if j % 2:
            pair.same("PFADD", dest, *_els(rnd, 20))
        pair.same("PFMERGE", dest, *srcs)
        pair.same("GET", dest)
        pair.same("PFCOUNT", dest)
        pair.same("GET", dest)
    pair.same("PFMERGE", "s1", "s2")  # the destination is a source too
    pair.same("GET", "s1")


def test_merge_promotes_midway(pair):
    rnd = random.Random(9)
    pair.same("CONFIG", "SET", "hll-sparse-max-bytes", "400")
    try:
        pair.same("PFADD", "a", *_els(rnd, 150))
        pair.same("PFADD", "b", *_els(rnd, 150))
        pair.same("PFMERGE", "c", "a", "b")
        pair.same("GET", "c")
        pair.same("PFDEBUG", "ENCODING", "c")
        pair.same("DEL", "z")
        for e in _els(rnd, 40):
            pair.same("PFADD", "z", e)
            pair.same("GET", "z")
    finally:
        pair.same("CONFIG", "SET", "hll-sparse-max-bytes", "3000")


def test_cache(pair):
    pair.same("PFADD", "h", "a", "b", "c")
    pair.same("GET", "h")
    pair.same("PFCOUNT", "h")
    pair.same("GET", "h")
    pair.same("PFCOUNT", "h")
    pair.same("PFADD", "h", "a")
    pair.same("GET", "h")  # still valid
    pair.same("PFADD", "h", "d")
    pair.same("GET", "h")  # stale bit set, old value kept
    pair.same("PFCOUNT", "h")


def test_ttl_kept(pair):
    pair.same("PFADD", "h", "a")
    pair.same("EXPIRE", "h", "1000")
    pair.same("PFADD", "h", "b")
    pair.same("PFCOUNT", "h")
    pair.same("PFMERGE", "h", "h")
    pair.same("TTL", "h")


def test_errors(pair):
    pair.same("SET", "s", "bar")
    pair.same("LPUSH", "l", "x")
    pair.same("SET", "long", "y" * 20000)
    pair.same("PFADD", "h", "a")
    for args in [("PFADD", "s", "1"), ("PFADD", "l", "1"), ("PFCOUNT", "s"), ("PFCOUNT", "l"),
                 ("PFCOUNT", "h", "s"), ("PFCOUNT", "h", "l"), ("PFMERGE", "h", "s"),
                 ("PFMERGE", "s", "h"), ("PFMERGE", "l", "h"), ("PFADD", "long", "a"),
                 ("PFADD",), ("PFCOUNT",), ("PFMERGE",), ("PFDEBUG", "GETREG"),
                 ("PFDEBUG", "FOO", "h"), ("PFDEBUG", "FOO", "nokey"),
                 ("PFDEBUG", "getreg", "h", "x"), ("PFDEBUG", "Encoding", "h", "x"),
                 ("PFDEBUG", "ENCODING", "s"), ("PFDEBUG", "ENCODING", "l")]:
        pair.same(*args)
    pair.same("PFDEBUG", "TODENSE", "h")
    pair.same("PFDEBUG", "DECODE", "h")


@pytest.mark.parametrize("mutation", [
    ("APPEND", "hll", "hello"), ("SETRANGE", "hll", "0", "0123"),
    ("SETRANGE", "hll", "4", "x"), ("SETRANGE", "hll", "4", "\x00"),
])
def test_corrupted_detected(pair, mutation):
    pair.same("PFADD", "hll", "a", "b", "c")
    pair.same(*mutation)
    pair.same("PFCOUNT", "hll")
    pair.same("PFCOUNT", "hll", "other")
    pair.same("PFADD", "hll", "d")
    pair.same("PFMERGE", "x", "hll")
    pair.same("GET", "hll")


def test_corruption_fuzz(pair):
    rnd = random.Random(21)
    for j in range(150):
        pair.same("DEL", "hll", "d")
        pair.same("PFADD", "hll", *_els(rnd, rnd.randrange(2500 if j % 10 == 0 else 300)))
        for _ in range(5):
            n = int(pair.a.cmd("STRLEN", "hll")[1:-2])
            pair.same("SETRANGE", "hll", str(rnd.randrange(n)), bytes([rnd.randrange(256)]))
            if rnd.random() < 0.5:
                break
        op = j % 5
        if op == 0:
            pair.same("PFCOUNT", "hll")
        elif op == 1:
            pair.same("PFADD", "hll", *_els(rnd, rnd.randint(1, 6)))
        elif op == 2:
            pair.same("PFMERGE", "d", "hll")
            pair.same("GET", "d")
        elif op == 3:
            pair.same("PFDEBUG", "TODENSE", "hll")
        else:
            pair.same("PFCOUNT", "hll", "missing")
        pair.same("GET", "hll")


def test_selftest(pair):
    pair.same("PFSELFTEST")


def test_resp3(pair):
    pair.both("HELLO", "3")  # client ids differ
    pair.same("PFADD", "h", "a", "b")
    pair.same("PFCOUNT", "h")
    pair.same("PFDEBUG", "ENCODING", "h")
    pair.same("PFMERGE", "h2", "h")
    pair.same("PFDEBUG", "GETREG", "h")


def test_keyspace_events(aki_server, redis_server):
    got = []
    for port in (aki_server.port, redis_server.port):
        cmd, sub = RawClient(port), RawClient(port)
        try:
            cmd.cmd("FLUSHALL")
            cmd.cmd("CONFIG", "SET", "notify-keyspace-events", "KEA")
            sub.cmd("PSUBSCRIBE", "__key*__:*")
            cmd.cmd("PFADD", "h", "a")
            cmd.cmd("PFADD", "h", "a")  # nothing changed: no event
            cmd.cmd("PFCOUNT", "h")  # cache write: no event
            cmd.cmd("PFMERGE", "m", "h")
            cmd.cmd("PFDEBUG", "TODENSE", "h")
            cmd.cmd("SET", "end", "1")
            msgs = []
            while True:
                msgs.append(sub.read_reply())
                if b"end" in msgs[-1] and b"keyevent" in msgs[-1]:
                    break
            got.append(msgs)
        finally:
            cmd.cmd("CONFIG", "SET", "notify-keyspace-events", "")
            cmd.close()
            sub.close()
    assert got[0] == got[1]


def test_estimator_helpers():
    # hllCount on an empty HLL is 0 (sigma(1) is infinite), llroundl rounds half up
    assert H.estimate([H.HLL_REGISTERS] + [0] * 63) == 0
    assert H.count(bytes(H.new_sparse())) == 0
    regs = H.dense_unpack(H.dense_pack(H.np.arange(H.HLL_REGISTERS, dtype=H.np.uint8) % 64))
    assert regs.tolist() == [i % 64 for i in range(H.HLL_REGISTERS)]
    assert H.murmur64a(b"") == H.murmur64a(b"", 0xADC83B19)


@pytest.mark.parametrize("max_bytes", ["200", "1000", "6000"])
def test_sparse_limit_and_batches(pair, max_bytes):
    rnd = random.Random(int(max_bytes))
    pair.same("CONFIG", "SET", "hll-sparse-max-bytes", max_bytes)
    try:
        for t in range(6):
            els = _els(rnd, rnd.choice([50, 400, 2500]))
            i = 0
            while i < len(els):
                step = rnd.choice([1, 7, 60, 600])
                pair.same("PFADD", f"h{t}", *els[i:i + step])
                pair.same("GET", f"h{t}")
                i += step
        for t in range(4):
            srcs = [f"h{rnd.randrange(6)}" for _ in range(rnd.randint(1, 3))]
            pair.same("PFCOUNT", *srcs)
            pair.same("PFMERGE", f"m{t}", *srcs)
            pair.same("GET", f"m{t}")
    finally:
        pair.same("CONFIG", "SET", "hll-sparse-max-bytes", "3000")


def _aof_commands(data: bytes) -> list[list[bytes]]:
    """The commands of an append-only log from its first SELECT on."""
    data = data[data.index(b"*2\r\n$6\r\nSELECT\r\n"):]
    cmds, i = [], 0
    while i < len(data):
        end = data.index(b"\r\n", i)
        argc, i = int(data[i + 1:end]), end + 2
        argv = []
        for _ in range(argc):
            end = data.index(b"\r\n", i)
            n = int(data[i + 1:end])
            argv.append(data[end + 2:end + 2 + n])
            i = end + 4 + n
        cmds.append(argv)
    return cmds


def test_propagation_matches_redis(tmp_path):
    """PFADD only when a register changed, PFCOUNT when it wrote the cache, PFMERGE
    always, PFDEBUG TODENSE/GETREG on a conversion; a PFADD failing on a corrupted HLL
    is not propagated."""
    script = [
        ("PFADD", "h", "a", "b"), ("PFADD", "h", "a"), ("PFCOUNT", "h"), ("PFCOUNT", "h"),
        ("PFADD", "h2"), ("PFCOUNT", "h", "h2"), ("PFMERGE", "m", "h", "h2"),
        ("PFMERGE", "m", "h"), ("PFDEBUG", "ENCODING", "m"), ("PFDEBUG", "TODENSE", "m"),
        ("PFDEBUG", "TODENSE", "m"), ("PFADD", "g", "x"), ("PFDEBUG", "GETREG", "g"),
        ("PFADD", "c", "x"), ("APPEND", "c", "hello"), ("PFADD", "c", "y", "z"),
        ("PFCOUNT", "c"), ("SET", "end", "1"),
    ]
    logs = []
    for start, log in ((start_aki, aof_incr), (start_redis, aof_incr)):
        d = tmp_path / start.__name__
        d.mkdir()
        srv = start(d, "--appendonly", "yes", "--appendfsync", "always", "--dir", str(d))
        try:
            client = RawClient(srv.port)
            replies = [client.cmd(*cmd) for cmd in script]
            client.close()
            path = log(d)
            deadline = time.time() + 10
            while b"$3\r\nend\r\n" not in path.read_bytes() and time.time() < deadline:
                time.sleep(0.05)
            logs.append((replies, _aof_commands(path.read_bytes())))
        finally:
            srv.stop()
    assert logs[0] == logs[1]
    assert [b"PFCOUNT", b"h"] in logs[1][1] and [b"PFMERGE", b"m", b"h"] in logs[1][1]


def test_sparse_set_beyond_val_range_promotes():
    """A run of more than 32 zeros (1 in 2**32 elements) can't be a sparse VAL: dense."""
    h = H.HLL(H.new_sparse(), 3000)
    assert h.sparse_set(100, 3) == 1 and not h.dense
    assert h.sparse_set(5, 40) == 1 and h.dense
    regs = H.registers(h.buf)
    assert regs[5] == 40 and regs[100] == 3 and int(regs.sum()) == 43
    assert h.buf[15] & 0x80  # the cache was invalidated by the first update
