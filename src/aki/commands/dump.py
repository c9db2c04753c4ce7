"""DUMP, RESTORE, MIGRATE (cluster.c) and BGREWRITEAOF (aof.c).

DUMP serializes a key exactly as Redis 7.0 does (aki.rdb.dump_value), choosing the
encoding from the key's current ``enc`` (a hash that Redis would hold as a hashtable
is dumped as one even when it has shrunk since). RESTORE parses the payload with
aki.rdb.load_value and writes the element rows with storage/bulk.py in one
``executemany`` per table; ``len``/``head``/``enc`` are set as the collection
families set them (the same thresholds, read from the live config).

MIGRATE blocks the server while it talks to the target, as Redis's does (its
synchronous socket calls take the same timeout), and keeps the connection for
reuse: at most 64, each closed after 10 s unused (``migrate_cached_sockets``).
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import time

from aki import errors
from aki.commands.common import parse_int
from aki.core.dispatch import rewrite
from aki.core.registry import command
from aki.durability import rdbsave
from aki.errors import RedisError
from aki.rdb import DumpPayloadError, dump_value, load_value
from aki.rdb import Limits as RdbLimits
from aki.resp.encoder import encode
from aki.resp.types import OK, Status
from aki.storage import bulk

log = logging.getLogger("aki.restore")

BUSYKEY = "BUSYKEY Target key name already exists."
_BIG = 1 << 30


def _list_bytes(cfg) -> int:
    """list-max-listpack-size: -1..-5 are 4..64 KiB per node; a count is not a size."""
    n = cfg.list_max_listpack_size
    if n < 0:
        return 4096 << (min(-n, 5) - 1)
    return 8192


def dump_limits(cfg, type_: int, enc: int) -> RdbLimits:
    """Writer limits that reproduce the key's current encoding (0 compact, 1 big)."""
    compact = enc == 0
    return RdbLimits(
        hash_max_listpack_entries=_BIG if compact else -1,
        hash_max_listpack_value=_BIG if compact else -1,
        zset_max_listpack_entries=_BIG if compact else -1,
        zset_max_listpack_value=_BIG if compact else -1,
        set_max_intset_entries=_BIG if compact else -1,
        list_max_listpack_bytes=_list_bytes(cfg),
        stream_node_max_bytes=cfg.stream_node_max_bytes,
        stream_node_max_entries=cfg.stream_node_max_entries,
    )


def payload_of(server, row) -> bytes:
    """The DUMP payload of a live key."""
    value = bulk.read_value(server.ks.cur, row.id, row.type, row.enc, row.value)
    cfg = server.config
    return dump_value(bulk.TYPE_NAMES[row.type], value, compress=bool(cfg.rdbcompression),
                      limits=dump_limits(cfg, row.type, row.enc))


@command("dump")
def dump(c, argv):
    row = c.server.ks.lookup_read(c.db, argv[1])
    if row is None:
        return None
    return payload_of(c.server, row)


def store(server, db: int, key: bytes, kind: str, value, expire_at: int | None):
    """Create ``key`` (which must not exist) holding ``value``; returns its KeyRow."""
    ks = server.ks
    type_ = bulk.TYPE_CODES[kind]
    if type_ == bulk.STRING:
        ks.set_string(db, key, value, expire_at, row=None)
        return None
    row = ks.create(db, key, type_, None, expire_at)
    if type_ == bulk.STREAM:
        from aki.storage import streams

        cfg = server.config
        n, meta = streams.write_value(ks.cur, row.id, value, cfg.stream_node_max_bytes,
                                      cfg.stream_node_max_entries)
        ks.set_meta(row, length=n, value=meta)
        return row
    rows: dict[int, list[tuple]] = {bulk.LIST: [], bulk.SET: [], bulk.ZSET: [], bulk.HASH: []}
    n, head, enc = bulk.element_rows(row.id, type_, value, bulk.Limits.from_config(server.config), rows)
    sql = {bulk.LIST: bulk._INSERT_LIST, bulk.SET: bulk._INSERT_SET,
           bulk.ZSET: bulk._INSERT_ZSET, bulk.HASH: bulk._INSERT_HASH}[type_]
    ks.cur.executemany(sql, rows[type_])
    ks.set_meta(row, length=n, head=head, enc=enc)
    return row


@command("restore")
@command("restore-asking")  # the same restoreCommand in Redis (the ASKING flag aside)
def restore(c, argv):
    server = c.server
    ks = server.ks
    replace = absttl = False
    idle = freq = -1
    j = 4
    n = len(argv)
    while j < n:
        opt = argv[j].lower()
        more = n - j - 1
        if opt == b"replace":
            replace = True
        elif opt == b"absttl":
            absttl = True
        elif opt == b"idletime" and more >= 1 and freq == -1:
            idle = parse_int(argv[j + 1])
            if idle < 0:
                raise RedisError("ERR Invalid IDLETIME value, must be >= 0")
            j += 1
        elif opt == b"freq" and more >= 1 and idle == -1:
            freq = parse_int(argv[j + 1])
            if freq < 0 or freq > 255:
                raise RedisError("ERR Invalid FREQ value, must be >= 0 and <= 255")
            j += 1
        else:
            raise RedisError(errors.SYNTAX)
        j += 1
    key = argv[1]
    if not replace and ks.lookup(c.db, key) is not None:
        raise RedisError(BUSYKEY)
    ttl = parse_int(argv[2])
    if ttl < 0:
        raise RedisError("ERR Invalid TTL value, must be >= 0")
    try:
        # DumpPayloadError carries Redis's exact text; DEBUG SET-SKIP-CHECKSUM-VALIDATION 1
        # lets a test send corrupt payloads without forging their CRC, as in Redis
        kind, value = load_value(argv[3], verify_checksum=not server.extensions.get(
            "skip_checksum_validation"))
    except DumpPayloadError as exc:
        if exc.message == "ERR Bad data format":  # Redis logs why a payload is corrupt
            log.warning("RESTORE of key %r: payload integrity check failed at offset %s: %s",
                        key[:64], exc.offset, exc.reason)
        raise
    deleted = ks.delete(c.db, key) if replace else False
    if ttl and not absttl:
        ttl += ks.now()
    if ttl and ttl <= ks.now():
        if deleted:
            rewrite(server, c.db, [b"DEL", key])
            ks.notify("g", "del", c.db, key)
        return OK
    store(server, c.db, key, kind, value, ttl or None)
    if ttl and not absttl:
        rewrite(server, c.db, [*argv[:2], b"%d" % ttl, *argv[3:], b"ABSTTL"])
    if ks.lfu:
        if freq >= 0:
            ks.set_frequency(c.db, key, freq)
    elif idle >= 0:
        ks.record_access(c.db, key, time.time() - idle)
    ks.notify("g", "restore", c.db, key)
    return OK


@command("bgrewriteaof")
def bgrewriteaof(c, argv):
    server = c.server
    aof = server.extensions.get("aof") or server.extensions.get("aof_offline")
    if aof is not None and aof.rewriting:
        raise RedisError("ERR Background append only file rewriting already in progress")
    # inside EXEC, or with a BGSAVE running (Redis's other child), Redis only schedules it
    scheduled = server.in_exec or rdbsave.bgsave_running(server)
    if server.extensions.get("aof") is not None:
        aof.request_rewrite()
    else:  # appendonly no: Redis 7 still writes a new base; aki writes the whole log
        from aki.durability.aof import rewrite_while_off

        rewrite_while_off(server)
    if scheduled:
        return Status("Background append only file rewriting scheduled")
    return Status("Background append only file rewriting started")


# -- MIGRATE (cluster.c: migrateCommand) --------------------------------------------------

_LINK_CACHE_ITEMS = 64  # MIGRATE_SOCKET_CACHE_ITEMS
_LINK_CACHE_TTL = 10  # MIGRATE_SOCKET_CACHE_TTL, seconds


class _Link:
    """A cached connection to a MIGRATE target and the db it last selected there."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""
        self.last_dbid = -1
        self.last_use = time.time()

    def send(self, data: bytes, timeout: float) -> None:
        self.sock.settimeout(timeout)
        for i in range(0, len(data), 65536):  # Redis writes in 64 KiB chunks
            self.sock.sendall(data[i:i + 65536])

    def readline(self, timeout: float) -> bytes:
        """One reply line without its CRLF (connSyncReadLine); OSError on EOF or timeout."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            self.sock.settimeout(left)
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionResetError("target closed the connection")
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line.rstrip(b"\r")


def migrate_links(server) -> dict[bytes, _Link]:
    """The cached MIGRATE connections, those unused for 10 s closed first."""
    links: dict[bytes, _Link] = server.extensions.setdefault("migrate_links", {})
    now = time.time()
    for name, link in list(links.items()):
        if now - link.last_use > _LINK_CACHE_TTL:
            _close_link(links, name)
    return links


def _close_link(links: dict[bytes, _Link], name: bytes) -> None:
    link = links.pop(name, None)
    if link is not None:
        link.sock.close()


def _sweep_later(server) -> None:
    """Close idle cached connections once a second while any is open (serverCron's
    migrateCloseTimedoutSockets), even if no MIGRATE or INFO comes to do it."""
    if server.extensions.get("migrate_sweeping"):
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # embedded, no loop: the next MIGRATE or INFO sweeps
        return

    def sweep() -> None:
        if migrate_links(server):
            loop.call_later(1.0, sweep)
        else:
            server.extensions["migrate_sweeping"] = False

    server.extensions["migrate_sweeping"] = True
    loop.call_later(1.0, sweep)


def _get_link(server, host: bytes, port: bytes, timeout: float) -> _Link:
    links = migrate_links(server)
    name = host + b":" + port
    link = links.get(name)
    if link is not None:
        link.last_use = time.time()
        return link
    if len(links) == _LINK_CACHE_ITEMS:
        _close_link(links, random.choice(list(links)))
    try:
        addr = socket.getaddrinfo(host.decode("utf-8", "surrogateescape"), int(port),
                                  type=socket.SOCK_STREAM)[0]
    except (OSError, ValueError, UnicodeError):  # what anetTcpNonBlockConnect refuses
        raise RedisError("IOERR error or timeout connecting to the client") from None
    sock = socket.create_connection(addr[4][:2], timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    link = links[name] = _Link(sock)
    _sweep_later(server)
    return link


def _migrate_keys(argv: list[bytes]) -> list[int]:
    """migrateGetKeys: the key argument, or everything after KEYS."""
    first, num = 3, 1
    i = 6
    while i < len(argv):
        opt = argv[i].lower()
        if opt == b"keys":
            if argv[3]:
                return []  # a syntax error MIGRATE itself reports
            first, num = i + 1, len(argv) - i - 1
            break
        i += {b"auth": 1, b"auth2": 2}.get(opt, 0) + 1
    return list(range(first, first + num))


def _restore_requests(c, keys: list[bytes], replace: bool, select: int | None,
                      username: bytes | None, password: bytes | None):
    """The keys still alive and the pipelined AUTH, SELECT and RESTOREs that move them."""
    server = c.server
    ks = server.ks
    parts = []
    if password is not None:
        parts.append(encode([b"AUTH", username, password], False) if username is not None
                     else encode([b"AUTH", password], False))
    if select is not None:
        parts.append(encode([b"SELECT", b"%d" % select], False))
    sent: list[bytes] = []
    extra = (b"REPLACE",) if replace else ()
    for key in keys:
        row = ks.peek(c.db, key)  # getExpire: not a second keyspace hit
        if row is None:
            continue  # expired since the first look
        ttl = 0 if row.expire_at is None else max(row.expire_at - ks.now(), 1)
        sent.append(key)
        restore = [b"RESTORE", key, b"%d" % ttl, payload_of(server, row), *extra]
        parts.append(encode(restore, False))
    return sent, b"".join(parts)


@command("migrate", key_finder=_migrate_keys)
def migrate(c, argv):
    server = c.server
    ks = server.ks
    copy = replace = False
    username = password = None
    first, num = 3, 1
    n = len(argv)
    j = 6
    while j < n:
        opt = argv[j].lower()
        more = n - 1 - j
        if opt == b"copy":
            copy = True
        elif opt == b"replace":
            replace = True
        elif opt == b"auth":
            if not more:
                raise RedisError(errors.SYNTAX)
            j += 1
            password = argv[j]
        elif opt == b"auth2":
            if more < 2:
                raise RedisError(errors.SYNTAX)
            username, password = argv[j + 1], argv[j + 2]
            j += 2
        elif opt == b"keys":
            if argv[3]:
                raise RedisError("ERR When using MIGRATE KEYS option, the key argument "
                                 "must be set to the empty string")
            first, num = j + 1, n - j - 1
            break
        else:
            raise RedisError(errors.SYNTAX)
        j += 1
    timeout_ms = parse_int(argv[5])
    dbid = parse_int(argv[4])
    if timeout_ms <= 0:
        timeout_ms = 1000
    timeout = timeout_ms / 1000
    keys = [k for k in argv[first:first + num] if ks.lookup_read(c.db, k) is not None]
    if not keys:
        return Status("NOKEY")
    host, port = argv[1], argv[2]
    may_retry = True
    while True:
        error = None
        acked: list[bytes] = []
        replies = 0  # RESTORE replies read
        failure: str | None = "writing"  # what failed if the connection breaks
        timed_out = False
        try:
            # as in Redis, a refused or timed-out connect shows up as a failed write
            link = _get_link(server, host, port, timeout)
            select = link.last_dbid != dbid
            sent, request = _restore_requests(c, keys, replace, dbid if select else None,
                                              username, password)
            link.send(request, timeout)
            failure = "reading"
            auth_reply = link.readline(timeout) if password is not None else b""
            select_reply = link.readline(timeout) if select else b""
            for key in sent:
                reply = link.readline(timeout)
                replies += 1
                if auth_reply[:1] == b"-" or select_reply[:1] == b"-" or reply[:1] == b"-":
                    if error is None:
                        link.last_dbid = -1
                        bad = auth_reply if auth_reply[:1] == b"-" else \
                            select_reply if select_reply[:1] == b"-" else reply
                        error = "ERR Target instance replied with error: " + \
                            bad[1:].decode("utf-8", "replace")
                elif not copy:
                    acked.append(key)
            failure = None
        except OSError as exc:
            timed_out = isinstance(exc, TimeoutError)
        for key in acked:  # only what the target acknowledged leaves this server
            ks.delete(c.db, key)
            ks.notify("g", "del", c.db, key)
        if acked:
            rewrite(server, c.db, [b"DEL", *acked])
        if failure is not None:
            _close_link(server.extensions["migrate_links"], host + b":" + port)
            if error is None:
                # a cached connection may have gone stale: retry once, from scratch,
                # unless it timed out or the target had already answered something
                if may_retry and not timed_out and not replies:
                    may_retry = False
                    continue
                raise RedisError(f"IOERR error or timeout {failure} to target instance")
        if error is not None:
            raise RedisError(error)
        link.last_dbid = dbid
        return OK
