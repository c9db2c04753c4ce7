"""Keyspace notifications against real redis-server: a subscriber to ``__key*__:*`` on
each server, the same commands sent to both, the message streams compared command
by command (event names, order, keyspace and keyevent forms)."""

from __future__ import annotations

import time

import pytest

from tests.conftest import RawClient, encode_command

SENTINEL = b"--end--"


class Watcher:
    def __init__(self, port: int) -> None:
        self.cmd = RawClient(port)
        self.sub = RawClient(port)
        self.sub.cmd("PSUBSCRIBE", "__key*__:*")
        self.sub.cmd("SUBSCRIBE", SENTINEL)

    def run(self, *args) -> tuple[bytes, list[bytes]]:
        reply = self.cmd.cmd(*args)
        return reply, self.drain()

    def drain(self) -> list[bytes]:
        self.cmd.cmd("PUBLISH", SENTINEL, "x")
        msgs = []
        while True:
            m = self.sub.read_reply()
            if SENTINEL in m and m.startswith(b"*3\r\n$7\r\nmessage"):
                return msgs
            msgs.append(m)

    def close(self) -> None:
        self.cmd.close()
        self.sub.close()


class Both:
    def __init__(self, aki_port: int, redis_port: int, flags: str) -> None:
        self.a = Watcher(aki_port)
        self.r = Watcher(redis_port)
        for w in (self.a, self.r):
            w.cmd.cmd("FLUSHALL")
            assert w.cmd.cmd("CONFIG", "SET", "notify-keyspace-events", flags) == b"+OK\r\n"
        self.a.drain()
        self.r.drain()
        self.mismatches: list[str] = []

    def same(self, *args) -> None:
        ra, ma = self.a.run(*args)
        rr, mr = self.r.run(*args)
        assert ra == rr, f"{args!r}: reply aki {ra!r} != redis {rr!r}"
        if ma != mr:
            self.mismatches.append(f"{' '.join(map(str, args))}: aki {ma!r} != redis {mr!r}")

    def events(self) -> tuple[list[bytes], list[bytes]]:
        return self.a.drain(), self.r.drain()

    def check(self) -> None:
        assert not self.mismatches, "\n".join(self.mismatches)

    def close(self) -> None:
        for w in (self.a, self.r):
            w.cmd.cmd("CONFIG", "SET", "notify-keyspace-events", "")
            w.close()


@pytest.fixture
def kea(aki_server, redis_server):
    b = Both(aki_server.port, redis_server.port, "KEA")
    yield b
    b.close()


STRINGS = [
    ("SET", "s", "v"), ("SET", "s", "v2", "EX", "100"), ("SET", "s", "v3", "KEEPTTL"),
    ("SETNX", "s", "x"), ("SETNX", "s2", "x"), ("APPEND", "s", "more"), ("INCR", "n"),
    ("INCRBY", "n", "5"), ("DECR", "n"), ("DECRBY", "n", "2"), ("INCRBYFLOAT", "f", "1.5"),
    ("SETRANGE", "s", "2", "zz"), ("SETRANGE", "empty", "0", ""), ("GETSET", "s", "new"),
    ("MSET", "m1", "1", "m2", "2"), ("MSETNX", "m3", "1", "m1", "x"), ("MSETNX", "m4", "4"),
    ("GETDEL", "m4"), ("GETDEL", "nokey"), ("GETEX", "m1", "EX", "100"), ("GETEX", "m1", "PERSIST"),
    ("GETEX", "m1", "PX", "0"), ("SETEX", "se", "100", "v"), ("PSETEX", "pse", "100000", "v"),
    ("SET", "s", "v", "GET"), ("SET", "s", "v", "NX"), ("SET", "nx", "v", "XX"),
    ("SETBIT", "b", "7", "1"), ("BITOP", "OR", "bd", "b", "s"), ("BITOP", "AND", "bd2", "nokey"),
    ("BITFIELD", "bf", "SET", "u8", "0", "255"), ("GET", "s"),
]

KEYS = [
    ("SET", "k", "v"), ("EXPIRE", "k", "100"), ("PEXPIRE", "k", "100000"), ("EXPIREAT", "k", "99999999999"),
    ("PERSIST", "k"), ("EXPIRE", "k", "100", "NX"), ("EXPIRE", "k", "-1"), ("SET", "k", "v"),
    ("RENAME", "k", "k2"), ("RENAMENX", "k2", "k3"), ("SET", "k4", "v"), ("RENAMENX", "k3", "k4"),
    ("COPY", "k3", "k5"), ("COPY", "k3", "k5", "REPLACE"), ("DEL", "k3", "k4", "nokey"),
    ("UNLINK", "k5"), ("SET", "m", "v"), ("MOVE", "m", "1"), ("TOUCH", "m"),
    ("RPUSH", "srt", "3", "1", "2"), ("SORT", "srt", "STORE", "sorted"), ("SORT", "nokey", "STORE", "sorted"),
    ("SET", "x", "1"), ("RESTORE", "r", "0", "\x00\x011\t\x00\xf6\x8a\xb6z\x85\x87rM"),
]

LISTS = [
    ("RPUSH", "l", "a", "b", "c"), ("LPUSH", "l", "z"), ("RPUSHX", "l", "d"), ("LPUSHX", "nol", "x"),
    ("LINSERT", "l", "BEFORE", "b", "x"), ("LSET", "l", "0", "y"), ("LPOP", "l"), ("RPOP", "l", "2"),
    ("LTRIM", "l", "0", "0"), ("LREM", "l", "0", "a"), ("RPUSH", "l", "1", "2", "3"),
    ("LMOVE", "l", "l2", "LEFT", "RIGHT"), ("RPOPLPUSH", "l", "l"), ("LMPOP", "1", "l", "LEFT", "COUNT", "5"),
    ("RPUSH", "l3", "a"), ("LTRIM", "l3", "1", "0"), ("RPUSH", "l4", "a", "b"), ("BLPOP", "l4", "0"),
    ("BRPOP", "l4", "0"), ("RPUSH", "l5", "a"), ("BLMOVE", "l5", "l6", "RIGHT", "LEFT", "0"),
]

HASHES = [
    ("HSET", "h", "a", "1", "b", "2"), ("HSETNX", "h", "a", "x"), ("HSETNX", "h", "c", "3"),
    ("HMSET", "h", "d", "4"), ("HINCRBY", "h", "a", "5"), ("HINCRBYFLOAT", "h", "b", "1.5"),
    ("HDEL", "h", "a", "nofield"), ("HDEL", "h", "b", "c", "d"), ("HDEL", "h", "x"),
    ("HSET", "h2", "f", "v"), ("HGETALL", "h2"),
]

SETS = [
    ("SADD", "s", "a", "b", "c"), ("SADD", "s", "a"), ("SREM", "s", "a", "nope"), ("SADD", "one", "x"), ("SPOP", "one"),
    ("SADD", "t", "x", "y"), ("SMOVE", "t", "s", "x"), ("SINTERSTORE", "d", "s", "t"),
    ("SUNIONSTORE", "d", "s", "t"), ("SDIFFSTORE", "d", "s", "t"), ("SINTERSTORE", "d", "s", "nokey"),
    ("SADD", "u", "1", "2", "3"), ("SPOP", "u", "5"), ("SREM", "t", "y"),
]

ZSETS = [
    ("ZADD", "z", "1", "a", "2", "b", "3", "c"), ("ZADD", "z", "1", "a"), ("ZADD", "z", "INCR", "5", "a"),
    ("ZINCRBY", "z", "1", "b"), ("ZREM", "z", "a", "nope"), ("ZADD", "z", "4", "d", "5", "e"),
    ("ZREMRANGEBYSCORE", "z", "0", "2"), ("ZREMRANGEBYRANK", "z", "0", "0"), ("ZADD", "y", "1", "m"),
    ("ZREMRANGEBYLEX", "y", "-", "+"), ("ZADD", "z2", "1", "p", "2", "q"),
    ("ZUNIONSTORE", "zd", "2", "z", "z2"), ("ZINTERSTORE", "zd", "2", "z", "z2"),
    ("ZDIFFSTORE", "zd", "1", "z2"), ("ZRANGESTORE", "zr", "z2", "0", "-1"),
    ("ZRANGESTORE", "zr", "z2", "5", "6"), ("ZPOPMIN", "z2"), ("ZPOPMAX", "z2"),
    ("ZADD", "z3", "1", "a", "2", "b"), ("ZMPOP", "1", "z3", "MIN", "COUNT", "1"),
    ("BZPOPMIN", "z3", "0"), ("ZADD", "z4", "1", "a"), ("BZPOPMAX", "z4", "0"),
]


@pytest.mark.parametrize("script", [STRINGS, KEYS, LISTS, HASHES, SETS, ZSETS],
                         ids=["strings", "keys", "lists", "hashes", "sets", "zsets"])
def test_family_events_match_redis(kea, script):
    for args in script:
        kea.same(*args)
    kea.check()


def test_flags_mask_events(aki_server, redis_server):
    for flags in ["Kg", "E$", "Kl", "Eh", "Ks", "Ez", "Kx", "Ee", "Kt", "KEg$", "KA", "Em", "K"]:
        b = Both(aki_server.port, redis_server.port, flags)
        try:
            b.same("SET", "s", "v")
            b.same("EXPIRE", "s", "100")
            b.same("RPUSH", "l", "a")
            b.same("HSET", "h", "f", "v")
            b.same("SADD", "st", "m")
            b.same("ZADD", "z", "1", "m")
            b.same("DEL", "s", "l", "h")
            b.check()
        finally:
            b.close()


def test_config_get_normalizes_flags(pair):
    for flags in ["KEA", "AKE", "gK", "Kn", "KEAmn", "lshzxetdg$E", ""]:
        pair.same("CONFIG", "SET", "notify-keyspace-events", flags)
        pair.same("CONFIG", "GET", "notify-keyspace-events")
    pair.same("CONFIG", "SET", "notify-keyspace-events", "Kq")
    pair.same("CONFIG", "SET", "notify-keyspace-events", "")


def test_new_key_events(aki_server, redis_server):
    b = Both(aki_server.port, redis_server.port, "KEn")
    try:
        for args in [("SET", "a", "1"), ("SET", "a", "2"), ("RPUSH", "l", "x"), ("RPUSH", "l", "y"),
                     ("HSET", "h", "f", "v"), ("SADD", "s", "m"), ("ZADD", "z", "1", "m"),
                     ("INCR", "n"), ("APPEND", "ap", "x"), ("SETRANGE", "sr", "1", "x"),
                     ("MSET", "m1", "1", "m2", "2"), ("COPY", "a", "c"), ("RENAME", "c", "d"),
                     ("SUNIONSTORE", "su", "s"), ("SUNIONSTORE", "su", "s"),
                     ("SETBIT", "bits", "1", "1"), ("MOVE", "d", "1"), ("SET", "o", "1"),
                     ("RPUSH", "o", "x"), ("DEL", "o"), ("RPUSH", "o", "x")]:
            b.same(*args)
        b.check()
    finally:
        b.close()


def test_expired_events_lazy_and_active(aki_server, redis_server):
    b = Both(aki_server.port, redis_server.port, "KEx")
    try:
        for w in (b.a, b.r):
            w.cmd.cmd("DEBUG", "SET-ACTIVE-EXPIRE", "0")
            w.cmd.cmd("SET", "lazy", "v", "PX", "20")
        time.sleep(0.1)
        b.same("GET", "lazy")  # lazy expiry on access
        for w in (b.a, b.r):
            w.cmd.cmd("DEBUG", "SET-ACTIVE-EXPIRE", "1")
            w.cmd.cmd("SET", "active", "v", "PX", "20")
        # active expiry: nobody touches the key
        deadline = time.time() + 5
        got: list[bytes] = []
        want: list[bytes] = []
        while time.time() < deadline and (len(got) < 2 or len(want) < 2):
            time.sleep(0.1)
            a, r = b.events()
            got += a
            want += r
        assert got == want
        assert len(got) == 2 and b"active" in got[0]
        b.check()
    finally:
        b.close()


def test_keyevent_for_other_db(aki_server, redis_server):
    b = Both(aki_server.port, redis_server.port, "KEA")
    try:
        b.same("SELECT", "3")
        b.same("SET", "k", "v")
        b.same("DEL", "k")
        b.same("SELECT", "0")
        b.check()
    finally:
        b.close()


def test_notifications_reach_resp3_subscriber(aki_server, redis_server):
    replies = []
    for port in (aki_server.port, redis_server.port):
        sub = RawClient(port)
        cmd = RawClient(port)
        cmd.cmd("CONFIG", "SET", "notify-keyspace-events", "KEA")
        sub.cmd("HELLO", "3")
        sub.send(encode_command("SUBSCRIBE", "__keyevent@0__:set"))
        sub.read_reply()
        cmd.cmd("SET", "r3", "v")
        replies.append(sub.read_reply())
        cmd.cmd("CONFIG", "SET", "notify-keyspace-events", "")
        sub.close()
        cmd.close()
    assert replies[0] == replies[1] == b">3\r\n$7\r\nmessage\r\n$18\r\n__keyevent@0__:set\r\n$2\r\nr3\r\n"
