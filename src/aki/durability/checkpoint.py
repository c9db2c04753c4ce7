"""Checkpoints: fold the WAL back into the main file without blocking the loop.

Invariants (what a crash can and cannot leave behind):

* A checkpoint only copies pages that are already committed in the WAL into
  the main file; SQLite records how far it got, so a crash in the middle
  leaves a database that reopens to exactly the last commit.
* The background checkpoint is PASSIVE on its own connection: it never waits
  for the writer and never blocks readers; the writer restarts the WAL from
  its beginning on its next commit once everything has been copied.
* SAVE/SHUTDOWN use a TRUNCATE checkpoint on the writer, outside any batch,
  so the ``-wal`` file is empty and the main file alone holds everything.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

import apsw

if TYPE_CHECKING:
    from aki.core.state import Server

log = logging.getLogger("aki.durability")

PAGE_SIZE = 4096


class Checkpointer:
    def __init__(self, server: Server, loop: asyncio.AbstractEventLoop) -> None:
        self.server = server
        self.loop = loop
        self.running = False
        self._conn: apsw.Connection | None = None
        self.last_duration_ms = 0.0

    def after_commit(self, ok: bool) -> None:
        engine = self.server.engine
        limit = self.server.config.checkpoint_wal_size
        if ok and not self.running and engine.wal_pages * PAGE_SIZE >= limit:
            self.running = True
            self.loop.run_in_executor(None, self._run).add_done_callback(self._done)

    def _run(self) -> tuple[int, int]:
        if self._conn is None:
            self._conn = apsw.Connection(str(self.server.engine.path))
            self._conn.setbusytimeout(0)
        start = time.perf_counter()
        res = self._conn.wal_checkpoint(mode=apsw.SQLITE_CHECKPOINT_PASSIVE)
        self.last_duration_ms = (time.perf_counter() - start) * 1000
        return res

    def _done(self, fut: asyncio.Future) -> None:
        self.running = False
        exc = fut.exception()
        if exc is not None:
            log.warning("background checkpoint failed: %s", exc)
            return
        self.server.engine.checkpoints += 1
        self.server.engine.wal_pages = 0

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
