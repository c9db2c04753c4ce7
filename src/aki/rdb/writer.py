"""Streaming RDB writer (version 10, as Redis 7.0 writes it) and DUMP payloads.

The output is what ``rdbSaveRio`` in Redis 7.0.15 produces: ``REDIS0010``, the AUX
fields ``redis-ver``, ``redis-bits``, ``ctime``, ``used-mem``, ``aof-base``, function
libraries (FUNCTION2), then per database SELECTDB + RESIZEDB and its keys (an
EXPIRETIME_MS before a key with a TTL), EOF and the CRC64 of everything before it.

Encodings follow Redis 7.0's defaults, so a file loads into the same encodings a
Redis would have built: quicklist v2 with ~8 KiB listpack nodes for lists; intset
for small all-integer sets (``set-max-intset-entries 512``), else a plain set (7.0
has no set listpack: type 20 would not load); listpack for hashes and zsets of at
most 128 entries with elements of at most 64 bytes, else plain hash / ZSET_2 with
binary scores; stream v2 (type 19). Strings that spell a canonical 32-bit integer
are integer-encoded; with ``compress=True`` strings over 20 bytes are LZF
compressed when that saves at least 4 bytes, exactly Redis's rule.

Memory: bytes go to the file object in ~64 KiB writes; only the key being written
is held, and a huge collection can be passed as an iterator with ``count=`` to be
written element by element in a plain encoding.
"""

from __future__ import annotations

import math
import struct
import time
from collections.abc import Iterable, Sequence
from typing import Any, BinaryIO

from . import intset, listpack, lzf
from .crc64 import crc64
from .stream import StreamValue, listpacks_from_entries

__all__ = ["RDB_VERSION", "Limits", "RDBWriter", "dump_value", "write_rdb"]

RDB_VERSION = 10
REDIS_VERSION = "7.0.15"
_FLUSH_AT = 1 << 16
_U64 = (1 << 64) - 1
_pack_u32be = struct.Struct(">I").pack
_pack_u64be = struct.Struct(">Q").pack
_pack_i64le = struct.Struct("<q").pack
_pack_f64le = struct.Struct("<d").pack


class Limits:
    """The encoding thresholds (Redis config directives of the same names)."""

    __slots__ = (
        "hash_max_listpack_entries",
        "hash_max_listpack_value",
        "list_max_listpack_bytes",
        "set_max_intset_entries",
        "stream_node_max_bytes",
        "stream_node_max_entries",
        "zset_max_listpack_entries",
        "zset_max_listpack_value",
    )

    def __init__(
        self,
        hash_max_listpack_entries: int = 128,
        hash_max_listpack_value: int = 64,
        zset_max_listpack_entries: int = 128,
        zset_max_listpack_value: int = 64,
        set_max_intset_entries: int = 512,
        list_max_listpack_bytes: int = 8192,
        stream_node_max_bytes: int = 4096,
        stream_node_max_entries: int = 100,
    ) -> None:
        self.hash_max_listpack_entries = hash_max_listpack_entries
        self.hash_max_listpack_value = hash_max_listpack_value
        self.zset_max_listpack_entries = zset_max_listpack_entries
        self.zset_max_listpack_value = zset_max_listpack_value
        self.set_max_intset_entries = set_max_intset_entries
        self.list_max_listpack_bytes = list_max_listpack_bytes
        self.stream_node_max_bytes = stream_node_max_bytes
        self.stream_node_max_entries = stream_node_max_entries


_DEFAULT_LIMITS = Limits()
_PLAIN_NODE_THRESHOLD = 1 << 30  # elements this big get a plain quicklist node, as in 7.0


def _len(n: int) -> bytes:
    """A length (``rdbSaveLen``)."""
    if n < 0x40:
        return bytes((n,))
    if n < 0x4000:
        return bytes((0x40 | (n >> 8), n & 0xFF))
    if n <= 0xFFFFFFFF:
        return b"\x80" + _pack_u32be(n)
    return b"\x81" + _pack_u64be(n)


def _int_encoded(s: bytes) -> bytes | None:
    """The integer encoding of ``s`` if it is a canonical int32 (``rdbTryIntegerEncoding``)."""
    v = listpack.try_int(s)
    if v is None:
        return None
    if -128 <= v <= 127:
        return b"\xc0" + struct.pack("<b", v)
    if -32768 <= v <= 32767:
        return b"\xc1" + struct.pack("<h", v)
    if -(1 << 31) <= v < (1 << 31):
        return b"\xc2" + struct.pack("<i", v)
    return None


def _string(s: bytes, compress: bool) -> bytes:
    """A string (``rdbSaveRawString``): integer-encoded, LZF, or length + bytes."""
    n = len(s)
    if n <= 11 and n:
        enc = _int_encoded(s)
        if enc is not None:
            return enc
    if compress and n > 20:
        packed = lzf.compress(s, n - 4)
        if packed is not None:
            return b"\xc3" + _len(len(packed)) + _len(n) + packed
    if n < 0x40:
        return bytes((n,)) + s
    return _len(n) + s


def _raw_string(s: bytes, compress: bool) -> bytes:
    """A string that must not be integer-encoded checks (blobs): only LZF or raw."""
    n = len(s)
    if compress and n > 20:
        packed = lzf.compress(s, n - 4)
        if packed is not None:
            return b"\xc3" + _len(len(packed)) + _len(n) + packed
    return _len(n) + s


def _score_item(score: float) -> bytes | int:
    """A zset score as ``zzlInsertAt`` stores it: ``d2string`` text, integers as integers."""
    if math.isnan(score):
        raise ValueError("a zset score cannot be NaN")
    if math.isinf(score):
        return b"inf" if score > 0 else b"-inf"
    if score == 0:
        return b"-0" if math.copysign(1.0, score) < 0 else 0
    if score.is_integer() and -(1 << 53) <= score <= (1 << 53):
        return int(score)
    return b"%.17g" % score  # d2string: snprintf("%.17g"), not the shortest repr


def _is_intset(members: Sequence[bytes], limit: int) -> list[int] | None:
    if len(members) > limit:
        return None
    out = []
    for m in members:
        v = listpack.try_int(m)
        if v is None:
            return None
        out.append(v)
    return out


def _quicklist_nodes(items: Sequence[bytes], max_bytes: int) -> list[tuple[int, bytes]]:
    """Split a list into (container, blob) nodes: ~max_bytes listpacks, plain nodes for giants."""
    nodes: list[tuple[int, bytes]] = []
    batch: list[bytes] = []
    size = 7
    for it in items:
        n = len(it)
        if n >= _PLAIN_NODE_THRESHOLD:
            if batch:
                nodes.append((2, listpack.encode(batch)))
                batch, size = [], 7
            nodes.append((1, bytes(it)))
            continue
        est = n + (2 if n < 64 else 4 if n < 4096 else 10)
        if batch and size + est > max_bytes:
            nodes.append((2, listpack.encode(batch)))
            batch, size = [], 7
        batch.append(it)
        size += est
    if batch:
        nodes.append((2, listpack.encode(batch)))
    return nodes


def _encode_object(kind: str, value: Any, compress: bool, limits: Limits) -> tuple[int, list[bytes]]:
    """``(rdb type byte, serialized parts)`` of a value, choosing Redis 7.0's encoding."""
    if kind == "string":
        return 0, [_string(bytes(value), compress)]
    if kind == "list":
        nodes = _quicklist_nodes(value, limits.list_max_listpack_bytes)
        if not nodes:
            raise ValueError("an empty list cannot be written")
        parts = [_len(len(nodes))]
        for container, blob in nodes:
            parts.append(b"\x01" if container == 1 else b"\x02")
            parts.append(_raw_string(blob, compress))
        return 18, parts
    if kind == "set":
        if not value:
            raise ValueError("an empty set cannot be written")
        ints = _is_intset(value, limits.set_max_intset_entries)
        if ints is not None:
            return 11, [_raw_string(intset.encode(ints), compress)]
        return 2, [_len(len(value)), *(_string(m, compress) for m in value)]
    if kind == "zset":
        if not value:
            raise ValueError("an empty zset cannot be written")
        small = len(value) <= limits.zset_max_listpack_entries and all(
            len(m) <= limits.zset_max_listpack_value for m, _ in value
        )
        if small:
            items: list[bytes | int] = []
            for m, sc in sorted(value, key=lambda p: (p[1], p[0])):
                items.append(m)
                items.append(_score_item(sc))
            return 17, [_raw_string(listpack.encode(items), compress)]
        parts = [_len(len(value))]
        for m, sc in sorted(value, key=lambda p: (p[1], p[0]), reverse=True):
            if math.isnan(sc):
                raise ValueError("a zset score cannot be NaN")
            parts.append(_string(m, compress))
            parts.append(_pack_f64le(sc))
        return 5, parts
    if kind == "hash":
        if not value:
            raise ValueError("an empty hash cannot be written")
        lim = limits.hash_max_listpack_value
        if len(value) <= limits.hash_max_listpack_entries and all(
            len(f) <= lim and len(v) <= lim for f, v in value
        ):
            flat: list[bytes | int] = []
            for f, v in value:
                flat.append(f)
                flat.append(v)
            return 16, [_raw_string(listpack.encode(flat), compress)]
        parts = [_len(len(value))]
        for f, v in value:
            parts.append(_string(f, compress))
            parts.append(_string(v, compress))
        return 4, parts
    if kind == "stream":
        return 19, _stream_parts(value, compress, limits)
    raise ValueError(f"unknown value type {kind!r}")


def _stream_parts(s: StreamValue, compress: bool, limits: Limits, rdb_type: int = 19) -> list[bytes]:
    """A stream as RDB_TYPE_STREAM_LISTPACKS_2 (what 7.0 writes).

    ``rdb_type`` 15 (Redis 5/6) or 21 (7.2) lays out the same data the way those
    versions did; aki writes 19 only, the others exist to test the reader.
    """
    nodes = list(
        listpacks_from_entries(s.entries, limits.stream_node_max_bytes, limits.stream_node_max_entries)
    )
    parts = [_len(len(nodes))]
    for node_key, blob in nodes:
        parts.append(_raw_string(node_key, compress))
        parts.append(_raw_string(blob, compress))
    first_id = s.entries[0][0] if s.entries else s.first_id
    parts += [_len(len(s.entries)), _len(s.last_id[0]), _len(s.last_id[1])]
    if rdb_type >= 19:
        parts += [
            _len(first_id[0]),
            _len(first_id[1]),
            _len(s.max_deleted_entry_id[0]),
            _len(s.max_deleted_entry_id[1]),
            _len(s.entries_added),
        ]
    parts.append(_len(len(s.groups)))
    for g in sorted(s.groups, key=lambda g: g.name):
        parts += [
            _raw_string(g.name, compress),
            _len(g.last_id[0]),
            _len(g.last_id[1]),
        ]
        if rdb_type >= 19:
            parts.append(_len(g.entries_read & _U64))
        pel = sorted(g.pending, key=lambda p: p.id)
        parts.append(_len(len(pel)))
        for p in pel:
            parts.append(struct.pack(">QQ", *p.id))
            parts.append(_pack_i64le(p.delivery_time))
            parts.append(_len(p.delivery_count))
        parts.append(_len(len(g.consumers)))
        for c in sorted(g.consumers, key=lambda c: c.name):
            parts.append(_raw_string(c.name, compress))
            parts.append(_pack_i64le(c.seen_time))
            if rdb_type >= 21:
                parts.append(_pack_i64le(c.active_time))
            ids = sorted(c.pending)
            parts.append(_len(len(ids)))
            parts += [struct.pack(">QQ", *i) for i in ids]
    return parts


class RDBWriter:
    """Write an RDB to a binary file object, key by key.

    Call ``begin()``, then ``write_function()`` for each library, then for each
    database ``select_db()`` and ``write_key()`` for its keys, then ``finish()``.
    Nothing is buffered beyond ~64 KiB plus the key being written.
    """

    def __init__(
        self,
        fileobj: BinaryIO,
        *,
        compress: bool = False,
        limits: Limits | None = None,
        redis_version: str = REDIS_VERSION,
        ctime: int | None = None,
        used_mem: int = 0,
        aof_base: bool = False,
        checksum: bool = True,
    ) -> None:
        self._f = fileobj
        self.compress = compress
        self.limits = limits or _DEFAULT_LIMITS
        self._aux = [
            (b"redis-ver", redis_version.encode()),
            (b"redis-bits", b"64"),
            (b"ctime", b"%d" % (int(time.time()) if ctime is None else ctime)),
            (b"used-mem", b"%d" % used_mem),
            (b"aof-base", b"1" if aof_base else b"0"),
        ]
        self._checksum = checksum
        self._buf: list[bytes] = []
        self._buffered = 0
        self._crc = 0
        self.bytes_written = 0
        self._state = "new"

    def _put(self, data: bytes) -> None:
        self._buf.append(data)
        self._buffered += len(data)
        if self._buffered >= _FLUSH_AT:
            self._flush()

    def _flush(self) -> None:
        if not self._buf:
            return
        chunk = b"".join(self._buf)
        self._buf.clear()
        self._buffered = 0
        if self._checksum:
            self._crc = crc64(chunk, self._crc)
        self._f.write(chunk)
        self.bytes_written += len(chunk)

    def _need(self, *states: str) -> None:
        if self._state not in states:
            raise RuntimeError(f"RDBWriter: call not allowed in state {self._state!r}")

    def begin(self, extra_aux: Iterable[tuple[bytes, bytes]] = ()) -> None:
        """The magic and the AUX fields Redis 7.0 writes (plus ``extra_aux``)."""
        self._need("new")
        self._put(b"REDIS%04d" % RDB_VERSION)
        for k, v in (*self._aux, *extra_aux):
            self.write_aux(k, v)
        self._state = "header"

    def write_aux(self, key: bytes, value: bytes) -> None:
        """One AUX field (opcode 250)."""
        self._put(b"\xfa" + _string(key, False) + _string(value, False))

    def write_function(self, code: bytes) -> None:
        """A function library as FUNCTION LOAD takes it (opcode 245, FUNCTION2)."""
        self._need("header", "db")
        self._put(b"\xf5" + _raw_string(bytes(code), self.compress))

    def select_db(self, db: int, size: int = 0, expires: int = 0) -> None:
        """Start database ``db``; ``size``/``expires`` are RESIZEDB hints (0 if unknown)."""
        self._need("header", "db")
        self._put(b"\xfe" + _len(db) + b"\xfb" + _len(size) + _len(expires))
        self._state = "db"

    def write_key(
        self,
        key: bytes,
        kind: str,
        value: Any,
        expire_ms: int | None = None,
        *,
        count: int | None = None,
    ) -> None:
        """One key. ``value`` shapes are those the reader yields (see ``KeyRecord``).

        For a huge list/set/zset/hash pass an iterator and its ``count``: it is then
        written element by element in the plain encoding (types 1/2/5/4, which Redis
        7.0 loads), holding only one element at a time.
        """
        self._need("db")
        head = b"" if expire_ms is None else b"\xfc" + _pack_i64le(expire_ms)
        if count is not None and kind in ("list", "set", "zset", "hash"):
            self._write_streamed(head, key, kind, value, count)
            return
        type_byte, parts = _encode_object(kind, value, self.compress, self.limits)
        parts.insert(0, head + bytes((type_byte,)) + _string(key, self.compress))
        self._put(b"".join(parts))

    def _write_streamed(self, head: bytes, key: bytes, kind: str, items: Iterable[Any], count: int) -> None:
        if count <= 0:
            raise ValueError(f"an empty {kind} cannot be written")
        type_byte = {"list": 1, "set": 2, "zset": 5, "hash": 4}[kind]
        self._put(head + bytes((type_byte,)) + _string(key, self.compress) + _len(count))
        written = 0
        compress = self.compress
        for it in items:
            written += 1
            if written > count:
                break
            if kind == "list" or kind == "set":
                self._put(_string(it, compress))
            elif kind == "hash":
                self._put(_string(it[0], compress) + _string(it[1], compress))
            else:
                if math.isnan(it[1]):
                    raise ValueError("a zset score cannot be NaN")
                self._put(_string(it[0], compress) + _pack_f64le(it[1]))
        if written != count:
            raise ValueError(f"{kind} {key!r}: count={count} but the iterator gave {written} elements")

    def finish(self) -> None:
        """EOF opcode and CRC64 trailer; flushes (does not close) the file object."""
        self._need("header", "db")
        self._put(b"\xff")
        self._flush()
        crc = self._crc if self._checksum else 0
        self._f.write(struct.pack("<Q", crc))
        self.bytes_written += 8
        self._state = "done"
        flush = getattr(self._f, "flush", None)
        if flush is not None:
            flush()


def write_rdb(
    fileobj: BinaryIO,
    keys: Iterable[tuple[int, bytes, str, Any, int | None]],
    functions: Iterable[bytes] = (),
    **options: Any,
) -> None:
    """Write a whole RDB from ``(db, key, type, value, expire_ms)`` tuples.

    Keys of one database should be consecutive (each switch writes a SELECTDB; a
    database split in two runs still loads, as Redis reads SELECTDB anywhere).
    """
    w = RDBWriter(fileobj, **options)
    w.begin()
    for code in functions:
        w.write_function(code)
    current: int | None = None
    for db, key, kind, value, expire_ms in keys:
        if db != current:
            w.select_db(db)
            current = db
        w.write_key(key, kind, value, expire_ms)
    w.finish()


def dump_value(kind: str, value: Any, *, compress: bool = False, limits: Limits | None = None) -> bytes:
    """The DUMP payload of one value: type, object, RDB version (u16 LE), CRC64 (LE)."""
    type_byte, parts = _encode_object(kind, value, compress, limits or _DEFAULT_LIMITS)
    body = bytes((type_byte,)) + b"".join(parts) + struct.pack("<H", RDB_VERSION)
    return body + struct.pack("<Q", crc64(body))
