"""Checkpoints: fold the WAL back into the main file without blocking the loop.

Invariants (what a crash can and cannot leave behind):

* A checkpoint only copies pages that are already committed in the WAL into
  the main file; SQLite records how far it got, so a crash in the middle
  leaves a database that reopens to exactly the last commit.
* The background checkpoint is PASSIVE on its own connection: it never waits
  for the writer and never blocks readers. Under a steady stream of commits
  the WAL would never be entirely copied (new frames keep arriving), so it
  could not restart and would grow without bound; after a background run the
  writer therefore finishes with a RESTART checkpoint between two batches,
  which only copies the frames written meanwhile and never waits for a reader
  (busy timeout 0: if a snapshot reader holds the WAL, it is simply retried).
  That copy, and the fsyncs of both files with it, would be paid on the
  loop, so a background run makes two passes (the second takes what the
  writer added during the first) and the WAL restarts when a run ends with
  nothing committed since (no copy, no fsync); a run the writer overtook is
  followed by another, at most ``MAX_DEFERRED`` in a row, so the WAL stays
  bounded under any write rate (the forced restart then copies only what came
  after the last pass). Every pass fsyncs, so passes are not free: eight per
  run cost 17 % of SET throughput at -P 16.
* Embedded (``aki.open``, no event loop), the run goes to a worker thread the same
  way and the writing thread takes its result after a commit, under the
  database's lock (``poll``), so the restart never races a batch. A run is
  slow on a loaded machine (its fsyncs) while an embedded writer is not held
  by a network, so past ``HARD_FACTOR`` times checkpoint-wal-size the writing
  thread waits for the run and restarts the WAL itself (as SQLite's own
  auto-checkpoint would): the WAL's size is bounded whatever the disk's speed.
* SAVE/SHUTDOWN use a TRUNCATE checkpoint on the writer, outside any batch,
  so the ``-wal`` file is empty and the main file alone holds everything.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from typing import TYPE_CHECKING

import apsw

if TYPE_CHECKING:
    from aki.core.state import Server

log = logging.getLogger("aki.durability")
# embedded databases' background runs (a server uses its loop's default executor)
_EMBEDDED_RUNS = concurrent.futures.ThreadPoolExecutor(max_workers=2,
                                                       thread_name_prefix="aki-checkpoint")


def checkpoint_connection(path: str, busy_ms: int) -> apsw.Connection:
    """A connection for checkpoints from a worker thread. It reads the file first: until
    a connection has, it does not know the file is in WAL mode, and its wal_checkpoint
    does nothing (answers (-1, -1))."""
    conn = apsw.Connection(path)
    conn.setbusytimeout(busy_ms)
    conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
    return conn


class Checkpointer:
    MAX_PASSES = 2  # per run: the second copies what the writer added during the first
    MAX_DEFERRED = 4  # runs in a row overtaken by the writer: then the loop restarts anyway
    HARD_FACTOR = 4  # embedded: past this many times the limit, the writer folds the WAL itself

    def __init__(self, server: Server, loop: asyncio.AbstractEventLoop | None) -> None:
        """``loop`` None: embedded use, where the writer calls poll() after its commits."""
        self.server = server
        self.loop = loop
        self.running = False
        self._conn: apsw.Connection | None = None
        # frames the last background run copied (-1: it could not run), None: no run yet
        self.copied: int | None = None
        self.deferred = 0
        self._future: asyncio.Future | concurrent.futures.Future | None = None

    def after_commit(self, ok: bool) -> None:
        engine = self.server.engine
        limit = self.server.config.checkpoint_wal_size
        wal_bytes = engine.wal_pages * engine.page_size
        if not ok or wal_bytes < limit:
            return
        if self.running:
            if self.loop is not None or wal_bytes < self.HARD_FACTOR * limit:
                return
            self.wait()  # embedded, and the run fell behind: hold the writer for it
            self.poll()
            if engine.wal_pages * engine.page_size >= limit and self._restart(engine):
                self.copied, self.deferred = None, 0
            return
        if self.copied is not None:
            # a background run copied the bulk, but the writer committed since: restarting
            # here would copy that and fsync both files on the loop (tens of ms measured
            # for a few hundred frames), so one more run goes first, a few at most
            copied, self.copied = self.copied, None
            if copied < 0 or self.deferred >= self.MAX_DEFERRED:
                self.deferred = 0
                if self._restart(engine):
                    return
            else:
                self.deferred += 1
        self._start()

    def _start(self) -> asyncio.Future | concurrent.futures.Future:
        self.running = True
        if self.loop is None:  # embedded: poll() hands the result over, under the caller's lock
            fut = self._future = _EMBEDDED_RUNS.submit(self._run)
            return fut
        fut = self._future = self.loop.run_in_executor(None, self._run)
        fut.add_done_callback(self._done)
        return fut

    def poll(self) -> None:
        """Embedded (no loop): take a finished run's result, from the thread that writes."""
        fut = self._future
        if self.running and fut is not None and fut.done():
            self._done(fut)

    def wait(self) -> None:
        """Embedded: wait for the run in progress (before closing)."""
        if self._future is not None:
            concurrent.futures.wait([self._future])

    async def idle(self) -> None:
        """Wait for the run in progress: its connection must not be closed or shared
        while a worker thread is inside it."""
        while self.running:
            fut = self._future
            if fut is not None and not fut.done():
                await asyncio.wait([fut])
            else:
                await asyncio.sleep(0)  # done, but its _done callback is still queued

    async def run_now(self) -> None:
        """A background run on request (the HTTP API), after the one in progress."""
        await self.idle()
        await self._start()

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
            self._conn = checkpoint_connection(str(self.server.engine.path), 0)
        # pass again if the writer appended meanwhile, so that little is left for the loop
        for _ in range(self.MAX_PASSES):
            res = self._conn.wal_checkpoint(mode=apsw.SQLITE_CHECKPOINT_PASSIVE)
            if res[0] < 0 or res[1] >= res[0]:
                break
        return res

    def _done(self, fut: asyncio.Future | concurrent.futures.Future) -> None:
        self.running = False
        exc = fut.exception()
        if exc is not None:
            log.warning("background checkpoint failed: %s", exc)
            return
        copied = fut.result()[1]
        if copied < 0:
            log.warning("background checkpoint could not run; the writer folds the WAL itself")
        else:
            engine = self.server.engine
            engine.checkpoints += 1
            if copied > engine.wal_pages or (copied == engine.wal_pages and self._restart(engine)):
                # SQLite restarted the WAL itself at the first write after the run, or
                # nothing was committed since its last pass and the restart copied nothing
                self.deferred = 0
                return
        self.copied = copied

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
