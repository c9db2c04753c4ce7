"""The RDB reader without a server: fixtures (expected values taken from redis-server 7.0.15
loading each file), hand-built files for encodings Redis 7.0 no longer writes, and
corruption: truncation at every byte and flipped bytes must end in RDBError."""

from __future__ import annotations

import io
import struct
from pathlib import Path
from typing import Any

import pytest

from aki.rdb import (
    AuxRecord,
    FunctionRecord,
    KeyRecord,
    RDBError,
    RDBReader,
    RDBWriter,
    StreamConsumer,
    StreamGroup,
    StreamPending,
    StreamValue,
    dump_value,
    iter_records,
    load_value,
)
from aki.rdb import listpack as lp
from aki.rdb.crc64 import crc64
from aki.rdb.writer import _DEFAULT_LIMITS, _stream_parts

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "rdb"


def read(data: bytes, **kw: Any) -> list[Any]:
    return list(iter_records(io.BytesIO(data), **kw))


def keys_of(records: list[Any]) -> dict[bytes, tuple[str, Any, int | None]]:
    return {r.key: (r.type, r.value, r.expire_ms) for r in records if isinstance(r, KeyRecord)}


def fixture(name: str, **kw: Any) -> list[Any]:
    return read((FIXTURES / name).read_bytes(), **kw)


def s(text: str) -> bytes:
    """An RDB string with a 6-bit length."""
    b = text.encode()
    assert len(b) < 64
    return bytes((len(b),)) + b


def rdb(version: int, body: bytes, checksum: bool = True) -> bytes:
    """magic + body + EOF (+ CRC64 from version 5 on)."""
    data = b"REDIS%04d" % version + body + b"\xff"
    if version >= 5:
        data += struct.pack("<Q", crc64(data) if checksum else 0)
    return data


# -- fixtures --------------------------------------------------------------------------


def test_encodings_fixture() -> None:
    got = keys_of(fixture("encodings.rdb"))
    expected_list = [b"1", b"2", b"3", b"a", b"b", b"c", b"100000", b"6000000000"]
    assert got[b"compressible"] == ("string", b"a" * 137, None)
    assert got[b"string"] == ("string", b"Hello World", None)
    assert got[b"number"] == ("string", b"10", None)
    assert got[b"list"] == ("list", expected_list * 3, None)
    assert got[b"list_zipped"] == ("list", expected_list, None)
    assert sorted(got[b"set"][1]) == sorted([b"1", b"100000", b"2", b"3", b"6000000000", b"a", b"b", b"c"])
    assert got[b"set_zipped_1"][1] == [b"1", b"2", b"3", b"4"]
    assert got[b"set_zipped_2"][1] == [b"100000", b"200000", b"300000", b"400000"]
    assert got[b"set_zipped_3"][1] == [b"%d000000000" % i for i in range(1, 7)]
    assert dict(got[b"hash"][1]) == {
        b"a": b"1", b"b": b"2", b"c": b"3", b"aa": b"10", b"bb": b"20", b"cc": b"30",
        b"aaa": b"100", b"bbb": b"200", b"ccc": b"300", b"ddd": b"400", b"eee": b"5000000000",
    }  # fmt: skip
    assert got[b"hash_zipped"][1] == [(b"a", b"1"), (b"b", b"2"), (b"c", b"3")]
    assert dict(got[b"zset"][1]) == {
        b"a": 1.0, b"b": 2.0, b"c": 3.0, b"aa": 10.0, b"bb": 20.0, b"cc": 30.0, b"aaa": 100.0,
        b"bbb": 200.0, b"ccc": 300.0, b"aaaa": 1000.0, b"cccc": 123456789.0, b"bbbb": 5000000000.0,
    }  # fmt: skip
    assert got[b"zset_zipped"][1] == [(b"a", 1.0), (b"b", 2.0), (b"c", 3.0)]
    assert len(got) == 13


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("hash-ziplist.rdb", {b"hash": ("hash", [(b"f1", b"v1"), (b"f2", b"v2")], None)}),
        ("hash-zipmap.rdb", {b"hash": ("hash", [(b"f1", b"v1"), (b"f2", b"v2")], None)}),
        ("list-quicklist.rdb", {b"list": ("list", [b"7"], None), b"x": ("string", b"7", None)}),
        ("zset-ziplist.rdb", {b"zset": ("zset", [(b"one", 1.0), (b"two", 2.0)], None)}),
        ("scriptbackup.rdb", {}),
    ],
)
def test_small_fixtures(name: str, expected: dict[bytes, Any]) -> None:
    assert keys_of(fixture(name)) == expected


def test_aux_fields_are_exposed() -> None:
    records = fixture("scriptbackup.rdb")
    aux = {r.key: r.value for r in records if isinstance(r, AuxRecord)}
    assert aux[b"lua"] == b"return redis.call('set', 'foo', 'bar')"
    assert aux[b"redis-ver"] == b"255.255.255"
    reader = RDBReader(io.BytesIO((FIXTURES / "scriptbackup.rdb").read_bytes()))
    list(reader)
    assert reader.version == 10 and reader.aux[b"repl-offset"] == b"0" and reader.checksum


def test_empty_keys_are_skipped_with_a_warning_naming_each() -> None:
    warnings: list[str] = []
    records = fixture("corrupt_empty_keys.rdb", on_warning=warnings.append)
    assert keys_of(records) == {}  # Redis 7.0.15: "keys loaded: 0 ... empty keys skipped: 9"
    names = [
        "set", "hash", "list_ziplist", "zset", "zset_listpack", "hash_ziplist",
        "list_quicklist", "zset_ziplist", "list_quicklist_empty_ziplist",
    ]  # fmt: skip
    assert len(warnings) == 9
    for name, text in zip(names, warnings, strict=True):
        assert text.startswith(f"skipping empty key: {name} (db 0, ")  # Redis's words


def test_empty_keys_warn_through_the_warnings_module_by_default() -> None:
    with pytest.warns(UserWarning, match="skipping empty key"):
        fixture("corrupt_empty_keys.rdb")


def test_corrupt_ziplist_fails_cleanly_after_the_good_keys() -> None:
    data = (FIXTURES / "corrupt_ziplist.rdb").read_bytes()
    seen: list[Any] = []
    with pytest.raises(RDBError) as err:
        for rec in iter_records(io.BytesIO(data)):
            seen.append(rec)
    assert "key:000000000091" in str(err.value) and "byte offset" in str(err.value)
    assert err.value.offset is not None and 0 < err.value.offset < len(data)
    assert len([r for r in seen if isinstance(r, KeyRecord)]) == 15


def test_aof_preamble_leaves_the_tail() -> None:
    data = (FIXTURES / "rdb-preamble.aof").read_bytes()
    reader = RDBReader(io.BytesIO(data))
    records = list(reader)
    assert any(isinstance(r, AuxRecord) and r.key == b"aof-preamble" for r in records)
    assert reader.tail().startswith(b"*")
    assert data.endswith(reader.tail())


# -- hand-built files: every opcode and encoding ----------------------------------------


def test_old_version_without_checksum_and_legacy_encodings() -> None:
    body = (
        b"\xfe\x00"
        + b"\xfd" + struct.pack("<i", 2_000_000_000) + b"\x00" + s("str")  + s("v")
        + b"\x01" + s("list") + b"\x02" + s("a") + b"\xc0\x07"
        + b"\x02" + s("set") + b"\x02" + s("x") + b"\xc1\x00\x01"
        + b"\x03" + s("zset") + b"\x03" + s("a") + b"\x031.5" + s("b") + b"\xfe" + s("c") + b"\xff"
        + b"\x04" + s("hash") + b"\x01" + s("f") + s("v")
        + b"\xfe\x05"
        + b"\x00" + s("in5") + b"\xc2" + struct.pack("<i", -100000)
    )  # fmt: skip
    got = keys_of(read(rdb(3, body)))
    assert got == {
        b"str": ("string", b"v", 2_000_000_000_000),
        b"list": ("list", [b"a", b"7"], None),
        b"set": ("set", [b"x", b"256"], None),
        b"zset": ("zset", [(b"a", 1.5), (b"b", float("inf")), (b"c", float("-inf"))], None),
        b"hash": ("hash", [(b"f", b"v")], None),
        b"in5": ("string", b"-100000", None),
    }
    records = read(rdb(3, body))
    assert [r.db for r in records] == [0, 0, 0, 0, 0, 5]


def test_nan_score_and_duplicates_are_corruption() -> None:
    for body in (
        b"\x03" + s("z") + b"\x01" + s("a") + b"\xfd",
        b"\x05" + s("z") + b"\x01" + s("a") + struct.pack("<d", float("nan")),
        b"\x02" + s("set") + b"\x02" + s("x") + s("x"),
        b"\x04" + s("h") + b"\x02" + s("f") + s("1") + s("f") + s("2"),
    ):
        with pytest.raises(RDBError, match="byte offset"):
            read(rdb(9, body))


def test_version_limits_and_magic() -> None:
    with pytest.raises(RDBError, match="version 12"):
        read(rdb(12, b""))
    with pytest.raises(RDBError, match="bad magic"):
        read(b"RELIS0009\xff" + bytes(8))
    with pytest.raises(RDBError, match="version 0"):
        read(b"REDIS0000\xff")
    assert read(rdb(11, b"")) == []


def test_checksum_verified_and_zero_means_absent() -> None:
    good = rdb(9, b"\x00" + s("k") + s("v"))
    assert keys_of(read(good)) == {b"k": ("string", b"v", None)}
    bad = good[:-8] + bytes((good[-8] ^ 1,)) + good[-7:]
    with pytest.raises(RDBError, match="checksum"):
        read(bad)
    assert keys_of(read(bad, verify_checksum=False)) == {b"k": ("string", b"v", None)}
    assert keys_of(read(rdb(9, b"\x00" + s("k") + s("v"), checksum=False))) == {b"k": ("string", b"v", None)}


def test_idle_freq_resize_and_expire_ms() -> None:
    body = (
        b"\xfe\x02\xfb\x01\x01"
        + b"\xf8\x05" + b"\xf9\x07"
        + b"\xfc" + struct.pack("<q", 1234567890123) + b"\x00" + s("k") + s("v")
    )  # fmt: skip
    reader = RDBReader(io.BytesIO(rdb(9, body)))
    recs = list(reader)
    assert recs == [KeyRecord(2, b"k", "string", b"v", 1234567890123)]
    assert (reader.idle, reader.freq) == (5, 7)


def _module_value() -> bytes:
    """A module-v2 value: sint, uint, float, double, string, then EOF."""
    return (
        b"\x01\x05" + b"\x02\x06" + b"\x03" + struct.pack("<f", 1.5)
        + b"\x04" + struct.pack("<d", 2.5) + b"\x05" + s("blob") + b"\x00"
    )  # fmt: skip


def test_module_keys_and_module_aux_are_skipped_with_warnings() -> None:
    module_id = (0x1234 << 10) | 3
    body = (
        b"\xf7\x81" + struct.pack(">Q", module_id) + b"\x02\x02" + _module_value()
        + b"\x07" + s("modkey") + b"\x81" + struct.pack(">Q", module_id) + _module_value()
        + b"\x00" + s("after") + s("ok")
    )  # fmt: skip
    warnings: list[str] = []
    assert keys_of(read(rdb(9, body), on_warning=warnings.append)) == {b"after": ("string", b"ok", None)}
    assert len(warnings) == 2
    assert "module aux" in warnings[0]
    assert "b'modkey'" in warnings[1] and "module" in warnings[1]
    with pytest.raises(RDBError, match="type 6"):
        read(rdb(9, b"\x06" + s("old") + b"\x01"))


def test_functions_new_and_pre_ga_format() -> None:
    body = (
        b"\xf5"
        + s("#!lua name=a\nreturn 1")
        + b"\xf6"
        + s("lib")
        + s("lua")
        + b"\x01"
        + s("desc")
        + s("code")
    )
    assert [r for r in read(rdb(10, body)) if isinstance(r, FunctionRecord)] == [
        ("function", b"#!lua name=a\nreturn 1"),
        ("function", b"#!lua name=lib\ncode"),
    ]


def test_set_listpack_type_20() -> None:
    body = b"\x14" + s("set") + bytes((len(blob := lp.encode([b"a", b"12", b"b"])),)) + blob
    assert keys_of(read(rdb(11, body))) == {b"set": ("set", [b"a", b"12", b"b"], None)}


def test_hash_with_field_ttls_is_reported_unsupported() -> None:
    with pytest.raises(RDBError, match="type 24"):
        read(rdb(11, b"\x18" + s("h") + b"\x00" * 16))


def _stream() -> StreamValue:
    entries = [((1, 1), [(b"a", b"1")]), ((1, 2), [(b"a", b"2")]), ((7, 0), [(b"b", b"x" * 70)])]
    pending = [StreamPending((1, 1), b"alice", 1000, 2), StreamPending((1, 2), b"bob", 2000, 1)]
    group = StreamGroup(
        b"g",
        (1, 2),
        2,
        pending,
        [StreamConsumer(b"alice", 1500, 1500, [(1, 1)]), StreamConsumer(b"bob", 2500, 2500, [(1, 2)])],
    )
    return StreamValue(entries, 3, (7, 0), (1, 1), (0, 0), 3, [group])


@pytest.mark.parametrize("rdb_type", [15, 19, 21])
def test_streams_of_every_version(rdb_type: int) -> None:
    value = _stream()
    if rdb_type == 21:
        value.groups[0].consumers[0].active_time = 1600
    body = bytes((rdb_type,)) + s("st") + b"".join(_stream_parts(value, False, _DEFAULT_LIMITS, rdb_type))
    got = keys_of(read(rdb(11, body)))[b"st"]
    assert got[0] == "stream"
    sv = got[1]
    assert sv.entries == value.entries and sv.length == 3 and sv.last_id == (7, 0)
    assert sv.first_id == (1, 1) and sv.entries_added == 3
    g = sv.groups[0]
    assert g.name == b"g" and g.last_id == (1, 2)
    # v1 streams carry no counter: Redis estimates it (here: unknown, -1 is impossible: id < last).
    assert g.entries_read == (2 if rdb_type >= 19 else -1)
    assert [(p.id, p.consumer, p.delivery_time, p.delivery_count) for p in g.pending] == [
        ((1, 1), b"alice", 1000, 2),
        ((1, 2), b"bob", 2000, 1),
    ]
    assert [(c.name, c.seen_time, c.active_time, c.pending) for c in g.consumers] == [
        (b"alice", 1500, 1600 if rdb_type == 21 else 1500, [(1, 1)]),
        (b"bob", 2500, 2500, [(1, 2)]),
    ]


def test_chunked_reading_of_plain_collections() -> None:
    body = b"\x01" + s("big") + b"\x05" + b"".join(s(str(i)) for i in range(5)) + b"\x00" + s("k") + s("v")
    recs = read(rdb(9, body), chunk_size=2)
    assert [(r.key, r.value) for r in recs] == [
        (b"big", [b"0", b"1"]),
        (b"big", [b"2", b"3"]),
        (b"big", [b"4"]),
        (b"k", b"v"),
    ]


# -- corruption ---------------------------------------------------------------------------


def small_dump() -> bytes:
    """Every type in every encoding the writer chooses, small enough to mutate byte by byte."""
    out = io.BytesIO()
    w = RDBWriter(out, compress=True, ctime=1700000000)
    w.begin()
    w.write_function(b"#!lua name=l\nredis.register_function('f', function() return 1 end)")
    w.select_db(0, 9, 1)
    w.write_key(b"str", "string", b"hello" * 10, 1800000000000)
    w.write_key(b"int", "string", b"-12345")
    w.write_key(b"list", "list", [b"a", b"123", b"x" * 40])
    w.write_key(b"iset", "set", [b"1", b"-5", b"70000"])
    w.write_key(b"set", "set", [b"a", b"b"])
    w.write_key(b"zs", "zset", [(b"a", 1.5), (b"b", -2.0)])
    w.write_key(b"zbig", "zset", [(b"m" * 70, 3.0)])
    w.write_key(b"h", "hash", [(b"f", b"v"), (b"n", b"5")])
    w.write_key(b"hbig", "hash", [(b"f", b"v" * 70)])
    w.select_db(1)
    w.write_key(b"st", "stream", _stream())
    w.finish()
    return out.getvalue()


def test_small_dump_reads_back() -> None:
    got = keys_of(read(small_dump()))
    assert got[b"str"] == ("string", b"hello" * 10, 1800000000000)
    assert got[b"zbig"] == ("zset", [(b"m" * 70, 3.0)], None)
    assert got[b"st"][1] == _stream()
    assert len(got) == 10


def test_truncation_at_every_byte_raises_rdberror() -> None:
    data = small_dump()
    for cut in range(len(data)):
        with pytest.raises(RDBError) as err:
            read(data[:cut])
        assert err.value.offset is not None and err.value.offset <= cut


def test_truncation_of_a_pipe_is_detected_too() -> None:
    data = small_dump()

    class Pipe(io.RawIOBase):
        def __init__(self, payload: bytes) -> None:
            self.src = io.BytesIO(payload)

        def readable(self) -> bool:
            return True

        def readinto(self, b: Any) -> int:
            chunk = self.src.read(min(len(b), 7))
            b[: len(chunk)] = chunk
            return len(chunk)

    assert len(read(data)) == len(list(iter_records(Pipe(data))))  # type: ignore[arg-type]
    with pytest.raises(RDBError, match="unexpected end of file"):
        list(iter_records(Pipe(data[:-3])))  # type: ignore[arg-type]


@pytest.mark.parametrize("verify", [True, False])
def test_flipped_bytes_never_raise_anything_but_rdberror(verify: bool) -> None:
    data = small_dump()
    for i in range(9, len(data)):
        for mask in (0x01, 0x80, 0xFF):
            mutated = data[:i] + bytes((data[i] ^ mask,)) + data[i + 1 :]
            try:
                read(mutated, verify_checksum=verify, on_warning=lambda m: None)
            except RDBError as exc:
                assert exc.offset is not None
                continue
            # Without the checksum some flips are undetectable (a changed value byte).
            assert not verify, f"flip of byte {i} with {mask:#x} went unnoticed"


def test_dump_payload_roundtrip_and_truncation() -> None:
    for kind, value in (
        ("string", b"x" * 100),
        ("list", [b"a", b"1"]),
        ("set", [b"1", b"2"]),
        ("zset", [(b"a", 0.5)]),
        ("hash", [(b"f", b"v")]),
        ("stream", _stream()),
    ):
        payload = dump_value(kind, value, compress=True)
        assert load_value(payload) == (kind, value)
        for cut in range(len(payload)):
            with pytest.raises(RDBError):
                load_value(payload[:cut])


def test_quicklist_v2_plain_nodes() -> None:
    packed = lp.encode([b"a", b"7"])
    body = b"\x12" + s("l") + b"\x02" + b"\x01" + s("plain value") + b"\x02" + bytes((len(packed),)) + packed
    assert keys_of(read(rdb(10, body))) == {b"l": ("list", [b"plain value", b"a", b"7"], None)}
    with pytest.raises(RDBError, match="container 3"):
        read(rdb(10, b"\x12" + s("l") + b"\x01\x03" + s("x")))


def test_write_rdb_and_streamed_keys() -> None:
    from aki.rdb import write_rdb

    out = io.BytesIO()
    write_rdb(
        out,
        [(0, b"a", "string", b"1", None), (2, b"b", "hash", [(b"f", b"v")], 1700000000000)],
        functions=[b"#!lua name=x\nreturn"],
    )
    recs = read(out.getvalue())
    assert [r for r in recs if isinstance(r, KeyRecord)] == [
        KeyRecord(0, b"a", "string", b"1", None),
        KeyRecord(2, b"b", "hash", [(b"f", b"v")], 1700000000000),
    ]
    out = io.BytesIO()
    w = RDBWriter(out)
    w.begin()
    w.select_db(0)
    w.write_key(b"l", "list", iter([b"x", b"y"]), count=2)
    w.write_key(b"s", "set", (b"%d" % i for i in range(3)), count=3)
    w.write_key(b"z", "zset", iter([(b"m", 2.5)]), count=1)
    w.write_key(b"h", "hash", iter([(b"f", b"v")]), count=1)
    w.finish()
    got = keys_of(read(out.getvalue()))
    assert got == {
        b"l": ("list", [b"x", b"y"], None),
        b"s": ("set", [b"0", b"1", b"2"], None),
        b"z": ("zset", [(b"m", 2.5)], None),
        b"h": ("hash", [(b"f", b"v")], None),
    }
    w = RDBWriter(io.BytesIO())
    w.begin()
    w.select_db(0)
    with pytest.raises(ValueError, match="count=5"):
        w.write_key(b"bad", "list", iter([b"x"]), count=5)
