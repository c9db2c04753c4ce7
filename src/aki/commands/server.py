"""Server commands (server.c, db.c): FLUSHALL, FLUSHDB, DBSIZE ..."""

from __future__ import annotations

from aki import errors
from aki.core.dispatch import rewrite
from aki.core.registry import command
from aki.errors import RedisError
from aki.resp.types import OK


def _flush_mode(argv: list[bytes]) -> None:
    if len(argv) > 2:
        raise RedisError(errors.SYNTAX)
    if len(argv) == 2 and argv[1].lower() not in (b"sync", b"async"):
        raise RedisError(errors.SYNTAX)


@command("flushdb")
def flushdb(c, argv):
    _flush_mode(argv)
    ks = c.server.ks
    ks.flushdb(c.db)
    ks.touch(c.db, b"")
    for hook in c.server.extensions.get("flush_hooks", []):
        hook(c.db)
    rewrite(c.server, c.db, list(argv))
    return OK


@command("flushall")
def flushall(c, argv):
    _flush_mode(argv)
    ks = c.server.ks
    for db in range(c.server.engine.databases):
        ks.flushdb(db)
    ks.touch(c.db, b"")
    for hook in c.server.extensions.get("flush_hooks", []):
        hook(None)
    rewrite(c.server, c.db, list(argv))
    return OK


@command("dbsize")
def dbsize(c, argv):
    return c.server.ks.dbsize(c.db)
