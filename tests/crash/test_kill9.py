"""kill -9 under concurrent writers (appendfsync always): nothing acknowledged is lost,
nothing is half-applied; torn WAL tails are discarded on open.

Each writer thread owns its keys and records every reply it received: those writes
were acknowledged and must survive. A write in flight at the kill may or may not
survive, but only whole: an MSET's keys always carry one same value.
"""

from __future__ import annotations

import os
import random
import threading
import time
from pathlib import Path

import apsw
import pytest
import redis

from tests.conftest import ServerProcess, start_aki


class Writer(threading.Thread):
    """Writes its own keys in a loop until the connection dies; records acknowledgements."""

    def __init__(self, port: int, prefix: str, use_lists: bool) -> None:
        super().__init__(daemon=True)
        self.r = redis.Redis(port=port, socket_timeout=10)
        self.p = prefix
        self.use_lists = use_lists
        self.acked_sets: dict[str, bytes] = {}
        self.acked_incr = 0  # highest INCR reply
        self.tried_incr = 0
        self.acked_mset = -1
        self.tried_mset = -1
        self.acked_rpush = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        p, r = self.p, self.r
        i = 0
        try:
            while True:
                key = f"{p}:s:{i}"
                val = f"v{i}-".encode() * (1 + i % 7)
                assert r.set(key, val) is True
                self.acked_sets[key] = val
                self.tried_incr += 1
                self.acked_incr = r.incr(f"{p}:ctr")
                self.tried_mset = i
                assert r.mset({f"{p}:m:a": i, f"{p}:m:b": i, f"{p}:m:c": i}) is True
                self.acked_mset = i
                if self.use_lists:
                    self.acked_rpush = r.rpush(f"{p}:log", i)
                i += 1
        except (redis.ConnectionError, redis.TimeoutError, ConnectionError):
            return  # the server was killed
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc

    def verify(self, r: redis.Redis) -> None:
        p = self.p
        assert self.error is None, f"{p}: writer failed: {self.error!r}"
        keys = list(self.acked_sets)
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            got = r.mget(chunk)
            for k, v in zip(chunk, got, strict=True):
                assert v == self.acked_sets[k], f"acknowledged SET {k} lost: {v!r}"
        ctr = int(r.get(f"{p}:ctr") or 0)
        assert self.acked_incr <= ctr <= self.tried_incr, (p, self.acked_incr, ctr, self.tried_incr)
        m = r.mget(f"{p}:m:a", f"{p}:m:b", f"{p}:m:c")
        if self.acked_mset >= 0 or m[0] is not None:
            assert m[0] == m[1] == m[2], f"MSET half-applied: {m!r}"
            assert self.acked_mset <= int(m[0]) <= self.tried_mset
        if self.use_lists:
            items = r.lrange(f"{p}:log", 0, -1)
            assert len(items) >= self.acked_rpush
            assert items == [str(n).encode() for n in range(len(items))]


def _has_command(r: redis.Redis, name: str) -> bool:
    try:
        r.execute_command(name, "__probe__", "x")
        return True
    except redis.ResponseError as exc:
        return "unknown command" not in str(exc)


@pytest.mark.parametrize("checkpoints", [False, True], ids=["default", "checkpointing"])
def test_kill9_during_concurrent_writes_loses_nothing_acknowledged(tmp_path: Path,
                                                                   checkpoints: bool):
    """With ``checkpointing``, a 1 MB WAL limit makes the background checkpoint and the
    WAL restart run throughout, so kills also land in the middle of them."""
    extra = ("--checkpoint-wal-size", "1mb") if checkpoints else ()
    srv = start_aki(tmp_path, "--appendfsync", "always", *extra)
    checkpointed = 0
    rnd = random.Random(int.from_bytes(os.urandom(4), "big"))
    all_writers: list[Writer] = []
    try:
        r = srv.client()
        use_lists = _has_command(r, "RPUSH")
        r.delete("__probe__")
        r.close()
        for rnd_no in range(4):
            writers = [Writer(srv.port, f"r{rnd_no}w{t}", use_lists) for t in range(4)]
            for w in writers:
                w.start()
            time.sleep(rnd.uniform(0.2, 1.5))
            if checkpoints:
                probe = srv.client()
                checkpointed += probe.info("aki")["aki_checkpoints"]
                probe.close()
                time.sleep(rnd.uniform(0, 0.3))
            srv.stop("kill")
            for w in writers:
                w.join(15)
                assert not w.is_alive()
            all_writers += writers
            srv.start()
            r = srv.client()
            for w in all_writers:  # earlier rounds stay intact too
                w.verify(r)
            assert sum(len(w.acked_sets) for w in writers) > 0, "no write was acknowledged"
            r.close()
    finally:
        srv.stop()
    _integrity_ok(tmp_path / "data.aki")
    assert checkpointed > 0 or not checkpoints, "no checkpoint ran before the kills"


def _integrity_ok(path: Path) -> None:
    conn = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        conn.close()


def _torn_tail_round(tmp_path: Path, mutate) -> None:
    srv: ServerProcess = start_aki(tmp_path, "--appendfsync", "always")
    r = srv.client()
    for i in range(300):
        r.set(f"early:{i}", f"value-{i}")
    # The last commit is large (many WAL frames), so the tail cut lands inside it.
    last = {f"last:{i}": "z" * 200 for i in range(1500)}
    r.mset(last)
    r.close()
    srv.stop("kill")
    wal = tmp_path / "data.aki-wal"
    assert wal.exists() and wal.stat().st_size > 0
    mutate(wal)
    srv.start()
    r = srv.client()
    try:
        got = r.mget([f"early:{i}" for i in range(300)])
        assert got == [f"value-{i}".encode() for i in range(300)]
        present = r.mget(list(last))
        assert present in ([None] * len(last), [b"z" * 200] * len(last)), "last commit half-applied"
        assert r.set("after", "ok") and r.get("after") == b"ok"
    finally:
        r.close()
        srv.stop()
    log = (tmp_path / "aki.log").read_text()
    assert "Traceback" not in log
    _integrity_ok(tmp_path / "data.aki")


def test_torn_wal_tail_truncated(tmp_path: Path):
    def cut(wal: Path) -> None:
        size = wal.stat().st_size
        os.truncate(wal, size - 1000)

    _torn_tail_round(tmp_path, cut)


def test_torn_wal_tail_garbage(tmp_path: Path):
    def scribble(wal: Path) -> None:
        with open(wal, "r+b") as f:
            f.seek(-3000, os.SEEK_END)
            f.write(os.urandom(3000))

    _torn_tail_round(tmp_path, scribble)


def test_wal_with_trailing_half_frame(tmp_path: Path):
    def append_half_frame(wal: Path) -> None:
        with open(wal, "ab") as f:
            f.write(os.urandom(2000))

    _torn_tail_round(tmp_path, append_half_frame)
