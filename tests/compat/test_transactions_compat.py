"""MULTI/EXEC/DISCARD/WATCH/UNWATCH against real redis-server, RESP2 and RESP3,
replies compared byte for byte; WATCH races use a second client on each side."""

from __future__ import annotations

import time

import pytest

from tests.conftest import RawClient


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def p(pair, request):
    if request.param == 3:
        pair.both("HELLO", "3")
    return pair


class Other:
    """A second client on each server (the one that races the watcher)."""

    def __init__(self, aki_port: int, redis_port: int) -> None:
        self.a = RawClient(aki_port)
        self.r = RawClient(redis_port)

    def same(self, *args) -> bytes:
        got, want = self.a.cmd(*args), self.r.cmd(*args)
        assert got == want, f"{args!r}: aki {got!r} != redis {want!r}"
        return got

    def close(self) -> None:
        self.a.close()
        self.r.close()


@pytest.fixture
def o(pair, aki_server, redis_server):
    other = Other(aki_server.port, redis_server.port)
    yield other
    other.close()


def test_basics_and_reply_shapes(p):
    p.same("MULTI")
    p.same("SET", "a", "1")
    p.same("INCR", "a")
    p.same("GET", "a")
    p.same("HSET", "h", "f", "v")
    p.same("HGETALL", "h")
    p.same("ZADD", "z", "1.5", "m")
    p.same("ZSCORE", "z", "m")
    p.same("SMEMBERS", "nokey")
    p.same("GET", "missing")
    p.same("PING")
    p.same("EXEC")
    p.same("EXEC")
    p.same("DISCARD")
    p.same("MULTI")
    p.same("EXEC")


def test_discard_and_nesting(p):
    p.same("MULTI")
    p.same("SET", "x", "1")
    p.same("MULTI")
    p.same("WATCH", "x")
    p.same("DISCARD")
    p.same("GET", "x")
    p.same("MULTI")
    p.same("MULTI")
    p.same("EXEC")


def test_queueing_errors_abort(p):
    p.same("MULTI")
    p.same("SET", "k", "1")
    p.same("NOSUCHCOMMAND", "x")
    p.same("EXEC")
    p.same("GET", "k")
    p.same("MULTI")
    p.same("SET", "k")
    p.same("INCR", "k")
    p.same("EXEC")
    p.same("MULTI")
    p.same("CONFIG", "NOPE")
    p.same("EXEC")
    p.same("MULTI")
    p.same("WATCH", "k")
    p.same("EXEC")
    # the aborted transaction leaves no state behind
    p.same("SET", "k", "1")
    p.same("EXEC")


def test_runtime_errors_do_not_roll_back(p):
    p.same("SET", "s", "str")
    p.same("MULTI")
    p.same("INCR", "c")
    p.same("LPUSH", "s", "x")
    p.same("INCR", "s")
    p.same("INCR", "c")
    p.same("EXEC")
    p.same("GET", "c")


def test_blocking_commands_answer_at_once(p):
    p.same("MULTI")
    p.same("BLPOP", "nolist", "0")
    p.same("BRPOPLPUSH", "nolist", "dst", "0")
    p.same("BZPOPMIN", "nozset", "0")
    p.same("RPUSH", "l", "a")
    p.same("BLPOP", "l", "0")
    p.same("EXEC")


def test_watch_unmodified_and_unwatch(p, o):
    p.same("SET", "w", "1")
    p.same("WATCH", "w")
    p.same("MULTI")
    p.same("INCR", "w")
    p.same("EXEC")
    p.same("WATCH", "w")
    o.same("SET", "w", "5")
    p.same("UNWATCH")
    p.same("MULTI")
    p.same("INCR", "w")
    p.same("EXEC")
    p.same("UNWATCH")


@pytest.mark.parametrize("race", [
    ("SET", "w", "2"),
    ("DEL", "w"),
    ("EXPIRE", "w", "100"),
    ("PERSIST", "w"),
    ("APPEND", "w", "x"),
    ("RENAME", "w", "w2"),
    ("RENAME", "other", "w"),
    ("FLUSHDB",),
    ("FLUSHALL",),
    ("SWAPDB", "0", "1"),
])
def test_watch_races(p, o, race):
    p.same("SET", "w", "1")
    p.same("SET", "other", "x")
    p.same("WATCH", "w", "k2", "k3")
    o.same(*race)
    p.same("MULTI")
    p.same("SET", "out", "1")
    p.same("EXEC")
    p.same("GET", "out")
    o.same("FLUSHALL")


@pytest.mark.parametrize("key", ["absent", ""])
@pytest.mark.parametrize("race", [("FLUSHDB",), ("FLUSHALL",), ("SWAPDB", "0", "1"),
                                  ("SWAPDB", "0", "0")])
def test_flush_does_not_touch_absent_keys(p, o, race, key):
    """The empty key too: aki's flush once reported "" itself as touched."""
    p.same("WATCH", key)
    o.same(*race)
    p.same("MULTI")
    p.same("PING")
    p.same("EXEC")


def test_swapdb_touches_key_present_in_other_db(p, o):
    o.same("SELECT", "1")
    o.same("SET", "k", "v")
    p.same("WATCH", "k")
    o.same("SWAPDB", "0", "1")
    p.same("MULTI")
    p.same("PING")
    p.same("EXEC")
    o.same("FLUSHALL")


def test_watch_remembers_db(p, o):
    p.same("SELECT", "1")
    p.same("SET", "x", "30")
    p.same("WATCH", "x")
    o.same("SET", "x", "10")  # db 0: another key
    p.same("MULTI")
    p.same("PING")
    p.same("EXEC")
    p.same("SELECT", "0")
    o.same("FLUSHALL")


def test_watched_key_expiring_fails_exec(p, o):
    p.same("SET", "e", "v", "PX", "100")
    p.same("WATCH", "e")
    time.sleep(0.3)
    p.same("MULTI")
    p.same("PING")
    p.same("EXEC")
    p.same("SET", "gone", "v", "PX", "1")
    time.sleep(0.05)
    p.same("WATCH", "gone")  # already expired when watched: not a change
    p.same("MULTI")
    p.same("PING")
    p.same("EXEC")


def test_discard_clears_watch(p, o):
    p.same("SET", "x", "1")
    p.same("WATCH", "x")
    o.same("SET", "x", "2")
    p.same("MULTI")
    p.same("DISCARD")
    p.same("MULTI")
    p.same("INCR", "x")
    p.same("EXEC")
    p.same("WATCH", "x")
    p.same("MULTI")
    p.same("DISCARD")
    o.same("SET", "x", "9")
    p.same("MULTI")
    p.same("INCR", "x")
    p.same("EXEC")


def test_exec_after_failed_exec_unwatches(p, o):
    p.same("SET", "x", "1")
    p.same("WATCH", "x")
    o.same("SET", "x", "2")
    p.same("MULTI")
    p.same("PING")
    p.same("EXEC")
    o.same("SET", "x", "3")
    p.same("MULTI")
    p.same("PING")
    p.same("EXEC")


def test_multi_with_select_and_client_list_flags(p):
    p.same("MULTI")
    p.same("SELECT", "2")
    p.same("SET", "k", "v")
    p.same("SELECT", "0")
    p.same("EXEC")
    p.same("SELECT", "2")
    p.same("GET", "k")
    p.same("SELECT", "0")


def test_watched_already_expired_key_deleted_by_another_client(p, o):
    # WATCH of a key that is logically expired but still stored: its deletion by a later
    # lazy or active expiry is no change (Redis 7.0's watchedKey.expired), its re-creation is
    p.same("SET", "gone", "v", "PX", "1")
    time.sleep(0.05)
    p.same("WATCH", "gone")
    o.same("GET", "gone")  # lazy expiry deletes it now
    o.same("EXISTS", "gone")
    p.same("MULTI")
    p.same("PING")
    p.same("EXEC")
    p.same("SET", "gone2", "v", "PX", "1")
    time.sleep(0.05)
    p.same("WATCH", "gone2")
    o.same("GET", "gone2")
    o.same("SET", "gone2", "new")
    p.same("MULTI")
    p.same("PING")
    p.same("EXEC")


def test_time_stands_still_inside_exec_and_scripts(pair):
    """A key that expires during EXEC or a script still exists until it ends (Redis's
    fixed_time_expire / script time snapshot); DEBUG OBJECT shows an expired key."""
    pair.same("MULTI")
    pair.same("SET", "k", "v", "PX", "1")
    pair.same("DEBUG", "SLEEP", "0.01")
    pair.same("EXISTS", "k")
    pair.same("EXEC")
    pair.same("EXISTS", "k")
    pair.same("DEBUG", "SET-DISABLE-DENY-SCRIPTS", "1")
    try:
        pair.same("EVAL", "redis.call('SET', 'k', 'v', 'PX', '1'); redis.call('DEBUG', 'SLEEP', "
                  "0.01); return redis.call('EXISTS', 'k')", "0")
        pair.same("EXISTS", "k")
    finally:
        pair.same("DEBUG", "SET-DISABLE-DENY-SCRIPTS", "0")
    pair.same("EVAL", "return redis.call('DEBUG', 'SLEEP', 0)", "0")  # noscript again
    pair.same("DEBUG", "SET-ACTIVE-EXPIRE", "0")
    try:
        pair.same("SET", "k", "v", "PX", "1")
        time.sleep(0.01)
        for c in (pair.a, pair.r):  # the address and lru differ; that it answers matters
            assert c.cmd("DEBUG", "OBJECT", "k").startswith(b"+Value at:")
        pair.same("EXISTS", "k")
    finally:
        pair.same("DEBUG", "SET-ACTIVE-EXPIRE", "1")
