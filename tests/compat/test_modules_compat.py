"""MODULE, and the protected commands (DEBUG, MODULE LOAD/LOADEX/UNLOAD), against real Redis.

Both servers are started here with each setting of enable-debug-command and
enable-module-command that changes the answer: "no" (Redis's default), "local"
(these tests connect over loopback, so it allows) and "yes".
"""

from __future__ import annotations

import pytest

from tests.conftest import Pair, start_aki, start_redis


@pytest.fixture(scope="module", params=["no", "local", "yes"])
def mode_pair(request, tmp_path_factory):
    mode = request.param
    flags = ("--enable-debug-command", mode, "--enable-module-command", mode)
    a = start_aki(tmp_path_factory.mktemp("aki"), *flags)
    r = start_redis(tmp_path_factory.mktemp("redis"), *flags)
    p = Pair(a.port, r.port)
    yield mode, p
    p.close()
    a.stop()
    r.stop()


def test_protected_commands(mode_pair):
    mode, p = mode_pair
    p.same("CONFIG", "RESETSTAT")
    for args in (
        ("DEBUG", "SLEEP", "0"),
        ("DEBUG",),  # arity is checked first
        ("MODULE", "LOAD", "/nonexistent/module.so"),
        ("MODULE", "LOAD", "/nonexistent/module.so", "arg1", "arg2"),
        ("MODULE", "LOADEX", "/nonexistent/module.so", "CONFIG", "a", "b", "ARGS", "x"),
        ("MODULE", "UNLOAD", "nosuch"),
        ("MODULE", "UNLOAD"),
        ("MODULE", "LIST"),
        ("MODULE", "LIST", "extra"),
        ("MODULE", "HELP"),
        ("MODULE", "nosuch"),
        ("MODULE",),
    ):
        p.same(*args)
    # a rejected command aborts the transaction it was queued in
    p.same("MULTI")
    p.same("MODULE", "UNLOAD", "nosuch")
    p.same("EXEC")
    for stats in p.both("INFO", "errorstats"):
        assert stats.count(b"errorstat_ERR:count=") == 1
    a_stats, r_stats = p.both("INFO", "errorstats")
    assert a_stats == r_stats
    a_cmd, r_cmd = p.both("INFO", "commandstats")
    for name in (b"module|unload", b"module|load", b"debug"):
        a_line = next((x for x in a_cmd.split(b"\r\n") if x.startswith(b"cmdstat_" + name + b":")),
                      None)
        r_line = next((x for x in r_cmd.split(b"\r\n") if x.startswith(b"cmdstat_" + name + b":")),
                      None)
        assert (a_line is None) == (r_line is None), name
        if a_line is not None:  # the same rejected/failed call counts (not the timings)
            assert a_line.split(b",")[-2:] == r_line.split(b",")[-2:], name


def test_module_commands_in_command_info(pair):
    pair.same("COMMAND", "INFO", "MODULE|LIST", "MODULE|LOAD", "MODULE|UNLOAD", "MODULE|HELP")
    pair.same("COMMAND", "DOCS", "MODULE|LIST")
