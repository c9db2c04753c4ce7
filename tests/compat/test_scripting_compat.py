"""EVAL/EVALSHA/SCRIPT against redis-server, byte for byte (RESP2 and RESP3 callers)."""

from __future__ import annotations

import hashlib

import pytest


def both3(pair) -> None:
    """Switch both connections to RESP3 (HELLO's reply holds the client id: not compared)."""
    got, want = pair.both("HELLO", "3")
    assert got.startswith(b"%7") and want.startswith(b"%7")


CONVERSIONS = [
    "return 1",
    "return -7.9",  # Lua number -> integer (truncated)
    "return 'hello'",
    "return nil",
    "return false",
    "return true",
    "return {}",
    "return {1, 2, {3, 'x', {}}, 'y'}",
    "return {1, nil, 3}",  # an array stops at the first nil
    "return {ok='FINE'}",
    "return {err='My Error'}",
    "return {err='WRONGTYPE custom code'}",
    "return redis.status_reply('STATUS')",
    "return redis.error_reply('oops')",
    "return redis.error_reply('-CODE detail')",
    "return {1, {err='inner'}, {ok='in'}}",
    "return redis.call('incr', 'n')",
    "return redis.call('get', 'missing')",
    "return {redis.call('get', 'missing'), 1}",
    "redis.call('rpush', 'l', 'a', 'b', 'c') return redis.call('lrange', 'l', 0, -1)",
    "redis.call('hset', 'h', 'f', 'v') return redis.call('hgetall', 'h')",
    "return redis.call('set', 's', 'v')",
    "return type(redis.call('set', 's', 'v'))",
    "return redis.call('set', 's', 'v')['ok']",
    "return redis.pcall('incr', 'l')",
    "local t = redis.pcall('incr', 'l') return t['err']",
    "return redis.call('ping')",
    # up to 32 arguments travel to Python one by one, more as one table: both sides
    "redis.call('del', 'many') redis.call('rpush', 'many', " + ", ".join(
        str(i) for i in range(30)) + ") return redis.call('lrange', 'many', 0, -1)",
    "redis.call('del', 'many') redis.call('rpush', 'many', " + ", ".join(
        [str(i) for i in range(30)] + ["'x'", "2.5"]) + ") return redis.call('lrange', 'many', 0, -1)",
    "return redis.pcall('rpush', 'many', " + ", ".join(["'x'"] * 40) + ", {})",
    "return {double=3.5}",
    "return {map={a=1}}",
    "return {set={a=true}}",
    "return {big_number='12345678901234567890'}",
    "return 2^53",
    "return 'a\\0b'",
    "return redis.sha1hex('abc')",
    "return cjson.encode({1, 2})",
    "return tostring(KEYS[1]) .. tostring(ARGV[1])",
]


@pytest.mark.parametrize("resp", [2, 3])
@pytest.mark.parametrize("script", CONVERSIONS)
def test_lua_to_redis_conversions(pair, script, resp):
    if resp == 3:
        both3(pair)
    pair.same("RPUSH", "l", "x")
    pair.same("EVAL", script, "1", "k1", "a1")


SETRESP3 = [
    "redis.setresp(3) redis.call('hset', 'h', 'f', 'v') return redis.call('hgetall', 'h')",
    "redis.setresp(3) local r = redis.call('hgetall', 'nosuch') return type(r)",
    "redis.setresp(3) redis.call('sadd', 's', 'a') local r = redis.call('smembers', 's') "
    "return type(r['set'])",
    "redis.setresp(3) redis.call('zadd', 'z', '1.5', 'm') return redis.call('zscore', 'z', 'm')",
    "redis.setresp(3) redis.call('zadd', 'z', '1.5', 'm') "
    "return tostring(redis.call('zscore', 'z', 'm')['double'])",
    "redis.setresp(3) return redis.call('get', 'nosuch')",
    "redis.setresp(3) return type(redis.call('get', 'nosuch'))",
    "redis.setresp(3) return redis.call('debug', 'protocol', 'true')",
    "redis.setresp(3) return redis.call('debug', 'protocol', 'false')",
    "redis.setresp(3) return redis.call('debug', 'protocol', 'bignum')",
    "redis.setresp(3) return redis.call('debug', 'protocol', 'double')",
    "redis.setresp(3) return redis.call('debug', 'protocol', 'map')",
    "redis.setresp(3) return redis.call('debug', 'protocol', 'set')",
    "redis.setresp(2) return redis.call('debug', 'protocol', 'map')",
    "redis.setresp(2) return redis.call('debug', 'protocol', 'double')",
    "return redis.setresp(4)",
]


@pytest.mark.parametrize("resp", [2, 3])
@pytest.mark.parametrize("script", SETRESP3)
def test_setresp_conversions(pair, script, resp):
    if resp == 3:
        both3(pair)
    pair.same("EVAL", script, "0")


ERRORS = [
    "return redis.call('nosuchcommand')",
    "return redis.pcall('nosuchcommand')",
    "return redis.call('get')",
    "return redis.pcall('get')",
    "return redis.call('get', 'a', 'b')",
    "return redis.call('multi')",
    "return redis.call('eval', 'return 1', 0)",
    "return redis.call('script', 'load', 'return 1')",
    "return redis.call('client', 'nosuch')",
    "return redis.call('cluster', 'reset')",  # known to Redis 7.0, noscript
    "return redis.call('cluster')",
    "redis.call('rpush', 'l', 'a') return redis.call('incr', 'l')",
    "redis.call('rpush', 'l', 'a') return redis.pcall('incr', 'l')",
    "return redis.call()",
    "return redis.call({})",
    "return redis.call('get', {})",
    "error('plain error')",
    "error({err='table error'})",
    "x = 5",
    "return undefinedvar",
    "local a = {} a.b.c = 1",
    "return redis.call('blpop', 'nolist', 0)",
    "syntax error here",
    "return redis.call('select', '99')",
    "redis.call('select', '1') redis.call('set', 'dbk', 'v') return redis.call('dbsize')",
]


@pytest.mark.parametrize("script", ERRORS)
def test_error_texts(pair, script):
    pair.same("EVAL", script, "0")
    pair.same("DBSIZE")
    pair.same("SELECT", "1")
    pair.same("DBSIZE")


READONLY_WRITES = [
    ("EVAL_RO", "return redis.call('set', 'k', 'v')"),
    ("EVAL_RO", "return redis.pcall('set', 'k', 'v')"),
    ("EVAL_RO", "return redis.call('publish', 'ch', 'x')"),
    ("EVAL_RO", "return redis.call('get', 'k')"),
    ("EVAL", "#!lua flags=no-writes\nreturn redis.call('set', 'k', 'v')"),
    ("EVAL", "#!lua flags=no-writes\nreturn redis.call('get', 'k')"),
    ("EVAL_RO", "#!lua\nreturn redis.call('get', 'k')"),
    ("EVAL_RO", "#!lua flags=no-writes\nreturn redis.call('get', 'k')"),
    ("EVAL", "#!lua flags=allow-oom,no-writes\nreturn 1"),
    ("EVAL", "#!lua flags=bogus\nreturn 1"),
    ("EVAL", "#!lua name=x\nreturn 1"),
    ("EVAL", "#!python\nreturn 1"),
    ("EVAL", "#!lua\nreturn redis.call('set', 'k', 'v')"),
]


@pytest.mark.parametrize("cmd,script", READONLY_WRITES)
def test_readonly_scripts_and_shebang(pair, cmd, script):
    pair.same(cmd, script, "0")
    pair.same("GET", "k")


def test_keys_argv_numkeys(pair):
    pair.same("EVAL", "return {KEYS, ARGV}", "0")
    pair.same("EVAL", "return {KEYS[1], KEYS[2], ARGV[1], ARGV[2]}", "2", "a", "b", "c", "d")
    pair.same("EVAL", "return #ARGV", "0", "x", "y")
    pair.same("EVAL", "return 1", "-1")
    pair.same("EVAL", "return 1", "3", "a", "b")
    pair.same("EVAL", "return 1", "notanumber")
    pair.same("EVAL", "return 1", "99999999999999999999")
    pair.same("EVAL", "return 1")
    pair.same("COMMAND", "GETKEYS", "EVAL", "return 1", "2", "a", "b", "c")


def test_script_load_exists_flush_evalsha(pair):
    body = "return 'cached'"
    sha = hashlib.sha1(body.encode()).hexdigest()
    pair.same("SCRIPT", "FLUSH")
    pair.same("EVALSHA", sha, "0")
    pair.same("EVALSHA", "short", "0")
    pair.same("EVALSHA", sha, "x")
    pair.same("SCRIPT", "EXISTS", sha, "0" * 40)
    assert pair.same("SCRIPT", "LOAD", body) == b"$40\r\n" + sha.encode() + b"\r\n"
    pair.same("SCRIPT", "EXISTS", sha, sha.upper(), "nope")
    pair.same("EVALSHA", sha, "0")
    pair.same("EVALSHA", sha.upper(), "0")
    pair.same("EVALSHA_RO", sha, "0")
    pair.same("SCRIPT", "LOAD", "return +")
    pair.same("EVAL", "return +", "0")
    pair.same("SCRIPT", "FLUSH", "ASYNC")
    pair.same("SCRIPT", "EXISTS", sha)
    pair.same("SCRIPT", "FLUSH", "SYNC")
    pair.same("SCRIPT", "FLUSH", "BOGUS")
    pair.same("SCRIPT", "FLUSH", "SYNC", "X")
    pair.same("EVAL", body, "0")
    pair.same("SCRIPT", "EXISTS", sha)
    pair.same("SCRIPT", "KILL")
    pair.same("SCRIPT", "HELP")
    pair.same("SCRIPT", "NOSUCH")
    pair.same("SCRIPT", "LOAD")


def test_globals_protection_and_libraries(pair):
    pair.same("EVAL", "a = 10", "0")
    pair.same("EVAL", "return a", "0")
    pair.same("EVAL", "redis = nil", "0")
    pair.same("EVAL", "return loadstring", "0")
    pair.same("EVAL", "return type(cjson), type(cmsgpack), type(bit), type(struct)", "0")
    pair.same("EVAL", "return bit.band(7, 3)", "0")
    pair.same("EVAL", "return cmsgpack.unpack(cmsgpack.pack({1, 2, 'x'}))", "0")
    pair.same("EVAL", "return struct.pack('>I2', 258)", "0")
    pair.same("EVAL", "return redis.REPL_ALL", "0")
    pair.same("EVAL", "return math.random(100)", "0")
    pair.same("EVAL", "os.exit()", "0")


def test_select_inside_script_stays_in_script(pair):
    pair.same("SELECT", "0")
    pair.same("EVAL", "redis.call('select', 2) redis.call('set', 'x', 'in2') return 1", "0")
    pair.same("GET", "x")
    pair.same("SELECT", "2")
    pair.same("GET", "x")
    pair.same("EVAL", "return redis.call('get', 'x')", "0")


def test_script_inside_multi(pair):
    pair.same("MULTI")
    pair.same("EVAL", "return redis.call('incr', KEYS[1])", "1", "c")
    pair.same("EVAL", "return redis.call('nosuch')", "0")
    pair.same("EVAL", "return 1", "-1")
    pair.same("EXEC")
    pair.same("GET", "c")


def test_blocking_commands_inside_script_do_not_block(pair):
    pair.same("EVAL", "return redis.call('blpop', 'empty', 0)", "0")
    pair.same("RPUSH", "full", "a")
    pair.same("EVAL", "return redis.call('blpop', 'full', 0)", "0")
    pair.same("EVAL", "return redis.call('brpoplpush', 'empty', 'dst', 0)", "0")


def test_set_repl_and_misc_api(pair):
    pair.same("EVAL", "redis.set_repl(redis.REPL_NONE) return redis.call('set', 'r', '1')", "0")
    pair.same("EVAL", "return redis.set_repl(99)", "0")
    pair.same("EVAL", "redis.replicate_commands() return 'x'", "0")
    pair.same("EVAL", "return redis.acl_check_cmd('set', 'a', 'b')", "0")
    pair.same("EVAL", "return redis.acl_check_cmd('nosuch')", "0")
    pair.same("EVAL", "return redis.log(redis.LOG_WARNING, 'from a test')", "0")
    pair.same("EVAL", "return redis.breakpoint()", "0")
    pair.same("EVAL", "return redis.REDIS_VERSION_NUM", "0")
    pair.same("EVAL", "return redis.REDIS_VERSION", "0")


def test_error_stats(pair):
    pair.same("CONFIG", "RESETSTAT")
    pair.same("EVAL", "return redis.call('nosuch')", "0")
    pair.same("EVAL", "return redis.pcall('get')", "0")
    pair.same("EVAL", "return {err='ERR from table'}", "0")
    got_a = pair.a.cmd("INFO", "errorstats")
    got_r = pair.r.cmd("INFO", "errorstats")
    assert got_a.split(b"\r\n", 1)[1] == got_r.split(b"\r\n", 1)[1]
    for cmd in ("eval", "get"):
        a = [x for x in pair.a.cmd("INFO", "commandstats").split(b"\r\n") if b"cmdstat_%s:" % cmd.encode() in x]
        r = [x for x in pair.r.cmd("INFO", "commandstats").split(b"\r\n") if b"cmdstat_%s:" % cmd.encode() in x]
        def counts(lines: list[bytes]) -> list[list[bytes]]:
            # calls, rejected_calls, failed_calls (timings differ)
            return [[f for f in x.split(b",") if not f.startswith((b"usec", b"cmdstat"))] for x in lines]

        assert counts(a) == counts(r)
        assert [x.split(b",")[0] for x in a] == [x.split(b",")[0] for x in r]
