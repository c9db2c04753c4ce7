"""The ``redis`` table: call/pcall, replies, sha1hex, log, setresp, set_repl, and friends."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from test_lua_support import RedisServer, aki_eval, compare, redis_eval, redis_server  # noqa: F401

from aki.errors import RedisError
from aki.scripting import REPL_ALL, REPL_AOF, REPL_NONE, REPL_REPLICA, ScriptError, ScriptRuntime


@pytest.fixture(scope="module")
def rt() -> ScriptRuntime:
    return ScriptRuntime()


def noop(argv: list[bytes]) -> Any:
    return None


API = [
    "return redis.call()",
    "return redis.pcall()",
    "return redis.call('get', {})",
    "return redis.call('get', nil)",
    "return redis.call('get', true)",
    "return redis.pcall('get', true)",
    "return {pcall(redis.call, 'nosuch')}",
    "return {pcall(redis.call)}",
    "return redis.call('nosuch')",
    "return redis.pcall('nosuch')",
    "return redis.call('get')",
    "return redis.call('GET', 'a', 'b')",
    "return redis.call('eval', 'return 1', 0)",
    "return redis.pcall('blpop', 'x', 0)",
    "local function f() return redis.call('nosuch') end\n\nf()",
    "redis.call('set', 'k', 'a') return redis.call('incr', 'k')",
    "redis.call('set', 'k', 'a') return redis.pcall('incr', 'k')",
    "redis.call('set', 'k', 'v') return redis.call('lpush', 'k', 'a')",
    "redis.call('set', 'k', 'v') local x = redis.call('lpush', 'k', 'a') return x",
    "redis.call('set', 'k', 'v') return {pcall(function() redis.call('lpush', 'k', 'a') end)}",
    "redis.call('set', 'k', 'v') return {xpcall(function() redis.call('lpush', 'k', 'a') end, function(e) return e.err end)}",
    "redis.call('set', 'k', 'v') return redis.pcall('lpush', 'k', 'a').ignore_error_stats_update",
    "return redis.error_reply('My error')",
    "return redis.error_reply('-My error')",
    "return redis.error_reply('')",
    "return redis.error_reply('nospace')",
    "return redis.error_reply('-')",
    "return redis.error_reply('X a\\nb\\r\\n')",
    "return redis.error_reply('a\\0b c')",
    "return redis.error_reply(1)",
    "return redis.error_reply()",
    "return redis.error_reply('x').err",
    "local t = redis.error_reply('X a\\nb\\r\\n') return t.err",
    "return redis.error_reply('x').ignore_error_stats_update",
    "return redis.status_reply('OK')",
    "return redis.status_reply('a\\r\\nb')",
    "return redis.status_reply(1)",
    "return redis.status_reply('x', 'y')",
    "return redis.status_reply('x').ok",
    "return redis.sha1hex('')",
    "return redis.sha1hex('abc')",
    "return redis.sha1hex(1)",
    "return redis.sha1hex(1.5)",
    "return redis.sha1hex(nil)",
    "return redis.sha1hex({})",
    "return redis.sha1hex('a\\0b')",
    "return redis.sha1hex()",
    "return redis.sha1hex('a', 'b')",
    "return redis.REDIS_VERSION",
    "return redis.REDIS_VERSION_NUM",
    "return {redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING}",
    "return {redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL}",
    "return redis.replicate_commands()",
    "return redis.breakpoint()",
    "return redis.debug('x')",
    "return select('#', redis.debug('x'))",
    "redis.log(redis.LOG_WARNING, 'hello', 'world')",
    "return redis.log(redis.LOG_DEBUG, 'quiet')",
    "redis.log(redis.LOG_WARNING)",
    "redis.log('x', 'y')",
    "redis.log('3', 'y')",
    "redis.log(10, 'y')",
    "redis.log(-1, 'y')",
    "redis.setresp(4)",
    "redis.setresp()",
    "redis.setresp('3') return redis.call('get', 'nokey')",
    "redis.setresp(2.9)",
    "redis.set_repl(10)",
    "redis.set_repl(-1)",
    "redis.set_repl()",
    "return redis.set_repl(redis.REPL_NONE)",
    "return redis.set_repl(redis.REPL_ALL)",
    "return redis.acl_check_cmd('get', 'x')",
    "return redis.acl_check_cmd('nosuchcmd')",
    "return redis.acl_check_cmd()",
    "return redis.acl_check_cmd({})",
    "return redis.foo",
    "return type(redis.register_function)",
]


def acl_check(argv: list[bytes]) -> bool | None:
    """The default user may run anything Redis knows (what the real server answers here)."""
    return None if argv[0].lower() == b"nosuchcmd" else True


@pytest.mark.parametrize("script", API)
def test_redis_api(rt, redis_server, script):  # noqa: F811
    redis_server.command([b"FLUSHALL"])
    expected = redis_eval(redis_server, script)
    redis_server.command([b"FLUSHALL"])
    original = rt.eval

    def eval_with_acl(*args: Any, **kwargs: Any) -> Any:
        return original(*args, acl_check=acl_check, **kwargs)

    rt.eval = eval_with_acl  # type: ignore[method-assign]
    try:
        got = aki_eval(rt, redis_server, script)
    finally:
        del rt.eval
    assert got == expected, f"{script!r}\n aki:   {got!r}\n redis: {expected!r}"


def test_acl_check_callback(rt):
    denied = rt.eval(b"return redis.acl_check_cmd('set', 'k', 'v')", [], [], noop,
                     acl_check=lambda argv: argv[0] != b"set")
    assert denied is None  # false -> null reply
    assert rt.eval(b"return redis.acl_check_cmd('get', 'k')", [], [], noop,
                   acl_check=lambda argv: argv[0] != b"set") == 1
    # Without a checker every command is allowed.
    assert rt.eval(b"return redis.acl_check_cmd('set', 'k', 'v')", [], [], noop) == 1


def test_set_repl_is_recorded(rt):
    seen = []

    def call(argv: list[bytes]) -> Any:
        seen.append(rt.current.repl)
        return None

    rt.eval(
        b"redis.call('x') redis.set_repl(redis.REPL_NONE) redis.call('x') redis.set_repl(redis.REPL_AOF)"
        b" redis.call('x') redis.set_repl(redis.REPL_REPLICA) redis.call('x') redis.set_repl(redis.REPL_ALL)"
        b" redis.call('x')",
        [], [], call,
    )
    assert seen == [REPL_ALL, REPL_NONE, REPL_AOF, REPL_REPLICA, REPL_ALL]


def test_setresp_is_visible_to_call(rt):
    seen = []

    def call(argv: list[bytes]) -> Any:
        seen.append(rt.current.resp)
        return None

    rt.eval(b"redis.call('x') redis.setresp(3) redis.call('x') redis.setresp(2) redis.call('x')", [], [], call)
    rt.eval(b"redis.call('x')", [], [], call)  # every script starts in RESP2
    assert seen == [2, 3, 2, 2]


def test_call_receives_argv(rt):
    seen = []

    def call(argv: list[bytes]) -> Any:
        seen.append(argv)
        return None

    rt.eval(b"redis.call('SET', KEYS[1], ARGV[1], 'EX', 10, 0.5, -0.0)", [b"k\x00"], [b"v\xff"], call)
    assert seen == [[b"SET", b"k\x00", b"v\xff", b"EX", b"10", b"0.5", b"-0"]]


def test_redis_log_goes_to_python_logging(rt, caplog):
    caplog.set_level(logging.DEBUG, logger="aki.scripting")
    rt.eval(
        b"redis.log(redis.LOG_WARNING, 'w', 1.5, nil, 'x') redis.log(redis.LOG_NOTICE, 'n')"
        b" redis.log(redis.LOG_VERBOSE, 'v') redis.log(redis.LOG_DEBUG, 'd') redis.log(3, nil, 'late')",
        [], [], noop,
    )
    records = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "aki.scripting"]
    assert records == [
        (logging.WARNING, "w 1.5 x"),
        (logging.INFO, "n"),
        (15, "v"),
        (logging.DEBUG, "d"),
        (logging.WARNING, " late"),
    ]


def test_pcall_error_table(rt):
    def call(argv: list[bytes]) -> Any:
        raise RedisError("WRONGTYPE Operation against a key holding the wrong kind of value")

    got = rt.eval(b"local e = redis.pcall('x') return {e.err, tostring(e.ignore_error_stats_update)}", [], [], call)
    assert got == [b"WRONGTYPE Operation against a key holding the wrong kind of value", b"true"]
    with pytest.raises(ScriptError) as exc:
        rt.eval(b"redis.call('x')", [], [], call)
    assert exc.value.message.endswith("on @user_script:1.")


def test_math_random_matches_fresh_redis():
    """Redis's rand48: same sequence from the same (initial or explicit) seed."""
    server = RedisServer()
    try:
        runtime = ScriptRuntime()
        scripts = [
            "return {tostring(math.random()), math.random(10), math.random(5, 20)}",
            "return tostring(math.random())",
            "math.randomseed(42) return {tostring(math.random()), math.random(100), math.random(3, 9)}",
            "math.randomseed(-7) return {tostring(math.random()), math.random(1000000)}",
            "math.randomseed(2^31 + 5) return tostring(math.random())",
            "return math.random(0)",
            "return math.random(3, 1)",
            "return math.random('x')",
            "return math.random(nil)",
            "return math.random(1, 2, 3)",
            "return {pcall(math.random, 'x')}",
            "return math.randomseed()",
            "return math.random('7')",
            "return math.random(2.9)",
        ]
        for script in scripts:
            expected = redis_eval(server, script)
            got = aki_eval(runtime, None, script)
            assert got == expected, script
    finally:
        server.stop()


def test_math_random_outside_a_script_errors():
    runtime = ScriptRuntime()
    with pytest.raises(RedisError) as exc:
        runtime.load_library(b"#!lua name=r\nlocal x = math.random()")
    assert "nonexistent global variable 'math'" in exc.value.message
