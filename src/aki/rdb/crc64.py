"""CRC-64/Jones as Redis computes it (``crc64.c``): the RDB trailer and DUMP checksum.

Polynomial 0xad93d23594c935a9 (normal form), input and output reflected, initial
value 0, no final xor (the reveng catalogue calls it CRC-64/REDIS); check value
``crc64(b"123456789") == 0xe9c6d914c4b8d9ca``. A checksum of a file is the CRC of
every byte from the magic up to and including the EOF opcode.

Pure Python cannot make a byte loop fast, so this uses slicing-by-8 (one 64-bit word
and eight table lookups per eight bytes, about 2-3x a byte-at-a-time loop). When an
accelerated CRC package that knows this exact model is importable it is used instead;
the pure-Python code stays as the reference and the fallback.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

__all__ = ["BACKEND", "POLY", "crc64", "crc64_pure"]

POLY = 0xAD93D23594C935A9  # Jones polynomial, normal (MSB-first) form
_POLY_REFLECTED = int(f"{POLY:064b}"[::-1], 2)  # the table below runs LSB-first


def _make_tables() -> list[list[int]]:
    """Slicing-by-8 tables: ``t[k][b]`` is the CRC of byte ``b`` followed by ``k`` zeros."""
    t0 = []
    for b in range(256):
        crc = b
        for _ in range(8):
            crc = (crc >> 1) ^ _POLY_REFLECTED if crc & 1 else crc >> 1
        t0.append(crc)
    tables = [t0]
    for _ in range(7):
        prev = tables[-1]
        tables.append([(prev[b] >> 8) ^ t0[prev[b] & 0xFF] for b in range(256)])
    return tables


_T = _make_tables()
_T0 = _T[0]
_MASK = 0xFFFFFFFFFFFFFFFF


def crc64_pure(data: bytes | bytearray | memoryview, crc: int = 0) -> int:
    """Continue ``crc`` over ``data`` (pure Python; the reference implementation)."""
    t0, t1, t2, t3, t4, t5, t6, t7 = _T
    mv = memoryview(data).cast("B")
    n = len(mv)
    head = n & 7
    words = n >> 3
    if words:
        for w in struct.unpack_from(f"<{words}Q", mv, 0):
            x = crc ^ w
            crc = (
                t7[x & 0xFF]
                ^ t6[(x >> 8) & 0xFF]
                ^ t5[(x >> 16) & 0xFF]
                ^ t4[(x >> 24) & 0xFF]
                ^ t3[(x >> 32) & 0xFF]
                ^ t2[(x >> 40) & 0xFF]
                ^ t1[(x >> 48) & 0xFF]
                ^ t0[x >> 56]
            )
    for b in mv[n - head :]:
        crc = t0[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc & _MASK


_Fn = Callable[[bytes | bytearray | memoryview, int], int]


def _anycrc() -> _Fn | None:
    """anycrc (C, any CRC model); CRC64-REDIS is in its catalogue."""
    try:
        import anycrc  # type: ignore[import-not-found]

        return anycrc.Model("CRC64-REDIS").calc  # type: ignore[no-any-return]
    except Exception:  # noqa: BLE001 - missing or a different API: not available
        return None


def _crcmod() -> _Fn | None:
    """crcmod, only when its C extension was compiled (its pure fallback is slower than ours)."""
    try:
        import crcmod  # type: ignore[import-not-found]
        import crcmod._crcfunext  # type: ignore[import-not-found]

        fn = crcmod.mkCrcFun(0x1AD93D23594C935A9, initCrc=0, rev=True, xorOut=0)
    except Exception:  # noqa: BLE001
        return None

    def calc(data: bytes | bytearray | memoryview, crc: int = 0) -> int:
        return fn(bytes(data), crc)  # type: ignore[no-any-return]

    return calc


def _agrees(fn: _Fn) -> bool:
    """A backend is used only if it matches the reference, including continuation."""
    probe = bytes(range(256)) * 3 + b"123456789"
    try:
        return (
            fn(b"123456789", 0) == 0xE9C6D914C4B8D9CA
            and fn(probe, 0) == crc64_pure(probe)
            and fn(probe[100:], fn(probe[:100], 0)) == crc64_pure(probe)
        )
    except Exception:  # noqa: BLE001 - a backend that misbehaves is not used
        return False


def _find_backend() -> tuple[str, _Fn]:
    """Pick an accelerated implementation if one is installed and agrees with ours."""
    for name, probe in (("anycrc", _anycrc), ("crcmod", _crcmod)):
        fn = probe()
        if fn is not None and _agrees(fn):
            return name, fn
    return "pure", crc64_pure


BACKEND, _impl = _find_backend()


def crc64(data: bytes | bytearray | memoryview, crc: int = 0) -> int:
    """CRC-64/Jones of ``data``, continuing from ``crc`` (0 to start)."""
    return _impl(data, crc)
