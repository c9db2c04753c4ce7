"""Shared fixtures: real aki and real redis-server processes on free ports.

``aki_server`` / ``redis_server`` start a process per test module (fast enough,
and isolates CONFIG changes); ``r``/``rr`` are redis-py clients to them with
``protocol`` 2, ``r3``/``rr3`` the same in RESP3. ``raw(port)`` gives a raw
socket client for byte-exact checks. ``pair`` gives ``(aki, redis)`` raw
clients whose replies tests compare byte for byte.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import redis

ROOT = Path(__file__).resolve().parent.parent
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(cond, timeout: float = 15.0, what: str = "condition", step: float = 0.02):
    """Poll ``cond`` until it returns something true (returned) or ``timeout`` runs out."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(step)
    raise AssertionError(f"timed out waiting for {what}")


def wait_port(port: int, proc: subprocess.Popen | None = None, timeout: float = 15.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"port {port} did not open")


def _listening_inodes(port: int) -> set[str]:
    """Socket inodes listening on ``port`` (from /proc/net/tcp and tcp6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if f[3] == "0A" and int(f[1].rsplit(":", 1)[1], 16) == port:
                found.add(f[9])
    return found


def _owns_port(pid: int, port: int) -> bool:
    """Whether process ``pid`` is the one listening on ``port``."""
    inodes = _listening_inodes(port)
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:[") and link[8:-1] in inodes:
            return True
    return False


class ServerProcess:
    """A server process on a port; ``restart()`` keeps the same files. Servers still
    running when the test process exits (a test failed before its ``stop()``) are
    killed then, so a failing test never leaves a server behind."""

    running: set[ServerProcess] = set()

    def __init__(self, argv: list[str], port: int, workdir: Path, log: Path,
                 own_port: bool = False) -> None:
        self.argv = argv
        self.port = port
        self.workdir = workdir
        self.log = log
        self.proc: subprocess.Popen | None = None
        self.own_port = own_port  # chosen by free_port(): another may be picked

    def start(self) -> ServerProcess:
        # free_port() can hand two xdist workers the same port: the second server then
        # fails to bind while wait_port() reaches the first one. So the port must be
        # this process's own listener; a port chosen here is chosen again if it is not.
        for attempt in range(5):
            self.logf = open(self.log, "ab")
            self.proc = subprocess.Popen(self.argv, cwd=self.workdir, stdout=self.logf,
                                         stderr=subprocess.STDOUT)
            try:
                wait_port(self.port, self.proc)
                if _owns_port(self.proc.pid, self.port) or not sys.platform.startswith("linux"):
                    ServerProcess.running.add(self)
                    return self
            except RuntimeError:
                if not self.own_port or attempt == 4 or self.proc.poll() is None:
                    raise
            self.stop("kill")
            if not self.own_port:
                raise RuntimeError(f"port {self.port} is another process's")
            self.port = free_port()
            self.argv[self.argv.index("--port") + 1] = str(self.port)
        raise RuntimeError("no free port found")

    def stop(self, sig: str = "term") -> int | None:
        ServerProcess.running.discard(self)
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            if sig == "kill":
                self.proc.kill()
            else:
                self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.logf.close()
        code = self.proc.returncode
        self.proc = None
        return code

    def restart(self, sig: str = "term") -> ServerProcess:
        self.stop(sig)
        return self.start()

    def client(self, **kw) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=30, **kw)


@atexit.register
def _stop_leftover_servers() -> None:
    for srv in list(ServerProcess.running):
        srv.stop("kill")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed test's report carries the log tails of the servers still running: a
    failure seen once under CI's load is then diagnosable from that run alone."""
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    for srv in list(ServerProcess.running):
        try:
            lines = srv.log.read_bytes().decode("utf-8", "replace").splitlines()[-40:]
        except OSError:
            continue
        report.sections.append((f"log tail: {srv.log}", "\n".join(lines)))


def start_aki(workdir: Path | None = None, *extra: str, port: int | None = None,
              dbfile: str = "data.aki") -> ServerProcess:
    workdir = Path(workdir or tempfile.mkdtemp(prefix="aki-test-"))
    own = port is None
    port = port or free_port()
    # DEBUG allowed and full syncs not delayed, as for the redis-server below (and in
    # Redis's own test suite, whose default.conf sets repl-diskless-sync-delay 0)
    argv = [sys.executable, "-m", "aki", "server", "--port", str(port), "--dbfile",
            str(workdir / dbfile), "--enable-debug-command", "yes",
            "--repl-diskless-sync-delay", "0", *extra]
    return ServerProcess(argv, port, workdir, workdir / "aki.log", own).start()


def start_aki_from_config(workdir: Path, text: str, *extra: str) -> ServerProcess:
    """aki started from a config file (first, as for redis-server: CONFIG REWRITE then has
    a file to rewrite), the file ``workdir/aki.conf`` and the database in ``workdir``."""
    workdir.mkdir(parents=True, exist_ok=True)
    conf = workdir / "aki.conf"
    conf.write_text(text)
    port = free_port()
    return ServerProcess(
        [sys.executable, "-m", "aki", "server", str(conf), "--port", str(port),
         "--dbfile", str(workdir / "data.aki"), *extra],
        port, workdir, workdir / "aki.log", own_port=True).start()


def start_redis(workdir: Path | None = None, *extra: str, port: int | None = None) -> ServerProcess:
    workdir = Path(workdir or tempfile.mkdtemp(prefix="redis-test-"))
    own = port is None
    port = port or free_port()
    argv = [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", str(workdir), "--enable-debug-command", "yes",
            "--repl-diskless-sync-delay", "0", *extra]
    return ServerProcess(argv, port, workdir, workdir / "redis.log", own).start()


@pytest.fixture(scope="module")
def aki_server(tmp_path_factory):
    srv = start_aki(tmp_path_factory.mktemp("aki"))
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    if not os.path.exists(REDIS_SERVER):
        pytest.fail("redis-server is not installed: the test command installs it (see README)")
    srv = start_redis(tmp_path_factory.mktemp("redis"))
    yield srv
    srv.stop()


@pytest.fixture
def r(aki_server):
    client = aki_server.client()
    client.flushall()
    yield client
    client.close()


@pytest.fixture
def r3(aki_server):
    client = aki_server.client(protocol=3)
    client.flushall()
    yield client
    client.close()


@pytest.fixture
def rr(redis_server):
    client = redis_server.client()
    client.flushall()
    yield client
    client.close()


class RawClient:
    """Sends raw bytes and reads raw replies: for byte-exact comparisons."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def cmd(self, *args: bytes | str | int) -> bytes:
        """Send one command, return its whole reply as raw bytes."""
        self.send(encode_command(*args))
        return self.read_reply()

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        self.buf += chunk

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            self._fill()
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def read_reply(self) -> bytes:
        """Read exactly one RESP2/RESP3 reply, returned as it arrived."""
        line = self._line()
        out = line + b"\r\n"
        t = line[:1]
        if t in (b"$", b"=", b"!"):
            n = int(line[1:])
            if n >= 0:
                while len(self.buf) < n + 2:
                    self._fill()
                out += self.buf[: n + 2]
                self.buf = self.buf[n + 2 :]
        elif t in (b"*", b"~", b">", b"%", b"|"):
            n = int(line[1:])
            if t in (b"%", b"|"):
                n *= 2
            for _ in range(max(n, 0)):
                out += self.read_reply()
        return out

    def close(self) -> None:
        self.sock.close()


def encode_command(*args: bytes | str | int) -> bytes:
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, int):
            a = str(a)
        if isinstance(a, str):
            a = a.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(parts)


@pytest.fixture
def raw(aki_server):
    clients: list[RawClient] = []

    def make(port: int | None = None) -> RawClient:
        c = RawClient(port or aki_server.port)
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.close()


class Pair:
    """The same commands to aki and to redis-server; replies compared byte for byte."""

    def __init__(self, aki_port: int, redis_port: int) -> None:
        self.a = RawClient(aki_port)
        self.r = RawClient(redis_port)

    def both(self, *args) -> tuple[bytes, bytes]:
        return self.a.cmd(*args), self.r.cmd(*args)

    def same(self, *args) -> bytes:
        """Assert both servers answer ``args`` identically; return the reply."""
        got, want = self.both(*args)
        assert got == want, f"{args!r}: aki {got!r} != redis {want!r}"
        return got

    def close(self) -> None:
        self.a.close()
        self.r.close()


@pytest.fixture
def pair(aki_server, redis_server):
    p = Pair(aki_server.port, redis_server.port)
    p.same("FLUSHALL")
    yield p
    p.close()


def aof_files(d: Path, dirname: str = "appendonlydir", name: str = "appendonly.aof") -> list[Path]:
    """The files of the multi-part AOF in ``d`` in load order (base, then incr by seq), read
    through its manifest, as redis-server and redis-check-aof find them."""
    from aki.durability.aof import parse_manifest

    adir = d / dirname
    return [adir / n for n, _ in parse_manifest(adir / (name + ".manifest"))]


def aof_incr(d: Path, **kw: str) -> Path:
    """The current (last) incr file of the AOF in ``d``: where aki appends."""
    return aof_files(d, **kw)[-1]


def aof_bytes(d: Path, **kw: str) -> bytes:
    """The whole log in ``d``: the base, then every incr file."""
    return b"".join(p.read_bytes() for p in aof_files(d, **kw))


def copy_aof(src: Path, dst: Path, dirname: str = "appendonlydir") -> None:
    """Copy the appendonlydir of ``src`` into ``dst`` (for a redis-server to load)."""
    dst.mkdir(parents=True, exist_ok=True)
    shutil.copytree(src / dirname, dst / dirname)


def dump_db(c: redis.Redis) -> dict:
    """Every key of the selected db as (type, content) for a type-wise comparison."""
    out = {}
    for k in c.keys("*"):
        t = c.type(k)
        if t == b"string":
            v = c.get(k)
        elif t == b"list":
            v = c.lrange(k, 0, -1)
        elif t == b"hash":
            v = sorted(c.hgetall(k).items())
        elif t == b"set":
            v = sorted(c.smembers(k))
        elif t == b"zset":
            v = c.zrange(k, 0, -1, withscores=True)
        elif t == b"stream":
            v = c.xrange(k)
        else:
            v = None
        ttl = c.pttl(k)
        out[k] = (t, v, ttl > 0)
    return out
