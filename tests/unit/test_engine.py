"""The SQLite engine without a server: file identity, transactions, clean close."""

from __future__ import annotations

import os
from pathlib import Path

import apsw
import pytest

from aki.storage.engine import APPLICATION_ID, SCHEMA_VERSION, Engine, FileRefused


def test_new_file_is_marked_as_aki(tmp_path: Path):
    e = Engine(tmp_path / "d.aki")
    e.close()
    conn = apsw.Connection(str(tmp_path / "d.aki"), flags=apsw.SQLITE_OPEN_READONLY)
    assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_commit_and_rollback(tmp_path: Path):
    e = Engine(tmp_path / "d.aki", appendfsync="always")
    e.begin()
    e.cur.execute("INSERT INTO meta (name, value) VALUES ('t1', 1)")
    e.commit()
    e.begin()
    e.cur.execute("INSERT INTO meta (name, value) VALUES ('t2', 2)")
    e.rollback()
    assert not e.in_tx
    names = {r[0] for r in e.cur.execute("SELECT name FROM meta")}
    assert "t1" in names and "t2" not in names
    assert e.commits == 1 and e.fsyncs == 1
    e.close()


def test_close_checkpoints_and_empties_the_wal(tmp_path: Path):
    e = Engine(tmp_path / "d.aki")
    e.begin()
    e.cur.execute("INSERT INTO meta (name, value) VALUES ('x', randomblob(100000))")
    e.commit()
    assert e.file_sizes()[1] > 0
    e.close()
    wal = tmp_path / "d.aki-wal"
    assert not wal.exists() or wal.stat().st_size == 0


def test_reopen_keeps_data_and_databases_count(tmp_path: Path):
    e = Engine(tmp_path / "d.aki", databases=4)
    e.close()
    e = Engine(tmp_path / "d.aki", databases=16)
    assert e.databases == 4  # fixed when the file was created
    e.close()


@pytest.mark.parametrize("content", [b"garbage" * 100, b"SQLite format 3\x00short"])
def test_foreign_bytes_refused_untouched(tmp_path: Path, content: bytes):
    p = tmp_path / "d.aki"
    p.write_bytes(content)
    with pytest.raises(FileRefused):
        Engine(p)
    assert p.read_bytes() == content
    assert sorted(os.listdir(tmp_path)) == ["d.aki"]


def test_newer_schema_refused(tmp_path: Path):
    e = Engine(tmp_path / "d.aki")
    e.cur.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    e.close()
    with pytest.raises(FileRefused, match="newer aki"):
        Engine(tmp_path / "d.aki")


def test_readonly_engine_does_not_write(tmp_path: Path):
    e = Engine(tmp_path / "d.aki")
    e.close()
    before = (tmp_path / "d.aki").read_bytes()
    ro = Engine(tmp_path / "d.aki", readonly=True)
    assert ro.cur.execute("SELECT count(*) FROM meta").fetchone()[0] >= 1
    ro.close()
    assert (tmp_path / "d.aki").read_bytes() == before


def test_empty_file_becomes_a_database(tmp_path: Path):
    p = tmp_path / "d.aki"
    p.touch()
    e = Engine(p)
    e.close()
    assert p.read_bytes().startswith(b"SQLite format 3\x00")


def test_page_size_applies_to_new_files_only(tmp_path: Path):
    e = Engine(tmp_path / "d.aki", page_size=2048)
    assert e.page_size == 2048
    e.close()
    e = Engine(tmp_path / "d.aki", page_size=4096)  # an existing file keeps its own
    assert e.page_size == 2048
    e.close()
    e = Engine(tmp_path / "n.aki")
    assert e.page_size == 4096  # the default for new files
    e.close()
