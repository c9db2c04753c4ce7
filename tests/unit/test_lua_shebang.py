"""Shebang parsing (sdssplitargs), check_script_run, and the bytecode rewrite."""

from __future__ import annotations

import pytest
from lupa import lua51

from aki.errors import RedisError
from aki.scripting import check_script_run
from aki.scripting import messages as M
from aki.scripting.bytecode import keep_caller_frames
from aki.scripting.shebang import parse_library_shebang, parse_script_shebang, split_args, valid_name


@pytest.mark.parametrize(
    ("line", "parts"),
    [
        (b"#!lua name=x", [b"#!lua", b"name=x"]),
        (b"  a   b  ", [b"a", b"b"]),
        (b'"a b" c', [b"a b", b"c"]),
        (b'"a\\x41\\n" \'it\\\'s\'', [b"aA\n", b"it's"]),
        (b'"unterminated', None),
        (b'"a"b', None),
        (b"'a'b", None),
        (b"a\0b c", [b"a"]),
        (b"", []),
    ],
)
def test_split_args(line, parts):
    assert split_args(line) == parts


def test_script_shebang():
    assert parse_script_shebang(b"return 1").compat
    header = parse_script_shebang(b"#!lua flags=no-writes,allow-oom\nreturn 1")
    assert header.flags == {"no-writes", "allow-oom"} and not header.compat and header.shebang_len == 31
    assert parse_script_shebang(b"#!lua flags=\nx").flags == frozenset()
    for body, message in [
        (b"#!lua", M.INVALID_SHEBANG),
        (b"#!lua\0\nx", M.INVALID_SHEBANG),
        (b'#!"lua\nx', M.INVALID_SHEBANG_ENGINE),
        (b"#!python\nx", "ERR Unexpected engine in script shebang: #!python"),
        (b"#!lua flags=bogus\nx", "ERR Unexpected flag in script shebang: bogus"),
        (b"#!lua other=1\nx", "ERR Unknown lua shebang option: other=1"),
    ]:
        with pytest.raises(RedisError) as exc:
            parse_script_shebang(body)
        assert exc.value.message == message


def test_library_shebang():
    header = parse_library_shebang(b"#!LUA Name=lib_1\ncode")
    assert (header.engine, header.name, header.code) == (b"LUA", b"lib_1", b"\ncode")
    assert valid_name(b"a_1") and not valid_name(b"") and not valid_name(b"a-b") and not valid_name("é".encode())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"flags": [], "compat": True}, None),
        ({"flags": [], "compat": True, "stale_replica": True}, M.RUN_MASTERDOWN_COMPAT),
        ({"flags": ["no-cluster"], "compat": False, "cluster_enabled": True}, M.RUN_NO_CLUSTER),
        ({"flags": [], "compat": False, "stale_replica": True}, M.RUN_MASTERDOWN),
        ({"flags": ["allow-stale", "no-writes"], "compat": False, "stale_replica": True}, None),
        ({"flags": [], "compat": False, "readonly_replica": True}, M.RUN_READONLY_REPLICA),
        ({"flags": [], "compat": False, "readonly_replica": True, "obey_client": True}, None),
        ({"flags": [], "compat": False, "disk_error": "rdb"}, M.RUN_MISCONF_RDB),
        ({"flags": [], "compat": False, "disk_error": "aof", "aof_error": "No space"},
         M.RUN_MISCONF_AOF.format("No space")),
        ({"flags": [], "compat": False, "ro_command": True}, M.WRITE_SCRIPT_RO_COMMAND),
        ({"flags": ["no-writes"], "compat": False, "ro_command": True}, None),
        ({"flags": [], "compat": False, "not_enough_replicas": True}, M.RUN_NOREPLICAS),
        ({"flags": [], "compat": False, "oom": True}, M.RUN_OOM),
        ({"flags": ["allow-oom"], "compat": False, "oom": True}, None),
        ({"flags": ["no-writes"], "compat": False, "oom": True}, None),
    ],
)
def test_check_script_run(kwargs, message):
    flags, compat = kwargs.pop("flags"), kwargs.pop("compat")
    assert check_script_run(flags, compat, **kwargs) == message


def _compile(source: str) -> bytes:
    lua = lua51.LuaRuntime(encoding=None)
    return lua.eval("string.dump")(lua.eval("loadstring")(source.encode()))


def test_bytecode_rewrites_only_library_tail_calls():
    assert keep_caller_frames(_compile("return redis.call('x')")) is not None
    assert keep_caller_frames(_compile("return x:y()")) is not None
    assert keep_caller_frames(_compile("local f = print return f(1)")) is not None
    assert keep_caller_frames(_compile("return setmetatable({}, {})")) is not None
    assert keep_caller_frames(_compile("local function loop(n) return loop(n) end")) is None
    assert keep_caller_frames(_compile("return tostring(1)")) is None
    assert keep_caller_frames(_compile("return (redis.call('x'))")) is None  # not a tail call
    nested = "local function f() return cjson.encode({}) end return f"
    assert keep_caller_frames(_compile(nested)) is not None


def test_rewritten_chunk_still_runs():
    lua = lua51.LuaRuntime(encoding=None)
    dump = _compile("local t = {f = function(a, b) return a, b end} return t.f(1, 2)")
    patched = keep_caller_frames(dump)
    assert patched is not None
    assert lua.eval("loadstring")(patched)() == (1, 2)
