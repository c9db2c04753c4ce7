"""String commands (t_string.c) against real redis-server: replies compared byte for byte.

Every command, every SET/GETEX option pair, the errors in their order of checking,
the proto-max-bulk-len limits, the INCR family's integer rules, INCRBYFLOAT's strtold
parsing and ``%.17Lf`` formatting, LCS with all its options, OBJECT ENCODING after each
write, RESP3 replies and keyspace events.
"""

from __future__ import annotations

import itertools
import random
import re
import time
from pathlib import Path

import pytest

from tests.conftest import RawClient, aof_incr, start_aki, start_redis

# Far-future absolute expiries: EXPIRETIME/PEXPIRETIME read them back exactly.
EXAT_S = 4102444800  # 2100-01-01
PXAT_MS = 4102444800123

SET_OPTIONS = [
    ("NX",), ("XX",), ("GET",), ("KEEPTTL",), ("EX", "100"), ("PX", "100000"),
    ("EXAT", str(EXAT_S)), ("PXAT", str(PXAT_MS)),
]


def run(pair, *cmds):
    for cmd in cmds:
        pair.same(*cmd)


def state(pair, key="k"):
    """The key's value, type and expiry, compared on both servers."""
    run(pair, ("GET", key), ("TYPE", key), ("OBJECT", "ENCODING", key))
    for cmd in ("TTL", "EXPIRETIME"):
        got, want = pair.both(cmd, key)
        if got != want:
            # A relative expiry (EX/PX) is set on each server a moment apart: the two may
            # straddle a second boundary. Absolute ones (EXAT/PXAT, far future) must match.
            g, w = int(got[1:-2]), int(want[1:-2])
            assert got[:1] == want[:1] == b":" and g > 0 and w > 0 and abs(g - w) == 1 \
                and EXAT_S not in (g, w), f"{cmd} {key!r}: aki {got!r} != redis {want!r}"


@pytest.fixture
def small_bulk(pair):
    """proto-max-bulk-len at its minimum (1mb) for the test, restored afterwards."""
    pair.same("CONFIG", "SET", "proto-max-bulk-len", "1048576")
    yield 1048576
    pair.same("CONFIG", "SET", "proto-max-bulk-len", "536870912")


# -- SET and its variants ------------------------------------------------------------------


@pytest.mark.parametrize("first,second", list(itertools.product(SET_OPTIONS, repeat=2)))
def test_set_option_pairs(pair, first, second):
    """Each ordered pair of SET options against a missing key, a string with a TTL and
    a list: the reply, then the value, type and expiry left behind."""
    opts = first + second
    pair.same("SET", "k", "v0", *opts)
    state(pair)
    run(pair, ("DEL", "k"), ("SET", "k", "old", "EX", "500"), ("SET", "k", "new", *opts))
    state(pair)
    run(pair, ("DEL", "k"), ("RPUSH", "k", "x"), ("SET", "k", "new", *opts))
    state(pair)


@pytest.mark.parametrize("opts", [
    ("NX", "GET", "EX", "10"), ("XX", "GET", "KEEPTTL"), ("GET", "NX", "PXAT", str(PXAT_MS)),
    ("XX", "KEEPTTL", "GET"), ("get", "xx", "px", "5000"), ("Nx", "gEt"),
    ("EX", "10", "EX", "20"), ("PX", "10", "PX", "20000"), ("GET", "GET"), ("NX", "NX"),
    ("XX", "XX", "GET"), ("KEEPTTL", "KEEPTTL"), ("NX", "XX"), ("XX", "NX"),
    ("EX", "10", "PX", "10"), ("PX", "10", "EX", "10"), ("EX", "10", "EXAT", str(EXAT_S)),
    ("EXAT", str(EXAT_S), "PXAT", str(PXAT_MS)), ("KEEPTTL", "EX", "10"), ("EX", "10", "KEEPTTL"),
    ("PERSIST",), ("EX",), ("PX",), ("EXAT",), ("PXAT",), ("NX", "EX"), ("BOGUS",), ("",),
    ("EX", "10", "GET", "EX"), ("KEEPTTL", "PERSIST"),
])
def test_set_option_combinations(pair, opts):
    for setup in (("DEL", "k"), ("SET", "k", "old", "PX", "900000")):
        run(pair, setup, ("SET", "k", "v", *opts))
        state(pair)


@pytest.mark.parametrize("opt,value", [
    ("EX", "0"), ("EX", "-1"), ("EX", "abc"), ("EX", "1.5"), ("EX", " 1"), ("EX", "+1"),
    ("EX", "9223372036854776"), ("EX", "9223372036854775"), ("EX", "9223372036854775807"),
    ("EX", "9223372036854775808"), ("PX", "0"), ("PX", "-5"), ("PX", "9223372036854775807"),
    ("PX", "9223372036854775000"), ("EXAT", "0"), ("EXAT", "-1"), ("EXAT", "9223372036854775"),
    ("EXAT", "9223372036854776"), ("PXAT", "0"), ("PXAT", "-1"), ("PXAT", "9223372036854775807"),
    ("PXAT", "1"), ("EXAT", "1"), ("EX", ""), ("PX", "01"),
])
def test_set_expire_values(pair, opt, value):
    """getExpireMillisecondsOrReply: integer parsing, <= 0, the *1000 and +now overflows,
    and an absolute time in the past (the key is set and expires at once)."""
    run(pair, ("SET", "k", "old"), ("SET", "k", "v", opt, value), ("EXISTS", "k"))
    run(pair, ("SET", "k", "v", "GET", opt, value), ("EXISTS", "k"))
    run(pair, ("DEL", "k"), ("RPUSH", "k", "x"), ("SET", "k", "v", "GET", opt, value),
        ("TYPE", "k"))


def test_set_expire_errors_name_the_command(pair):
    run(pair, ("SETEX", "k", "0", "v"), ("SETEX", "k", "-1", "v"), ("SETEX", "k", "x", "v"),
        ("SETEX", "k", "9223372036854776", "v"), ("PSETEX", "k", "0", "v"),
        ("PSETEX", "k", "9223372036854775807", "v"), ("PSETEX", "k", "1.5", "v"),
        ("SET", "k", "v", "PX", "-1"), ("GETEX", "k", "EX", "0"))
    run(pair, ("SET", "k", "v"), ("GETEX", "k", "EX", "0"), ("GETEX", "k", "PXAT", "-3"),
        ("GETEX", "k", "EX", "9223372036854776"), ("GETEX", "k", "PX", "9223372036854775807"))


def test_set_get_with_wrong_type_sets_nothing(pair):
    run(pair, ("RPUSH", "l", "a"), ("SET", "l", "v", "GET"), ("TYPE", "l"),
        ("SET", "l", "v", "GET", "NX"), ("SET", "l", "v", "GET", "EX", "abc"),
        ("SET", "l", "v", "NX"), ("SET", "l", "v", "XX"), ("TYPE", "l"), ("SET", "l", "v"),
        ("TYPE", "l"), ("GET", "l"))


def test_set_options_with_embedded_nul(pair):
    """Redis compares option names as C strings: "nx\\0junk" is NX."""
    run(pair, ("SET", "k", "v", b"nx\x00junk"), ("SET", "k", "v2", b"NX\x00"), ("GET", "k"),
        ("SET", "k", "v3", b"get\x00x"), ("SET", "k", "v4", b"keepttl\x00?"),
        ("SET", "k", "v5", b"ex\x00", "100"), ("TTL", "k"), ("GETEX", "k", b"persist\x00z"),
        ("TTL", "k"), ("SET", "k", "v", b"\x00nx"), ("SET", "k", "v", b"n\x00x"))


def test_setnx_setex_psetex(pair):
    run(pair,
        ("SETNX", "k", "a"), ("SETNX", "k", "b"), ("GET", "k"), ("SETEX", "k", "100", "c"),
        ("GET", "k"), ("TTL", "k"), ("SETNX", "k", "d"), ("TTL", "k"),
        ("PSETEX", "k", "100000", "e"), ("GET", "k"), ("TTL", "k"), ("SET", "k", "f"), ("TTL", "k"),
        ("RPUSH", "l", "x"), ("SETNX", "l", "v"), ("TYPE", "l"), ("SETEX", "l", "10", "v"),
        ("TYPE", "l"), ("GET", "l"), ("TTL", "l"), ("DEL", "l"), ("RPUSH", "l", "x"),
        ("PSETEX", "l", "10000", "v"), ("GET", "l"), ("OBJECT", "ENCODING", "l"),
        ("SETEX", "n", "100", "12345"), ("OBJECT", "ENCODING", "n"))


def test_getset_getdel(pair):
    run(pair,
        ("GETSET", "k", "a"), ("GETSET", "k", "b"), ("GET", "k"),
        ("SET", "k", "c", "EX", "100"), ("GETSET", "k", "d"), ("TTL", "k"),
        ("GETSET", "k", "123"), ("OBJECT", "ENCODING", "k"),
        ("GETDEL", "k"), ("GETDEL", "k"), ("EXISTS", "k"),
        ("RPUSH", "l", "x"), ("GETSET", "l", "v"), ("GETDEL", "l"), ("TYPE", "l"),
        ("SET", "e", ""), ("GETDEL", "e"), ("EXISTS", "e"))


# -- GETEX ---------------------------------------------------------------------------------

GETEX_OPTIONS = [("PERSIST",), ("EX", "100"), ("PX", "100000"), ("EXAT", str(EXAT_S)),
                 ("PXAT", str(PXAT_MS))]


@pytest.mark.parametrize("first,second", list(itertools.product(GETEX_OPTIONS, repeat=2)))
def test_getex_option_pairs(pair, first, second):
    run(pair, ("SET", "k", "v", "EX", "500"), ("GETEX", "k", *first, *second))
    state(pair)
    run(pair, ("GETEX", "nope", *first, *second))


@pytest.mark.parametrize("opts", [
    (), ("PERSIST",), ("EX", "100"), ("px", "100000"), ("exat", str(EXAT_S)),
    ("pxat", str(PXAT_MS)), ("NX",), ("XX",), ("GET",), ("KEEPTTL",), ("EX",), ("PERSIST", "x"),
    ("EX", "abc"), ("EX", "0"), ("PX", "-1"), ("EXAT", "1"), ("PXAT", "1"),
    ("EXAT", "9223372036854776"), ("BOGUS",),
])
def test_getex_options_and_errors(pair, opts):
    """Syntax is checked first, then the key (nil / WRONGTYPE), then the expire value;
    a past EXAT/PXAT deletes the key after replying with its value."""
    run(pair, ("SET", "k", "v", "PX", "900000"), ("GETEX", "k", *opts))
    state(pair)
    run(pair, ("SET", "p", "v"), ("GETEX", "p", *opts))
    state(pair, "p")
    run(pair, ("GETEX", "missing", *opts), ("RPUSH", "l", "x"), ("GETEX", "l", *opts),
        ("TYPE", "l"))


# -- MSET / MSETNX / MGET / STRLEN ------------------------------------------------------------


def test_mset_msetnx_mget(pair):
    run(pair,
        ("MSET", "a", "1", "b", "2"), ("MGET", "a", "b", "c"), ("MSET", "a"), ("MSET", "a", "1", "b"),
        ("MSETNX", "a", "1", "b"), ("MSETNX", "x", "1"), ("MSETNX", "x", "2", "y", "2"),
        ("MGET", "x", "y"), ("MSETNX", "p", "1", "p", "2"), ("GET", "p"),
        ("MSET", "q", "1", "q", "2"), ("GET", "q"), ("RPUSH", "l", "x"),
        ("MSETNX", "z", "1", "l", "2"), ("EXISTS", "z"), ("MGET", "l", "a", "l", "nope"),
        ("SET", "t", "v", "EX", "100"), ("MSET", "t", "w"), ("TTL", "t"), ("MSET", "l", "s"),
        ("TYPE", "l"), ("MSET", "n", "12", "s", "x" * 44, "r", "x" * 45),
        ("OBJECT", "ENCODING", "n"), ("OBJECT", "ENCODING", "s"), ("OBJECT", "ENCODING", "r"),
        ("MSETNX", "n2", "7"), ("OBJECT", "ENCODING", "n2"))


def test_strlen(pair):
    run(pair, ("STRLEN", "nope"), ("SET", "k", "hello"), ("STRLEN", "k"), ("SET", "n", "-12345"),
        ("STRLEN", "n"), ("SET", "e", ""), ("STRLEN", "e"), ("SET", "b", b"\x00\xff\r\n"),
        ("STRLEN", "b"), ("RPUSH", "l", "x"), ("STRLEN", "l"))


# -- APPEND / SETRANGE / GETRANGE ------------------------------------------------------------


def test_append(pair):
    run(pair,
        ("APPEND", "k", "12"), ("OBJECT", "ENCODING", "k"), ("APPEND", "k", "34"), ("GET", "k"),
        ("OBJECT", "ENCODING", "k"), ("INCR", "k"), ("OBJECT", "ENCODING", "k"),
        ("APPEND", "k", ""), ("OBJECT", "ENCODING", "k"), ("APPEND", "e", ""), ("EXISTS", "e"),
        ("GET", "e"), ("SET", "t", "a", "EX", "100"), ("APPEND", "t", "b"), ("TTL", "t"),
        ("GET", "t"), ("APPEND", "new", "x" * 50), ("OBJECT", "ENCODING", "new"),
        ("APPEND", "b", b"\x00\r\n"), ("APPEND", "b", b"\xff"), ("GET", "b"),
        ("RPUSH", "l", "x"), ("APPEND", "l", "y"))


def test_setrange(pair):
    run(pair,
        ("SETRANGE", "k", 0, "hello"), ("GET", "k"), ("OBJECT", "ENCODING", "k"),
        ("SETRANGE", "k", 1, "EL"), ("GET", "k"), ("SETRANGE", "k", 10, "x"), ("GET", "k"),
        ("SETRANGE", "k", 0, ""), ("SETRANGE", "k", 100, ""), ("STRLEN", "k"),
        ("SETRANGE", "nope", 0, ""), ("SETRANGE", "nope", 99999999, ""), ("EXISTS", "nope"),
        ("SETRANGE", "k", -1, "x"), ("SETRANGE", "k", "x", "y"), ("SETRANGE", "k", "1.0", "y"),
        ("SETRANGE", "k", "9223372036854775808", "y"), ("SETRANGE", "nope", -1, ""),
        ("SETRANGE", "z", 3, "ab"), ("GET", "z"), ("OBJECT", "ENCODING", "z"),
        ("SET", "n", "1234"), ("SETRANGE", "n", 0, ""), ("OBJECT", "ENCODING", "n"),
        ("SETRANGE", "n", 1, "3"), ("OBJECT", "ENCODING", "n"), ("GET", "n"),
        ("SET", "t", "abc", "EX", "100"), ("SETRANGE", "t", 1, "X"), ("TTL", "t"),
        ("RPUSH", "l", "x"), ("SETRANGE", "l", 0, "y"), ("SETRANGE", "l", 0, ""),
        ("SETRANGE", "l", -1, "y"), ("SETRANGE", "l", "x", ""))


def test_setrange_append_size_limits(pair, small_bulk):
    """checkStringLength: offset + length (and old + appended length) against
    proto-max-bulk-len, checked after the type and the empty-value shortcut."""
    run(pair,
        ("SETRANGE", "k", small_bulk, "x"), ("EXISTS", "k"), ("SETRANGE", "k", small_bulk - 1, "x"),
        ("STRLEN", "k"), ("SETRANGE", "k", small_bulk - 1, "xy"), ("SETRANGE", "k", small_bulk, ""),
        ("SETRANGE", "n", "9223372036854775807", "x"), ("SETRANGE", "n", "9223372036854775807", ""),
        ("APPEND", "k", "z"), ("APPEND", "k", ""), ("STRLEN", "k"),
        ("SET", "a", "x" * 1000), ("APPEND", "a", "y" * (small_bulk - 1000)), ("STRLEN", "a"),
        ("APPEND", "a", "1"), ("RPUSH", "l", "x"), ("SETRANGE", "l", small_bulk, "x"),
        ("APPEND", "l", "x"))
    # APPEND to a missing key is a plain SET: the limit is the protocol's own
    run(pair, ("DEL", "a"), ("APPEND", "a", "y" * small_bulk), ("STRLEN", "a"))


def test_getrange(pair):
    run(pair, ("SET", "k", "Hello World"), ("SET", "n", "-1234567"), ("SET", "e", ""))
    ranges = [(0, -1), (0, 0), (0, 3), (-3, -1), (-1, -5), (5, 3), (-100, 3), (3, 100),
              (-100, -50), (100, 200), (0, -100), (-1, -1), (10, 10), (11, 11), (-11, 0),
              ("9223372036854775807", "9223372036854775807"),
              ("-9223372036854775808", "9223372036854775807"), (1, "-9223372036854775808")]
    for key in ("k", "n", "e", "nope"):
        for start, end in ranges:
            pair.same("GETRANGE", key, start, end)
            pair.same("SUBSTR", key, start, end)
    run(pair, ("GETRANGE", "k", "x", 1), ("GETRANGE", "k", 1, "y"), ("GETRANGE", "k", "1.5", 2),
        ("GETRANGE", "k", "9223372036854775808", 1), ("GETRANGE", "nope", "a", 1),
        ("RPUSH", "l", "x"), ("GETRANGE", "l", 0, -1), ("GETRANGE", "l", "a", 0),
        ("GETRANGE", "k", 0), ("SUBSTR", "k"))


def test_getrange_fuzz(pair):
    rng = random.Random(7)
    for _ in range(60):
        value = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 30)))
        pair.same("SET", "k", value)
        for _ in range(8):
            pair.same("GETRANGE", "k", rng.randint(-40, 40), rng.randint(-40, 40))


# -- INCR family ---------------------------------------------------------------------------


@pytest.mark.parametrize("value", [
    "0", "1", "-1", "12345", "9223372036854775806", "9223372036854775807",
    "-9223372036854775807", "-9223372036854775808", "9223372036854775808", "01", "-0", "+1",
    " 1", "1 ", "1.0", "", "abc", "1e3", "0x10", "00000000000000000001", "-", b"1\x00",
    "123456789012345678901",
])
def test_incr_decr_values(pair, value):
    for cmd in (("INCR", "k"), ("DECR", "k"), ("INCRBY", "k", "5"), ("DECRBY", "k", "5"),
                ("INCRBY", "k", "9223372036854775807"), ("INCRBY", "k", "-9223372036854775808"),
                ("DECRBY", "k", "9223372036854775807"), ("DECRBY", "k", "-9223372036854775807")):
        run(pair, ("SET", "k", value), cmd, ("GET", "k"), ("OBJECT", "ENCODING", "k"))


def test_incr_family_arguments(pair):
    run(pair,
        ("INCR", "new"), ("DECR", "new2"), ("INCRBY", "new3", "-7"), ("DECRBY", "new4", "7"),
        ("MGET", "new", "new2", "new3", "new4"), ("INCRBY", "k", "abc"), ("INCRBY", "k", "1.5"),
        ("INCRBY", "k", "9223372036854775808"), ("INCRBY", "k", " 1"), ("INCRBY", "k", ""),
        ("DECRBY", "k", "-9223372036854775808"), ("DECRBY", "k", "x"),
        ("DECRBY", "k", "-9223372036854775807"), ("DECR", "k"),
        ("DECRBY", "k", "9223372036854775807"), ("DECR", "k"), ("DECR", "k"), ("GET", "k"),
        ("SET", "t", "10", "EX", "100"), ("INCR", "t"), ("TTL", "t"), ("DECRBY", "t", "3"),
        ("TTL", "t"), ("OBJECT", "ENCODING", "t"), ("SET", "big", "9" * 19), ("INCR", "big"),
        ("OBJECT", "ENCODING", "big"), ("RPUSH", "l", "x"), ("INCR", "l"), ("DECR", "l"),
        ("INCRBY", "l", "x"), ("DECRBY", "l", "-9223372036854775808"), ("INCRBYFLOAT", "l", "1"),
        ("INCRBYFLOAT", "l", "x"))


def test_incr_on_raw_and_embstr_encodings(pair):
    run(pair, ("SETRANGE", "k", 0, "41"), ("OBJECT", "ENCODING", "k"), ("INCR", "k"),
        ("OBJECT", "ENCODING", "k"), ("APPEND", "a", "5"), ("APPEND", "a", "0"), ("INCRBY", "a", 2),
        ("OBJECT", "ENCODING", "a"), ("INCRBYFLOAT", "f", "3"), ("OBJECT", "ENCODING", "f"),
        ("INCR", "f"), ("OBJECT", "ENCODING", "f"), ("INCRBYFLOAT", "f", "1.5"), ("INCR", "f"))


# -- INCRBYFLOAT ---------------------------------------------------------------------------

FLOAT_TEXTS = [
    "0", "1", "-1", "10.5", "0.1", "3.0e3", "0x10", "0X1P3", "0x1.8p1", "0x.8", "-0x10", " 1",
    "1 ", "+5", ".5", "5.", ".", "-.5e1", "1e", "1e+", "1e-3", "1E5", "inf", "-inf", "+inf",
    "Infinity", "-INFINITY", "infinit", "nan", "-nan", "NaN(1)", "1_0", "", "abc", "0x",
    "0xg", "0x1p", "1e300", "-1e300", "1e400", "1e4932", "1e4933", "-1e4933", "1e-4940",
    "1e-5000", "-1e-5000", "0e99999999999", "1e-99999999999", "1e99999999999",
    "0x1p-16445", "0x1p-16446", "0x1p16383", "0x1p16384", "1.18973149535723176502e4932",
    "1.18973149535723176503e4932", "0.000003814697265625", "0.000011444091796875",
    "1.7976931348623157e308", "5e-324", "0.1e1", "00000000.5", "-0", "-0.0", "1,5", "1e3.5",
    b"1\x00", "\t1", "1\n", "12345678901234567890123", "0.30000000000000001",
    "9007199254740993", "-9223372036854775808", "1" + "0" * 5118, "0" * 5118 + "1",
    "0" * 5119 + "1",
]


@pytest.mark.parametrize("text", FLOAT_TEXTS)
def test_incrbyfloat_increment_texts(pair, text):
    """strtold over the whole argument: hex, inf, overflow/underflow limits, the
    5120-byte cap; results printed with %.17Lf, long-double rounding included."""
    run(pair, ("DEL", "k"), ("INCRBYFLOAT", "k", text), ("GET", "k"),
        ("SET", "k", "10.5"), ("INCRBYFLOAT", "k", text), ("GET", "k"))


@pytest.mark.parametrize("text", FLOAT_TEXTS)
def test_incrbyfloat_stored_texts(pair, text):
    run(pair, ("SET", "k", text), ("INCRBYFLOAT", "k", "0"), ("GET", "k"),
        ("SET", "k", text), ("INCRBYFLOAT", "k", "0.1"), ("GET", "k"),
        ("SET", "k", text), ("INCRBYFLOAT", "k", "inf"), ("INCRBYFLOAT", "k", "abc"))


def test_incrbyfloat_sequences(pair):
    run(pair,
        ("SET", "k", "10.5"), ("INCRBYFLOAT", "k", "0.1"), ("INCRBYFLOAT", "k", "-5.0e3"),
        ("INCRBYFLOAT", "k", "5.0e3"), ("SET", "k", "1e300"), ("INCRBYFLOAT", "k", "1e300"),
        ("SET", "k", "0.1"), ("INCRBYFLOAT", "k", "0.2"), ("INCRBYFLOAT", "k", "-0.3"),
        ("SET", "k", "1.18973149535723176502e4932"), ("INCRBYFLOAT", "k", "1e4932"),
        ("INCRBYFLOAT", "k", "-1e4932"), ("SET", "k", "17179869184"),
        ("INCRBYFLOAT", "k", "1.5"), ("SET", "k", "-1"), ("INCRBYFLOAT", "k", "1"),
        ("GET", "k"), ("SET", "k", "1"), ("INCRBYFLOAT", "k", "0.0000000000000000001"),
        ("INCRBYFLOAT", "k", "-1"), ("INCRBYFLOAT", "k", "-0.0000000000000000001"),
        ("SET", "t", "1", "EX", "100"), ("INCRBYFLOAT", "t", "2.5"), ("TTL", "t"),
        ("OBJECT", "ENCODING", "t"), ("INCRBYFLOAT", "t", "0.5"), ("OBJECT", "ENCODING", "t"),
        ("INCRBYFLOAT", "w", "1e30"), ("OBJECT", "ENCODING", "w"), ("INCRBYFLOAT", "w", "1e30"))
    rng = random.Random(3)
    pair.same("SET", "r", "0")
    for _ in range(200):
        incr = rng.choice([f"{rng.uniform(-1e6, 1e6):.{rng.randrange(0, 12)}f}",
                           f"{rng.uniform(-10, 10):.3e}", str(rng.randint(-99, 99)),
                           f"0.{rng.randrange(1, 10**rng.randrange(1, 18))}"])
        pair.same("INCRBYFLOAT", "r", incr)


# -- LCS -----------------------------------------------------------------------------------

RNA1 = ("CACCTTCCCAGGTAACAAACCAACCAACTTTCGATCTCTTGTAGATCTGTTCTCTAAACGAACTTTAAAATCTGTGTGGCTGTCACTC"
        "GGCTGCATGCTTAGTGCACTCACGCAGTATAATTAATAACTAATTACTGTCGTTGACAGGACACGAGTAACTCGTCTATCTTCTGCA"
        "GGCTGCTTACGGTTTCGTCCGTGTTGCAGCCGATCATCAGCACATCTAGGTTTCGTCCGGGTGTG")
RNA2 = ("ATTAAAGGTTTATACCTTCCCAGGTAACAAACCAACCAACTTTCGATCTCTTGTAGATCTGTTCTCTAAACGAACTTTAAAATCTGT"
        "GTGGCTGTCACTCGGCTGCATGCTTAGTGCACTCACGCAGTATAATTAATAACTAATTACTGTCGTTGACAGGACACGAGTAACTCG"
        "TCTATCTTCTGCAGGCTGCTTACGGTTTCGTCCGTGTTGCAGCCGATCATCAGCACATCTAGGTTTCGTCCGGGTGTGACCGAAAGG"
        "TAAGATGGAGAG")

LCS_OPTIONS = [(), ("LEN",), ("IDX",), ("IDX", "WITHMATCHLEN"), ("IDX", "MINMATCHLEN", "4"),
               ("IDX", "MINMATCHLEN", "4", "WITHMATCHLEN"), ("WITHMATCHLEN",),
               ("MINMATCHLEN", "2"), ("LEN", "MINMATCHLEN", "3"), ("idx", "minmatchlen", "-5"),
               ("IDX", "MINMATCHLEN", "0"), ("IDX", "MINMATCHLEN", "1000"), ("LEN", "IDX"),
               ("IDX", "LEN"), ("IDX", "MINMATCHLEN"), ("IDX", "MINMATCHLEN", "x"),
               ("IDX", "MINMATCHLEN", "1.5"), ("BOGUS",), ("IDX", "IDX", "WITHMATCHLEN", "LEN"),
               ("LEN", "LEN"), ("IDX", "MINMATCHLEN", "2", "MINMATCHLEN", "5")]


@pytest.mark.parametrize("opts", LCS_OPTIONS)
def test_lcs_options(pair, opts):
    run(pair, ("MSET", "a", RNA1, "b", RNA2, "x", "ohmytext", "y", "mynewtext", "n", "12345",
               "m", "2x3x4", "e", ""))
    for k1, k2 in (("a", "b"), ("b", "a"), ("x", "y"), ("y", "x"), ("n", "m"), ("x", "x"),
                   ("x", "e"), ("e", "x"), ("x", "nope"), ("nope", "nope2")):
        pair.same("LCS", k1, k2, *opts)


def test_lcs_random(pair):
    rng = random.Random(11)
    for _ in range(40):
        a = "".join(rng.choice("ab c") for _ in range(rng.randrange(0, 25)))
        b = "".join(rng.choice("abc ") for _ in range(rng.randrange(0, 25)))
        run(pair, ("MSET", "a", a, "b", b), ("LCS", "a", "b"),
            ("LCS", "a", "b", "IDX", "WITHMATCHLEN"), ("LCS", "b", "a", "IDX", "MINMATCHLEN", "2"))


def test_lcs_large(pair):
    rng = random.Random(5)
    a = "".join(rng.choice("ACGT") for _ in range(3000))
    b = "".join(rng.choice("ACGT") for _ in range(2500))
    run(pair, ("MSET", "a", a, "b", b), ("LCS", "a", "b", "LEN"), ("LCS", "a", "b"),
        ("LCS", "a", "b", "IDX", "MINMATCHLEN", "6", "WITHMATCHLEN"), ("LCS", "b", "a", "IDX"))


def test_lcs_errors(pair, small_bulk):
    run(pair, ("SET", "s", "abc"), ("RPUSH", "l", "x"), ("LCS", "l", "s"), ("LCS", "s", "l"),
        ("LCS", "l", "nope"), ("LCS", "l", "s", "BOGUS"), ("LCS", "s", "nope", "BOGUS"),
        ("LCS", "s"), ("LCS", "s", "s", "LEN", "IDX", "BOGUS"))
    # transient table (len(a)+1)*(len(b)+1)*4 bytes against proto-max-bulk-len
    run(pair, ("SET", "p", "a" * 511), ("SET", "q", "b" * 511), ("LCS", "p", "q", "LEN"),
        ("SET", "q", "b" * 512), ("LCS", "p", "q", "LEN"), ("LCS", "p", "q", "IDX"),
        ("LCS", "p", "nope"), ("LCS", "p", "q", "BOGUS"), ("LCS", "p", "q", "LEN", "IDX"))


# -- arity, RESP3, events ------------------------------------------------------------------


def test_arity_errors(pair):
    for cmd in (("GET",), ("GET", "a", "b"), ("SET", "k"), ("SETNX", "k"), ("SETEX", "k", "1"),
                ("PSETEX", "k", "1"), ("GETEX",), ("GETDEL",), ("GETDEL", "a", "b"),
                ("GETSET", "k"), ("MGET",), ("MSET",), ("MSET", "a"), ("MSETNX",),
                ("MSETNX", "a", "b", "c"), ("APPEND", "k"), ("STRLEN",), ("SETRANGE", "k", "0"),
                ("GETRANGE", "k", "0"), ("SUBSTR", "k", "0", "1", "2"), ("INCR",), ("DECR", "a", "b"),
                ("INCRBY", "k"), ("DECRBY", "k"), ("INCRBYFLOAT", "k"), ("LCS", "a"),
                ("set", "k"), ("GeTeX",)):
        pair.same(*cmd)


def test_resp3_replies(pair):
    for client in (pair.a, pair.r):  # HELLO's reply carries the client id: not compared
        assert client.cmd("HELLO", "3").startswith(b"%7\r\n")
    run(pair, ("GET", "nope"), ("SET", "k", "v", "GET"), ("SET", "k", "w", "GET"),
        ("SET", "k", "x", "NX"), ("SET", "k", "x", "NX", "GET"), ("GETEX", "nope"),
        ("GETDEL", "nope"), ("GETSET", "nope", "1"), ("MGET", "k", "nope", "nope"),
        ("INCRBYFLOAT", "f", "1.5"), ("INCR", "i"), ("GETRANGE", "nope", 0, 1),
        ("MSET", "a", "ohmytext", "b", "mynewtext"), ("LCS", "a", "b"),
        ("LCS", "a", "b", "IDX"), ("LCS", "a", "b", "IDX", "WITHMATCHLEN", "MINMATCHLEN", "2"),
        ("LCS", "a", "b", "LEN"), ("SET", "k", "v", "BOGUS"), ("INCRBY", "k", "x"))
    for client in (pair.a, pair.r):
        assert client.cmd("HELLO", "2").startswith(b"*14\r\n")


def test_keyspace_events(pair):
    subs = []
    for port in (pair.a.sock.getpeername()[1], pair.r.sock.getpeername()[1]):
        s = RawClient(port)
        subs.append(s)
        s.cmd("PSUBSCRIBE", "__key*@0__:*")
    pair.same("CONFIG", "SET", "notify-keyspace-events", "KEA")
    try:
        script = [
            ("SET", "k", "v"), ("SET", "k", "v", "EX", "100"), ("SET", "k", "v", "NX"),
            ("SET", "k", "w", "XX", "GET", "KEEPTTL"), ("SETNX", "n", "1"), ("SETNX", "n", "1"),
            ("SETEX", "e", "100", "v"), ("PSETEX", "e", "100000", "v"), ("GETSET", "k", "x"),
            ("MSET", "a", "1", "b", "2"), ("MSETNX", "c", "1"), ("MSETNX", "c", "1", "d", "2"),
            ("APPEND", "a", "x"), ("APPEND", "z", "x"), ("SETRANGE", "a", 0, ""),
            ("SETRANGE", "a", 1, "y"), ("SETRANGE", "new", 2, "y"), ("INCR", "i"), ("DECR", "i"),
            ("INCRBY", "i", 5), ("DECRBY", "i", 5), ("INCRBYFLOAT", "i", "1.5"),
            ("INCR", "k"), ("GETEX", "e"), ("GETEX", "e", "PERSIST"), ("GETEX", "e", "PERSIST"),
            ("GETEX", "e", "EX", "100"), ("GETEX", "e", "PXAT", "1"), ("GETEX", "e", "PXAT", "1"),
            ("GETDEL", "a"), ("GETDEL", "a"),
            ("SET", "end", "1"),
        ]
        for cmd in script:
            pair.same(*cmd)
        got = []
        for s in subs:
            msgs = []
            while True:
                m = s.read_reply()
                msgs.append(m)
                if m.endswith(b"\r\nend\r\n"):
                    break
            got.append(msgs)
        assert got[0] == got[1]
        assert len(got[0]) > 40
    finally:
        for s in subs:
            s.close()
        pair.same("CONFIG", "SET", "notify-keyspace-events", "")


def _stat(client: RawClient, name: bytes) -> bytes:
    info = client.cmd("INFO", "stats")
    for line in info.split(b"\r\n"):
        if line.startswith(name + b":"):
            return line
    raise AssertionError(f"{name!r} missing from INFO stats")


def test_keyspace_hits_and_misses(pair):
    """Which lookups count as reads (GET, GETEX, GETDEL, STRLEN, MGET, LCS, SET GET...) and
    which don't (APPEND, SETRANGE, INCR..., SETNX, MSETNX)."""
    run(pair, ("SET", "k", "v"), ("RPUSH", "l", "x"))
    script = [
        ("GET", "k"), ("GET", "nope"), ("GET", "l"), ("MGET", "k", "nope", "l"), ("STRLEN", "k"),
        ("STRLEN", "nope"), ("GETRANGE", "k", 0, 1), ("GETRANGE", "nope", 0, 1), ("GETEX", "k"),
        ("GETEX", "nope"), ("GETEX", "k", "EX", "100"), ("SET", "k", "v", "GET"),
        ("SET", "nope2", "v", "GET", "NX"), ("SET", "k", "w"), ("SETNX", "k", "x"),
        ("MSETNX", "k", "1", "z", "2"), ("APPEND", "k", "x"), ("APPEND", "a", "x"),
        ("SETRANGE", "k", 1, "y"), ("INCR", "i"), ("INCRBYFLOAT", "i", "1"), ("GETSET", "k", "q"),
        ("GETSET", "g", "q"), ("GETDEL", "g"), ("GETDEL", "g"), ("LCS", "k", "nope"),
        ("LCS", "k", "k", "LEN"),
    ]
    for client in (pair.a, pair.r):
        assert client.cmd("CONFIG", "RESETSTAT") == b"+OK\r\n"
    for i, cmd in enumerate(script):
        pair.same(*cmd)
        for name in (b"keyspace_hits", b"keyspace_misses"):
            got, want = _stat(pair.a, name), _stat(pair.r, name)
            assert got == want, f"after {script[: i + 1]!r}: aki {got!r} != redis {want!r}"


@pytest.mark.parametrize("setup,cmd", [
    (("SET", "k", "v"), ("SET", "k", "v")), (("SET", "k", "v"), ("SET", "k", "w", "NX")),
    (("DEL", "k"), ("SET", "k", "w", "XX")), (("SET", "k", "v"), ("SETNX", "k", "w")),
    (("SET", "k", "v"), ("APPEND", "k", "")), (("SET", "k", "v"), ("SETRANGE", "k", 5, "")),
    (("DEL", "k"), ("SETRANGE", "k", 5, "")), (("SET", "k", "v"), ("SETRANGE", "k", 0, "v")),
    (("SET", "k", "v"), ("GETEX", "k")), (("SET", "k", "v"), ("GETEX", "k", "PERSIST")),
    (("SET", "k", "v", "EX", "100"), ("GETEX", "k", "PERSIST")),
    (("SET", "k", "v"), ("GETEX", "k", "EX", "100")), (("SET", "k", "v"), ("GETEX", "k", "EX", "0")),
    (("SET", "k", "v"), ("GETDEL", "k")), (("DEL", "k"), ("GETDEL", "k")),
    (("SET", "k", "1"), ("INCRBY", "k", "0")), (("SET", "k", "x"), ("INCR", "k")),
    (("SET", "k", "1"), ("INCRBYFLOAT", "k", "inf")), (("SET", "k", "1"), ("INCRBYFLOAT", "k", "0")),
    (("SET", "k", "v"), ("MSETNX", "k", "w")), (("SET", "k", "v"), ("MSET", "k", "v")),
    (("SET", "k", "v"), ("GET", "k")), (("SET", "k", "v"), ("LCS", "k", "k")),
    (("SET", "k", "v"), ("SET", "k", "v", "GET", "PX", "0")),
])
def test_watch_sees_string_writes(aki_server, redis_server, setup, cmd):
    """A command that modifies the key makes a WATCHing client's EXEC fail; one that
    leaves it alone (NX/XX misses, empty SETRANGE, errors, reads) does not."""
    results = []
    for port in (aki_server.port, redis_server.port):
        watcher, other = RawClient(port), RawClient(port)
        try:
            other.cmd("FLUSHALL")
            other.cmd(*setup)
            watcher.cmd("WATCH", "k")
            reply = other.cmd(*cmd)
            watcher.cmd("MULTI")
            watcher.cmd("PING")
            results.append((reply, watcher.cmd("EXEC")))
        finally:
            watcher.close()
            other.close()
    assert results[0] == results[1]


def _aof_commands(data: bytes) -> list[list[bytes]]:
    """The commands of an append-only log from its first SELECT on (the RDB base skipped);
    timestamps derived from the clock (13-digit numbers) replaced by a placeholder."""
    data = data[data.index(b"*2\r\n$6\r\nSELECT\r\n"):]
    cmds, i = [], 0
    while i < len(data):
        assert data[i : i + 1] == b"*", data[i : i + 40]
        end = data.index(b"\r\n", i)
        argc, i = int(data[i + 1 : end]), end + 2
        argv = []
        for _ in range(argc):
            end = data.index(b"\r\n", i)
            n = int(data[i + 1 : end])
            argv.append(data[end + 2 : end + 2 + n])
            i = end + 4 + n
        cmds.append([re.sub(rb"\A1[6-9][0-9]{11}\Z", b"<ms>", a) for a in argv])
    return cmds


def test_propagation_matches_redis(tmp_path):
    """What string commands write to the append-only log (what replicas receive): GETDEL
    as DEL, GETEX as PEXPIREAT/PERSIST/DEL or nothing, SET..GET without GET, relative
    expiries as PXAT, INCRBYFLOAT as SET KEEPTTL, GETSET as SET, no-ops not at all."""
    script = [
        ("SET", "k", "v"), ("SET", "k", "v", "EX", "100"), ("SET", "k", "w", "GET"),
        ("SET", "k", "x", "get", "GET", "KEEPTTL"), ("SET", "k", "y", "GET", "PX", "5000"),
        ("SET", "k", "z", "NX"), ("SET", "k", "z", "NX", "GET"), ("SET", "q", "z", "XX"),
        ("SET", "k", "a", "EXAT", str(EXAT_S)), ("SET", "k", "b", "PXAT", str(PXAT_MS)),
        ("SETNX", "n", "1"), ("SETNX", "n", "2"), ("SETEX", "e", "100", "v"),
        ("PSETEX", "e", "100000", "v"), ("GETSET", "g", "1"), ("GETEX", "e"),
        ("GETEX", "e", "PERSIST"), ("GETEX", "e", "PERSIST"), ("GETEX", "e", "EX", "100"),
        ("GETEX", "e", "EXAT", str(EXAT_S)), ("GETEX", "e", "PXAT", "1"), ("GETEX", "e", "EX", "1"),
        ("GETDEL", "g"), ("GETDEL", "g"), ("MSET", "a", "1", "b", "2"), ("MSETNX", "a", "1"),
        ("MSETNX", "c", "3", "d", "4"), ("APPEND", "a", "x"), ("APPEND", "a", ""),
        ("SETRANGE", "a", 0, ""), ("SETRANGE", "a", 1, "y"), ("SETRANGE", "z", 0, ""),
        ("INCR", "i"), ("DECR", "i"), ("INCRBY", "i", "10"), ("DECRBY", "i", "3"),
        ("INCRBY", "i", "x"), ("INCRBYFLOAT", "f", "10.5"), ("INCRBYFLOAT", "f", "0.1"),
        ("INCRBYFLOAT", "f", "inf"), ("SET", "t", "1", "EX", "100"), ("INCRBYFLOAT", "t", "1.5"),
        ("GET", "k"), ("MGET", "k", "a"), ("STRLEN", "a"), ("GETRANGE", "a", 0, 1),
        ("LCS", "a", "b"), ("SET", "end", "1"),
    ]
    logs = []
    for start, log in ((start_aki, aof_incr), (start_redis, aof_incr)):
        d = tmp_path / start.__name__
        d.mkdir()
        srv = start(d, "--appendonly", "yes", "--appendfsync", "always", "--dir", str(d))
        try:
            client = RawClient(srv.port)
            replies = [client.cmd(*cmd) for cmd in script]
            client.close()
            path: Path = log(d)
            deadline = time.time() + 10
            while b"$3\r\nend\r\n" not in path.read_bytes() and time.time() < deadline:
                time.sleep(0.05)
            logs.append((replies, _aof_commands(path.read_bytes())))
        finally:
            srv.stop()
    (aki_replies, aki_log), (redis_replies, redis_log) = logs
    assert aki_replies == redis_replies
    assert aki_log == redis_log
    assert [b"DEL", b"g"] in redis_log and [b"PERSIST", b"e"] in redis_log


def test_incr_of_keys_the_row_cache_does_not_know(pair):
    """INCR creates a counter the row cache knows nothing of in one INSERT; a key that
    exists only in the file (after DEBUG RELOAD emptied the cache), an expired one or one
    of another type takes the general road: the replies are Redis's in every case."""
    pair.same("INCR", "fresh")
    pair.same("INCRBY", "fresh2", "-5")
    pair.same("DECRBY", "fresh3", "9223372036854775807")
    pair.same("SET", "n", "41")
    pair.same("SET", "bad", "x1")
    pair.same("SET", "soon", "7", "PX", "30")
    pair.same("RPUSH", "list", "a")
    pair.same("DEBUG", "RELOAD")  # aki's row cache is empty after it
    time.sleep(0.1)
    pair.same("INCR", "n")
    pair.same("INCR", "bad")
    pair.same("INCR", "list")
    pair.same("INCR", "soon")
    pair.same("TTL", "soon")
    pair.same("INCRBY", "n", "9223372036854775807")
    pair.same("MGET", "fresh", "fresh2", "fresh3", "n", "bad", "soon")
    pair.same("DBSIZE")
