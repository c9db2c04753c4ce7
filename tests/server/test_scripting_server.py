"""Scripting on a running aki: persistence of functions, busy scripts, propagation, redis-py Lock."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import redis
from redis.exceptions import LockError, LockNotOwnedError, ResponseError

from tests.conftest import RawClient, aof_incr, start_aki

LIB = (
    "#!lua name=counter\n"
    "redis.register_function('bump', function(keys) return redis.call('incr', keys[1]) end)\n"
)
BUSY_EVAL = "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."
BUSY_FUNCTION = "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE."


def _in_thread(fn) -> tuple[threading.Thread, dict]:
    out: dict = {}

    def run() -> None:
        try:
            out["value"] = fn()
        except Exception as exc:  # the script's error reply, checked by the test
            out["error"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, out


def _wait_busy(client: redis.Redis, timeout: float = 5.0) -> str:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            client.ping()
        except ResponseError as exc:
            return str(exc)
        time.sleep(0.02)
    raise AssertionError("the server never answered BUSY")


def test_functions_survive_restart(tmp_path):
    srv = start_aki(tmp_path)
    try:
        r = srv.client()
        assert r.function_load(LIB) == b"counter"
        assert r.fcall("bump", 1, "n") == 1
        r.function_load("#!lua name=gone\nredis.register_function('g', function() return 1 end)")
        r.function_delete("gone")
        srv.restart()
        r = srv.client()
        assert r.fcall("bump", 1, "n") == 2
        raw = RawClient(srv.port)
        listing = raw.cmd("FUNCTION", "LIST")
        raw.close()
        assert listing.startswith(b"*1\r\n*6\r\n$12\r\nlibrary_name\r\n$7\r\ncounter\r\n")
        with pytest.raises(ResponseError, match="Function not found"):
            r.fcall("g", 0)
        r.function_flush()
        srv.restart("kill")
        r = srv.client()
        assert r.function_list() == []
        payload_lib = LIB.replace("counter", "restored")
        r.function_load(payload_lib)
        dump = r.function_dump()
        r.function_flush()
        r.function_restore(dump)
        srv.restart()
        assert srv.client().fcall("bump", 1, "n") == 3
    finally:
        srv.stop()


def test_busy_script_kill_and_serving(tmp_path):
    srv = start_aki(tmp_path)
    try:
        admin = srv.client()
        admin.config_set("busy-reply-threshold", 100)
        admin.set("before", "1")
        runner = srv.client()
        other = srv.client()
        other.ping()  # connected before the script
        t, out = _in_thread(lambda: runner.eval("while true do end", 0))
        assert _wait_busy(other) == BUSY_EVAL
        # a connection opened while the script runs is served too
        late = srv.client()
        with pytest.raises(ResponseError, match="^BUSY"):
            late.get("before")
        with pytest.raises(ResponseError) as exc:
            other.execute_command("FUNCTION", "STATS")
        assert str(exc.value) == BUSY_EVAL
        with pytest.raises(ResponseError) as exc:
            other.execute_command("FUNCTION", "KILL")
        assert str(exc.value) == BUSY_EVAL
        with pytest.raises(ResponseError) as exc:
            other.execute_command("SHUTDOWN")
        assert str(exc.value) == BUSY_EVAL
        # MULTI is allowed while busy, a rejected command inside it aborts the EXEC
        raw = RawClient(srv.port)
        assert raw.cmd("MULTI") == b"+OK\r\n"
        assert raw.cmd("SET", "x", "1") == b"-" + BUSY_EVAL.encode() + b"\r\n"
        assert other.script_kill() is True
        t.join(10)
        assert "Script killed by user with SCRIPT KILL" in str(out["error"])
        assert raw.cmd("EXEC") == b"-EXECABORT Transaction discarded because of previous errors.\r\n"
        raw.close()
        assert other.ping() is True and late.get("before") == b"1"
        with pytest.raises(ResponseError, match="^NOTBUSY"):
            other.script_kill()
    finally:
        srv.stop()


def test_busy_function_kill(tmp_path):
    srv = start_aki(tmp_path)
    try:
        admin = srv.client()
        admin.config_set("busy-reply-threshold", 50)
        admin.function_load("#!lua name=spin\nredis.register_function{function_name='spin', "
                            "callback=function() while true do end end, flags={'no-writes'}}")
        runner = srv.client()
        t, out = _in_thread(lambda: runner.fcall("spin", 0))
        assert _wait_busy(admin) == BUSY_FUNCTION
        with pytest.raises(ResponseError) as exc:
            admin.script_kill()
        assert str(exc.value) == BUSY_FUNCTION
        raw = RawClient(srv.port)
        assert raw.cmd("FUNCTION", "STATS").startswith(
            b"*4\r\n$14\r\nrunning_script\r\n*6\r\n$4\r\nname\r\n$4\r\nspin\r\n"
            b"$7\r\ncommand\r\n*3\r\n$5\r\nFCALL\r\n$4\r\nspin\r\n$1\r\n0\r\n$11\r\nduration_ms\r\n:")
        raw.close()
        assert admin.execute_command("FUNCTION", "KILL") == b"OK"
        t.join(10)
        assert "Script killed by user with SCRIPT KILL" in str(out["error"])
        assert admin.ping() is True
    finally:
        srv.stop()


def test_unkillable_script_then_shutdown_nosave(tmp_path):
    srv = start_aki(tmp_path)
    try:
        admin = srv.client()
        admin.set("kept", "yes")
        admin.config_set("busy-reply-threshold", 100)
        runner = srv.client()
        t, out = _in_thread(lambda: runner.eval(
            "redis.call('set', 'written', 'by-script') while true do end", 0))
        assert _wait_busy(admin) == BUSY_EVAL
        with pytest.raises(ResponseError) as exc:
            admin.script_kill()
        assert str(exc.value).startswith("UNKILLABLE Sorry the script already executed write commands")
        admin.shutdown(nosave=True)  # redis-py swallows the closed connection
        assert srv.proc is not None
        srv.proc.wait(15)
        t.join(10)
        srv.proc = None
        srv.logf.close()
        srv.start()
        r = srv.client()
        assert r.get("kept") == b"yes"
        assert r.get("written") is None  # the script never finished: its write is not kept
    finally:
        srv.stop()


def test_effects_propagated_wrapped_in_multi(tmp_path):
    srv = start_aki(tmp_path, "--appendonly", "yes", "--dir", str(tmp_path), "--appendfsync", "always")
    try:
        r = srv.client()
        r.eval("redis.call('set', 'a', '1') redis.call('incr', 'a') redis.call('get', 'a')", 0)
        r.eval("return redis.call('set', 'single', 'x')", 0)
        r.eval("redis.set_repl(redis.REPL_NONE) redis.call('set', 'hidden', '1') "
               "redis.set_repl(redis.REPL_ALL) redis.call('set', 'shown', '1')", 0)
        r.eval("return redis.call('get', 'a')", 0)
        r.function_load(LIB)
        r.fcall("bump", 1, "n")
        log = aof_incr(Path(tmp_path)).read_bytes()
        tail = log[log.index(b"*1\r\n$5\r\nMULTI"):]
        assert b"EVAL" not in tail.upper() and b"eval" not in tail
        assert (b"*1\r\n$5\r\nMULTI\r\n*3\r\n$3\r\nset\r\n$1\r\na\r\n$1\r\n1\r\n"
                b"*2\r\n$4\r\nincr\r\n$1\r\na\r\n*1\r\n$4\r\nEXEC\r\n") in tail
        assert b"*3\r\n$3\r\nset\r\n$6\r\nsingle\r\n$1\r\nx\r\n" in tail
        assert b"hidden" not in tail and b"shown" in tail
        assert b"FUNCTION" in tail and b"*2\r\n$4\r\nincr\r\n$1\r\nn\r\n" in tail
    finally:
        srv.stop()


def test_redis_py_lock(tmp_path):
    srv = start_aki(tmp_path)
    try:
        r = srv.client()
        lock = r.lock("resource", timeout=5)
        assert lock.acquire(blocking=False) is True
        assert lock.owned() and lock.locked()
        assert lock.extend(10) is True
        assert 5000 < r.pttl("resource") <= 15000
        assert lock.reacquire() is True
        other = r.lock("resource", timeout=5, blocking_timeout=0.3)
        start = time.monotonic()
        assert other.acquire() is False
        assert time.monotonic() - start >= 0.15  # it kept trying for a while
        lock.release()
        assert other.acquire() is True
        with pytest.raises(LockError):
            lock.release()  # released already: redis-py refuses locally
        stale = r.lock("resource", timeout=5)
        stale.local.token = b"someone-else"
        with pytest.raises(LockNotOwnedError):  # the release script finds another token
            stale.release()
        stale.local.token = b"someone-else"  # release() forgot it before running the script
        with pytest.raises(LockNotOwnedError):  # so does the extend script
            stale.extend(1)
        with pytest.raises(LockNotOwnedError):
            stale.reacquire()
        other.release()
        assert not r.exists("resource")
        # a waiter gets the lock once the holder releases it
        holder = r.lock("job", timeout=5)
        assert holder.acquire()
        t, out = _in_thread(lambda: srv.client().lock("job", timeout=5, blocking_timeout=5).acquire())
        time.sleep(0.3)
        holder.release()
        t.join(10)
        assert out["value"] is True
    finally:
        srv.stop()
