"""MIGRATE, RESTORE-ASKING and the cluster-disabled commands against real redis-server.

Each source migrates to a target of its own kind (aki -> a second aki, redis-server ->
a second redis-server); the replies of both sources, and what each target then holds,
are compared byte for byte.
"""

from __future__ import annotations

import pytest

from tests.conftest import Pair, start_aki, start_redis

T = object()  # stands for the target's port in a command


@pytest.fixture(scope="module")
def targets(tmp_path_factory):
    a = start_aki(tmp_path_factory.mktemp("aki-target"))
    r = start_redis(tmp_path_factory.mktemp("redis-target"))
    yield a, r
    a.stop()
    r.stop()


class Route:
    """Commands to both sources, ``T`` replaced by the port of each one's own target."""

    def __init__(self, pair: Pair, targets) -> None:
        self.src = pair
        self.ports = (targets[0].port, targets[1].port)
        self.dst = Pair(*self.ports)
        self.dst.same("FLUSHALL")

    def same(self, *args) -> bytes:
        a = [self.ports[0] if x is T else x for x in args]
        r = [self.ports[1] if x is T else x for x in args]
        got, want = self.src.a.cmd(*a), self.src.r.cmd(*r)
        assert got == want, f"{args!r}: aki {got!r} != redis {want!r}"
        return got


@pytest.fixture
def route(pair, targets):
    rt = Route(pair, targets)
    yield rt
    rt.dst.close()


def fill(p) -> None:
    p.same("SET", "str", "hello")
    p.same("SET", "int", "12345", "PX", "100000")
    p.same("RPUSH", "list", "a", "b", "\x00\xff", "")
    p.same("HSET", "hash", "f1", "v1", "f2", "v2")
    p.same("SADD", "intset", "1", "2", "3")
    p.same("SADD", "set", "x")  # one member: a 7.0 hashtable set has no fixed order
    p.same("ZADD", "zset", "1.5", "a", "-inf", "b")
    p.same("XADD", "stream", "1-1", "f", "v")


KEYS = ("str", "int", "list", "hash", "intset", "set", "zset", "stream")


def test_migrate_moves_each_type(route):
    route.src.same("CONFIG", "RESETSTAT")
    fill(route.src)
    for key in KEYS:
        dump = route.src.same("DUMP", key)
        route.same("MIGRATE", "127.0.0.1", T, key, "0", "5000")
        route.src.same("EXISTS", key)
        assert route.dst.same("DUMP", key) == dump
    route.dst.same("TTL", "int")  # the TTL travelled: still ~100 s
    route.dst.same("PERSIST", "str")
    route.dst.same("OBJECT", "ENCODING", "intset")
    route.src.same("DBSIZE")
    route.dst.same("DBSIZE")
    a, r = (dict(line.split(b":", 1) for line in reply.split(b"\r\n") if b":" in line)
            for reply in route.src.both("INFO", "stats"))
    for field in (b"keyspace_hits", b"keyspace_misses", b"migrate_cached_sockets"):
        assert a[field] == r[field], field


def test_migrate_big_list(route):
    route.src.same("RPUSH", "big", *[f"element-{i}" for i in range(2000)])
    route.same("MIGRATE", "127.0.0.1", T, "big", "0", "5000")
    route.dst.same("LRANGE", "big", "0", "-1")
    route.dst.same("OBJECT", "ENCODING", "big")


def test_nokey_copy_replace_busykey(route):
    route.same("MIGRATE", "127.0.0.1", T, "missing", "0", "1000")
    route.src.same("SET", "k", "v1")
    route.same("MIGRATE", "127.0.0.1", T, "k", "0", "1000", "COPY")
    route.src.same("GET", "k")
    route.dst.same("GET", "k")
    route.src.same("SET", "k", "v2")
    route.same("MIGRATE", "127.0.0.1", T, "k", "0", "1000", "COPY")  # BUSYKEY
    route.src.same("GET", "k")
    route.same("MIGRATE", "127.0.0.1", T, "k", "0", "1000", "REPLACE")
    route.src.same("EXISTS", "k")
    route.dst.same("GET", "k")
    route.src.same("SET", "k", "v3")
    route.same("MIGRATE", "127.0.0.1", T, "k", "0", "1000", "COPY", "REPLACE")
    route.dst.same("GET", "k")


def test_keys_form_and_target_db(route):
    for k in ("a", "b", "c"):
        route.src.same("SET", k, k * 3)
    route.same("MIGRATE", "127.0.0.1", T, "", "5", "1000", "KEYS", "x", "y")
    route.same("MIGRATE", "127.0.0.1", T, "", "5", "1000", "KEYS", "nokey", "a", "b", "nokey2")
    route.src.same("EXISTS", "a", "b", "c")
    route.dst.same("SELECT", "5")
    route.dst.same("MGET", "a", "b", "c")
    route.dst.same("SELECT", "0")
    # back to db 0 on the cached connection: SELECT is sent again
    route.same("MIGRATE", "127.0.0.1", T, "", "0", "1000", "REPLACE", "KEYS", "c")
    route.dst.same("GET", "c")
    # a target error stops nothing before it: the acknowledged keys are gone
    route.src.same("SET", "d", "1")
    route.src.same("SET", "e", "2")
    route.dst.same("SET", "e", "taken")
    route.same("MIGRATE", "127.0.0.1", T, "", "0", "1000", "KEYS", "d", "e")
    route.src.same("EXISTS", "d")
    route.src.same("GET", "e")
    route.dst.same("MGET", "d", "e")


def test_argument_errors(route):
    route.src.same("SET", "k", "v")
    for args in (
        ("MIGRATE", "127.0.0.1", T, "k", "0", "1000", "KEYS", "k"),
        ("MIGRATE", "127.0.0.1", T, "k", "0", "1000", "AUTH"),
        ("MIGRATE", "127.0.0.1", T, "k", "0", "1000", "AUTH2", "user"),
        ("MIGRATE", "127.0.0.1", T, "k", "0", "1000", "BOGUS"),
        ("MIGRATE", "127.0.0.1", T, "k", "zero", "1000"),
        ("MIGRATE", "127.0.0.1", T, "k", "0", "soon"),
        ("MIGRATE", "127.0.0.1", T, "k", "0"),
        ("MIGRATE", "127.0.0.1", T, "k", "0", "-5", "COPY"),  # timeout <= 0 means 1 s
    ):
        route.same(*args)
    route.dst.same("GET", "k")


def test_target_errors(route):
    route.src.same("SET", "k", "v")
    route.same("MIGRATE", "127.0.0.1", T, "k", "0", "1000", "AUTH", "secret")
    route.same("MIGRATE", "127.0.0.1", T, "k", "0", "1000", "AUTH2", "nobody", "secret")
    route.same("MIGRATE", "127.0.0.1", T, "k", "99", "1000")  # SELECT refused
    route.src.same("EXISTS", "k")
    route.same("MIGRATE", "127.0.0.1", "1", "k", "0", "1000")  # nothing listens there
    route.same("MIGRATE", "no-such-host.invalid", "6379", "k", "0", "1000")
    route.src.same("EXISTS", "k")


def test_auth_to_a_protected_target(route):
    dst = route.dst
    dst.same("CONFIG", "SET", "requirepass", "s3cret")
    try:
        route.src.same("SET", "k1", "v1")
        route.src.same("SET", "k2", "v2")
        route.same("MIGRATE", "127.0.0.1", T, "k1", "0", "1000", "AUTH", "s3cret")
        route.same("MIGRATE", "127.0.0.1", T, "k2", "0", "1000", "AUTH2", "default", "s3cret")
        route.src.same("EXISTS", "k1", "k2")
    finally:
        dst.same("AUTH", "s3cret")
        dst.same("CONFIG", "SET", "requirepass", "")
    dst.same("MGET", "k1", "k2")


def test_stale_cached_connection_is_retried(route):
    route.src.same("SET", "k", "1")
    route.same("MIGRATE", "127.0.0.1", T, "k", "0", "1000", "COPY")
    for stats in route.src.both("INFO", "stats"):
        assert b"migrate_cached_sockets:1\r\n" in stats
    route.dst.both("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")  # drops the link
    route.src.same("SET", "k", "2")
    route.same("MIGRATE", "127.0.0.1", T, "k", "0", "1000", "REPLACE")
    route.dst.same("GET", "k")


def test_command_metadata(pair):
    for args in (
        ("COMMAND", "GETKEYS", "MIGRATE", "h", "1", "k", "0", "10"),
        ("COMMAND", "GETKEYS", "MIGRATE", "h", "1", "", "0", "10", "COPY", "AUTH", "x",
         "KEYS", "a", "b"),
        ("COMMAND", "GETKEYS", "MIGRATE", "h", "1", "", "0", "10", "AUTH2", "keys", "x",
         "KEYS", "a"),
        ("COMMAND", "GETKEYS", "MIGRATE", "h", "1", "k", "0", "10", "KEYS", "a"),
        ("COMMAND", "GETKEYSANDFLAGS", "MIGRATE", "h", "1", "", "0", "10", "KEYS", "a", "b"),
        ("COMMAND", "GETKEYSANDFLAGS", "MIGRATE", "h", "1", "k", "0", "10"),
        ("COMMAND", "INFO", "MIGRATE", "RESTORE-ASKING", "ASKING", "READONLY", "READWRITE"),
        ("COMMAND", "INFO", "CLUSTER|INFO", "CLUSTER|SETSLOT", "CLUSTER|HELP"),
        ("COMMAND", "DOCS", "MIGRATE"),
        ("COMMAND", "INFO", "CLUSTER"),  # subcommands in Redis's (per-process) dict order
        ("COMMAND", "LIST", "FILTERBY", "PATTERN", "cl*help"),
    ):
        got, want = pair.both(*args)
        if args[1] == "LIST" or args[2:] == ("CLUSTER",):
            assert sorted(got.split(b"\r\n")) == sorted(want.split(b"\r\n"))
        else:
            assert got == want, args


def test_cluster_support_disabled(pair):
    subs = pair.r.cmd("COMMAND", "INFO", "CLUSTER")
    names = [line.split(b"|")[1] for line in subs.split(b"\r\n") if line.startswith(b"cluster|")]
    assert len(names) > 20
    for name in names:
        pair.same("CLUSTER", name, "1", "2", "3", "4")  # arity first, then the error
        pair.same("CLUSTER", name)
    for args in (("CLUSTER",), ("CLUSTER", "nosuch"), ("CLUSTER", "HELP"), ("CLUSTER", "INFO"),
                 ("CLUSTER", "KEYSLOT", "foo"), ("ASKING",), ("READONLY",), ("READWRITE",),
                 ("READONLY", "x")):
        pair.same(*args)


def test_restore_asking_is_restore(pair):
    pair.same("SET", "k", "v")
    dump = pair.same("DUMP", "k")
    pair.same("RESTORE-ASKING", "k", "0", dump)
    pair.same("RESTORE-ASKING", "k2", "0", dump)
    pair.same("RESTORE-ASKING", "k", "0", dump, "REPLACE")
    pair.same("RESTORE-ASKING", "k3", "0", "garbage")
    pair.same("MGET", "k", "k2", "k3")
