"""SAVE/BGSAVE writing an RDB file (``dbfilename`` in ``dir``) when ``save`` is configured.

In aki a save is a checkpoint of the ``.aki`` file; a user who configured RDB saving
(``save`` non-empty, as in redis.conf) also gets the RDB Redis would write, for tools
and replicas that want one. commands/server.py calls ``save_rdb`` after the SAVE's
batch committed, and ``prepare_bgsave`` on the loop thread before its worker runs.

Invariants (what a crash can and cannot leave behind):

* The RDB is written from a snapshot connection (a read transaction pinned between
  two batches): it is one point in time and the writer is never blocked.
* It goes to ``temp-<pid>.rdb`` in ``dir`` (a BGSAVE: ``temp-<pid>-bgsave.rdb``), is
  fsynced, then renamed over ``dbfilename`` and the directory fsynced: a crash leaves the
  previous complete dump (plus, at worst, a stale temp file), never a partial ``dump.rdb``.
* A BGSAVE stopped by ``kill_bgsave`` (shutdown, FLUSHALL) removes its temp file and never
  renames it afterwards: the kill flag is set, and checked before the rename, under one
  lock. So a dump of data FLUSHALL removed cannot replace the dump written after it.
* Nothing here writes the ``.aki`` file.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import apsw

from aki.storage.bulk import SnapshotCancelled

if TYPE_CHECKING:
    from aki.core.state import Server

log = logging.getLogger("aki.rdbsave")


class RdbSaveState:
    """What INFO persistence reports about RDB saves."""

    def __init__(self) -> None:
        self.in_progress = False
        self.last_status = "ok"
        self.last_save_time = int(time.time())
        self.last_duration = -1
        self.started = 0.0
        self.saves = 0
        self.last_keys = 0
        self.kill = threading.Event()  # set: the running BGSAVE stops (killRDBChild)


def state(server: Server) -> RdbSaveState:
    st = server.extensions.get("rdbsave")
    if st is None:
        st = server.extensions["rdbsave"] = RdbSaveState()
    return st


def enabled(server: Server) -> bool:
    """The user configured RDB saving (a non-empty ``save``)."""
    return bool(str(server.config.save).strip())


def bgsave_running(server: Server) -> bool:
    """A BGSAVE (a checkpoint, and the RDB when ``save`` is set) runs in a worker thread:
    Redis's "child process active" for another save, a rewrite or a shutdown's final save."""
    return bool(server.extensions.get("bgsave", {}).get("running"))


def rdb_path(server: Server) -> Path:
    return Path(server.config.dir) / server.config.dbfilename


def pin_snapshot(server: Server) -> apsw.Connection:
    """A read transaction on a connection of its own: the point in time a save writes."""
    conn = server.engine.snapshot_connection()
    conn.execute("BEGIN")
    conn.execute("SELECT count(*) FROM meta").fetchall()  # the read snapshot starts here
    return conn


# Held while a killable save checks its kill flag and renames its file, and while the flag
# is set: once kill_bgsave returned, that save can no longer replace dbfilename.
_replace_lock = threading.Lock()


def _write(server: Server, conn: apsw.Connection, kill: threading.Event | None = None) -> int:
    from aki.storage.bulk import write_snapshot_rdb

    cfg = server.config
    target = rdb_path(server)
    # a BGSAVE has a temp file of its own (Redis's child writes temp-<child pid>.rdb): a
    # SAVE (FLUSHALL's) running while a stopped BGSAVE winds down never shares its file
    tmp = target.parent / (f"temp-{os.getpid()}.rdb" if kill is None
                           else f"temp-{os.getpid()}-bgsave.rdb")
    try:
        with open(tmp, "wb") as f:
            n = write_snapshot_rdb(conn, f, compress=bool(cfg.rdbcompression),
                                   checksum=bool(cfg.rdbchecksum), begin=False,
                                   on_warning=log.warning, key_delay=cfg.rdb_key_save_delay,
                                   cancelled=kill.is_set if kill is not None else None)
            f.flush()
            os.fsync(f.fileno())
        if kill is None:
            os.replace(tmp, target)
        else:
            with _replace_lock:
                if kill.is_set():
                    raise SnapshotCancelled()
                os.replace(tmp, target)
        fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except BaseException:
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass
        raise
    finally:
        conn.close()
    return n


def save_rdb(server: Server, force: bool = False, conn: apsw.Connection | None = None) -> bool:
    """SAVE: write the RDB now (call with no batch open). True when written; a no-op
    returning False when ``save`` is empty, unless ``force`` (SHUTDOWN SAVE). ``conn``: a
    snapshot pinned beforehand (``pin_snapshot``), when the writing runs in a worker."""
    if not (enabled(server) or force):
        if conn is not None:
            conn.close()
        return False
    st = state(server)
    start = time.time()
    try:
        st.last_keys = _write(server, conn if conn is not None else pin_snapshot(server))
    except (OSError, apsw.Error) as exc:
        st.last_status = "err"
        log.warning("writing %s failed: %s", rdb_path(server), exc)
        raise
    st.last_status = "ok"
    st.last_save_time = int(time.time())
    st.last_duration = int(time.time() - start)
    st.saves += 1
    log.info("DB saved on disk (%s, %d keys)", rdb_path(server), st.last_keys)
    return True


def prepare_bgsave(server: Server) -> Callable[[], None] | None:
    """BGSAVE, on the loop thread with no batch open: pin the snapshot now and return the
    work to run in a worker thread (None when ``save`` is empty or a save is running)."""
    st = state(server)
    if not enabled(server) or st.in_progress:
        return None
    conn = pin_snapshot(server)
    st.in_progress = True
    st.started = time.time()
    st.kill.clear()

    def work() -> None:
        try:
            st.last_keys = _write(server, conn, st.kill)
        except SnapshotCancelled:  # Redis's SIGUSR1 to its child: not an error
            log.warning("Background saving stopped before its end; its temp file is removed")
            raise
        except BaseException as exc:
            st.last_status = "err"
            log.warning("background save of %s failed: %s", rdb_path(server), exc)
            raise
        finally:
            st.in_progress = False
            st.last_duration = int(time.time() - st.started)
        st.last_status = "ok"
        st.last_save_time = int(time.time())
        st.saves += 1
        log.info("Background saving terminated with success (%s)", rdb_path(server))

    return work


def kill_bgsave(server: Server, why: str = "There is a child saving an .rdb. Killing it!") -> bool:
    """killRDBChild (at shutdown, FLUSHALL): the running BGSAVE stops within a few keys and
    removes its temp file, and from the return on it cannot replace ``dbfilename``. True
    when one was running (wait for ``bgsave_running`` to clear before the next BGSAVE)."""
    if not bgsave_running(server):
        return False
    if why:
        log.warning("%s", why)
    with _replace_lock:
        state(server).kill.set()
    return True


def bgsave(server: Server) -> bool:
    """Start a background RDB save in a thread; False when not started."""
    work = prepare_bgsave(server)
    if work is None:
        return False
    app = server.extensions.get("app")
    if app is None:
        work()
    else:
        app.loop.run_in_executor(None, work)
    return True


def info(server: Server) -> dict[str, Any]:
    """INFO persistence fields for RDB saves."""
    st = state(server)
    prim = server.extensions.get("primary")
    syncing = prim is not None and prim.sync_rdb_running()  # Redis's RDB child for a SYNC
    return {
        "rdb_changes_since_last_save": server.dirty,
        "rdb_bgsave_in_progress": int(st.in_progress or syncing),
        "rdb_last_save_time": st.last_save_time,
        "rdb_last_bgsave_status": st.last_status,
        "rdb_last_bgsave_time_sec": st.last_duration,
        "rdb_current_bgsave_time_sec": int(time.time() - st.started) if st.in_progress else -1,
        "rdb_saves": st.saves,
    }
