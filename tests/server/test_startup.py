"""Starting and stopping the server: config files, log lines, signals, listeners, limits."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import apsw
import pytest
import redis

from tests.conftest import REDIS_SERVER, RawClient, ServerProcess, free_port, start_aki, wait_port


def _start_with_conf(tmp_path: Path, conf_text: str, port: int) -> ServerProcess:
    conf = tmp_path / "aki.conf"
    conf.write_text(conf_text)
    argv = [sys.executable, "-m", "aki", "server", str(conf)]
    return ServerProcess(argv, port, tmp_path, tmp_path / "aki.log").start()


def _run_conf_expect_failure(tmp_path: Path, conf_text: str) -> subprocess.CompletedProcess:
    conf = tmp_path / "bad.conf"
    conf.write_text(conf_text)
    return subprocess.run([sys.executable, "-m", "aki", "server", str(conf)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=30)


def test_config_file_with_include_and_inert_directives(tmp_path: Path):
    port = free_port()
    (tmp_path / "extra.conf").write_text("maxclients 77\n# a comment\nactivedefrag no\n")
    srv = _start_with_conf(tmp_path, (
        "# aki test configuration\n"
        f"port {port}\n"
        "bind 127.0.0.1\n"
        f"dbfile {tmp_path / 'conf.aki'}\n"
        f"include {tmp_path / 'extra.conf'}\n"
        "\n"
        "lazyfree-lazy-eviction yes\n"
        "jemalloc-bg-thread yes\n"
        'requirepass "pa ss"\n'
    ), port)
    try:
        r = srv.client(password="pa ss")
        assert r.set("k", "v") and r.get("k") == b"v"
        with pytest.raises(redis.AuthenticationError):
            srv.client().get("k")
        assert (tmp_path / "conf.aki").exists()
        r.close()
    finally:
        srv.stop()
    log = (tmp_path / "aki.log").read_text()
    for name in ("activedefrag", "lazyfree-lazy-eviction", "jemalloc-bg-thread"):
        assert f"'{name}'" in log and "inert" in log, log
    assert "'maxclients'" not in log  # effective directives are not reported as inert


def test_pidfile_written_and_removed(tmp_path: Path):
    """``pidfile`` (relative to ``dir``, as in Redis): the pid and a newline while the
    server runs, gone after a clean shutdown."""
    srv = start_aki(tmp_path, "--dir", str(tmp_path), "--pidfile", "aki.pid")
    pidfile = tmp_path / "aki.pid"
    try:
        assert pidfile.read_text() == f"{srv.proc.pid}\n"
        assert srv.client().config_get("pidfile") == {"pidfile": "aki.pid"}
    finally:
        srv.stop()
    assert not pidfile.exists()


@pytest.mark.parametrize("conf,lineno,needle", [
    ("port 7000\nmaxclients abc\n", 2, "maxclients abc"),
    ("# c\n\nappendfsync sometimes\n", 3, "appendfsync sometimes"),
    ("no-such-directive-anywhere 1\n", 1, "Bad directive or wrong number of arguments"),
    ('requirepass "unbalanced\n', 1, "Unbalanced quotes"),
    ("port 70000\n", 1, "port 70000"),
])
def test_config_file_wrong_value_names_the_line(tmp_path: Path, conf, lineno, needle):
    proc = _run_conf_expect_failure(tmp_path, conf)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert f"line {lineno}" in out, out
    assert needle in out, out
    assert "Traceback" not in out


def test_missing_config_file(tmp_path: Path):
    proc = subprocess.run([sys.executable, "-m", "aki", "server", str(tmp_path / "nope.conf")],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0 and "nope.conf" in proc.stderr


def test_unknown_flag_is_refused(tmp_path: Path):
    proc = subprocess.run([sys.executable, "-m", "aki", "server", "--port", str(free_port()),
                           "--dbfile", str(tmp_path / "x.aki"), "--no-such-directive", "1"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0 and "no-such-directive" in proc.stderr


def test_log_lines(tmp_path: Path):
    srv = start_aki(tmp_path)
    srv.stop()
    log = (tmp_path / "aki.log").read_text()
    from aki import __version__

    assert f"aki {__version__}" in log
    assert "7.0.15" in log
    assert str(tmp_path / "data.aki") in log
    assert f":{srv.port}" in log
    assert "Ready to accept connections" in log
    lines = log.splitlines()
    ready = next(i for i, line in enumerate(lines) if "Ready to accept connections" in line)
    assert any("data.aki" in line for line in lines[:ready])


def _wal_state(tmp_path: Path) -> int:
    wal = tmp_path / "data.aki-wal"
    return wal.stat().st_size if wal.exists() else 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_shutdown_leaves_one_complete_file(tmp_path: Path, sig):
    srv = start_aki(tmp_path)
    r = srv.client()
    r.mset({f"k{i}": f"v{i}" for i in range(2000)})
    r.set("last", "x" * 10_000)
    r.close()
    srv.proc.send_signal(sig)
    assert srv.proc.wait(20) == 0
    srv.logf.close()
    srv.proc = None
    assert _wal_state(tmp_path) == 0, "the WAL still holds data after a clean shutdown"
    # data.aki alone holds everything: copy just that file elsewhere and read it.
    copy = tmp_path / "copy" / "data.aki"
    copy.parent.mkdir()
    copy.write_bytes((tmp_path / "data.aki").read_bytes())
    conn = apsw.Connection(str(copy), flags=apsw.SQLITE_OPEN_READONLY)
    assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    conn.close()
    srv2 = start_aki(copy.parent)
    r = srv2.client()
    try:
        assert r.get("k1999") == b"v1999" and r.strlen("last") == 10_000
        assert r.dbsize() == 2001
    finally:
        r.close()
        srv2.stop()
    log = (tmp_path / "aki.log").read_text()
    assert "Traceback" not in log


def test_restart_keeps_data(tmp_path: Path):
    srv = start_aki(tmp_path)
    r = srv.client()
    r.set("a", "1")
    r.close()
    for i in range(3):
        srv.restart()
        r = srv.client()
        assert r.get("a") == str(1 + i).encode()
        r.incr("a")
        r.close()
    srv.stop()


def test_unixsocket(tmp_path: Path):
    sock = tmp_path / "aki.sock"
    srv = start_aki(tmp_path, "--unixsocket", str(sock))
    try:
        r = redis.Redis(unix_socket_path=str(sock), socket_timeout=10)
        assert r.set("via", "unix") and r.get("via") == b"unix"
        info = r.client_info()
        assert "unix" in info.get("flags", "") or info.get("addr", "").startswith(str(sock))
        r.close()
        assert srv.client().get("via") == b"unix"  # same data over TCP
    finally:
        srv.stop()
    assert not sock.exists(), "the socket file is removed on shutdown"


def test_requirepass(tmp_path: Path):
    srv = start_aki(tmp_path, "--requirepass", "s3cret")
    try:
        with pytest.raises(redis.AuthenticationError):
            srv.client().ping()
        with pytest.raises(redis.AuthenticationError):
            srv.client(password="wrong").ping()
        r = srv.client(password="s3cret")
        assert r.ping() and r.set("k", "v")
        r.close()
    finally:
        srv.stop()


def test_maxclients(tmp_path: Path):
    srv = start_aki(tmp_path, "--maxclients", "3")
    socks = []
    try:
        for _ in range(3):
            s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
            s.sendall(b"PING\r\n")
            assert s.recv(100) == b"+PONG\r\n"
            socks.append(s)
        extra = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        got = b""
        while True:
            chunk = extra.recv(100)
            if not chunk:
                break
            got += chunk
        assert got == b"-ERR max number of clients reached\r\n"
        extra.close()
        socks.pop().close()
        time.sleep(0.2)
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        s.sendall(b"PING\r\n")
        assert s.recv(100) == b"+PONG\r\n"
        socks.append(s)
    finally:
        for s in socks:
            s.close()
        srv.stop()


def test_port_in_use_fails_cleanly(tmp_path: Path):
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    port = blocker.getsockname()[1]
    try:
        proc = subprocess.run([sys.executable, "-m", "aki", "server", "--port", str(port),
                               "--dbfile", str(tmp_path / "d.aki")],
                              capture_output=True, text=True, timeout=30)
        assert proc.returncode != 0
        assert str(port) in proc.stdout + proc.stderr
        assert "Traceback" not in proc.stdout + proc.stderr
    finally:
        blocker.close()


@pytest.mark.parametrize("args", [["--port", "0"], ["--bind", ""]])
def test_no_listener_exits_as_redis_does(tmp_path: Path, args):
    """No TCP, TLS or unix socket listener: Redis's initServer line and exit 1, before the
    database file is created."""
    proc = subprocess.run([sys.executable, "-m", "aki", "server", *args,
                           "--dbfile", str(tmp_path / "d.aki")],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1
    assert "# Configured to not listen anywhere, exiting." in proc.stdout + proc.stderr
    assert not (tmp_path / "d.aki").exists()
    redis_proc = subprocess.run(["redis-server", *args], capture_output=True, text=True,
                                timeout=30, cwd=tmp_path)
    assert redis_proc.returncode == 1
    assert "# Configured to not listen anywhere, exiting." in redis_proc.stdout


def test_default_dbfile_in_working_directory(tmp_path: Path):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "aki", "server", "--port", str(port)],
                            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port, proc)
        r = redis.Redis(port=port)
        r.set("k", "v")
        r.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
    assert (tmp_path / "data.aki").exists()
    assert os.path.getsize(tmp_path / "data.aki") > 0


def test_debug_config_rewrite_force_all_round_trips(tmp_path: Path):
    """DEBUG CONFIG-REWRITE-FORCE-ALL writes every directive, defaults included; the
    server starts again from that file with every value unchanged."""
    port = free_port()
    srv = _start_with_conf(
        tmp_path, f"port {port}\ndbfile {tmp_path / 'data.aki'}\nenable-debug-command yes\n",
        port)
    try:
        r = srv.client()
        r.config_set("maxmemory-policy", "allkeys-lru")
        r.config_set("save", "100 10")
        before = r.config_get("*")
        assert r.execute_command("DEBUG", "CONFIG-REWRITE-FORCE-ALL") == b"OK"
        text = (tmp_path / "aki.conf").read_text()
        assert "\nhash-max-listpack-entries 512\n" in text  # a default, written anyway
        r.close()
        srv.stop()
        srv.start()
        r = srv.client()
        after = r.config_get("*")
        assert after == before
        r.close()
    finally:
        srv.stop()


def test_directive_and_value_in_one_argument(tmp_path: Path):
    """redis-server takes "--maxmemory 700mb" as one argument (read like a config line,
    quotes allowed); so does aki server, beside the usual --name value form."""
    srv = start_aki(tmp_path, "--maxmemory 700mb", "--maxmemory-policy 'volatile-lru'",
                    "--save", "--loglevel", "verbose")
    try:
        r = srv.client()
        assert r.config_get("maxmemory") == {"maxmemory": "734003200"}
        assert r.config_get("maxmemory-policy") == {"maxmemory-policy": "volatile-lru"}
        assert r.config_get("save") == {"save": ""}
        assert r.config_get("loglevel") == {"loglevel": "verbose"}
        r.close()
    finally:
        srv.stop()


def _renamed_pair(tmp_path: Path, conf_text: str, *cli: str) -> tuple[ServerProcess, ServerProcess]:
    """aki and redis-server started from the same config file and command-line flags."""
    servers = []
    for name, argv0 in (("aki", [sys.executable, "-m", "aki", "server"]), ("redis", [REDIS_SERVER])):
        work = tmp_path / name
        work.mkdir()
        conf = work / "server.conf"
        conf.write_text(conf_text)
        port = free_port()
        extra = ["--dbfile", str(work / "data.aki")] if name == "aki" else ["--save", ""]
        argv = [*argv0, str(conf), "--port", str(port), "--dir", str(work), *extra, *cli]
        servers.append(ServerProcess(argv, port, work, work / "server.log", True).start())
    return servers[0], servers[1]


def test_rename_command_answers_as_redis(tmp_path: Path):
    """rename-command from the file and the command line: the old name is unknown, the new
    one works (in scripts too), "" removes the command; replies byte for byte."""
    aki, real = _renamed_pair(tmp_path, 'rename-command flushdb badger\nrename-command CONFIG ""\n',
                              "--rename-command", "flushall", "")
    try:
        a, r = RawClient(aki.port), RawClient(real.port)
        for cmd in [("SET", "k", "v"), ("FLUSHDB",), ("DBSIZE",), ("BADGER",), ("DBSIZE",),
                    ("CONFIG", "GET", "port"), ("FLUSHALL",), ("SET", "k", "v"),
                    ("EVAL", "return redis.call('flushdb')", 0),
                    ("EVAL", "return redis.call('badger')", 0), ("DBSIZE",),
                    ("COMMAND", "INFO", "flushdb", "badger", "config"), ("COMMAND", "COUNT"),
                    ("MULTI",), ("FLUSHDB",), ("EXEC",)]:
            got, want = a.cmd(*cmd), r.cmd(*cmd)
            assert got == want, f"{cmd!r}: aki {got!r} != redis {want!r}"
        a.close()
        r.close()
    finally:
        aki.stop()
        real.stop()


def test_rename_command_survives_config_rewrite(tmp_path: Path):
    aki, real = _renamed_pair(tmp_path, "rename-command flushdb badger\n")
    try:
        for srv in (aki, real):
            c = srv.client()
            assert c.config_rewrite()
            srv.restart()
            c = srv.client()
            with pytest.raises(redis.ResponseError, match="^unknown command 'FLUSHDB'"):
                c.flushdb()
            assert c.execute_command("BADGER")
    finally:
        aki.stop()
        real.stop()


@pytest.mark.parametrize("line,reason", [
    ("rename-command nosuch x", "No such command in rename-command"),
    ("rename-command get set", "Target command name already exists"),
    ("rename-command get", "Bad directive or wrong number of arguments"),
])
def test_rename_command_errors_as_redis(tmp_path: Path, line, reason):
    conf = tmp_path / "bad.conf"
    conf.write_text(f"port {free_port()}\n{line}\n")
    outs = []
    for argv in ([sys.executable, "-m", "aki", "server", str(conf), "--dbfile",
                  str(tmp_path / "d.aki")], [REDIS_SERVER, str(conf)]):
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=30, cwd=tmp_path)
        assert proc.returncode == 1
        outs.append(proc.stdout + proc.stderr)
    for out in outs:
        assert f">>> '{line}'\n{reason}\n" in out
        assert "at line 2" in out
