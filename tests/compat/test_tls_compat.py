"""TLS compared with real redis-server (Debian's 7.0 is built with TLS): the same
tls-* configuration given to both, CONFIG replies compared byte for byte over TLS, the
same start-up refusals, the same treatment of a client without a certificate."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
from types import SimpleNamespace

import pytest
import redis

from tests.conftest import REDIS_SERVER, RawClient, free_port, start_aki, start_redis
from tests.tlscerts import CA


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> SimpleNamespace:
    ca = CA(tmp_path_factory.mktemp("tls-compat-certs"))
    return SimpleNamespace(ca=ca.path, server=ca.issue("server", server=True),
                           server2=ca.issue("server2", server=True),
                           client=ca.issue("client", server=False))


def _tls_args(certs: SimpleNamespace, port: int) -> list[str]:
    return ["--tls-port", str(port), "--tls-cert-file", str(certs.server.cert),
            "--tls-key-file", str(certs.server.key), "--tls-ca-cert-file", str(certs.ca)]


@pytest.fixture(scope="module")
def servers(tmp_path_factory, certs):
    if not os.path.exists(REDIS_SERVER):
        pytest.fail("redis-server is not installed: the test command installs it (see README)")
    aki_tls, redis_tls = free_port(), free_port()
    aki = start_aki(tmp_path_factory.mktemp("aki"), *_tls_args(certs, aki_tls))
    real = start_redis(tmp_path_factory.mktemp("redis"), *_tls_args(certs, redis_tls))
    aki.tls_port, real.tls_port = aki_tls, redis_tls
    yield aki, real
    aki.stop()
    real.stop()


def _raw(port: int, certs: SimpleNamespace) -> RawClient:
    """conftest's byte-exact client over TLS, with the client certificate."""
    ctx = ssl.create_default_context(cafile=str(certs.ca))
    ctx.load_cert_chain(str(certs.client.cert), str(certs.client.key))
    client = RawClient.__new__(RawClient)
    client.sock = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10),
                                  server_hostname="localhost")
    client.buf = b""
    return client


def test_config_replies_over_tls_are_redis_s(servers, certs, tmp_path):
    aki, real = servers
    a, r = _raw(aki.tls_port, certs), _raw(real.tls_port, certs)

    def same(*args) -> bytes:
        got, want = a.cmd(*args), r.cmd(*args)
        assert got == want, f"{args!r}: aki {got!r} != redis {want!r}"
        return got

    def same_config(pattern: str) -> None:
        """CONFIG GET of a glob: the same pairs (Redis lists them in its dict's order),
        tls-port aside."""
        def pairs(raw: bytes) -> set[tuple[bytes, bytes]]:
            items = raw.split(b"\r\n")[2::2]
            found = set(zip(items[::2], items[1::2], strict=True))
            return {p for p in found if p[0] != b"tls-port"}  # each has its own

        got, want = a.cmd("CONFIG", "GET", pattern), r.cmd("CONFIG", "GET", pattern)
        assert pairs(got) == pairs(want), (got, want)

    try:
        same("PING")
        same("CONFIG", "GET", "tls-auth-clients")
        same_config("tls-session-*")
        same("CONFIG", "GET", "tls-cert-file")
        for name, value in (("tls-cert-file", str(tmp_path / "missing.crt")),
                            ("tls-key-file", str(certs.server2.key)),  # not the cert's key
                            ("tls-protocols", "TLSv1.2 SSLv3"),
                            ("tls-protocols", "TLSv1.2  TLSv1.3"),
                            ("tls-ciphers", "NO-SUCH-CIPHER"),
                            ("tls-ciphersuites", "NO_SUCH_SUITE"),
                            ("tls-auth-clients", "sometimes"),
                            ("tls-session-cache-size", "-1")):
            assert same("CONFIG", "SET", name, value).startswith(b"-ERR CONFIG SET failed")
        same_config("tls-*")  # every refusal left the values as they were
        assert same("CONFIG", "SET", "tls-cert-file", str(certs.server2.cert),
                    "tls-key-file", str(certs.server2.key)) == b"+OK\r\n"
        assert same("CONFIG", "SET", "tls-auth-clients", "optional") == b"+OK\r\n"
        assert same("CONFIG", "SET", "tls-protocols", "TLSv1.3") == b"+OK\r\n"
        same_config("tls-*")
        same("PING")
    finally:
        a.close()
        r.close()


def test_client_without_certificate_is_refused_by_both(servers, certs):
    aki, real = servers
    for srv in (aki, real):
        plain = srv.client()
        plain.config_set("tls-auth-clients", "yes")
        plain.close()
        client = redis.Redis(host="127.0.0.1", port=srv.tls_port, ssl=True,
                             ssl_ca_certs=str(certs.ca), socket_timeout=10)
        with pytest.raises(redis.ConnectionError):
            client.ping()
        client.close()


@pytest.mark.parametrize("args", [
    [],
    ["--tls-cert-file", "{cert}"],
    ["--tls-cert-file", "{cert}", "--tls-key-file", "{key}"],
])
def test_startup_refusals_log_redis_s_lines(tmp_path, certs, args):
    args = [a.format(cert=certs.server.cert, key=certs.server.key) for a in args]
    common = ["--port", str(free_port()), "--tls-port", str(free_port()), *args]

    def warnings(argv: list[str]) -> list[str]:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=30, cwd=tmp_path,
                              stdin=subprocess.DEVNULL)
        assert proc.returncode == 1
        lines = (proc.stdout + proc.stderr).splitlines()
        # the last two warnings: the reason, then "Failed to configure TLS ..." (Redis's
        # first ones are its start banner)
        return [line.split(" # ", 1)[1] for line in lines if " # " in line][-2:]

    want = warnings([REDIS_SERVER, *common, "--save", ""])
    got = warnings([sys.executable, "-m", "aki", "server", *common, "--dbfile",
                    str(tmp_path / "d.aki")])
    assert got == want
