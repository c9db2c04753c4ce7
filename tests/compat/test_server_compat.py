"""Server, CONFIG, COMMAND and introspection replies compared with real redis-server."""

from __future__ import annotations

import time

import pytest

from tests.conftest import RawClient, wait_until


def test_command_info_of_implemented(pair):
    for name in ("get", "set", "ping", "echo", "dbsize", "flushdb", "swapdb", "time",
                 "lastsave", "info", "config|get", "config|set", "client|list", "client|kill",
                 "slowlog|get", "command|info", "memory|usage", "latency|latest",
                 "select", "auth", "hello", "monitor", "save", "bgsave", "shutdown"):
        pair.same("COMMAND", "INFO", name)


def test_command_info_unknown_and_several(pair):
    pair.same("COMMAND", "INFO", "get", "nosuchcommand", "set")
    pair.same("COMMAND", "INFO", "GET", "client|nosuch")


def test_command_docs(pair):
    for name in ("get", "set", "time", "dbsize", "swapdb", "echo", "ping", "client|id"):
        pair.same("COMMAND", "DOCS", name)
    pair.same("COMMAND", "DOCS", "nosuchcommand")


def test_command_getkeys(pair):
    pair.same("COMMAND", "GETKEYS", "get", "k")
    pair.same("COMMAND", "GETKEYS", "set", "k", "v", "EX", "10")
    pair.same("COMMAND", "GETKEYS", "mset", "a", "1", "b", "2")
    pair.same("COMMAND", "GETKEYS", "eval", "return 1", "2", "a", "b", "c")
    pair.same("COMMAND", "GETKEYS", "eval", "return 1", "0")
    pair.same("COMMAND", "GETKEYS", "zunionstore", "dst", "2", "a", "b", "WEIGHTS", "1", "2")
    pair.same("COMMAND", "GETKEYS", "sort", "k", "BY", "w*", "STORE", "out")
    pair.same("COMMAND", "GETKEYS", "xread", "COUNT", "2", "STREAMS", "s1", "s2", "0", "0")
    pair.same("COMMAND", "GETKEYS", "ping")
    pair.same("COMMAND", "GETKEYS", "nosuch", "x")
    pair.same("COMMAND", "GETKEYS", "get")
    pair.same("COMMAND", "GETKEYS", "zunionstore", "dst", "5", "a")
    pair.same("COMMAND", "GETKEYSANDFLAGS", "set", "k", "v")
    pair.same("COMMAND", "GETKEYSANDFLAGS", "lmove", "a", "b", "left", "right")


def test_command_errors_and_help(pair):
    pair.same("COMMAND", "HELP")
    pair.same("command", "help")
    pair.same("COMMAND", "LIST", "FILTERBY", "nosuch", "x")
    pair.same("COMMAND", "LIST", "extra")
    pair.same("COMMAND", "LIST", "FILTERBY", "MODULE", "foo")
    pair.same("COMMAND", "COUNT", "x")
    pair.same("COMMAND", "NOSUCH")


def test_command_list_pattern_subset(pair):
    got, want = pair.both("COMMAND", "LIST", "FILTERBY", "PATTERN", "client*")
    ours = set(got.split(b"\r\n")[1:]) - {b"client|setinfo", b"client|no-touch"}  # 7.2
    theirs = set(want.split(b"\r\n")[1:])
    assert ours <= theirs and b"client|list" in ours


def test_config_get_exact(pair):
    for name in ("maxmemory", "maxclients", "hz", "save", "appendfsync", "appendonly",
                 "timeout", "databases", "notify-keyspace-events", "maxmemory-policy",
                 "slowlog-log-slower-than", "slowlog-max-len", "lua-time-limit",
                 "busy-reply-threshold", "hash-max-ziplist-entries", "hash-max-listpack-entries",
                 "list-max-ziplist-size", "zset-max-listpack-value", "set-max-intset-entries",
                 "client-output-buffer-limit", "repl-backlog-size", "latency-monitor-threshold",
                 "protected-mode", "tcp-keepalive", "proto-max-bulk-len",
                 "client-query-buffer-limit", "slaveof", "replicaof", "replica-read-only",
                 "slave-read-only", "maxmemory-samples", "active-expire-effort",
                 "lazyfree-lazy-user-del", "stream-node-max-bytes", "nosuch", "MAXMEMORY"):
        pair.same("CONFIG", "GET", name)
    for args in (("maxmemory", "hz"), ("nosuch", "hz", "hz"), ("HZ", "hz"), ("slaveof", "*of")):
        got, want = pair.both("CONFIG", "GET", *args)
        assert _as_dict(got) == _as_dict(want), args


def _as_dict(raw: bytes) -> dict:
    lines = raw.split(b"\r\n")
    vals = [lines[i + 1] for i in range(1, len(lines) - 1, 2) if lines[i].startswith(b"$")]
    return dict(zip(vals[0::2], vals[1::2], strict=False))


def test_config_get_patterns(pair):
    for pat in ("*max-*-entries*", "hash-*", "slowlog*", "*ziplist*", "maxmemory*", "notify*"):
        got, want = pair.both("CONFIG", "GET", pat)
        assert _as_dict(got) == _as_dict(want), pat


def test_config_set_roundtrip_and_errors(pair):
    cases = [
        ("hz", "20"), ("hz", "abc"), ("maxmemory", "10mb"), ("maxmemory", "1gb"),
        ("maxmemory", "-1"), ("maxmemory", "x"), ("maxmemory", "0"), ("appendfsync", "bad"),
        ("appendfsync", "everysec"), ("protected-mode", "maybe"), ("timeout", "0"),
        ("slowlog-max-len", "128"), ("notify-keyspace-events", "KEA"),
        ("notify-keyspace-events", "Q"), ("notify-keyspace-events", ""),
        ("save", "100 10 60 1000"), ("save", "1 2 3"), ("save", ""),
        ("maxmemory-policy", "allkeys-lru"), ("maxmemory-policy", "nope"),
        ("maxmemory-policy", "noeviction"), ("hash-max-ziplist-entries", "64"),
        ("hash-max-listpack-entries", "128"), ("daemonize", "no"),
        ("nosuch", "1"), ("databases", "4"), ("dir", "/tmp"), ("latency-monitor-threshold", "0"),
        ("client-output-buffer-limit", "normal 1mb 2mb 60"),
        ("client-output-buffer-limit", "normal 0 0 0"),
        ("client-output-buffer-limit", "bogus 1 2 3"),
        ("list-max-listpack-size", "-2"), ("active-expire-effort", "11"),
        ("active-expire-effort", "1"),
    ]
    for name, value in cases:
        pair.same("CONFIG", "SET", name, value)
        if name not in ("nosuch", "dir"):
            pair.same("CONFIG", "GET", name)


def test_config_set_multi_atomic(pair):
    pair.same("CONFIG", "SET", "hz", "15", "maxmemory", "1mb")
    pair.same("CONFIG", "GET", "hz")
    # one bad value: nothing is applied
    pair.same("CONFIG", "SET", "hz", "30", "maxmemory", "bad")
    pair.same("CONFIG", "GET", "hz")
    pair.same("CONFIG", "SET", "hz", "30", "hz", "40")
    pair.same("CONFIG", "SET", "hz", "30", "nosuch", "1", "daemonize", "yes")
    pair.same("CONFIG", "SET", "hz", "30", "daemonize", "yes", "nosuch", "1")
    pair.same("CONFIG", "SET", "hz")
    pair.same("CONFIG", "SET", "hz", "10", "maxmemory")
    pair.same("CONFIG", "SET", "hz", "10", "maxmemory", "0")


def test_config_misc(pair):
    pair.same("CONFIG", "HELP")
    pair.same("CONFIG", "RESETSTAT")
    pair.same("CONFIG", "NOSUCH")
    pair.same("CONFIG", "GET")
    pair.same("CONFIG")


def test_swapdb(pair):
    pair.same("SELECT", "0")
    pair.same("SET", "a", "0")
    pair.same("SELECT", "1")
    pair.same("SET", "b", "1")
    pair.same("SWAPDB", "0", "1")
    pair.same("GET", "a")
    pair.same("GET", "b")
    pair.same("SELECT", "0")
    pair.same("GET", "b")
    pair.same("SWAPDB", "0", "0")
    pair.same("SWAPDB", "x", "1")
    pair.same("SWAPDB", "1", "x")
    pair.same("SWAPDB", "0", "99")
    pair.same("SWAPDB", "-1", "0")
    pair.same("SWAPDB", "0")
    pair.same("SWAPDB", "0", "1")
    pair.same("FLUSHALL")


def test_dbsize_flush(pair):
    pair.same("MSET", "a", "1", "b", "2")
    pair.same("DBSIZE")
    pair.same("FLUSHDB", "ASYNC")
    pair.same("DBSIZE")
    pair.same("FLUSHDB", "bad")
    pair.same("FLUSHALL", "SYNC")
    pair.same("FLUSHALL", "sync", "x")
    pair.same("DBSIZE", "x")


def test_time_lastsave_shapes(pair):
    got, want = pair.both("TIME")
    assert got.startswith(b"*2\r\n$10\r\n") and want.startswith(b"*2\r\n$10\r\n")
    got, want = pair.both("LASTSAVE")
    assert got[:1] == want[:1] == b":"
    pair.same("TIME", "x")
    pair.same("BGSAVE", "x")
    pair.same("BGSAVE", "schedule", "x")
    pair.same("SHUTDOWN", "bogus")
    pair.same("SHUTDOWN", "NOSAVE", "SAVE")
    pair.same("SHUTDOWN", "ABORT")
    pair.same("SHUTDOWN", "ABORT", "NOW")


def test_slowlog(pair):
    pair.same("SLOWLOG", "HELP")
    pair.same("SLOWLOG", "RESET")
    pair.same("SLOWLOG", "LEN")
    pair.same("SLOWLOG", "GET")
    pair.same("SLOWLOG", "GET", "-2")
    pair.same("SLOWLOG", "GET", "x")
    pair.same("SLOWLOG", "NOSUCH")
    pair.same("SLOWLOG", "LEN", "x")
    pair.same("CONFIG", "SET", "slowlog-log-slower-than", "0")
    pair.same("SET", "foo", "bar")
    got, want = pair.both("SLOWLOG", "GET", "1")
    # id, time and duration differ; the argv, shape and the config set entry match
    assert got.split(b"\r\n")[0] == want.split(b"\r\n")[0] == b"*1"
    assert b"$3\r\nSET\r\n$3\r\nfoo\r\n$3\r\nbar\r\n" in got
    assert b"$3\r\nSET\r\n$3\r\nfoo\r\n$3\r\nbar\r\n" in want
    pair.same("CONFIG", "SET", "slowlog-log-slower-than", "10000")
    pair.same("SLOWLOG", "RESET")
    pair.same("SLOWLOG", "LEN")


def test_latency_and_memory(pair):
    pair.same("LATENCY", "HELP")
    pair.same("LATENCY", "RESET")
    pair.same("LATENCY", "LATEST")
    pair.same("LATENCY", "HISTORY", "command")
    pair.same("LATENCY", "GRAPH", "command")
    pair.same("LATENCY", "RESET", "command", "other")
    pair.same("LATENCY", "NOSUCH")
    pair.same("MEMORY", "HELP")
    pair.same("MEMORY", "USAGE", "missing")
    pair.same("MEMORY", "USAGE", "missing", "SAMPLES")
    pair.same("MEMORY", "USAGE", "missing", "SAMPLES", "x")
    pair.same("MEMORY", "USAGE", "missing", "SAMPLES", "-1")
    pair.same("MEMORY", "NOSUCH")


def test_misc_errors(pair):
    pair.same("LOLWUT", "VERSION", "x")
    pair.same("LOLWUT")
    pair.same("LOLWUT", "VERSION", "7")
    pair.same("INFO", "a", "b", "c")[:0]
    pair.same("DEBUG", "OBJECT", "missing")
    pair.same("DEBUG", "PROTOCOL", "map")
    pair.same("DEBUG", "PROTOCOL", "bignum")
    pair.same("DEBUG", "PROTOCOL", "nope")


def test_errors_show_arguments_as_printf_does(pair):
    """Redis formats echoed arguments with "%s"/"%.128s": cut at the first NUL byte and
    at 128 bytes (not characters). redis-py's async CLIENT SETINFO of UTF-16 text."""
    e = "é".encode()
    for args in [
        ("CLIENT", b"SE\x00TINFO", b"x"), (b"NOS\x00UCH", b"a\x00b", b"c"),
        ("NOSUCH", b"\x00a", b"cd\x00e"), ("CONFIG", b"G\x00ET"), ("MEMORY", b"x\x00y"),
        ("CONFIG", "SET", b"max\x00memory", "1"), ("ACL", "SETUSER", "u", b"o\x00n"),
        (e * 100, e * 100, e * 100), ("NOSUCH", b"y" * 50, e * 50, b"z"), ("CLIENT", e * 100),
        ("CLIENT", b"a\r\nb"), (b"a\r\nb", b"c\nd"), ("CONFIG", "SET", e * 100, "1"),
        ("DEBUG", b"x\x00y"), ("DEBUG", e * 100), ("DEBUG", "nosuch", "a"),
    ]:
        pair.same(*args)
    pair.same("ACL", "DELUSER", "u")


def test_info_sections_names(pair):
    for args in ((), ("all",), ("default",), ("everything",), ("server",), ("keyspace",),
                 ("cpu", "memory"), ("commandstats",), ("errorstats",), ("nosuch",)):
        got, want = pair.both("INFO", *args)

        def heads(raw):
            return [ln for ln in raw.split(b"\r\n") if ln.startswith(b"# ")]

        ours = [h for h in heads(got) if h != b"# Aki"]
        assert ours == heads(want), args


@pytest.mark.parametrize("proto", [2, 3])
def test_info_resp3_verbatim(aki_server, redis_server, proto):
    a, r = RawClient(aki_server.port), RawClient(redis_server.port)
    try:
        a.cmd("HELLO", str(proto))
        r.cmd("HELLO", str(proto))
        ga, gr = a.cmd("INFO", "cluster"), r.cmd("INFO", "cluster")
        assert ga == gr
    finally:
        a.close()
        r.close()


def test_commandstats_count_rejected_calls(pair):
    """A wrong arity is a rejected call of the command (or subcommand) it names; an
    unknown subcommand is nobody's."""
    pair.same("CONFIG", "RESETSTAT")
    for args in (("GET",), ("OBJECT",), ("OBJECT", "ENCODING"), ("OBJECT", "NOSUCH", "x"),
                 ("SET", "k", "v", "EX"), ("GET", "k"), ("NOSUCHCMD",)):
        pair.same(*args)
    a, r = (reply.split(b"\r\n") for reply in pair.both("INFO", "commandstats"))
    assert {x.split(b":")[0]: x.split(b",")[-2:] for x in a if x.startswith(b"cmdstat_")
            and not x.startswith(b"cmdstat_config")} == \
        {x.split(b":")[0]: x.split(b",")[-2:] for x in r if x.startswith(b"cmdstat_")
         and not x.startswith(b"cmdstat_config")}
    pair.same("INFO", "errorstats")


def _slowlog_argvs(c) -> list[list[bytes]]:
    return [entry[3] for entry in c.execute_command("SLOWLOG", "GET", "-1")]


def test_slowlog_blocked_commands_and_exec(r, rr):
    """A blocked command is logged when it is served, as it was sent (BLPOP, not the LPOP
    it became), and not when it times out; EXEC itself is not logged, what it ran is."""
    import threading

    logs = []
    for c, port in ((r, r.connection_pool.connection_kwargs["port"]),
                    (rr, rr.connection_pool.connection_kwargs["port"])):
        import redis as redis_py

        c.delete("l")
        c.config_set("slowlog-log-slower-than", 0)
        try:
            waiter = redis_py.Redis(port=port)
            t = threading.Thread(target=waiter.blpop, args=("l", 0))
            t.start()
            deadline = time.time() + 5
            while c.info("clients")["blocked_clients"] != 1 and time.time() < deadline:
                time.sleep(0.01)
            c.slowlog_reset()
            with c.pipeline(transaction=True) as p:
                p.lpush("l", "foo")
                p.execute()
            t.join(5)
            waiter.blpop("nosuch", 0.01)  # times out: logged too
            logs.append(_slowlog_argvs(c))
        finally:
            c.config_set("slowlog-log-slower-than", 10000)
            waiter.close()
    assert logs[0] == logs[1]
    assert logs[0][0] == [b"BLPOP", b"l", b"0"] and [b"EXEC"] not in logs[0]


def test_slowlog_logs_cached_reads(r, rr):
    """A GET answered from the row cache (a missing key, a hot one) is logged like any
    other command (redis-py's test_slowlog_get: GET of a missing key)."""
    logs = []
    for c in (r, rr):
        c.delete("nosuch", "hot")
        c.set("hot", "v")
        c.get("hot")
        c.config_set("slowlog-log-slower-than", 0)
        try:
            c.slowlog_reset()
            c.get("nosuch")
            c.get("hot")
            c.get("hot")
            logs.append(_slowlog_argvs(c))
        finally:
            c.config_set("slowlog-log-slower-than", 10000)
    assert logs[0] == logs[1] == [[b"GET", b"hot"], [b"GET", b"hot"], [b"GET", b"nosuch"],
                                  [b"SLOWLOG", b"RESET"]]


def test_paused_client_is_blocked(r, rr):
    import threading

    import redis as redis_py

    shown = []
    for c in (r, rr):
        port = c.connection_pool.connection_kwargs["port"]
        c.execute_command("CLIENT", "PAUSE", 5000, "WRITE")
        try:
            writer = redis_py.Redis(port=port)
            t = threading.Thread(target=writer.set, args=("paused", "1"))
            t.start()
            deadline = time.time() + 5
            while c.info("clients")["blocked_clients"] != 1 and time.time() < deadline:
                time.sleep(0.01)
            info = c.info("clients")
            me = c.client_id()
            other = [x for x in c.client_list() if int(x["id"]) not in (me,)
                     and x["cmd"] == "set"]
            shown.append((info["blocked_clients"], info["clients_in_timeout_table"],
                          [(x["flags"], x["cmd"]) for x in other]))
        finally:
            c.execute_command("CLIENT", "UNPAUSE")
        t.join(5)
        assert c.get("paused") == b"1" and c.info("clients")["blocked_clients"] == 0
        writer.close()
    assert shown[0] == shown[1] == (1, 0, [("b", "set")])


def test_pause_write_holds_may_replicate_commands_and_expiry(r, rr):
    """CLIENT PAUSE WRITE also holds PFCOUNT, PUBLISH and scripts that may write (not
    those declaring no-writes), and no expired key is deleted while it lasts."""
    import threading

    import redis as redis_py

    seen = []
    for c in (r, rr):
        port = c.connection_pool.connection_kwargs["port"]
        c.pfadd("hll", "a")
        c.config_resetstat()
        with c.pipeline(transaction=True) as p:
            p.set("gone1", "x", px=10).set("gone2", "x", px=10)
            p.execute_command("CLIENT", "PAUSE", 5000, "WRITE")
            p.execute()
        clients, threads = [], []
        try:
            for cmd in (("PFCOUNT", "hll"), ("PUBLISH", "ch", "m"), ("EVAL", "return 1", 0),
                        ("EVAL", "#!lua flags=no-writes\nreturn 2", 0), ("GET", "hll")):
                cl = redis_py.Redis(port=port)
                clients.append(cl)
                threads.append(threading.Thread(target=cl.execute_command, args=cmd))
                threads[-1].start()
            deadline = time.time() + 5
            while c.info("clients")["blocked_clients"] != 3 and time.time() < deadline:
                time.sleep(0.01)
            time.sleep(0.05)
            held = sorted(x["cmd"] for x in c.client_list() if "b" in x["flags"])
            gone = (c.get("gone1"), c.exists("gone2"), c.info("stats")["expired_keys"])
            seen.append((held, gone))
        finally:
            c.execute_command("CLIENT", "UNPAUSE")
        for t in threads:
            t.join(5)
        for cl in clients:
            cl.close()
        c.get("gone1")
        assert c.info("stats")["expired_keys"] >= 1
    assert seen[0] == seen[1] == (["eval", "pfcount", "publish"], (None, 0, 0))


def test_unblocked_with_error_is_a_failed_call(r, rr):
    """CLIENT UNBLOCK ... ERROR: the blocked command counts as failed, the error as an
    error reply (errorstats), as updateStatsOnUnblock does."""
    import threading

    import redis as redis_py

    stats = []
    for c in (r, rr):
        port = c.connection_pool.connection_kwargs["port"]
        c.delete("nolist")
        c.config_resetstat()
        waiter = redis_py.Redis(port=port)
        wid = waiter.client_id()
        failure = []

        def wait(w=waiter, out=failure):
            try:
                w.blpop("nolist", 0)
            except redis_py.ResponseError as exc:
                out.append(str(exc))

        t = threading.Thread(target=wait)
        t.start()
        deadline = time.time() + 5
        while c.info("clients")["blocked_clients"] != 1 and time.time() < deadline:
            time.sleep(0.01)
        c.execute_command("CLIENT", "UNBLOCK", wid, "ERROR")
        t.join(5)
        waiter.close()
        blpop = c.info("commandstats")["cmdstat_blpop"]
        stats.append((failure, blpop["calls"], blpop["failed_calls"], blpop["rejected_calls"],
                      c.info("errorstats").get("errorstat_UNBLOCKED")))
    assert stats[0] == stats[1]
    assert stats[0][2] == 1


def test_flushall_saves_when_save_is_configured(pair, tmp_path):
    """With `save` set, FLUSHALL saves at once (Redis's flushAllDataAndResetRDB): no
    changes since the last save afterwards; without it, FLUSHALL is a change."""
    import re

    def changes(raw) -> int:
        return int(re.search(rb"rdb_changes_since_last_save:(\d+)", raw).group(1))

    saves = [x.split(b"\r\n")[-2] for x in pair.both("CONFIG", "GET", "save")]
    dirs = [x.split(b"\r\n")[-2] for x in pair.both("CONFIG", "GET", "dir")]
    try:
        for raw, d in ((pair.a, tmp_path / "a"), (pair.r, tmp_path / "r")):
            d.mkdir()
            raw.cmd("CONFIG", "SET", "dir", str(d))
        pair.same("CONFIG", "SET", "save", "3600 1 300 100 60 10000")
        pair.same("SET", "key", "value")
        pair.same("FLUSHALL")
        assert [changes(x) for x in pair.both("INFO", "persistence")] == [0, 0]
        pair.same("CONFIG", "SET", "save", "")
        pair.same("SET", "key", "value")
        pair.same("FLUSHALL")
        assert [changes(x) for x in pair.both("INFO", "persistence")] == [2, 2]
    finally:
        for raw, save, d in zip((pair.a, pair.r), saves, dirs, strict=True):
            raw.cmd("CONFIG", "SET", "save", save)
            raw.cmd("CONFIG", "SET", "dir", d)


def test_debug_populate(pair):
    for args in (("DEBUG", "POPULATE", "-1"), ("DEBUG", "POPULATE", "x"),
                 ("DEBUG", "POPULATE", "3", "p", "-2"), ("DEBUG", "POPULATE", "3", "p", "0"),
                 ("DEBUG", "POPULATE", "2", "q", "12"), ("DEBUG", "POPULATE", "1", "r", "3"),
                 ("DEBUG", "POPULATE", "0"), ("DEBUG", "POPULATE", "50"),
                 ("DEBUG", "POPULATE", "1", "q", "100"),  # q:0 exists: left alone
                 ("DBSIZE",), ("GET", "q:1"), ("GET", "q:0"), ("GET", "r:0"), ("GET", "key:49"),
                 ("OBJECT", "ENCODING", "key:7"), ("TTL", "key:7")):
        pair.same(*args)


def test_config_set_port_and_bind_failures(pair):
    """The texts of a refused CONFIG SET port (taken) and bind (not an address)."""
    import socket

    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    try:
        pair.same("CONFIG", "SET", "port", str(busy.getsockname()[1]))
    finally:
        busy.close()
    pair.same("CONFIG", "SET", "bind", "999.999.999.999")
    pair.same("PING")


def test_proc_title_template_is_validated(pair):
    """Redis expands the template (title empty) and refuses unknown variables, an
    unterminated one, and a result of nothing but spaces."""
    default = pair.same("CONFIG", "GET", "proc-title-template")
    try:
        for template in ("{invalid-var}", "{title}", "", "  ", "{", "{port", "{unixsocket}",
                         "{server-mode} {title}", "{port}", "{tls-port}", "{config-file}",
                         "{{", "abc}", "{{x}", "TEST {title} {listen-addr} {port} {tls-port} "
                         "{unixsocket} {config-file}"):
            pair.same("CONFIG", "SET", "proc-title-template", template)
            pair.same("CONFIG", "GET", "proc-title-template")
    finally:
        pair.same("CONFIG", "SET", "proc-title-template", default.split(b"\r\n")[4].decode())


def test_debug_protocol_attrib_resp2_and_resp3(pair):
    pair.same("DEBUG", "PROTOCOL", "attrib")
    pair.both("HELLO", "3")  # (the client ids differ)
    got, want = pair.both("DEBUG", "PROTOCOL", "attrib")  # the attribute map ...
    assert got == want == b"|1\r\n$14\r\nkey-popularity\r\n*2\r\n$7\r\nkey:123\r\n:90\r\n"
    assert pair.a.read_reply() == pair.r.read_reply()  # ... then the real reply
    pair.same("PING")
    pair.both("HELLO", "2")


def test_debug_pause_cron_stops_active_expiry(pair):
    """DEBUG PAUSE-CRON 1 stops the periodic work: a key past its TTL stays stored
    (DBSIZE counts it) until the cron runs again."""
    pair.same("DEBUG", "PAUSE-CRON", "1")
    try:
        pair.same("SET", "k", "v", "PX", "1")
        time.sleep(0.3)
        pair.same("DBSIZE")
    finally:
        pair.same("DEBUG", "PAUSE-CRON", "0")
    deadline = time.time() + 5
    while time.time() < deadline and pair.both("DBSIZE") != (b":0\r\n", b":0\r\n"):
        time.sleep(0.05)
    pair.same("DBSIZE")


def _idle(client) -> bool:
    info = client.cmd("INFO", "persistence")
    return (b"aof_rewrite_in_progress:0" in info and b"rdb_bgsave_in_progress:0" in info
            and b"aof_rewrite_scheduled:0" in info)


def test_bgsave_and_bgrewriteaof_inside_exec_are_scheduled(pair):
    """server.in_exec: Redis forks nothing inside EXEC, both only schedule (same replies)."""
    for c in (pair.a, pair.r):
        wait_until(lambda c=c: _idle(c), what="no background save before the test")
    pair.same("MULTI")
    pair.same("SET", "foo", "bar")
    pair.same("BGREWRITEAOF")
    pair.same("BGSAVE")
    pair.same("EXEC")
    for c in (pair.a, pair.r):
        wait_until(lambda c=c: _idle(c), what="the scheduled save and rewrite to end")


def test_multi_arg_enum_configs_read_back_in_table_order(pair):
    """configEnumGetName: shutdown-on-sig* flags come back in Redis's table order, once."""
    for value in ("nosave force now", "default save", "save save", "force now", "default"):
        for name in ("shutdown-on-sigint", "shutdown-on-sigterm"):
            pair.same("CONFIG", "SET", name, value)
            pair.same("CONFIG", "GET", name)
    pair.same("CONFIG", "SET", "shutdown-on-sigint", "bogus")
