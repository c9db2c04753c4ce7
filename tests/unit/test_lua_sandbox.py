"""The sandbox Redis 7.0 puts around scripts: globals, read-only tables, errors.

Each script is run on a real redis-server and on aki, replies compared byte
for byte (error messages include the script SHA and the line).
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from test_lua_support import compare, redis_server  # noqa: F401

from aki.errors import RedisError
from aki.scripting import ScriptError, ScriptRuntime


@pytest.fixture(scope="module")
def rt() -> ScriptRuntime:
    return ScriptRuntime()


def noop(argv: list[bytes]) -> Any:
    return None


GLOBALS = [
    "local n = {} for k in pairs(_G) do n[#n+1] = k end table.sort(n) return n",
    "local n = {} for k in pairs(redis) do n[#n+1] = k end table.sort(n) return n",
    """local r = {}
       for _, lib in ipairs({'string','table','math','coroutine','cjson','cmsgpack','bit','struct'}) do
         local t = {} for k in pairs(_G[lib]) do t[#t+1] = k end table.sort(t)
         r[#r+1] = lib .. ': ' .. table.concat(t, ' ')
       end
       return r""",
    "return _VERSION",
    "return {type(loadstring), type(load), type(gcinfo), type(coroutine), type(_G), type(newproxy)}",
    "return print",
    "return os",
    "return io",
    "return debug",
    "return loadfile",
    "return dofile",
    "return require",
    "return module",
    "return getfenv",
    "return setfenv",
    "return newproxy",
    "return package",
    "return python",
    "return _G._G == _G",
    "return _G.redis ~= nil",
    "return #_G",
    "return rawget(_G, 'redis') ~= nil",
    "return rawget(_G, 'nosuch')",
    "return _G.nosuch",
    "return _G[1]",
    "return x",
    "local t = {} t.x = 1 return t.x",
    "KEYS[1] = 'x' return KEYS[1]",
    "table.insert(ARGV, 'y') return ARGV",
]

READONLY = [
    "x = 1",
    "x = nil",
    "function foo() end",
    "_G.x = 1",
    "_G['redis'] = 1",
    "string.x = 1",
    "redis.call = nil",
    "math.random = nil",
    "cjson.encode = nil",
    "bit.band = nil",
    "rawset(_G, 'x', 1)",
    "rawset(string, 'x', 1)",
    "setmetatable(_G, nil)",
    "setmetatable(redis, {})",
    "local mt = getmetatable(_G) mt.__index = nil return 1",
    "return type(getmetatable(_G))",
    "return getmetatable(string)",
    "return getmetatable(cjson.null)",
    "getmetatable('').__index = nil return 1",
    "getmetatable('').foo = 1 return 1",
    "return type(getmetatable(''))",
    "return getmetatable('x') == getmetatable('y')",
    "return ('%d'):format(5)",
    "return ('x'):bad()",
    "table.insert(string, 1) return 1",
    "table.remove(_G) return 1",
    "table.remove(string, 1) return 1",
    "local t = {1, 2} table.insert(t, 3) table.remove(t, 1) return t",
    "local f = loadstring('x = 1') f() return 1",
    "local f = loadstring('return x') return f()",
    "local f = loadstring('return redis.call') return type(f())",
    "local f = load(function() return nil end) return type(f)",
    "local s = 'return 7' local f = load(function() local r = s s = nil return r end) return f()",
    "local co = coroutine.create(function() x = 1 end) return {coroutine.resume(co)}",
    "local co = coroutine.wrap(function() return redis.REDIS_VERSION end) return co()",
]

ERRORS = [
    "error('boom')",
    "error('boom', 0)",
    "error('boom', 2)",
    "error({err = 'MY err'})",
    "error({err = 'noprefix'})",
    "error({err = 1})",
    "error({err = 'x', line = 5, source = '@abc'})",
    "error()",
    "error(123)",
    "error('a\\nb')",
    "error({err = 'X a\\r\\nb'})",
    "error(string)",
    "error(redis)",
    "return {pcall(error, string)}",
    "\n\nerror('x')",
    "local function f() error('in f') end\nf()",
    "local function f()\n  error('in f')\nend\n\nf()",
    "local function f() return cjson.decode('x') end return f()",
    "local e = cjson.encode return e(1, 2)",
    "return cjson:encode()",
    "return string.rep()",
    "return string.rep('x', -1, 3)",
    "return ({})()",
    "local t = nil return t.x",
    "return 1 + {}",
    "return #nil",
    "return {pcall(error)}",
    "return {pcall(string.rep)}",
    "return {pcall(function() error({err = 'x'}) end)}",
    "return {pcall(function() error({foo = 'x'}) end)}",
    "return {pcall(function() error('plain') end)}",
    "return {xpcall(function() error('a') end, function(e) return 'h:' .. e end)}",
    "return {xpcall(function() error({err = 'x'}) end, function(e) return type(e) end)}",
    "local co = coroutine.wrap(function() error('zz') end) co()",
    "return coroutine.create(print)",
    "return coroutine.create(1)",
    "return rawset(1)",
    "return rawget()",
    "return next(1)",
    "return pairs(nil)",
    "return setmetatable({}, 1)",
    "return setmetatable(1, {})",
    "local t = setmetatable({}, {__metatable = 1}) return setmetatable(t, {})",
    "return getmetatable(setmetatable({}, {__metatable = 'x'}))",
    "return getmetatable()",
    "return {next({})}",
    "return {next({5})}",
    "local n = 0 for k in pairs(string) do n = n + 1 end return n",
    "return select('#', loadstring('return +'))",
    "return select(2, loadstring('return +'))",
    "return select(2, loadstring('return +', '=chunk'))",
    "return select(2, loadstring(string.dump(function() return 1 end)))",
    "return select(2, loadstring('\\027abc'))",
    "return select(2, load(function() return nil end))",
    "return __redis__err__handler('x').err",
    "local t = __redis__err__handler('x') return {t.source, t.line}",
    "local function loop(n) if n == 0 then return 'done' end return loop(n - 1) end return loop(200000)",
    "local function f(n) if n == 0 then error('deep') end return f(n - 1) end return f(3)",
    "return tostring(cjson.null)",
    "return tostring(nil)",
    "return tostring(-0)",
    "return tostring(2^53)",
    "return tostring(0.1)",
    "return tostring(math.pi)",
    "return string.format('%5.2f|%d|%s|%q', 3.14159, 42, 'x', 'a\\nb')",
    "return string.gsub('hello', 'l', 'L')",
    "return {string.find('hello', 'l+')}",
    "return string.dump ~= nil",
    "return collectgarbage('count') > 0",
    "return gcinfo() > 0",
    "return unpack({1, 2, 3})",
    "return select('#', 1, nil, 3)",
    "return table.getn({1, 2})",
    "return table.concat({1, 2, 3}, ',')",
    "local t = {3, 1, 2} table.sort(t) return t",
    "local t = {3, 1, 2} table.sort(t, function(a, b) return a > b end) return t",
    "return math.floor(3.7) + math.max(1, 5) + math.fmod(7, 3)",
    "return tostring(math.huge)",
]


@pytest.mark.parametrize("script", GLOBALS)
def test_globals(rt, redis_server, script):  # noqa: F811
    compare(rt, redis_server, script)


@pytest.mark.parametrize("script", READONLY)
def test_readonly_tables(rt, redis_server, script):  # noqa: F811
    compare(rt, redis_server, script)


@pytest.mark.parametrize("script", ERRORS)
def test_errors_and_builtins(rt, redis_server, script):  # noqa: F811
    compare(rt, redis_server, script)


SCRIPTS = [
    ("return 1 +", (), ()),
    ("return x(", (), ()),
    ("\027Lua", (), ()),
    ("#!lua\nreturn 1", (), ()),
    ("#!lua flags=no-writes\nreturn 1", (), ()),
    ("#!lua flags=no-writes,allow-oom,allow-stale,no-cluster,allow-cross-slot-keys\nreturn 2", (), ()),
    ("#!lua flags=\nreturn 1", (), ()),
    ("#!lua flags=no-writes,bad\nreturn 1", (), ()),
    ("#!lua flags=NO-WRITES\nreturn 1", (), ()),
    ("#!lua foo=bar\nreturn 1", (), ()),
    ("#!lua", (), ()),
    ("#!luax\nreturn 1", (), ()),
    ("#! \nreturn 1", (), ()),
    ("#!\nreturn 1", (), ()),
    ('#!lua "flags=no-writes"\nreturn 1', (), ()),
    ('#!lua "flags=no-writes\nreturn 1', (), ()),
    ("#!lua\n\nerror('x')", (), ()),
    ("#!lua\nreturn 1 +", (), ()),
    ("return {KEYS, ARGV}", ("k1", "k2"), ("a1",)),
    ("return #KEYS + #ARGV", (), ()),
    ("return {KEYS[1], ARGV[1]}", ("k\0\xff",), ("a\r\n",)),
]


@pytest.mark.parametrize(("script", "keys", "args"), SCRIPTS)
def test_scripts(rt, redis_server, script, keys, args):  # noqa: F811
    compare(rt, redis_server, script, keys, args)


def test_script_cache_and_evalsha(rt):
    sha = rt.script_load(b"return ARGV[1]")
    assert sha == hashlib.sha1(b"return ARGV[1]").hexdigest()
    assert rt.evalsha(sha, [], [b"x"], noop) == b"x"
    assert rt.evalsha(sha.upper().encode(), [], [b"y"], noop) == b"y"
    assert rt.script_exists(sha, "0" * 40, sha.upper()) == [1, 0, 1]
    with pytest.raises(RedisError) as exc:
        rt.evalsha("0" * 40, [], [], noop)
    assert exc.value.message == "NOSCRIPT No matching script. Please use EVAL."
    with pytest.raises(RedisError) as exc:
        rt.evalsha("abc", [], [], noop)
    assert exc.value.message.startswith("NOSCRIPT")
    script = rt.get_script(sha)
    assert script is not None and script.body == b"return ARGV[1]" and script.compat


def test_script_load_errors(rt):
    with pytest.raises(RedisError) as exc:
        rt.script_load(b"return +")
    assert exc.value.message == "ERR Error compiling script (new function): user_script:1: unexpected symbol near '+'"
    with pytest.raises(RedisError) as exc:
        rt.script_load(b"#!lua flags=nope\nreturn 1")
    assert exc.value.message == "ERR Unexpected flag in script shebang: nope"


def test_script_flush_starts_a_fresh_state():
    runtime = ScriptRuntime()
    sha = runtime.script_load(b"return 1")
    runtime.script_flush()
    assert runtime.script_exists(sha) == [0]
    assert runtime.eval(b"return 2", [], [], noop) == 2


def test_shebang_flags(rt):
    sha = rt.script_load(b"#!lua flags=no-writes,allow-oom\nreturn 1")
    script = rt.get_script(sha)
    assert script is not None
    assert script.flags == frozenset({"no-writes", "allow-oom"}) and not script.compat


def test_eval_ro_refuses_write_flagged_script(rt, redis_server):  # noqa: F811
    compare(rt, redis_server, "#!lua\nreturn 1", readonly=True)
    compare(rt, redis_server, "#!lua flags=no-writes\nreturn 1", readonly=True)
    compare(rt, redis_server, "return redis.call('set', 'k', 'v')", readonly=True)
    compare(rt, redis_server, "return redis.call('get', 'k')", readonly=True)
    compare(rt, redis_server, "#!lua flags=no-writes\nreturn redis.call('set', 'k', 'v')")
    compare(rt, redis_server, "#!lua flags=no-writes\nreturn redis.call('publish', 'c', 'm')")


def test_run_flags(rt):
    seen = []

    def call(argv: list[bytes]) -> Any:
        run = rt.current
        seen.append((run.kind, run.read_only, run.allow_oom, run.allow_cross_slot, run.flags))
        return None

    rt.eval(b"redis.call('get', 'x')", [], [], call)
    rt.eval(b"redis.call('get', 'x')", [], [], call, readonly=True)
    rt.eval(b"#!lua flags=no-writes,allow-oom\nredis.call('get', 'x')", [], [], call)
    rt.eval(b"#!lua\nredis.call('get', 'x')", [], [], call)
    assert seen == [
        ("eval", False, False, True, frozenset()),
        ("eval", True, False, True, frozenset()),
        ("eval", True, True, False, frozenset({"no-writes", "allow-oom"})),
        ("eval", False, False, False, frozenset()),
    ]
    assert rt.current is None


def test_no_reentrancy(rt):
    def call(argv: list[bytes]) -> Any:
        return rt.eval(b"return 1", [], [], noop)

    with pytest.raises(ScriptError) as exc:
        rt.eval(b"return redis.call('eval')", [], [], call)
    assert exc.value.message.startswith("ERR This Redis command is not allowed from script script:")


def test_python_is_unreachable(rt):
    # Nothing in the sandbox leads back to Python objects or the real tables.
    for script in [b"return python", b"return debug"]:
        with pytest.raises(ScriptError):
            rt.eval(script, [], [], noop)
    assert rt.eval(b"return rawget(_G, 'python')", [], [], noop) is None
    # Library functions are Lua functions, and none of their upvalues can be reached.
    assert rt.eval(b"return type(redis.call)", [], [], noop) == b"function"
    assert rt.eval(b"return type(bit.band)", [], [], noop) == b"function"


def test_memory_report():
    runtime = ScriptRuntime()
    before = runtime.memory()
    assert before["eval"] > 0 and before["functions"] > 0
    runtime.eval(b"local t = {} for i = 1, 10000 do t[i] = tostring(i) end return #t", [], [], noop)
