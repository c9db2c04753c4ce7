"""Streams against redis-server 7.0.15: XADD/XRANGE/XDEL/XTRIM/XSETID/XREAD and consumer
groups, replies compared byte for byte (RESP2 and RESP3). Explicit IDs keep replies
deterministic; idle times are compared where they cannot differ (IDLE filters, TIME)."""

from __future__ import annotations

import pytest

RESP = [2, 3]


def hello(pair, proto: int) -> None:
    if proto == 3:
        pair.a.cmd("HELLO", "3")
        pair.r.cmd("HELLO", "3")


def run(pair, script) -> None:
    for cmd in script:
        pair.same(*cmd)


@pytest.mark.parametrize("proto", RESP)
def test_xadd_ids_and_errors(pair, proto):
    hello(pair, proto)
    run(pair, [
        ("XADD", "s", "1-1", "a", "1"),
        ("XADD", "s", "1-1", "a", "1"),
        ("XADD", "s", "1-0", "a", "1"),
        ("XADD", "s", "0-0", "a", "1"),
        ("XADD", "new", "0-0", "a", "1"),
        ("EXISTS", "new"),
        ("XADD", "new", "0-*", "a", "1"),
        ("XADD", "s", "1-*", "b", "2"),
        ("XADD", "s", "1-*", "b", "2"),
        ("XADD", "s", "2", "c", "3"),
        ("XADD", "s", "2-*", "c", "3"),
        ("XADD", "s", "abc", "c", "3"),
        ("XADD", "s", "-", "c", "3"),
        ("XADD", "s", "+", "c", "3"),
        ("XADD", "s", "3-x", "c", "3"),
        ("XADD", "s", "-1", "c", "3"),
        ("XADD", "s", "3--1", "c", "3"),
        ("XADD", "s", "18446744073709551616-0", "c", "3"),
        ("XADD", "s", "1-1"),
        ("XADD", "s", "5-0", "a"),
        ("XADD", "s", "5-0", "a", "b", "c"),
        ("XADD", "s", "MAXLEN", "-1", "*", "a", "b"),
        ("XADD", "s", "MAXLEN", "x", "*", "a", "b"),
        ("XADD", "s", "LIMIT", "10", "5-0", "a", "b"),
        ("XADD", "s", "LIMIT", "-1", "5-0", "a", "b"),
        ("XADD", "s", "MAXLEN", "5", "LIMIT", "10", "5-0", "a", "b"),
        ("XADD", "s", "MAXLEN", "1", "MINID", "1", "5-0", "a", "b"),
        ("XADD", "s", "MINID", "x", "5-0", "a", "b"),
        ("XADD", "s", "NOMKSTREAM", "6-0", "a", "b"),
        ("XADD", "nokey", "NOMKSTREAM", "*", "a", "b"),
        ("EXISTS", "nokey"),
        ("XADD", "big", "18446744073709551615-18446744073709551615", "a", "b"),
        ("XADD", "big", "*", "a", "b"),
        ("XADD", "big2", "18446744073709551615-18446744073709551614", "a", "b"),
        ("XADD", "big2", "18446744073709551615-*", "a", "b"),
        ("SET", "str", "x"),
        ("XADD", "str", "*", "a", "b"),
        ("XLEN", "str"),
        ("XLEN", "s"),
        ("XLEN", "nokey"),
        ("TYPE", "s"),
        ("OBJECT", "ENCODING", "s"),
        ("XRANGE", "s", "-", "+"),
    ])


@pytest.mark.parametrize("proto", RESP)
def test_xrange_xrevrange(pair, proto):
    hello(pair, proto)
    for i in range(1, 30):
        pair.same("XADD", "s", f"{i // 3}-{i % 3}", "f", str(i), "g", "x" * i)
    run(pair, [
        ("XRANGE", "s", "-", "+"),
        ("XRANGE", "s", "-", "+", "COUNT", "3"),
        ("XRANGE", "s", "-", "+", "COUNT", "0"),
        ("XRANGE", "s", "-", "+", "COUNT", "-5"),
        ("XRANGE", "s", "-", "+", "COUNT"),
        ("XRANGE", "s", "-", "+", "LIMIT", "1"),
        ("XRANGE", "s", "-", "+", "count", "2", "COUNT", "4"),
        ("XRANGE", "s", "3", "5"),
        ("XRANGE", "s", "3-1", "5-1"),
        ("XRANGE", "s", "(3-1", "(5-1"),
        ("XRANGE", "s", "(3", "5"),
        ("XRANGE", "s", "(-", "+"),
        ("XRANGE", "s", "-", "(+"),
        ("XRANGE", "s", "(18446744073709551615-18446744073709551615", "+"),
        ("XRANGE", "s", "-", "(0-0"),
        ("XRANGE", "s", "5", "3"),
        ("XRANGE", "s", "x", "+"),
        ("XRANGE", "nokey", "-", "+"),
        ("XRANGE", "nokey", "-", "+", "COUNT", "0"),
        ("XREVRANGE", "s", "+", "-"),
        ("XREVRANGE", "s", "+", "-", "COUNT", "4"),
        ("XREVRANGE", "s", "(5-1", "(3-1"),
        ("XREVRANGE", "s", "5", "3", "COUNT", "2"),
        ("XREVRANGE", "s", "3", "5"),
    ])


@pytest.mark.parametrize("proto", RESP)
def test_xdel_xsetid_and_info(pair, proto):
    hello(pair, proto)
    for i in range(1, 11):
        pair.same("XADD", "s", f"{i}-0", "f", str(i))
    run(pair, [
        ("XDEL", "s", "1-0", "5", "99-0"),
        ("XDEL", "s", "x"),
        ("XDEL", "s", "2-0", "bad"),
        ("XDEL", "nokey", "bad"),
        ("XRANGE", "s", "-", "+"),
        ("XINFO", "STREAM", "s"),
        ("XINFO", "STREAM", "s", "FULL"),
        ("XINFO", "STREAM", "s", "FULL", "COUNT", "2"),
        ("XINFO", "STREAM", "s", "FULL", "COUNT", "-1"),
        ("XINFO", "STREAM", "s", "FULL", "COUNT", "0"),
        ("XINFO", "STREAM", "s", "FULL", "x"),
        ("XINFO", "STREAM", "s", "LONG"),
        ("XINFO", "STREAM", "nokey"),
        ("XDEL", "s", "2-0", "3-0", "4-0", "6-0", "7-0", "8-0", "9-0", "10-0"),
        ("XLEN", "s"),
        ("EXISTS", "s"),
        ("XINFO", "STREAM", "s"),
        ("XADD", "s", "3-0", "a", "b"),
        ("XADD", "s", "11-0", "a", "b"),
        ("XSETID", "s", "5-0"),
        ("XSETID", "s", "11-0", "ENTRIESADDED", "0"),
        ("XSETID", "s", "11-0", "ENTRIESADDED", "-1"),
        ("XSETID", "s", "11-0", "MAXDELETEDID", "12-0"),
        ("XSETID", "s", "20-0", "ENTRIESADDED", "100", "MAXDELETEDID", "15-0"),
        ("XSETID", "s", "+"),
        ("XSETID", "s", "20-0", "FOO"),
        ("XSETID", "nokey", "1-0"),
        ("XINFO", "STREAM", "s"),
        ("XLEN", "s"),
        ("XTRIM", "s", "MAXLEN", "0"),
        ("XINFO", "STREAM", "s"),
        ("XSETID", "s", "1-0"),
        ("XINFO", "STREAM", "s"),
    ])


@pytest.mark.parametrize("maxent", ["100", "10", "3", "0"])
def test_trimming_follows_radix_tree_nodes(pair, maxent):
    """~ trimming removes whole nodes only: node boundaries must be Redis's exactly."""
    for srv in (pair.a, pair.r):
        srv.cmd("CONFIG", "SET", "stream-node-max-entries", maxent)
    try:
        for i in range(1, 401):
            pair.same("XADD", "s", f"{i}-0", "field", str(i), "other", "v" * (i % 7))
        # entries of other shapes and big values split nodes by bytes too
        for i in range(401, 451):
            pair.same("XADD", "s", f"{i}-0", f"f{i % 3}", "x" * (i * 3))
        run(pair, [
            ("XINFO", "STREAM", "s"),
            ("XTRIM", "s", "MAXLEN", "~", "420"),
            ("XTRIM", "s", "MAXLEN", "~", "300", "LIMIT", "20"),
            ("XTRIM", "s", "MAXLEN", "~", "300", "LIMIT", "0"),
            ("XINFO", "STREAM", "s"),
            ("XDEL", "s", "200-0", "201-0", "202-0", "350-0"),
            ("XTRIM", "s", "MINID", "~", "250"),
            ("XTRIM", "s", "MINID", "=", "255"),
            ("XTRIM", "s", "MAXLEN", "=", "150"),
            ("XADD", "s", "MAXLEN", "~", "100", "451-0", "a", "b"),
            ("XADD", "s", "MINID", "~", "400", "LIMIT", "5", "452-0", "a", "b"),
            ("XINFO", "STREAM", "s"),
            ("XRANGE", "s", "-", "+", "COUNT", "5"),
            ("XTRIM", "s", "MAXLEN", "~", "10", "LIMIT", "5"),
            ("XTRIM", "s", "LIMIT", "5"),
            ("XTRIM", "s", "MAXLEN", "5", "LIMIT", "5"),
            ("XTRIM", "s", "MAXLEN"),
            ("XTRIM", "s", "FOO", "1"),
            ("XTRIM", "nokey", "MAXLEN", "1"),
            ("XTRIM", "s", "MINID", "0"),
            ("XTRIM", "s", "MAXLEN", "0"),
            ("XINFO", "STREAM", "s", "FULL"),
        ])
    finally:
        for srv in (pair.a, pair.r):
            srv.cmd("CONFIG", "SET", "stream-node-max-entries", "100")


def test_node_max_bytes(pair):
    for srv in (pair.a, pair.r):
        srv.cmd("CONFIG", "SET", "stream-node-max-bytes", "300")
    try:
        for i in range(1, 120):
            pair.same("XADD", "s", f"{i}-{i * 1000}", "k", "v" * (i % 40), "n", str(i * 12345))
        run(pair, [("XINFO", "STREAM", "s"), ("XTRIM", "s", "MAXLEN", "~", "50"),
                   ("XINFO", "STREAM", "s")])
    finally:
        for srv in (pair.a, pair.r):
            srv.cmd("CONFIG", "SET", "stream-node-max-bytes", "4096")


@pytest.mark.parametrize("proto", RESP)
def test_xread(pair, proto):
    hello(pair, proto)
    for i in range(1, 6):
        pair.same("XADD", "s1", f"{i}-0", "a", str(i))
        pair.same("XADD", "s2", f"{i}-1", "b", str(i))
    run(pair, [
        ("XREAD", "STREAMS", "s1", "0"),
        ("XREAD", "COUNT", "2", "STREAMS", "s1", "s2", "0", "3"),
        ("XREAD", "COUNT", "2", "STREAMS", "s1", "s2", "5", "3"),
        ("XREAD", "STREAMS", "s1", "s2", "5", "5-1"),
        ("XREAD", "STREAMS", "s1", "$"),
        ("XREAD", "STREAMS", "nokey", "s1", "0", "4-0"),
        ("XREAD", "COUNT", "-1", "STREAMS", "s1", "3"),
        ("XREAD", "STREAMS", "s1"),
        ("XREAD", "STREAMS", "s1", "s2", "0"),
        ("XREAD", "COUNT", "1"),
        ("XREAD", "GROUP", "g", "c", "STREAMS", "s1", "0"),
        ("XREAD", "NOACK", "STREAMS", "s1", "0"),
        ("XREAD", "STREAMS", "s1", ">"),
        ("XREAD", "STREAMS", "s1", "-"),
        ("XREAD", "STREAMS", "s1", "bad"),
        ("XREAD", "FOO", "STREAMS", "s1", "0"),
        ("XREAD", "BLOCK", "-1", "STREAMS", "s1", "0"),
        ("XREAD", "BLOCK", "x", "STREAMS", "s1", "0"),
        ("XREAD", "BLOCK", "0", "STREAMS", "s1", "0"),
        ("SET", "str", "x"),
        ("XREAD", "STREAMS", "str", "0"),
        ("MULTI",),
        ("XREAD", "BLOCK", "0", "STREAMS", "s1", "$"),
        ("EXEC",),
        ("EVAL", "return redis.call('XREAD', 'BLOCK', '0', 'STREAMS', 's1', '$')", "0"),
        ("EVAL", "return redis.call('xread', 'STREAMS', 's1', '4')", "0"),
    ])


@pytest.mark.parametrize("proto", RESP)
def test_groups_and_readgroup(pair, proto):
    hello(pair, proto)
    for i in range(1, 8):
        pair.same("XADD", "s", f"{i}-0", "f", str(i))
    run(pair, [
        ("XGROUP", "CREATE", "s", "g", "0"),
        ("XGROUP", "CREATE", "s", "g", "0"),
        ("XGROUP", "CREATE", "s", "late", "$"),
        ("XGROUP", "CREATE", "s", "mid", "3-0", "ENTRIESREAD", "3"),
        ("XGROUP", "CREATE", "s", "bad", "x"),
        ("XGROUP", "CREATE", "s", "bad", "0", "ENTRIESREAD", "-2"),
        ("XGROUP", "CREATE", "s", "bad", "0", "ENTRIESREAD", "x"),
        ("XGROUP", "CREATE", "s", "bad", "0", "FOO"),
        ("XGROUP", "CREATE", "nokey", "g", "0"),
        ("XGROUP", "CREATE", "nokey", "g", "$", "MKSTREAM"),
        ("XINFO", "STREAM", "nokey"),
        ("XGROUP", "CREATE", "s"),
        ("XGROUP", "SETID", "s", "nog", "0"),
        ("XGROUP", "SETID", "s", "g", "0", "MKSTREAM"),
        ("XGROUP", "SETID", "s", "g", "0", "ENTRIESREAD"),
        ("XGROUP", "CREATECONSUMER", "s", "g", "alice"),
        ("XGROUP", "CREATECONSUMER", "s", "g", "alice"),
        ("XGROUP", "CREATECONSUMER", "s", "nog", "alice"),
        ("XGROUP", "FOO", "s", "g"),
        ("XGROUP", "HELP"),
        ("XINFO", "GROUPS", "s"),
        ("XREADGROUP", "GROUP", "g", "alice", "COUNT", "2", "STREAMS", "s", ">"),
        ("XREADGROUP", "GROUP", "g", "bob", "COUNT", "2", "STREAMS", "s", ">"),
        ("XREADGROUP", "GROUP", "g", "bob", "NOACK", "COUNT", "1", "STREAMS", "s", ">"),
        ("XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", "0"),
        ("XREADGROUP", "GROUP", "g", "alice", "COUNT", "1", "STREAMS", "s", "1-0"),
        ("XREADGROUP", "GROUP", "g", "carol", "STREAMS", "s", "0"),
        ("XREADGROUP", "GROUP", "nog", "alice", "STREAMS", "s", ">"),
        ("XREADGROUP", "GROUP", "g", "alice", "STREAMS", "nokey2", ">"),
        ("XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", "$"),
        ("XREADGROUP", "STREAMS", "s", ">"),
        ("XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s"),
        ("XINFO", "GROUPS", "s"),
        ("XPENDING", "s", "g"),
        ("XPENDING", "s", "g", "-", "+", "10", "nobody"),
        ("XPENDING", "s", "g", "IDLE", "999999", "-", "+", "10"),
        ("XPENDING", "s", "g", "-", "+"),
        ("XPENDING", "s", "g", "IDLE", "10", "-", "+"),
        ("XPENDING", "s", "g", "-", "+", "x"),
        ("XPENDING", "s", "g", "x", "+", "10"),
        ("XPENDING", "s", "nog"),
        ("XPENDING", "nokey3", "g"),
        ("XPENDING", "s", "late"),
        ("XDEL", "s", "2-0"),
        ("XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", "0"),
        ("XACK", "s", "g", "1-0", "2-0", "99-0"),
        ("XACK", "s", "g", "1-0"),
        ("XACK", "s", "g", "bad"),
        ("XACK", "s", "nog", "bad"),
        ("XACK", "nokey3", "g", "1-0"),
        ("XPENDING", "s", "g"),
        ("XINFO", "GROUPS", "s"),
        ("XREADGROUP", "GROUP", "mid", "x", "STREAMS", "s", ">"),
        ("XINFO", "GROUPS", "s"),
        ("XADD", "s", "8-0", "f", "8"),
        ("XINFO", "GROUPS", "s"),
        ("XGROUP", "SETID", "s", "late", "0", "ENTRIESREAD", "0"),
        ("XGROUP", "SETID", "s", "mid", "$"),
        ("XGROUP", "SETID", "s", "g", "-"),
        ("XINFO", "GROUPS", "s"),
        ("XGROUP", "DELCONSUMER", "s", "g", "bob"),
        ("XGROUP", "DELCONSUMER", "s", "g", "nobody"),
        ("XPENDING", "s", "g"),
        ("XGROUP", "DESTROY", "s", "late"),
        ("XGROUP", "DESTROY", "s", "late"),
        ("XGROUP", "DESTROY", "nokey3", "late"),
        ("XINFO", "GROUPS", "s"),
        ("XINFO", "GROUPS", "nokey3"),
        ("XINFO", "CONSUMERS", "s", "nog"),
        ("XINFO", "FOO", "s"),
        ("XINFO", "HELP"),
        ("DEL", "s"),
        ("XADD", "s", "1-0", "a", "b"),
        ("XINFO", "GROUPS", "s"),
    ])


@pytest.mark.parametrize("proto", RESP)
def test_claim_and_autoclaim(pair, proto):
    hello(pair, proto)
    for i in range(1, 11):
        pair.same("XADD", "s", f"{i}-0", "f", str(i))
    run(pair, [
        ("XGROUP", "CREATE", "s", "g", "0"),
        ("XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", ">"),
        ("XDEL", "s", "3-0", "4-0"),
        ("XCLAIM", "s", "g", "bob", "0", "1-0", "2-0", "JUSTID"),
        ("XCLAIM", "s", "g", "bob", "0", "1-0", "3-0", "RETRYCOUNT", "7"),
        ("XCLAIM", "s", "g", "bob", "999999", "5-0"),
        ("XCLAIM", "s", "g", "bob", "0", "5-0", "IDLE", "500000", "JUSTID"),
        ("XCLAIM", "s", "g", "carol", "0", "6-0", "TIME", "1000", "RETRYCOUNT", "3", "JUSTID"),
        ("XCLAIM", "s", "g", "carol", "0", "99-0", "FORCE", "JUSTID"),
        ("XACK", "s", "g", "7-0"),
        ("XCLAIM", "s", "g", "carol", "0", "7-0", "FORCE"),
        ("XCLAIM", "s", "g", "carol", "0", "8-0", "LASTID", "20-0", "JUSTID"),
        ("XINFO", "GROUPS", "s"),
        ("XCLAIM", "s", "g", "carol", "x", "8-0"),
        ("XCLAIM", "s", "g", "carol", "0", "8-0", "IDLE", "x"),
        ("XCLAIM", "s", "g", "carol", "0", "8-0", "TIME", "x"),
        ("XCLAIM", "s", "g", "carol", "0", "8-0", "RETRYCOUNT", "x"),
        ("XCLAIM", "s", "g", "carol", "0", "8-0", "LASTID", "x"),
        ("XCLAIM", "s", "g", "carol", "0", "8-0", "BOGUS"),
        ("XCLAIM", "s", "nog", "carol", "0", "8-0"),
        ("XCLAIM", "nokey", "g", "carol", "0", "8-0"),
        ("XPENDING", "s", "g"),
        ("XAUTOCLAIM", "s", "g", "dave", "0", "0", "COUNT", "2", "JUSTID"),
        ("XAUTOCLAIM", "s", "g", "dave", "0", "(2-0", "COUNT", "3"),
        ("XAUTOCLAIM", "s", "g", "dave", "0", "0", "COUNT", "100"),
        ("XAUTOCLAIM", "s", "g", "dave", "999999", "0"),
        ("XAUTOCLAIM", "s", "g", "dave", "0", "0", "COUNT", "0"),
        ("XAUTOCLAIM", "s", "g", "dave", "0", "0", "COUNT", "x"),
        ("XAUTOCLAIM", "s", "g", "dave", "x", "0"),
        ("XAUTOCLAIM", "s", "g", "dave", "0", "x"),
        ("XAUTOCLAIM", "s", "g", "dave", "0", "0", "FOO"),
        ("XAUTOCLAIM", "s", "nog", "dave", "0", "0"),
        ("XPENDING", "s", "g"),
        ("XINFO", "GROUPS", "s"),
    ])


def test_autoclaim_attempts_and_deleted(pair):
    for i in range(1, 41):
        pair.same("XADD", "s", f"{i}-0", "f", str(i))
    run(pair, [
        ("XGROUP", "CREATE", "s", "g", "0"),
        ("XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", ">"),
        ("XDEL", "s", *[f"{i}-0" for i in range(5, 15)]),
        ("XCLAIM", "s", "g", "bob", "0", *[f"{i}-0" for i in range(20, 41)], "IDLE", "0",
         "JUSTID"),
        ("XAUTOCLAIM", "s", "g", "dave", "100000", "0", "COUNT", "1", "JUSTID"),
        ("XAUTOCLAIM", "s", "g", "dave", "0", "0", "COUNT", "3", "JUSTID"),
        ("XAUTOCLAIM", "s", "g", "dave", "0", "0", "COUNT", "5", "JUSTID"),
        ("XPENDING", "s", "g"),
    ])


def test_copy_rename_and_del(pair):
    for i in range(1, 301):
        pair.same("XADD", "s", f"{i}-0", "f", str(i))
    run(pair, [
        ("XGROUP", "CREATE", "s", "g", "0"),
        ("XREADGROUP", "GROUP", "g", "alice", "COUNT", "5", "STREAMS", "s", ">"),
        ("COPY", "s", "t"),
        ("XINFO", "STREAM", "t"),
        ("XINFO", "GROUPS", "t"),
        ("XPENDING", "t", "g"),
        ("RENAME", "t", "u"),
        ("XPENDING", "u", "g"),
        ("DEL", "s"),
        ("XINFO", "GROUPS", "u"),
        ("XGROUP", "CREATE", "s", "g", "0", "MKSTREAM"),
        ("XINFO", "GROUPS", "s"),
        ("XPENDING", "s", "g"),
        ("XLEN", "u"),
        ("FLUSHALL",),
        ("XADD", "u", "1-0", "a", "b"),
        ("XINFO", "STREAM", "u"),
    ])


def _build(pair, key: str) -> None:
    for i in range(1, 260):
        pair.same("XADD", key, f"{i}-{i % 4}", "f", str(i), "g", "v" * (i % 9))
    run(pair, [
        ("XDEL", key, "10-2", "11-3"),
        ("XGROUP", "CREATE", key, "g1", "0"),
        ("XGROUP", "CREATE", key, "g2", "100-0", "ENTRIESREAD", "5"),
        ("XGROUP", "CREATECONSUMER", key, "g1", "idle"),
        ("XREADGROUP", "GROUP", "g1", "alice", "COUNT", "4", "STREAMS", key, ">"),
        ("XREADGROUP", "GROUP", "g1", "bob", "COUNT", "3", "STREAMS", key, ">"),
        ("XCLAIM", key, "g1", "bob", "0", "1-1", "TIME", "1700000000000", "RETRYCOUNT", "4",
         "JUSTID"),
        ("XCLAIM", key, "g1", "alice", "0", "2-2", "3-3", "4-0", "5-1", "6-2", "7-3",
         "TIME", "1700000000001", "RETRYCOUNT", "2", "JUSTID"),
    ])


def _full_info_without_times(raw: bytes) -> bytes:
    # seen-time of consumers is the wall clock of each server: blank it
    import re

    return re.sub(rb"seen-time\r\n:\d+", b"seen-time\r\n:0", raw)


def test_dump_restore_both_ways(pair):
    _build(pair, "s")
    dumped_r = pair.r.cmd("DUMP", "s")
    dumped_a = pair.a.cmd("DUMP", "s")
    payload_r = dumped_r.split(b"\r\n", 1)[1][:-2]
    payload_a = dumped_a.split(b"\r\n", 1)[1][:-2]
    # Redis's payload into aki, aki's into Redis: both sides then hold the same stream
    assert pair.a.cmd("RESTORE", "from_redis", "0", payload_r) == b"+OK\r\n"
    assert pair.r.cmd("RESTORE", "from_redis", "0", payload_r) == b"+OK\r\n"
    assert pair.r.cmd("RESTORE", "from_aki", "0", payload_a) == b"+OK\r\n"
    assert pair.a.cmd("RESTORE", "from_aki", "0", payload_a) == b"+OK\r\n"
    for key in ("from_redis", "from_aki"):
        a, r = pair.both("XINFO", "STREAM", key, "FULL", "COUNT", "0")
        assert _full_info_without_times(a) == _full_info_without_times(r), key
        run(pair, [("XINFO", "GROUPS", key), ("XPENDING", key, "g1"), ("XLEN", key),
                   ("XRANGE", key, "-", "+")])
