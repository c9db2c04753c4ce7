"""The shutdown sequence as Redis 7.0 runs it (server/shutdown.py): a primary waits for its
replicas to acknowledge every write before exiting (SHUTDOWN and SIGTERM), up to
``shutdown-timeout``; SHUTDOWN ABORT; SHUTDOWN NOW; a final RDB that cannot be written
stops the exit unless FORCE or NOSAVE; a second SIGINT exits at once. The scenarios are
those of Redis's tests/integration/shutdown.tcl and tests/unit/shutdown.tcl."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest
import redis

from tests.conftest import RawClient, ServerProcess, encode_command, start_aki, start_redis, wait_until

FAILED = "Errors trying to SHUTDOWN. Check logs."


@pytest.fixture
def nodes():
    started: list[ServerProcess] = []

    def make(kind: str = "aki", *extra: str) -> ServerProcess:
        srv = (start_aki if kind == "aki" else start_redis)(None, *extra)
        started.append(srv)
        return srv

    yield make
    for srv in started:
        if srv.proc is not None and srv.proc.poll() is None:
            os.kill(srv.proc.pid, signal.SIGCONT)
        srv.stop("kill")


def _replicate(primary: ServerProcess, replica: ServerProcess) -> None:
    replica.client().replicaof("127.0.0.1", primary.port)
    p = primary.client()
    wait_until(lambda: p.info("replication").get("slave0", {}).get("state") == "online", 20,
               "the replica online")
    p.set("k", 1)
    wait_until(lambda: replica.client().get("k") == b"1", 10, "k replicated")


def _exits_on(srv: ServerProcess, *args: str) -> None:
    """SHUTDOWN ...: Redis exits without a reply, the connection just closes (a raw
    socket: redis-py would retry the command with back-off)."""
    c = RawClient(srv.port)
    with pytest.raises(ConnectionError, match="closed"):
        c.cmd(*args)
    c.close()
    assert srv.proc.wait(10) == 0


def _slow_saver(nodes, keys: int, delay_us: int) -> tuple[ServerProcess, Path]:
    """aki with save points and ``keys`` keys whose RDB saves take ``delay_us`` per key
    (rdb-key-save-delay); the path of the temp file a save writes."""
    srv = nodes("aki", "--save", "3600 1")
    c = srv.client()
    for i in range(keys):
        c.set(i, i)
    c.config_set("rdb-key-save-delay", delay_us)
    return srv, srv.workdir / f"temp-{srv.proc.pid}.rdb"


def _log(srv: ServerProcess) -> str:
    return srv.log.read_text()


def _shutting_down(c: redis.Redis) -> bool:
    return int(c.info("server").get("shutdown_in_milliseconds", 0)) > 0


class _Call(threading.Thread):
    """A command on a connection of its own, whose outcome arrives later."""

    def __init__(self, srv: ServerProcess, *args) -> None:
        super().__init__(daemon=True)
        self.c = srv.client()
        self.args = args
        self.outcome: object = None
        self.start()

    def run(self) -> None:
        try:
            self.outcome = self.c.execute_command(*self.args)
        except redis.RedisError as exc:
            self.outcome = exc


@pytest.mark.parametrize("replica_kind", ["aki", "redis"])
@pytest.mark.parametrize("how", ["shutdown", "sigterm"])
def test_primary_waits_for_its_replica_to_catch_up(nodes, how, replica_kind):
    primary, replica = nodes(), nodes(replica_kind)
    _replicate(primary, replica)
    p = primary.client()
    p.config_set("shutdown-timeout", 300)
    os.kill(replica.proc.pid, signal.SIGSTOP)
    p.incr("k")
    if how == "sigterm":
        os.kill(primary.proc.pid, signal.SIGTERM)
    else:
        shutdown = _Call(primary, "SHUTDOWN")
    wait_until(lambda: _shutting_down(p), 10, "shutdown_in_milliseconds")
    if how == "shutdown":
        assert p.info("clients")["blocked_clients"] == 1
    write = _Call(primary, "SET", "late", "write")  # writes are held meanwhile
    write.join(0.3)
    assert write.is_alive()
    assert p.get("k") == b"2"  # reads go on
    time.sleep(0.2)
    assert primary.proc.poll() is None  # still waiting
    os.kill(replica.proc.pid, signal.SIGCONT)
    assert primary.proc.wait(30) == 0
    assert replica.client().get("k") == b"2"
    log = _log(primary)
    assert "Waiting for replicas before shutting down." in log
    assert "1 of 1 replicas are in sync when shutting down." in log
    assert "Lagging replica" not in log
    assert "ready to exit, bye bye" in log
    write.join(5)
    assert isinstance(write.outcome, redis.ConnectionError)  # never ran
    assert replica.client().get("late") is None
    if how == "shutdown":
        shutdown.join(5)
        assert isinstance(shutdown.outcome, redis.ConnectionError)  # no reply, as Redis


def test_primary_stops_waiting_after_shutdown_timeout(nodes):
    primary, replica = nodes(), nodes()
    _replicate(primary, replica)
    p = primary.client()
    p.config_set("shutdown-timeout", 1)
    os.kill(replica.proc.pid, signal.SIGSTOP)
    p.incr("k")
    start = time.monotonic()
    os.kill(primary.proc.pid, signal.SIGTERM)
    wait_until(lambda: _shutting_down(p), 10, "shutdown_in_milliseconds")
    assert primary.proc.wait(30) == 0
    assert time.monotonic() - start >= 0.9
    log = _log(primary)
    assert "Lagging replica" in log
    assert "0 of 1 replicas are in sync when shutting down." in log


def test_shutdown_now_and_no_replicas_do_not_wait(nodes):
    primary, replica = nodes(), nodes()
    _replicate(primary, replica)
    os.kill(replica.proc.pid, signal.SIGSTOP)
    primary.client().incr("k")
    _exits_on(primary, "SHUTDOWN", "NOW")
    assert "Waiting for replicas" not in _log(primary)
    alone = nodes()
    alone.client().config_set("shutdown-timeout", 300)
    start = time.monotonic()
    assert alone.stop() == 0
    assert time.monotonic() - start < 5


def test_shutdown_abort_answers_the_waiting_clients(nodes):
    primary, replica = nodes(), nodes()
    _replicate(primary, replica)
    p = primary.client()
    os.kill(replica.proc.pid, signal.SIGSTOP)
    p.incr("k")
    first, second = _Call(primary, "SHUTDOWN"), _Call(primary, "SHUTDOWN")
    wait_until(lambda: p.info("clients")["blocked_clients"] == 2, 10, "two SHUTDOWNs waiting")
    assert p.info("clients")["connected_clients"] == 3
    write = _Call(primary, "SET", "held", "1")
    write.join(0.3)
    assert write.is_alive()
    assert p.execute_command("SHUTDOWN", "ABORT") is True  # +OK
    for call in (first, second):
        call.join(5)
        assert isinstance(call.outcome, redis.ResponseError) and str(call.outcome) == FAILED
    write.join(5)
    assert write.outcome is True  # +OK: the held write runs once the shutdown is off
    assert "shutdown_in_milliseconds" not in p.info("server")
    os.kill(replica.proc.pid, signal.SIGCONT)
    time.sleep(0.3)
    assert primary.proc.poll() is None and p.ping()
    assert "Shutdown manually aborted." in _log(primary)
    with pytest.raises(redis.ResponseError, match="No shutdown in progress."):
        p.execute_command("SHUTDOWN", "ABORT")


def test_shutdown_abort_cancels_a_signal_the_cron_has_not_run(nodes):
    """Redis's unit/shutdown "SHUTDOWN ABORT can cancel SIGTERM"."""
    srv = nodes()
    c = srv.client()
    c.execute_command("DEBUG", "PAUSE-CRON", 1)
    os.kill(srv.proc.pid, signal.SIGTERM)
    wait_until(lambda: "Received SIGTERM scheduling shutdown..." in _log(srv), 5, "the signal")
    assert c.execute_command("SHUTDOWN", "ABORT") is True  # +OK
    c.execute_command("DEBUG", "PAUSE-CRON", 0)
    time.sleep(0.3)
    assert c.ping() and srv.proc.poll() is None
    assert "Shutdown manually aborted." in _log(srv)


@pytest.mark.parametrize("how", ["shutdown", "sigterm", "sigint"])
def test_a_final_rdb_that_cannot_be_written_stops_the_exit(nodes, how):
    """Redis's unit/shutdown "SHUTDOWN will abort if rdb save failed": the server goes on
    serving (its .aki file holds every write anyway); NOSAVE and FORCE exit."""
    srv = nodes("aki", "--save", "3600 1")
    (srv.workdir / "dump.rdb").mkdir()  # the rename over it fails
    c = srv.client()
    c.set("a", "1")
    if how == "shutdown":
        assert RawClient(srv.port).cmd("SHUTDOWN") == b"-ERR %s\r\n" % FAILED.encode()
    else:
        os.kill(srv.proc.pid, signal.SIGTERM if how == "sigterm" else signal.SIGINT)
        wait_until(lambda: "Errors trying to shut down the server" in _log(srv), 10, "the failure")
    assert "Error trying to save the DB, can't exit." in _log(srv)
    assert c.set("b", "2") and c.ping()  # writes run again
    assert srv.proc.poll() is None
    _exits_on(srv, "SHUTDOWN", "FORCE")
    assert "Error trying to save the DB. Exit anyway." in _log(srv)
    srv.start()
    assert srv.client().mget("a", "b") == [b"1", b"2"]
    _exits_on(srv, "SHUTDOWN", "NOSAVE")


def test_a_second_sigint_exits_at_once(nodes):
    """Redis's unit/shutdown "Temp rdb will be deleted in signal handle": "You insist...
    exiting now." while the final RDB is being written (slowed by rdb-key-save-delay):
    exit status 1, the temp file removed, every acknowledged write still in the .aki
    file."""
    srv, tmp = _slow_saver(nodes, 20, 100_000)  # 2 s for the 20 keys
    os.kill(srv.proc.pid, signal.SIGINT)
    wait_until(tmp.exists, 10, "the final save under way", step=0.005)
    os.kill(srv.proc.pid, signal.SIGINT)
    assert srv.proc.wait(10) == 1
    assert not tmp.exists()
    assert "You insist... exiting now." in _log(srv)
    srv.start()
    assert srv.client().mget(*range(20)) == [b"%d" % i for i in range(20)]


def test_rdb_key_save_delay_slows_a_bgsave_as_in_redis(nodes):
    """rdb-key-save-delay (microseconds per key) keeps a BGSAVE running: a second BGSAVE
    is refused with Redis's words meanwhile, and INFO says one is in progress."""
    replies = []
    for kind in ("aki", "redis"):
        srv = nodes(kind, "--save", "3600 1")
        c = RawClient(srv.port)
        for i in range(10):
            c.cmd("SET", i, i)
        c.cmd("CONFIG", "SET", "rdb-key-save-delay", 100_000)  # 1 s for the 10 keys
        replies.append([c.cmd("BGSAVE"), c.cmd("BGSAVE"), c.cmd("CONFIG", "GET", "rdb-key-save-delay")])
        assert srv.client().info("persistence")["rdb_bgsave_in_progress"] == 1
        c.close()
    assert replies[0] == replies[1]
    assert replies[0][1] == b"-ERR Background save already in progress\r\n"


def test_the_failed_shutdown_and_abort_replies_match_redis(nodes):
    """Byte for byte against redis-server: SHUTDOWN whose final RDB cannot be written,
    SHUTDOWN ABORT with nothing to abort, and the argument errors."""
    replies = []
    for kind in ("aki", "redis"):
        srv = nodes(kind, "--save", "3600 1")
        (srv.workdir / "dump.rdb").mkdir()
        c = RawClient(srv.port)
        c.cmd("SET", "a", "1")
        replies.append([c.cmd(*args) for args in (
            ("SHUTDOWN",), ("SHUTDOWN", "ABORT"), ("SHUTDOWN", "ABORT", "NOW"),
            ("SHUTDOWN", "SAVE", "NOSAVE"), ("SHUTDOWN", "BOGUS"), ("PING",))])
        c.close()
    assert replies[0] == replies[1]
    assert replies[0][0] == b"-ERR Errors trying to SHUTDOWN. Check logs.\r\n"


@pytest.mark.parametrize("how", ["SHUTDOWN NOSAVE", "SHUTDOWN"])
def test_a_running_bgsave_is_stopped_at_shutdown(nodes, how):
    """prepareForShutdown kills the RDB child: a slow BGSAVE (rdb-key-save-delay) neither
    holds the exit until it ends nor leaves its temp file; with save points the final RDB
    is then written in full."""
    srv, _ = _slow_saver(nodes, 20, 1_000_000)  # 20 s for the 20 keys
    tmp = srv.workdir / f"temp-{srv.proc.pid}-bgsave.rdb"  # a BGSAVE's own temp file
    c = srv.client()
    assert c.bgsave()
    wait_until(tmp.exists, 10, "the BGSAVE under way")
    if how == "SHUTDOWN":
        c.config_set("rdb-key-save-delay", 0)  # the final save itself at full speed
    start = time.monotonic()
    _exits_on(srv, *how.split())
    assert time.monotonic() - start < 8
    assert not tmp.exists()
    log = _log(srv)
    assert "There is a child saving an .rdb. Killing it!" in log
    assert (srv.workdir / "dump.rdb").exists() == (how == "SHUTDOWN")
    if how == "SHUTDOWN":
        d = srv.workdir / "red"
        d.mkdir()
        (d / "dump.rdb").write_bytes((srv.workdir / "dump.rdb").read_bytes())
        red = nodes("redis", "--dir", str(d), "--dbfilename", "dump.rdb")
        assert red.client().dbsize() == 20


def test_nothing_runs_while_the_final_rdb_is_written(nodes):
    """Redis is busy inside finishShutdown: a read, a write or a SHUTDOWN ABORT sent while
    the final RDB is being written gets no answer, and the server then exits; the write
    is in neither the RDB nor the file."""
    srv, tmp = _slow_saver(nodes, 10, 200_000)  # 2 s for the 10 keys
    first = RawClient(srv.port)
    first.send(b"*1\r\n$8\r\nSHUTDOWN\r\n")
    wait_until(tmp.exists, 10, "the final save under way", step=0.005)
    late = []
    for args in (("GET", "1"), ("SET", "x", "1"), ("SHUTDOWN", "ABORT")):
        rc = RawClient(srv.port)
        rc.send(encode_command(*args))
        late.append(rc)
    time.sleep(0.3)
    for rc in late:
        rc.sock.setblocking(False)
        with pytest.raises(BlockingIOError):
            rc.sock.recv(100)  # parked: no answer yet
        rc.sock.setblocking(True)
    assert srv.proc.wait(15) == 0
    for rc in (first, *late):
        with pytest.raises(ConnectionError, match="closed"):
            rc.read_reply()
    srv.start()
    c = srv.client()
    assert c.get("x") is None and c.dbsize() == 10
