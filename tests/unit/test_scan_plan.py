"""SCAN steps stay cheap: a dense database is walked by id, never sorted whole per step."""

from __future__ import annotations

from aki.storage.engine import Engine
from aki.storage.keyspace import _SCAN_BY_DB, _SCAN_BY_ID, Keyspace


def _full_scan(ks: Keyspace, db: int, count: int = 7) -> list[bytes]:
    cursor, seen = 0, []
    while True:
        cursor, keys = ks.scan(db, cursor, count, None, None)
        seen += keys
        if cursor == 0:
            return seen


def test_scan_plans_and_both_paths_return_every_key(tmp_path):
    engine = Engine(tmp_path / "s.aki")
    ks = Keyspace(engine)
    engine.begin()
    for i in range(500):
        ks.set_string(0, b"dense:%d" % i, b"v")
        if i % 50 == 0:
            ks.set_string(1, b"sparse:%d" % i, b"v")  # interleaved ids, a small minority
    engine.commit()
    plan = " ".join(r[3] for r in engine.cur.execute("EXPLAIN QUERY PLAN " + _SCAN_BY_ID,
                                                     (0, 0, 10)))
    assert "PRIMARY KEY" in plan and "TEMP B-TREE" not in plan  # no per-step sort
    plan = " ".join(r[3] for r in engine.cur.execute("EXPLAIN QUERY PLAN " + _SCAN_BY_DB,
                                                     (1, 0, 10)))
    assert "keys_by_name" in plan  # a small database is found through the index
    engine.begin()
    assert sorted(_full_scan(ks, 0)) == sorted(b"dense:%d" % i for i in range(500))
    assert sorted(_full_scan(ks, 1)) == sorted(b"sparse:%d" % i for i in range(0, 500, 50))
    assert _full_scan(ks, 2) == []
    engine.commit()
    engine.close()
