"""Intset (``intset.c``): a sorted array of unique integers, the small all-integer set encoding.

Layout: ``<encoding u32: 2, 4 or 8><length u32><length little-endian signed ints>``.
The whole array is unpacked with one ``struct`` call. ``decode`` checks the header,
the exact blob size, that it is not empty and (as Redis's deep check does) that
values strictly ascend, raising ``ValueError`` otherwise.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

__all__ = ["decode", "encode"]

_FORMATS = {2: "h", 4: "i", 8: "q"}


def decode(blob: bytes) -> list[int]:
    """The integers of the intset, ascending."""
    if len(blob) < 8:
        raise ValueError("intset shorter than its header")
    enc, length = struct.unpack_from("<II", blob, 0)
    fmt = _FORMATS.get(enc)
    if fmt is None:
        raise ValueError(f"intset with invalid encoding {enc}")
    if length == 0:
        raise ValueError("empty intset")  # Redis's integrity check refuses it too
    if len(blob) != 8 + enc * length:
        raise ValueError(f"intset of {length} x {enc} bytes does not fit a {len(blob)} byte blob")
    values = list(struct.unpack_from(f"<{length}{fmt}", blob, 8))
    for i in range(1, length):
        if values[i - 1] >= values[i]:
            raise ValueError("intset values are not strictly ascending")
    return values


def encode(values: Sequence[int]) -> bytes:
    """An intset of ``values`` (sorted and deduplicated here), in the narrowest encoding."""
    vals = sorted(set(values))
    lo = vals[0] if vals else 0
    hi = vals[-1] if vals else 0
    if -32768 <= lo and hi <= 32767:
        enc = 2
    elif -(1 << 31) <= lo and hi < (1 << 31):
        enc = 4
    else:
        enc = 8
    return struct.pack(f"<II{len(vals)}{_FORMATS[enc]}", enc, len(vals), *vals)
