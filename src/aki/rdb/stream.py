"""Stream values as the RDB carries them (``t_stream.c``), decoded into plain dataclasses.

A stream is a radix tree of listpacks. Each listpack starts with a "master entry"
(live count, deleted count, the master field names, a 0 terminator); every entry
then stores ``flags, ms-delta, seq-delta``, its fields (or only the values when the
SAMEFIELDS flag says they equal the master fields) and an ``lp-count`` used to walk
backwards. IDs are deltas from the node key, a 128-bit big-endian ``ms, seq``.

``entries_from_listpack`` expands one node (dropping entries flagged deleted) and
raises ``ValueError`` on any structural mismatch. ``listpacks_from_entries`` packs
entries into nodes the way ``streamAppendItem`` would with the default
``stream-node-max-bytes 4096`` / ``stream-node-max-entries 100``.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from . import listpack

__all__ = [
    "StreamConsumer",
    "StreamEntry",
    "StreamGroup",
    "StreamID",
    "StreamPending",
    "StreamValue",
    "entries_from_listpack",
    "listpacks_from_entries",
]

StreamID = tuple[int, int]
"""(milliseconds, sequence)."""

StreamEntry = tuple[StreamID, list[tuple[bytes, bytes]]]
"""One entry: its ID and its (field, value) pairs in insertion order."""

_FLAG_DELETED = 1
_FLAG_SAMEFIELDS = 2
_U64 = (1 << 64) - 1


@dataclass(slots=True)
class StreamPending:
    """A pending (delivered, not acknowledged) entry of a consumer group: a NACK."""

    id: StreamID
    consumer: bytes | None  # None only in a file whose consumer PELs do not cover the group PEL
    delivery_time: int  # unix ms of the last delivery
    delivery_count: int


@dataclass(slots=True)
class StreamConsumer:
    """A consumer of a group; ``pending`` lists the IDs of the group PEL it owns."""

    name: bytes
    seen_time: int  # unix ms
    active_time: int  # unix ms; RDB 11+ (type 21) stores it, older files repeat seen_time
    pending: list[StreamID] = field(default_factory=list)


@dataclass(slots=True)
class StreamGroup:
    """A consumer group; ``entries_read`` is -1 when Redis marks it unknown."""

    name: bytes
    last_id: StreamID
    entries_read: int
    pending: list[StreamPending] = field(default_factory=list)
    consumers: list[StreamConsumer] = field(default_factory=list)


@dataclass(slots=True)
class StreamValue:
    """A whole stream: entries in ID order plus the metadata XINFO shows."""

    entries: list[StreamEntry] = field(default_factory=list)
    length: int = 0
    last_id: StreamID = (0, 0)
    first_id: StreamID = (0, 0)
    max_deleted_entry_id: StreamID = (0, 0)
    entries_added: int = 0
    groups: list[StreamGroup] = field(default_factory=list)


def _as_bytes(e: bytes | int) -> bytes:
    return e if type(e) is bytes else b"%d" % e  # type: ignore[return-value]


def _as_int(e: bytes | int, what: str) -> int:
    if type(e) is int:
        return e  # type: ignore[return-value]
    v = listpack.try_int(e)  # type: ignore[arg-type]
    if v is None:
        raise ValueError(f"stream listpack: {what} is not an integer")
    return v


def entries_from_listpack(node_key: bytes, blob: bytes) -> list[StreamEntry]:
    """The live entries of one stream node (``node_key`` is the 16-byte master ID)."""
    if len(node_key) != 16:
        raise ValueError("stream node key is not the size of a stream ID")
    master_ms, master_seq = struct.unpack(">QQ", node_key)
    e = listpack.decode(blob)
    n = len(e)
    if n < 4:
        raise ValueError("stream listpack has no master entry")
    count = _as_int(e[0], "entry count")
    deleted = _as_int(e[1], "deleted count")
    nfields = _as_int(e[2], "master field count")
    if nfields < 0 or count < 0 or deleted < 0 or 3 + nfields >= n:
        raise ValueError("stream listpack master entry is malformed")
    master_fields = [_as_bytes(x) for x in e[3 : 3 + nfields]]
    if _as_int(e[3 + nfields], "master terminator") != 0:
        raise ValueError("stream listpack master entry is not 0-terminated")
    i = 4 + nfields
    out: list[StreamEntry] = []
    for _ in range(count + deleted):
        if i + 3 > n:
            raise ValueError("stream listpack ends inside an entry")
        flags = _as_int(e[i], "flags")
        ms = (master_ms + _as_int(e[i + 1], "ms delta")) & _U64
        seq = (master_seq + _as_int(e[i + 2], "seq delta")) & _U64
        i += 3
        if flags & _FLAG_SAMEFIELDS:
            if i + nfields + 1 > n:
                raise ValueError("stream listpack ends inside an entry")
            pairs = [(f, _as_bytes(v)) for f, v in zip(master_fields, e[i : i + nfields], strict=True)]
            i += nfields
            expect = nfields + 3
        else:
            if i >= n:
                raise ValueError("stream listpack ends inside an entry")
            nf = _as_int(e[i], "field count")
            i += 1
            if nf < 0 or i + 2 * nf + 1 > n:
                raise ValueError("stream listpack ends inside an entry")
            kv = e[i : i + 2 * nf]
            pairs = [(_as_bytes(kv[j]), _as_bytes(kv[j + 1])) for j in range(0, 2 * nf, 2)]
            i += 2 * nf
            expect = 2 * nf + 4
        if _as_int(e[i], "lp-count") != expect:
            raise ValueError("stream listpack entry has a wrong lp-count")
        i += 1
        if not flags & _FLAG_DELETED:
            out.append(((ms, seq), pairs))
    if i != n:
        raise ValueError("stream listpack has elements after its last entry")
    if len(out) != count:
        raise ValueError("stream listpack live count does not match its entries")
    return out


def _delta(a: int, b: int) -> int:
    """``a - b`` as the int64 Redis stores (uint64 arithmetic, signed view)."""
    d = (a - b) & _U64
    return d - (1 << 64) if d >= (1 << 63) else d


def listpacks_from_entries(
    entries: Sequence[StreamEntry], max_bytes: int = 4096, max_entries: int = 100
) -> Iterator[tuple[bytes, bytes]]:
    """Yield ``(node_key, listpack)`` nodes holding ``entries`` (which must be in ID order)."""
    items: list[bytes | int] = []
    master: StreamID = (0, 0)
    master_fields: list[bytes] = []
    count = 0
    size = 0

    def finish() -> tuple[bytes, bytes]:
        items[0] = count
        return struct.pack(">QQ", *master), listpack.encode(items)

    for eid, pairs in entries:
        fields = [f for f, _ in pairs]
        totelelen = sum(len(f) + len(v) for f, v in pairs)
        if count and (size + totelelen >= max_bytes or count >= max_entries):
            yield finish()
            count = 0
        if count == 0:
            master = eid
            master_fields = fields
            items = [0, 0, len(fields), *fields, 0]
            size = 7 + sum(len(f) + 2 for f in fields) + 3
        ms_d = _delta(eid[0], master[0])
        seq_d = _delta(eid[1], master[1])
        if fields == master_fields:
            items += [_FLAG_SAMEFIELDS, ms_d, seq_d]
            items += [v for _, v in pairs]
            items.append(len(pairs) + 3)
        else:
            items += [0, ms_d, seq_d, len(pairs)]
            for f, v in pairs:
                items += [f, v]
            items.append(2 * len(pairs) + 4)
        # Approximate lpBytes growth: payload plus ~2 bytes of header/backlen per element.
        size += totelelen + 2 * (2 * len(pairs) + 5)
        count += 1
    if count:
        yield finish()
