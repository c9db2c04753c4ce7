"""The keys row in the file (len, head, enc) after the collection fast paths: what a
restarted server reads back must equal what the running one keeps in its row cache."""

from __future__ import annotations

import pytest

from aki.core.dispatch import call, resolve
from aki.core.session import Client


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


@pytest.fixture
def batch(run):
    """Several commands in one batch (one transaction), as a pipelined read runs them."""
    server = run.server
    client = Client(server)

    def batch(*cmds):
        eng = server.engine
        eng.begin()
        out = []
        for args in cmds:
            argv = [a if isinstance(a, bytes) else str(a).encode() for a in args]
            out.append(call(client, resolve(client, argv), argv))
        eng.commit()
        return out

    batch.server = server
    return batch


def test_counters_are_written_once_per_batch_and_at_commit(batch):
    server = batch.server
    batch(["RPUSH", "l", "a"])
    cur = server.engine.cur
    writes = []
    server.engine.conn.setupdatehook(lambda op, db, table, rowid: writes.append(table))
    try:
        batch(*[["RPUSH", "l", b"x%d" % i] for i in range(20)], *[["SADD", "s", i] for i in range(20)])
    finally:
        server.engine.conn.setupdatehook(None)
    assert writes.count("keys") <= 3  # the set's INSERT, then one counter UPDATE per key
    assert cur.execute("SELECT len FROM keys WHERE key = ?", (b"l",)).fetchone() == (21,)
    assert cur.execute("SELECT len FROM keys WHERE key = ?", (b"s",)).fetchone() == (20,)


def test_counters_are_written_before_a_command_that_reads_the_file(batch):
    # COPY copies len/head with SQL, DEL's trigger reads len, OBJECT/TYPE go through
    # lookups: each sees the batch's own pushes
    out = batch(["RPUSH", "l", "a", "b"], ["LPUSH", "l", "c"], ["COPY", "l", "l2"],
                ["LLEN", "l2"], ["LRANGE", "l2", 0, -1],
                ["SADD", "s", *range(300)], ["SADD", "s", "x"], ["DEL", "s"],
                ["RPUSH", "big", *range(300)], ["RPUSH", "big", "y"], ["SET", "big", "v"])
    assert out[3] == 3 and out[4] == [b"c", b"a", b"b"]
    assert out[7] == 1
    cur = batch.server.engine.cur
    # the 301-element set went to deferred reclaim (its len was right when it was deleted)
    assert cur.execute("SELECT count(*) FROM garbage").fetchone()[0] == 2
    assert cur.execute("SELECT len, head FROM keys WHERE key = ?", (b"l2",)).fetchone() == (3, -1)


def test_rollback_drops_pending_counters(batch):
    server = batch.server
    batch(["RPUSH", "l", "a"])
    eng = server.engine
    eng.begin()
    client = Client(server)
    argv = [b"RPUSH", b"l", b"b"]
    call(client, resolve(client, argv), argv)
    assert server.ks.pending_meta
    eng.rollback()
    server.ks.invalidate()
    assert not server.ks.pending_meta
    assert batch(["LLEN", "l"]) == [1]
    assert batch(["LRANGE", "l", 0, -1]) == [[b"a"]]


def test_eviction_writes_pending_counters_first(batch):
    server = batch.server
    server.ks.set_cache_entries(16)
    out = batch(["RPUSH", "l", "a"], ["RPUSH", "l", "b"],
                *[["SET", b"k%d" % i, "v"] for i in range(40)], ["LLEN", "l"])
    assert out[-1] == 2
    assert server.engine.cur.execute("SELECT len FROM keys WHERE key = ?", (b"l",)).fetchone() == (2,)


def test_ids_of_collections_awaiting_reclaim_are_not_reused(run):
    """A deleted big collection's rows wait in `garbage`; a key created after it,
    even when the deleted key had the highest id, must not take its id."""
    server = run.server
    cur = server.engine.cur
    run("SET", "low", "1")
    run("RPUSH", "big", *range(1000))  # over the trigger's 256: reclaimed later
    big_id = cur.execute("SELECT id FROM keys WHERE key = ?", (b"big",)).fetchone()[0]
    run("DEL", "big")
    assert cur.execute("SELECT key_id FROM garbage").fetchall() == [(big_id,)]
    run("RPUSH", "new", "a", "b")
    run("SET", "s", "x")  # a string may share an id: it owns no element rows
    run("SADD", "set", "m")
    run("COPY", "new", "copy")
    ids = dict(cur.execute("SELECT key, id FROM keys WHERE type != 0").fetchall())
    assert all(i > big_id for i in ids.values()), ids
    while server.ks.reclaim_garbage(100):
        pass
    assert run("LRANGE", "new", 0, -1) == [b"a", b"b"]
    assert run("LRANGE", "copy", 0, -1) == [b"a", b"b"]
    assert run("SISMEMBER", "set", "m") == 1
    assert cur.execute("SELECT count(*) FROM list_items").fetchone()[0] == 4
