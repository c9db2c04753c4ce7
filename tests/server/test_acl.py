"""ACL users from files: ``aclfile`` (ACL LOAD/SAVE, start-up), ``user`` lines in the config
file and on the command line, CONFIG REWRITE of users, clients dropped by ACL LOAD.
Where Redis can answer the same thing, aki and redis-server get the same file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from tests.conftest import RawClient, ServerProcess, free_port, start_aki, start_redis

USERS = (
    "user alice on allcommands allkeys &* >alice\n"
    "user bob on -@all +@set +acl ~set* &* >bob\n"
    "user default on nopass ~* &* +@all\n"
)


@pytest.fixture
def both(tmp_path: Path):
    """aki and redis-server started with the same ACL file (users.acl in each one's dir)."""
    servers = []

    def start(text: str = USERS, *extra: str) -> tuple[ServerProcess, ServerProcess]:
        adir, rdir = tmp_path / "aki", tmp_path / "redis"
        adir.mkdir(exist_ok=True)
        rdir.mkdir(exist_ok=True)
        (adir / "users.acl").write_text(text)
        (rdir / "users.acl").write_text(text)
        a = start_aki(adir, "--aclfile", str(adir / "users.acl"), *extra)
        r = start_redis(rdir, "--aclfile", str(rdir / "users.acl"), *extra)
        servers.extend([a, r])
        return a, r

    yield start
    for s in servers:
        s.stop()


def _same(a: RawClient, r: RawClient, *args) -> bytes:
    got, want = a.cmd(*args), r.cmd(*args)
    assert got == want, f"{args!r}: aki {got!r} != redis {want!r}"
    return got


def test_aclfile_loaded_at_start_and_saved(both):
    a, r = both()
    ca, cr = RawClient(a.port), RawClient(r.port)
    _same(ca, cr, "ACL", "LIST")
    _same(ca, cr, "AUTH", "bob", "bob")
    _same(ca, cr, "SADD", "set1", "x")
    _same(ca, cr, "GET", "set1")
    _same(ca, cr, "AUTH", "default", "")
    _same(ca, cr, "ACL", "SETUSER", "carol", "on", ">c", "%R~r*", "(+get ~x)", "resetchannels",
          "&ch")
    _same(ca, cr, "ACL", "SAVE")
    assert (a.workdir / "users.acl").read_text() == (r.workdir / "users.acl").read_text()
    _same(ca, cr, "ACL", "DELUSER", "carol")
    _same(ca, cr, "ACL", "LOAD")
    _same(ca, cr, "ACL", "LIST")
    _same(ca, cr, "ACL", "GETUSER", "carol")


@pytest.mark.parametrize("bad", [
    "user alice on +nosuch\n",
    "user alice on foo bar\n",
    "usr alice on\n",
    "user\n",
    "user alice on\nuser alice off\n",
    "user alice on ~* ~x +nosuch1 +nosuch2 <nope\n",
    "\n\nuser  alice  on  +get\n",
    "user default off\nuser x on >p ~* +@all\n",
])
def test_acl_load_errors_change_nothing(both, bad):
    a, r = both()
    ca, cr = RawClient(a.port), RawClient(r.port)
    (a.workdir / "users.acl").write_text(bad)
    (r.workdir / "users.acl").write_text(bad)
    got, want = ca.cmd("ACL", "LOAD"), cr.cmd("ACL", "LOAD")
    # the file name in the message is the configured path of each server
    assert got.replace(str(a.workdir).encode(), b"D") == want.replace(str(r.workdir).encode(),
                                                                       b"D")
    _same(ca, cr, "ACL", "LIST")


def test_acl_load_unmatched_parenthesis(tmp_path: Path):
    """(redis-server 7.0.15 crashes on this file; aki reports it.)"""
    (tmp_path / "users.acl").write_text("user default on nopass ~* &* +@all\n")
    srv = start_aki(tmp_path, "--aclfile", str(tmp_path / "users.acl"))
    try:
        (tmp_path / "users.acl").write_text("user alice on (+get\n")
        c = RawClient(srv.port)
        assert c.cmd("ACL", "LOAD") == (
            f"-ERR {tmp_path / 'users.acl'}:1: Unmatched parenthesis in selector definition."
            "WARNING: ACL errors detected, no change to the previously active ACL rules was "
            "performed\r\n").encode()
        assert c.cmd("ACL", "USERS") == b"*1\r\n$7\r\ndefault\r\n"
    finally:
        srv.stop()


def test_acl_load_missing_file_and_save_error(both):
    a, r = both()
    ca, cr = RawClient(a.port), RawClient(r.port)
    (a.workdir / "users.acl").unlink()
    (r.workdir / "users.acl").unlink()
    got, want = ca.cmd("ACL", "LOAD"), cr.cmd("ACL", "LOAD")
    assert got.replace(str(a.workdir).encode(), b"D") == want.replace(str(r.workdir).encode(),
                                                                       b"D")
    _same(ca, cr, "ACL", "SAVE")
    _same(ca, cr, "ACL", "LOAD")


def test_acl_load_disconnects_users_other_than_default(both):
    a, r = both()
    for srv in (a, r):
        admin = RawClient(srv.port)
        alice = RawClient(srv.port)
        plain = RawClient(srv.port)
        assert alice.cmd("AUTH", "alice", "alice") == b"+OK\r\n"
        assert admin.cmd("ACL", "LOAD") == b"+OK\r\n"
        alice.send(b"*1\r\n$4\r\nPING\r\n")
        try:
            assert alice.sock.recv(10) == b""
        except OSError:
            pass
        assert plain.cmd("PING") == b"+PONG\r\n"
        assert admin.cmd("PING") == b"+PONG\r\n"


def test_acl_pubsub_default_with_aclfile(both):
    a, r = both("user default on nopass ~* +@all\n", "--acl-pubsub-default", "allchannels")
    ca, cr = RawClient(a.port), RawClient(r.port)
    _same(ca, cr, "ACL", "LIST")
    _same(ca, cr, "ACL", "SETUSER", "x", "reset")
    _same(ca, cr, "ACL", "GETUSER", "x")


def _start_conf(tmp_path: Path, text: str, *extra: str) -> ServerProcess:
    port = free_port()
    conf = tmp_path / "aki.conf"
    conf.write_text(f"port {port}\ndbfile {tmp_path / 'd.aki'}\n" + text)
    argv = [sys.executable, "-m", "aki", "server", str(conf), *extra]
    return ServerProcess(argv, port, tmp_path, tmp_path / "aki.log").start()


def test_config_file_users_and_rewrite(tmp_path: Path):
    srv = _start_conf(tmp_path, 'user alice on >pw ~* &* +@all\nuser default on nopass ~* '
                                '+@all -flushdb\n')
    try:
        c = srv.client()
        assert c.execute_command("ACL", "LIST") == [
            b"user alice on #30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4"
            b" ~* &* +@all",
            b"user default on nopass sanitize-payload ~* resetchannels +@all -flushdb",
        ]  # as redis-server lists the same lines
        assert c.execute_command("AUTH", "alice", "pw")
        c.execute_command("ACL", "SETUSER", "bob", "on", "nopass", "+get")
        assert c.execute_command("CONFIG", "REWRITE") == b"OK"
        text = (tmp_path / "aki.conf").read_text()
        assert "user alice on #30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4 " \
               "~* &* +@all\n" in text
        assert "user bob on nopass resetchannels -@all +get\n" in text
        assert text.count("user ") == 3
        c.close()
        srv.restart()
        c = srv.client()
        assert c.execute_command("ACL", "USERS") == [b"alice", b"bob", b"default"]
        with pytest.raises(redis.exceptions.NoPermissionError):
            c.execute_command("FLUSHDB")
        c.close()
    finally:
        srv.stop()


def test_user_on_command_line(tmp_path: Path):
    srv = start_aki(tmp_path, "--user", "default on nopass ~* +@all -set")
    try:
        c = srv.client()
        with pytest.raises(redis.exceptions.NoPermissionError, match="'set' command"):
            c.set("k", "v")
        assert c.execute_command("ACL", "GETUSER", "default")[b"commands"] == b"+@all -set"
        c.close()
    finally:
        srv.stop()


def _fails(tmp_path: Path, text: str, *extra: str) -> str:
    conf = tmp_path / "bad.conf"
    conf.write_text(f"port {free_port()}\ndbfile {tmp_path / 'd.aki'}\n" + text)
    proc = subprocess.run([sys.executable, "-m", "aki", "server", str(conf), *extra],
                          cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0
    return proc.stdout + proc.stderr


def test_startup_refusals(tmp_path: Path):
    (tmp_path / "bad.acl").write_text("user alice on +nosuch\n")
    out = _fails(tmp_path, f"aclfile {tmp_path / 'bad.acl'}\n")
    assert "Aborting Redis startup because of ACL errors" in out
    assert "Unknown command or category name in ACL" in out
    out = _fails(tmp_path, f"aclfile {tmp_path / 'bad.acl'}\nuser bob on\n")
    assert "not both" in out
    out = _fails(tmp_path, "user bob on\nuser bob off\n")
    assert "Duplicate user found" in out
    out = _fails(tmp_path, "user bob on +nosuch\n")
    assert "Unknown command or category name in ACL" in out


def test_requirepass_at_start_is_the_default_password(tmp_path: Path):
    srv = start_aki(tmp_path, "--requirepass", "s3cret")
    try:
        c = srv.client(password="s3cret")
        user = c.execute_command("ACL", "GETUSER", "default")
        assert user[b"flags"] == [b"on"] and len(user[b"passwords"]) == 1
        with pytest.raises(redis.AuthenticationError):
            srv.client().ping()
        c.close()
    finally:
        srv.stop()


def test_http_face_uses_the_default_users_acl(tmp_path: Path):
    """HTTP commands run as the default user: its ACL password and permissions apply."""
    from tests.server.test_http import Http, _wait_http

    port = free_port()
    srv = start_aki(tmp_path, "--http-port", str(port))
    try:
        _wait_http(port)
        c = srv.client()
        c.execute_command("ACL", "SETUSER", "admin", "on", ">a", "+@all", "~*", "&*")
        c.execute_command("ACL", "SETUSER", "default", ">pw", "-set")
        assert Http(port).request("GET", "/v1/kv/x")[0] == 401
        assert Http(port, "Bearer wrong").request("GET", "/v1/kv/x")[0] == 401
        assert Http(port, "Bearer pw").request("GET", "/v1/kv/x")[0] == 404
        status, body = Http(port, "Bearer pw").request("PUT", "/v1/kv/x", {"value": "eA=="})
        assert status != 200 and "NOPERM" in json.dumps(body)
        c.close()
    finally:
        srv.stop()
