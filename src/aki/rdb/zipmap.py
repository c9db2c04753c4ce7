"""Zipmap (``zipmap.c``): the small-hash encoding of Redis before 2.6, still found in old RDBs.

Layout: ``<zmlen u8><len>key<len><free u8>value<free bytes>...<0xFF>``. A length is one
byte below 254, or 254 and a 32-bit little-endian length; 255 ends the map. ``free``
is slack after the value that must be skipped. ``decode`` checks every bound and
raises ``ValueError`` on malformed (or empty) input, as ``zipmapValidateIntegrity`` would.
"""

from __future__ import annotations

import struct

__all__ = ["decode"]


def _len(blob: bytes, p: int) -> tuple[int, int]:
    b = blob[p]
    if b < 254:
        return b, p + 1
    if b == 254:
        if p + 5 > len(blob):
            raise ValueError("zipmap length past the end")
        return struct.unpack_from("<I", blob, p + 1)[0], p + 5
    raise ValueError("zipmap length is the end marker")


def decode(blob: bytes) -> list[tuple[bytes, bytes]]:
    """The (field, value) pairs of the zipmap, in stored order."""
    n = len(blob)
    if n < 2:
        raise ValueError("zipmap shorter than its header")
    out: list[tuple[bytes, bytes]] = []
    p = 1
    while True:
        if p >= n:
            raise ValueError("zipmap is not terminated")
        if blob[p] == 0xFF:
            p += 1
            break
        klen, p = _len(blob, p)
        if p + klen >= n:
            raise ValueError("zipmap key past the end")
        key = blob[p : p + klen]
        p += klen
        vlen, p = _len(blob, p)
        if p >= n:
            raise ValueError("zipmap value past the end")
        free = blob[p]
        p += 1
        if p + vlen + free >= n:
            raise ValueError("zipmap value past the end")
        out.append((key, blob[p : p + vlen]))
        p += vlen + free
    if p != n:
        raise ValueError("zipmap has bytes after its terminator")
    if not out:
        raise ValueError("empty zipmap")  # Redis 7.0 refuses it as corrupt, unlike other empties
    if blob[0] < 254 and blob[0] != len(out):
        raise ValueError(f"zipmap header says {blob[0]} pairs, found {len(out)}")
    return out
