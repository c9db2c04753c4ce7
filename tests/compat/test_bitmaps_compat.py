"""Bitmap commands against real redis-server: replies compared byte for byte."""

from __future__ import annotations

import random


def run(pair, *cmds):
    for cmd in cmds:
        pair.same(*cmd)


def test_setbit_getbit(pair):
    run(pair,
        ("SETBIT", "k", 7, 1), ("GET", "k"), ("SETBIT", "k", 7, 1), ("SETBIT", "k", 7, 0),
        ("GET", "k"), ("SETBIT", "k", 100, 1), ("GET", "k"), ("STRLEN", "k"),
        ("GETBIT", "k", 100), ("GETBIT", "k", 99), ("GETBIT", "k", 100000), ("GETBIT", "nope", 3),
        ("SET", "s", "A"), ("GETBIT", "s", 1), ("GETBIT", "s", 7), ("GETBIT", "s", 6),
        ("SETBIT", "s", 6, 1), ("GET", "s"), ("OBJECT", "ENCODING", "s"),
        ("SET", "n", "12"), ("GETBIT", "n", 2), ("SETBIT", "n", 15, 1), ("GET", "n"),
        ("SETBIT", "k", -1, 1), ("SETBIT", "k", "x", 1), ("SETBIT", "k", 1, 2),
        ("SETBIT", "k", 1, -1), ("SETBIT", "k", 1, "a"), ("SETBIT", "k", "4294967296", 1),
        ("SETBIT", "k", "4294967295", "x"), ("GETBIT", "k", -1), ("GETBIT", "k", "4294967296"),
        ("GETBIT", "k", "1.0"), ("SETBIT", "k", 1), ("GETBIT", "k"))
    run(pair, ("SET", "e", "x"), ("EXPIRE", "e", 100), ("SETBIT", "e", 20, 1), ("TTL", "e"))


def test_bit_wrongtype(pair):
    pair.same("SADD", "set", "a")
    run(pair, ("SETBIT", "set", 1, 1), ("GETBIT", "set", 1), ("BITCOUNT", "set"),
        ("BITPOS", "set", 1), ("BITOP", "AND", "d", "set"), ("BITOP", "AND", "set", "nope"),
        ("TYPE", "set"), ("BITFIELD", "set", "GET", "u8", 0), ("BITFIELD_RO", "set", "GET", "u8", 0),
        ("BITFIELD", "set", "SET", "u8", 0, 1))


def test_bitcount(pair):
    run(pair,
        ("SET", "k", "foobar"), ("BITCOUNT", "k"), ("BITCOUNT", "k", 0, 0), ("BITCOUNT", "k", 1, 1),
        ("BITCOUNT", "k", 1, 1, "BYTE"), ("BITCOUNT", "k", 5, 30, "BIT"), ("BITCOUNT", "k", -3, -1),
        ("BITCOUNT", "k", -1, -3), ("BITCOUNT", "k", 0, -1, "bit"), ("BITCOUNT", "k", 7, 7, "BIT"),
        ("BITCOUNT", "k", 1, 1, "BIT"), ("BITCOUNT", "k", 100, 200), ("BITCOUNT", "k", -100, 2),
        ("BITCOUNT", "k", 3, 1), ("BITCOUNT", "k", -1, -1, "BIT"), ("BITCOUNT", "k", 9, 47, "BIT"),
        ("BITCOUNT", "k", 0), ("BITCOUNT", "k", 0, 1, "FOO"), ("BITCOUNT", "k", "a", 1),
        ("BITCOUNT", "k", 0, "b"), ("BITCOUNT", "k", 0, 1, "BIT", "x"),
        ("BITCOUNT", "nope"), ("BITCOUNT", "nope", 0), ("BITCOUNT", "nope", "a", "b"),
        ("SET", "empty", ""), ("BITCOUNT", "empty"), ("BITCOUNT", "empty", 0, -1, "BIT"),
        ("SET", "n", "-12345"), ("BITCOUNT", "n"), ("BITCOUNT",))


def test_bitpos(pair):
    run(pair,
        ("SET", "k", b"\xff\xf0\x00"), ("BITPOS", "k", 0), ("BITPOS", "k", 1),
        ("BITPOS", "k", 0, 2), ("BITPOS", "k", 1, 2), ("BITPOS", "k", 0, 0, 0),
        ("BITPOS", "k", 0, 0, -1), ("BITPOS", "k", 1, 7, 15, "BIT"), ("BITPOS", "k", 0, 7, 15, "BIT"),
        ("BITPOS", "k", 0, 0, 11, "BIT"), ("BITPOS", "k", 0, 0, 12, "BIT"), ("BITPOS", "k", 1, 12, -1, "BIT"),
        ("BITPOS", "k", 0, 3, 5, "BIT"), ("BITPOS", "k", 1, -5, -1, "BIT"), ("BITPOS", "k", 0, 1, "BIT"),
        ("BITPOS", "k", 0, 100), ("BITPOS", "k", 1, 2, 1),
        ("SET", "ones", b"\xff\xff"), ("BITPOS", "ones", 0), ("BITPOS", "ones", 0, 0),
        ("BITPOS", "ones", 0, 0, -1), ("BITPOS", "ones", 0, 0, 15, "BIT"), ("BITPOS", "ones", 0, 3, "BIT"),
        ("BITPOS", "ones", 1, 3, 3, "BIT"),
        ("SET", "zero", b"\x00\x00"), ("BITPOS", "zero", 1), ("BITPOS", "zero", 0),
        ("BITPOS", "zero", 1, 0, -1, "BIT"), ("BITPOS", "zero", 1, 1, 1),
        ("BITPOS", "nope", 0), ("BITPOS", "nope", 1), ("BITPOS", "nope", 1, "x"),
        ("BITPOS", "k", 2), ("BITPOS", "k", "x"), ("BITPOS", "k", -1), ("BITPOS", "k", 1, "x"),
        ("BITPOS", "k", 1, 0, "x"), ("BITPOS", "k", 1, 0, 1, "FOO"), ("BITPOS", "k", 1, 0, 1, "BIT", 1),
        ("SET", "empty", ""), ("BITPOS", "empty", 0), ("BITPOS", "empty", 1), ("BITPOS", "empty", 0, 0, -1),
        ("BITPOS", "k"))


def test_bitpos_random_against_redis(pair):
    rnd = random.Random(7)
    for i in range(60):
        value = bytes(rnd.choice([0, 255, rnd.randrange(256)]) for _ in range(rnd.randrange(1, 6)))
        pair.same("SET", "r", value)
        bit = rnd.randrange(2)
        n = len(value) * 8
        s, e = rnd.randrange(-n - 3, n + 3), rnd.randrange(-n - 3, n + 3)
        pair.same("BITPOS", "r", bit, s // 8, e // 8)
        pair.same("BITPOS", "r", bit, s, e, "BIT")
        pair.same("BITPOS", "r", bit, s, "BIT") if i % 3 == 0 else pair.same("BITPOS", "r", bit, s // 8)
        pair.same("BITCOUNT", "r", s, e, "BIT")
        pair.same("BITCOUNT", "r", s // 8, e // 8)


def test_bitop(pair):
    run(pair,
        ("SET", "a", "foobar"), ("SET", "b", "abcdef"), ("SET", "c", "x"),
        ("BITOP", "AND", "d", "a", "b"), ("GET", "d"), ("BITOP", "or", "d", "a", "b", "c"), ("GET", "d"),
        ("BITOP", "XOR", "d", "a", "c"), ("GET", "d"), ("BITOP", "NOT", "d", "a"), ("GET", "d"),
        ("BITOP", "AND", "d", "a", "nope"), ("GET", "d"), ("BITOP", "OR", "d", "nope", "c"), ("GET", "d"),
        ("OBJECT", "ENCODING", "d"),
        ("EXPIRE", "d", 100), ("BITOP", "NOT", "d", "c"), ("TTL", "d"),
        ("BITOP", "AND", "d", "nope", "nope2"), ("EXISTS", "d"),
        ("BITOP", "NOT", "d", "a", "b"), ("BITOP", "NAND", "d", "a"), ("BITOP", "AND", "d"),
        ("SET", "n", "123"), ("BITOP", "XOR", "d", "n", "a"), ("GET", "d"),
        ("SET", "empty", ""), ("BITOP", "NOT", "d", "empty"), ("EXISTS", "d"))


def test_bitop_long(pair):
    rnd = random.Random(3)
    vals = [bytes(rnd.randrange(256) for _ in range(rnd.randrange(30, 90))) for _ in range(4)]
    for i, v in enumerate(vals):
        pair.same("SET", f"v{i}", v)
    for op in ("AND", "OR", "XOR"):
        pair.same("BITOP", op, "dest", "v0", "v1", "v2", "v3")
        pair.same("GET", "dest")
    pair.same("BITOP", "NOT", "dest", "v2")
    pair.same("GET", "dest")


def test_bitfield(pair):
    run(pair,
        ("BITFIELD", "k", "SET", "i8", 0, 100, "GET", "u4", 0, "GET", "i4", 4, "INCRBY", "i8", 0, 100),
        ("GET", "k"),
        ("BITFIELD", "k", "INCRBY", "u2", 100, 1, "OVERFLOW", "SAT", "INCRBY", "u2", 102, 1),
        ("BITFIELD", "k", "OVERFLOW", "SAT", "INCRBY", "u2", 100, 10, "INCRBY", "i8", 0, -1000),
        ("BITFIELD", "k", "OVERFLOW", "FAIL", "INCRBY", "u2", 100, 10, "INCRBY", "u2", 100, -1,
         "GET", "u2", 100),
        ("BITFIELD", "k", "OVERFLOW", "WRAP", "INCRBY", "i8", 0, 200, "INCRBY", "u8", 0, -300),
        ("BITFIELD", "k", "SET", "u8", "#1", 255, "GET", "u8", "#1", "GET", "i8", 8, "GET", "u8", "8"),
        ("BITFIELD", "k", "SET", "i64", 0, "-9223372036854775808", "GET", "i64", 0,
         "INCRBY", "i64", 0, -1, "OVERFLOW", "SAT", "INCRBY", "i64", 0, -1,
         "INCRBY", "i64", 0, "9223372036854775807", "INCRBY", "i64", 0, 1, "GET", "u63", 1),
        ("BITFIELD", "k", "OVERFLOW", "FAIL", "SET", "u8", 0, 256, "SET", "u8", 0, -1,
         "SET", "i8", 0, 128, "SET", "i8", 0, -128, "GET", "i8", 0),
        ("BITFIELD", "k", "OVERFLOW", "SAT", "SET", "u8", 0, 256, "SET", "u8", 0, -1,
         "SET", "i8", 0, 128, "SET", "i8", 0, -129),
        ("BITFIELD", "k", "SET", "u8", 0, 256, "SET", "u8", 0, -1, "SET", "i8", 0, 200, "GET", "i8", 0),
        ("BITFIELD", "k", "SET", "u1", 3, 1, "SET", "i3", 5, 3, "INCRBY", "u7", 13, 99, "GET", "u16", 0),
        ("BITFIELD", "k", "GET", "u8", 1000), ("GET", "k"), ("STRLEN", "k"),
        ("BITFIELD", "k"), ("BITFIELD_RO", "k"), ("BITFIELD", "nope", "GET", "i16", 3),
        ("BITFIELD", "nope", "GET", "i16", 3, "OVERFLOW", "FAIL"), ("EXISTS", "nope"),
        ("BITFIELD_RO", "k", "GET", "u8", 0, "GET", "i5", 3),
        ("BITFIELD", "n", "INCRBY", "u8", 0, 1), ("OBJECT", "ENCODING", "n"))


def test_bitfield_errors(pair):
    run(pair,
        ("BITFIELD", "k", "GET", "u64", 0), ("BITFIELD", "k", "GET", "i65", 0),
        ("BITFIELD", "k", "GET", "u0", 0), ("BITFIELD", "k", "GET", "x8", 0),
        ("BITFIELD", "k", "GET", "u", 0), ("BITFIELD", "k", "GET", "u-1", 0),
        ("BITFIELD", "k", "GET", "U8", 0), ("BITFIELD", "k", "GET", "u08", 0),
        ("BITFIELD", "k", "GET", "u8", -1), ("BITFIELD", "k", "GET", "u8", "#-1"),
        ("BITFIELD", "k", "GET", "u8", "x"), ("BITFIELD", "k", "GET", "u8", "##1"),
        ("BITFIELD", "k", "GET", "u8", "4294967296"), ("BITFIELD", "k", "GET", "u8", "#536870912"),
        ("BITFIELD", "k", "GET", "u8"), ("BITFIELD", "k", "SET", "u8", 0),
        ("BITFIELD", "k", "SET", "u8", 0, "x"), ("BITFIELD", "k", "INCRBY", "u8", 0, "1.5"),
        ("BITFIELD", "k", "OVERFLOW"), ("BITFIELD", "k", "OVERFLOW", "FOO"),
        ("BITFIELD", "k", "FOO"), ("BITFIELD", "k", "GET", "u8", 0, "BAR"),
        ("BITFIELD_RO", "k", "SET", "u8", 0, 1), ("BITFIELD_RO", "k", "INCRBY", "u8", 0, 1),
        ("BITFIELD_RO", "k", "OVERFLOW", "SAT"), ("BITFIELD_RO", "k", "SET", "u99", 0, 1),
        ("BITFIELD_RO", "k", "GET", "u8", 0, "SET", "u8", 0, 1), ("EXISTS", "k"),
        ("BITFIELD", "k", "GET", "u8", 0, "SET", "u8", 8, "x"), ("EXISTS", "k"),
        ("BITFIELD",), ("BITFIELD_RO",))


def test_bitfield_random_against_redis(pair):
    rnd = random.Random(11)
    for _ in range(150):
        args = ["BITFIELD", "bf"]
        for _ in range(rnd.randrange(1, 4)):
            sign = rnd.choice("iu")
            bits = rnd.randrange(1, 65 if sign == "i" else 64)
            off = rnd.randrange(0, 80)
            op = rnd.choice(["GET", "SET", "INCRBY", "OVERFLOW"])
            if op == "OVERFLOW":
                args += ["OVERFLOW", rnd.choice(["WRAP", "SAT", "FAIL"])]
            elif op == "GET":
                args += ["GET", f"{sign}{bits}", off]
            else:
                v = rnd.choice([rnd.randrange(-(2**63), 2**63), rnd.randrange(-300, 300),
                                2**bits, -(2**bits), 2**(bits - 1)])
                v = max(-(2**63), min(2**63 - 1, v))
                args += [op, f"{sign}{bits}", off, v]
        pair.same(*args)
        pair.same("GET", "bf")


def test_offset_limit_follows_proto_max_bulk_len(pair):
    run(pair,
        ("CONFIG", "SET", "proto-max-bulk-len", "1000000"),
        ("SETBIT", "k", 8000000, 1), ("SETBIT", "k", 7999999, 0), ("STRLEN", "k"),
        ("GETBIT", "k", 8000000), ("BITFIELD", "k", "GET", "u8", 7999999),
        ("BITFIELD", "k", "GET", "u8", 8000000),
        ("CONFIG", "SET", "proto-max-bulk-len", "536870912"))
