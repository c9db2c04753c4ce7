"""Redis Sentinel (the real one, redis-server --sentinel) monitors and fails over aki:
it finds the replicas through INFO, promotes one when the primary dies (MULTI,
SLAVEOF NO ONE, CONFIG REWRITE, CLIENT KILL TYPE normal/pubsub, EXEC), re-points the
other, a redis-py Sentinel client then writes to the new primary, what the old one
acknowledged with WAIT is there, and the old primary, restarted, is turned into a
replica of the new one. Also: SENTINEL sent to aki is an unknown command, as on a
plain redis-server."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
from redis.sentinel import MasterNotFoundError, Sentinel

from tests.conftest import (
    REDIS_SERVER,
    ServerProcess,
    free_port,
    start_aki,
    start_aki_from_config,
    start_redis,
    wait_until,
)

NAME = "mymaster"


def _start_sentinel(workdir: Path, master_port: int) -> ServerProcess:
    """A sentinel with a quorum of 1 and short timeouts; its config file must be writable
    (it records what it learns there). Down after 2.5 s without a PONG: with 1 s a
    loaded CI machine once had the just-promoted replica marked down, and a second
    failover took the test elsewhere."""
    port = free_port()
    conf = workdir / "sentinel.conf"
    conf.write_text(
        f"port {port}\nbind 127.0.0.1\ndir {workdir}\n"
        f"sentinel monitor {NAME} 127.0.0.1 {master_port} 1\n"
        f"sentinel down-after-milliseconds {NAME} 2500\n"
        f"sentinel failover-timeout {NAME} 3000\n"
        f"sentinel parallel-syncs {NAME} 2\n")
    return ServerProcess([REDIS_SERVER, str(conf), "--sentinel"], port, workdir,
                         workdir / "sentinel.log", own_port=True).start()


def _replicas(s: redis.Redis) -> dict[int, dict]:
    """SENTINEL replicas, by port."""
    out = {}
    for fields in s.execute_command("SENTINEL", "replicas", NAME):
        d = dict(zip(fields[::2], fields[1::2], strict=True)) if isinstance(fields, list) \
            else fields
        out[int(d["port"])] = d
    return out


def _master_port(s: redis.Redis) -> int:
    return int(s.execute_command("SENTINEL", "get-master-addr-by-name", NAME)[1])


def _discovered(sent: Sentinel) -> tuple[str, int] | None:
    try:
        return sent.discover_master(NAME)
    except MasterNotFoundError:
        return None


def _follows(c: redis.Redis, port: int) -> bool:
    """ROLE: a replica of ``port`` with the link up."""
    try:
        role = c.execute_command("ROLE")
    except redis.ConnectionError:
        return False
    return role[0] == b"slave" and role[2] == port and role[3] == b"connected"


@pytest.fixture
def servers(tmp_path):
    """An aki primary (no config file), two aki replicas from config files (the first
    preferred by replica-priority), a sentinel watching them."""
    started: list[ServerProcess] = []
    try:
        primary = start_aki(tmp_path / "p" if (tmp_path / "p").mkdir() is None else None)
        started.append(primary)
        r1 = start_aki_from_config(tmp_path / "r1", f"replicaof 127.0.0.1 {primary.port}\n"
                              "replica-priority 10\n")
        started.append(r1)
        r2 = start_aki_from_config(tmp_path / "r2", f"replicaof 127.0.0.1 {primary.port}\n"
                              "replica-priority 100\n")
        started.append(r2)
        sentinel = _start_sentinel(tmp_path, primary.port)
        started.append(sentinel)
        yield primary, r1, r2, sentinel
    finally:
        for srv in reversed(started):
            srv.stop("kill")


def test_sentinel_fails_over_aki(servers):
    primary, r1, r2, sentinel = servers
    s = sentinel.client(decode_responses=True)
    p = primary.client()
    c1, c2 = r1.client(), r2.client()

    # discovery: the replicas come from the primary's INFO replication, their own INFO
    # tells sentinel their link, priority and offset
    def both_seen():
        reps = _replicas(s)
        return (set(reps) == {r1.port, r2.port}
                and all(r["flags"] == "slave" and r["master-link-status"] == "ok"
                        and r["role-reported"] == "slave" for r in reps.values())
                and reps)
    reps = wait_until(both_seen, 20, "sentinel to see both replicas")
    assert reps[r1.port]["slave-priority"] == "10"
    assert reps[r2.port]["slave-priority"] == "100"
    assert reps[r1.port]["master-port"] == str(primary.port)
    assert s.execute_command("SENTINEL", "get-master-addr-by-name", NAME) == \
        ["127.0.0.1", str(primary.port)]
    state = s.sentinel_master(NAME)
    assert state["port"] == primary.port and state["is_master"] and state["num-slaves"] == 2

    for i in range(50):
        p.set(f"before:{i}", i)
    p.rpush("list", *range(10))
    assert p.execute_command("WAIT", 2, 15000) == 2  # both replicas hold every write

    primary.stop("kill")
    new_port = wait_until(lambda: _master_port(s) != primary.port and _master_port(s),
                          30, "sentinel to promote a replica")
    assert new_port == r1.port  # the lower replica-priority wins
    assert c1.execute_command("ROLE")[0] == b"master"
    assert c1.info("replication")["role"] == "master"
    # the promotion ran CONFIG REWRITE: the replicaof line is gone from r1's file
    conf1 = (r1.workdir / "aki.conf").read_text()
    assert "replicaof" not in conf1 and "replica-priority 10" in conf1

    # a redis-py Sentinel client finds the new primary (once the failover ended:
    # +switch-master) and writes to it
    sent = Sentinel([("127.0.0.1", sentinel.port)], socket_timeout=5)
    wait_until(lambda: _discovered(sent) == ("127.0.0.1", r1.port), 30, "+switch-master")
    m = sent.master_for(NAME, socket_timeout=5)
    m.set("after", "failover")
    assert m.get("before:49") == b"49"
    assert [m.get(f"before:{i}") for i in range(50)] == [b"%d" % i for i in range(50)]
    assert m.lrange("list", 0, -1) == [b"%d" % i for i in range(10)]

    # the other replica was re-pointed (SLAVEOF from sentinel, rewritten in its file)
    wait_until(lambda: _follows(c2, r1.port), 30, "r2 to follow the new primary")
    wait_until(lambda: c2.get("after") == b"failover", 10, "the new primary's stream on r2")
    assert f"replicaof 127.0.0.1 {r1.port}" in (r2.workdir / "aki.conf").read_text()
    assert ("127.0.0.1", r2.port) in sent.discover_slaves(NAME)

    # the old primary comes back as a primary with its old data: sentinel turns it into
    # a replica of the new one (it has no config file: CONFIG REWRITE fails in the EXEC,
    # which sentinel ignores, as with Redis)
    primary.start()
    wait_until(lambda: _follows(p, r1.port), 40, "the old primary to become a replica")
    wait_until(lambda: p.get("after") == b"failover", 10, "the old primary to resync")
    assert p.get("before:0") == b"0"
    wait_until(lambda: {primary.port, r2.port} <= set(_replicas(s))
               and _replicas(s)[primary.port]["flags"] == "slave", 20,
               "sentinel to list the old primary as a replica")
    with pytest.raises(redis.ReadOnlyError):
        p.set("x", 1)
    m.set("last", 1)
    assert m.execute_command("WAIT", 2, 15000) == 2


def test_sentinel_commands_are_unknown_to_aki(pair):
    """aki is no sentinel: SENTINEL answers what a plain redis-server answers."""
    for args in (("SENTINEL", "masters"), ("SENTINEL", "get-master-addr-by-name", NAME),
                 ("sentinel",), ("SENTINEL", "replicas", NAME)):
        assert pair.same(*args).startswith(b"-ERR unknown command")


def test_sentinel_promotes_a_redis_replica_of_aki(tmp_path):
    """A mixed group: an aki primary, a real Redis replica (preferred) and an aki replica.
    Sentinel promotes the Redis one and points the aki replica at it."""
    started: list[ServerProcess] = []
    try:
        primary = start_aki(tmp_path / "p" if (tmp_path / "p").mkdir() is None else None)
        started.append(primary)
        rr = start_redis(None, "--replicaof", f"127.0.0.1 {primary.port}",
                         "--replica-priority", "10")
        started.append(rr)
        ra = start_aki(None, "--replicaof", f"127.0.0.1 {primary.port}")
        started.append(ra)
        sentinel = _start_sentinel(tmp_path, primary.port)
        started.append(sentinel)
        s = sentinel.client(decode_responses=True)
        wait_until(lambda: set(_replicas(s)) == {rr.port, ra.port}
                   and all(r["master-link-status"] == "ok" for r in _replicas(s).values()),
                   20, "sentinel to see both replicas")
        p = primary.client()
        p.hset("h", mapping={"a": 1, "b": 2})
        p.zadd("z", {"m": 1.5})
        assert p.execute_command("WAIT", 2, 15000) == 2
        primary.stop("kill")
        sent = Sentinel([("127.0.0.1", sentinel.port)], socket_timeout=5)
        wait_until(lambda: _discovered(sent) == ("127.0.0.1", rr.port), 30, "+switch-master")
        m = sent.master_for(NAME, socket_timeout=5)
        assert m.hgetall("h") == {b"a": b"1", b"b": b"2"} and m.zscore("z", "m") == 1.5
        m.set("from", "redis")
        a = ra.client()
        wait_until(lambda: _follows(a, rr.port), 30, "the aki replica to follow Redis")
        wait_until(lambda: a.get("from") == b"redis", 10, "Redis's stream on aki")
        assert a.hgetall("h") == {b"a": b"1", b"b": b"2"}
    finally:
        for srv in reversed(started):
            srv.stop("kill")
