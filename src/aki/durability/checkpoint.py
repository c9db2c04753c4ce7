"""Checkpoints: fold the WAL back into the main file without blocking the loop.

Invariants (what a crash can and cannot leave behind):

* A checkpoint only copies pages that are already committed in the WAL into
  the main file; SQLite records how far it got, so a crash in the middle
  leaves a database that reopens to exactly the last commit.
* The background checkpoint is PASSIVE on its own connection: it never waits
  for the writer and never blocks readers. Under a steady stream of commits
  the WAL would never be entirely copied (new frames keep arriving), so it
  could not restart and would grow without bound; after a background pass the
  writer therefore finishes with a RESTART checkpoint between two batches,
  which only copies the frames written meanwhile and never waits for a reader
  (busy timeout 0: if a snapshot reader holds the WAL, it is simply retried).
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


class Checkpointer:
    def __init__(self, server: Server, loop: asyncio.AbstractEventLoop) -> None:
        self.server = server
        self.loop = loop
        self.running = False
        self._conn: apsw.Connection | None = None
        self.last_duration_ms = 0.0
        self.backfilled = False  # a background pass finished: the writer may restart the WAL

    def after_commit(self, ok: bool) -> None:
        engine = self.server.engine
        limit = self.server.config.checkpoint_wal_size
        if not ok or self.running or engine.wal_pages * engine.page_size < limit:
            return
        if self.backfilled:
            # the bulk was copied in the background: finish and restart the WAL here
            self.backfilled = False
            if self._restart(engine):
                return
        self.running = True
        self.loop.run_in_executor(None, self._run).add_done_callback(self._done)

    def _restart(self, engine) -> bool:
        """RESTART checkpoint on the writer, between batches; False if a reader holds the WAL."""
        if engine.in_tx:
            return False
        conn = engine.conn
        conn.setbusytimeout(0)
        try:
            busy, log_frames, done = engine.cur.execute(
                "PRAGMA wal_checkpoint(RESTART)").fetchone()
        except apsw.Error as exc:
            log.debug("WAL restart skipped: %s", exc)
            return False
        finally:
            conn.setbusytimeout(5000)
        if busy:
            return False
        engine.checkpoints += 1
        engine.wal_pages = 0
        return True

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
        self.backfilled = True

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
