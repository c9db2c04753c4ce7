"""The TLS listener (tls-port and the tls-* directives), as Redis 7.0 configures it:
real aki processes, redis-py and raw TLS sockets, certificates made at test time."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
import redis

from tests.conftest import RawClient, ServerProcess, free_port, start_aki, wait_until
from tests.tlscerts import CA, common_name

APPLY_ERROR = "Unable to update TLS configuration. Check server logs."


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> SimpleNamespace:
    d = tmp_path_factory.mktemp("tls-certs")
    ca = CA(d / "ca")
    other = CA(d / "other", cn="another CA")
    return SimpleNamespace(
        ca=ca.path, dir=d,
        server=ca.issue("server", server=True),
        server2=ca.issue("server2", server=True),
        locked=ca.issue("locked", server=True, password=b"s3cret"),
        client=ca.issue("client", server=False),
        stranger=other.issue("stranger", server=False),  # signed by a CA aki does not trust
    )


def _tls_args(certs: SimpleNamespace, port: int, *extra: str) -> list[str]:
    return ["--tls-port", str(port), "--tls-cert-file", str(certs.server.cert),
            "--tls-key-file", str(certs.server.key), "--tls-ca-cert-file", str(certs.ca), *extra]


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory, certs):
    """aki with the plain port and a TLS port (tls-auth-clients yes, the default)."""
    tls_port = free_port()
    srv = start_aki(tmp_path_factory.mktemp("aki-tls"), *_tls_args(certs, tls_port))
    srv.tls_port = tls_port
    yield srv
    srv.stop()


def tls_client(port: int, certs: SimpleNamespace, *, cert: str | None = "client",
               **kw) -> redis.Redis:
    """redis-py over TLS, trusting the test CA, presenting ``cert`` (None: no certificate)."""
    if cert is not None:
        pair = getattr(certs, cert)
        kw.update(ssl_certfile=str(pair.cert), ssl_keyfile=str(pair.key))
    return redis.Redis(host="127.0.0.1", port=port, ssl=True, ssl_ca_certs=str(certs.ca),
                       socket_timeout=10, **kw)


def tls_socket(port: int, certs: SimpleNamespace, *, cert: str | None = "client",
               **ctx_settings) -> ssl.SSLSocket:
    ctx = ssl.create_default_context(cafile=str(certs.ca))
    for name, value in ctx_settings.items():
        setattr(ctx, name, value)
    if cert is not None:
        pair = getattr(certs, cert)
        ctx.load_cert_chain(str(pair.cert), str(pair.key))
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    return ctx.wrap_socket(sock, server_hostname="localhost")


def tls_raw(port: int, certs: SimpleNamespace, **kw) -> RawClient:
    """conftest's byte-exact client, over a TLS socket."""
    client = RawClient.__new__(RawClient)
    client.sock = tls_socket(port, certs, **kw)
    client.buf = b""
    return client


def _log(srv: ServerProcess) -> str:
    return srv.log.read_text(errors="replace")


def _refused(client: redis.Redis) -> bool:
    try:
        client.ping()
    except redis.ConnectionError:
        return True
    finally:
        client.close()
    return False


# -- serving over TLS -------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", [2, 3])
def test_commands_over_tls_resp2_and_resp3(tls_server, certs, protocol):
    r = tls_client(tls_server.tls_port, certs, protocol=protocol)
    assert r.ping()
    r.delete("tls:h", "tls:s")
    assert r.set("tls:s", "v") and r.get("tls:s") == b"v"
    r.hset("tls:h", mapping={"a": "1", "b": "2"})
    assert r.hgetall("tls:h") == {b"a": b"1", b"b": b"2"}
    big = b"x" * 3_000_000  # many TLS records each way
    assert r.set("tls:big", big) and r.get("tls:big") == big
    # the same database as the plain port
    plain = tls_server.client()
    assert plain.get("tls:s") == b"v"
    assert r.info("server")["tcp_port"] == tls_server.port  # Redis: the TCP port when set
    me = [c for c in r.client_list() if c["laddr"].endswith(f":{tls_server.tls_port}")]
    assert me and me[0]["resp"] == str(protocol)
    r.close()
    plain.close()


def test_replies_are_byte_identical_over_tls(tls_server, certs):
    c = tls_raw(tls_server.tls_port, certs)
    try:
        assert c.cmd("DEL", "tls:m") in (b":0\r\n", b":1\r\n")
        assert c.cmd("HSET", "tls:m", "f", "v") == b":1\r\n"
        assert c.cmd("HGETALL", "tls:m") == b"*2\r\n$1\r\nf\r\n$1\r\nv\r\n"
        assert c.cmd("HELLO", "3").startswith(b"%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n")
        assert c.cmd("HGETALL", "tls:m") == b"%1\r\n$1\r\nf\r\n$1\r\nv\r\n"
        c.send(b"*1\r\n$4\r\nPING\r\n" * 50)  # a pipeline
        assert [c.read_reply() for _ in range(50)] == [b"+PONG\r\n"] * 50
        assert c.cmd("NOSUCHCMD") == (b"-ERR unknown command 'NOSUCHCMD', with args "
                                      b"beginning with: \r\n")
    finally:
        c.close()


def test_pubsub_pushes_reach_a_tls_subscriber(tls_server, certs):
    sub = tls_client(tls_server.tls_port, certs).pubsub()
    sub.subscribe("tls:chan")
    assert sub.get_message(timeout=5)["type"] == "subscribe"
    plain = tls_server.client()
    assert plain.publish("tls:chan", "hello") == 1
    msg = sub.get_message(timeout=5)
    assert msg and msg["data"] == b"hello"
    sub.close()
    plain.close()


# -- client certificates (tls-auth-clients) -----------------------------------------------------


def test_client_without_certificate_is_refused(tls_server, certs):
    assert _refused(tls_client(tls_server.tls_port, certs, cert=None))
    assert _refused(tls_client(tls_server.tls_port, certs, cert="stranger"))
    wait_until(lambda: "Error accepting a client connection: peer did not return a certificate"
               in _log(tls_server), what="the refused handshake logged as Redis logs it")
    assert tls_client(tls_server.tls_port, certs).ping()  # nothing else disturbed


def test_tls_auth_clients_no_and_optional(tls_server, certs):
    admin = tls_server.client()
    port = tls_server.tls_port
    try:
        assert admin.config_set("tls-auth-clients", "no")
        assert not _refused(tls_client(port, certs, cert=None))
        assert not _refused(tls_client(port, certs, cert="stranger"))  # not even looked at
        assert admin.config_set("tls-auth-clients", "optional")
        assert not _refused(tls_client(port, certs, cert=None))
        assert not _refused(tls_client(port, certs))
        assert _refused(tls_client(port, certs, cert="stranger"))  # given, so verified
        assert admin.config_get("tls-auth-clients") == {"tls-auth-clients": "optional"}
    finally:
        admin.config_set("tls-auth-clients", "yes")
    assert _refused(tls_client(port, certs, cert=None))
    admin.close()


# -- what must not harm the server --------------------------------------------------------------


def test_plain_resp_on_the_tls_port_does_no_harm(tls_server, certs):
    port = tls_server.tls_port
    good = tls_client(port, certs)
    assert good.set("tls:k", "v")
    plain = socket.create_connection(("127.0.0.1", port), timeout=10)
    plain.sendall(b"*1\r\n$4\r\nPING\r\n")
    try:
        got = plain.recv(100)
    except ConnectionResetError:
        got = b""
    assert got == b""  # no plain-text reply: the connection is just closed
    plain.close()
    half = socket.create_connection(("127.0.0.1", port), timeout=10)
    half.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")  # a ClientHello cut short
    half.close()
    silent = socket.create_connection(("127.0.0.1", port), timeout=10)  # never says a word
    noise = socket.create_connection(("127.0.0.1", port), timeout=10)
    noise.sendall(bytes(range(256)) * 64)
    noise.close()
    try:
        assert good.get("tls:k") == b"v"  # the established client carries on
        assert tls_client(port, certs).get("tls:k") == b"v"  # and new ones are served
        assert tls_server.client().ping()
        wait_until(lambda: "wrong version number" in _log(tls_server),
                   what="the plain-text client logged")
        assert "Traceback" not in _log(tls_server)
    finally:
        silent.close()
        good.close()


def test_busy_script_leaves_tls_clients_intact(tls_server, certs):
    """While a script is busy aki serves the other clients from the Lua hook by reading
    their sockets; a TLS socket's bytes are encrypted, so a TLS client waits for the end
    of the script instead, and is answered then, its stream intact."""
    admin = tls_server.client()
    admin.config_set("busy-reply-threshold", 100)
    tls = tls_raw(tls_server.tls_port, certs)
    runner = tls_server.client()
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            runner.eval("while true do end", 0)
        except redis.ResponseError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    try:
        def busy() -> bool:
            try:
                admin.ping()
            except redis.exceptions.BusyLoadingError:
                return False
            except redis.ResponseError as exc:
                return str(exc).startswith("BUSY")
            return False

        wait_until(busy, what="the script to be busy")
        tls.send(b"*1\r\n$4\r\nPING\r\n")
        assert admin.script_kill()
    finally:
        thread.join(30)
        admin.config_set("busy-reply-threshold", 5000)
    assert outcome and "killed" in str(outcome[0])
    assert tls.read_reply() == b"+PONG\r\n"
    assert tls.cmd("ECHO", "still TLS") == b"$9\r\nstill TLS\r\n"
    tls.close()
    admin.close()
    runner.close()


# -- CONFIG SET ---------------------------------------------------------------------------------


def test_config_set_reloads_certificates_for_new_connections(tls_server, certs, tmp_path):
    admin = tls_server.client()
    port = tls_server.tls_port
    before = tls_raw(port, certs)
    assert common_name(before.sock.getpeercert(True)) == "server"
    try:
        # a certificate and its key in one CONFIG SET: applied together, as in Redis
        assert admin.config_set("tls-cert-file", str(certs.server2.cert),
                                "tls-key-file", str(certs.server2.key))
        s = tls_socket(port, certs)
        assert common_name(s.getpeercert(True)) == "server2"
        s.close()
        assert before.cmd("PING") == b"+PONG\r\n"  # established connections are kept
        # alone, the old certificate does not match the new key: refused, nothing changes
        with pytest.raises(redis.ResponseError) as err:
            admin.config_set("tls-cert-file", str(certs.server.cert))
        assert str(err.value) == ("CONFIG SET failed (possibly related to argument "
                                  f"'tls-cert-file') - {APPLY_ERROR}")
        with pytest.raises(redis.ResponseError) as err:
            admin.config_set("tls-key-file", str(tmp_path / "missing.key"))
        assert str(err.value) == ("CONFIG SET failed (possibly related to argument "
                                  f"'tls-key-file') - {APPLY_ERROR}")
        with pytest.raises(redis.ResponseError, match="argument 'tls-protocols'"):
            admin.config_set("tls-protocols", "TLSv1.2 SSLv3")
        assert admin.config_get("tls-cert-file") == {"tls-cert-file": str(certs.server2.cert)}
        assert admin.config_get("tls-protocols") == {"tls-protocols": ""}
        s = tls_socket(port, certs)
        assert common_name(s.getpeercert(True)) == "server2"
        s.close()
        log = _log(tls_server)
        assert "key values mismatch" in log and "missing.key: No such file or directory" in log
        assert "Invalid tls-protocols specified." in log
        # the same file name with new contents (a renewed certificate): a tls-cert-file is
        # a VOLATILE_CONFIG, so setting it again to the same name reloads it
        live = SimpleNamespace(cert=tmp_path / "live.crt", key=tmp_path / "live.key")
        shutil.copy(certs.server2.cert, live.cert)
        shutil.copy(certs.server2.key, live.key)
        assert admin.config_set("tls-cert-file", str(live.cert), "tls-key-file", str(live.key))
        shutil.copy(certs.server.cert, live.cert)
        shutil.copy(certs.server.key, live.key)
        s = tls_socket(port, certs)
        assert common_name(s.getpeercert(True)) == "server2"  # not reread by itself
        s.close()
        assert admin.config_set("tls-cert-file", str(live.cert))
        s = tls_socket(port, certs)
        assert common_name(s.getpeercert(True)) == "server"
        s.close()
    finally:
        admin.config_set("tls-cert-file", str(certs.server.cert),
                         "tls-key-file", str(certs.server.key))
    before.close()
    admin.close()


def test_config_set_tls_port(tmp_path, certs):
    srv = start_aki(tmp_path)
    r = srv.client()
    port = free_port()
    try:
        with pytest.raises(redis.ResponseError) as err:
            r.config_set("tls-port", port)  # no certificate configured
        assert str(err.value) == ("CONFIG SET failed (possibly related to argument "
                                  f"'tls-port') - {APPLY_ERROR}")
        assert r.config_get("tls-port") == {"tls-port": "0"}
        assert "No tls-cert-file configured!" in _log(srv)
        # with tls-port 0 the tls-* values are only stored, as in Redis
        assert r.config_set("tls-cert-file", str(certs.locked.cert),
                            "tls-key-file", str(certs.locked.key), "tls-auth-clients", "no")
        with pytest.raises(redis.ResponseError, match="argument 'tls-port'"):
            r.config_set("tls-port", port)  # the key needs its password
        assert "Failed to load private key" in _log(srv)
        assert r.config_set("tls-key-file-pass", "s3cret", "tls-port", port)
        c = tls_client(port, certs, cert=None)
        assert c.set("k", "v") and r.get("k") == b"v"
        assert r.info("server")["tcp_port"] == srv.port
        other = free_port()
        assert r.config_set("tls-port", other)  # moved: the old port is closed
        assert tls_client(other, certs, cert=None).get("k") == b"v"
        assert c.get("k") == b"v"  # a connection from before the move stays
        with pytest.raises(redis.ConnectionError):
            tls_client(port, certs, cert=None).ping()
        assert r.config_set("tls-port", 0)
        with pytest.raises(redis.ConnectionError):
            tls_client(other, certs, cert=None).ping()
        c.close()
    finally:
        r.close()
        srv.stop()


# -- start-up -----------------------------------------------------------------------------------


def test_tls_only_from_a_config_file(tmp_path, certs):
    """port 0 with a tls-port serves TLS only; the live tls-* directives take effect and are
    not reported as inert (tls-replication is: aki's replication does not speak TLS)."""
    port = free_port()
    conf = tmp_path / "aki.conf"
    conf.write_text(
        "port 0\n"
        f"tls-port {port}\n"
        f"dbfile {tmp_path / 'tls.aki'}\n"
        f"tls-cert-file {certs.locked.cert}\n"
        f"tls-key-file {certs.locked.key}\n"
        "tls-key-file-pass s3cret\n"
        f"tls-ca-cert-file {certs.ca}\n"
        "tls-auth-clients optional\n"
        'tls-protocols "TLSv1.3"\n'
        "tls-ciphersuites TLS_CHACHA20_POLY1305_SHA256\n"
        "tls-session-cache-size 100\n"
        "tls-prefer-server-ciphers yes\n"
        "tls-replication no\n"
    )
    srv = ServerProcess([sys.executable, "-m", "aki", "server", str(conf)], port, tmp_path,
                        tmp_path / "aki.log").start()
    try:
        r = tls_client(port, certs, cert=None)
        assert r.info("server")["tcp_port"] == port  # Redis: the TLS port when port is 0
        assert r.config_get("port") == {"port": "0"}
        s = tls_socket(port, certs)
        assert s.version() == "TLSv1.3"
        assert s.cipher()[0] == "TLS_CHACHA20_POLY1305_SHA256"
        s.close()
        with pytest.raises(ssl.SSLError):  # TLSv1.2 only: no protocol in common
            tls_socket(port, certs, maximum_version=ssl.TLSVersion.TLSv1_2)
        r.close()
    finally:
        srv.stop()
    log = _log(srv)
    assert f":{port} (TLS)" in log
    assert "'tls-replication' accepted but inert" in log
    for live in ("tls-port", "tls-cert-file", "tls-ciphersuites", "tls-auth-clients"):
        assert f"'{live}' accepted but inert" not in log


@pytest.mark.parametrize("case,needle", [
    ("no-cert", "No tls-cert-file configured!"),
    ("no-key", "No tls-key-file configured!"),
    ("no-ca", "Either tls-ca-cert-file or tls-ca-cert-dir must be specified when tls-cluster, "
              "tls-replication or tls-auth-clients are enabled!"),
    ("bad-protocols", "Invalid tls-protocols specified. Use a combination of 'TLSv1', "
                      "'TLSv1.1', 'TLSv1.2' and 'TLSv1.3'."),
    ("locked-key", "Failed to load private key: "),
])
def test_startup_refuses_an_incomplete_tls_configuration(tmp_path, certs, case, needle):
    args = {
        "no-cert": [],
        "no-key": ["--tls-cert-file", str(certs.server.cert)],
        "no-ca": ["--tls-cert-file", str(certs.server.cert), "--tls-key-file",
                  str(certs.server.key)],
        "bad-protocols": ["--tls-cert-file", str(certs.server.cert), "--tls-key-file",
                          str(certs.server.key), "--tls-auth-clients", "no",
                          "--tls-protocols", "TLSv1.4"],
        "locked-key": ["--tls-cert-file", str(certs.locked.cert), "--tls-key-file",
                       str(certs.locked.key), "--tls-auth-clients", "no"],
    }[case]
    proc = subprocess.run([sys.executable, "-m", "aki", "server", "--port", str(free_port()),
                           "--dbfile", str(tmp_path / "d.aki"), "--tls-port", str(free_port()),
                           *args], capture_output=True, text=True, timeout=30,
                          stdin=subprocess.DEVNULL)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert needle in out
    assert "Failed to configure TLS. Check logs for more info." in out
    assert "Traceback" not in out
    assert not (tmp_path / "d.aki").exists()  # refused before the file is opened


def test_tls_port_in_use_fails_cleanly(tmp_path: Path, certs):
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    port = blocker.getsockname()[1]
    try:
        proc = subprocess.run([sys.executable, "-m", "aki", "server", "--port", "0",
                               "--bind", "127.0.0.1", "--dbfile", str(tmp_path / "d.aki"),
                               *_tls_args(certs, port)],
                              capture_output=True, text=True, timeout=30)
        out = proc.stdout + proc.stderr
        assert proc.returncode != 0
        assert f"Failed listening on port {port} (TLS), aborting." in out
        assert "Traceback" not in out
    finally:
        blocker.close()
