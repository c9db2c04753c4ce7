"""Listeners and protected mode, against redis-server bound as Redis binds by default
(``* -::*``): a client from a non-loopback address gets the same DENIED text while the
default user has no password, and is served once it has one or protected-mode is off.
aki's own default bind is loopback only (``127.0.0.1 -::1``), as its spec asks."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import redis

from tests.conftest import start_aki, start_redis

# Protected mode counts only 127.0.0.1 and ::1 as local (Redis compares the address text),
# so a client connecting from another address of the loopback range is an outside client:
# the test runs on any Linux host, network or not.
OUTSIDE = "127.0.0.2"


def _talk(port: int, payload: bytes = b"PING\r\n", source: str = OUTSIDE,
          replies: int = 1) -> bytes:
    """Send ``payload`` to 127.0.0.1:``port`` from ``source``; what comes back until
    ``replies`` lines arrived or the server closed."""
    with socket.create_connection(("127.0.0.1", port), timeout=10,
                                  source_address=(source, 0)) as s:
        s.sendall(payload)
        got = b""
        while got.count(b"\r\n") < replies:
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
        return got


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    aki = start_aki(tmp_path_factory.mktemp("aki"), "--bind", "* -::*")
    # start_redis binds 127.0.0.1; a later --bind wins, giving Redis's default back
    real = start_redis(tmp_path_factory.mktemp("redis"), "--bind", "* -::*")
    yield aki, real
    aki.stop()
    real.stop()


def test_default_bind_is_loopback_and_protected_mode_is_on(servers, tmp_path: Path):
    aki, real = servers
    for srv in (aki, real):
        r = srv.client()
        assert r.config_get("bind") == {"bind": "* -::*"}
        assert r.config_get("protected-mode") == {"protected-mode": "yes"}
        r.close()
    plain = start_aki(tmp_path)  # no --bind: aki listens on loopback only
    try:
        r = plain.client()
        assert r.config_get("bind") == {"bind": "127.0.0.1 -::1"}
        r.close()
        with pytest.raises(OSError):  # nothing listens on other addresses
            socket.create_connection((OUTSIDE, plain.port), timeout=5).close()
    finally:
        plain.stop()


def test_nonloopback_client_denied_then_served(servers):
    aki, real = servers
    replies = []
    for srv in (aki, real):
        r = srv.client()
        before = r.info("stats")["rejected_connections"]
        denied = _talk(srv.port)
        assert denied.startswith(b"-DENIED Redis is running in protected mode")
        assert r.info("stats")["rejected_connections"] == before + 1
        assert _talk(srv.port, source="127.0.0.1") == b"+PONG\r\n"  # the loopback itself
        r.config_set("requirepass", "secret")
        assert _talk(srv.port, b"AUTH secret\r\nPING\r\n", replies=2) == b"+OK\r\n+PONG\r\n"
        r2 = redis.Redis(port=srv.port, password="secret", socket_timeout=10)
        r2.config_set("requirepass", "")
        r2.config_set("protected-mode", "no")
        assert _talk(srv.port) == b"+PONG\r\n"
        r2.config_set("protected-mode", "yes")
        r2.close()
        r.close()
        replies.append(denied)
    assert replies[0] == replies[1]


def test_empty_bind_listens_on_no_tcp_socket(tmp_path: Path):
    sock = tmp_path / "aki.sock"
    srv = start_aki(tmp_path, "--unixsocket", str(sock))
    try:
        r = redis.Redis(unix_socket_path=str(sock), socket_timeout=10)
        assert r.config_set("bind", "")
        assert r.config_get("bind") == {"bind": ""}
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", srv.port), timeout=2).close()
        assert r.config_set("bind", "*")
        assert _talk(srv.port, source="127.0.0.1") == b"+PONG\r\n"
        r.close()
    finally:
        srv.stop()


def test_config_set_bind_to_overlapping_and_bad_addresses(tmp_path: Path):
    """changeBindAddr: the old listeners close before the new bind, so an address in both
    ("127.0.0.1 -::1" -> "127.0.0.1") moves; a bind that fails restores the old one."""
    srv = start_aki(tmp_path)
    try:
        r = srv.client()
        assert r.config_get("bind") == {"bind": "127.0.0.1 -::1"}
        assert r.config_set("bind", "127.0.0.1")
        assert r.config_get("bind") == {"bind": "127.0.0.1"}
        assert _talk(srv.port, source="127.0.0.1") == b"+PONG\r\n"
        with pytest.raises(redis.ResponseError, match=r"^CONFIG SET failed \(possibly related to argument 'bind'\) - Failed to bind to specified addresses\.$"):
            r.config_set("bind", "127.0.0.1 192.0.2.123")  # not an address of this host
        assert r.config_get("bind") == {"bind": "127.0.0.1"}
        assert _talk(srv.port, source="127.0.0.1") == b"+PONG\r\n"
        r.close()
    finally:
        srv.stop()


def test_always_show_logo_prints_pid_once_listening(tmp_path: Path):
    """Redis's test suite waits for " PID: n" in the log before it connects."""
    srv = start_aki(tmp_path, "--always-show-logo", "yes")
    try:
        assert srv.proc is not None
        assert f" PID: {srv.proc.pid}" in srv.log.read_text()
    finally:
        srv.stop()
