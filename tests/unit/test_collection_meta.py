"""The keys row in the file (len, head, enc) after the collection fast paths: what a
restarted server reads back must equal what the running one keeps in its row cache."""

from __future__ import annotations

import pytest

from aki.commands import load_all
from aki.config import Config
from aki.core.dispatch import call, resolve
from aki.core.session import Client
from aki.core.state import Server


@pytest.fixture
def run(tmp_path):
    load_all()
    cfg = Config()
    cfg.dbfile = str(tmp_path / "m.aki")
    server = Server(cfg)
    client = Client(server)
    eng = server.engine

    def run(*args):
        argv = [a if isinstance(a, bytes) else str(a).encode() for a in args]
        eng.begin()
        reply = call(client, resolve(client, argv), argv)
        eng.commit()
        return reply

    run.server = server
    yield run
    server.engine.close() if hasattr(server.engine, "close") else None


def _file_rows(server):
    return {k: (t, n, h, e) for k, t, n, h, e in server.engine.cur.execute(
        "SELECT key, type, len, head, enc FROM keys")}


def _cached_rows(server):
    return {key: (row.type, row.len, row.head, row.enc)
            for (_db, key), row in server.ks.cache.items() if row is not None}


def test_file_matches_cache(run):
    run("SADD", "s_str", "x")
    run("SADD", "s_int", "1")
    run("SADD", "s_int", "2")
    run("SADD", "s_mix", "1")
    run("SADD", "s_mix", "y")
    run("LPUSH", "l", "a")
    run("RPUSH", "l", "b", "c")
    run("RPOP", "l")
    run("LPOP", "l")
    run("RPUSH", "src", "x", "y")
    run("LMOVE", "src", "dst", "LEFT", "RIGHT")
    run("HSET", "h", "f", "v")
    run("HSET", "h", "f", "v")
    run("HSET", "h", "g", "v" * 100)
    run("ZADD", "z", "1", "m")
    run("ZADD", "z", "2", "m")
    run("ZADD", "z", "2", "n")
    run("ZADD", "zl", "1", "m" * 100)
    file_rows = _file_rows(run.server)
    cached = _cached_rows(run.server)
    assert file_rows == {k: v for k, v in cached.items() if k in file_rows}
    assert set(cached) >= set(file_rows)
    assert file_rows[b"s_str"][3] == 1 and file_rows[b"s_int"][3] == 0
    assert file_rows[b"s_mix"][3] == 1
    assert file_rows[b"l"][1:3] == (1, 0)
    assert file_rows[b"zl"][3] == 1 and file_rows[b"z"][1] == 2
