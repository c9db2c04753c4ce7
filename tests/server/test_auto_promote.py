"""aki's ``replica-auto-promote-after <ms>`` (off by default): a replica whose primary has
been silent that long (no stream, no PING) promotes itself, as REPLICAOF NO ONE, keeps
the data and the history (its replicas continue with PSYNC), and rewrites its config
file so a restart does not follow the dead primary again."""

from __future__ import annotations

import os
import re
import signal
import time

import redis

from tests.conftest import free_port, start_aki, start_aki_from_config, wait_until


def _connected(c: redis.Redis) -> bool:
    role = c.execute_command("ROLE")
    return role[0] == b"slave" and role[3] == b"connected"


def test_replica_promotes_itself_when_the_primary_goes_silent(tmp_path):
    primary = start_aki(None, "--repl-ping-replica-period", "1")
    started = [primary]
    try:
        auto = start_aki_from_config(tmp_path / "auto", f"replicaof 127.0.0.1 {primary.port}\n"
                            "replica-auto-promote-after 3000\n")
        started.append(auto)
        plain = start_aki(None, "--replicaof", f"127.0.0.1 {primary.port}")
        started.append(plain)
        p, a, n = primary.client(), auto.client(), plain.client()
        assert n.config_get("replica-auto-promote-after") == {"replica-auto-promote-after": "0"}
        assert a.config_get("replica-auto-promote-after") == \
            {"replica-auto-promote-after": "3000"}
        wait_until(lambda: _connected(a) and _connected(n), 20, "both replicas to sync")
        for i in range(20):
            p.set(f"k{i}", i)
        assert p.execute_command("WAIT", 2, 15000) == 2
        old_id = p.info("replication")["master_replid"]

        # an idle primary still PINGs every second: no promotion
        time.sleep(3.5)
        assert a.execute_command("ROLE")[0] == b"slave"

        os.kill(primary.proc.pid, signal.SIGSTOP)  # silent, its sockets still open
        try:
            wait_until(lambda: a.execute_command("ROLE")[0] == b"master", 10,
                       "the replica to promote itself")
            # only after 3 s of silence, counted from the last byte heard (under load the
            # last PING may have come well before the SIGSTOP, so not timed from here)
            silent = re.search(r"No data from MASTER \S+ for (\d+) ms", auto.log.read_text())
            assert silent is not None and int(silent.group(1)) >= 3000
            info = a.info("replication")
            assert info["role"] == "master" and info["master_replid2"] == old_id
            assert [a.get(f"k{i}") for i in range(20)] == [b"%d" % i for i in range(20)]
            a.set("mine", "now")  # writable
            assert a.get("mine") == b"now"
            # off by default: the other replica waits for its primary
            assert n.execute_command("ROLE")[0] == b"slave"
            conf = (auto.workdir / "aki.conf").read_text()
            assert "replicaof" not in conf and "replica-auto-promote-after 3000" in conf
            assert "promoting myself" in auto.log.read_text()

            # the other replica moves over and continues the history with PSYNC
            partial = a.info("stats")["sync_partial_ok"]
            n.replicaof("127.0.0.1", auto.port)
            wait_until(lambda: n.get("mine") == b"now", 10, "the other replica to follow")
            assert a.info("stats")["sync_partial_ok"] == partial + 1
        finally:
            os.kill(primary.proc.pid, signal.SIGCONT)

        # restarted from its rewritten file, it is still a primary
        auto.restart()
        a = auto.client()
        assert a.execute_command("ROLE")[0] == b"master"
        assert a.get("mine") == b"now"
    finally:
        for srv in started:
            srv.stop("kill")


def test_config_set_turns_it_on_and_a_never_connected_link_does_not_promote(tmp_path):
    """CONFIG SET applies to a running link; a replica whose primary was never reached
    (nothing to fail over from) does not promote itself."""
    dead = free_port()
    r = start_aki(None, "--replicaof", f"127.0.0.1 {dead}",
                  "--replica-auto-promote-after", "300")
    try:
        c = r.client()
        time.sleep(1.5)
        assert c.execute_command("ROLE")[0] == b"slave"
        primary = start_aki(None, "--repl-ping-replica-period", "1")
        try:
            c.config_set("replica-auto-promote-after", 0)
            c.replicaof("127.0.0.1", primary.port)
            wait_until(lambda: _connected(c), 20, "the sync")
            c.config_set("replica-auto-promote-after", 1500)
            primary.stop("kill")
            wait_until(lambda: c.execute_command("ROLE")[0] == b"master", 10,
                       "the promotion")
        finally:
            primary.stop("kill")
    finally:
        r.stop("kill")
