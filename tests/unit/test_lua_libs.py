"""cjson, cmsgpack, bit and struct, compared with the C libraries inside real Redis.

Fixed cases cover the documented behaviour and every error text; seeded
random cases (same seed every run) sweep the value space.
"""

from __future__ import annotations

import random

import pytest
from test_lua_support import compare, redis_server  # noqa: F401

from aki.scripting import ScriptRuntime


@pytest.fixture(scope="module")
def rt() -> ScriptRuntime:
    return ScriptRuntime()


CJSON = [
    "return cjson.encode({a=1, b={1,2,3}, c={}, d='x/y\"\\n', e=0.1, f=1e20, g=-0.0, h=true, i=cjson.null})",
    "return cjson.encode({[1]=1, [2]=2, [4]=4})",
    "return cjson.encode({[1]=1, [20]=2})",
    "return cjson.encode({[1]=1, [11]=2})",
    "return cjson.encode({1, nil, 3})",
    "return cjson.encode({[1.5]=1})",
    "return cjson.encode({[0]=1})",
    "return cjson.encode({[-1]=1})",
    "return cjson.encode({[true]=1})",
    "return cjson.encode({[{}]=1})",
    "return cjson.encode(1/0)",
    "return cjson.encode(-1/0)",
    "return cjson.encode(0/0)",
    "return cjson.encode({x=0/0})",
    "return cjson.encode(function() end)",
    "return cjson.encode(coroutine.create(function() end))",
    "return cjson.encode(3.14159265358979)",
    "return cjson.encode(123456789012345678)",
    "return cjson.encode(1e-300)",
    "return cjson.encode(-0.0)",
    "return cjson.encode('\\1\\127\\200\\195\\169\\0')",
    "return cjson.encode(string.rep('x', 10))",
    "return cjson.encode(nil)",
    "return cjson.encode()",
    "return cjson.encode(1, 2)",
    "return cjson.encode({{{{}}}})",
    "local t = {} t[1] = t return cjson.encode(t)",
    "local t = {} for i = 1, 999 do t = {t} end return #cjson.encode(t)",
    "local t = {} for i = 1, 1000 do t = {t} end return #cjson.encode(t)",
    "return cjson.encode({'a', {b = {'c', {d = false}}}})",
    "local t = cjson.decode('{\"a\":[1,2,{\"b\":null}],\"c\":\"\\\\u00e9\\\\ud83d\\\\ude00\",\"d\":1e3,\"e\":-0.5}')"
    " return {t.a[1], t.a[3].b == cjson.null, t.c, t.d, tostring(t.e)}",
    "return cjson.decode('[1,2')",
    "return cjson.decode('{\"a\" 1}')",
    "return cjson.decode('{1:2}')",
    "return cjson.decode('{\"a\":1,}')",
    "return cjson.decode('[1,]')",
    "return cjson.decode('x')",
    "return cjson.decode('\"abc')",
    "return cjson.decode('\"\\\\q\"')",
    "return cjson.decode('\"\\\\u12\"')",
    "return cjson.decode('\"\\\\ud800\"')",
    "return cjson.decode('\"\\\\udc00\"')",
    "return cjson.decode('\"\\\\ud800\\\\u0041\"')",
    "return cjson.decode('\"\\\\u0000x\"')",
    "return cjson.decode('\"\\\\/\\\\b\\\\f\\\\n\\\\r\\\\t\"')",
    "return cjson.decode('[1] x')",
    "return cjson.decode('[1] ')",
    "return tostring(cjson.decode('0x10'))",
    "return tostring(cjson.decode('-0x1p4'))",
    "return tostring(cjson.decode('Infinity'))",
    "return tostring(cjson.decode('-inf'))",
    "return tostring(cjson.decode('nan'))",
    "return tostring(cjson.decode('-nan'))",
    "return tostring(cjson.decode('+5'))",
    "return tostring(cjson.decode('007'))",
    "return tostring(cjson.decode('1e'))",
    "return tostring(cjson.decode('.5'))",
    "return cjson.decode('1.5.5')",
    "return cjson.decode('')",
    "return cjson.decode('  ')",
    "return cjson.decode('-')",
    "return cjson.decode('tru')",
    "return cjson.decode('nul')",
    "return cjson.decode('True')",
    "return {cjson.decode('true'), cjson.decode('false')}",
    "return cjson.decode(string.rep('[', 1001))",
    "return #cjson.decode(string.rep('[', 1000) .. string.rep(']', 1000))",
    "return cjson.decode()",
    "return cjson.decode({})",
    "return cjson.decode(12)",
    "return cjson.decode('\\0a')",
    "return cjson.decode('1\\0garbage')",
    "return cjson.decode('[\"a\\0b\"]')",
    "return {cjson.encode_max_depth(), cjson.encode_number_precision(), cjson.encode_keep_buffer(),"
    " cjson.encode_invalid_numbers(), cjson.decode_invalid_numbers(), cjson.encode_sparse_array()}",
    "local c = cjson.new() c.encode_number_precision(3) return {c.encode(3.14159), cjson.encode(3.14159)}",
    "local c = cjson.new() c.encode_invalid_numbers('null') return c.encode({1/0, 0/0})",
    "local c = cjson.new() c.encode_invalid_numbers(true) return c.encode({1/0, -1/0, 0/0})",
    "local c = cjson.new() return {c.encode_invalid_numbers('null')}",
    "local c = cjson.new() c.encode_sparse_array(true) return c.encode({[1]=1, [20]=2})",
    "local c = cjson.new() c.encode_sparse_array(false, 0) return c.encode({[1]=1, [20]=2})",
    "local c = cjson.new() return {c.encode_sparse_array(true, 3, 5)}",
    "local c = cjson.new() c.encode_max_depth(2) return c.encode({{{1}}})",
    "local c = cjson.new() c.decode_max_depth(2) return c.decode('[[[1]]]')",
    "local c = cjson.new() c.decode_invalid_numbers(false) return c.decode('0x10')",
    "local c = cjson.new() c.decode_invalid_numbers(false) return c.decode('nan')",
    "local c = cjson.new() c.decode_invalid_numbers(false) return c.decode('+1')",
    "local c = cjson.new() c.decode_invalid_numbers(false) return c.decode('-01')",
    "local c = cjson.new() c.decode_invalid_numbers(false) return c.decode('[1.5e3]')",
    "local c = cjson.new() c.encode_keep_buffer('off') return {c.encode_keep_buffer(), c.encode({1})}",
    "return cjson.encode_number_precision(20)",
    "return cjson.encode_number_precision(0)",
    "return cjson.encode_number_precision('x')",
    "return cjson.encode_number_precision(1, 2)",
    "return cjson.encode_invalid_numbers('maybe')",
    "return cjson.encode_invalid_numbers({})",
    "return cjson.encode_sparse_array(1, 2, 3, 4)",
    "return {pcall(cjson.encode)}",
    "return {pcall(cjson.decode, '[')}",
    "return cjson._NAME .. ' ' .. cjson._VERSION",
    "return {tostring(cjson.null), type(cjson.null), cjson.null == cjson.decode('null')}",
    "return type(cjson.new().null)",
]

CMSGPACK = [
    "return cmsgpack.pack({1,2,3}, 'abc', {a=1}, 1.5, 0.1, -1, -33, 200, 70000, -70000, 2^40, -2^40,"
    " true, false, nil)",
    "return cmsgpack.pack(2^63, -2^63, 2^64, 1/0, -1/0, 1e300, 3.4e38, 2^53 + 1)",
    "return cmsgpack.pack(127, 128, 255, 256, 65535, 65536, 2^32 - 1, 2^32, -32, -33, -128, -129, -32768,"
    " -32769, -2^31, -2^31 - 1)",
    "return cmsgpack.pack(string.rep('x', 31), string.rep('x', 32), string.rep('x', 255), string.rep('x', 256))",
    "return #cmsgpack.pack(string.rep('x', 70000))",
    "local t = {} for i = 1, 16 do t[i] = i end return cmsgpack.pack(t)",
    "local t = {} for i = 1, 70000 do t[i] = 1 end return #cmsgpack.pack(t)",
    "local t = {} for i = 1, 16 do t['k' .. i] = i end return #cmsgpack.pack(t)",
    "return cmsgpack.pack({[1]=1, [3]=3})",
    "return cmsgpack.pack({[0]=1})",
    "return cmsgpack.pack({[1.5]=1})",
    "return cmsgpack.pack({})",
    "return cmsgpack.pack(print, coroutine.create(function() end), cjson.null)",
    "local t = {} t[1] = t return cmsgpack.pack(t)",
    "local t = {} for i = 1, 20 do t = {t} end return cmsgpack.pack(t)",
    "return cmsgpack.pack()",
    "return {pcall(cmsgpack.pack)}",
    "return {cmsgpack.unpack(cmsgpack.pack({1,2,{a='b'}}, 'x', 3.25))}",
    "return {cmsgpack.unpack('')}",
    "return cmsgpack.unpack('\\205')",
    "return cmsgpack.unpack('\\193')",
    "return cmsgpack.unpack('\\196\\1a')",
    "return cmsgpack.unpack('\\147\\1')",
    "return {cmsgpack.unpack('\\147\\1\\192\\3')}",
    "return cmsgpack.unpack('\\129\\192\\1')",
    "return {cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), 0)}",
    "return {cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), 2)}",
    "return {cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3))}",
    "return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 2, 0)}",
    "return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 2)}",
    "return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 0, 0)}",
    "return {cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), 10)}",
    "return {cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), -1)}",
    "return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), -1)}",
    "return {cmsgpack.unpack_limit('x')}",
    "return {cmsgpack.unpack_one('x', 'y')}",
    "return {cmsgpack.unpack()}",
    "return {cmsgpack.unpack({})}",
    "return {cmsgpack.unpack(12)}",
    "return tostring(cmsgpack.unpack('\\207\\255\\255\\255\\255\\255\\255\\255\\255'))",
    "return tostring(cmsgpack.unpack('\\207\\128\\0\\0\\0\\0\\0\\0\\1'))",
    "return tostring(cmsgpack.unpack('\\211\\128\\0\\0\\0\\0\\0\\0\\1'))",
    "return tostring(cmsgpack.unpack('\\211\\0\\32\\0\\0\\0\\0\\0\\1'))",
    "return {cmsgpack.unpack('\\208\\255\\209\\255\\127\\210\\128\\0\\0\\0\\204\\200\\205\\1\\0\\206\\255\\255\\255\\255')}",
    "return tostring(cmsgpack.unpack('\\202\\62\\32\\0\\0'))",
    "return tostring(cmsgpack.unpack('\\203\\63\\185\\153\\153\\153\\153\\153\\154'))",
    "return cmsgpack.unpack('\\217\\3abc\\218\\0\\1x\\219\\0\\0\\0\\2yz')",
    "return {cmsgpack.unpack('\\217\\3abc\\218\\0\\1x\\219\\0\\0\\0\\2yz')}",
    "return cmsgpack.unpack('\\220\\0\\2\\1\\2')",
    "return cmsgpack.unpack('\\221\\0\\0\\0\\1\\7')",
    "return cmsgpack.unpack('\\222\\0\\1\\161a\\1').a",
    "return cmsgpack.unpack('\\223\\0\\0\\0\\1\\161a\\2').a",
    "return cmsgpack._NAME .. '|' .. cmsgpack._VERSION .. '|' .. cmsgpack._COPYRIGHT .. '|' .. cmsgpack._DESCRIPTION",
]

BIT = [
    "return {bit.tobit(0xffffffff), bit.tobit(2^32 + 5), bit.band(-1, 0xff), bit.bor(1, 2, 4), bit.bxor(5, 3),"
    " bit.bnot(0), bit.lshift(1, 31), bit.rshift(-1, 28), bit.arshift(-256, 4), bit.rol(0x12345678, 8),"
    " bit.ror(0x12345678, 8), bit.bswap(0x12345678), bit.tohex(255), bit.tohex(-1, -4), bit.tohex(0x1234, 2),"
    " bit.tobit(1.5), bit.tobit(2.5), bit.tobit(-1.5), bit.tobit(2^53+3)}",
    "return {bit.tobit(2^51), bit.tobit(2^52 + 1), bit.tobit(-2^52), bit.tobit(1e300), bit.tobit(0/0),"
    " bit.tobit(1/0), bit.tobit(-0.5), bit.tobit(0.5)}",
    "return {bit.lshift(1, 32), bit.lshift(1, 33), bit.rshift(1, -1), bit.rol(1, 0), bit.ror(1, 32)}",
    "return {bit.tohex(1, 0), bit.tohex(1, 9), bit.tohex(-1, -9), bit.tohex(0xabcdef)}",
    "return {bit.band(), bit.band(1)}",
    "return bit.band()",
    "return bit.band('x')",
    "return bit.band(1, 'x', {})",
    "return bit.band(1, nil)",
    "return bit.lshift(1)",
    "return bit.tohex(1, nil)",
    "return bit.tohex()",
    "return {pcall(bit.bor, 'z')}",
    "return {bit.band('0x10', 3), bit.tohex('12'), bit.bor(' 7 ', 8)}",
]

STRUCT = [
    "return {struct.pack('>I4', 1), struct.pack('<i8', -2), struct.pack('>h', -1), struct.pack('b', 200),"
    " struct.pack('B', -1), struct.pack('>d', 1.5), struct.pack('<f', 0.1), struct.pack('s', 'ab'),"
    " struct.pack('c3', 'abcd'), struct.pack('c0', 'xyz'), struct.pack('!4 b i4', 1, 2), struct.pack('>i16', -1),"
    " struct.pack('x'), struct.pack('l', 1), struct.pack('T', 1), struct.pack('i', 1)}",
    "return {struct.unpack('>I4', '\\0\\0\\1\\0'), struct.unpack('<h', '\\255\\255'), struct.unpack('s', 'ab\\0cd'),"
    " struct.unpack('b c0', '\\3abcd'), struct.unpack('>i2', 'xyab', 3), struct.size('!4 b i4 d'),"
    " struct.size('c10 l')}",
    "return {struct.unpack('<I8', '\\255\\255\\255\\255\\255\\255\\255\\255')}",
    "return {struct.unpack('<i8', '\\255\\255\\255\\255\\255\\255\\255\\127')}",
    "return {struct.unpack('>i3', '\\255\\255\\254')}",
    "return {struct.unpack('<I16', string.rep('\\255', 16))}",
    "return {struct.unpack('<i9', string.rep('\\128', 9))}",
    "return struct.pack('<i4', 2^31)",
    "return struct.pack('<I4', -1)",
    "return struct.pack('<i8', 2^63)",
    "return struct.pack('<I8', 2^64 - 2048)",
    "return struct.pack('>i2', 1.9)",
    "return struct.pack('>i2', -1.9)",
    "return struct.pack('>f', 1e300)",
    "return struct.pack('>f', -1e300)",
    "return struct.pack('<d', 0/0) ~= nil",
    "return struct.pack('!', 1)",
    "return struct.pack('!8 b d', 1, 2)",
    "return struct.pack('!2 b d', 1, 2)",
    "return struct.pack('!16 b i3', 1, 2)",
    "return struct.pack('<i4 >i4 =i4', 1, 1, 1)",
    "return struct.pack('z', 1)",
    "return struct.pack('5', 1)",
    "return struct.pack('i40', 1)",
    "return struct.pack('i99999999999', 1)",
    "return struct.pack('!3', 1)",
    "return struct.pack('c5', 'ab')",
    "return struct.pack('i')",
    "return struct.pack('i i')",
    "return struct.pack('i', 'x')",
    "return struct.pack('i', '12')",
    "return struct.pack('s', 12)",
    "return struct.pack('s', 1.5)",
    "return struct.pack('s', {})",
    "return struct.pack()",
    "return struct.pack(12)",
    "return struct.pack({})",
    "return struct.unpack('i', 'ab')",
    "return struct.unpack('s', 'ab')",
    "return struct.unpack('c0', 'ab')",
    "return struct.unpack('c1 c0', '3abcd')",
    "return struct.unpack('c1 c0', 'xabcd')",
    "return struct.unpack('b c0', '\\9ab')",
    "return struct.unpack('i', 'abcd', 0)",
    "return struct.unpack('i', 'abcd', -1)",
    "return struct.unpack('i', 'abcd', 'x')",
    "return {struct.unpack('b', 'abcd', '2')}",
    "return {struct.unpack('', 'abcd', 3)}",
    "return {struct.unpack('x b', 'ab')}",
    "return struct.unpack('i')",
    "return struct.size('s')",
    "return struct.size('c0')",
    "return struct.size('z b')",
    "return struct.size('!4 i2 i8')",
    "return struct.size('\\200')",
    "return {pcall(struct.pack, 'z')}",
    "local p = struct.pack return p('i')",
    "return tostring(struct.unpack('>d', struct.pack('>d', 0.1)))",
    "return tostring(struct.unpack('<f', struct.pack('<f', 0.1)))",
]


@pytest.mark.parametrize("script", CJSON)
def test_cjson(rt, redis_server, script):  # noqa: F811
    compare(rt, redis_server, script)


@pytest.mark.parametrize("script", CMSGPACK)
def test_cmsgpack(rt, redis_server, script):  # noqa: F811
    compare(rt, redis_server, script)


@pytest.mark.parametrize("script", BIT)
def test_bit(rt, redis_server, script):  # noqa: F811
    compare(rt, redis_server, script)


@pytest.mark.parametrize("script", STRUCT)
def test_struct(rt, redis_server, script):  # noqa: F811
    compare(rt, redis_server, script)


# ---------------------------------------------------------------------------
# Seeded random sweeps
# ---------------------------------------------------------------------------

def _lua_value(r: random.Random, depth: int = 0) -> str:
    kind = r.choice(["int", "float", "str", "bool", "array", "map", "null", "big"] if depth < 4 else
                    ["int", "float", "str", "bool"])
    if kind == "int":
        return str(r.randint(-(2**40), 2**40))
    if kind == "big":
        return r.choice(["2^53", "-2^63", "2^64", "1e300", "-1e-300", "0.1", "1/3"])
    if kind == "float":
        return repr(r.uniform(-1e6, 1e6))
    if kind == "str":
        return repr("".join(r.choice("ab/\"\\\n\t\x01é€") for _ in range(r.randint(0, 6)))).replace("\\x", "\\")
    if kind == "bool":
        return r.choice(["true", "false"])
    if kind == "null":
        return "cjson.null"
    if kind == "array":
        return "{" + ", ".join(_lua_value(r, depth + 1) for _ in range(r.randint(0, 5))) + "}"
    items = []
    for _ in range(r.randint(1, 5)):
        key = r.choice([repr("k" + str(r.randint(0, 50))), str(r.randint(1, 3)), repr(str(r.random()))])
        items.append(f"[{key}] = {_lua_value(r, depth + 1)}")
    return "{" + ", ".join(items) + "}"


def _lua_escape(text: str) -> str:
    out = []
    for ch in text.encode():
        out.append(chr(ch) if 32 <= ch < 127 and ch not in b"'\\" else f"\\{ch}")
    return "".join(out)


def test_random_cjson_round_trips(rt, redis_server):  # noqa: F811
    r = random.Random(1234)
    for _ in range(150):
        value = _lua_value(r)
        compare(rt, redis_server, f"return cjson.encode({value})")
        compare(rt, redis_server, f"return cjson.encode(cjson.decode(cjson.encode({value})))")


def test_random_json_text_decodes(rt, redis_server):  # noqa: F811
    r = random.Random(99)
    alphabet = ['[', ']', '{', '}', ',', ':', '"a"', '1', '-2.5e3', 'true', 'false', 'null', ' ', '0x1F',
                'nan', '"\\u00e9"', '"\\ud83d\\ude00"', '"x\\n"', '1e', '-', '+1', '01']
    for _ in range(200):
        text = "".join(r.choice(alphabet) for _ in range(r.randint(1, 8)))
        compare(rt, redis_server, f"return cjson.encode({{pcall(cjson.decode, '{_lua_escape(text)}')}})")


def test_random_cmsgpack_round_trips(rt, redis_server):  # noqa: F811
    r = random.Random(4321)
    for _ in range(150):
        value = _lua_value(r)
        compare(rt, redis_server, f"return cmsgpack.pack({value})")
        compare(rt, redis_server, f"return cjson.encode({{cmsgpack.unpack(cmsgpack.pack({value}))}})")


def test_random_bit_ops(rt, redis_server):  # noqa: F811
    r = random.Random(7)
    numbers = ["0", "1", "-1", "2^31", "-2^31", "2^32", "0x7fffffff", "2^52 + 0.5", "2^53", "-2^60", "1.5",
               "-2.5", "3.5", "1e20"]
    ops = ["tobit", "bnot", "bswap", "band", "bor", "bxor", "lshift", "rshift", "arshift", "rol", "ror", "tohex"]
    calls = []
    for _ in range(300):
        op = r.choice(ops)
        if op in ("tobit", "bnot", "bswap"):
            args = [r.choice(numbers)]
        elif op in ("band", "bor", "bxor"):
            args = [r.choice(numbers) for _ in range(r.randint(1, 4))]
        else:
            args = [r.choice(numbers), r.choice(numbers + ["33", "-3"])]
        calls.append(f"bit.{op}({', '.join(args)})")
    for i in range(0, len(calls), 30):
        compare(rt, redis_server, "return {" + ", ".join(calls[i:i + 30]) + "}")


def test_random_struct_round_trips(rt, redis_server):  # noqa: F811
    r = random.Random(11)
    opts = ["b", "B", "h", "H", "i", "I", "i3", "I5", "l", "L", "T", "f", "d", "x", "s", "c2"]
    for _ in range(120):
        fmt = r.choice(["<", ">", "!", "!4", ""]) + " ".join(r.choice(opts) for _ in range(r.randint(1, 5)))
        args = []
        for part in fmt.split():
            code = part.lstrip("<>!0123456789")[:1]
            if code in ("s", "c"):
                args.append(repr("xyz"))
            elif code and code != "x":
                args.append(r.choice(["1", "-1", "255", "70000", "-3e9", "1.5", "2^40"]))
        packed = f"struct.pack('{fmt}'{''.join(', ' + a for a in args)})"
        compare(rt, redis_server, f"return {packed}")
        compare(rt, redis_server, f"return cjson.encode({{struct.unpack('{fmt}', {packed})}})")
