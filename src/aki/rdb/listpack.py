"""Listpack (``listpack.c``): the compact encoding of small hashes, zsets, sets, list nodes and streams.

Layout: ``<total-bytes u32><num-elements u16><entry>...<0xFF>``; each entry is an
encoding byte (plus data) followed by a "backlen", the entry's size written as a
reversed 7-bit varint so the list can be walked backwards. Integers come in 7, 13,
16, 24, 32 and 64 bit forms; strings with 6, 12 or 32 bit lengths.

``decode`` validates what Redis's shallow and deep checks do (header size, element
count unless it is the 65535 "unknown" marker, each entry's bounds and backlen, the
terminator) and raises ``ValueError`` on any mismatch, so a corrupt blob can never
produce a wrong element list. ``encode`` writes what ``lpAppend`` would: a string that
is a canonical 64-bit integer is stored as the smallest integer encoding.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable

__all__ = ["decode", "decode_strings", "encode", "try_int"]

_CANON_INT = re.compile(rb"(?:0|-?[1-9][0-9]{0,19})")
_I64_MIN = -(1 << 63)
_I64_MAX = (1 << 63) - 1
_unpack_i16 = struct.Struct("<h").unpack_from
_unpack_i32 = struct.Struct("<i").unpack_from
_unpack_i64 = struct.Struct("<q").unpack_from
_unpack_u32 = struct.Struct("<I").unpack_from
_unpack_hdr = struct.Struct("<IH").unpack_from


def try_int(s: bytes) -> int | None:
    """The integer ``s`` spells in Redis's canonical form (``string2ll``), else None."""
    if not s or len(s) > 20:
        return None
    c = s[0]
    if (c > 57 or c < 48) and c != 45:  # neither a digit nor '-': the common reject, no regex
        return None
    if not _CANON_INT.fullmatch(s):
        return None
    v = int(s)
    if v < _I64_MIN or v > _I64_MAX:
        return None
    return v


def _backlen_size(n: int) -> int:
    if n <= 127:
        return 1
    if n < 16383:
        return 2
    if n < 2097151:
        return 3
    if n < 268435455:
        return 4
    return 5


def _backlen(n: int) -> bytes:
    if n <= 127:
        return bytes((n,))
    if n < 16383:
        return bytes((n >> 7, (n & 127) | 128))
    if n < 2097151:
        return bytes((n >> 14, ((n >> 7) & 127) | 128, (n & 127) | 128))
    if n < 268435455:
        return bytes((n >> 21, ((n >> 14) & 127) | 128, ((n >> 7) & 127) | 128, (n & 127) | 128))
    return bytes(
        (
            n >> 28,
            ((n >> 21) & 127) | 128,
            ((n >> 14) & 127) | 128,
            ((n >> 7) & 127) | 128,
            (n & 127) | 128,
        )
    )


def decode(blob: bytes) -> list[bytes | int]:
    """Every element of the listpack: ``int`` for integer encodings, ``bytes`` for strings."""
    n = len(blob)
    if n < 7:
        raise ValueError("listpack shorter than its header")
    total, count = _unpack_hdr(blob, 0)
    if total != n:
        raise ValueError(f"listpack header says {total} bytes, blob has {n}")
    end = n - 1
    if blob[end] != 0xFF:
        raise ValueError("listpack is not terminated by 0xFF")
    out: list[bytes | int] = []
    append = out.append
    p = 6
    while p < end:
        b = blob[p]
        if b < 0x80:  # 7 bit unsigned int
            append(b)
            size = 1
        elif b < 0xC0:  # 6 bit string length
            size = 1 + (b & 0x3F)
            append(blob[p + 1 : p + size])
        elif b < 0xE0:  # 13 bit signed int
            if p + 2 > end:
                raise ValueError("listpack entry past the end")
            v = ((b & 0x1F) << 8) | blob[p + 1]
            append(v - 8192 if v >= 4096 else v)
            size = 2
        elif b < 0xF0:  # 12 bit string length
            if p + 2 > end:
                raise ValueError("listpack entry past the end")
            size = 2 + (((b & 0x0F) << 8) | blob[p + 1])
            append(blob[p + 2 : p + size])
        elif b == 0xF0:  # 32 bit string length
            if p + 5 > end:
                raise ValueError("listpack entry past the end")
            size = 5 + _unpack_u32(blob, p + 1)[0]
            append(blob[p + 5 : p + size])
        elif b == 0xF1:
            size = 3
            if p + size > end:
                raise ValueError("listpack entry past the end")
            append(_unpack_i16(blob, p + 1)[0])
        elif b == 0xF2:
            size = 4
            if p + size > end:
                raise ValueError("listpack entry past the end")
            v = blob[p + 1] | (blob[p + 2] << 8) | (blob[p + 3] << 16)
            append(v - (1 << 24) if v >= (1 << 23) else v)
        elif b == 0xF3:
            size = 5
            if p + size > end:
                raise ValueError("listpack entry past the end")
            append(_unpack_i32(blob, p + 1)[0])
        elif b == 0xF4:
            size = 9
            if p + size > end:
                raise ValueError("listpack entry past the end")
            append(_unpack_i64(blob, p + 1)[0])
        else:
            raise ValueError(f"listpack entry with invalid encoding byte 0x{b:02x}")
        if size <= 127:
            # The common case: one backlen byte equal to the entry size.
            if p + size >= end or blob[p + size] != size:
                raise ValueError("listpack entry backlen mismatch or entry past the end")
            p += size + 1
        else:
            bl = _backlen_size(size)
            if p + size + bl > end or blob[p + size : p + size + bl] != _backlen(size):
                raise ValueError("listpack entry backlen mismatch or entry past the end")
            p += size + bl
    if p != end:
        raise ValueError("listpack entries overrun the terminator")
    if count != 65535 and count != len(out):
        raise ValueError(f"listpack header says {count} elements, found {len(out)}")
    return out


def decode_strings(blob: bytes) -> list[bytes]:
    """Every element as bytes (integers in decimal, as Redis returns them)."""
    return [e if type(e) is bytes else b"%d" % e for e in decode(blob)]


def _encode_int(v: int) -> bytes:
    if 0 <= v <= 127:
        return bytes((v, 1))
    if -4096 <= v <= 4095:
        u = v & 0x1FFF
        return bytes((0xC0 | (u >> 8), u & 0xFF, 2))
    if -32768 <= v <= 32767:
        return b"\xf1" + struct.pack("<h", v) + b"\x03"
    if -(1 << 23) <= v < (1 << 23):
        return b"\xf2" + (v & 0xFFFFFF).to_bytes(3, "little") + b"\x04"
    if -(1 << 31) <= v < (1 << 31):
        return b"\xf3" + struct.pack("<i", v) + b"\x05"
    return b"\xf4" + struct.pack("<q", v) + b"\x09"


def _encode_str(s: bytes) -> bytes:
    n = len(s)
    if n < 64:
        return bytes((0x80 | n,)) + s + bytes((n + 1,))
    if n < 4096:
        body = bytes((0xE0 | (n >> 8), n & 0xFF)) + s
    else:
        body = b"\xf0" + struct.pack("<I", n) + s
    return body + _backlen(len(body))


def encode(items: Iterable[bytes | int]) -> bytes:
    """A listpack holding ``items``; integer-looking strings are stored as integers."""
    parts = []
    count = 0
    for it in items:
        count += 1
        if type(it) is int:
            parts.append(_encode_int(it))
        else:
            v = try_int(it) if len(it) <= 20 else None  # type: ignore[arg-type]
            parts.append(_encode_int(v) if v is not None else _encode_str(bytes(it)))  # type: ignore[arg-type]
    body = b"".join(parts)
    total = 6 + len(body) + 1
    return struct.pack("<IH", total, min(65535, count)) + body + b"\xff"
