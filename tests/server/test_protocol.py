"""The wire protocol, byte for byte against redis-server: framing errors, inline
commands, pipelining, limits, RESP3.

Every case sends the same raw bytes to aki and to Redis 7.0.15 and compares the
whole byte stream each sends back, including whether it closed the connection.
A sentinel ``ECHO`` after the payload marks the end of the replies when the
connection is expected to stay open, so no case waits on a timeout.
"""

from __future__ import annotations

import socket
import time

import pytest

from tests.conftest import encode_command, start_aki, start_redis

SENTINEL = encode_command("ECHO", "end-of-test")
SENTINEL_REPLY = b"$11\r\nend-of-test\r\n"


def talk(port: int, payload: bytes | list[bytes], *, sentinel: bool = True,
         sentinel_prefix: bytes = b"", timeout: float = 10.0) -> tuple[bytes, bool]:
    """Send ``payload`` (chunks sent separately), return (everything received, closed?)."""
    chunks = payload if isinstance(payload, list) else [payload]
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        for i, chunk in enumerate(chunks):
            s.sendall(chunk)
            if i + 1 < len(chunks):
                time.sleep(0.05)
        if sentinel:
            try:
                s.sendall(sentinel_prefix + SENTINEL)
            except OSError:
                pass  # already closed by the server: the reply says why
        got = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                data = s.recv(1 << 16)
            except ConnectionResetError:
                return got, True
            except TimeoutError:
                break
            if not data:
                return got, True
            got += data
            if sentinel and got.endswith(SENTINEL_REPLY):
                return got, False
        raise AssertionError(f"no end of reply within {timeout}s; got {got[:300]!r}")


@pytest.fixture(scope="module")
def servers(aki_server, redis_server):
    return aki_server.port, redis_server.port


def same(servers, payload, *, sentinel: bool = True) -> tuple[bytes, bool]:
    aki_port, redis_port = servers
    want = talk(redis_port, payload, sentinel=sentinel)
    got = talk(aki_port, payload, sentinel=sentinel)
    assert got == want, f"payload {payload[:200]!r}:\n aki   {got[0][:300]!r}\n redis {want[0][:300]!r}"
    return got


# -- framing errors: reply, then close ------------------------------------------------

FRAMING_ERRORS = {
    "expected-dollar-got-colon": b"*1\r\n:5\r\n",
    "expected-dollar-got-f": b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n",
    "multibulk-not-followed-by-bulk": b"*1\r\nfoo\r\n",
    "multibulk-len-not-number": b"*abc\r\n",
    "multibulk-len-out-of-range": b"*3000000000\r\n",
    "multibulk-len-int-max-plus-one": b"*2147483648\r\n",
    "multibulk-len-leading-zero": b"*01\r\n$4\r\nPING\r\n",
    "multibulk-len-plus-sign": b"*+1\r\n$4\r\nPING\r\n",
    "multibulk-len-space": b"* 1\r\n$4\r\nPING\r\n",
    "multibulk-len-underscore": b"*1_0\r\n",
    "multibulk-len-minus-zero": b"*-0\r\n",
    "multibulk-len-empty": b"*\r\n",
    "bulk-len-negative": b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$-10\r\n",
    "bulk-len-minus-one": b"*1\r\n$-1\r\n",
    "bulk-len-not-number": b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$blabla\r\n",
    "bulk-len-huge": b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$2000000000\r\n",
    "bulk-len-over-proto-max": b"*1\r\n$536870913\r\n",
    "bulk-len-leading-zero": b"*1\r\n$04\r\nPING\r\n",
    "bulk-len-plus-sign": b"*1\r\n$+4\r\nPING\r\n",
    "bulk-len-empty": b"*1\r\n$\r\n",
    "bulk-len-64bit-overflow": b"*1\r\n$99999999999999999999\r\n",
    "second-element-integer": b"*2\r\n$4\r\nECHO\r\n:1\r\n",
    "element-is-array": b"*1\r\n*1\r\n$4\r\nPING\r\n",
    "element-simple-string": b"*1\r\n+PING\r\n",
    "inline-unbalanced-double": b'set """test-key""" test-value\r\nping\r\n',
    "inline-unbalanced-open": b'set "k v\r\n',
    "inline-unbalanced-single": b"set 'k v\r\n",
    "inline-quote-followed-by-char": b'set "k"v 1\r\n',
    "after-good-commands": b"*1\r\n$4\r\nPING\r\nPING\r\n*1\r\n:5\r\n",
    "good-command-then-error-same-request": b"*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\n*x\r\n",
}


@pytest.mark.parametrize("payload", list(FRAMING_ERRORS.values()), ids=list(FRAMING_ERRORS))
def test_framing_error_replies_then_closes(servers, payload):
    got, closed = same(servers, payload)
    assert closed
    assert b"-ERR Protocol error: " in got


@pytest.mark.parametrize("chunks", [
    [b"*1\r\n", b":5\r\n"],
    [b"*3\r\n$3\r\nSET\r\n", b"$1\r\nx\r\n", b"$-10\r\n"],
    [b"*1\r", b"\n$4\r\nPIN", b"G\r\n*1\r\n$", b"bad\r\n"],
], ids=["split-colon", "split-negative-bulk", "split-many"])
def test_framing_error_across_reads(servers, chunks):
    got, closed = same(servers, chunks)
    assert closed


def test_too_big_inline_request(servers):
    # No sentinel: its newline would end the line; Redis reads 16 KB at a time and
    # refuses a line as soon as 64 KB have arrived without a newline.
    got, closed = same(servers, b"a" * (100 * 1024), sentinel=False)
    assert closed and got == b"-ERR Protocol error: too big inline request\r\n"


def test_too_big_mbulk_count_string(servers):
    got, closed = same(servers, b"*" + b"1" * (100 * 1024), sentinel=False)
    assert closed and got == b"-ERR Protocol error: too big mbulk count string\r\n"


def test_too_big_bulk_count_string(servers):
    got, closed = same(servers, b"*1\r\n$" + b"1" * (100 * 1024), sentinel=False)
    assert closed and got == b"-ERR Protocol error: too big bulk count string\r\n"


def test_protocol_error_leaves_other_clients_served(servers, aki_server):
    import redis

    other = redis.Redis(port=aki_server.port, socket_timeout=10)
    other.set("survivor", "yes")
    for payload in FRAMING_ERRORS.values():
        _, closed = talk(aki_server.port, payload)
        assert closed
    assert other.get("survivor") == b"yes"
    assert other.ping()
    other.close()


# -- not errors: the connection stays open ---------------------------------------------

STAYS_OPEN = {
    "negative-multibulk-ignored": b"*-1\r\n*1\r\n$4\r\nPING\r\n",
    "zero-multibulk-ignored": b"*0\r\n*1\r\n$4\r\nPING\r\n",
    "bulk-zero-length-arg": b"*2\r\n$4\r\nECHO\r\n$0\r\n\r\n",
    "bulk-trailer-not-crlf": b"*2\r\n$4\r\nECHO\r\n$2\r\nhixx",
    "binary-bulk": b"*2\r\n$4\r\nECHO\r\n$6\r\n\x00\r\n\xff\r\n\r\n",
    "inline-ping": b"PING\r\n",
    "inline-lf-only": b"PING\nECHO hello\n",
    "inline-empty-lines": b"\r\n\r\n\n   \r\nPING\r\n",
    "inline-tabs-and-spaces": b"  ECHO \t  spaced   \r\n",
    "inline-double-quotes": b'ECHO "hello world"\r\n',
    "inline-escapes": b'ECHO "a\\tb\\nc\\x41\\x4a\\\\ \\"q\\""\r\n',
    "inline-bad-hex-escape": b'ECHO "\\xzz"\r\n',
    "inline-single-quotes": b"ECHO 'it\\'s \"raw\" \\n'\r\n",
    "inline-empty-quoted-arg": b'ECHO ""\r\n',
    "inline-unknown-command": b"NOSUCHCMD a b\r\n",
    "inline-wrong-arity": b"ping x y z\r\n",
    "inline-mixed-with-multibulk": b"PING\r\n*1\r\n$4\r\nPING\r\nECHO x\r\n",
    "inline-set-get": b'SET "inline key" "a b c"\r\nGET "inline key"\r\nDEL "inline key"\r\n',
    "unknown-command-many-args": encode_command("FOOBAR", *["x" * 150] * 4),
    "unknown-command-empty-name": encode_command(""),
    "wrong-arity-get": encode_command("GET"),
    "wrong-arity-set": encode_command("SET", "k"),
    "mixed-case-command": encode_command("pInG"),
    "non-integer-incrby": encode_command("INCRBY", "proto:n", "abc"),
    "float-incrby": encode_command("INCRBY", "proto:n", "1.5"),
    "overflow-incrby": encode_command("INCRBY", "proto:n", "99999999999999999999"),
    "bad-set-option": encode_command("SET", "k", "v", "XX", "NX"),
    "bad-set-ex": encode_command("SET", "k", "v", "EX", "-1"),
    "bad-set-ex-text": encode_command("SET", "k", "v", "EX", "soon"),
    "select-out-of-range": encode_command("SELECT", "16"),
    "select-not-integer": encode_command("SELECT", "x"),
}


@pytest.mark.parametrize("payload", list(STAYS_OPEN.values()), ids=list(STAYS_OPEN))
def test_request_answered_and_connection_kept(servers, payload):
    got, closed = same(servers, payload)
    assert not closed


def test_request_split_into_single_bytes(servers):
    payload = encode_command("SET", "proto:split", "v" * 40) + encode_command("GET", "proto:split") \
        + b"ECHO inline\r\n" + encode_command("DEL", "proto:split")
    aki_port, redis_port = servers
    # Byte by byte: one send per byte, replies must still match Redis exactly.
    got = _send_bytewise(aki_port, payload)
    want = _send_bytewise(redis_port, payload)
    assert got == want


def _send_bytewise(port: int, payload: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(len(payload)):
            s.sendall(payload[i:i + 1])
        s.sendall(SENTINEL)
        got = b""
        while not got.endswith(SENTINEL_REPLY):
            data = s.recv(65536)
            assert data, "closed"
            got += data
        return got


# -- pipelining -----------------------------------------------------------------------------


def test_pipeline_10k_commands_in_one_write(servers):
    parts = []
    for i in range(10_000):
        k = f"pipe:{i % 100}"
        parts.append(encode_command("INCR", k) if i % 3 else encode_command("GET", k))
    parts.append(encode_command("DEL", *[f"pipe:{i}" for i in range(100)]))
    got, closed = same(servers, b"".join(parts))
    assert not closed
    assert got.count(b"\r\n") > 10_000


def test_pipeline_10k_inline_commands(servers):
    payload = b"".join(b"ECHO %d\r\n" % i for i in range(10_000))
    got, closed = same(servers, payload)
    assert not closed


def test_pipeline_big_values(servers):
    """Bulks above hiredis's and Redis's big-argument thresholds, mixed with small ones."""
    parts = []
    for i, size in enumerate([10, 40_000, 70_000, 1 << 20, 3, 200_000]):
        parts.append(encode_command("SET", f"big:{i}", bytes([65 + i]) * size))
        parts.append(encode_command("STRLEN", f"big:{i}"))
    parts.append(encode_command("DEL", *[f"big:{i}" for i in range(6)]))
    same(servers, b"".join(parts))


def test_big_value_sent_in_small_chunks(aki_server):
    import redis

    value = bytes(range(256)) * 8000  # ~2 MB
    payload = encode_command("SET", "chunked", value) + encode_command("STRLEN", "chunked")
    chunks = [payload[i:i + 7919] for i in range(0, len(payload), 7919)]
    with socket.create_connection(("127.0.0.1", aki_server.port), timeout=10) as s:
        for c in chunks:
            s.sendall(c)
        want = b"+OK\r\n:%d\r\n" % len(value)
        got = b""
        while len(got) < len(want):
            data = s.recv(65536)
            assert data
            got += data
    assert got == want
    r = redis.Redis(port=aki_server.port)
    assert r.get("chunked") == value
    r.delete("chunked")
    r.close()


# -- limits and authentication ---------------------------------------------------------------


@pytest.fixture(scope="module")
def authed(tmp_path_factory):
    """Both servers with requirepass: the unauthenticated request limits apply."""
    aki = start_aki(tmp_path_factory.mktemp("aki-auth"), "--requirepass", "sekret")
    red = start_redis(tmp_path_factory.mktemp("redis-auth"), "--requirepass", "sekret")
    yield aki.port, red.port
    aki.stop()
    red.stop()


AUTH = encode_command("AUTH", "sekret")

UNAUTHENTICATED = {
    "noauth-command": encode_command("GET", "x"),
    "noauth-inline": b"GET x\r\n",
    "mbulk-10-ok": encode_command("PING", *["a"] * 9),
    "mbulk-11-refused": b"*11\r\n",
    "mbulk-11-complete-refused": encode_command("PING", *["a"] * 10),
    "bulk-16384-ok": encode_command("ECHO", "x" * 16384),
    "bulk-16385-refused": b"*2\r\n$4\r\nECHO\r\n$16385\r\n",
    "bulk-16385-complete-refused": encode_command("ECHO", "x" * 16385),
    "wrong-password": encode_command("AUTH", "nope") + encode_command("GET", "x"),
    "wrong-password-then-big": encode_command("AUTH", "nope") + encode_command("PING", *["a"] * 11),
    "auth-then-big-mbulk": AUTH + encode_command("PING", *["a"] * 11),
    "auth-then-big-bulk": AUTH + encode_command("ECHO", "y" * 20000),
    "auth-inline-then-big": b"AUTH sekret\r\n" + encode_command("ECHO", "y" * 20000),
    "auth-wrong-arity": encode_command("AUTH", "a", "b", "c"),
    "hello-noauth": encode_command("HELLO", "2"),
    "hello-auth-then-big": encode_command("HELLO", "2", "AUTH", "default", "sekret")
    + encode_command("PING", *["a"] * 11),
}


@pytest.mark.parametrize("payload", list(UNAUTHENTICATED.values()), ids=list(UNAUTHENTICATED))
def test_unauthenticated_limits(authed, payload):
    aki_port, redis_port = authed
    # The sentinel needs a logged-in connection: AUTH first (a harmless repeat if logged in).
    want = talk(redis_port, payload, sentinel_prefix=AUTH)
    got = talk(aki_port, payload, sentinel_prefix=AUTH)
    got, want = (_hello_normalized(got[0]), got[1]), (_hello_normalized(want[0]), want[1])
    assert got == want, f"payload {payload[:200]!r}:\n aki   {got[0][:300]!r}\n redis {want[0][:300]!r}"


@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    """Both servers with the smallest proto-max-bulk-len (1mb)."""
    aki = start_aki(tmp_path_factory.mktemp("aki-limited"), "--proto-max-bulk-len", "1mb")
    red = start_redis(tmp_path_factory.mktemp("redis-limited"), "--proto-max-bulk-len", "1mb")
    yield aki.port, red.port
    aki.stop()
    red.stop()


@pytest.fixture(scope="module")
def small_qbuf(tmp_path_factory):
    """Both servers with the smallest client-query-buffer-limit (1mb)."""
    args = ("--client-query-buffer-limit", "1mb")
    aki = start_aki(tmp_path_factory.mktemp("aki-qbuf"), *args)
    red = start_redis(tmp_path_factory.mktemp("redis-qbuf"), *args)
    yield aki.port, red.port
    aki.stop()
    red.stop()


def test_proto_max_bulk_len(limited):
    ok = encode_command("SET", "k", b"v" * (1 << 20)) + encode_command("STRLEN", "k")
    got, closed = same(limited, ok)
    assert not closed and got == b"+OK\r\n:1048576\r\n" + SENTINEL_REPLY
    got, closed = same(limited, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1048577\r\n")
    assert closed and got == b"-ERR Protocol error: invalid bulk length\r\n"


def test_query_buffer_limit_counts_the_pending_bulk_only(small_qbuf):
    """Arguments already received do not count: several 0.9 MB values pass a 1 MB limit."""
    args = ["MSET"] + [x for i in range(3) for x in (f"k{i}", bytes([48 + i]) * 900_000)]
    got, closed = same(small_qbuf, encode_command(*args) + encode_command("STRLEN", "k2"))
    assert not closed and got == b"+OK\r\n:900000\r\n" + SENTINEL_REPLY


def test_query_buffer_limit_closes_without_reply(small_qbuf):
    """A single bulk bigger than the limit: the client is dropped without a reply."""
    big = encode_command("SET", "big", b"x" * 1_500_000)
    got, closed = same(small_qbuf, big)
    assert closed and got == b""
    got, closed = same(small_qbuf, encode_command("EXISTS", "big"))
    assert not closed and got == b":0\r\n" + SENTINEL_REPLY


# -- RESP3 -------------------------------------------------------------------------------------


def _hello_normalized(reply: bytes) -> bytes:
    """HELLO's map carries the connection id, which differs between servers."""
    lines = reply.split(b"\r\n")
    for i, line in enumerate(lines[:-1]):
        if line == b"id":
            lines[i + 1] = b":ID"
    return b"\r\n".join(lines)


def test_hello3_then_resp3_replies(servers):
    cmds = [
        ("SET", "r3:s", "v"), ("GET", "r3:s"), ("GET", "r3:missing"),
        ("MGET", "r3:s", "r3:missing"), ("EXISTS", "r3:s"), ("INCRBYFLOAT", "r3:f", "1.5"),
        ("SET", "r3:s", "w", "GET"), ("GETDEL", "r3:missing"), ("DEL", "r3:s", "r3:f"),
        ("ECHO", "x"), ("PING",), ("NOSUCH",), ("GET",),
    ]
    payload = encode_command("HELLO", "3") + b"".join(encode_command(*c) for c in cmds) \
        + encode_command("HELLO", "2") + encode_command("GET", "r3:missing")
    aki_port, redis_port = servers
    got, closed = talk(aki_port, payload)
    want, _ = talk(redis_port, payload)
    assert not closed
    assert _hello_normalized(got) == _hello_normalized(want)
    assert b"_\r\n" in got and got.endswith(b"$-1\r\n" + SENTINEL_REPLY)


def test_hello_errors(servers):
    for args in [("HELLO", "4"), ("HELLO", "x"), ("HELLO", "3", "AUTH", "u"),
                 ("HELLO", "3", "SETNAME", "bad name"), ("HELLO", "2", "FOO")]:
        same(servers, encode_command(*args))
