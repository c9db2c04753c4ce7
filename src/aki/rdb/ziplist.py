"""Ziplist (``ziplist.c``), the small-collection encoding of RDB versions before listpack.

Layout: ``<zlbytes u32><zltail u32><zllen u16><entry>...<0xFF>``. An entry is
``<prevlen><encoding><data>``: prevlen is one byte, or 0xFE and a 32-bit length;
string encodings carry 6, 14 (big-endian) or 32 (big-endian) bit lengths; integer
encodings are 16/32/64/24/8 bit little-endian or an immediate 0..12 in the low nibble.

Redis 7 only reads ziplists (from old RDBs and DUMP payloads), converting them to
listpacks after ``ziplistValidateIntegrity`` with deep checks. ``decode`` does the
same checks (total size, tail offset, every prevlen against the previous entry's
size, entry bounds, the count unless it is the 65535 marker, the terminator) and
raises ``ValueError`` on the first mismatch.
"""

from __future__ import annotations

import struct

__all__ = ["decode", "decode_strings"]

_hdr = struct.Struct("<IIH").unpack_from
_u32 = struct.Struct("<I").unpack_from
_be32 = struct.Struct(">I").unpack_from
_i16 = struct.Struct("<h").unpack_from
_i32 = struct.Struct("<i").unpack_from
_i64 = struct.Struct("<q").unpack_from


def decode(blob: bytes) -> list[bytes | int]:
    """Every element: ``int`` for integer encodings, ``bytes`` for strings."""
    n = len(blob)
    if n < 11:
        raise ValueError("ziplist shorter than its header")
    zlbytes, zltail, zllen = _hdr(blob, 0)
    if zlbytes != n:
        raise ValueError(f"ziplist header says {zlbytes} bytes, blob has {n}")
    end = n - 1
    if blob[end] != 0xFF:
        raise ValueError("ziplist is not terminated by 0xFF")
    out: list[bytes | int] = []
    append = out.append
    p = 10
    prev_size = 0
    last = 10
    while p < end:
        start = p
        b = blob[p]
        if b < 0xFE:
            prevlen = b
            p += 1
        elif b == 0xFE:
            if p + 5 > end:
                raise ValueError("ziplist prevlen past the end")
            prevlen = _u32(blob, p + 1)[0]
            p += 5
        else:
            raise ValueError("ziplist entry starts with the end marker")
        if prevlen != prev_size:
            raise ValueError("ziplist prevlen does not match the previous entry")
        if p >= end:
            raise ValueError("ziplist entry past the end")
        e = blob[p]
        kind = e >> 6
        if kind == 0:
            length = e & 0x3F
            p += 1
        elif kind == 1:
            if p + 2 > end:
                raise ValueError("ziplist entry past the end")
            length = ((e & 0x3F) << 8) | blob[p + 1]
            p += 2
        elif kind == 2:
            if p + 5 > end:
                raise ValueError("ziplist entry past the end")
            if e != 0x80:
                raise ValueError(f"ziplist invalid string encoding 0x{e:02x}")
            length = _be32(blob, p + 1)[0]
            p += 5
        else:
            p += 1
            if e == 0xC0:
                width, v_of = 2, _i16
            elif e == 0xD0:
                width, v_of = 4, _i32
            elif e == 0xE0:
                width, v_of = 8, _i64
            elif e == 0xF0:
                width, v_of = 3, None
            elif e == 0xFE:
                width, v_of = 1, None
            elif 0xF1 <= e <= 0xFD:
                append((e & 0x0F) - 1)
                width = 0
                v_of = None
            else:
                raise ValueError(f"ziplist invalid encoding byte 0x{e:02x}")
            if p + width > end:
                raise ValueError("ziplist entry past the end")
            if v_of is not None:
                append(v_of(blob, p)[0])
            elif width == 3:
                v = blob[p] | (blob[p + 1] << 8) | (blob[p + 2] << 16)
                append(v - (1 << 24) if v >= (1 << 23) else v)
            elif width == 1:
                v = blob[p]
                append(v - 256 if v >= 128 else v)
            p += width
            prev_size = p - start
            last = start
            continue
        if p + length > end:
            raise ValueError("ziplist string entry past the end")
        append(blob[p : p + length])
        p += length
        prev_size = p - start
        last = start
    if p != end:
        raise ValueError("ziplist entries overrun the terminator")
    if zltail != last:
        raise ValueError("ziplist tail offset does not point at the last entry")
    if zllen != 65535 and zllen != len(out):
        raise ValueError(f"ziplist header says {zllen} entries, found {len(out)}")
    return out


def decode_strings(blob: bytes) -> list[bytes]:
    """Every element as bytes (integers in decimal)."""
    return [e if type(e) is bytes else b"%d" % e for e in decode(blob)]
