"""client-output-buffer-limit for every client class, against real redis-server: a reply
(or a pipeline of replies) over the hard limit closes the client and sends nothing, a
huge HRANDFIELD/SRANDMEMBER/ZRANDMEMBER is cut short the same way, and the server lives on.
"""

from __future__ import annotations

import socket

import pytest

from tests.conftest import encode_command


def _fate(port: int, *commands) -> bytes:
    """Send ``commands`` and a PING in one write; everything that comes back before the
    server closes the connection, or up to the PONG if it does not."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        s.sendall(b"".join(encode_command(*c) for c in (*commands, ("PING",))))
        got = b""
        while not got.endswith(b"+PONG\r\n"):
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            got += chunk
        return got
    finally:
        s.close()


@pytest.fixture
def limited(pair):
    pair.same("CONFIG", "SET", "client-output-buffer-limit", "normal 100000 0 0")
    yield pair
    pair.same("CONFIG", "SET", "client-output-buffer-limit",
              "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60")


def test_big_reply_closes_the_client(limited, aki_server, redis_server):
    p = limited
    p.same("RPUSH", "big", *["x" * 1000] * 150)
    p.same("HSET", "h", "f", "v")
    p.same("SADD", "s", "m")
    p.same("ZADD", "z", "1", "m")
    p.same("SET", "ten", "y" * 10000)
    cases = [
        [("LRANGE", "big", "0", "-1")],
        [("GET", "ten")] * 12,  # 120 KB in one pipeline: none of it is sent
        [("HRANDFIELD", "h", "-999999999")],
        [("HRANDFIELD", "h", "-999999999", "WITHVALUES")],
        [("SRANDMEMBER", "s", "-999999999")],
        [("ZRANDMEMBER", "z", "-999999999", "WITHSCORES")],
        [("LRANGE", "big", "0", "50")],  # 51 KB: under the limit, answered in full
        [("GET", "ten")] * 5,
    ]
    for i, commands in enumerate(cases):
        got = _fate(aki_server.port, *commands)
        want = _fate(redis_server.port, *commands)
        assert got == want, commands
        assert (got == b"") == (i < 6), commands  # the last two are answered
    p.same("PING")
    p.same("LLEN", "big")


def test_transaction_runs_whole_even_if_its_reply_is_cut(limited, aki_server, redis_server):
    p = limited
    p.same("SET", "ten", "y" * 10000)
    commands = [("MULTI",), ("SET", "k", "v1"), *[("GET", "ten")] * 12, ("SET", "k", "v2"),
                ("EXEC",)]
    assert _fate(aki_server.port, *commands) == _fate(redis_server.port, *commands) == b""
    p.same("GET", "k")
