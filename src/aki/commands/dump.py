"""DUMP, RESTORE (cluster.c) and BGREWRITEAOF (aof.c).

DUMP serializes a key exactly as Redis 7.0 does (aki.rdb.dump_value), choosing the
encoding from the key's current ``enc`` (a hash that Redis would hold as a hashtable
is dumped as one even when it has shrunk since). RESTORE parses the payload with
aki.rdb.load_value and writes the element rows with storage/bulk.py in one
``executemany`` per table; ``len``/``head``/``enc`` are set as the collection
families set them (the same thresholds, read from the live config).
"""

from __future__ import annotations

import time

from aki import errors
from aki.commands.common import parse_int
from aki.core.dispatch import rewrite
from aki.core.registry import command
from aki.errors import RedisError
from aki.rdb import Limits as RdbLimits
from aki.rdb import dump_value, load_value
from aki.resp.types import OK, Status
from aki.storage import bulk

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
    kind, value = load_value(argv[3])  # DumpPayloadError carries Redis's exact text
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
    aof = server.extensions.get("aof")
    if aof is not None and aof.rewriting:
        raise RedisError("ERR Background append only file rewriting already in progress")
    in_exec = c.in_multi or getattr(c, "in_exec", False)
    if aof is not None:
        aof.request_rewrite()
    if in_exec:
        return Status("Background append only file rewriting scheduled")
    return Status("Background append only file rewriting started")
