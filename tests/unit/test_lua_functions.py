"""FUNCTION LOAD / FCALL / LIST / DELETE / FLUSH / STATS / RESTORE semantics.

The commands themselves belong to the server; ``Commands`` below is the
thin layer those commands need on top of ScriptRuntime, and its replies are
compared with a real redis-server's, command by command.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from test_lua_support import RedisServer, encode, proxy_call, redis_server  # noqa: F401

from aki.errors import RedisError
from aki.resp.types import Status
from aki.scripting import ScriptError, ScriptRuntime, glob_match


class Commands:
    """FUNCTION/FCALL as the server will implement them over the runtime."""

    def __init__(self, runtime: ScriptRuntime, server: RedisServer) -> None:
        self.rt = runtime
        self.server = server

    def run(self, cmd: Sequence[str], resp: int = 2) -> bytes:
        try:
            return encode(self._run([c.encode() for c in cmd], resp), resp)
        except RedisError as e:
            return encode(e, resp)

    def _run(self, argv: list[bytes], resp: int) -> Any:
        name = argv[0].upper()
        if name == b"FUNCTION":
            sub = argv[1].upper()
            if sub == b"LOAD":
                return self.rt.load_library(argv[-1], replace=len(argv) == 4)
            if sub == b"DELETE":
                self.rt.delete_library(argv[2])
                return Status("OK")
            if sub == b"FLUSH":
                self.rt.flush_libraries()
                return Status("OK")
            if sub == b"LIST":
                upper = [a.upper() for a in argv]
                pattern = argv[upper.index(b"LIBRARYNAME") + 1] if b"LIBRARYNAME" in upper else None
                return self.rt.list_libraries(pattern, withcode=b"WITHCODE" in upper)
            if sub == b"STATS":
                return self.rt.function_stats()
        if name in (b"FCALL", b"FCALL_RO"):
            numkeys = int(argv[2])
            keys, args = argv[3:3 + numkeys], argv[3 + numkeys:]
            return self.rt.fcall(argv[1], keys, args, proxy_call(self.rt, self.server), resp=resp,
                                 readonly=name == b"FCALL_RO", command=argv)
        raise AssertionError(argv)


def L(code: str, *options: str) -> list[str]:  # noqa: N802
    return ["FUNCTION", "LOAD", *options, code]


SESSION = [
    L("#!lua name=lib1\nredis.register_function('f1', function(keys, args) return {keys, args} end)"),
    L("#!lua name=lib1\nredis.register_function('f1', function(keys, args) return 1 end)"),
    L("#!lua name=lib2\nredis.register_function('f1', function(keys, args) return 1 end)"),
    L("#!lua name=lib2\nredis.register_function('F1', function(keys, args) return 1 end)"),
    L("#!lua name=lib1\nredis.register_function('f1', function(keys, args) return {keys, args} end)", "REPLACE"),
    ["FCALL", "f1", "1", "k", "a"],
    ["FCALL", "F1", "1", "k", "a"],
    ["FCALL", "nosuch", "0"],
    L("return 1"),
    L("#!lua\nreturn 1"),
    L("#!lua name=a name=b\nreturn 1"),
    L("#!lua name=a foo=b\nreturn 1"),
    L("#!lua name=a"),
    L("#!lua name=a-b\nreturn 1"),
    L("#!lua name=\nreturn 1"),
    L("#!js name=a\nreturn 1"),
    L("#!js name=a-b\nreturn 1"),
    L('#!lua name="x y\nreturn 1'),
    L('#!lua name="xy"\nredis.register_function("q", function() return 1 end)'),
    L("#!lua NAME=ucase2\nredis.register_function('fu2', function() return 1 end)"),
    L("#!LUA name=ucase\nredis.register_function('fu', function() return 1 end)"),
    L("#!lua name=a\nreturn 1"),
    L("#!lua name=a\nreturn 1 +"),
    L("#!lua name=a\nerror('boom')"),
    L("#!lua name=a\nredis.call('ping')"),
    L("#!lua name=a\nredis.pcall('ping')"),
    L("#!lua name=a\nlocal x = string.format('a')"),
    L("#!lua name=a\nlocal x = math.random()"),
    L("#!lua name=a\nlocal x = cjson"),
    L("#!lua name=a\nx = 1"),
    L("#!lua name=a\nlocal x = redis.REDIS_VERSION redis.log(redis.LOG_WARNING, 'loading')"
      " redis.register_function('fa', function() return x end)"),
    ["FCALL", "fa", "0"],
    L("#!lua name=b\nlocal x = redis.setresp"),
    L("#!lua name=b\nlocal x = KEYS"),
    L("#!lua name=b\nlocal x = _G"),
    L("#!lua name=b\nlocal x = pcall"),
    L("#!lua name=b\nredis.x = 1"),
    L("#!lua name=b\nredis.register_function = 1"),
    L("#!lua name=b\nredis.register_function('a-b', function() end)"),
    L("#!lua name=b\nredis.register_function('f', function() end) redis.register_function('f', function() end)"),
    L("#!lua name=b\nredis.register_function('f')"),
    L("#!lua name=b\nredis.register_function()"),
    L("#!lua name=b\nredis.register_function(1, 2, 3)"),
    L("#!lua name=b\nredis.register_function({})"),
    L("#!lua name=b\nredis.register_function(1)"),
    L("#!lua name=b\nredis.register_function{function_name='f'}"),
    L("#!lua name=b\nredis.register_function{callback=function() end}"),
    L("#!lua name=b\nredis.register_function{function_name='f', callback=function() end, flags={'bad'}}"),
    L("#!lua name=b\nredis.register_function{function_name='f', callback=function() end, flags='no-writes'}"),
    L("#!lua name=b\nredis.register_function{function_name='f', callback=function() end, foo=1}"),
    L("#!lua name=b\nredis.register_function{function_name={}, callback=function() end}"),
    L("#!lua name=b\nredis.register_function{function_name='f', callback=1}"),
    L("#!lua name=b\nredis.register_function{function_name='f', callback=function() end, description={}}"),
    L("#!lua name=b\nredis.register_function{[1]='f', callback=function() end}"),
    L("#!lua name=b\nredis.register_function('fb1', 'notfn')"),
    L("#!lua name=b\nredis.register_function({}, function() end)"),
    L("#!lua name=b\nredis.register_function{function_name='f', callback=function() end, flags={1}}"),
    L("#!lua name=b\nredis.register_function{function_name='', callback=function() end}"),
    L("#!lua name=b\nredis.register_function{function_name='fb', callback=function() return redis.call('set','x','1')"
      " end, flags={'no-writes', 'ALLOW-OOM'}, description='desc'}"),
    L("#!lua name=c\nredis.register_function{function_name='fc', callback=function() return 1 end,"
      " flags={'no-writes','allow-stale','no-cluster','allow-cross-slot-keys','allow-oom'}}"),
    L("#!lua name=d\nredis.register_function(1, function(keys, args) return #keys end)"),
    L("#!lua name=e\nredis.register_function{function_name='fe', callback=function() return 1 end, description=12}"),
    ["FCALL", "fb", "0"],
    ["FCALL_RO", "fb", "0"],
    ["FCALL_RO", "fa", "0"],
    ["FCALL_RO", "fc", "0"],
    ["FCALL", "1", "2", "x", "y", "z"],
    ["FUNCTION", "LIST", "LIBRARYNAME", "b"],
    ["FUNCTION", "LIST", "LIBRARYNAME", "C"],
    ["FUNCTION", "LIST", "LIBRARYNAME", "ucase2*", "WITHCODE"],
    ["FUNCTION", "LIST", "WITHCODE", "LIBRARYNAME", "UCASE"],
    ["FUNCTION", "LIST", "LIBRARYNAME", "nomatch"],
    L("#!lua name=g\nredis.register_function('fg', function(keys, args) local x = y end)"),
    ["FCALL", "fg", "0"],
    L("#!lua name=h\nredis.register_function('fh', function(keys, args) return {KEYS} end)"),
    ["FCALL", "fh", "0"],
    L("#!lua name=i\nredis.register_function('fi', function(keys, args) return redis.register_function('zz', function() end) end)"),
    ["FCALL", "fi", "0"],
    L("#!lua name=j\nredis.register_function('fj', function(keys, args) local t = {} for k in pairs(_G) do t[#t+1] = k end"
      " table.sort(t) return t end)"),
    ["FCALL", "fj", "0"],
    L("#!lua name=k\nredis.register_function('fk', function(keys, args) local t = {} for k in pairs(redis) do"
      " t[#t+1] = k end table.sort(t) return t end)"),
    ["FCALL", "fk", "0"],
    L("#!lua name=l\nredis.register_function('fl', function(keys, args) redis.call('set', keys[1], 'v')"
      " return redis.call('lpush', keys[1], 'x') end)"),
    ["FCALL", "fl", "1", "fa"],
    L("#!lua name=m\nredis.register_function('fm', function(keys, args) redis.setresp(3) return"
      " {redis.call('hgetall', 'nokey'), true, {double = 2.5}} end)"),
    ["FCALL", "fm", "0"],
    ["FUNCTION", "DELETE", "nosuch"],
    ["FUNCTION", "DELETE", "m"],
    ["FCALL", "fm", "0"],
    L("#!lua name=o\nlocal t = {} redis.register_function('o1', function() t[#t+1] = 1 return #t end)"),
    ["FCALL", "o1", "0"],
    ["FCALL", "o1", "0"],
    L("#!lua name=p\nredis.register_function('p1', function(keys, args) return x end)"),
    L("#!lua name=p\nlocal function helper(a) return a * 2 end\n"
      "redis.register_function('p1', function(keys, args) return helper(tonumber(args[1])) end)", "REPLACE"),
    ["FCALL", "p1", "0", "21"],
    L("#!lua name=q\nredis.register_function('q1', function() return 1 end) error('after')"),
    ["FCALL", "q1", "0"],
    L("#!lua name=r\nredis.register_function('r1', function(keys, args) return cjson.encode({keys, args}) end)"),
    ["FCALL", "r1", "1", "a", "b"],
]


def test_function_session(redis_server):  # noqa: F811
    """The whole session above, in RESP2 and RESP3, reply by reply."""
    for resp in (2, 3):
        runtime = ScriptRuntime()
        commands = Commands(runtime, redis_server)
        redis_server.command([b"FUNCTION", b"FLUSH"])
        redis_server.command([b"FLUSHALL"])
        for cmd in SESSION:
            expected = redis_server.command(cmd, resp)
            if cmd[0] == "FCALL" and cmd[1] == "fl":
                redis_server.command([b"DEL", b"fa"])
            if cmd[0].startswith("FCALL") and cmd[1] == "fb":
                # The write refusal is made by the server's call (read_only); check the flag instead.
                assert runtime.get_function(b"fb").flags == {"no-writes", "allow-oom"}
                continue
            got = commands.run(cmd, resp)
            # (LIST patterns here match one library each: aki keeps load order, Redis hash order.)
            assert got == expected, f"{cmd!r}\n aki:   {got!r}\n redis: {expected!r}"
        redis_server.command([b"FUNCTION", b"FLUSH"])


def test_list_and_stats_shapes():
    runtime = ScriptRuntime()
    runtime.load_library(b"#!lua name=one\nredis.register_function{function_name='x', callback=function() end,"
                         b" flags={'allow-oom', 'no-writes'}, description='d'}")
    runtime.load_library(b"#!lua name=two\nredis.register_function('y', function() end)"
                         b" redis.register_function('z', function() end)")
    listing = runtime.list_libraries()
    assert [lib[b"library_name"] for lib in listing] == [b"one", b"two"]
    assert listing[0][b"functions"] == [
        {b"name": b"x", b"description": b"d", b"flags": [Status("no-writes"), Status("allow-oom")]}
    ]
    assert b"library_code" not in listing[0]
    assert runtime.list_libraries(b"T*", withcode=True)[0][b"library_code"].startswith(b"#!lua name=two")
    assert runtime.function_stats() == {
        b"running_script": None,
        b"engines": {b"LUA": {b"libraries_count": 2, b"functions_count": 3}},
    }
    lib = runtime.libraries[b"two"]
    assert list(lib.functions) == [b"y", b"z"] and lib.engine == b"LUA"
    runtime.delete_library(b"one")
    assert runtime.get_function(b"x") is None and runtime.get_function(b"Y") is not None
    runtime.flush_libraries()
    assert runtime.libraries == {} and runtime.get_function(b"y") is None


def test_stats_while_running():
    runtime = ScriptRuntime()
    runtime.load_library(b"#!lua name=s\nredis.register_function('busy', function() return redis.call('x') end)")
    seen = []

    def call(argv: list[bytes]) -> Any:
        seen.append(runtime.function_stats()[b"running_script"])
        return 1

    assert runtime.fcall(b"busy", [], [], call, command=[b"FCALL", b"busy", b"0"]) == 1
    assert seen[0][b"name"] == b"busy" and seen[0][b"command"] == [b"FCALL", b"busy", b"0"]
    assert seen[0][b"duration_ms"] >= 0
    assert runtime.current is None


def test_restore_policies():
    runtime = ScriptRuntime()
    a = b"#!lua name=a\nredis.register_function('fa', function() return 'a' end)"
    a2 = b"#!lua name=a\nredis.register_function('fa2', function() return 'a2' end)"
    b = b"#!lua name=b\nredis.register_function('fb', function() return 'b' end)"
    clash = b"#!lua name=c\nredis.register_function('FA', function() return 'c' end)"
    runtime.load_library(a)
    with pytest.raises(RedisError) as exc:
        runtime.restore_libraries([a2, b])
    assert exc.value.message == "ERR Library a already exists"
    assert set(runtime.libraries) == {b"a"}
    runtime.restore_libraries([a2, b], "REPLACE")
    assert set(runtime.libraries) == {b"a", b"b"} and runtime.get_function(b"fa") is None
    with pytest.raises(RedisError) as exc:  # payload libraries collide among themselves first
        runtime.restore_libraries([clash, a], "APPEND")
    assert exc.value.message == "ERR Function fa already exists"
    runtime.flush_libraries()
    runtime.load_library(a)
    with pytest.raises(RedisError) as exc:
        runtime.restore_libraries([clash])
    assert exc.value.message == "ERR Function FA already exists"
    with pytest.raises(RedisError) as exc:
        runtime.restore_libraries([b, b])
    assert exc.value.message == "ERR Library 'b' already exists"
    runtime.restore_libraries([clash], "FLUSH")
    assert set(runtime.libraries) == {b"c"}
    assert runtime.fcall(b"fa", [], [], lambda argv: None) == b"c"


def test_load_without_timeout_runs_long_bodies():
    runtime = ScriptRuntime()
    body = b"#!lua name=slow\nlocal x = 0 for i = 1, 3000000 do x = x + 1 end redis.register_function('s', function() return 1 end)"
    assert runtime.load_library(body, timeout=None) == b"slow"


def test_fcall_errors_name_the_function():
    runtime = ScriptRuntime()
    runtime.load_library(b"#!lua name=e\nredis.register_function('Boom', function(keys, args)\n  error('bad')\nend)")
    with pytest.raises(ScriptError) as exc:
        runtime.fcall(b"boom", [], [], lambda argv: None)
    assert exc.value.message == "ERR user_function:3: bad script: Boom, on @user_function:3."
    with pytest.raises(RedisError) as exc:
        runtime.fcall(b"boom", [], [], lambda argv: None, readonly=True)
    assert exc.value.message == "ERR Can not execute a script with write flag using *_ro command."


def test_glob_match():
    assert glob_match(b"lib*", b"LIBRARY", nocase=True)
    assert not glob_match(b"lib*", b"LIBRARY")
    assert glob_match(b"a?c", b"abc") and not glob_match(b"a?c", b"ac")
    assert glob_match(b"[a-c]x", b"bx") and not glob_match(b"[^a-c]x", b"bx")
    assert glob_match(b"a\\*", b"a*") and not glob_match(b"a\\*", b"ab")
    assert glob_match(b"*", b"") and glob_match(b"**a", b"xxa")
