"""Streaming RDB reader: records out of a binary file object, knowing nothing of storage.

Reads every RDB version 1..11 and every encoding a real Redis has written (see
``RDBReader``). Memory is bounded by one key's value (or one chunk of it, with
``chunk_size``), never by the file.

Invariants (what a corrupt or hostile input can and cannot do):

* Any malformed, truncated or unsupported input raises ``RDBError`` whose message
  names the byte offset; no ``IndexError``, ``struct.error``, ``ValueError`` or
  ``UnicodeDecodeError`` escapes. A length field cannot make the reader allocate
  more than the stream actually holds (bytes are read in bounded chunks).
* A key record is yielded only after its whole value parsed and validated; a
  failure inside a key never yields part of it. (With ``chunk_size`` a big plain
  collection is yielded in slices as it is read: a later error then leaves earlier
  slices delivered, and the caller must roll back, as it must for earlier keys.)
* The CRC64 trailer is verified when present and nonzero; a mismatch raises
  ``RDBError`` after the last record, so a caller commits only when iteration ends
  cleanly.
* Empty collections (a Redis bug of old could write them) are skipped with a
  warning naming the key, as Redis 7.0 skips them on load; an empty intset or
  zipmap is corruption (RDBError), as Redis 7.0's integrity checks say; module values are skipped
  with a warning naming the key. Nothing is ever skipped silently.
"""

from __future__ import annotations

import io
import math
import os
import struct
import warnings
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO, Literal, NamedTuple

from . import intset, listpack, lzf, ziplist, zipmap
from .crc64 import crc64
from .errors import (
    DUMP_BAD_FORMAT,
    DUMP_VERSION_OR_CHECKSUM,
    DumpPayloadError,
    RDBError,
)
from .stream import (
    StreamConsumer,
    StreamGroup,
    StreamPending,
    StreamValue,
    entries_from_listpack,
)

__all__ = [
    "MAX_VERSION",
    "AuxRecord",
    "FunctionRecord",
    "KeyRecord",
    "RDBReader",
    "RDBWarning",
    "Record",
    "iter_records",
    "load_value",
]

MAX_VERSION = 11
"""Newest RDB format this reader understands (Redis 7.2)."""

_CHUNK = 1 << 18
_MAX_READ = 1 << 24  # never ask the OS for more at once, whatever a length field claims

# Opcodes.
_OP_SLOT_INFO = 244
_OP_FUNCTION2 = 245
_OP_FUNCTION_PRE_GA = 246
_OP_MODULE_AUX = 247
_OP_IDLE = 248
_OP_FREQ = 249
_OP_AUX = 250
_OP_RESIZEDB = 251
_OP_EXPIRETIME_MS = 252
_OP_EXPIRETIME = 253
_OP_SELECTDB = 254
_OP_EOF = 255

TYPE_NAMES = {
    0: "string",
    1: "list",
    2: "set",
    3: "zset",
    4: "hash",
    5: "zset",
    6: "module",
    7: "module",
    9: "hash",
    10: "list",
    11: "set",
    12: "zset",
    13: "hash",
    14: "list",
    15: "stream",
    16: "hash",
    17: "zset",
    18: "list",
    19: "stream",
    20: "set",
    21: "stream",
    22: "hash",
    23: "hash",
    24: "hash",
    25: "hash",
}
_ENCODING_NAMES = {
    0: "string",
    1: "list-linked",
    2: "set-hashtable",
    3: "zset-v1",
    4: "hash-hashtable",
    5: "zset-v2",
    6: "module-pre-ga",
    7: "module-v2",
    9: "hash-zipmap",
    10: "list-ziplist",
    11: "set-intset",
    12: "zset-ziplist",
    13: "hash-ziplist",
    14: "quicklist",
    15: "stream",
    16: "hash-listpack",
    17: "zset-listpack",
    18: "quicklist-v2",
    19: "stream-v2",
    20: "set-listpack",
    21: "stream-v3",
    22: "hash-metadata-pre-ga",
    23: "hash-listpack-ex-pre-ga",
    24: "hash-metadata",
    25: "hash-listpack-ex",
}

ValueType = Literal["string", "list", "set", "zset", "hash", "stream"]


class KeyRecord(NamedTuple):
    """One key. ``value`` by type: string ``bytes``; list/set ``list[bytes]``; zset
    ``list[(member, score)]``; hash ``list[(field, value)]``; stream ``StreamValue``.
    ``expire_ms`` is an absolute unix time in milliseconds or None; keys already
    expired are yielded too (Redis drops them when it loads as a primary: the caller
    decides)."""

    db: int
    key: bytes
    type: ValueType
    value: Any
    expire_ms: int | None


class AuxRecord(NamedTuple):
    """An AUX field (``redis-ver``, ``ctime``, ``lua`` ...): informational, in file order."""

    kind: Literal["aux"]
    key: bytes
    value: bytes


class FunctionRecord(NamedTuple):
    """A function library (FUNCTION LOAD source, with its ``#!lua name=...`` shebang)."""

    kind: Literal["function"]
    code: bytes


Record = KeyRecord | AuxRecord | FunctionRecord


class RDBWarning(UserWarning):
    """Something in the file was skipped (module value, empty key)."""


class _Empty(Exception):
    """An empty collection: Redis skips the key on load and RESTORE refuses it."""


_MODULE_CHARSET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _module_name(module_id: int) -> str:
    """The 9-character type name packed in a module ID (``moduleTypeNameByID``)."""
    module_id >>= 10
    chars = []
    for _ in range(9):
        chars.append(_MODULE_CHARSET[module_id & 63])
        module_id >>= 6
    return "".join(reversed(chars))


_unpack_u32be = struct.Struct(">I").unpack
_unpack_u64be = struct.Struct(">Q").unpack
_unpack_i64le = struct.Struct("<q").unpack
_unpack_i32le = struct.Struct("<i").unpack
_unpack_f64le = struct.Struct("<d").unpack
_unpack_f32le = struct.Struct("<f").unpack


class _Input:
    """Buffered reads with the absolute offset and a running CRC64 of consumed bytes."""

    __slots__ = ("_read", "base", "buf", "crc", "crc_mark", "limit", "pos", "track_crc")

    def __init__(
        self,
        read: Callable[[int], bytes],
        initial: bytes = b"",
        track_crc: bool = True,
        limit: int | None = None,
    ) -> None:
        self._read = read
        self.limit = limit  # total size when known: a length past it fails at once
        self.buf = initial
        self.pos = 0
        self.base = 0
        self.crc = 0
        self.crc_mark = 0
        self.track_crc = track_crc

    @property
    def offset(self) -> int:
        return self.base + self.pos

    def need(self, n: int) -> None:
        """Make ``n`` bytes available at ``pos``, or raise a truncation error."""
        buf = self.buf
        pos = self.pos
        if len(buf) - pos >= n:
            return
        if self.limit is not None and self.base + pos + n > self.limit:
            raise RDBError(
                f"unexpected end of file (need {n} bytes, {self.limit - self.base - pos} left)",
                self.base + pos,
            )
        if self.track_crc and pos > self.crc_mark:
            self.crc = crc64(memoryview(buf)[self.crc_mark : pos], self.crc)
        parts = [buf[pos:]]
        got = len(parts[0])
        self.base += pos
        self.pos = 0
        self.crc_mark = 0
        while got < n:
            try:
                data = self._read(min(max(n - got, _CHUNK), _MAX_READ))
            except OSError as exc:
                raise RDBError(f"read error: {exc}", self.base + got) from exc
            if not data:
                self.buf = b"".join(parts)
                raise RDBError("unexpected end of file", self.base + got)
            parts.append(bytes(data))
            got += len(data)
        self.buf = b"".join(parts)

    def read(self, n: int) -> bytes:
        pos = self.pos
        end = pos + n
        if end > len(self.buf):
            self.need(n)
            pos = self.pos
            end = pos + n
        self.pos = end
        return self.buf[pos:end]

    def byte(self) -> int:
        pos = self.pos
        if pos >= len(self.buf):
            self.need(1)
            pos = self.pos
        self.pos = pos + 1
        return self.buf[pos]

    def finish_crc(self) -> int:
        """The CRC of every byte consumed so far."""
        if self.track_crc and self.pos > self.crc_mark:
            self.crc = crc64(memoryview(self.buf)[self.crc_mark : self.pos], self.crc)
            self.crc_mark = self.pos
        return self.crc

    def rest(self) -> bytes:
        """Bytes buffered beyond what was consumed (e.g. the AOF tail after a preamble)."""
        return self.buf[self.pos :]

    # -- RDB primitives -------------------------------------------------------------

    def length(self) -> int:
        """A length (``rdbLoadLen``); an integer/LZF-encoded marker is an error here."""
        b = self.byte()
        kind = b >> 6
        if kind == 0:
            return b & 0x3F
        if kind == 1:
            return ((b & 0x3F) << 8) | self.byte()
        if b == 0x80:
            return _unpack_u32be(self.read(4))[0]
        if b == 0x81:
            return _unpack_u64be(self.read(8))[0]
        if kind == 3:
            raise RDBError(f"encoded value 0x{b:02x} where a length was expected", self.offset - 1)
        raise RDBError(f"unknown length encoding 0x{b:02x}", self.offset - 1)

    def string(self) -> bytes:
        """A string (``rdbGenericLoadStringObject``): raw, integer-encoded or LZF."""
        buf = self.buf
        pos = self.pos
        if pos + 2 <= len(buf):
            b = buf[pos]
            if b < 0x40:  # the common case: 6-bit length, fully buffered
                end = pos + 1 + b
                if end <= len(buf):
                    self.pos = end
                    return buf[pos + 1 : end]
        b = self.byte()
        kind = b >> 6
        if kind == 0:
            n = b & 0x3F
        elif kind == 1:
            n = ((b & 0x3F) << 8) | self.byte()
        elif b == 0x80:
            n = _unpack_u32be(self.read(4))[0]
        elif b == 0x81:
            n = _unpack_u64be(self.read(8))[0]
        elif kind == 3:
            enc = b & 0x3F
            if enc == 0:
                v = self.byte()
                return b"%d" % (v - 256 if v >= 128 else v)
            if enc == 1:
                return b"%d" % int.from_bytes(self.read(2), "little", signed=True)
            if enc == 2:
                return b"%d" % int.from_bytes(self.read(4), "little", signed=True)
            if enc == 3:
                at = self.offset
                clen = self.length()
                ulen = self.length()
                data = self.read(clen)
                try:
                    return lzf.decompress(data, ulen)
                except ValueError as exc:
                    raise RDBError(f"corrupt LZF string: {exc}", at) from None
            raise RDBError(f"unknown string encoding {enc}", self.offset - 1)
        else:
            raise RDBError(f"unknown length encoding 0x{b:02x}", self.offset - 1)
        return self.read(n)


class RDBReader:
    """Iterate over the records of one RDB stream.

    ``records()`` yields ``KeyRecord``, ``AuxRecord`` and ``FunctionRecord`` in file
    order. After a clean iteration ``version``, ``aux`` (dict of AUX fields),
    ``checksum`` (the trailer, or None), ``complete`` and ``tail()`` (bytes read past
    the EOF trailer, e.g. the AOF tail after an RDB preamble: the AOF loader goes on
    with ``tail()`` followed by the rest of the stream) describe the file.

    ``on_warning(message)`` receives each skip notice; by default they go to
    ``warnings.warn`` with ``RDBWarning``. ``chunk_size`` (elements) lets a caller
    batch huge plain collections: such a key then arrives as consecutive KeyRecords
    with the same db and key, each holding a slice of the elements.
    """

    def __init__(
        self,
        stream: BinaryIO,
        *,
        on_warning: Callable[[str], None] | None = None,
        verify_checksum: bool = True,
        chunk_size: int | None = None,
    ) -> None:
        read = getattr(stream, "read1", None) or stream.read
        self._in = _Input(read, track_crc=verify_checksum, limit=_remaining_size(stream))
        self._warn = on_warning or _default_warning
        self.verify_checksum = verify_checksum
        self.chunk_size = chunk_size if chunk_size and chunk_size > 0 else None
        self.version = 0
        self.aux: dict[bytes, bytes] = {}
        self.checksum: int | None = None
        self.idle: int | None = None  # LRU idle seconds of the last key, when the file has it
        self.freq: int | None = None  # LFU counter of the last key, when the file has it
        self.skipped = 0
        self.complete = False  # True once the EOF opcode and checksum were read and verified

    def tail(self) -> bytes:
        """Bytes already buffered after the RDB's end (only meaningful after iteration)."""
        return self._in.rest()

    def records(self) -> Iterator[Record]:
        """Parse the file, yielding each record as soon as it is complete."""
        inp = self._in
        magic = inp.read(9)
        if magic[:5] != b"REDIS" or not magic[5:].isdigit():
            raise RDBError("not an RDB file (bad magic)", 0)
        version = int(magic[5:])
        if version < 1 or version > MAX_VERSION:
            raise RDBError(
                f"unsupported RDB format version {version} (this reader handles 1..{MAX_VERSION})",
                5,
            )
        self.version = version
        db = 0
        expire: int | None = None
        idle = freq = None
        chunked = self.chunk_size is not None
        while True:
            # The opcode byte, inlined: this loop runs once per key.
            pos = inp.pos
            if pos < len(inp.buf):
                at = inp.base + pos
                op = inp.buf[pos]
                inp.pos = pos + 1
            else:
                at = inp.offset
                op = inp.byte()
            if op < _OP_SLOT_INFO:
                key = inp.string()
                if chunked and op in _PLAIN_COLLECTIONS:
                    yield from self._chunked(op, db, key, expire, at)
                else:
                    try:
                        value = _read_value(inp, op)
                    except _Empty:
                        self._skip(f"skipping empty key: {_plain(key)} (db {db}, {_ENCODING_NAMES.get(op)})")
                    except _Skip as s:
                        self._skip(f"skipping {s.args[0]} key {key!r} in db {db}")
                    except RDBError as exc:
                        if exc.offset is None:
                            exc = RDBError(exc.reason, at)
                        raise RDBError(f"{exc.reason} in key {_show(key)} (type {op})", exc.offset) from None
                    except (
                        ValueError,
                        IndexError,
                        struct.error,
                        OverflowError,
                        UnicodeDecodeError,
                    ) as exc:
                        raise RDBError(
                            f"corrupt value of key {_show(key)} (type {op}, {_ENCODING_NAMES.get(op, '?')}): {exc}",
                            at,
                        ) from None
                    else:
                        self.idle, self.freq = idle, freq
                        yield KeyRecord(db, key, TYPE_NAMES[op], value, expire)  # type: ignore[arg-type]
                expire = None
                idle = freq = None
            elif op == _OP_EXPIRETIME_MS:
                expire = _unpack_i64le(inp.read(8))[0]
            elif op == _OP_EXPIRETIME:
                expire = _unpack_i32le(inp.read(4))[0] * 1000
            elif op == _OP_SELECTDB:
                db = inp.length()
            elif op == _OP_RESIZEDB:
                inp.length()
                inp.length()
            elif op == _OP_AUX:
                k = inp.string()
                v = inp.string()
                self.aux[k] = v
                yield AuxRecord("aux", k, v)
            elif op == _OP_FUNCTION2:
                yield FunctionRecord("function", inp.string())
            elif op == _OP_FUNCTION_PRE_GA:
                yield FunctionRecord("function", _old_function(inp))
            elif op == _OP_IDLE:
                idle = inp.length()
            elif op == _OP_FREQ:
                freq = inp.byte()
            elif op == _OP_MODULE_AUX:
                module_id = inp.length()
                when_op = inp.length()
                if when_op != 2:
                    raise RDBError("module aux data with a bad 'when' opcode", at)
                inp.length()
                _skip_module_value(inp)
                self._skip(f"skipping module aux data of module '{_module_name(module_id)}'")
            elif op == _OP_SLOT_INFO:
                inp.length()
                inp.length()
                inp.length()
            elif op == _OP_EOF:
                break
            else:  # unreachable: every byte value is covered above
                raise RDBError(f"unknown opcode {op}", at)
        crc = inp.finish_crc()
        if version >= 5:
            at = inp.offset
            stored = struct.unpack("<Q", inp.read(8))[0]
            self.checksum = stored
            if self.verify_checksum and stored != 0 and stored != crc:
                raise RDBError(
                    f"RDB CRC error (checksum mismatch): file says {stored:016x}, computed {crc:016x}",
                    at,
                )
        self.complete = True

    def __iter__(self) -> Iterator[Record]:
        return self.records()

    def _skip(self, message: str) -> None:
        self.skipped += 1
        self._warn(message)

    def _chunked(self, op: int, db: int, key: bytes, expire: int | None, at: int) -> Iterator[KeyRecord]:
        """A plain (element by element) collection yielded in slices of ``chunk_size``."""
        inp = self._in
        name = TYPE_NAMES[op]
        size = self.chunk_size or 1
        try:
            n = inp.length()
            if n == 0:
                self._skip(f"skipping empty key: {_plain(key)} (db {db}, {_ENCODING_NAMES.get(op)})")
                return
            batch: list[Any] = []
            seen: set[bytes] = set()  # duplicates are corruption: Redis refuses the file
            for _ in range(n):
                item = _read_plain_item(inp, op)
                if op != 1:
                    member = item if op == 2 else item[0]
                    if member in seen:
                        raise ValueError(f"duplicate member {_show(member)}")
                    seen.add(member)
                batch.append(item)
                if len(batch) >= size:
                    yield KeyRecord(db, key, name, batch, expire)  # type: ignore[arg-type]
                    batch = []
            if batch:
                yield KeyRecord(db, key, name, batch, expire)  # type: ignore[arg-type]
        except RDBError as exc:
            raise RDBError(f"{exc.reason} in key {_show(key)} (type {op})", exc.offset) from None
        except (ValueError, IndexError, struct.error, OverflowError) as exc:
            raise RDBError(f"corrupt value of key {_show(key)} (type {op}): {exc}", at) from None


def _remaining_size(stream: BinaryIO) -> int | None:
    """Bytes left in a seekable file, else None (pipes, sockets)."""
    try:
        if not stream.seekable():
            return None
        here = stream.tell()
        try:
            size = os.fstat(stream.fileno()).st_size
        except (OSError, AttributeError, io.UnsupportedOperation):
            size = stream.seek(0, os.SEEK_END)
            stream.seek(here)
        return max(size - here, 0)
    except (OSError, ValueError, AttributeError):
        return None


class _Skip(Exception):
    """A value that was read past but cannot be represented (module data)."""


def _default_warning(message: str) -> None:
    warnings.warn(message, RDBWarning, stacklevel=3)


def _plain(key: bytes) -> str:
    """A key as Redis's log prints it (raw bytes; undecodable ones escaped)."""
    return key[:128].decode("utf-8", "backslashreplace")


def _show(key: bytes) -> str:
    text = repr(key[:64])
    return text + ("..." if len(key) > 64 else "")


_PLAIN_COLLECTIONS = frozenset((1, 2, 3, 4, 5))


def _read_double_str(inp: _Input) -> float:
    """A zset score in the pre-RDB-8 text form (``rdbLoadDoubleValue``)."""
    n = inp.byte()
    if n == 255:
        return -math.inf
    if n == 254:
        return math.inf
    if n == 253:
        return math.nan
    text = inp.read(n)
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"invalid score {text!r}") from None


def _read_plain_item(inp: _Input, op: int) -> Any:
    """One element of a plain list/set (bytes), zset (member, score) or hash (field, value)."""
    if op == 1 or op == 2:
        return inp.string()
    if op == 4:
        return (inp.string(), inp.string())
    member = inp.string()
    score = _unpack_f64le(inp.read(8))[0] if op == 5 else _read_double_str(inp)
    if math.isnan(score):
        raise ValueError("zset with NaN score")
    return (member, score)


def _pairs(items: list[bytes]) -> list[tuple[bytes, bytes]]:
    if len(items) & 1:
        raise ValueError("odd number of elements in a field/value encoding")
    return list(zip(items[::2], items[1::2], strict=True))


def _score(raw: bytes | int) -> float:
    if type(raw) is int:
        return float(raw)
    try:
        v = float(raw)  # type: ignore[arg-type]
    except ValueError:
        raise ValueError(f"invalid score {raw!r}") from None
    if math.isnan(v):
        raise ValueError("zset with NaN score")
    return v


def _zset_pairs(items: list[bytes | int]) -> list[tuple[bytes, float]]:
    if len(items) & 1:
        raise ValueError("odd number of elements in a zset encoding")
    out = []
    for i in range(0, len(items), 2):
        m = items[i]
        out.append((m if type(m) is bytes else b"%d" % m, _score(items[i + 1])))  # type: ignore[str-bytes-safe]
    return out


def _no_dups(items: list[Any], key_of: Callable[[Any], bytes] | None, what: str) -> None:
    keys = items if key_of is None else [key_of(x) for x in items]
    if len(set(keys)) != len(keys):
        raise ValueError(f"duplicate {what} detected")


def _first(x: tuple[bytes, Any]) -> bytes:
    return x[0]


def _read_value(inp: _Input, op: int) -> Any:
    """Parse the value of type ``op``; raises _Empty, _Skip, RDBError or ValueError."""
    if op == 0:
        return inp.string()
    if op in _PLAIN_COLLECTIONS:
        n = inp.length()
        if n == 0:
            raise _Empty
        if op == 1:
            string = inp.string
            return [string() for _ in range(n)]
        if op == 2:
            string = inp.string
            items = [string() for _ in range(n)]
            _no_dups(items, None, "set members")
            return items
        if op == 4:
            string = inp.string
            pairs = [(string(), string()) for _ in range(n)]
            _no_dups(pairs, _first, "hash fields")
            return pairs
        zs = [_read_plain_item(inp, op) for _ in range(n)]
        _no_dups(zs, _first, "zset members")
        return zs
    if op == 14 or op == 18:
        return _read_quicklist(inp, op)
    if op in _BLOB_TYPES:
        at = inp.offset
        blob = inp.string()
        try:
            value = _BLOB_TYPES[op](blob)
            if op in _UNIQUE_BLOBS:  # a field twice is corruption (Redis's dup checks)
                _no_dups(value, *_UNIQUE_BLOBS[op])
        except (ValueError, IndexError, struct.error) as exc:
            raise RDBError(f"corrupt {_ENCODING_NAMES[op]} encoding: {exc}", at) from None
        if not value:
            raise _Empty
        return value
    if op in (15, 19, 21):
        return _read_stream(inp, op)
    if op == 7:
        module_id = inp.length()
        _skip_module_value(inp)
        raise _Skip(f"module value (module type '{_module_name(module_id)}')")
    if op == 6:
        raise RDBError("pre-release module value (type 6) cannot be parsed or skipped")
    if op in (22, 23, 24, 25):
        raise RDBError(
            f"unsupported value type {op} ({_ENCODING_NAMES[op]}: hash with field expiry, Redis 7.4+)"
        )
    raise RDBError(f"unknown value type {op}")


def _set_intset(blob: bytes) -> list[bytes]:
    return [b"%d" % v for v in intset.decode(blob)]


def _set_listpack(blob: bytes) -> list[bytes]:
    return listpack.decode_strings(blob)


def _hash_zipmap(blob: bytes) -> list[tuple[bytes, bytes]]:
    pairs = zipmap.decode(blob)
    _no_dups(pairs, _first, "hash fields")
    return pairs


_BLOB_TYPES: dict[int, Callable[[bytes], Any]] = {
    9: _hash_zipmap,
    10: ziplist.decode_strings,
    11: _set_intset,
    12: lambda b: _zset_pairs(ziplist.decode(b)),
    13: lambda b: _pairs(ziplist.decode_strings(b)),
    16: lambda b: _pairs(listpack.decode_strings(b)),
    17: lambda b: _zset_pairs(listpack.decode(b)),
    20: _set_listpack,
}

# encodings whose elements are unique: how to read an element's identity, and its name
_UNIQUE_BLOBS: dict[int, tuple[Callable[[Any], bytes] | None, str]] = {
    9: (_first, "hash fields"), 11: (None, "set members"), 12: (_first, "zset members"),
    13: (_first, "hash fields"), 16: (_first, "hash fields"), 17: (_first, "zset members"),
    20: (None, "set members"),
}


def _read_quicklist(inp: _Input, op: int) -> list[bytes]:
    nodes = inp.length()
    if nodes == 0:
        raise _Empty
    out: list[bytes] = []
    for _ in range(nodes):
        container = 2
        if op == 18:
            at = inp.offset
            container = inp.length()
            if container not in (1, 2):
                raise RDBError(f"quicklist node with invalid container {container}", at)
        at = inp.offset
        blob = inp.string()
        if not blob:
            raise RDBError("empty quicklist node", at)
        if container == 1:  # a plain node: one big element stored as is
            out.append(blob)
            continue
        try:
            out += listpack.decode_strings(blob) if op == 18 else ziplist.decode_strings(blob)
        except (ValueError, IndexError, struct.error) as exc:
            raise RDBError(f"corrupt quicklist node: {exc}", at) from None
    if not out:
        raise _Empty
    return out


def _stream_id(inp: _Input) -> tuple[int, int]:
    return (inp.length(), inp.length())


def _signed64(v: int) -> int:
    return v - (1 << 64) if v >= (1 << 63) else v


def _read_stream(inp: _Input, op: int) -> StreamValue:
    s = StreamValue()
    nodes = inp.length()
    last_key = b""
    for _ in range(nodes):
        at = inp.offset
        node_key = inp.string()
        blob = inp.string()
        if len(node_key) != 16:
            raise RDBError("stream node key is not the size of a stream ID", at)
        if node_key <= last_key:
            raise RDBError("stream nodes out of order or duplicated", at)
        last_key = node_key
        try:
            entries = entries_from_listpack(node_key, blob)
        except (ValueError, IndexError, struct.error) as exc:
            raise RDBError(f"corrupt stream node: {exc}", at) from None
        s.entries += entries
    s.length = inp.length()
    s.last_id = _stream_id(inp)
    if op >= 19:
        s.first_id = _stream_id(inp)
        s.max_deleted_entry_id = _stream_id(inp)
        s.entries_added = inp.length()
    else:
        s.first_id = s.entries[0][0] if s.entries else (0, 0)
        s.entries_added = s.length
    if s.length != len(s.entries):
        raise RDBError(
            f"stream length {s.length} does not match its {len(s.entries)} entries",
            inp.offset,
        )
    ngroups = inp.length()
    names: set[bytes] = set()
    for _ in range(ngroups):
        at = inp.offset
        name = inp.string()
        if name in names:
            raise RDBError(f"duplicated consumer group name {_show(name)}", at)
        names.add(name)
        last_id = _stream_id(inp)
        if op >= 19:
            entries_read = _signed64(inp.length())
        else:
            entries_read = _estimate_entries_read(s, last_id)
        group = StreamGroup(name, last_id, entries_read)
        pel: dict[bytes, StreamPending] = {}
        for _ in range(inp.length()):
            at = inp.offset
            raw = inp.read(16)
            delivery_time = _unpack_i64le(inp.read(8))[0]
            count = inp.length()
            if raw in pel:
                raise RDBError("duplicated global PEL entry in a stream consumer group", at)
            nack = StreamPending(struct.unpack(">QQ", raw), None, delivery_time, count)
            pel[raw] = nack
            group.pending.append(nack)
        consumer_names: set[bytes] = set()
        for _ in range(inp.length()):
            at = inp.offset
            cname = inp.string()
            if cname in consumer_names:
                raise RDBError(f"duplicate stream consumer {_show(cname)}", at)
            consumer_names.add(cname)
            seen = _unpack_i64le(inp.read(8))[0]
            active = _unpack_i64le(inp.read(8))[0] if op >= 21 else seen
            consumer = StreamConsumer(cname, seen, active)
            for _ in range(inp.length()):
                at = inp.offset
                raw = inp.read(16)
                found = pel.get(raw)
                if found is None:
                    raise RDBError("consumer PEL entry not found in the group PEL", at)
                if found.consumer is not None:
                    raise RDBError("stream PEL entry owned by two consumers", at)
                found.consumer = cname
                consumer.pending.append(found.id)
            group.consumers.append(consumer)
        s.groups.append(group)
    return s


def _estimate_entries_read(s: StreamValue, gid: tuple[int, int]) -> int:
    """Redis's ``streamEstimateDistanceFromFirstEverEntry`` for v1 streams (no counter stored)."""
    if not s.entries_added:
        return 0
    if not s.length and gid <= s.last_id:
        return s.entries_added
    if gid == s.last_id:
        return s.entries_added
    if gid > s.last_id:
        return -1
    if s.max_deleted_entry_id == (0, 0) or s.max_deleted_entry_id < s.first_id:
        if gid < s.first_id:
            return s.entries_added - s.length
        if gid == s.first_id:
            return s.entries_added - s.length + 1
    return -1


def _skip_module_value(inp: _Input) -> None:
    """Walk a module-v2 serialized value (typed opcodes up to EOF) without understanding it."""
    while True:
        at = inp.offset
        opcode = inp.length()
        if opcode == 0:
            return
        if opcode == 1 or opcode == 2:
            inp.length()
        elif opcode == 3:
            inp.read(4)
        elif opcode == 4:
            inp.read(8)
        elif opcode == 5:
            inp.string()
        else:
            raise RDBError(f"unknown module value opcode {opcode}", at)


def _old_function(inp: _Input) -> bytes:
    """A 7.0-rc library (opcode 246) translated to the FUNCTION LOAD form, as Redis does."""
    name = inp.string()
    engine = inp.string()
    if inp.length():
        inp.string()  # description: dropped by Redis too
    code = inp.string()
    return b"#!" + engine + b" name=" + name + b"\n" + code


def _no_more(n: int) -> bytes:
    return b""


def iter_records(
    stream: BinaryIO,
    *,
    on_warning: Callable[[str], None] | None = None,
    verify_checksum: bool = True,
    chunk_size: int | None = None,
) -> Iterator[Record]:
    """Stream the records of an RDB file object (see ``RDBReader`` for the options)."""
    return RDBReader(
        stream,
        on_warning=on_warning,
        verify_checksum=verify_checksum,
        chunk_size=chunk_size,
    ).records()


def load_value(payload: bytes, *, max_version: int = 10,
               verify_checksum: bool = True) -> tuple[ValueType, Any]:
    """Parse a DUMP payload into ``(type, value)`` as RESTORE would.

    Version above ``max_version`` (Redis 7.0 accepts up to 10) or a wrong CRC raises
    ``DumpPayloadError`` with Redis's exact text; an unparsable or empty value raises
    it with ``ERR Bad data format``.
    """
    payload = bytes(payload)
    if len(payload) < 10:
        raise DumpPayloadError(DUMP_VERSION_OR_CHECKSUM, "payload shorter than its footer")
    ver = payload[-10] | (payload[-9] << 8)
    if ver > max_version:
        raise DumpPayloadError(
            DUMP_VERSION_OR_CHECKSUM,
            f"payload RDB version {ver} is newer than {max_version}",
        )
    if verify_checksum and \
            crc64(memoryview(payload)[:-8]) != struct.unpack_from("<Q", payload, len(payload) - 8)[0]:
        raise DumpPayloadError(DUMP_VERSION_OR_CHECKSUM, "payload checksum mismatch")
    body = payload[:-10]
    inp = _Input(_no_more, body, track_crc=False)
    op = body[0] if body else -1
    if op not in TYPE_NAMES or op in (6, 7, 22, 23, 24, 25):
        raise DumpPayloadError(DUMP_BAD_FORMAT, f"unsupported value type {op}", 0)
    inp.pos = 1
    try:
        value = _read_value(inp, op)
    except _Empty:
        raise DumpPayloadError(DUMP_BAD_FORMAT, "empty collection") from None
    except RDBError as exc:
        raise DumpPayloadError(DUMP_BAD_FORMAT, exc.reason, exc.offset) from None
    except (
        _Skip,
        ValueError,
        IndexError,
        struct.error,
        OverflowError,
        UnicodeDecodeError,
    ) as exc:
        raise DumpPayloadError(DUMP_BAD_FORMAT, str(exc), inp.offset) from None
    return TYPE_NAMES[op], value  # type: ignore[return-value]
