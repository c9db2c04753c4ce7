"""ACL (Redis 7.0) compared with real redis-server: rules, GETUSER/LIST texts, errors,
NOPERM checks (commands, keys, channels, MULTI, EXEC, scripts), AUTH, the ACL log.

Both servers are shared by the module: every test leaves only an unrestricted ``default``
user behind (the ``clean`` fixture), whatever it did."""

from __future__ import annotations

import re

import pytest

from tests.conftest import Pair, RawClient, encode_command


def _reset(port: int) -> None:
    c = RawClient(port)
    try:
        c.cmd("AUTH", "default", "")  # whatever the test left, default has no password here
        c.cmd("ACL", "SETUSER", "default", "reset", "on", "nopass", "~*", "&*", "+@all")
        users = c.cmd("ACL", "USERS")
        for name in re.findall(rb"\$\d+\r\n([^\r]*)\r\n", users):
            if name != b"default":
                c.cmd("ACL", "DELUSER", name)
        c.cmd("CONFIG", "SET", "requirepass", "")
        c.cmd("CONFIG", "SET", "acllog-max-len", "128")
        c.cmd("CONFIG", "SET", "acl-pubsub-default", "resetchannels")
        c.cmd("ACL", "LOG", "RESET")
    finally:
        c.close()


@pytest.fixture(autouse=True)
def clean(aki_server, redis_server):
    _reset(aki_server.port)
    _reset(redis_server.port)
    yield
    _reset(aki_server.port)
    _reset(redis_server.port)


class Second(Pair):
    """Another connection to each server, replies compared like ``pair.same``."""

    def same(self, *args) -> bytes:
        got, want = self.both(*args)
        if args[0] == "HELLO":  # the client ids differ
            got = re.sub(rb"id\r\n:\d+", b"id", got)
            want = re.sub(rb"id\r\n:\d+", b"id", want)
        assert got == want, f"{args!r}: aki {got!r} != redis {want!r}"
        return got


@pytest.fixture
def second(aki_server, redis_server):
    s = Second(aki_server.port, redis_server.port)
    yield s
    s.close()


def _closed(c: RawClient) -> bool:
    """The server closed the connection: a command gets no reply."""
    try:
        c.send(encode_command("PING"))
        return c.sock.recv(100) == b""
    except OSError:
        return True


def _tokens(reply: bytes) -> list[bytes]:
    return sorted(reply.split())


def test_setuser_getuser_list_basic(pair):
    pair.same("ACL", "SETUSER", "alice")
    pair.same("ACL", "GETUSER", "alice")
    pair.same("ACL", "SETUSER", "alice", "on", ">p1", ">p2", "~foo*", "&chan", "+get")
    pair.same("ACL", "GETUSER", "alice")
    pair.same("ACL", "LIST")
    pair.same("ACL", "USERS")
    pair.same("ACL", "SETUSER", "alice", "<p1", "off")
    pair.same("ACL", "GETUSER", "alice")
    pair.same("ACL", "SETUSER", "alice", "nopass", "skip-sanitize-payload")
    pair.same("ACL", "GETUSER", "alice")
    pair.same("ACL", "SETUSER", "alice", "resetpass", "sanitize-payload", "allkeys", "allchannels")
    pair.same("ACL", "LIST")
    pair.same("ACL", "SETUSER", "alice", "reset")
    pair.same("ACL", "GETUSER", "alice")
    pair.same("ACL", "GETUSER", "nosuch")
    pair.same("ACL", "WHOAMI")
    pair.same("ACL", "SETUSER", "bob", "on", "#" + "a" * 64, "!" + "a" * 64)
    pair.same("ACL", "GETUSER", "bob")
    pair.same("ACL", "SETUSER", "bob", "#" + "b" * 64, ">x", "#" + "b" * 64)
    pair.same("ACL", "LIST")
    pair.same("ACL", "DELUSER", "alice", "bob", "carol")
    pair.same("ACL", "LIST")


def test_setuser_key_and_channel_patterns(pair):
    pair.same("ACL", "SETUSER", "k", "%R~r*", "%W~w*", "%RW~rw*", "~all*", "%R~all*",
              "%w~w*", "%Rw~mixed")
    pair.same("ACL", "GETUSER", "k")
    pair.same("ACL", "LIST")
    pair.same("ACL", "SETUSER", "k", "%R~rw*")
    pair.same("ACL", "GETUSER", "k")
    pair.same("ACL", "SETUSER", "k", "resetkeys", "~a", "allkeys")
    pair.same("ACL", "GETUSER", "k")
    pair.same("ACL", "SETUSER", "k", "resetkeys", "&a", "&b", "&a", "resetchannels", "&c")
    pair.same("ACL", "GETUSER", "k")
    pair.same("ACL", "SETUSER", "k", "allchannels")
    pair.same("ACL", "LIST")
    pair.same("ACL", "SETUSER", "k", "resetchannels")
    pair.same("ACL", "LIST")


@pytest.mark.parametrize("rule", [
    "foo", "+nosuchcommand", "-nosuchcommand", "+@nosuchcat", "-@nosuchcat", "%X~a", "%R",
    "%RR~a", "~a b", "&a b", "<nopass", "!" + "a" * 64, "#abc", "#" + "A" * 64, ">",
    "+config|get|x", "+select|", "+acl|nosuch", "-config|nosuch", "-get|x", "+get|x|y",
    "(+get", "(+nosuch)", "(foo)", "(~a ~* ~b)",
])
def test_setuser_errors(pair, rule):
    pair.same("ACL", "SETUSER", "e", rule)
    pair.same("ACL", "GETUSER", "e")


def test_setuser_pattern_after_star_errors(pair):
    pair.same("ACL", "SETUSER", "e", "~*", "~x")
    pair.same("ACL", "SETUSER", "e", "allkeys", "%R~x")
    pair.same("ACL", "SETUSER", "e", "&*", "&x")
    pair.same("ACL", "SETUSER", "e", "allchannels", "&x")
    pair.same("ACL", "SETUSER", "e", "(", "+get", "~a")
    pair.same("ACL", "SETUSER", "e", "+get", "(~a", "+set")
    pair.same("ACL", "SETUSER", "a b")
    pair.same("ACL", "SETUSER", "a\x00b")
    pair.same("ACL", "SETUSER", "")
    pair.same("ACL", "USERS")
    # nothing of a refused SETUSER is applied
    pair.same("ACL", "SETUSER", "e", "on", "+get", "foo")
    pair.same("ACL", "GETUSER", "e")


def test_command_rules_descriptions(pair):
    for rules in (
        ["+@all"], ["-@all"], ["allcommands"], ["nocommands"], ["+@all", "-get"],
        ["-@all", "+get"], ["+@read"], ["+@all", "-@write"], ["+@hash", "-hget"],
        ["+@all", "-config|set"], ["+config|get"], ["+config"], ["+config", "-config|set"],
        ["+@all", "-config", "+config|get"], ["-@all", "+select|0"],
        ["-@all", "+select|0", "+select|1", "+select|0"], ["+select|0", "+select"],
        ["+@all", "-select", "+select|0"], ["+@admin"], ["+@dangerous", "-@admin"],
        ["+@all", "-@dangerous", "+flushdb"], ["+@all", "+client|id"],
        ["+memory|doctor", "+memory"], ["+@all", "-memory|doctor"], ["+@ALL", "-@READ"],
        ["+debug|digest", "+debug|segfault"], ["-debug", "+debug|a", "-debug"],
        ["+@string", "-@fast"], ["+@keyspace", "+@read", "-@dangerous"],
        ["+client", "-@dangerous"], ["+client", "-@slow"], ["+@all", "-client"],
        ["+@connection", "-client|setname"],
    ):
        pair.same("ACL", "SETUSER", "c", "reset", *rules)
        got, want = pair.both("ACL", "LIST")
        assert _tokens(got) == _tokens(want), (rules, got, want)
        got, want = pair.both("ACL", "GETUSER", "c")
        assert sorted(got.split(b"\r\n")) == sorted(want.split(b"\r\n")) \
            or _tokens(got) == _tokens(want), (rules, got, want)


def test_every_category_is_described_by_itself(pair):
    cats = re.findall(rb"\$\d+\r\n([a-z]+)\r\n", pair.same("ACL", "CAT"))
    assert len(cats) == 21
    for cat in cats:
        pair.same("ACL", "SETUSER", "c", "reset", "+@all", b"-@" + cat)
        pair.same("ACL", "GETUSER", "c")
        pair.same("ACL", "SETUSER", "c", "reset", "-@all", b"+@" + cat)
        pair.same("ACL", "GETUSER", "c")


def test_cat(pair):
    pair.same("ACL", "CAT")
    for cat in ("keyspace", "read", "write", "set", "sortedset", "list", "hash", "string",
                "bitmap", "hyperloglog", "geo", "stream", "pubsub", "admin", "fast", "slow",
                "blocking", "dangerous", "connection", "transaction", "scripting", "STRING"):
        got, want = pair.both("ACL", "CAT", cat)
        assert sorted(got.split(b"\r\n")) == sorted(want.split(b"\r\n")), cat
    pair.same("ACL", "CAT", "nosuch")
    pair.same("ACL", "CAT", "a", "b")


def test_selectors(pair):
    pair.same("ACL", "SETUSER", "s", "on", "nopass", "+get", "~root*", "(+set ~w*)",
              "(%R~r* +@read &ch)")
    pair.same("ACL", "GETUSER", "s")
    pair.same("ACL", "LIST")
    pair.same("ACL", "SETUSER", "s", "(", "+del", "~d*", ")")
    pair.same("ACL", "GETUSER", "s")
    pair.same("ACL", "SETUSER", "s", "clearselectors")
    pair.same("ACL", "GETUSER", "s")
    pair.same("ACL", "SETUSER", "s", "(+get ~a)", "reset")
    pair.same("ACL", "GETUSER", "s")
    pair.same("ACL", "SETUSER", "s", '("+get" ~"a b")')
    pair.same("ACL", "GETUSER", "s")


def test_genpass(pair):
    for args in ((), ("1",), ("4",), ("5",), ("255",), ("4096",)):
        got, want = pair.both("ACL", "GENPASS", *args)
        assert got.split(b"\r\n")[0] == want.split(b"\r\n")[0]
        assert re.fullmatch(rb"\$\d+\r\n[0-9a-f]*\r\n", got)
    for bad in ("0", "-1", "4097", "x", "1.5"):
        pair.same("ACL", "GENPASS", bad)
    pair.same("ACL", "GENPASS", "1", "2")


def test_misc_errors(pair):
    pair.same("ACL")
    pair.same("ACL", "NOSUCH")
    pair.same("ACL", "HELP")
    pair.same("ACL", "HELP", "x")
    pair.same("ACL", "WHOAMI", "x")
    pair.same("ACL", "LIST", "x")
    pair.same("ACL", "USERS", "x")
    pair.same("ACL", "GETUSER")
    pair.same("ACL", "GETUSER", "a", "b")
    pair.same("ACL", "SETUSER")
    pair.same("ACL", "DELUSER")
    pair.same("ACL", "DELUSER", "default")
    pair.same("ACL", "DELUSER", "x", "default")
    pair.same("ACL", "LOAD")
    pair.same("ACL", "SAVE")
    pair.same("ACL", "LOAD", "x")
    pair.same("ACL", "LOG", "x")
    pair.same("ACL", "LOG", "-5")
    pair.same("ACL", "LOG", "1", "2")
    pair.same("ACL", "DRYRUN")
    pair.same("ACL", "DRYRUN", "default")
    pair.same("ACL", "DRYRUN", "default", "get")


def test_dryrun(pair):
    pair.same("ACL", "SETUSER", "d", "+@all", "%R~read*", "%W~write*", "%RW~rw*",
              "resetchannels", "&channel")
    for args in (
        ("GET", "read"), ("GET", "write"), ("SET", "write", "v"), ("SET", "read", "v"),
        ("SET", "rw", "v", "GET"), ("SET", "write", "v", "GET"), ("GETDEL", "rw"),
        ("GETDEL", "read"), ("BITFIELD", "read", "GET", "u8", "0"),
        ("BITFIELD", "read", "SET", "u8", "0", "1"), ("BITFIELD", "rw", "INCRBY", "u8", "0", "1"),
        ("MIGRATE", "h", "p", "rw", "0", "500"), ("MIGRATE", "h", "p", "read", "0", "500"),
        ("MIGRATE", "h", "p", "", "0", "500", "KEYS", "rw", "read"),
        ("MIGRATE", "h", "p", "", "0", "500", "AUTH2", "KEYS", "123", "KEYS", "rw"),
        ("SORT", "read", "STORE", "write"), ("SORT", "read", "STORE", "read"),
        ("SORT_RO", "read"), ("EVAL", "", "1", "rw1"), ("EVAL", "", "1", "read"),
        ("EVAL_RO", "", "1", "read"), ("EVAL", "", "0", "read"), ("EVAL", "", "-1", "read"),
        ("EVAL", "", "3", "rw", "read"), ("FCALL", "f", "2", "rw", "write"),
        ("GEORADIUS", "read", "0", "0", "1", "m", "STOREDIST", "write"),
        ("GEORADIUS", "read1", "0", "0", "1", "m", "STORE", "read2"),
        ("ZUNIONSTORE", "write", "2", "read", "rw"), ("ZUNIONSTORE", "write", "2", "read", "w"),
        ("XREAD", "STREAMS", "read", "write", "0", "0"), ("LMOVE", "rw", "write", "LEFT", "LEFT"),
        ("HEXISTS", "write", "f"), ("EXISTS", "nothing"), ("TOUCH", "write"),
        ("MEMORY", "USAGE", "read"), ("OBJECT", "ENCODING", "nothing"),
        ("SINTERCARD", "2", "read", "write"), ("PFCOUNT", "read", "write"),
        ("PUBLISH", "channel", "m"), ("PUBLISH", "other", "m"), ("SPUBLISH", "other", "m"),
        ("SUBSCRIBE", "channel", "other"), ("PSUBSCRIBE", "chan*"), ("PSUBSCRIBE", "channel"),
        ("UNSUBSCRIBE", "other"), ("SSUBSCRIBE", "other"),
        ("CONFIG", "GET", "x"), ("CONFIG",), ("CONFIG", "NOSUCH"), ("NOSUCH",), ("SET", "x"),
        ("get", "read"), ("Get", "x"), ("CLIENT", "ID"), ("ACL", "WHOAMI"),
    ):
        pair.same("ACL", "DRYRUN", "d", *args)
    pair.same("ACL", "DRYRUN", "nosuch", "GET", "x")
    pair.same("ACL", "SETUSER", "d", "-@all", "+config|get", "+select|0", "+acl")
    for args in (("CONFIG", "GET", "x"), ("CONFIG", "SET", "x", "y"), ("SELECT", "0"),
                 ("SELECT", "1"), ("ACL", "LOG"), ("GET", "x"), ("AUTH", "x"),
                 ("HELLO",), ("EVAL_RO", "", "0"), ("FCALL_RO", "f", "0")):
        pair.same("ACL", "DRYRUN", "d", *args)


def test_noperm_checks(pair, second):
    pair.same("SET", "foo1", "v")
    pair.same("ACL", "SETUSER", "alice", "on", ">p", "~foo*", "&chan", "+get", "+set",
              "+publish", "+config|get", "+select|0", "+multi", "+exec", "+discard", "+eval",
              "+fcall", "+acl|whoami", "+ping")
    second.same("AUTH", "alice", "p")
    second.same("ACL", "WHOAMI")
    second.same("GET", "foo1")
    second.same("GET", "bar")
    second.same("SET", "bar", "1")
    second.same("DEL", "foo1")
    second.same("CONFIG", "GET", "maxmemory")
    second.same("CONFIG", "SET", "maxmemory", "0")
    second.same("CONFIG", "NOSUCH")
    second.same("SELECT", "0")
    second.same("SELECT", "1")
    second.same("PUBLISH", "chan", "m")
    second.same("PUBLISH", "other", "m")
    second.same("ACL", "LIST")
    second.same("NOSUCHCOMMAND")
    second.same("GET")
    second.same("PING")
    # queue-time refusal aborts the transaction
    second.same("MULTI")
    second.same("SET", "foo2", "1")
    second.same("GET", "bar")
    second.same("DEL", "x")
    second.same("EXEC")
    # refusal at EXEC time: the rules changed after queueing
    second.same("MULTI")
    second.same("SET", "foo3", "1")
    second.same("GET", "foo1")
    pair.same("ACL", "SETUSER", "alice", "-set")
    second.same("EXEC")
    pair.same("ACL", "SETUSER", "alice", "resetkeys", "~zzz")
    second.same("MULTI")
    pair.same("ACL", "SETUSER", "alice", "~foo*")
    second.same("GET", "foo1")
    pair.same("ACL", "SETUSER", "alice", "resetkeys", "~zzz")
    second.same("EXEC")
    pair.same("ACL", "SETUSER", "alice", "resetchannels", "&chan", "~foo*")
    second.same("MULTI")
    second.same("PUBLISH", "chan", "m")
    pair.same("ACL", "SETUSER", "alice", "resetchannels")
    second.same("EXEC")


def test_script_checks(pair, second):
    pair.same("SET", "foo", "v")
    pair.same("ACL", "SETUSER", "lua", "on", ">p", "~foo*", "+get", "+eval", "+evalsha",
              "+eval_ro", "&ch")
    second.same("AUTH", "lua", "p")
    second.same("EVAL", "return redis.call('get', 'foo')", "0")
    second.same("EVAL", "return redis.call('get', 'bar')", "0")
    second.same("EVAL", "return redis.call('set', 'foo', 'x')", "0")
    second.same("EVAL", "return redis.pcall('set', 'foo', 'x')", "0")
    second.same("EVAL", "return redis.pcall('get', 'bar')", "0")
    second.same("EVAL", "return redis.call('publish', 'ch', 'x')", "0")
    second.same("EVAL", "return redis.acl_check_cmd('get', 'foo')", "0")
    second.same("EVAL", "return redis.acl_check_cmd('get', 'bar')", "0")
    second.same("EVAL", "return redis.acl_check_cmd('set', 'foo', 'x')", "0")
    second.same("EVAL", "return redis.acl_check_cmd('nosuch')", "0")
    second.same("EVAL_RO", "return redis.call('get', 'foo')", "0")
    second.same("FCALL", "f", "0")


def test_sort_by_get_need_full_key_access(pair, second):
    pair.same("RPUSH", "mylist", "2", "1")
    pair.same("SET", "v1", "1")
    pair.same("SET", "v2", "2")
    pair.same("ACL", "SETUSER", "s", "on", "nopass", "(+sort ~mylist)")
    second.same("AUTH", "s", "x")
    second.same("SORT", "mylist", "BY", "v*")
    second.same("SORT", "mylist", "GET", "v*")
    second.same("SORT", "mylist", "BY", "nosort")
    second.same("SORT", "mylist")
    pair.same("ACL", "SETUSER", "s", "(+sort ~mylist %W~*)")
    second.same("SORT", "mylist", "BY", "v*")
    pair.same("ACL", "SETUSER", "s", "(+sort ~mylist %R~*)")
    second.same("SORT", "mylist", "BY", "v*")
    second.same("SORT", "mylist", "GET", "v*", "GET", "#")


def test_auth(pair, second, aki_server, redis_server):
    pair.same("AUTH", "x")
    pair.same("AUTH", "default", "anything")
    pair.same("AUTH", "nosuch", "x")
    pair.same("AUTH", "a", "b", "c")
    pair.same("ACL", "SETUSER", "u", ">pw")
    pair.same("AUTH", "u", "pw")  # off
    pair.same("ACL", "SETUSER", "u", "on")
    pair.same("AUTH", "u", "bad")
    second.same("AUTH", "u", "pw")
    second.same("ACL", "WHOAMI")
    second.same("HELLO", "2", "AUTH", "u", "bad")
    second.same("HELLO", "2", "AUTH", "u", "pw", "SETNAME", "n")
    pair.same("ACL", "SETUSER", "u", "+acl")
    second.same("ACL", "WHOAMI")
    second.same("RESET")
    second.same("ACL", "WHOAMI")
    # a password for the default user through ACL: AUTH <password> works, new
    # connections must authenticate
    pair.same("ACL", "SETUSER", "default", ">dpw")
    pair.same("AUTH", "wrong")
    pair.same("AUTH", "dpw")
    third = Second(aki_server.port, redis_server.port)
    try:
        third.same("GET", "x")
        third.same("ACL", "WHOAMI")
        third.same("HELLO", "3")
        third.same("AUTH", "dpw")
        third.same("GET", "x")
        third.same("RESET")
        third.same("GET", "x")
    finally:
        third.close()
    pair.same("ACL", "SETUSER", "default", "nopass")


def test_default_user_off(pair, aki_server, redis_server):
    pair.same("ACL", "SETUSER", "default", "off")
    other = Second(aki_server.port, redis_server.port)
    try:
        other.same("PING")
        pair.same("ACL", "SETUSER", "default", "on")
        other.same("PING")  # authRequired() is checked per command
    finally:
        other.close()


def test_requirepass_sets_default_password(pair):
    pair.same("CONFIG", "SET", "requirepass", "s3cret")
    pair.same("ACL", "GETUSER", "default")
    pair.same("ACL", "LIST")
    pair.same("CONFIG", "GET", "requirepass")
    pair.same("ACL", "SETUSER", "default", ">other")
    pair.same("CONFIG", "GET", "requirepass")
    pair.same("CONFIG", "SET", "requirepass", "")
    pair.same("ACL", "GETUSER", "default")


def _log_entries(reply: bytes) -> list[list[bytes]]:
    """ACL LOG without its varying fields (age-seconds, client-info)."""
    lines = reply.split(b"\r\n")
    out: list[list[bytes]] = []
    i = 1
    while i < len(lines) - 1:
        if lines[i].startswith(b"*14"):
            fields = []
            i += 1
            for _ in range(7):
                key = lines[i + 1]
                value = lines[i + 3] if not lines[i + 2].startswith(b":") else lines[i + 2]
                step = 4 if not lines[i + 2].startswith(b":") else 3
                if key not in (b"age-seconds", b"client-info"):
                    fields += [key, value]
                elif key == b"client-info":
                    fields += [key, re.search(rb"cmd=\S+", value).group(0)]
                i += step
            out.append(fields)
        else:
            i += 1
    return out


def test_acl_log(pair, second):
    pair.same("ACL", "SETUSER", "antirez", ">foo", "on", "+set", "~object:1234", "+eval",
              "+multi", "+exec", "resetchannels", "+publish", "+script|help")
    second.same("AUTH", "antirez", "foo")
    second.same("GET", "foo")
    second.same("GET", "foo")
    second.same("SET", "somekey", "1")
    second.same("PUBLISH", "nochan", "x")
    second.same("SCRIPT", "HELP")
    second.same("CONFIG", "GET", "x")
    second.same("MULTI")
    second.same("INCR", "foo")
    second.same("EXEC")
    second.same("EVAL", "redis.call('incr', 'foo')", "0")
    second.same("AUTH", "antirez", "wrong")
    second.same("auth", "nosuch", "wrong")
    second.same("HELLO", "2", "AUTH", "antirez", "wrong")
    got, want = pair.both("ACL", "LOG")
    assert _log_entries(got) == _log_entries(want)
    assert len(_log_entries(got)) == 9  # the two GETs are one entry, counted twice
    got, want = pair.both("ACL", "LOG", "3")
    assert _log_entries(got) == _log_entries(want)
    pair.same("ACL", "LOG", "0")
    pair.same("ACL", "LOG", "RESET")
    pair.same("ACL", "LOG")
    pair.same("CONFIG", "SET", "acllog-max-len", "2")
    for i in range(5):
        second.same("SET", f"obj:{i}", "1")
    got, want = pair.both("ACL", "LOG")
    assert _log_entries(got) == _log_entries(want)
    assert len(_log_entries(got)) == 2


def test_acl_log_resp3(pair, second):
    pair.a.cmd("HELLO", "3")
    pair.r.cmd("HELLO", "3")
    pair.same("ACL", "SETUSER", "u", "on", "nopass")
    second.same("AUTH", "u", "x")
    second.same("GET", "x")
    got, want = pair.both("ACL", "LOG")
    assert got.split(b"client-info")[0].split(b"age-seconds")[0] == \
        want.split(b"client-info")[0].split(b"age-seconds")[0]
    pair.same("ACL", "GETUSER", "u")
    pair.same("ACL", "SETUSER", "u", "(+get ~x)")
    pair.same("ACL", "GETUSER", "u")


def test_deluser_disconnects_its_clients(pair, second):
    pair.same("ACL", "SETUSER", "gone", "on", ">p", "+@all", "~*")
    second.same("AUTH", "gone", "p")
    second.same("PING")
    pair.same("ACL", "DELUSER", "gone")
    for c in (second.a, second.r):
        assert _closed(c)


def test_deluser_self_gets_reply_then_closed(pair, second):
    pair.same("ACL", "SETUSER", "me", "on", ">p", "+acl")
    second.same("AUTH", "me", "p")
    second.same("ACL", "DELUSER", "me")
    for c in (second.a, second.r):
        assert _closed(c)


def test_client_kill_user_and_list(pair, second):
    pair.same("ACL", "SETUSER", "k", "on", ">p", "+@all", "~*")
    second.same("AUTH", "k", "p")
    got_a = pair.a.cmd("CLIENT", "LIST")
    assert b" user=k " in got_a and b" user=default " in got_a
    pair.same("CLIENT", "KILL", "USER", "nosuch")
    pair.same("CLIENT", "KILL", "USER", "k")
    pair.same("CLIENT", "KILL", "USER", "k")
    info = pair.a.cmd("CLIENT", "INFO")
    assert b" user=default " in info


def test_pubsub_clients_killed_when_channel_revoked(pair, aki_server, redis_server):
    pair.same("ACL", "SETUSER", "psuser", "on", "nopass", "+@all", "resetchannels", "&foo",
              "&bar*")
    subs = []
    for port in (aki_server.port, redis_server.port):
        c = RawClient(port)
        assert c.cmd("AUTH", "psuser", "x") == b"+OK\r\n"
        c.cmd("SUBSCRIBE", "foo")
        subs.append(c)
    pair.same("ACL", "SETUSER", "psuser", "&other")  # a superset: nobody is killed
    pair.same("PUBLISH", "foo", "m")
    for c in subs:
        assert c.read_reply() == b"*3\r\n$7\r\nmessage\r\n$3\r\nfoo\r\n$1\r\nm\r\n"
    pair.same("ACL", "SETUSER", "psuser", "resetchannels", "&bar*")
    pair.same("PUBLISH", "foo", "m")
    for c in subs:
        assert _closed(c)
        c.close()


def test_channel_permissions_for_subscribe(pair, second):
    pair.same("ACL", "SETUSER", "ch", "on", "nopass", "+@all", "resetchannels", "&foo",
              "&bar*")
    second.same("AUTH", "ch", "x")
    second.same("PUBLISH", "foo", "m")
    second.same("PUBLISH", "bar1", "m")
    second.same("PUBLISH", "baz", "m")
    second.same("SPUBLISH", "baz", "m")
    second.same("SUBSCRIBE", "baz")
    second.same("SUBSCRIBE", "foo", "baz")
    second.same("PSUBSCRIBE", "bar*")
    second.same("PSUBSCRIBE", "bar1")
    second.same("SSUBSCRIBE", "bar1", "x")
    second.same("PUNSUBSCRIBE", "nothing")


def test_hello_auth_with_default_without_permissions(pair, second):
    pair.same("ACL", "SETUSER", "secure", ">supass", "on", "+@all")
    pair.same("ACL", "SETUSER", "default", "-@all")
    second.same("PING")
    second.same("HELLO", "2", "AUTH", "secure", "supass")
    second.same("PING")
    pair.same("ACL", "SETUSER", "default", "+@all")  # refused: default may not run ACL
    second.same("ACL", "SETUSER", "default", "+@all")


def test_acl_pubsub_default(pair):
    pair.same("CONFIG", "SET", "acl-pubsub-default", "allchannels")
    pair.same("ACL", "SETUSER", "pd")
    pair.same("ACL", "GETUSER", "pd")
    pair.same("ACL", "SETUSER", "pd", "reset")
    pair.same("ACL", "LIST")
    pair.same("ACL", "SETUSER", "pd2", "(+get)")
    pair.same("ACL", "GETUSER", "pd2")
    pair.same("CONFIG", "SET", "acl-pubsub-default", "resetchannels")
    pair.same("ACL", "SETUSER", "pd", "reset")
    pair.same("ACL", "GETUSER", "pd")


def test_secrets_redacted_in_slowlog(r, rr):
    def run(c):
        c.config_set("slowlog-log-slower-than", 0)
        try:
            c.slowlog_reset()
            c.execute_command("ACL", "SETUSER", "sec", "on", ">pw", "+@all", "~*")
            c.execute_command("AUTH", "sec", "pw")
            c.execute_command("HELLO", "2", "AUTH", "sec", "pw", "SETNAME", "n")
            c.execute_command("AUTH", "default", "x")
            c.execute_command("CONFIG", "SET", "masterauth", "xyz", "maxmemory", "0")
            return [e["command"] for e in c.slowlog_get(10)]
        finally:
            c.config_set("slowlog-log-slower-than", 10000)
            c.config_set("masterauth", "")

    assert run(r) == run(rr)


def test_acl_before_pubsub_context_and_disabled_user_keeps_connection(pair, second):
    pair.same("ACL", "SETUSER", "sub", "on", "nopass", "+subscribe", "+ping", "+set", "~*",
              "&*")
    second.same("AUTH", "sub", "x")
    second.same("SUBSCRIBE", "c")
    second.same("GET", "x")  # NOPERM, not the pub/sub context error
    second.same("SET", "x", "1")
    second.same("PING")
    pair.same("ACL", "SETUSER", "sub", "off")  # disabling does not disconnect (7.0)
    second.same("PING")


def test_acl_checked_before_busy_script(pair, second, aki_server, redis_server):
    import time

    pair.same("CONFIG", "SET", "busy-reply-threshold", "50")
    pair.same("ACL", "SETUSER", "busy", "on", "nopass", "+get", "~k")
    second.same("AUTH", "busy", "x")
    killer = Second(aki_server.port, redis_server.port)
    # served once before the script starts: a connection whose accept is still in
    # flight when the loop turns busy is not served until the script ends (see
    # _accept_new in commands/scripting.py)
    killer.same("PING")
    try:
        for c in (pair.a, pair.r):
            c.send(encode_command("EVAL", "while true do end", "0"))
        time.sleep(0.3)
        second.same("GET", "k")  # BUSY
        second.same("SET", "k", "v")  # NOPERM first
        second.same("GET", "other")
        killer.same("SCRIPT", "KILL")
        for c in (pair.a, pair.r):
            assert c.read_reply().startswith(b"-ERR Script killed by user with SCRIPT KILL")
    finally:
        killer.close()
        pair.same("CONFIG", "SET", "busy-reply-threshold", "5000")
