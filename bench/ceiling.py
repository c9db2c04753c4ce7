"""Ceiling servers: the least a Python server can do for SET and GET on this machine.

    python bench/ceiling.py dict PORT             # uvloop + hiredis over a dict
    python bench/ceiling.py sqlite PORT FILE      # ... over SQLite, as aki commits

Not part of aki: a measuring stick for ``bench/run.py --ceiling``. The ``sqlite`` server
does the minimum aki's design implies for a write: one UPSERT per SET into a keys table
with aki's key index, all writes of a loop pass in one transaction (group commit), WAL
mode with ``synchronous=NORMAL`` (everysec-like), replies held until the COMMIT. It
has no row cache, no stats, no expiry, no notifications: whatever ratio it reaches
is the most aki's architecture can reach here, and the gap to it is aki's own cost.
Only SET and GET are served; anything else answers an error.
"""

from __future__ import annotations

import asyncio
import os
import sys

import hiredis
import uvloop

_UPSERT = ("INSERT INTO keys (db, key, type, value) VALUES (0, ?1, 0, ?2) "
           "ON CONFLICT (db, key) DO UPDATE SET value = ?2")
_SELECT = "SELECT value FROM keys WHERE db = 0 AND key = ?"
_SCHEMA = """
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
PRAGMA cache_size = -65536;
CREATE TABLE keys (id INTEGER PRIMARY KEY, db INTEGER NOT NULL, key BLOB NOT NULL,
                   type INTEGER NOT NULL, value BLOB, expire_at INTEGER,
                   len INTEGER NOT NULL DEFAULT 0, head INTEGER NOT NULL DEFAULT 0,
                   enc INTEGER NOT NULL DEFAULT 0);
CREATE UNIQUE INDEX keys_by_name ON keys (db, key);
"""
_UNKNOWN = b"-ERR only SET and GET here\r\n"


def _bulk(value: bytes | None) -> bytes:
    return b"$-1\r\n" if value is None else b"$%d\r\n%s\r\n" % (len(value), value)


class DictServer(asyncio.Protocol):
    store: dict[bytes, bytes] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.reader = hiredis.Reader()

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        out = []
        while (req := self.reader.gets()) is not False:
            name = req[0].upper()
            if name == b"SET" and len(req) == 3:
                self.store[req[1]] = req[2]
                out.append(b"+OK\r\n")
            elif name == b"GET" and len(req) == 2:
                out.append(_bulk(self.store.get(req[1])))
            else:
                out.append(_UNKNOWN)
        self.transport.write(b"".join(out))  # type: ignore[attr-defined]


class SqliteServer(asyncio.Protocol):
    """Group commit as aki does it: BEGIN at the first write of a loop pass, COMMIT in a
    call_soon callback at its end, then every held reply is written."""

    cur = None  # the apsw cursor, set by main()
    in_tx = False
    held: list[tuple[asyncio.Transport, list[bytes]]] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.reader = hiredis.Reader()

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        cls = SqliteServer
        cur = cls.cur
        out = []
        while (req := self.reader.gets()) is not False:
            name = req[0].upper()
            if name == b"SET" and len(req) == 3:
                if not cls.in_tx:
                    cur.execute("BEGIN")
                    cls.in_tx = True
                    asyncio.get_running_loop().call_soon(cls.commit)
                cur.execute(_UPSERT, (req[1], req[2]))
                out.append(b"+OK\r\n")
            elif name == b"GET" and len(req) == 2:
                row = cur.execute(_SELECT, (req[1],)).fetchone()
                out.append(_bulk(None if row is None else row[0]))
            else:
                out.append(_UNKNOWN)
        if cls.in_tx:
            cls.held.append((self.transport, out))  # type: ignore[arg-type]
        else:
            self.transport.write(b"".join(out))  # type: ignore[attr-defined]

    @classmethod
    def commit(cls) -> None:
        cls.cur.execute("COMMIT")
        cls.in_tx = False
        held = cls.held
        cls.held = []
        for transport, out in held:
            transport.write(b"".join(out))


async def serve(kind: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    proto = DictServer if kind == "dict" else SqliteServer
    server = await loop.create_server(proto, "127.0.0.1", port)
    await server.serve_forever()


def main() -> None:
    kind, port = sys.argv[1], int(sys.argv[2])
    if kind == "sqlite":
        import apsw

        path = sys.argv[3]
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.remove(path + suffix)
        conn = apsw.Connection(path)
        for _row in conn.execute(_SCHEMA):  # apsw runs the next statement as rows are read
            pass
        SqliteServer.cur = conn.cursor()
    elif kind != "dict":
        sys.exit("usage: ceiling.py dict PORT | ceiling.py sqlite PORT FILE")
    uvloop.run(serve(kind, port))


if __name__ == "__main__":
    main()
