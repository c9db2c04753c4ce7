"""``aki dump``: write an RDB (or JSONL) of an aki file or of a running server.

From a file it reads one MVCC snapshot (a read-only connection inside ``BEGIN``), so a
live server keeps writing meanwhile and the dump is one point in time. From ``--addr``
it walks SCAN and DUMPs each key (any Redis-protocol server, aki or Redis).
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

from aki.storage import bulk

JSONL_HELP = """JSONL: one JSON object per line and key,
{"db": N, "key": K, "type": T, "value": V, "expire_ms": E|null}. Every byte string
(key, member, field, value) is a JSON string when it is valid UTF-8, else an object
{"base64": "<standard base64>"}. V by type: string -> a byte string; list and set ->
an array of byte strings; zset -> an array of [member, score] (score a number, or
"inf"/"-inf"); hash -> an array of [field, value]; stream -> an object {"entries":
[[ID, [[field, value], ...]], ...], "length", "last_id", "first_id",
"max_deleted_entry_id", "entries_added", "groups": [{"name", "last_id", "entries_read",
"pending": [[ID, consumer, delivery_ms, delivery_count], ...], "consumers": [{"name",
"seen_time", "active_time", "pending": [ID, ...]}]}]} with IDs as "ms-seq" strings.
expire_ms is an absolute unix time in milliseconds. Function libraries are lines {"type": "function", "value": <source>}.
`aki import --format jsonl` reads the same format."""


def file_records(path: Path, db: int | None,
                 warn: Callable[[str], None]) -> tuple[list[bytes], Iterator[tuple]]:
    """Functions and ``(db, key, type, value, expire_ms)`` of one snapshot of an aki file."""
    from aki.storage.engine import Engine

    engine = Engine(path, readonly=True)
    conn = engine.conn
    conn.execute("BEGIN")
    funcs = bulk.functions(conn)

    def gen() -> Iterator[tuple]:
        try:
            for logical, phys in enumerate(bulk.read_dbmap(conn)):
                if db is not None and logical != db:
                    continue
                for key, kind, value, exp in bulk.iter_db(conn, phys, on_warning=warn):
                    yield logical, key, kind, value, exp
        finally:
            conn.execute("COMMIT")
            engine.conn.close()

    return funcs, gen()


def server_records(addr: str, auth: str | None, db: int | None,
                   warn: Callable[[str], None]) -> tuple[list[bytes], Iterator[tuple]]:
    """The same from a running server: SCAN, then DUMP + PEXPIRETIME per key, pipelined."""
    import redis

    from aki.rdb import DumpPayloadError, load_value

    host, _, port = addr.rpartition(":")
    r = redis.Redis(host=host.strip("[]") or "127.0.0.1", port=int(port), password=auth,
                    socket_timeout=60)
    funcs = [lib[b"library_code"] if isinstance(lib, dict) else dict(zip(lib[::2], lib[1::2], strict=False))[b"library_code"]
             for lib in _function_list(r)]
    ndbs = int(r.config_get("databases").get(b"databases", 16) or 16) if db is None else db + 1

    def gen() -> Iterator[tuple]:
        try:
            for d in range(ndbs):
                if db is not None and d != db:
                    continue
                r.execute_command("SELECT", d)
                cursor = 0
                while True:
                    cursor, keys = r.scan(cursor, count=1000)
                    if keys:
                        pipe = r.pipeline(transaction=False)
                        for k in keys:
                            pipe.dump(k)
                            pipe.execute_command("PEXPIRETIME", k)
                        res = pipe.execute(raise_on_error=False)
                        for i, k in enumerate(keys):
                            payload, exp = res[2 * i], res[2 * i + 1]
                            if payload is None or isinstance(payload, Exception):
                                continue  # deleted or expired meanwhile
                            try:
                                kind, value = load_value(payload, max_version=11)
                            except DumpPayloadError as exc:
                                warn(f"skipping key {k!r} in db {d}: {exc.reason}")
                                continue
                            yield d, k, kind, value, (exp if isinstance(exp, int) and exp >= 0 else None)
                    if int(cursor) == 0:
                        break
        finally:
            r.close()

    return funcs, gen()


def _function_list(r: Any) -> list[Any]:
    import redis

    try:
        return r.execute_command("FUNCTION", "LIST", "WITHCODE") or []
    except redis.ResponseError:
        return []


def write_rdb(out: BinaryIO, funcs: list[bytes], records: Iterator[tuple], *, compress: bool = True,
              progress: Callable[[int], None] | None = None) -> int:
    from aki.rdb import RDBWriter

    w = RDBWriter(out, compress=compress)
    w.begin()
    for code in funcs:
        w.write_function(code)
    current = None
    n = 0
    for d, key, kind, value, exp in records:
        if d != current:
            w.select_db(d)
            current = d
        w.write_key(key, kind, value, exp)
        n += 1
        if progress is not None and not n % 10000:
            progress(n)
    w.finish()
    return n


def write_jsonl(out: BinaryIO, funcs: list[bytes], records: Iterator[tuple]) -> int:
    n = 0
    for code in funcs:
        out.write(json.dumps({"type": "function", "value": bulk.jbytes(code)}).encode() + b"\n")
    buf = []
    for d, key, kind, value, exp in records:
        buf.append(json.dumps(bulk.to_json_record(d, key, kind, value, exp), ensure_ascii=False))
        n += 1
        if len(buf) >= 1000:
            out.write(("\n".join(buf) + "\n").encode())
            buf.clear()
    if buf:
        out.write(("\n".join(buf) + "\n").encode())
    return n


def register(cli: click.Group) -> None:
    @cli.command("dump", epilog=JSONL_HELP)
    @click.option("--file", "dbfile", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                  help="an aki file (may be in use by a running server)")
    @click.option("--addr", help="host:port of a running server (aki or Redis)")
    @click.option("--auth", help="password for --addr")
    @click.option("--output", "-o", default=None,
                  help="output file (default dump.rdb or dump.jsonl; '-' for stdout)")
    @click.option("--db", type=int, default=None, help="only database N")
    @click.option("--format", "fmt", type=click.Choice(["rdb", "jsonl"]), default="rdb")
    @click.option("--no-compress", is_flag=True, help="RDB: do not LZF-compress strings")
    def dump_cmd(dbfile: Path | None, addr: str | None, auth: str | None, output: str | None,
                 db: int | None, fmt: str, no_compress: bool) -> None:
        """Write an RDB (loadable by Redis 7.0) or JSONL dump of an aki file or a server."""
        if (dbfile is None) == (addr is None):
            raise click.UsageError("give exactly one of --file and --addr")

        def warn(msg: str) -> None:
            click.echo(f"warning: {msg}", err=True)

        start = time.perf_counter()
        try:
            if dbfile is not None:
                funcs, recs = file_records(dbfile, db, warn)
            else:
                funcs, recs = server_records(addr, auth, db, warn)  # type: ignore[arg-type]
        except Exception as exc:  # noqa: BLE001 - any open failure is reported the same way
            click.echo(f"aki dump: {exc}", err=True)
            sys.exit(2)
        target = output or ("dump.rdb" if fmt == "rdb" else "dump.jsonl")
        to_stdout = target == "-"
        tmp = None
        try:
            if to_stdout:
                out: BinaryIO = sys.stdout.buffer
            else:
                tmp = f"{target}.tmp-{os.getpid()}"
                out = open(tmp, "wb")
            if fmt == "rdb":
                n = write_rdb(out, funcs, recs, compress=not no_compress)
            else:
                n = write_jsonl(out, funcs, recs)
            out.flush()
            if tmp is not None:
                os.fsync(out.fileno())
                out.close()
                os.replace(tmp, target)
                tmp = None
        except Exception as exc:  # noqa: BLE001
            click.echo(f"aki dump: {exc}", err=True)
            if tmp is not None:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
            sys.exit(1)
        secs = time.perf_counter() - start
        if not to_stdout:
            click.echo(f"wrote {n} keys to {target} in {secs:.2f} s ({n / secs if secs else 0:,.0f} keys/s)",
                       err=True)
