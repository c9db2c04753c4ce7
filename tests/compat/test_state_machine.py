"""Random command sequences sent to aki and to redis-server; replies compared byte for byte.

To cover another family, append a strategy to ``FAMILIES``: a Hypothesis strategy that
draws one command as a tuple of bytes/str/int arguments over the small key space below
(a small space makes commands collide, which is where the bugs are).
"""

from __future__ import annotations

import hypothesis.strategies as st
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from tests.conftest import RawClient

KEYS = st.sampled_from(["k1", "k2", "k3", "{t}a", "n1", "list1"])
STR_KEYS = st.sampled_from(["k1", "k2", "k3", "{t}a", "n1"])
VALUES = st.one_of(
    st.sampled_from(["", "0", "1", "-1", "10", "9223372036854775807", "-9223372036854775808",
                     "3.5", " 1", "01", "abc", "x" * 40]),
    st.binary(max_size=12),
    st.integers(-1000, 1000).map(str),
)
INTS = st.one_of(st.integers(-5, 50), st.sampled_from([2**63 - 1, -(2**63), 2**63, "x", "1.5", ""]))
OFFSETS = st.one_of(st.integers(-20, 40), st.sampled_from([2**31, -(2**31), "a"]))
BIG_TTL = st.sampled_from([100_000, 500_000, 86_400 * 365])  # never expires during a run


def _cmd(*parts):
    return st.tuples(*[p if isinstance(p, st.SearchStrategy) else st.just(p) for p in parts])


SET_OPTS = st.lists(
    st.sampled_from([("NX",), ("XX",), ("GET",), ("KEEPTTL",), ("EX", 100_000), ("PX", 100_000_000),
                     ("EX", 0), ("EX", -1), ("EXAT", 4_000_000_000), ("PXAT", 4_000_000_000_000)]),
    max_size=2,
).map(lambda opts: tuple(x for o in opts for x in o))

STRINGS = st.one_of(
    st.tuples(st.just("SET"), STR_KEYS, VALUES).flatmap(lambda t: SET_OPTS.map(lambda o: t + o)),
    _cmd("GET", KEYS),
    _cmd("GETDEL", KEYS),
    _cmd("GETSET", KEYS, VALUES),
    _cmd("SETNX", STR_KEYS, VALUES),
    _cmd("APPEND", KEYS, VALUES),
    _cmd("STRLEN", KEYS),
    _cmd("GETRANGE", KEYS, OFFSETS, OFFSETS),
    _cmd("SETRANGE", KEYS, st.integers(-1, 30), VALUES),
    _cmd("INCR", KEYS),
    _cmd("DECR", KEYS),
    _cmd("INCRBY", KEYS, INTS),
    _cmd("DECRBY", KEYS, INTS),
    _cmd("INCRBYFLOAT", KEYS, st.sampled_from(["1.5", "-2", "abc", "1e3", "inf", "0.1"])),
    st.lists(st.tuples(STR_KEYS, VALUES), min_size=1, max_size=3).map(
        lambda kv: ("MSET",) + tuple(x for p in kv for x in p)),
    st.lists(KEYS, min_size=1, max_size=4).map(lambda ks: ("MGET", *ks)),
    st.lists(STR_KEYS, min_size=1, max_size=3).map(
        lambda ks: ("MSETNX",) + tuple(x for k in ks for x in (k, "m")))
)

KEYSPACE = st.one_of(
    st.lists(KEYS, min_size=1, max_size=3).map(lambda ks: ("DEL", *ks)),
    st.lists(KEYS, min_size=1, max_size=3).map(lambda ks: ("EXISTS", *ks)),
    _cmd("TYPE", KEYS),
    _cmd("RENAME", KEYS, KEYS),
    _cmd("RENAMENX", KEYS, KEYS),
    _cmd("EXPIRE", KEYS, BIG_TTL),
    _cmd("PEXPIRE", KEYS, BIG_TTL),
    _cmd("EXPIRE", KEYS, BIG_TTL, st.sampled_from(["NX", "XX", "GT", "LT"])),
    _cmd("TTL", KEYS),
    _cmd("PERSIST", KEYS),
    _cmd("DBSIZE"),
)

# Wrong-type usage: a list key among the string keys (lists may be added later than
# strings; the replies are compared like any other).
LISTS = st.one_of(
    _cmd("RPUSH", st.just("list1"), VALUES),
    _cmd("LPUSH", KEYS, VALUES),
    _cmd("LLEN", KEYS),
    _cmd("LRANGE", KEYS, st.integers(-3, 3), st.integers(-3, 3)),
)

FAMILIES = [STRINGS, KEYSPACE, LISTS]


def _normalize(cmd: tuple, reply: bytes) -> bytes:
    """TTL/PTTL may differ by the time between the two sends: compare them coarsely."""
    name = cmd[0].upper()
    if name in ("TTL", "PTTL") and reply.startswith(b":") and int(reply[1:]) > 0:
        return b":positive\r\n"
    return reply


def make_machine(families: list, normalize=_normalize, keys: tuple[str, ...] = ()) -> type:
    """A state machine sending commands drawn from ``families`` to both servers;
    ``keys`` are also compared by TYPE after every step."""

    class RedisVsAki(RuleBasedStateMachine):
        aki_port = 0
        redis_port = 0

        def __init__(self) -> None:
            super().__init__()
            self.a = RawClient(self.aki_port)
            self.r = RawClient(self.redis_port)
            for c in (self.a, self.r):
                assert c.cmd("FLUSHALL") == b"+OK\r\n"
            self.history: list[tuple] = []

        @rule(cmd=st.one_of(*families))
        def command(self, cmd):
            self.history.append(cmd)
            want = normalize(cmd, self.r.cmd(*cmd))
            got = normalize(cmd, self.a.cmd(*cmd))
            assert got == want, (
                f"{cmd!r}: aki {got!r} != redis {want!r}; history {self.history[-8:]!r}")

        @invariant()
        def same_keyspace(self):
            if self.history:
                assert self.a.cmd("DBSIZE") == self.r.cmd("DBSIZE")
                for key in keys:
                    assert self.a.cmd("TYPE", key) == self.r.cmd("TYPE", key)

        def teardown(self) -> None:
            self.a.close()
            self.r.close()

    return RedisVsAki


def run_machine(machine: type, aki_port: int, redis_port: int, examples: int = 60) -> None:
    """``examples`` fixed (derandomized) sequences of 40 steps."""
    machine.aki_port = aki_port
    machine.redis_port = redis_port
    run_state_machine_as_test(machine, settings=settings(
        max_examples=examples, stateful_step_count=40, deadline=None, derandomize=True,
        suppress_health_check=list(HealthCheck), database=None))


def test_strings_and_keys_state_machine(aki_server, redis_server):
    run_machine(make_machine(FAMILIES), aki_server.port, redis_server.port)
