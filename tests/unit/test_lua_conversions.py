"""Redis <-> Lua value conversions, both directions, RESP2 and RESP3.

Scripts run on a real redis-server and on aki (whose redis.call goes to the
same server); the wire replies must be identical. A second group checks
aki's own reply types (dict, RespSet, float, bool, BigNumber, Verbatim, Raw,
ErrorReply) that no real command produces through a proxy.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from test_lua_support import compare, encode, redis_server  # noqa: F401

from aki.errors import RedisError
from aki.resp.types import BigNumber, ErrorReply, NullArray, Raw, RespSet, Status, Verbatim
from aki.scripting import ScriptError, ScriptRuntime
from aki.scripting.convert import parse_raw


@pytest.fixture(scope="module")
def rt() -> ScriptRuntime:
    return ScriptRuntime()


LUA_TO_REDIS = [
    "return 1",
    "return 3.99",
    "return -3.99",
    "return 1e20",
    "return -1e20",
    "return 0/0",
    "return 1/0",
    "return 2^53 + 1",
    "return 'x'",
    "return ''",
    "return 'a\\0b'",
    "return true",
    "return false",
    "return nil",
    "return {}",
    "return {1, 2, nil, 4}",
    "return {1, true, false, 'x', 2.5}",
    "return {1, {2, {3, {}}}}",
    "return {a = 1}",
    "return {err = 'x'}",
    "return {err = 'x y'}",
    "return {err = '-x y'}",
    "return {err = 'ERR a\\r\\nb\\n'}",
    "return {err = 1}",
    "return {ok = 'fine'}",
    "return {ok = 'a\\r\\nb'}",
    "return {ok = 'a\\0b'}",
    "return {ok = 1}",
    "return {err = 'e', ok = 'o'}",
    "return {ok = 'o', double = 1}",
    "return {1, {err = 'x'}, {err = 'ERR y'}, {ok = 'fine'}}",
    "return {double = 1.5}",
    "return {double = 0.1}",
    "return {double = 1/0}",
    "return {double = -1/0}",
    "return {double = -0.0}",
    "return {double = 'x'}",
    "return {map = {a = 1, b = {1, 2}}}",
    "return {map = {[{1, 2}] = 1}}",
    "return {map = {}}",
    "return {set = {a = true, b = false, c = 1}}",
    "return {big_number = '123'}",
    "return {big_number = 'abc'}",
    "return {big_number = '1\\r\\n2'}",
    "return {verbatim_string = {format = 'txt', string = 'abc'}}",
    "return {verbatim_string = {format = 'markdown', string = 'abc'}}",
    "return {verbatim_string = {format = 'x', string = 'abc'}}",
    "return {verbatim_string = {format = 'txt'}}",
    "return {cjson.null, 1}",
    "return {print and 1, function() end, coroutine.create(function() end), 2}",
    "return redis.status_reply('x')",
    "return redis.error_reply('My error')",
    "local t = {} t[1] = t return t",
    "local t = {} for i = 1, 100 do t = {t} end return t",
    "local t = {map = {}} t.map[1] = t return t",
    "redis.setresp(3) return true",
    "redis.setresp(3) return false",
    "redis.setresp(3) return {true, false, nil}",
    "redis.setresp(3) return nil",
]


@pytest.mark.parametrize("resp", [2, 3])
@pytest.mark.parametrize("script", LUA_TO_REDIS)
def test_lua_to_redis(rt, redis_server, script, resp):  # noqa: F811
    compare(rt, redis_server, script, resp=resp)


REDIS_TO_LUA = [
    # RESP2 script protocol
    "return redis.call('ping')",
    "return redis.call('ping').ok",
    "return redis.call('get', 'nokey')",
    "return type(redis.call('get', 'nokey'))",
    "return {redis.call('get', 'nokey'), 1}",
    "redis.call('set', 'k', 'v') return redis.call('get', 'k')",
    "return redis.call('incr', 'k')",
    "redis.call('rpush', 'l', 'a', 'b', 'c') return redis.call('lrange', 'l', 0, -1)",
    "redis.call('rpush', 'l', 'a') return redis.call('lpos', 'l', 'zz')",
    "redis.call('hset', 'h', 'a', '1', 'b', '2') return redis.call('hgetall', 'h')",
    "redis.call('zadd', 'z', 1.5, 'a', 2, 'b') return redis.call('zrange', 'z', 0, -1, 'withscores')",
    "redis.call('zadd', 'z', 0.1, 'a') return redis.call('zscore', 'z', 'a')",
    "redis.call('sadd', 's', 'a') return redis.call('smembers', 's')",
    "return redis.call('blmpop', 0.01, 1, 'nolist', 'left')",
    "return redis.call('exec')",
    "return redis.pcall('incr', 'nokey', 'extra')",
    "redis.call('set', 'k', 'v') return redis.pcall('lpush', 'k', 'a')",
    "redis.call('set', 'k', 'v') local e = redis.pcall('lpush', 'k', 'a') return {type(e), e.err}",
    "redis.call('set', 'k', 'v') return {redis.pcall('incr', 'k')}",
    "return redis.call('set', 'k', 1e20) and redis.call('get', 'k')",
    "return redis.call('set', 'k', 0.1) and redis.call('get', 'k')",
    "return redis.call('set', 'k', -0.0) and redis.call('get', 'k')",
    "return redis.call('set', 'k', 1/0) and redis.call('get', 'k')",
    "return redis.call('set', 'k', 3) and redis.call('get', 'k')",
    # RESP3 script protocol
    "redis.setresp(3) return redis.call('get', 'nokey')",
    "redis.setresp(3) return {redis.call('get', 'nokey'), 1}",
    "redis.setresp(3) return type(redis.call('get', 'nokey'))",
    "redis.call('hset', 'h', 'a', '1') redis.setresp(3) return redis.call('hgetall', 'h')",
    "redis.call('hset', 'h', 'a', '1') redis.setresp(3) local r = redis.call('hgetall', 'h') return r.map.a",
    "redis.call('sadd', 's', 'a', 'b') redis.setresp(3) local r = redis.call('smembers', 's') return {r.set.a, r.set.b}",
    "redis.call('zadd', 'z', 0.1, 'a') redis.setresp(3) return redis.call('zscore', 'z', 'a')",
    "redis.call('zadd', 'z', 0.1, 'a') redis.setresp(3) return tostring(redis.call('zscore', 'z', 'a').double)",
    "redis.call('zadd', 'z', 1.5, 'a') redis.setresp(3) return redis.call('zrange', 'z', 0, -1, 'withscores')",
    "redis.setresp(3) local r = redis.call('info', 'server') return {type(r), r.verbatim_string.format}",
    "redis.setresp(3) return redis.call('hgetall', 'nokey')",
    "redis.setresp(3) redis.setresp(2) return redis.call('get', 'nokey')",
    "redis.call('rpush', 'l', 'a') redis.setresp(3) return redis.call('lpos', 'l', 'zz')",
]


@pytest.mark.parametrize("resp", [2, 3])
@pytest.mark.parametrize("script", REDIS_TO_LUA)
def test_redis_to_lua(rt, redis_server, script, resp):  # noqa: F811
    compare(rt, redis_server, script, resp=resp)


def test_redis_call_arguments(rt, redis_server):  # noqa: F811
    """Numbers are sent as %.17g, like Redis's luaArgsToRedisArgv."""
    for script in [
        "return redis.call('echo', 0.1)",
        "return redis.call('echo', 1e100)",
        "return redis.call('echo', -0.0)",
        "return redis.call('echo', 1/0)",
        "return redis.call('echo', 3)",
        "return redis.call('incrby', 'k', 1.5)",
        "return redis.call('echo', 'a\\0b')",
    ]:
        compare(rt, redis_server, script)


# ---------------------------------------------------------------------------
# aki reply types handed to Lua (no real command produces all of them)
# ---------------------------------------------------------------------------

def run_with_reply(rt: ScriptRuntime, reply: Any, script: str, resp: int = 2) -> Any:
    def call(argv: list[bytes]) -> Any:
        return reply
    return rt.eval(script.encode(), [], [], call, resp=resp)


ECHO = "return redis.call('x')"
DESCRIBE = """
local function d(v)
  if type(v) ~= 'table' then return type(v) .. ':' .. tostring(v) end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do
    local val = v[k] if val == nil then val = v[tonumber(k)] end
    parts[#parts + 1] = k .. '=' .. d(val)
  end
  return '{' .. table.concat(parts, ',') .. '}'
end
"""


@pytest.mark.parametrize(
    ("reply", "resp2", "resp3"),
    [
        (b"v", "string:v", "string:v"),
        (7, "number:7", "number:7"),
        (None, "boolean:false", "nil:nil"),
        (NullArray, "boolean:false", "nil:nil"),
        (True, "number:1", "boolean:true"),
        (False, "number:0", "boolean:false"),
        (Status("OK"), "{ok=string:OK}", "{ok=string:OK}"),
        (1.5, "string:1.5", "{double=number:1.5}"),
        (0.1, "string:0.10000000000000001", "{double=number:0.1}"),
        (math.inf, "string:inf", "{double=number:inf}"),
        (BigNumber(10**30), "string:" + str(10**30), "{big_number=string:" + str(10**30) + "}"),
        (Verbatim(b"text"), "string:text", "{verbatim_string={format=string:txt,string=string:text}}"),
        ({b"a": 1}, "{1=string:a,2=number:1}", "{map={a=number:1}}"),
        (RespSet([b"a"]), "{1=string:a}", "{set={a=boolean:true}}"),
        ([b"a", 1, None], "{1=string:a,2=number:1,3=boolean:false}", "{1=string:a,2=number:1}"),
        ([ErrorReply("ERR inner")], "{1={err=string:ERR inner,ignore_error_stats_update=boolean:true}}",
         "{1={err=string:ERR inner,ignore_error_stats_update=boolean:true}}"),
        (Raw(b"*2\r\n$1\r\na\r\n:5\r\n"), "{1=string:a,2=number:5}", "{1=string:a,2=number:5}"),
        (Raw(b"%1\r\n$1\r\nk\r\n,2.5\r\n"), "{1=string:k,2=string:2.5}", "{map={k={double=number:2.5}}}"),
        ("plain str", "string:plain str", "string:plain str"),
    ],
)
def test_aki_types_to_lua(rt, reply, resp2, resp3):
    assert run_with_reply(rt, reply, DESCRIBE + "return d(redis.call('x'))").decode() == resp2
    script3 = DESCRIBE + "redis.setresp(3) return d(redis.call('x'))"
    assert run_with_reply(rt, reply, script3).decode() == resp3


def test_aki_types_round_trip(rt):
    """What a RESP3 script returns of a reply is the same reply, type for type."""
    for reply in [b"v", 3, Status("S"), 2.5, True, BigNumber(10**20), Verbatim(b"t"), {b"k": [b"v"]},
                  RespSet([b"m"]), [b"a", [1, 2]]]:
        got = run_with_reply(rt, reply, "redis.setresp(3) return redis.call('x')", resp=3)
        assert got == reply and type(got) is type(reply)


def test_error_reply_raises_or_returns(rt):
    def failing(argv: list[bytes]) -> Any:
        raise RedisError("WRONGTYPE Operation against a key holding the wrong kind of value")

    with pytest.raises(ScriptError) as exc:
        rt.eval(b"return redis.call('x')", [], [], failing)
    assert exc.value.message.startswith("WRONGTYPE Operation against a key holding the wrong kind of value script: ")
    assert exc.value.message.endswith(", on @user_script:1.")
    assert exc.value.count_in_stats is False  # the command already counted it


def test_top_level_error_reply(rt):
    def failing(argv: list[bytes]) -> Any:
        raise RedisError("ERR boom")

    with pytest.raises(ScriptError) as exc:
        rt.eval(b"return redis.pcall('x')", [], [], failing)
    assert exc.value.message == "ERR boom"
    assert exc.value.count_in_stats is False
    with pytest.raises(ScriptError) as exc:
        rt.eval(b"return {err='MINE here'}", [], [], failing)
    assert exc.value.message == "MINE here"
    assert exc.value.count_in_stats is True


def test_unexpected_exception_in_call_is_an_error_reply(rt):
    def broken(argv: list[bytes]) -> Any:
        raise ValueError("oops")

    assert rt.eval(b"return redis.pcall('x').err", [], [], broken) == b"ERR oops"


def test_nan_and_odd_values_as_raw(rt):
    noop = lambda argv: None  # noqa: E731
    assert rt.eval(b"return {double = 0/0}", [], [], noop, resp=3) in (Raw(b",-nan\r\n"), Raw(b",nan\r\n"))
    assert rt.eval(b"return {big_number = 'x1'}", [], [], noop, resp=3) == Raw(b"(x1\r\n")
    assert rt.eval(b"return {big_number = 'x1'}", [], [], noop, resp=2) == Raw(b"$2\r\nx1\r\n")
    assert rt.eval(b"return {big_number = '-12'}", [], [], noop, resp=3) == BigNumber(-12)
    assert rt.eval(b"return {verbatim_string = {format = 'mkd', string = 'x'}}", [], [], noop, resp=3) == Raw(
        b"=5\r\nmkd:x\r\n"
    )


def test_integer_truncation(rt):
    noop = lambda argv: None  # noqa: E731
    assert rt.eval(b"return 2^62", [], [], noop) == 2**62
    assert rt.eval(b"return 2^63", [], [], noop) == -(2**63)
    assert rt.eval(b"return -2^63", [], [], noop) == -(2**63)
    assert rt.eval(b"return -7.9", [], [], noop) == -7


def test_parse_raw_resp3():
    assert parse_raw(b"|1\r\n+a\r\n+b\r\n:1\r\n") == 1
    assert parse_raw(b"#f\r\n") is False
    assert parse_raw(b"_\r\n") is None
    assert parse_raw(b"*-1\r\n") is NullArray
    assert parse_raw(b"(123\r\n") == BigNumber(123)
    assert parse_raw(b">1\r\n$1\r\nx\r\n") == [b"x"]
    assert encode(parse_raw(b"=7\r\ntxt:abc\r\n"), 3) == b"=7\r\ntxt:abc\r\n"
