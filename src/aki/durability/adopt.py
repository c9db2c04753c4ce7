"""A first open of a Redis data directory: the RDB or AOF Redis left in ``dir`` becomes the
new ``.aki`` file, so ``aki server /etc/redis/redis.conf`` starts with the data
redis-server would have loaded.

Redis loads its files at every start. aki's file is its own truth once it exists, so this
runs only while ``dbfile`` does not exist (and no ``--load-rdb`` was given), and it follows
Redis's choice of source (``loadDataFromDisk``):

* ``appendonly yes``: the Redis 7 multi-part AOF, ``appenddirname/<appendfilename>.manifest``
  (base file, then the incr files). ``aof-load-truncated yes`` lets a torn tail of the
  last file end the log at its last whole command, and an unfinished MULTI there is
  dropped, as Redis loads it; any other damage refuses the start. No manifest: nothing is
  adopted (Redis starts empty too), and a single old-style ``appendfilename`` in ``dir``
  is replayed by durability/aof.py, whose own layout it is.
* ``appendonly no``: ``dbfilename`` in ``dir``, an RDB.

Invariants (what a crash can and cannot leave behind):

* The data is imported (one SQLite transaction) into ``<dbfile>.adopt.tmp``, which is
  closed, fsynced and only then renamed to ``dbfile`` (the directory fsynced after). A
  crash or an error at any point leaves no ``dbfile``, so the next start adopts again; it
  never leaves a ``dbfile`` that silently lacks the data. A stale temp file is removed.
* Redis's files are only read here: never modified, truncated or removed (Redis
  truncates a torn AOF tail on disk; aki does not). An adopted appendonlydir is marked in
  the new file (meta ``aof_adopted``), and durability/aof.py then takes the log over in
  the same start, as a Redis rewrite would: a new base written from the database and a
  new incr file, with seqs above Redis's, the manifest switched to them atomically, and
  Redis's old files deleted. Going back to redis-server then loads aki's current data.
  A crash before that takeover finishes leaves either Redis's manifest (and the mark: the
  next start takes over again) or aki's.
* A source that cannot be loaded stops the start with Redis's log line and exit status 1,
  as redis-server does; nothing is created.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aki.config import Config

log = logging.getLogger("aki.adopt")


def adopt_redis_files(cfg: Config) -> bool:
    """Import Redis's persistence files on a first open; False: the start must stop."""
    target = Path(cfg.dbfile)
    tmp = Path(str(target) + ".adopt.tmp")
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(str(tmp) + suffix).unlink(missing_ok=True)
    if target.exists() or cfg.load_rdb:
        return True
    if cfg.appendonly:
        manifest = Path(cfg.dir) / cfg.appenddirname / (cfg.appendfilename + ".manifest")
        if not manifest.is_file():
            return True
        return _adopt(manifest.parent, "aof", target, tmp, cfg)
    rdb = Path(cfg.dir) / cfg.dbfilename
    if not rdb.exists():
        return True
    return _adopt(rdb, "rdb", target, tmp, cfg)


def _adopt(source: Path, fmt: str, target: Path, tmp: Path, cfg: Config) -> bool:
    from aki.cli.import_ import ImportFailed, import_into_file

    what = "append only file" if fmt == "aof" else "RDB"
    after = (f"{source.name} is left as it is" if fmt == "rdb" else
             "aki's own log then takes that directory over, as a Redis rewrite would")
    log.info("first open of %s: loading the %s %s into it (aki keeps the data in that file "
             "from now on; %s)", target, what, source, after)
    start = time.monotonic()
    empty = [0]

    def warn(message: str) -> None:
        if message.startswith("skipping empty key"):
            empty[0] += 1
        log.warning("%s", message)

    try:
        if fmt == "rdb":
            with open(source, "rb"):  # unreadable: Redis's own words, before anything else
                pass
        s = import_into_file(source, tmp, fmt, warn=warn,
                             truncated_ok=bool(cfg.aof_load_truncated), like=cfg)
    except OSError as exc:
        log.warning("Fatal error loading the DB: %s. Exiting.", exc.strerror or exc)
        return False
    except ImportFailed as exc:
        _log_refusal(exc, fmt, source)
        return False
    if fmt == "aof":
        _mark_adopted(tmp)
    _install(tmp, target)
    took = time.monotonic() - start
    if fmt == "rdb":
        skipped = f", empty keys skipped: {empty[0]}" if empty[0] else ""
        log.info("Done loading RDB, keys loaded: %d, keys expired: %d%s.", s.loaded, s.expired,
                 skipped)
        log.info("DB loaded from disk: %.3f seconds", took)
    else:
        log.info("Done loading the AOF: %d keys from its RDB part, %d commands.", s.loaded,
                 s.commands)
        log.info("DB loaded from append only file: %.3f seconds", took)
    return True


def _log_refusal(exc: Exception, fmt: str, source: Path) -> None:
    """The line redis-server logs for the same file before it exits."""
    problem = getattr(exc, "aof_problem", "")
    name = getattr(exc, "path", None) or source
    name = getattr(name, "name", name)
    if problem == "format":
        log.warning("Bad file format reading the append only file %s: make a backup of your "
                    "AOF file, then repair it (redis-check-aof --fix) [%s]", name, exc)
    elif problem == "eof":
        log.warning("Unexpected end of file reading the append only file %s. You can: 1) Make "
                    "a backup of your AOF file, then repair it (redis-check-aof --fix). "
                    "2) Alternatively you can set the 'aof-load-truncated' configuration "
                    "option to yes and restart the server. [%s]", name, exc)
    elif problem == "preamble":
        log.warning("Error reading the RDB preamble of the AOF file %s, AOF loading aborted "
                    "[%s]", name, exc)
    else:
        log.warning("Fatal error loading the DB (%s): %s.", source, exc)
        if fmt == "rdb":
            log.warning("Terminating server after rdb file reading failure.")


def _mark_adopted(tmp: Path) -> None:
    """Meta ``aof_adopted``: the new file holds exactly what the appendonlydir holds, so
    durability/aof.py may take that log over (a new base and incr from the database, and
    Redis's files deleted, as a Redis rewrite replaces them) instead of refusing a log the
    database has no record of."""
    import apsw

    conn = apsw.Connection(str(tmp))
    try:
        conn.execute("INSERT INTO meta (name, value) VALUES ('aof_adopted', 1) "
                     "ON CONFLICT (name) DO UPDATE SET value = excluded.value")
    finally:
        conn.close()


def _install(tmp: Path, target: Path) -> None:
    """The closed, complete import becomes ``dbfile`` in one rename."""
    for suffix in ("-wal", "-shm"):  # the import's engine closed cleanly: none is left
        if Path(str(tmp) + suffix).exists():
            raise RuntimeError(f"{tmp}{suffix} still exists after the import closed")
    from aki.durability.aof import fsync_path

    fsync_path(tmp)
    os.replace(tmp, target)
    fsync_path(target.parent)
