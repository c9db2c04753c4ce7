"""Long scripts: the interrupt hook, SCRIPT/FUNCTION KILL, FUNCTION LOAD's time limit."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pytest

from aki.errors import RedisError
from aki.scripting import ScriptError, ScriptRun, ScriptRuntime

KILLED = "ERR Script killed by user with SCRIPT KILL..."


@pytest.fixture()
def rt() -> ScriptRuntime:
    logging.getLogger("aki.scripting").setLevel(logging.ERROR)  # the kill is logged as a warning
    return ScriptRuntime()


def noop(argv: list[bytes]) -> Any:
    return None


def kill_after(ticks: int):
    seen: list[ScriptRun] = []

    def handler(run: ScriptRun) -> bool:
        seen.append(run)
        return len(seen) >= ticks

    return handler, seen


def test_interrupt_handler_kills_an_endless_loop(rt):
    handler, seen = kill_after(3)
    rt.set_interrupt_handler(handler)
    with pytest.raises(ScriptError) as exc:
        rt.eval(b"local i = 0 while true do i = i + 1 end", [], [], noop)
    # Same text and SHA as Redis 7.0.15 gives for this script.
    assert exc.value.message == (
        KILLED + " script: 3fcf51a9b854b8f66cb8685600b0d7df968f4398, on @user_script:1."
    )
    assert len(seen) == 3 and seen[0].kind == "eval" and seen[0].name == "3fcf51a9b854b8f66cb8685600b0d7df968f4398"
    assert rt.current is None
    assert rt.eval(b"return 'alive'", [], [], noop) == b"alive"


def test_handler_sees_the_running_script(rt):
    def handler(run: ScriptRun) -> bool:
        assert rt.current is run
        return run.elapsed_ms() >= 50

    rt.set_interrupt_handler(handler)
    start = time.monotonic()
    with pytest.raises(ScriptError):
        rt.eval(b"while true do end", [], [], noop)
    assert time.monotonic() - start >= 0.05


def test_pcall_cannot_swallow_a_kill(rt):
    handler, _ = kill_after(1)
    rt.set_interrupt_handler(handler)
    with pytest.raises(ScriptError) as exc:
        rt.eval(b"while true do pcall(function() while true do end end) end", [], [], noop)
    assert exc.value.message.startswith(KILLED)
    with pytest.raises(ScriptError):
        rt.eval(b"while true do xpcall(function() while true do end end, function(e) return e end) end", [], [], noop)


def test_kill_reaches_coroutines(rt):
    """As in Redis (checked by hand with SCRIPT KILL): the kill fires inside the coroutine.

    coroutine.wrap passes the error on; coroutine.resume catches it like any
    error, and the main thread is killed at its own next tick.
    """
    handler, _ = kill_after(2)
    rt.set_interrupt_handler(handler)
    with pytest.raises(ScriptError) as exc:
        rt.eval(b"local co = coroutine.wrap(function() while true do end end) co()", [], [], noop)
    assert exc.value.message.startswith(KILLED)
    got = rt.eval(
        b"local co = coroutine.create(function() while true do end end) local r = {coroutine.resume(co)}"
        b" return {tostring(r[1]), type(r[2]), r[2].err}",
        [], [], noop,
    )
    assert got == [b"false", b"table", KILLED.encode()]
    with pytest.raises(ScriptError) as exc:
        rt.eval(b"local co = coroutine.create(function() while true do end end) coroutine.resume(co)"
                b" while true do end", [], [], noop)
    assert exc.value.message.startswith(KILLED)


def test_kill_from_another_thread(rt):
    """lupa releases the GIL while Lua runs, so the event loop can call kill()."""
    assert rt.kill() is False  # nothing runs
    timer = threading.Timer(0.2, rt.kill)
    timer.start()
    start = time.monotonic()
    with pytest.raises(ScriptError) as exc:
        rt.eval(b"while true do end", [], [], noop)
    assert exc.value.message.startswith(KILLED)
    assert 0.15 < time.monotonic() - start < 5


def test_kill_a_function(rt):
    rt.load_library(b"#!lua name=spin\nredis.register_function('spin', function()\n  while true do end\nend)")
    handler, seen = kill_after(2)
    rt.set_interrupt_handler(handler)
    with pytest.raises(ScriptError) as exc:
        rt.fcall(b"spin", [], [], noop)
    assert exc.value.message == KILLED + " script: spin, on @user_function:3."
    assert seen[0].kind == "function" and seen[0].name == "spin"


def test_handler_not_called_for_short_scripts(rt):
    handler, seen = kill_after(1)
    rt.set_interrupt_handler(handler)
    assert rt.eval(b"local x = 0 for i = 1, 1000 do x = x + i end return x", [], [], noop) == 500500
    assert seen == []


def test_library_code_is_not_interrupted(rt):
    """Like Redis's C libraries, a cjson call runs to its end; the kill lands in user code."""
    handler, _ = kill_after(1)
    rt.set_interrupt_handler(handler)
    with pytest.raises(ScriptError) as exc:
        rt.eval(b"local t = {} for i = 1, 5000 do t[i] = i end\nwhile true do cjson.encode(t) end", [], [], noop)
    assert exc.value.message.endswith("on @user_script:2.")


def test_function_load_timeout(rt):
    start = time.monotonic()
    with pytest.raises(RedisError) as exc:
        rt.load_library(b"#!lua name=x\nwhile true do end")
    assert exc.value.message == "ERR Error registering functions: ERR FUNCTION LOAD timeout"
    assert 0.4 < time.monotonic() - start < 5
    assert rt.libraries == {}
    with pytest.raises(RedisError) as exc:
        rt.load_library(b"#!lua name=y\nwhile true do end", timeout=0.05)
    assert exc.value.message.endswith("FUNCTION LOAD timeout")
    assert rt.load_library(b"#!lua name=z\nredis.register_function('z', function() return 1 end)") == b"z"


def test_handler_errors_do_not_kill(rt, caplog):
    calls = []

    def broken(run: ScriptRun) -> bool:
        calls.append(1)
        if len(calls) > 3:
            rt.kill()
        raise RuntimeError("handler bug")

    rt.set_interrupt_handler(broken)
    with pytest.raises(ScriptError):
        rt.eval(b"while true do end", [], [], noop)
    assert len(calls) >= 4
