"""Shared helpers for the Lua tests (no tests here).

The reference is a real ``redis-server`` (7.0.15) on a free port: a script
is sent to it with EVAL, and run in aki's ScriptRuntime with ``call``
forwarded to the same server, so both sides see the same data and the
replies can be compared byte for byte. aki's reply values are put on the
wire by the small encoder below, which follows aki/resp/types.py.
"""

from __future__ import annotations

import math
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from aki.errors import RedisError
from aki.resp.types import (
    BigNumber,
    ErrorReply,
    NullArray,
    Push,
    Raw,
    RespSet,
    Status,
    Verbatim,
)
from aki.scripting import ScriptRuntime
from aki.scripting import messages as M
from aki.scripting.convert import parse_raw

REDIS_SERVER = shutil.which("redis-server")
needs_redis = pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server not installed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _reply_end(data: bytes, pos: int) -> int | None:
    """Where the RESP reply starting at ``pos`` ends, or None if incomplete.

    Iterative: a script may return thousands of nested arrays.
    """
    pending = 1  # replies still to skip
    while pending:
        end = data.find(b"\r\n", pos)
        if end < 0:
            return None
        kind, line, pos = data[pos:pos + 1], data[pos + 1:end], end + 2
        pending -= 1
        if kind in (b"$", b"=", b"!"):
            n = int(line)
            if n >= 0:
                pos += n + 2
                if len(data) < pos:
                    return None
        elif kind in (b"*", b"~", b">"):
            pending += max(int(line), 0)
        elif kind == b"%":
            pending += 2 * int(line)
        elif kind == b"|":
            pending += 2 * int(line) + 1
    return pos


class Connection:
    """A raw RESP connection that returns replies as wire bytes."""

    def __init__(self, port: int, resp: int = 2) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.buf = b""
        if resp == 3:
            self.raw([b"HELLO", b"3"])

    def raw(self, argv: Sequence[bytes | str]) -> bytes:
        out = [b"*%d\r\n" % len(argv)]
        for a in argv:
            b = a.encode() if isinstance(a, str) else a
            out.append(b"$%d\r\n%s\r\n" % (len(b), b))
        self.sock.sendall(b"".join(out))
        while True:
            end = _reply_end(self.buf, 0) if self.buf else None
            if end is not None:
                reply, self.buf = self.buf[:end], self.buf[end:]
                return reply
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis-server closed the connection")
            self.buf += chunk

    def close(self) -> None:
        self.sock.close()


class RedisServer:
    """A throwaway redis-server process."""

    def __init__(self) -> None:
        assert REDIS_SERVER is not None
        self.port = _free_port()
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--save", "", "--appendonly", "no",
             "--bind", "127.0.0.1", "--enable-debug-command", "yes"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                c = Connection(self.port)
                c.raw([b"PING"])
                c.close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        self.conns = {2: Connection(self.port, 2), 3: Connection(self.port, 3)}

    def command(self, argv: Sequence[bytes | str], resp: int = 2) -> bytes:
        return self.conns[resp].raw(argv)

    def stop(self) -> None:
        for c in self.conns.values():
            c.close()
        self.proc.terminate()
        self.proc.wait(5)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    if REDIS_SERVER is None:
        pytest.fail("redis-server is not installed: scripts/test.sh installs it")
    server = RedisServer()
    yield server
    server.stop()


# ---------------------------------------------------------------------------
# Encoding aki reply values (the tests' stand-in for resp/encoder.py)
# ---------------------------------------------------------------------------


def _double(x: float) -> bytes:
    if math.isinf(x):
        return b"inf" if x > 0 else b"-inf"
    return b"%.17g" % x


def encode(value: Any, resp: int = 2) -> bytes:
    """RESP bytes for an aki reply value, following aki/resp/types.py."""
    if isinstance(value, RedisError):
        return b"-" + value.message.encode("utf-8", "surrogateescape") + b"\r\n"
    if isinstance(value, Raw):
        return bytes(value)
    if isinstance(value, ErrorReply):
        return b"-" + value.message.encode("utf-8", "surrogateescape") + b"\r\n"
    if isinstance(value, Status):
        return b"+" + value.encode("utf-8", "surrogateescape") + b"\r\n"
    if isinstance(value, Verbatim):
        if resp == 3:
            return b"=%d\r\ntxt:%s\r\n" % (len(value) + 4, bytes(value))
        return b"$%d\r\n%s\r\n" % (len(value), bytes(value))
    if isinstance(value, bytes):
        return b"$%d\r\n%s\r\n" % (len(value), value)
    if isinstance(value, bool):
        if resp == 3:
            return b"#t\r\n" if value else b"#f\r\n"
        return b":1\r\n" if value else b":0\r\n"
    if isinstance(value, BigNumber):
        if resp == 3:
            return b"(%d\r\n" % value
        text = str(int(value)).encode()
        return b"$%d\r\n%s\r\n" % (len(text), text)
    if isinstance(value, int):
        return b":%d\r\n" % value
    if value is None or value is NullArray:
        if resp == 3:
            return b"_\r\n"
        return b"*-1\r\n" if value is NullArray else b"$-1\r\n"
    if isinstance(value, float):
        if resp == 3:
            return b"," + _double(value) + b"\r\n"
        text = _double(value)
        return b"$%d\r\n%s\r\n" % (len(text), text)
    if isinstance(value, RespSet):
        head = b"~" if resp == 3 else b"*"
        return head + b"%d\r\n" % len(value) + b"".join(encode(v, resp) for v in value)
    if isinstance(value, dict):
        if resp == 3:
            head = b"%%%d\r\n" % len(value)
        else:
            head = b"*%d\r\n" % (2 * len(value))
        return head + b"".join(encode(k, resp) + encode(v, resp) for k, v in value.items())
    if isinstance(value, Push):
        head = b">" if resp == 3 else b"*"
        return head + b"%d\r\n" % len(value) + b"".join(encode(v, resp) for v in value)
    if isinstance(value, (list, tuple)):
        return b"*%d\r\n" % len(value) + b"".join(encode(v, resp) for v in value)
    raise TypeError(type(value))


# ---------------------------------------------------------------------------
# Running the same script on both sides
# ---------------------------------------------------------------------------


# Commands Redis flags MAY_REPLICATE (not shown by COMMAND INFO in 7.0); read-only scripts refuse them.
MAY_REPLICATE = {b"publish", b"spublish", b"pfcount", b"eval", b"evalsha", b"fcall"}


class CommandTable:
    """Arity and flags of the real server's commands (COMMAND INFO), cached."""

    def __init__(self, server: RedisServer) -> None:
        self.server = server
        self.cache: dict[bytes, tuple[int, set[bytes], dict[bytes, tuple[int, set[bytes]]]] | None] = {}

    def lookup(self, argv: list[bytes]) -> tuple[int, set[bytes]] | None:
        name = argv[0].lower()
        if name not in self.cache:
            info = parse_raw(self.server.command([b"COMMAND", b"INFO", name]))[0]
            if info is None:
                self.cache[name] = None
            else:
                subs = {
                    sub[0].split(b"|")[1]: (sub[1], {f.encode() for f in sub[2]})
                    for sub in (info[9] if len(info) > 9 else [])
                }
                self.cache[name] = (info[1], {f.encode() for f in info[2]}, subs)
        entry = self.cache[name]
        if entry is None:
            return None
        arity, flags, subs = entry
        if subs:
            if len(argv) < 2:
                return arity, flags
            return subs.get(argv[1].lower())
        return arity, flags


def proxy_call(runtime: ScriptRuntime, server: RedisServer, checks: bool = True):
    """A ``call`` that runs the command on the real server in the script's protocol.

    With ``checks`` it first refuses what Redis's ``scriptCall`` refuses
    (unknown command, wrong arity, noscript commands, writes from a
    read-only script), with the texts from aki.scripting.messages: this is
    the contract the server's own ``call`` has to meet.
    """
    table = CommandTable(server)

    def call(argv: list[bytes]) -> Any:
        run = runtime.current
        assert run is not None
        if checks:
            cmd = table.lookup(argv)
            if cmd is None:
                raise RedisError(M.CALL_UNKNOWN_COMMAND)
            arity, flags = cmd
            if (arity > 0 and arity != len(argv)) or len(argv) < -arity:
                raise RedisError(M.CALL_WRONG_ARITY)
            if b"noscript" in flags:
                raise RedisError(M.CALL_NOT_ALLOWED)
            if run.read_only and (b"write" in flags or argv[0].lower() in MAY_REPLICATE):
                raise RedisError(M.CALL_WRITE_IN_READONLY)
        raw = server.command(argv, run.resp)
        value = parse_raw(raw)
        if isinstance(value, ErrorReply):
            raise RedisError(value.message)
        return value

    return call


def aki_eval(
    runtime: ScriptRuntime,
    server: RedisServer | None,
    script: bytes | str,
    keys: Sequence[bytes | str] = (),
    args: Sequence[bytes | str] = (),
    resp: int = 2,
    readonly: bool = False,
) -> bytes:
    """EVAL in aki, reply encoded as wire bytes."""
    body = script.encode() if isinstance(script, str) else script
    k = [x.encode() if isinstance(x, str) else x for x in keys]
    a = [x.encode() if isinstance(x, str) else x for x in args]
    if server is not None:
        call = proxy_call(runtime, server)
    else:
        def call(argv: list[bytes]) -> Any:
            raise RedisError("ERR no server in this test")
    try:
        value = runtime.eval(body, k, a, call, resp=resp, readonly=readonly)
    except RedisError as e:
        return encode(e, resp)
    return encode(value, resp)


def redis_eval(
    server: RedisServer,
    script: bytes | str,
    keys: Sequence[bytes | str] = (),
    args: Sequence[bytes | str] = (),
    resp: int = 2,
    readonly: bool = False,
) -> bytes:
    """EVAL (or EVAL_RO) on the real server, reply as wire bytes."""
    cmd = b"EVAL_RO" if readonly else b"EVAL"
    return server.command([cmd, script, str(len(keys)), *keys, *args], resp)


def compare(
    runtime: ScriptRuntime,
    server: RedisServer,
    script: bytes | str,
    keys: Sequence[bytes | str] = (),
    args: Sequence[bytes | str] = (),
    resp: int = 2,
    readonly: bool = False,
) -> bytes:
    """Run on both sides from an empty database each time; assert equal wire bytes."""
    server.command([b"FLUSHALL"])
    expected = redis_eval(server, script, keys, args, resp, readonly)
    server.command([b"FLUSHALL"])
    got = aki_eval(runtime, server, script, keys, args, resp, readonly)
    assert got == expected, f"script {script!r}\n aki:   {got!r}\n redis: {expected!r}"
    return got
