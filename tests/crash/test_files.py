"""Files aki must not touch, a full disk, and a second process on the same file."""

from __future__ import annotations

import hashlib
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import apsw
import pytest
import redis

from tests.conftest import free_port, start_aki


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _run_aki(dbfile: Path, timeout: float = 30, cwd: Path | None = None) -> subprocess.CompletedProcess:
    port = free_port()
    return subprocess.run(
        [sys.executable, "-m", "aki", "server", "--port", str(port), "--dbfile", str(dbfile)],
        cwd=cwd or dbfile.parent, capture_output=True, text=True, timeout=timeout,
    )


def _make_random(path: Path) -> None:
    path.write_bytes(os.urandom(8192))


def _make_plain_sqlite(path: Path, wal: bool = False) -> None:
    conn = apsw.Connection(str(path))
    if wal:
        conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    conn.execute("INSERT INTO customers (name) VALUES ('ada'), ('grace')")
    conn.close()  # the last connection checkpoints and removes -wal/-shm


def _make_other_app_id(path: Path) -> None:
    conn = apsw.Connection(str(path))
    conn.execute("PRAGMA application_id = 1234")
    conn.execute("CREATE TABLE t (x)")
    conn.close()


def _make_newer_aki(path: Path, tmp: Path) -> None:
    srv = start_aki(tmp, dbfile=path.name)
    srv.client().set("k", "v")
    srv.stop()
    conn = apsw.Connection(str(path))
    conn.execute("PRAGMA journal_mode=DELETE")
    conn.execute("PRAGMA user_version = 99")
    conn.close()


def _make_empty_sqlite_with_app_id_zero_and_tables(path: Path) -> None:
    conn = apsw.Connection(str(path))
    conn.execute("CREATE TABLE meta (name, value)")  # looks a little like aki, but is not
    conn.close()


def _make_truncated_header(path: Path) -> None:
    path.write_bytes(b"SQLite format 3\x00" + b"\x10\x00")


FOREIGN = {
    "random-bytes": (_make_random, "not an aki database"),
    "text-file": (lambda p: p.write_text("hello\n" * 100), "not an aki database"),
    "plain-sqlite": (_make_plain_sqlite, "not an aki database"),
    "plain-sqlite-wal-mode": (lambda p: _make_plain_sqlite(p, wal=True), "not an aki database"),
    "other-application-id": (_make_other_app_id, "not an aki database"),
    "sqlite-with-meta-table": (_make_empty_sqlite_with_app_id_zero_and_tables, "not an aki database"),
    "truncated-header": (_make_truncated_header, "refusing"),
}


@pytest.mark.parametrize("name", list(FOREIGN))
def test_foreign_file_refused_and_untouched(tmp_path: Path, name: str):
    make, message = FOREIGN[name]
    db = tmp_path / "data.aki"
    make(db)
    before = _sha(db)
    listing = sorted(os.listdir(tmp_path))
    proc = _run_aki(db)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert message in out, out
    assert str(db) in out
    assert "Traceback" not in out
    assert _sha(db) == before, "the refused file was modified"
    assert sorted(os.listdir(tmp_path)) == listing, "sidecar files were created next to it"


def test_newer_schema_refused_and_untouched(tmp_path: Path):
    db = tmp_path / "data.aki"
    _make_newer_aki(db, tmp_path)
    for side in ("data.aki-wal", "data.aki-shm"):
        assert not (tmp_path / side).exists()
    before = _sha(db)
    proc = _run_aki(db)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "newer aki" in out and "99" in out, out
    assert _sha(db) == before
    assert not (tmp_path / "data.aki-wal").exists() and not (tmp_path / "data.aki-shm").exists()


def test_missing_directory_fails_cleanly(tmp_path: Path):
    proc = _run_aki(tmp_path / "no" / "such" / "dir" / "data.aki", cwd=tmp_path)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stdout + proc.stderr


# -- disk full ---------------------------------------------------------------------------------


def test_disk_full_errors_then_recovers(tmp_path: Path):
    """RLIMIT_FSIZE makes every write past 3 MB fail with EFBIG (SIGXFSZ is ignored by
    Python): writes must get an error reply, reads keep working, nothing acknowledged is
    lost, and writes succeed again once the limit is lifted."""
    limit = 3 * 1024 * 1024
    srv = start_aki(tmp_path, "--appendfsync", "always")
    resource.prlimit(srv.proc.pid, resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
    r = srv.client()
    acked: dict[str, bytes] = {}
    errors = []
    value = os.urandom(20_000)
    for i in range(400):
        try:
            r.set(f"big:{i}", value + str(i).encode())
            acked[f"big:{i}"] = value + str(i).encode()
        except redis.ResponseError as exc:
            errors.append(str(exc))
            if len(errors) >= 5:
                break
    assert errors, "the size limit never hit: nothing was tested"
    assert acked, "nothing fit under the limit"
    assert srv.proc.poll() is None, "the server died on a full disk"
    # Reads are still served, and every acknowledged write is there.
    assert r.ping()
    for k in list(acked)[-20:]:
        assert r.get(k) == acked[k]
    resource.prlimit(srv.proc.pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    deadline = time.time() + 10
    while True:
        try:
            assert r.set("after-space-returns", "yes") is True
            break
        except redis.ResponseError:
            if time.time() > deadline:
                raise
            time.sleep(0.2)
    assert r.get("after-space-returns") == b"yes"
    r.close()
    srv.stop("kill")
    srv.start()
    r = srv.client()
    for start in range(0, len(acked), 100):
        ks = list(acked)[start:start + 100]
        assert r.mget(ks) == [acked[k] for k in ks]
    assert r.get("after-space-returns") == b"yes"
    r.close()
    srv.stop()
    conn = apsw.Connection(str(tmp_path / "data.aki"), flags=apsw.SQLITE_OPEN_READONLY)
    assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    conn.close()


# -- two processes -------------------------------------------------------------------------------

_OTHER_WRITER = r"""
import sys, time, apsw
conn = apsw.Connection(sys.argv[1])
conn.setbusytimeout(10000)
conn.execute("CREATE TABLE IF NOT EXISTS other_writer (n INTEGER PRIMARY KEY, t REAL)")
deadline = time.time() + float(sys.argv[2])
n = 0
while time.time() < deadline:
    with conn:
        conn.execute("INSERT INTO other_writer (n, t) VALUES (?, ?)", (n, time.time()))
    n += 1
    time.sleep(0.002)
print(n)
"""


def test_second_process_writing_the_same_file(tmp_path: Path):
    db = tmp_path / "data.aki"
    srv = start_aki(tmp_path, "--appendfsync", "always")
    r = srv.client()
    r.set("before", "1")
    srv.stop()
    other = subprocess.Popen([sys.executable, "-c", _OTHER_WRITER, str(db), "4"],
                             stdout=subprocess.PIPE, text=True)
    time.sleep(0.3)
    srv.start()
    r = srv.client()
    written = {}
    t_end = time.time() + 3
    i = 0
    while time.time() < t_end:
        r.set(f"k:{i}", i)
        written[f"k:{i}"] = str(i).encode()
        i += 1
    out, _ = other.communicate(timeout=30)
    assert other.returncode == 0
    rows_written = int(out.strip())
    assert rows_written > 0 and i > 0
    for start in range(0, i, 500):
        ks = list(written)[start:start + 500]
        assert r.mget(ks) == [written[k] for k in ks]
    r.close()
    srv.stop()
    conn = apsw.Connection(str(db))
    assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    assert conn.execute("SELECT count(*) FROM other_writer").fetchone()[0] == rows_written
    conn.close()
    srv.start()
    r = srv.client()
    assert r.get("before") == b"1" and r.get(f"k:{i - 1}") == written[f"k:{i - 1}"]
    r.close()
    srv.stop()
