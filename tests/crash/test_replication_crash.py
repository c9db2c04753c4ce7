"""kill -9 of a primary under load while a real Redis replica follows it: the replica
never holds a write the primary's file lost (the stream carries committed batches
only), no acknowledged write is lost, and the restarted primary brings the replica back
to exactly its data."""

from __future__ import annotations

import random
import threading
import time

import redis

from tests.conftest import start_aki, start_redis


def _writer(port: int, name: str, acked: dict, stop: threading.Event) -> None:
    r = redis.Redis(port=port, socket_timeout=5)
    i = 0
    try:
        while not stop.is_set():
            i += 1
            with r.pipeline(transaction=True) as tx:
                tx.set(f"{name}:last", i).rpush(f"{name}:list", i).execute()
            acked[name] = i
    except (redis.ConnectionError, redis.TimeoutError):
        pass


def _until(cond, timeout: float = 20.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if cond():
                return
        except redis.RedisError:
            pass
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_kill9_primary_replica_never_ahead(tmp_path):
    (tmp_path / "aki").mkdir()
    aki = start_aki(tmp_path / "aki", "--appendfsync", "always")
    replica = start_redis(None, "--replicaof", "127.0.0.1", str(aki.port))
    try:
        rep = replica.client()
        _until(lambda: rep.info("replication")["master_link_status"] == "up")
        acked: dict[str, int] = {}
        stop = threading.Event()
        names = [f"w{n}" for n in range(4)]
        threads = [threading.Thread(target=_writer, args=(aki.port, n, acked, stop))
                   for n in names]
        for t in threads:
            t.start()
        time.sleep(1.5 + random.random())
        aki.stop("kill")
        stop.set()
        for t in threads:
            t.join()
        time.sleep(0.2)  # the replica applies whatever had reached it
        on_replica = {n: [int(x) for x in rep.lrange(f"{n}:list", 0, -1)] for n in names}
        assert any(on_replica.values()), "the replica received nothing: no load reached it"

        aki.start()  # same files
        p = aki.client()
        for n in names:
            on_primary = [int(x) for x in p.lrange(f"{n}:list", 0, -1)]
            # every acknowledged write is there, and nothing half-applied (the list and
            # the :last key move together in one transaction)
            assert on_primary == list(range(1, len(on_primary) + 1))
            assert len(on_primary) >= acked.get(n, 0)
            assert int(p.get(f"{n}:last") or 0) == len(on_primary)
            # the replica never ran ahead of what the primary's file kept
            assert on_replica[n] == on_primary[:len(on_replica[n])]
        # the replica follows the restarted primary back to the same data
        _until(lambda: rep.info("replication")["master_link_status"] == "up"
               and all(rep.llen(f"{n}:list") == p.llen(f"{n}:list") for n in names))
        for n in names:
            assert rep.lrange(f"{n}:list", 0, -1) == p.lrange(f"{n}:list", 0, -1)
    finally:
        replica.stop()
        aki.stop()
