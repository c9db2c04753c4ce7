"""FAILOVER: a primary hands its role to one of its replicas (Redis 7.0 replication.c,
failoverCommand / updateFailoverStatus / abortFailover).

The happy path, as in Redis: FAILOVER pauses writes (``waiting-for-sync``); once the
target replica (or, without ``TO``, any replica) has acknowledged the whole stream, the
primary becomes a replica of it (``failover-in-progress``) and its handshake's PSYNC
carries the ``FAILOVER`` keyword, which makes the target promote itself before it
answers ``+CONTINUE``; the pause then ends and writes held meanwhile get READONLY.
``TIMEOUT`` aborts (or, with ``FORCE``, fails over anyway) when the replica never
catches up; a target that refuses the PSYNC aborts it and the server is a primary again.

Invariants:

* While a failover is under way no write runs (the pause; the stream's PING is
  withheld when a timeout is set, as Redis does), so the offset a replica must reach
  does not move: the target that acknowledged it holds every write the primary made.
* ``server.extensions["failover"]`` exists exactly while the state is not
  ``no-failover``; REPLICAOF and SYNC/PSYNC are refused meanwhile.
* Nothing here touches the ``.aki`` file.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from aki.commands.connection import hold_pause, release_pause

if TYPE_CHECKING:
    from aki.core.state import Server

log = logging.getLogger("aki.replication")

NO_FAILOVER = "no-failover"
WAIT_FOR_SYNC = "waiting-for-sync"
IN_PROGRESS = "failover-in-progress"


class Failover:
    """One coordinated failover: its state, target and deadline."""

    def __init__(self, server: Server, host: str | None, port: int, timeout_ms: int,
                 force: bool) -> None:
        self.server = server
        self.state = WAIT_FOR_SYNC
        self.host = host
        self.port = port
        self.end_time = time.time() + timeout_ms / 1000 if timeout_ms else 0.0
        self.force = force
        self.task: asyncio.Task | None = None


def state(server: Server) -> str:
    """INFO replication's master_failover_state."""
    fo = server.extensions.get("failover")
    return fo.state if fo is not None else NO_FAILOVER


def in_progress(server: Server) -> bool:
    """The primary is now a replica of the target and its PSYNC carries FAILOVER."""
    fo = server.extensions.get("failover")
    return fo is not None and fo.state == IN_PROGRESS


def start(server: Server, host: str | None, port: int, timeout_ms: int, force: bool) -> None:
    """FAILOVER's arguments were checked: pause writes and wait for a replica."""
    fo = Failover(server, host, port, timeout_ms, force)
    server.extensions["failover"] = fo
    if host is not None:
        log.info("FAILOVER requested to %s:%d.", host, port)
    else:
        log.info("FAILOVER requested to any replica.")
    hold_pause(server, "failover")  # PAUSE_DURING_FAILOVER
    app = server.extensions.get("app")
    if app is not None:
        fo.task = app.loop.create_task(_cron(fo))


async def _cron(fo: Failover) -> None:
    """replicationCron runs every 100 ms while a failover is under way."""
    while fo.server.extensions.get("failover") is fo:
        update(fo.server)
        await asyncio.sleep(0.1)


def update(server: Server) -> None:
    """updateFailoverStatus: the timeout, then whether the replica caught up (called by
    the cron and after each REPLCONF ACK)."""
    fo = server.extensions.get("failover")
    if fo is None or fo.state != WAIT_FOR_SYNC:
        return
    if fo.end_time and fo.end_time <= time.time():
        if fo.force:
            log.info("FAILOVER to %s:%d time out exceeded, failing over.", fo.host, fo.port)
            _fail_over(fo)
        else:
            abort(server, "Replica never caught up before timeout")
        return
    prim = server.extensions.get("primary")
    if prim is None:
        return
    offset = prim.pending_offset()
    target = None
    if fo.host is not None:
        target = find_replica(server, fo.host, fo.port)
    else:
        for r in prim.replicas:
            if r.ack_offset == offset:
                fo.host, fo.port = r.ip(), r.port  # failing over to this one now
                target = r
                break
    if target is not None and target.ack_offset == offset:
        log.info("Failover target %s:%d is synced, failing over.", fo.host, fo.port)
        _fail_over(fo)


def _fail_over(fo: Failover) -> None:
    """Become a replica of the target; its PSYNC carries FAILOVER (replica.py)."""
    from aki.replication.replica import set_master

    fo.state = IN_PROGRESS
    assert fo.host is not None
    set_master(fo.server, fo.host, fo.port)


def psync_answered(server: Server, accepted: bool) -> None:
    """The target answered our PSYNC ... FAILOVER: +CONTINUE or +FULLRESYNC ends the
    failover (we are its replica now); anything else aborts it."""
    if not in_progress(server):
        return
    if accepted:
        clear(server)
    else:
        abort(server, "Failover target rejected psync request")


def abort(server: Server, reason: str) -> None:
    """abortFailover: log, and if already following the target, be a primary again."""
    fo = server.extensions.get("failover")
    if fo is None:
        return
    if fo.host is not None:
        log.info("FAILOVER to %s:%d aborted: %s", fo.host, fo.port, reason)
    else:
        log.info("FAILOVER to any replica aborted: %s", reason)
    if fo.state == IN_PROGRESS:
        from aki.replication.replica import unset_master

        unset_master(server)
    clear(server)


def clear(server: Server) -> None:
    """clearFailoverState: forget the failover and lift its write pause."""
    fo = server.extensions.pop("failover", None)
    if fo is None:
        return
    if fo.task is not None and fo.task is not asyncio.current_task():
        fo.task.cancel()
    release_pause(server, "failover")  # a client's pause still running stays in force


def find_replica(server: Server, host: str, port: int):  # -> ReplicaLink | None
    """findReplica: the replica announcing ``host`` (its ip-address, else its peer
    address, compared without case) and listening port ``port``."""
    prim = server.extensions.get("primary")
    if prim is None:
        return None
    for r in prim.replicas:
        if r.ip().lower() == host.lower() and r.port == port:
            return r
    return None


