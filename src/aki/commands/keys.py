"""Generic key commands (db.c, expire.c)."""

from __future__ import annotations

from aki.core.registry import command


@command("del")
def del_(c, argv):
    ks = c.server.ks
    n = 0
    for key in argv[1:]:
        if ks.delete(c.db, key):
            ks.notify("g", "del", c.db, key)
            n += 1
    return n


command("unlink")(del_)


@command("exists")
def exists(c, argv):
    ks = c.server.ks
    return sum(1 for key in argv[1:] if ks.lookup_read(c.db, key) is not None)
