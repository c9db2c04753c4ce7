"""The building blocks of the RDB codec: CRC64, LZF, listpack, ziplist, intset, zipmap."""

from __future__ import annotations

import os
import random
import struct

import pytest

from aki.rdb import intset, listpack, lzf, ziplist, zipmap
from aki.rdb.crc64 import BACKEND, crc64, crc64_pure
from aki.rdb.stream import entries_from_listpack, listpacks_from_entries


def test_crc64_check_value() -> None:
    assert crc64(b"123456789") == 0xE9C6D914C4B8D9CA
    assert crc64_pure(b"123456789") == 0xE9C6D914C4B8D9CA
    assert crc64(b"") == 0


def test_crc64_continues_across_chunks() -> None:
    data = os.urandom(10_007)
    whole = crc64_pure(data)
    for cut in (0, 1, 7, 8, 9, 4096, 10_006):
        assert crc64_pure(data[cut:], crc64_pure(data[:cut])) == whole
    assert crc64(data) == whole
    assert crc64(memoryview(data)[3:]) == crc64_pure(data[3:])


def test_crc64_backend_is_reported() -> None:
    assert BACKEND in ("pure", "anycrc", "crcmod")


@pytest.mark.parametrize(
    "data",
    [
        b"a" * 100,
        b"abcabcabcabc" * 50,
        bytes(range(256)) * 4,
        b"hello world " * 1000,
        bytes(random.Random(1).choice(b"ab") for _ in range(5000)),
        b"x" * 10_000 + random.Random(2).randbytes(300) + b"x" * 10_000,
    ],
)
def test_lzf_roundtrip(data: bytes) -> None:
    packed = lzf.compress(data)
    assert packed is not None and len(packed) < len(data)
    assert lzf.decompress(packed, len(data)) == data


def test_lzf_incompressible_and_limit() -> None:
    noise = os.urandom(200)
    assert lzf.compress(noise) is None
    assert lzf.compress(b"") is None
    assert lzf.compress(b"a" * 100, max_out=2) is None


def test_lzf_decompress_rejects_garbage() -> None:
    good = lzf.compress(b"abcd" * 40)
    assert good is not None
    with pytest.raises(ValueError):
        lzf.decompress(good, 159)  # wrong announced length
    with pytest.raises(ValueError):
        lzf.decompress(b"\x05ab", 6)  # literal run past the end
    with pytest.raises(ValueError):
        lzf.decompress(b"\x20\x10", 3)  # back reference before the start
    with pytest.raises(ValueError):
        lzf.decompress(b"\xe0", 9)  # truncated long back reference


INT_EDGES = [
    0,
    1,
    127,
    128,
    -1,
    -4096,
    4095,
    -4097,
    4096,
    32767,
    -32768,
    32768,
    -32769,
    (1 << 23) - 1,
    -(1 << 23),
    1 << 23,
    (1 << 31) - 1,
    -(1 << 31),
    1 << 31,
    (1 << 63) - 1,
    -(1 << 63),
]


def test_listpack_roundtrip_every_encoding() -> None:
    strings = [b"", b"a", b"x" * 63, b"y" * 64, b"z" * 4095, b"w" * 4096, b"007", b"-0", b"+1", b"1.5"]
    items: list[bytes | int] = [*INT_EDGES, *strings]
    blob = listpack.encode(items)
    assert listpack.decode(blob) == items
    decoded = listpack.decode_strings(listpack.encode([b"%d" % v for v in INT_EDGES]))
    assert decoded == [b"%d" % v for v in INT_EDGES]
    # Canonical integer strings become integers; others stay strings.
    assert listpack.decode(listpack.encode([b"12", b"012", b"9223372036854775808"])) == [
        12,
        b"012",
        b"9223372036854775808",
    ]


def test_listpack_rejects_corruption() -> None:
    blob = listpack.encode([b"hello", 5, b"x" * 200])
    for bad in (
        blob[:-1],
        blob[:6] + b"\xff",
        blob[:-1] + b"\x00",
        struct.pack("<IH", len(blob), 9) + blob[6:],
        blob[:6] + b"\x86" + blob[7:],
    ):
        with pytest.raises(ValueError):
            listpack.decode(bad)
    assert listpack.decode(listpack.encode([])) == []


def _ziplist(entries: list[bytes]) -> bytes:
    """A ziplist built by hand (strings only), to test the decoder's checks."""
    body = b""
    prev = 0
    last = 10
    for e in entries:
        pre = bytes((prev,)) if prev < 254 else b"\xfe" + struct.pack("<I", prev)
        if len(e) < 64:
            enc = bytes((len(e),))
        elif len(e) < 16384:
            enc = bytes((0x40 | (len(e) >> 8), len(e) & 0xFF))
        else:
            enc = b"\x80" + struct.pack(">I", len(e))
        last = 10 + len(body)
        entry = pre + enc + e
        body += entry
        prev = len(entry)
    return struct.pack("<IIH", 11 + len(body), last, len(entries)) + body + b"\xff"


def test_ziplist_decodes_strings_and_ints() -> None:
    zl = _ziplist([b"a", b"b" * 300, b"c" * 20000])
    assert ziplist.decode(zl) == [b"a", b"b" * 300, b"c" * 20000]
    # Integer encodings: int16 -2, int8 5, immediate 12, int24, int32, int64.
    body = (
        b"\x00\xc0" + struct.pack("<h", -2)
        + b"\x04\xfe\x05"
        + b"\x03\xfd"
        + b"\x02\xf0" + (0x800000 - 1).to_bytes(3, "little")
        + b"\x05\xd0" + struct.pack("<i", -70000)
        + b"\x06\xe0" + struct.pack("<q", 1 << 40)
    )  # fmt: skip
    last = 10 + len(body) - 10
    zl = struct.pack("<IIH", 11 + len(body), last, 6) + body + b"\xff"
    assert ziplist.decode(zl) == [-2, 5, 12, 0x7FFFFF, -70000, 1 << 40]
    assert ziplist.decode_strings(zl)[0] == b"-2"


def test_ziplist_rejects_corruption() -> None:
    zl = _ziplist([b"one", b"two", b"three"])
    bad_prevlen = bytearray(zl)
    bad_prevlen[15] = 9  # prevlen of the second entry
    for bad in (
        zl[:-1],
        zl[:8] + b"\x07\x00" + zl[10:],
        bytes(bad_prevlen),
        zl[:4] + b"\x00\x00\x00\x00" + zl[8:],
    ):
        with pytest.raises(ValueError):
            ziplist.decode(bad)


def test_intset_roundtrip_and_checks() -> None:
    for values in ([1, 2, 3], [-70000, 5], [-(1 << 63), 1 << 62]):
        assert intset.decode(intset.encode(values)) == sorted(values)
    assert struct.unpack_from("<I", intset.encode([1, 2]))[0] == 2
    assert struct.unpack_from("<I", intset.encode([1, 1 << 20]))[0] == 4
    assert struct.unpack_from("<I", intset.encode([1, 1 << 40]))[0] == 8
    with pytest.raises(ValueError):
        intset.decode(struct.pack("<II2h", 2, 2, 5, 1))  # not ascending
    with pytest.raises(ValueError):
        intset.decode(struct.pack("<II", 3, 0))  # bad encoding
    with pytest.raises(ValueError):
        intset.decode(struct.pack("<II", 2, 0))  # empty: redis-server 7.0.15 refuses it too
    with pytest.raises(ValueError):
        intset.decode(struct.pack("<II", 2, 3) + b"\x00\x00")  # short


def test_zipmap_decode() -> None:
    zm = b"\x02\x02f1\x02\x00v1\x02f2\x02\x03v2xyz\xff"
    assert zipmap.decode(zm) == [(b"f1", b"v1"), (b"f2", b"v2")]
    big = b"\x01\x01k\xfe" + struct.pack("<I", 300) + b"\x00" + b"v" * 300 + b"\xff"
    assert zipmap.decode(big) == [(b"k", b"v" * 300)]
    for bad in (zm[:-1], zm[:-4] + b"\xff", b"\x05\x01k\xff", b"\x00\xff"):
        with pytest.raises(ValueError):
            zipmap.decode(bad)


def test_stream_listpack_roundtrip() -> None:
    entries = [((1000 + i // 3, i % 3), [(b"f", b"%d" % i), (b"g", b"v" * (i % 7))]) for i in range(250)]
    entries.append(((5000, 0), [(b"other", b"x")]))
    nodes = list(listpacks_from_entries(entries))
    assert len(nodes) >= 3  # 100 entries per node at most
    back = [e for key, blob in nodes for e in entries_from_listpack(key, blob)]
    assert back == entries
    with pytest.raises(ValueError):
        entries_from_listpack(b"short", nodes[0][1])
