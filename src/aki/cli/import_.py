"""``aki import``: load a Redis RDB, an AOF (file, RDB preamble or Redis 7 appendonlydir) or
aki's JSONL into an aki file (one transaction) or into a running server (pipelined).

Also ``load_rdb_on_first_open`` for ``aki server --load-rdb``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import click

from aki.rdb import AuxRecord, FunctionRecord, KeyRecord, RDBError, RDBReader

FORMATS = ("rdb", "jsonl", "aof")


class ImportFailed(Exception):
    """The source cannot be imported; nothing was written. ``aof_problem`` is ``"eof"``
    (a log that ends too early), ``"format"`` (a malformed record) or ``"preamble"`` (its
    RDB part) for an AOF that cannot be read, with ``path`` the file; a first open
    (durability/adopt.py) logs those in Redis's words."""

    def __init__(self, message: str, *, aof_problem: str = "", path: Path | None = None) -> None:
        super().__init__(message)
        self.aof_problem = aof_problem
        self.path = path


def detect_format(path: Path) -> str:
    if path.is_dir():
        return "aof"
    with open(path, "rb") as f:
        head = f.read(9)
    if head.startswith(b"REDIS"):
        return "rdb"
    if head[:1] in (b"*", b"#"):
        return "aof"
    if head.lstrip()[:1] == b"{":
        return "jsonl"
    raise ImportFailed(f"{path}: cannot tell its format (not RDB, AOF or JSONL); use --format")


class Progress:
    """A rich progress bar on a terminal (keys, bytes, rate); silent otherwise."""

    def __init__(self, total_bytes: int, enabled: bool) -> None:
        self.bar: Any = None
        self.keys = 0
        if enabled and total_bytes:
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                TextColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )
            from rich.progress import Progress as RichProgress

            self.bar = RichProgress(TextColumn("{task.fields[keys]} keys"), BarColumn(),
                                    DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn(),
                                    transient=True, console=None)
            self.task = self.bar.add_task("import", total=total_bytes, keys=0)
            self.bar.start()

    def update(self, keys: int, pos: int) -> None:
        self.keys = keys
        if self.bar is not None:
            self.bar.update(self.task, completed=pos, keys=keys)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


# -- sources: each yields KeyRecord / FunctionRecord / ("cmd", db, argv) ---------------------


def rdb_records(f: BinaryIO, warn: Callable[[str], None]) -> Iterator[Any]:
    reader = RDBReader(f, on_warning=warn)
    for rec in reader.records():
        if type(rec) is not AuxRecord:
            yield rec


def jsonl_records(f: BinaryIO) -> Iterator[Any]:
    from aki.storage.bulk import from_json_record

    offset = 0
    for lineno, line in enumerate(f, 1):
        if line.strip():
            try:
                obj = json.loads(line)
                if isinstance(obj, dict) and obj.get("type") == "function":
                    from aki.storage.bulk import unjbytes

                    yield FunctionRecord("function", unjbytes(obj.get("value")))
                else:
                    yield KeyRecord(*from_json_record(obj))
            except (ValueError, TypeError, KeyError) as exc:
                raise ImportFailed(f"line {lineno} (byte offset {offset}): {exc}") from None
        offset += len(line)


def aof_files(path: Path) -> list[Path]:
    """The files of a log in load order: one file, or a Redis 7 appendonlydir's manifest."""
    from aki.durability.aof import parse_manifest

    if not path.is_dir():
        return [path]
    # a temp-*.manifest is one a crash left before its rename (Redis's name for it)
    manifests = sorted(p for p in path.glob("*.manifest") if not p.name.startswith("temp-"))
    if len(manifests) != 1:
        raise ImportFailed(f"{path}: expected one *.manifest file, found {len(manifests)}")
    try:
        names = parse_manifest(manifests[0])
    except (ValueError, OSError) as exc:
        raise ImportFailed(f"{manifests[0]}: {exc}") from None
    return [path / n for n, _ in names]


def aof_records(paths: list[Path], warn: Callable[[str], None], *,
                truncated_ok: bool = False) -> Iterator[Any]:
    """Keys of RDB parts, then ``("cmd", argv)`` of the RESP parts, file after file.

    ``truncated_ok`` (``aof-load-truncated yes`` at a first open): a torn tail of the
    *last* file ends the log at its last whole command, as Redis loads it; an unfinished
    MULTI there is left for the caller to drop. Anywhere else a short read is an error."""
    from aki.durability.aof import AOFError, read_commands

    for p in paths:
        last = p is paths[-1]
        with open(p, "rb") as f:
            start = 0
            if f.read(5) == b"REDIS":
                f.seek(0)
                reader = RDBReader(f, on_warning=warn)
                try:
                    for rec in reader.records():
                        if type(rec) is not AuxRecord:
                            yield rec
                except RDBError as exc:
                    raise ImportFailed(f"{p}: {exc}", path=p, aof_problem="preamble") from None
                start = f.tell() - len(reader.tail())
            in_multi = False
            try:
                for argv, _pos in read_commands(f, start):
                    name = argv[0].lower()
                    if name == b"multi":
                        in_multi = True
                    elif name == b"exec":
                        in_multi = False
                    yield ("cmd", argv)
            except AOFError as exc:
                if not (exc.truncated and truncated_ok and last):
                    raise ImportFailed(f"{p}: {exc}", path=p,
                                       aof_problem="eof" if exc.truncated else "format") from None
                warn(f"short read while loading the AOF file {p.name}: loaded up to byte "
                     f"offset {exc.valid_up_to} because aof-load-truncated is enabled")
            if in_multi and not (truncated_ok and last):
                raise ImportFailed(f"{p}: the log ends inside an unfinished MULTI", path=p,
                                   aof_problem="eof")


# -- into a file -----------------------------------------------------------------------


# what a first open copies from the server's config (see import_into_file's ``like``)
_SHAPE_DIRECTIVES = ("databases", "page-size", "hash-max-listpack-entries",
                     "hash-max-listpack-value", "set-max-intset-entries",
                     "zset-max-listpack-entries", "zset-max-listpack-value",
                     "list-max-listpack-size")


class Summary:
    def __init__(self) -> None:
        self.loaded = self.skipped = self.expired = self.replaced = self.elements = 0
        self.functions = self.commands = self.filtered = 0
        self.seconds = 0.0


def import_into_file(source: Path, target: Path, fmt: str, *, db: int | None = None,
                     replace: bool = False, dry_run: bool = False,
                     warn: Callable[[str], None] = lambda m: None,
                     progress: bool = False, truncated_ok: bool = False,
                     like: Any = None) -> Summary:
    """One transaction: everything or (on any error) nothing. A target created here and
    left empty by a failure is removed again. ``like``: a server's Config whose file
    shape (``databases``, ``page-size``) and encoding thresholds the import follows (a
    first open), as Redis converts encodings to its directives while it loads."""
    from aki.storage import bulk
    from aki.storage.engine import Engine

    created = not target.exists()
    if dry_run and created:
        import tempfile

        tmpdir = tempfile.mkdtemp(prefix="aki-dry-run-")
        target = Path(tmpdir) / "dry-run.aki"
    start = time.perf_counter()
    total = _size(source)
    prog = Progress(total, progress)
    summary = Summary()
    server = None
    if fmt == "aof":
        from aki.commands import load_all
        from aki.config import Config
        from aki.core.state import Server

        load_all()
        cfg = Config()
        if like is not None:
            for name in _SHAPE_DIRECTIVES:
                cfg.set(name, like.format(name), startup=True)
        cfg.set("dbfile", str(target), startup=True)
        server = Server(cfg)
        engine = server.engine
        limits = bulk.Limits.from_config(cfg)
    else:
        if like is not None:
            engine = Engine(target, databases=like.databases, page_size=int(like.page_size))
            limits = bulk.Limits.from_config(like)
        else:
            engine = Engine(target)
            limits = bulk.Limits()
    ok = False
    loader = None
    try:
        engine.begin()
        loader = bulk.BulkLoader(engine.conn, limits=limits, dbmap=_dbmap(engine),
                                 replace=replace, fast=server is None, on_warning=warn,
                                 threaded=server is None)
        if fmt == "aof":
            _run_aof(server, loader, aof_files(source), db, warn, summary, prog,
                     truncated_ok=truncated_ok)
        else:
            with open(source, "rb") as f:
                recs = rdb_records(f, warn) if fmt == "rdb" else jsonl_records(f)
                for rec in recs:
                    if type(rec) is FunctionRecord:
                        loader.add_function(rec.code)
                        continue
                    if db is not None and rec.db != db:
                        summary.filtered += 1
                        continue
                    loader.add(*rec)
                    if progress and not loader.loaded % 5000:
                        prog.update(loader.loaded, f.tell())
        loader.finish()
        for name in ("loaded", "skipped", "expired", "replaced", "elements", "functions"):
            setattr(summary, name, getattr(summary, name) + getattr(loader, name))
        if dry_run:
            engine.rollback()
        else:
            engine.commit()
        ok = True
    except (RDBError, bulk.BulkError, OSError) as exc:
        raise ImportFailed(str(exc)) from None
    finally:
        prog.close()
        if not ok:
            if loader is not None:
                loader.abort()
            engine.rollback()
        if server is not None:
            server.close()
        else:
            engine.close()
        if (not ok or dry_run) and created:
            for suffix in ("", "-wal", "-shm"):
                try:
                    os.unlink(str(target) + suffix)
                except FileNotFoundError:
                    pass
    summary.seconds = time.perf_counter() - start
    return summary


def _dbmap(engine: Any) -> list[int]:
    from aki.storage.bulk import read_dbmap

    return read_dbmap(engine.conn)


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.iterdir() if p.is_file())
    return path.stat().st_size


def _run_aof(server: Any, loader: Any, paths: list[Path], db: int | None,
             warn: Callable[[str], None], summary: Summary, prog: Progress, *,
             truncated_ok: bool = False) -> None:
    """RDB parts through the bulk loader, commands through execute() (the one road)."""
    from aki.core.dispatch import execute
    from aki.core.session import Client
    from aki.resp.types import ErrorReply

    client = Client(server, addr="aof-import", kind="aof")
    client.authenticated = True
    flushed = False
    for rec in aof_records(paths, warn, truncated_ok=truncated_ok):
        if type(rec) is FunctionRecord:
            loader.add_function(rec.code)
        elif type(rec) is KeyRecord:
            if db is not None and rec.db != db:
                summary.filtered += 1
                continue
            loader.add(*rec)
        else:
            if not flushed:
                loader.finish()
                server.ks.invalidate()
                flushed = True
            argv = rec[1]
            if db is not None and argv[0].lower() not in (b"select", b"multi", b"exec") \
                    and client.db != db:
                summary.filtered += 1
                continue
            reply = execute(client, argv)
            if server.batch_failed:
                raise ImportFailed(f"command {argv[0]!r} failed inside aki; nothing imported")
            if isinstance(reply, ErrorReply) and reply.message.startswith("ERR unknown command"):
                raise ImportFailed(f"the log holds a command aki does not know: {reply.message}")
            summary.commands += 1
    if client.in_multi:  # a torn tail inside MULTI (truncated_ok): its commands never ran
        warn("Revert incomplete MULTI/EXEC transaction in the AOF")
        client.in_multi = False
        client.multi_queue = []
    server.ks.touched = []
    loader.next_id = max(loader.next_id, _next_id(server))


def _next_id(server: Any) -> int:
    from aki.storage.bulk import next_key_id

    return next_key_id(server.engine.cur)


# -- into a running server -------------------------------------------------------------


def import_to_server(source: Path, fmt: str, addr: str, *, auth: str | None = None,
                     db: int | None = None, replace: bool = False,
                     warn: Callable[[str], None] = lambda m: None, batch: int = 500) -> Summary:
    """Pipelined RESTORE ... ABSTTL [REPLACE] per key (FUNCTION LOAD for libraries); the
    commands of a log are sent as they are. Keys the server already has are skipped with
    a warning (BUSYKEY) unless ``replace``."""
    import redis

    from aki.rdb import dump_value

    host, _, port = addr.rpartition(":")
    r = redis.Redis(host=host.strip("[]") or "127.0.0.1", port=int(port), password=auth,
                    socket_timeout=60)
    r.ping()
    start = time.perf_counter()
    summary = Summary()
    now = int(time.time() * 1000)
    pipe = r.pipeline(transaction=False)
    queued: list[tuple[str, Any]] = []
    current_db = [-1]

    def flush() -> None:
        if not queued:
            return
        for (what, info), res in zip(queued, pipe.execute(raise_on_error=False), strict=False):
            if isinstance(res, Exception):
                text = str(res)
                if what == "key" and "Target key name already exists" in text:
                    summary.skipped += 1
                    warn(f"key {info!r} already exists on the server: skipped (use --replace)")
                elif what == "key":
                    raise ImportFailed(f"the server refused key {info!r}: {text}")
                elif what == "cmd":
                    warn(f"the server answered {info!r} with an error: {text}")
            elif what == "key":
                summary.loaded += 1
            elif what == "cmd":
                summary.commands += 1
            elif what == "function":
                summary.functions += 1
        queued.clear()
        current_db[0] = -1

    def add_key(rec: KeyRecord) -> None:
        if rec.expire_ms is not None and rec.expire_ms <= now:
            summary.expired += 1
            return
        if rec.db != current_db[0]:
            pipe.execute_command("SELECT", rec.db)
            queued.append(("select", rec.db))
            current_db[0] = rec.db
        args: list[Any] = ["RESTORE", rec.key, rec.expire_ms or 0, dump_value(rec.type, rec.value)]
        if replace:
            args.append("REPLACE")
        if rec.expire_ms:
            args.append("ABSTTL")
        pipe.execute_command(*args)
        queued.append(("key", rec.key))
        if len(queued) >= batch:
            flush()

    def add_function(code: bytes) -> None:
        pipe.execute_command("FUNCTION", "LOAD", *(["REPLACE"] if replace else []), code)
        queued.append(("function", code[:40]))

    try:
        if fmt == "aof":
            for rec in aof_records(aof_files(source), warn):
                if type(rec) is FunctionRecord:
                    add_function(rec.code)
                elif type(rec) is KeyRecord:
                    if db is None or rec.db == db:
                        add_key(rec)
                else:
                    pipe.execute_command(*rec[1])
                    queued.append(("cmd", rec[1][0]))
                    name = rec[1][0].lower()
                    if name == b"select":
                        current_db[0] = int(rec[1][1])
                    if len(queued) >= batch and name != b"multi" and not _open_multi(queued):
                        flush()
        else:
            with open(source, "rb") as f:
                recs = rdb_records(f, warn) if fmt == "rdb" else jsonl_records(f)
                for rec in recs:
                    if type(rec) is FunctionRecord:
                        add_function(rec.code)
                    elif db is None or rec.db == db:
                        add_key(rec)
                    else:
                        summary.filtered += 1
        flush()
    except RDBError as exc:
        raise ImportFailed(str(exc)) from None
    finally:
        r.close()
    summary.seconds = time.perf_counter() - start
    return summary


def _open_multi(queued: list[tuple[str, Any]]) -> bool:
    depth = 0
    for what, info in queued:
        if what == "cmd" and isinstance(info, bytes):
            if info.lower() == b"multi":
                depth = 1
            elif info.lower() == b"exec":
                depth = 0
    return depth > 0


# -- aki server --load-rdb -------------------------------------------------------------


def load_rdb_on_first_open(cfg: Any) -> None:
    """``--load-rdb dump.rdb``: import into ``dbfile`` only when that file does not exist yet;
    an existing database is never overwritten (exit code 2)."""
    import logging

    log = logging.getLogger("aki.import")
    rdb = Path(cfg.load_rdb)
    target = Path(cfg.dbfile)
    if target.exists():
        click.echo(f"aki: --load-rdb {rdb}: the database {target} already exists; refusing to load "
                   "a dump into it (remove --load-rdb, or use 'aki import --replace')", err=True)
        sys.exit(2)
    if not rdb.is_file():
        click.echo(f"aki: --load-rdb {rdb}: no such file", err=True)
        sys.exit(2)
    try:
        s = import_into_file(rdb, target, detect_format(rdb),
                             db=None if cfg.rdb_db < 0 else cfg.rdb_db, warn=log.warning)
    except ImportFailed as exc:
        click.echo(f"aki: --load-rdb {rdb}: {exc}; nothing was loaded", err=True)
        sys.exit(2)
    log.info("loaded %d keys from %s into %s in %.2f s", s.loaded, rdb, target, s.seconds)


# -- the command -----------------------------------------------------------------------


def register(cli: click.Group) -> None:
    @cli.command("import")
    @click.argument("source", type=click.Path(exists=True, path_type=Path))
    @click.option("--target", type=click.Path(dir_okay=False, path_type=Path), default=None,
                  help="the aki file to import into (default ./data.aki; created if absent)")
    @click.option("--addr", help="host:port of a running server to send the keys to instead")
    @click.option("--auth", help="password for --addr")
    @click.option("--db", type=int, default=None, help="import only database N of the source")
    @click.option("--replace", is_flag=True, help="overwrite keys that already exist")
    @click.option("--dry-run", is_flag=True, help="read and check everything, write nothing")
    @click.option("--format", "fmt", type=click.Choice(FORMATS), default=None,
                  help="source format (default: detected; a directory is a Redis 7 appendonlydir)")
    def import_cmd(source: Path, target: Path | None, addr: str | None, auth: str | None,
                   db: int | None, replace: bool, dry_run: bool, fmt: str | None) -> None:
        """Import a Redis RDB, AOF or aki JSONL dump.

        Into a file, everything happens in ONE transaction: a corrupt or truncated source
        imports nothing and the error names the byte offset. Keys that already exist are
        skipped with a warning unless --replace. Keys already expired are dropped (as
        Redis does). With --addr the keys go to a running server as pipelined RESTOREs.
        Exit code: 0 done, 1 nothing imported (bad source), 2 usage.
        """
        shown = [0]

        def warn(msg: str) -> None:
            shown[0] += 1
            if shown[0] <= 50:
                click.echo(f"warning: {msg}", err=True)
            elif shown[0] == 51:
                click.echo("warning: (more warnings not shown; see the counts below)", err=True)

        try:
            f = fmt or detect_format(source)
            if addr:
                if dry_run:
                    raise click.UsageError("--dry-run works on files only")
                s = import_to_server(source, f, addr, auth=auth, db=db, replace=replace, warn=warn)
                where = addr
            else:
                tgt = target or Path("data.aki")
                s = import_into_file(source, tgt, f, db=db, replace=replace, dry_run=dry_run,
                                     warn=warn, progress=sys.stderr.isatty())
                where = str(tgt)
        except ImportFailed as exc:
            tail = "keys sent before stay on the server" if addr else "nothing was imported"
            click.echo(f"aki import: {source}: {exc}; {tail}", err=True)
            sys.exit(1)
        rate = s.loaded / s.seconds if s.seconds else 0.0
        verb = "would import" if dry_run else "imported"
        extra = [f"{n} {w}" for n, w in ((s.skipped, "skipped"), (s.expired, "expired"),
                                         (s.replaced, "replaced"), (s.functions, "functions"),
                                         (s.commands, "commands"), (s.filtered, "in other dbs"))
                 if n]
        click.echo(f"{verb} {s.loaded} keys into {where} in {s.seconds:.2f} s ({rate:,.0f} keys/s)"
                   + (f"; {', '.join(extra)}" if extra else ""))
