"""FAILOVER (Redis 7.0's coordinated failover) with aki on either side: an aki primary
hands over to an aki or a real Redis replica, a real Redis primary hands over to an
aki replica (the PSYNC ... FAILOVER handshake); the pause of writes, TIMEOUT, FORCE,
ABORT; and the errors, byte for byte against redis-server."""

from __future__ import annotations

import os
import signal
import threading

import pytest
import redis

from tests.conftest import RawClient, ServerProcess, start_aki, start_redis, wait_until

START = {"aki": start_aki, "redis": start_redis}


def _state(c: redis.Redis) -> str:
    return c.info("replication")["master_failover_state"]


def _follows(c: redis.Redis, port: int) -> bool:
    role = c.execute_command("ROLE")
    return role[0] == b"slave" and role[2] == port and role[3] == b"connected"


def _replicate(primary: ServerProcess, *replicas: ServerProcess) -> None:
    for r in replicas:
        r.client().replicaof("127.0.0.1", primary.port)
    for r in replicas:
        wait_until(lambda r=r: _follows(r.client(), primary.port), 20, "the sync")
    # and online on the primary's side (after a diskless sync Redis waits for an ACK)
    wait_until(lambda: _online(primary.client()) >= {r.port for r in replicas}, 20, "online")


def _online(c: redis.Redis) -> set[int]:
    info = c.info("replication")
    return {v["port"] for k, v in info.items()
            if k.startswith("slave") and isinstance(v, dict) and v.get("state") == "online"}


def _stopped(srv: ServerProcess):
    """SIGSTOP the server for a while (it then never acknowledges), as Redis's test."""
    class _Ctx:
        def __enter__(self):
            os.kill(srv.proc.pid, signal.SIGSTOP)

        def __exit__(self, *exc):
            os.kill(srv.proc.pid, signal.SIGCONT)
    return _Ctx()


@pytest.fixture
def nodes(request):
    """Servers started by the test, killed after it."""
    started: list[ServerProcess] = []

    def make(kind: str = "aki") -> ServerProcess:
        srv = START[kind]()
        started.append(srv)
        return srv

    yield make
    for srv in started:
        srv.stop("kill")


# -- errors, byte for byte ----------------------------------------------------------------

ARG_ERRORS = [
    ("FAILOVER",), ("FAILOVER", "ABORT"), ("FAILOVER", "abort"), ("FAILOVER", "TO", "x"),
    ("FAILOVER", "TIMEOUT"), ("FAILOVER", "TIMEOUT", "0"), ("FAILOVER", "TIMEOUT", "-5"),
    ("FAILOVER", "TIMEOUT", "x"), ("FAILOVER", "TO", "h", "p"), ("FAILOVER", "FORCE"),
    ("FAILOVER", "foo"), ("FAILOVER", "FORCE", "FORCE"), ("FAILOVER", "ABORT", "TIMEOUT", "5"),
    ("FAILOVER", "TIMEOUT", "5", "TIMEOUT", "6"), ("FAILOVER", "TO", "h", "1", "TO", "h", "2"),
    ("FAILOVER", "FORCE", "TIMEOUT", "100"), ("FAILOVER", "TO", "127.0.0.1", "1"),
    ("PSYNC", "abc", "1", "FAILOVER"), ("PSYNC", "abc", "x", "failover"),
]


def test_errors_without_replicas_match_redis(pair):
    for args in ARG_ERRORS:
        pair.same(*args)


def test_errors_with_replicas_and_on_a_replica_match_redis(nodes):
    pa, pr = nodes("aki"), nodes("redis")
    ra, rr = nodes("aki"), nodes("redis")
    _replicate(pa, ra)
    _replicate(pr, rr)
    p_a, p_r = RawClient(pa.port), RawClient(pr.port)
    r_a, r_r = RawClient(ra.port), RawClient(rr.port)
    try:
        for args in [("FAILOVER", "FORCE", "TIMEOUT", "100"),
                     ("FAILOVER", "TO", "127.0.0.1", "1", "FORCE"),
                     ("FAILOVER", "TO", "127.0.0.1", "1", "TIMEOUT", "10", "FORCE"),
                     ("FAILOVER", "TO", "nohost", "1"), ("FAILOVER", "ABORT")]:
            assert p_a.cmd(*args) == p_r.cmd(*args), args
        # a replica's answers (the replica's own replid differs: compare the text only)
        for args in [("FAILOVER",), ("FAILOVER", "TO", "127.0.0.1", "1"),
                     ("PSYNC", "0" * 40, "1", "FAILOVER")]:
            got, want = r_a.cmd(*args), r_r.cmd(*args)
            assert got == want, args
        assert r_a.cmd("FAILOVER") == b"-ERR FAILOVER is not valid when server is a replica.\r\n"
        assert r_a.cmd("PSYNC", "0" * 40, "1", "FAILOVER") == \
            b"-ERR PSYNC FAILOVER replid must match my replid.\r\n"
        assert _follows(ra.client(), pa.port)  # a refused PSYNC FAILOVER changes nothing
    finally:
        for c in (p_a, p_r, r_a, r_r):
            c.close()


# -- the failover itself, aki and Redis on either side -----------------------------------


@pytest.mark.parametrize("primary_kind,target_kind",
                         [("aki", "aki"), ("aki", "redis"), ("redis", "aki")])
def test_failover_to_a_replica(nodes, primary_kind, target_kind):
    primary, target, other = nodes(primary_kind), nodes(target_kind), nodes("aki")
    _replicate(primary, target, other)
    p, t, o = primary.client(), target.client(), other.client()
    for i in range(100):
        p.set(f"k{i}", i)
    p.rpush("l", *range(20))
    t_partial, t_full = t.info("stats")["sync_partial_ok"], t.info("stats")["sync_full"]

    assert p.execute_command("FAILOVER", "TO", "127.0.0.1", target.port) == b"OK"
    wait_until(lambda: _state(p) == "no-failover", 10, "the failover to end")
    assert p.execute_command("ROLE")[0] == b"slave"
    assert t.execute_command("ROLE")[0] == b"master"
    wait_until(lambda: _follows(p, target.port), 10, "the old primary to follow the target")
    # the old primary continued the target's new history with PSYNC, no full sync
    assert t.info("stats")["sync_partial_ok"] == t_partial + 1
    assert t.info("stats")["sync_full"] == t_full
    info = t.info("replication")
    assert info["master_replid2"] == p.info("replication")["master_replid2"]
    assert info["master_replid"] == p.info("replication")["master_replid"]

    # the other replica is pointed at the new primary (as sentinel or an operator would)
    o.replicaof("127.0.0.1", target.port)
    t.set("after", "failover")
    wait_until(lambda: p.get("after") == b"failover" and o.get("after") == b"failover", 10,
               "the new primary's writes on both replicas")
    for c in (t, p, o):
        assert c.get("k99") == b"99" and c.lrange("l", 0, -1) == [b"%d" % i for i in range(20)]
    with pytest.raises(redis.ReadOnlyError):
        p.set("x", 1)


def test_writes_wait_during_failover_and_abort(nodes):
    """A write waits while the primary waits for the replica (reads do not), FAILOVER
    ABORT lets it run, and the server is still the primary; REPLICAOF, SYNC and a second
    FAILOVER are refused meanwhile."""
    primary, target = nodes(), nodes()
    _replicate(primary, target)
    p = primary.client()
    partial = p.info("stats")["sync_partial_ok"]
    result: list = []
    with _stopped(target):
        p.set("case", 1)
        assert p.execute_command("FAILOVER", "TO", "127.0.0.1", target.port,
                                 "TIMEOUT", 60000) == b"OK"
        assert _state(p) == "waiting-for-sync"
        assert p.get("case") == b"1"
        writer = threading.Thread(target=lambda: result.append(primary.client().set("w", 1)))
        writer.start()
        writer.join(0.5)
        assert writer.is_alive() and not result  # held by the pause
        raw = RawClient(primary.port)
        try:
            assert raw.cmd("FAILOVER") == b"-ERR FAILOVER already in progress.\r\n"
            assert raw.cmd("REPLICAOF", "NO", "ONE") == \
                b"-ERR REPLICAOF not allowed while failing over.\r\n"
            assert raw.cmd("PSYNC", "?", "-1") == b"-NOMASTERLINK Can't SYNC while failing over\r\n"
        finally:
            raw.close()
        assert p.execute_command("FAILOVER", "ABORT") == b"OK"
        assert _state(p) == "no-failover"
        writer.join(5)
        assert result == [True]
    wait_until(lambda: _follows(target.client(), primary.port), 10, "the replica to resume")
    assert p.execute_command("ROLE")[0] == b"master"
    assert p.info("stats")["sync_partial_ok"] == partial
    assert "aborted: Failover manually aborted" in primary.log.read_text()


def test_failover_timeout_aborts_and_force_fails_over(nodes):
    primary, target = nodes(), nodes()
    _replicate(primary, target)
    p, t = primary.client(), target.client()
    with _stopped(target):
        p.set("case", 1)
        assert p.execute_command("FAILOVER", "TO", "127.0.0.1", target.port,
                                 "TIMEOUT", 300) == b"OK"
        wait_until(lambda: _state(p) == "no-failover", 5, "the timeout")
    assert p.execute_command("ROLE")[0] == b"master"
    assert "aborted: Replica never caught up before timeout" in primary.log.read_text()
    wait_until(lambda: t.get("case") == b"1", 10, "the replica to catch up")

    with _stopped(target):
        p.set("case", 2)  # the target never acknowledges this before the timeout
        assert p.execute_command("FAILOVER", "TO", "127.0.0.1", target.port,
                                 "TIMEOUT", 100, "FORCE") == b"OK"
        wait_until(lambda: _state(p) == "failover-in-progress", 5, "the forced failover")
        assert p.execute_command("ROLE")[0] == b"slave"
    wait_until(lambda: _state(p) == "no-failover", 10, "the failover to end")
    assert t.execute_command("ROLE")[0] == b"master"
    wait_until(lambda: _follows(p, target.port), 10, "the old primary to follow")
    assert t.get("case") == b"2"
    assert "time out exceeded, failing over." in primary.log.read_text()


def test_failover_to_any_replica_and_a_rejected_psync(nodes):
    """Without TO, the first replica that caught up is chosen; a target whose ACL denies
    PSYNC rejects the handshake, which aborts the failover: primary again, and the
    replicas come back with PSYNC."""
    primary, target = nodes(), nodes()
    _replicate(primary, target)
    p, t = primary.client(), target.client()
    t.execute_command("ACL", "SETUSER", "default", "-psync")
    p.set("case", 3)
    assert p.execute_command("FAILOVER") == b"OK"
    wait_until(lambda: _state(p) == "no-failover", 10, "the failover to end")
    assert "Failover target rejected psync request" in primary.log.read_text()
    assert p.execute_command("ROLE")[0] == b"master"
    assert t.execute_command("ROLE")[0] == b"slave"
    t.execute_command("ACL", "SETUSER", "default", "+psync")
    wait_until(lambda: _follows(t, primary.port), 10, "the replica to come back")
    p.set("more", 1)
    wait_until(lambda: t.get("more") == b"1", 10, "the stream")

    assert p.execute_command("FAILOVER") == b"OK"
    wait_until(lambda: _state(p) == "no-failover", 10, "the failover to end")
    assert t.execute_command("ROLE")[0] == b"master"
    assert f"Failover target 127.0.0.1:{target.port} is synced" in primary.log.read_text()


def test_failover_pause_and_client_pause_are_kept_apart(nodes):
    """CLIENT UNPAUSE does not lift FAILOVER's write pause, and ending the failover does
    not lift a CLIENT PAUSE that is still running (Redis's separate pause purposes)."""
    primary, target = nodes(), nodes()
    _replicate(primary, target)
    p = primary.client()
    result: list = []
    with _stopped(target):
        assert p.execute_command("FAILOVER", "TO", "127.0.0.1", target.port,
                                 "TIMEOUT", 60000) == b"OK"
        writer = threading.Thread(target=lambda: result.append(primary.client().set("w", 1)))
        writer.start()
        assert p.execute_command("CLIENT", "UNPAUSE") == b"OK"
        writer.join(0.5)
        assert writer.is_alive() and not result  # still held by the failover
        assert p.execute_command("CLIENT", "PAUSE", 60000, "WRITE") == b"OK"
        assert p.execute_command("FAILOVER", "ABORT") == b"OK"
        writer.join(0.5)
        assert writer.is_alive() and not result  # now held by CLIENT PAUSE
        assert p.get("w") is None  # reads go on
        assert p.execute_command("CLIENT", "UNPAUSE") == b"OK"
        writer.join(5)
        assert result == [True]
    assert p.execute_command("ROLE")[0] == b"master"
