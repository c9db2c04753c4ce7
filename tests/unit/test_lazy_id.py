"""A string overwritten by the one-statement UPSERT (no RETURNING) caches a row whose
id is fetched on first use: every later operation that needs the id must still find
the right row, including after SWAPDB (which remaps databases, not rows)."""

from __future__ import annotations

import aki
from aki.storage.keyspace import LazyIdRow


def _uncached_overwrite(db, key: bytes, value: bytes):
    ks = db._core.server.ks
    ks.invalidate()  # forget every row: the next SET takes the UPSERT path
    db.set(key, value)
    row = ks.cache[(0, key)]
    assert type(row) is LazyIdRow
    return row


def test_lazy_row_serves_reads_and_writes(tmp_path):
    with aki.open(tmp_path / "l.aki") as db:
        db.set(b"a", b"1")
        _uncached_overwrite(db, b"a", b"2")
        assert db.get(b"a") == b"2"
        assert db.append(b"a", b"x") == 2  # UPDATE by id
        assert db.get(b"a") == b"2x"
        assert db.expire(b"a", 100)
        assert 0 < db.ttl(b"a") <= 100
        db.close()
    with aki.open(tmp_path / "l.aki") as db:
        assert db.get(b"a") == b"2x" and db.ttl(b"a") > 0


def test_lazy_row_rename_move_delete(tmp_path):
    with aki.open(tmp_path / "l.aki") as db:
        db.set(b"a", b"1")
        _uncached_overwrite(db, b"a", b"2")
        assert db.rename(b"a", b"b")
        assert db.get(b"a") is None and db.get(b"b") == b"2"
        _uncached_overwrite(db, b"b", b"3")
        assert db.move(b"b", 1)
        db.execute_command("SELECT", 1)
        assert db.get(b"b") == b"3"
        db.execute_command("SELECT", 0)
        db.set(b"c", b"1")
        _uncached_overwrite(db, b"c", b"2")
        assert db.delete(b"c") == 1 and db.exists(b"c") == 0 and db.dbsize() == 0


def test_lazy_row_after_swapdb(tmp_path):
    with aki.open(tmp_path / "l.aki") as db:
        db.set(b"k", b"1")
        _uncached_overwrite(db, b"k", b"2")
        db.swapdb(0, 1)  # the row stays in its physical database
        db.execute_command("SELECT", 1)
        assert db.get(b"k") == b"2"
        assert db.delete(b"k") == 1 and db.dbsize() == 0
        db.execute_command("SELECT", 0)
        assert db.dbsize() == 0
