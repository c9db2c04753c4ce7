"""Group commit: one COMMIT (and at most one fsync) per event-loop iteration.

Invariants (what a crash can and cannot leave behind):

* A reply to any command of a batch is released only after the batch's COMMIT
  returned (and, under ``appendfsync always``, after the WAL fsync that is part
  of it). So a client never hears "OK" for a write a crash can lose; under
  ``everysec`` a process crash loses nothing either (the WAL is in the OS), and
  power loss loses at most the last second.
* Reads are held too while a batch is open: a client never sees data that a
  crash could still take back.
* If a handler crashed (``server.batch_failed``) or COMMIT itself failed (disk
  full, I/O error), the batch is rolled back whole and every held reply is
  replaced by an error: nothing half-applied is ever visible or acknowledged.
* After-commit hooks (the AOF append, replication) run only for committed
  batches, in commit order.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

import apsw

if TYPE_CHECKING:
    from aki.core.state import Server

log = logging.getLogger("aki.durability")


class Holder(Protocol):
    def release(self, ok: bool, error: bytes) -> None: ...


class Committer:
    """Commits the open batch once per loop iteration and releases held replies."""

    def __init__(self, server: Server, loop: asyncio.AbstractEventLoop) -> None:
        self.server = server
        self.loop = loop
        self.scheduled = False
        self.held: list[Holder] = []
        self.before_commit: list[Callable[[], None]] = []
        self.after_commit: list[Callable[[bool], None]] = []
        self.last_fsync = time.monotonic()
        self.fsync_pending = False
        self.fsync_running = False
        self.failed_commits = 0
        server.request_commit = self.request

    def request(self) -> None:
        if not self.scheduled:
            self.scheduled = True
            self.loop.call_soon(self.flush)

    def hold(self, holder: Holder) -> None:
        self.held.append(holder)

    def flush(self) -> None:
        """End the batch: commit (or roll back), then release every held reply."""
        self.scheduled = False
        server = self.server
        engine = server.engine
        ok = True
        error = b""
        if engine.in_tx:
            for hook in self.before_commit:
                hook()
            if server.batch_failed:
                ok = False
                error = b"-ERR the batch was rolled back after an internal error\r\n"
            else:
                try:
                    engine.commit()
                except apsw.Error as exc:
                    log.error("commit failed, batch rolled back: %s", exc)
                    ok = False
                    error = b"-MISCONF Errors writing to the aki file: %s\r\n" % str(exc).encode()
            if not ok:
                self.failed_commits += 1
                engine.rollback()
                server.ks.invalidate()
                server.batch_failed = False
            else:
                self.fsync_pending = True
            for hook in tuple(self.after_commit):  # a one-shot hook removes itself
                hook(ok)
        # the list object is shared with every connection (they append themselves)
        held = self.held
        if held:
            batch = held[:]
            held.clear()
            for h in batch:
                h.release(ok, error)

    async def everysec(self) -> None:
        """The everysec policy: fsync the WAL about once a second, off the loop thread."""
        while True:
            await asyncio.sleep(1.0)
            engine = self.server.engine
            if engine.appendfsync != "everysec" or not self.fsync_pending or self.fsync_running:
                continue
            self.fsync_pending = False
            self.fsync_running = True
            try:
                await self.loop.run_in_executor(None, engine.fsync_wal)
            except OSError as exc:
                log.error("fsync of the WAL failed: %s", exc)
            finally:
                self.fsync_running = False
            self.last_fsync = time.monotonic()
