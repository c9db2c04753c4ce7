"""storage/bulk.py: whole keys in and out of an aki file, without a server."""

from __future__ import annotations

import io
import json
import math

import pytest

from aki.rdb import KeyRecord, iter_records
from aki.storage import bulk
from aki.storage.engine import Engine

KEYS = [
    (0, b"s", "string", b"hello", None),
    (0, b"bin", "string", bytes(range(256)), 4_102_444_800_000),
    (0, b"l", "list", [b"a", b"b", b"\x00\xff", b"a"], None),
    (0, b"si", "set", [b"3", b"1", b"2"], None),
    (0, b"ss", "set", [b"x", b"y"], None),
    (0, b"z", "zset", [(b"a", 1.5), (b"b", -math.inf), (b"c", math.inf)], None),
    (1, b"h", "hash", [(b"f2", b"v2"), (b"f1", b"v1")], None),
    (1, b"hbig", "hash", [(b"f%d" % i, b"v") for i in range(200)], None),
]


@pytest.fixture
def engine(tmp_path):
    e = Engine(tmp_path / "t.aki")
    yield e
    e.close()


def load(engine, keys, **kw):
    engine.begin()
    loader = bulk.BulkLoader(engine.conn, dbmap=list(range(16)), **kw)
    for k in keys:
        loader.add(*k)
    loader.finish()
    engine.commit()
    return loader


def dump_all(engine):
    engine.conn.execute("BEGIN")
    try:
        return [(db, *rec) for db in (0, 1) for rec in bulk.iter_db(engine.conn, db)]
    finally:
        engine.conn.execute("COMMIT")


def normal(kind, value):
    """Order-free form (a hashtable-encoded hash or set iterates in hash order)."""
    if kind in ("set", "zset", "hash"):
        return sorted(value)
    return value


@pytest.mark.parametrize("fast", [False, True])
def test_round_trip_and_invariants(engine, fast):
    loader = load(engine, KEYS, fast=fast)
    assert loader.loaded == len(KEYS)
    got = {(d, k): (t, normal(t, v), e) for d, k, t, v, e in dump_all(engine)}
    for d, k, t, v, e in KEYS:
        assert got[(d, k)] == (t, normal(t, v), e)
    cur = engine.cur
    # dbstats maintained (fast mode recomputes it) and the trigger is back
    assert cur.execute("SELECT db, keys, expires FROM dbstats ORDER BY db").fetchall() == [(0, 6, 1), (1, 2, 0)]
    assert cur.execute("SELECT count(*) FROM sqlite_schema WHERE name = 'keys_insert'").fetchone()[0] == 1
    enc = dict(cur.execute("SELECT key, enc FROM keys").fetchall())
    assert enc[b"si"] == 0 and enc[b"ss"] == 1 and enc[b"h"] == 0 and enc[b"hbig"] == 1 and enc[b"z"] == 0
    # a listpack hash keeps insertion order; list positions contiguous from head
    engine.conn.execute("BEGIN")
    assert dict((k, v) for k, _t, v, _e in bulk.iter_db(engine.conn, 1))[b"h"] == [(b"f2", b"v2"), (b"f1", b"v1")]
    engine.conn.execute("COMMIT")
    assert cur.execute("SELECT head, len FROM keys WHERE key = ?", (b"l",)).fetchone() == (0, 4)


def test_existing_keys_skipped_or_replaced(engine):
    load(engine, KEYS)
    warnings = []
    loader = load(engine, [(0, b"s", "string", b"new", None), (0, b"fresh", "string", b"1", None)],
                  on_warning=warnings.append)
    assert loader.skipped == 1 and loader.loaded == 1 and "already exists" in warnings[0]
    assert engine.cur.execute("SELECT value FROM keys WHERE key = ?", (b"s",)).fetchone()[0] == b"hello"
    loader = load(engine, [(0, b"l", "string", b"now a string", None)], replace=True)
    assert loader.replaced == 1
    assert engine.cur.execute("SELECT type, value FROM keys WHERE key = ?", (b"l",)).fetchone() == (0, b"now a string")
    assert engine.cur.execute("SELECT keys FROM dbstats WHERE db = 0").fetchone()[0] == 7


def test_duplicate_key_in_input_is_an_error(engine):
    engine.begin()
    loader = bulk.BulkLoader(engine.conn, fast=True)
    loader.add(0, b"k", "string", b"1", None)
    loader.add(0, b"k", "string", b"2", None)
    with pytest.raises(bulk.BulkError):
        loader.finish()
    engine.rollback()
    assert engine.cur.execute("SELECT count(*) FROM keys").fetchone()[0] == 0
    assert engine.cur.execute("SELECT count(*) FROM sqlite_schema WHERE name = 'keys_insert'").fetchone()[0] == 1


def test_expired_and_unsupported_are_not_written(engine):
    warnings = []
    loader = load(engine, [(0, b"old", "string", b"x", 1000), (0, b"st", "module", object(), None)],
                  on_warning=warnings.append)
    assert loader.expired == 1 and loader.skipped == 1 and "st" in warnings[0]
    assert engine.cur.execute("SELECT count(*) FROM keys").fetchone()[0] == 0


def test_snapshot_rdb_reads_back(engine):
    load(engine, KEYS)
    engine.cur.execute("INSERT INTO meta (name, value) VALUES ('function:lib', ?)",
                       (b"#!lua name=lib\nredis.register_function('f', function() return 1 end)",))
    buf = io.BytesIO()
    n = bulk.write_snapshot_rdb(engine.snapshot_connection(), buf)
    assert n == len(KEYS)
    buf.seek(0)
    recs = list(iter_records(buf))
    keys = {(r.db, r.key): r for r in recs if isinstance(r, KeyRecord)}
    assert set(keys) == {(d, k) for d, k, *_ in KEYS}
    assert keys[(0, b"bin")].expire_ms == 4_102_444_800_000
    assert any(getattr(r, "kind", "") == "function" for r in recs)


def test_jsonl_records_round_trip():
    for rec in KEYS:
        obj = json.loads(json.dumps(bulk.to_json_record(*rec)))
        d, k, t, v, e = bulk.from_json_record(obj)
        assert (d, k, t, normal(t, v), e) == (rec[0], rec[1], rec[2], normal(rec[2], rec[3]), rec[4])
    assert bulk.to_json_record(0, b"\xff", "string", b"ok", None)["key"] == {"base64": "/w=="}
    with pytest.raises(ValueError):
        bulk.from_json_record({"db": 0, "key": "k", "type": "nope", "value": 1})


def test_jsonl_stream_round_trip_and_bad_streams():
    from aki.rdb.stream import StreamConsumer, StreamGroup, StreamPending, StreamValue

    s = StreamValue(
        entries=[((1, 1), [(b"f", b"v")]), ((3, 0), [(b"\xff", b"")])], length=2,
        last_id=(3, 0), first_id=(1, 1), max_deleted_entry_id=(2, 0), entries_added=3,
        groups=[StreamGroup(b"g", (3, 0), 3,
                            [StreamPending((1, 1), b"c1", 1700000000000, 2),
                             StreamPending((2, 0), None, 1700000000001, 1)],
                            [StreamConsumer(b"c1", 1700000000000, 1700000000002, [(1, 1)])])])
    obj = json.loads(json.dumps(bulk.to_json_record(2, b"s", "stream", s, 9_000_000_000_000)))
    assert obj["value"]["entries"][1] == ["3-0", [[{"base64": "/w=="}, ""]]]
    assert bulk.from_json_record(obj) == (2, b"s", "stream", s, 9_000_000_000_000)
    bad = json.loads(json.dumps(obj))
    for mutate in (lambda v: v.pop("groups"), lambda v: v.update(last_id="3"),
                   lambda v: v.update(last_id="-1-0"), lambda v: v.update(length="2"),
                   lambda v: v["groups"][0]["pending"].append(["1-1"]),
                   lambda v: v.update(entries=[["1-1", [["f"]]]])):
        bad = json.loads(json.dumps(obj))
        mutate(bad["value"])
        with pytest.raises(ValueError):
            bulk.from_json_record(bad)


def test_library_name():
    assert bulk.library_name(b"#!lua name=mylib\nreturn") == "mylib"
    assert bulk.library_name(b"return 1") is None
