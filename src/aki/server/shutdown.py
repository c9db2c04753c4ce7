"""The shutdown sequence: SHUTDOWN, SIGTERM and SIGINT, as Redis 7.0 runs them
(server.c prepareForShutdown / isReadyToShutdown / finishShutdown / abortShutdown).

1. *Prepare.* Unless ``NOW`` was given or ``shutdown-timeout`` is 0, a primary whose
   replicas have not acknowledged the whole stream holds writes, asks them for an ACK
   and waits (``INFO server`` shows ``shutdown_in_milliseconds``). The SHUTDOWN clients
   are blocked meanwhile; ``SHUTDOWN ABORT`` cancels and they get an error.
2. *Finish*, once every replica caught up or the timeout passed: lagging replicas are
   logged, then the final RDB is written when save points are configured (unless
   ``NOSAVE``) or with ``SAVE``. A failed save stops the shutdown, the server keeps
   serving and the SHUTDOWN clients get an error, unless ``FORCE``.
3. *Exit*: ``App.stopping`` is set and ``run()`` commits, checkpoints and closes.

A signal only schedules the shutdown; the cron starts it, at once unless ``DEBUG
PAUSE-CRON`` holds the cron (``SHUTDOWN ABORT`` can then cancel it). A second SIGINT while one is under
way exits at once with status 1, as Redis's "You insist".

Invariants (what a crash can and cannot leave behind):

* Writes are held from the moment the sequence waits or saves until it exits or is
  cancelled, so the final RDB and the replicas' acknowledged offset hold every write a
  client was told succeeded; a write that arrives meanwhile runs only if the shutdown
  is cancelled.
* The ``.aki`` file is not written here: the exit path commits and checkpoints it, and
  the forced exit of a second SIGINT leaves it as a kill would (the WAL holds every
  committed batch). The final RDB goes through ``rdbsave``'s temp file and rename, and
  the forced exit removes that temp file.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import TYPE_CHECKING

from aki.commands.connection import hold_pause, release_pause
from aki.core.blocking import Suspend
from aki.durability import rdbsave
from aki.resp.types import ErrorReply

if TYPE_CHECKING:
    from aki.core.session import Client
    from aki.server.listener import App

log = logging.getLogger("aki")

FAILED = "ERR Errors trying to SHUTDOWN. Check logs."


class Shutdown:
    """One server's shutdown state (``App.shutdown``)."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.server = app.server
        self.asap: frozenset[str] | None = None  # a signal's flags, until the cron starts it
        self.by_signal = False  # started by a signal: a second SIGINT exits at once
        self.deadline = 0.0  # while waiting for replicas (Redis's shutdown_mstime)
        self.finishing = False
        self.flags: frozenset[str] = frozenset()
        self.waiters: list[Suspend] = []

    @property
    def initiated(self) -> bool:
        return bool(self.deadline) or self.finishing

    # -- entry points ------------------------------------------------------------------

    def signal(self, name: str, flags: frozenset[str]) -> None:
        """SIGTERM/SIGINT (sigShutdownHandler): scheduled for the next cron tick."""
        if name == "SIGINT" and (self.asap is not None or self.by_signal):
            log.warning("You insist... exiting now.")
            tmp = rdbsave.rdb_path(self.server).parent / f"temp-{os.getpid()}.rdb"
            tmp.unlink(missing_ok=True)
            logging.shutdown()
            os._exit(1)  # not a clean shutdown: committed batches are in the WAL
        log.warning("Received %s scheduling shutdown...", name)
        self.asap = flags
        if not self.server.cron_paused:
            self.app.loop.call_soon(self.tick)  # no need to wait for the next tick

    def command(self, client: Client, flags: frozenset[str]) -> Suspend | None:
        """SHUTDOWN: the client waits for the outcome (an error, or the exit)."""
        waiter = None
        if client.kind == "normal":
            waiter = Suspend(client, None, None)
            waiter.on_cancel = lambda: self._forget(waiter)
            self.waiters.append(waiter)
        if not self.initiated:
            self._prepare(flags)
        return waiter

    def abort(self) -> bool:
        """SHUTDOWN ABORT: False when no shutdown is under way or scheduled."""
        if self.initiated:
            self._cancel()
        elif self.asap is not None:
            self.asap = None
        else:
            return False
        log.info("Shutdown manually aborted.")
        return True

    def tick(self) -> None:
        """From the cron: start a signalled shutdown, or finish one that waited."""
        if self.asap is not None and not self.initiated:
            flags = self.asap
            self.asap = None
            self.by_signal = True
            self._prepare(flags)
        elif self.deadline and not self.finishing and (
                time.time() >= self.deadline or self._replicas_ready()):
            self._finish()

    def info(self) -> list[str]:
        """INFO server's conditional field."""
        if not self.deadline:
            return []
        return [f"shutdown_in_milliseconds:{int((self.deadline - time.time()) * 1000)}"]

    # -- the sequence ------------------------------------------------------------------

    def _prepare(self, flags: frozenset[str]) -> None:
        self.flags = flags
        log.warning("User requested shutdown...")
        timeout = int(self.server.config.shutdown_timeout)
        if "now" not in flags and timeout and not self._replicas_ready():
            self.deadline = time.time() + timeout
            primary = self.server.extensions.get("primary")
            if primary is not None and not self.server.paused_until:
                primary.request_ack()
            hold_pause(self.server, "shutdown")
            log.info("Waiting for replicas before shutting down.")
            return
        self._finish()

    def _replicas_ready(self) -> bool:
        """isReadyToShutdown: every replica acknowledged the whole stream."""
        primary = self.server.extensions.get("primary")
        if primary is None or not (primary.replicas or primary.to_attach):
            return True
        if primary.to_attach:
            return False
        offset = primary.pending_offset()
        return all(r.ack_offset >= offset for r in primary.replicas)

    def _finish(self) -> None:
        """finishShutdown. Without a final RDB to write it completes here, at once, as
        it must for SHUTDOWN NOSAVE from inside a busy script (no task runs until the
        script returns); the RDB is written by a task, after this command's batch."""
        self.finishing = True
        # nothing runs from here on, as Redis is busy in finishShutdown: no write escapes
        # the final RDB, and a SHUTDOWN ABORT waits to see whether the exit happens
        hold_pause(self.server, "shutdown", "all")
        primary = self.server.extensions.get("primary")
        if primary is not None and primary.replicas:
            offset = primary.pending_offset()
            lagging = 0
            for r in primary.replicas:
                if r.ack_offset < offset:
                    lagging += 1
                    lag = int(time.time() - r.ack_time) if r.state == "online" else 0
                    log.warning("Lagging replica %s:%d reported offset %d behind master, "
                                "lag=%d, state=%s.", r.ip(), r.port, offset - r.ack_offset,
                                lag, r.state)
            n = len(primary.replicas)
            log.info("%d of %d replicas are in sync when shutting down.", n - lagging, n)
        flags = self.flags
        if (rdbsave.enabled(self.server) and "nosave" not in flags) or "save" in flags:
            self.app.loop.create_task(self._save_then_exit())
        else:
            self.app.stopping.set()

    async def _save_then_exit(self) -> None:
        if await self._final_rdb():
            self.app.stopping.set()
            return
        log.warning("Errors trying to shut down the server. Check the logs for more "
                    "information.")
        self._cancel()

    async def _final_rdb(self) -> bool:
        """The RDB written once more before exiting (save points configured and no
        NOSAVE, or SAVE); False when it failed and FORCE was not given. It is written in
        a worker thread so that a second SIGINT is still heard; writes are held
        meanwhile. A BGSAVE in progress, which writes the same temp file, is stopped
        first, as Redis kills its child."""
        server = self.server
        await stop_bgsave(server)
        log.info("Saving the final RDB snapshot before exiting.")
        if server.engine.in_tx:
            self.app.committer.flush()  # the snapshot must hold every reply already sent
        try:
            conn = rdbsave.pin_snapshot(server)
            await self.app.loop.run_in_executor(None, rdbsave.save_rdb, server, True, conn)
        except Exception:  # noqa: BLE001 - rdbsave logged why
            if "force" in self.flags:
                log.warning("Error trying to save the DB. Exit anyway.")
                return True
            log.warning("Error trying to save the DB, can't exit.")
            return False
        return True

    def _cancel(self) -> None:
        """cancelShutdown: the server goes on; every SHUTDOWN client hears why not."""
        self.asap = None
        self.by_signal = False
        self.deadline = 0.0
        self.finishing = False
        self.flags = frozenset()
        waiters = self.waiters
        self.waiters = []
        for w in waiters:
            w.resume(ErrorReply(FAILED))
        release_pause(self.server, "shutdown")

    def _forget(self, waiter: Suspend) -> None:
        if waiter in self.waiters:
            self.waiters.remove(waiter)


async def stop_bgsave(server) -> None:
    """killRDBChild: stop a BGSAVE in progress and wait for its thread to end."""
    if rdbsave.kill_bgsave(server):
        while rdbsave.bgsave_running(server):
            await asyncio.sleep(0.01)
