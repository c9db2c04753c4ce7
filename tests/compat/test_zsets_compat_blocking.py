"""BZPOPMIN/BZPOPMAX/BZMPOP against redis-server 7.0.15: immediate pops, errors,
timeouts, and clients woken by another client's write, replies compared byte for byte."""

from __future__ import annotations

import time

import pytest

from tests.conftest import RawClient, encode_command

RESP = [2, 3]


def hello(pair, proto: int) -> None:
    if proto == 3:
        pair.a.cmd("HELLO", "3")
        pair.r.cmd("HELLO", "3")


@pytest.mark.parametrize("proto", RESP)
def test_immediate_and_errors(pair, proto):
    hello(pair, proto)
    script = [
        ("ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d"),
        ("BZPOPMIN", "z", "0"),
        ("BZPOPMAX", "z", "0"),
        ("BZPOPMIN", "nokey", "z", "1"),
        ("BZMPOP", "0", "2", "nokey", "z", "MIN", "COUNT", "5"),
        ("EXISTS", "z"),
        ("BZPOPMIN", "z", "0.01"),
        ("BZPOPMAX", "z", "nokey", "0.01"),
        ("BZMPOP", "0.01", "1", "z", "MAX"),
        ("BZPOPMIN", "z", "x"),
        ("BZPOPMIN", "z", "-1"),
        ("BZPOPMIN", "z", "inf"),
        ("BZMPOP", "x", "1", "z", "MIN"),
        ("BZMPOP", "0", "0", "z", "MIN"),
        ("BZMPOP", "0", "1", "z"),
        ("BZMPOP", "0", "1", "z", "MIN", "COUNT", "0"),
        ("BZMPOP", "0", "2", "z", "MIN"),
        ("SET", "s", "v"),
        ("BZPOPMIN", "s", "0"),
        ("BZMPOP", "0", "2", "nokey", "s", "MIN"),
        ("MULTI",),
        ("BZPOPMIN", "nokey", "0"),
        ("BZMPOP", "0", "1", "nokey", "MIN"),
        ("EXEC",),
    ]
    for cmd in script:
        pair.same(*cmd)


def _wake(pair, proto: int, block: tuple, writes: list[tuple]) -> None:
    """A second client per server blocks with ``block``; ``writes`` wake it."""
    hello(pair, proto)
    waiters = []
    for port in (pair.a.sock.getpeername()[1], pair.r.sock.getpeername()[1]):
        w = RawClient(port)
        if proto == 3:
            w.cmd("HELLO", "3")
        w.send(encode_command(*block))
        waiters.append(w)
    time.sleep(0.15)
    for cmd in writes:
        pair.same(*cmd)
    try:
        got, want = waiters[0].read_reply(), waiters[1].read_reply()
        assert got == want, f"{block}: aki {got!r} != redis {want!r}"
        pair.same("ZRANGE", block[1] if block[0] != "BZMPOP" else block[3], "0", "-1",
                  "WITHSCORES")
    finally:
        for w in waiters:
            w.close()


@pytest.mark.parametrize("proto", RESP)
def test_bzpopmin_woken(pair, proto):
    _wake(pair, proto, ("BZPOPMIN", "k1", "k2", "5"), [("ZADD", "k2", "2", "b", "1", "a")])


@pytest.mark.parametrize("proto", RESP)
def test_bzpopmax_woken_after_wrong_type_write(pair, proto):
    _wake(pair, proto, ("BZPOPMAX", "k", "5"),
          [("SET", "k", "x"), ("DEL", "k"), ("ZADD", "k", "1", "a", "5", "e")])


@pytest.mark.parametrize("proto", RESP)
def test_bzmpop_woken(pair, proto):
    _wake(pair, proto, ("BZMPOP", "5", "1", "k", "MAX", "COUNT", "2"),
          [("ZADD", "k", "1", "a", "2", "b", "3", "c")])


@pytest.mark.parametrize("proto", RESP)
def test_bzpop_woken_by_zunionstore_inside_multi(pair, proto):
    _wake(pair, proto, ("BZPOPMIN", "dst", "5"),
          [("ZADD", "src", "1", "a", "2", "b"), ("MULTI",),
           ("ZUNIONSTORE", "dst", "1", "src"), ("ZADD", "dst", "0", "z"), ("EXEC",)])


@pytest.mark.parametrize("proto", RESP)
def test_timeout_reply(pair, proto):
    hello(pair, proto)
    for cmd in (("BZPOPMIN", "nokey", "0.05"), ("BZMPOP", "0.05", "1", "nokey", "MIN")):
        pair.same(*cmd)
