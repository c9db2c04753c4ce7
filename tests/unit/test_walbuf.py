"""aki._walbuf: a commit's WAL frames written in a few calls, and nothing else changed.

What must hold (the module's invariants): after every COMMIT returns, another
connection and a crash image of the files (the main file and the -wal as they are on
disk, no -shm) both show exactly the committed state; rolled back and spilled frames
never show; and the writer itself reads back what it spilled mid-transaction.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import apsw
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aki.storage.engine import Engine


def _engine(path: Path, cache_kb: int = 64 * 1024, appendfsync: str = "everysec") -> Engine:
    e = Engine(path, cache_size_kb=cache_kb, appendfsync=appendfsync)
    e.cur.execute("CREATE TABLE IF NOT EXISTS t (k INTEGER PRIMARY KEY, v BLOB NOT NULL)")
    return e


def _rows(conn: apsw.Connection) -> dict[int, bytes]:
    return {k: bytes(v) for k, v in conn.execute("SELECT k, v FROM t")}


def _crash_image(src: Path, dst: Path) -> dict[int, bytes]:
    """Open a copy of the main file and the -wal as they are on disk (what kill -9
    leaves): SQLite rebuilds its index from the -wal alone."""
    dst.mkdir()
    shutil.copy(src, dst / src.name)
    wal = Path(str(src) + "-wal")
    if wal.exists():
        shutil.copy(wal, dst / (src.name + "-wal"))
    conn = apsw.Connection(str(dst / src.name))
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return _rows(conn)
    finally:
        conn.close()


def test_the_wal_buffer_is_built():
    """The test command builds the extension (`pip install -e .`): a missing compiler
    must not silently leave these tests without their subject in CI."""
    from aki import _walbuf

    assert _walbuf.install(0, 1 << 20) is False  # a null file: refused, nothing touched
    assert os.environ.get("AKI_WALBUF", "1") != "0", "AKI_WALBUF=0 is set in the test environment"


def test_installed_and_one_call_per_128k(tmp_path: Path):
    e = _engine(tmp_path / "d.aki")
    assert e.wal_file != 0
    before = e.wal_buffer_stats()
    e.begin()
    e.cur.executemany("INSERT INTO t VALUES (?, ?)", [(i, os.urandom(1500)) for i in range(400)])
    e.commit()
    calls, written = (a - b for a, b in zip(e.wal_buffer_stats(), before, strict=True))
    frame = e.page_size + 24
    frames = written // frame
    assert written == frames * frame and frames >= 150  # whole frames, ~600 KB
    # unbuffered SQLite makes two calls per frame; the buffer one per ~126 KiB
    assert calls <= written // 0x1F000 + 1
    e.close()


def test_off_without_the_switch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AKI_WALBUF", "0")
    e = _engine(tmp_path / "d.aki")
    assert e.wal_file == 0 and e.wal_buffer_stats() is None
    e.close()


def test_close_and_reopen(tmp_path: Path):
    """xClose writes nothing pending and gives SQLite its methods back; a new
    connection on the same file is wrapped again."""
    path = tmp_path / "d.aki"
    e = _engine(path)
    e.begin()
    e.cur.execute("INSERT INTO t VALUES (1, x'01')")
    e.commit()
    e.close()
    assert e.wal_file == 0
    e = _engine(path)
    assert e.wal_file != 0
    assert _rows(e.conn) == {1: b"\x01"}
    e.close()


def test_spilled_pages_written_again_then_committed(tmp_path: Path):
    """A transaction larger than the cache spills pages to the WAL, dirties them again
    (SQLite rewrites those frames in place) and commits: SQLite then rewrites the
    checksums of every frame from the first rewritten one, the commit frame's header
    last. A crash image must hold the commit: no rewrite may stay in the buffer."""
    path = tmp_path / "d.aki"
    e = _engine(path, cache_kb=64)
    e.begin()
    model = {i: os.urandom(700) for i in range(400)}  # ~70 pages: spills a 64 KiB cache
    e.cur.executemany("INSERT INTO t VALUES (?, ?)", list(model.items()))
    again = {i: os.urandom(700) for i in range(0, 400, 3)}  # the spilled pages again
    e.cur.executemany("UPDATE t SET v = ? WHERE k = ?", [(v, k) for k, v in again.items()])
    model.update(again)
    e.commit()
    assert _crash_image(path, tmp_path / "image") == model
    e.close()


op = st.one_of(
    st.tuples(st.just("put"), st.integers(0, 300), st.integers(0, 9000)),
    st.tuples(st.just("del"), st.integers(0, 300), st.just(0)),
    st.tuples(st.just("bulk"), st.integers(0, 300), st.integers(1, 120)),
)
tx = st.tuples(st.lists(op, min_size=1, max_size=12), st.sampled_from(["commit", "rollback"]),
               st.booleans())


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(txs=st.lists(tx, min_size=1, max_size=10), small_cache=st.booleans(),
       appendfsync=st.sampled_from(["everysec", "always"]))
def test_every_commit_visible_and_durable(tmp_path_factory: pytest.TempPathFactory, txs, small_cache,
                                          appendfsync):
    """Random transactions (overflow pages, bulk rewrites that spill past a 64 KiB cache
    and rewrite spilled frames, then SQLite's checksum rewrite at commit; rollbacks;
    RESTART checkpoints that rewind the WAL), under both synchronous levels: after each
    commit or rollback a reader and a crash image hold exactly the model. (An earlier
    build buffered the rewritten commit-frame header: this test found it.)"""
    root = tmp_path_factory.mktemp("walbuf")
    path = root / "d.aki"
    e = _engine(path, cache_kb=64 if small_cache else 64 * 1024, appendfsync=appendfsync)
    reader = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
    model: dict[int, bytes] = {}
    try:
        for n, (ops, end, checkpoint) in enumerate(txs):
            work = dict(model)
            e.begin()
            for kind, k, size in ops:
                if kind == "put":
                    v = os.urandom(size)
                    e.cur.execute("INSERT OR REPLACE INTO t VALUES (?, ?)", (k, v))
                    work[k] = v
                elif kind == "del":
                    e.cur.execute("DELETE FROM t WHERE k = ?", (k,))
                    work.pop(k, None)
                else:  # rewrite a run of rows: dirties (and with a small cache spills) pages
                    rows = [(j, os.urandom(700)) for j in range(k, k + size)]
                    e.cur.executemany("INSERT OR REPLACE INTO t VALUES (?, ?)", rows)
                    work.update(rows)
            assert _rows(e.conn) == work  # the writer reads its own (spilled) pages
            if end == "commit":
                e.commit()
                model = work
            else:
                e.rollback()
            assert _rows(reader) == model
            assert _crash_image(path, root / f"image{n}") == model
            if checkpoint:
                e.cur.execute("PRAGMA wal_checkpoint(RESTART)")
    finally:
        reader.close()
        e.close()
    final = apsw.Connection(str(path))
    assert _rows(final) == model
    assert final.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    final.close()
