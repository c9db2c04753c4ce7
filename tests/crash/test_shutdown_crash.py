"""kill -9 in the middle of a shutdown (appendfsync always): while the primary waits for
its replica, and while the final RDB is being written. Every acknowledged write is in
the .aki file after the restart, a write held by the shutdown never ran, and the
dump.rdb left behind is the previous complete one (a temp file at worst), never a
partial one."""

from __future__ import annotations

import os
import shutil
import signal

from tests.conftest import RawClient, encode_command, start_aki, start_redis, wait_until


def test_kill9_while_the_final_rdb_is_written(tmp_path):
    srv = start_aki(tmp_path, "--save", "3600 1", "--appendfsync", "always")
    try:
        c = srv.client()
        c.set("first", "1")
        c.save()  # a complete dump.rdb that holds only "first"
        rdb = tmp_path / "dump.rdb"
        before = rdb.read_bytes()
        for i in range(20):
            c.set(i, i)
        c.config_set("rdb-key-save-delay", 200_000)  # 4 s for the 21 keys
        tmp = tmp_path / f"temp-{srv.proc.pid}.rdb"
        os.kill(srv.proc.pid, signal.SIGTERM)
        wait_until(tmp.exists, 10, "the final save under way", step=0.005)
        held = RawClient(srv.port)
        held.send(encode_command("SET", "held", "1"))  # parked: nothing runs now
        srv.stop("kill")
        held.close()
        assert rdb.read_bytes() == before  # the old dump, whole
        srv.start()
        c = srv.client()
        assert c.get("held") is None
        assert c.mget("first", *range(20)) == [b"1", *(b"%d" % i for i in range(20))]
        red_dir = tmp_path / "red"
        red_dir.mkdir()
        shutil.copy(rdb, red_dir / "dump.rdb")
        red = start_redis(red_dir, "--dir", str(red_dir))
        try:
            assert red.client().keys() == [b"first"]
        finally:
            red.stop()
    finally:
        srv.stop("kill")


def test_kill9_while_waiting_for_a_replica(tmp_path):
    (tmp_path / "p").mkdir()
    primary = start_aki(tmp_path / "p", "--appendfsync", "always")
    replica = start_redis(None, "--replicaof", "127.0.0.1", str(primary.port))
    try:
        p = primary.client()
        r = replica.client()
        wait_until(lambda: r.info("replication")["master_link_status"] == "up", 20, "the link")
        p.set("k", 1)
        wait_until(lambda: r.get("k") == b"1", 10, "k replicated")
        os.kill(replica.proc.pid, signal.SIGSTOP)
        assert p.incr("k") == 2  # acknowledged: must survive
        os.kill(primary.proc.pid, signal.SIGTERM)
        wait_until(lambda: "shutdown_in_milliseconds" in p.info("server"), 10, "the wait")
        held = RawClient(primary.port)
        held.send(encode_command("SET", "held", "1"))
        primary.stop("kill")
        held.close()
        primary.start()
        p = primary.client()
        assert p.get("k") == b"2" and p.get("held") is None
    finally:
        if replica.proc is not None and replica.proc.poll() is None:
            os.kill(replica.proc.pid, signal.SIGCONT)
        replica.stop("kill")
        primary.stop("kill")
