"""``aki check``: integrity of an aki file (or, with ``--rdb``, of an RDB dump).

Exit codes: 0 healthy, 1 warnings, 2 errors, 3 unusable (not an aki/RDB file at all).
``--fix`` makes only repairs that cannot lose data: recompute ``keys.len`` and
``dbstats`` from the rows, set a list's ``head`` to its first position, and delete
element rows that belong to no key (and are not queued for reclaiming).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import apsw
import click

HEALTHY, WARNINGS, ERRORS, UNUSABLE = 0, 1, 2, 3

# type -> (table, column) of its element rows
_TABLES = {1: "list_items", 2: "set_members", 3: "zset_members", 4: "hash_fields",
           5: "stream_entries"}
_REQUIRED = ("keys", "dbstats", "garbage", "list_items", "set_members", "zset_members",
             "hash_fields", "stream_entries", "meta")


class Report:
    def __init__(self, echo: Callable[[str], None]) -> None:
        self.echo = echo
        self.level = HEALTHY
        self.fixable: list[str] = []

    def ok(self, msg: str) -> None:
        self.echo(f"ok       {msg}")

    def warn(self, msg: str, fix: str | None = None) -> None:
        self.level = max(self.level, WARNINGS)
        self.echo(f"WARNING  {msg}")
        if fix:
            self.fixable.append(fix)

    def error(self, msg: str, fix: str | None = None) -> None:
        self.level = max(self.level, ERRORS)
        self.echo(f"ERROR    {msg}")
        if fix:
            self.fixable.append(fix)


def _count(conn: apsw.Connection, sql: str, args: tuple = ()) -> int:
    return conn.execute(sql, args).fetchone()[0]


def check_aki(path: Path, rep: Report) -> int:
    """Run every check; returns the exit level (UNUSABLE when the file cannot be read)."""
    from aki.storage.engine import APPLICATION_ID, SCHEMA_VERSION, FileRefused, _check_header
    from aki.storage.sets import mhash

    try:
        _check_header(path)
        conn = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
        app_id = _count(conn, "PRAGMA application_id")
        version = _count(conn, "PRAGMA user_version")
    except (FileRefused, apsw.Error, OSError) as exc:
        rep.echo(f"UNUSABLE {exc}")
        return UNUSABLE
    if app_id != APPLICATION_ID:
        rep.echo(f"UNUSABLE application_id is {app_id:#x}, not aki's {APPLICATION_ID:#x}")
        return UNUSABLE
    if version > SCHEMA_VERSION or version < 1:
        rep.echo(f"UNUSABLE schema version {version} (this aki knows 1..{SCHEMA_VERSION})")
        return UNUSABLE
    rep.ok(f"application_id {app_id:#x}, schema version {version}")
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")}
    missing = [t for t in _REQUIRED if t not in tables]
    if missing:
        rep.echo(f"UNUSABLE missing tables: {', '.join(missing)}")
        return UNUSABLE
    conn.createscalarfunction("mhash", mhash, 1, deterministic=True)
    conn.execute("BEGIN")
    try:
        problems = [r[0] for r in conn.execute("PRAGMA integrity_check(20)")]
        if problems != ["ok"]:
            for p in problems:
                rep.error(f"integrity_check: {p}")
        else:
            rep.ok("PRAGMA integrity_check")
        _check_keys(conn, rep, mhash)
    finally:
        conn.execute("COMMIT")
        conn.close()
    return rep.level


def _check_keys(conn: apsw.Connection, rep: Report, mhash: Callable[[bytes], int]) -> None:
    bad_types = _count(conn, "SELECT count(*) FROM keys WHERE type NOT BETWEEN 0 AND 5")
    if bad_types:
        rep.error(f"{bad_types} keys have an unknown type")
    nkeys = _count(conn, "SELECT count(*) FROM keys")
    rep.ok(f"{nkeys} keys") if not bad_types else None
    # len = element count, per collection type
    for t, table in _TABLES.items():
        n = _count(conn, f"""SELECT count(*) FROM keys k LEFT JOIN
            (SELECT key_id, count(*) AS c FROM {table} GROUP BY key_id) e ON e.key_id = k.id
            WHERE k.type = ? AND k.len != coalesce(e.c, 0)""", (t,))
        if n:
            rep.error(f"{n} keys of type {t}: keys.len differs from the rows in {table}", fix="len")
        orphans = _count(conn, f"""SELECT count(*) FROM {table} e WHERE NOT EXISTS
            (SELECT 1 FROM keys k WHERE k.id = e.key_id AND k.type = ?)
            AND e.key_id NOT IN (SELECT key_id FROM garbage)""", (t,))
        if orphans:
            rep.warn(f"{orphans} rows in {table} belong to no key", fix="orphans")
    empty = _count(conn, "SELECT count(*) FROM keys WHERE type BETWEEN 1 AND 4 AND len <= 0")
    if empty:
        rep.error(f"{empty} collections are empty (Redis deletes empty collections)")
    # lists: positions contiguous from head
    n = _count(conn, """SELECT count(*) FROM keys k JOIN
        (SELECT key_id, min(pos) AS lo, max(pos) AS hi, count(*) AS c FROM list_items GROUP BY key_id) e
        ON e.key_id = k.id WHERE k.type = 1 AND (e.hi - e.lo + 1 != e.c)""")
    if n:
        rep.error(f"{n} lists have holes in their positions")
    n = _count(conn, """SELECT count(*) FROM keys k JOIN
        (SELECT key_id, min(pos) AS lo FROM list_items GROUP BY key_id) e
        ON e.key_id = k.id WHERE k.type = 1 AND e.lo != k.head""")
    if n:
        rep.error(f"{n} lists have a head that is not their first position", fix="head")
    # hashed members
    for table, col in (("set_members", "member"), ("hash_fields", "field")):
        n = _count(conn, f"SELECT count(*) FROM {table} WHERE h != mhash({col})")
        if n:
            rep.error(f"{n} rows of {table} have a wrong hash column (lookups would miss them)")
    # expiry index: every key with a TTL reachable through it
    with_ttl = _count(conn, "SELECT count(*) FROM keys WHERE expire_at IS NOT NULL")
    via_index = _count(conn, "SELECT count(*) FROM keys INDEXED BY keys_by_expiry "
                             "WHERE expire_at IS NOT NULL")
    if with_ttl != via_index:
        rep.error(f"expiry index holds {via_index} keys, the table {with_ttl}")
    bad_exp = _count(conn, "SELECT count(*) FROM keys WHERE expire_at IS NOT NULL "
                           "AND typeof(expire_at) != 'integer'")
    if bad_exp:
        rep.error(f"{bad_exp} keys have a non-integer expire_at")
    # dbstats
    n = _count(conn, """SELECT count(*) FROM
        (SELECT db, count(*) AS k, count(expire_at) AS x FROM keys GROUP BY db) a
        FULL OUTER JOIN dbstats d ON d.db = a.db
        WHERE coalesce(a.k, 0) != coalesce(d.keys, 0) OR coalesce(a.x, 0) != coalesce(d.expires, 0)""")
    if n:
        rep.warn(f"dbstats counters are wrong for {n} databases", fix="dbstats")
    garbage = _count(conn, "SELECT count(*) FROM garbage")
    if garbage:
        rep.ok(f"{garbage} deleted collections await reclaiming (normal)")
    if rep.level == HEALTHY:
        rep.ok("keys, lengths, list positions, expiry index and dbstats are consistent")


def fix_aki(path: Path, fixes: set[str], echo: Callable[[str], None]) -> None:
    """The safe repairs, in one transaction."""
    from aki.storage.bulk import recompute_dbstats

    conn = apsw.Connection(str(path))
    conn.setbusytimeout(5000)
    cur = conn.cursor()
    with conn:
        if "len" in fixes:
            for t, table in _TABLES.items():
                cur.execute(f"UPDATE keys SET len = (SELECT count(*) FROM {table} e "
                            f"WHERE e.key_id = keys.id) WHERE type = ?", (t,))
            cur.execute("DELETE FROM keys WHERE type BETWEEN 1 AND 4 AND len = 0")
            echo("fixed    keys.len recomputed from the element rows")
        if "head" in fixes:
            cur.execute("UPDATE keys SET head = (SELECT min(pos) FROM list_items e "
                        "WHERE e.key_id = keys.id) WHERE type = 1 AND len > 0")
            echo("fixed    list heads set to their first position")
        if "orphans" in fixes:
            for t, table in _TABLES.items():
                cur.execute(f"""DELETE FROM {table} WHERE NOT EXISTS
                    (SELECT 1 FROM keys k WHERE k.id = {table}.key_id AND k.type = ?)
                    AND key_id NOT IN (SELECT key_id FROM garbage)""", (t,))
            echo("fixed    orphan element rows deleted")
        recompute_dbstats(cur)
        echo("fixed    dbstats recomputed")
    conn.close()


def check_rdb(path: Path, rep: Report) -> int:
    from aki.rdb import FunctionRecord, KeyRecord, RDBError, RDBReader

    counts: dict[str, int] = {}
    funcs = 0
    reader = None
    try:
        with open(path, "rb") as f:
            reader = RDBReader(f, on_warning=lambda m: rep.warn(m))
            for rec in reader.records():
                if type(rec) is KeyRecord:
                    counts[rec.type] = counts.get(rec.type, 0) + 1
                elif type(rec) is FunctionRecord:
                    funcs += 1
    except RDBError as exc:
        if reader is not None and reader.version == 0:
            rep.echo(f"UNUSABLE {exc}")
            return UNUSABLE
        rep.error(str(exc))
        return rep.level
    except OSError as exc:
        rep.echo(f"UNUSABLE {exc}")
        return UNUSABLE
    keys = ", ".join(f"{n} {t}" for t, n in sorted(counts.items())) or "no keys"
    rep.ok(f"RDB version {reader.version}: {keys}; {funcs} function libraries")
    if reader.checksum:
        rep.ok(f"checksum {reader.checksum:016x} verified")
    elif reader.version >= 5:
        rep.warn("the file carries no checksum (written with rdbchecksum no)")
    return rep.level


def register(cli: click.Group) -> None:
    @cli.command("check")
    @click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @click.option("--rdb", "is_rdb", is_flag=True, help="PATH is an RDB dump: parse it and verify its checksum")
    @click.option("--fix", is_flag=True, help="make the safe repairs (lengths, dbstats, orphan rows)")
    @click.option("--quiet", "-q", is_flag=True, help="print problems only")
    def check_cmd(path: Path, is_rdb: bool, fix: bool, quiet: bool) -> None:
        """Check an aki file (or an RDB with --rdb).

        Exit code: 0 healthy, 1 warnings, 2 errors, 3 unusable.
        """
        def echo(line: str) -> None:
            if not quiet or not line.startswith("ok"):
                click.echo(line)

        rep = Report(echo)
        if is_rdb:
            sys.exit(check_rdb(path, rep))
        level = check_aki(path, rep)
        if fix and rep.fixable and level < UNUSABLE:
            fix_aki(path, set(rep.fixable), echo)
            echo("re-checking after the repairs:")
            rep = Report(echo)
            level = check_aki(path, rep)
        sys.exit(level)
