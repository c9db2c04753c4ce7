"""The scripting runtime: EVAL's script cache and FUNCTION's libraries over Lua.

One ``ScriptRuntime`` per server, as Redis has one Lua state for EVAL and one
for FUNCTION. It never touches storage: every ``redis.call`` goes to the
``call`` callable the server passes in, which runs one command (through the
same dispatch as any client) and returns its reply value or raises
``RedisError``. Replies and errors come back exactly as Redis 7.0.15 would
send them; see ``messages.py`` for every text.

Threading: lupa releases the GIL while Lua runs, so a server may run a
script in a worker thread and call ``kill()`` from its event loop; or it may
run it inline and serve other clients from the interrupt handler, the way
Redis does from its Lua hook. Only one script runs at a time.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from aki.errors import RedisError
from aki.resp.types import ErrorReply, RespSet, Status
from aki.scripting import messages as M
from aki.scripting.convert import ERROR, FLAT, PLAIN, TOKENS, error_text, reply_to_lua, tokens_to_reply
from aki.scripting.engine import LuaEngine, Outcome
from aki.scripting.libs import Rand48
from aki.scripting.shebang import (
    SCRIPT_FLAGS,
    parse_library_shebang,
    parse_script_shebang,
    valid_name,
)

log = logging.getLogger("aki.scripting")

# redis.set_repl flags (PROPAGATE_AOF | PROPAGATE_REPL).
REPL_NONE, REPL_AOF, REPL_REPLICA, REPL_ALL = 0, 1, 2, 3

# redis.log levels -> Python logging levels (VERBOSE sits between DEBUG and INFO).
LOG_LEVELS = {0: logging.DEBUG, 1: 15, 2: logging.INFO, 3: logging.WARNING}

LOAD_TIMEOUT = 0.5  # FUNCTION LOAD's limit for running a library body (LOAD_TIMEOUT_MS)

Call = Callable[[list[bytes]], Any]
AclCheck = Callable[[list[bytes]], "bool | None"]


class ScriptError(RedisError):
    """An error reply produced by a script (a Lua error or a returned ``{err=...}``).

    ``count_in_stats`` is False when Redis skips the error statistics for it
    because the command that failed inside the script already counted it
    (``ignore_error_stats_update``).
    """

    def __init__(self, message: str, count_in_stats: bool = True) -> None:
        super().__init__(message)
        self.count_in_stats = count_in_stats


@dataclass
class Script:
    """A cached EVAL script."""

    sha: str
    body: bytes
    flags: frozenset[str]
    compat: bool  # no shebang: flags do not apply (Redis's EVAL compat mode)
    fn: Any = field(repr=False)


@dataclass
class FunctionInfo:
    """A function registered by a library."""

    name: bytes
    library: bytes
    flags: frozenset[str]
    description: bytes | None
    fn: Any = field(repr=False)

    def ordered_flags(self) -> list[str]:
        return [f for f in SCRIPT_FLAGS if f in self.flags]


@dataclass
class Library:
    """A loaded FUNCTION library: its full payload and the functions it registered."""

    name: bytes
    code: bytes
    functions: dict[bytes, FunctionInfo]
    engine: bytes = b"LUA"


@dataclass
class ScriptRun:
    """The script running right now; the server reads it from inside ``call``.

    ``resp`` is the protocol the script chose with ``redis.setresp`` (run the
    command with it), ``repl`` the ``redis.set_repl`` flags (propagate writes
    accordingly), ``read_only`` whether write commands must be refused with
    ``messages.CALL_WRITE_IN_READONLY``.
    """

    kind: Literal["eval", "function"]
    name: str
    flags: frozenset[str]
    read_only: bool
    allow_oom: bool
    allow_cross_slot: bool
    command: list[bytes] | None = None
    resp: int = 2
    repl: int = REPL_ALL
    started: float = field(default_factory=time.monotonic)
    # Redis freezes "now" for the whole script (key expiry, TIME): use this clock in ``call``.
    snapshot_time_ms: int = field(default_factory=lambda: int(time.time() * 1000))
    kill_requested: bool = False
    call: Call | None = field(default=None, repr=False)
    acl_check: AclCheck | None = field(default=None, repr=False)

    def elapsed_ms(self) -> int:
        return int((time.monotonic() - self.started) * 1000)


def check_script_run(
    flags: Iterable[str],
    compat: bool,
    *,
    ro_command: bool = False,
    cluster_enabled: bool = False,
    stale_replica: bool = False,
    readonly_replica: bool = False,
    obey_client: bool = False,
    disk_error: Literal["rdb", "aof"] | None = None,
    aof_error: str = "",
    not_enough_replicas: bool = False,
    oom: bool = False,
) -> str | None:
    """``scriptPrepareForRun``'s refusals, in Redis's order; None when the run may start.

    The server passes its state (replica link, disk errors, min-replicas,
    maxmemory); ``eval``/``fcall`` already apply the ``ro_command`` check.
    """
    f = frozenset(flags)
    if compat:
        return M.RUN_MASTERDOWN_COMPAT if stale_replica else None
    if "no-cluster" in f and cluster_enabled:
        return M.RUN_NO_CLUSTER
    if stale_replica and "allow-stale" not in f:
        return M.RUN_MASTERDOWN
    if "no-writes" not in f:
        if readonly_replica and not obey_client:
            return M.RUN_READONLY_REPLICA
        if disk_error and not obey_client:
            return M.RUN_MISCONF_RDB if disk_error == "rdb" else M.RUN_MISCONF_AOF.format(aof_error)
        if ro_command:
            return M.WRITE_SCRIPT_RO_COMMAND
        if not_enough_replicas:
            return M.RUN_NOREPLICAS
    if oom and not (f & {"allow-oom", "no-writes"}):
        return M.RUN_OOM
    return None


def glob_match(pattern: bytes, string: bytes, nocase: bool = False) -> bool:
    """Redis's ``stringmatchlen`` (used by FUNCTION LIST LIBRARYNAME)."""
    if nocase:
        pattern, string = pattern.lower(), string.lower()
    return _match(pattern, 0, string, 0)


def _match(p: bytes, i: int, s: bytes, j: int) -> bool:
    while i < len(p) and j <= len(s):
        c = p[i]
        if c == 0x2A:  # *
            while i + 1 < len(p) and p[i + 1] == 0x2A:
                i += 1
            if i + 1 == len(p):
                return True
            return any(_match(p, i + 1, s, k) for k in range(j, len(s) + 1))
        if j == len(s):
            return False
        if c == 0x3F:  # ?
            i += 1
            j += 1
            continue
        if c == 0x5B:  # [
            i += 1
            negate = i < len(p) and p[i] == 0x5E
            if negate:
                i += 1
            matched = False
            while i < len(p) and p[i] != 0x5D:
                if p[i] == 0x5C and i + 1 < len(p):
                    i += 1
                    matched |= p[i] == s[j]
                elif i + 2 < len(p) and p[i + 1] == 0x2D:
                    lo, hi = sorted((p[i], p[i + 2]))
                    matched |= lo <= s[j] <= hi
                    i += 2
                else:
                    matched |= p[i] == s[j]
                i += 1
            if negate:
                matched = not matched
            if not matched:
                return False
            i += 1
            j += 1
            continue
        if c == 0x5C and i + 1 < len(p):  # backslash escapes the next char
            i += 1
            c = p[i]
        if c != s[j]:
            return False
        i += 1
        j += 1
    if i < len(p):
        return all(ch == 0x2A for ch in p[i:]) and j == len(s)
    return j == len(s)


def _text(b: bytes | None) -> str:
    return (b or b"").decode("utf-8", "surrogateescape")


def _as_sha(sha: str | bytes) -> str:
    return (sha.decode("latin-1") if isinstance(sha, bytes) else sha).lower()


class ScriptRuntime:
    """EVAL/EVALSHA/SCRIPT and FUNCTION/FCALL semantics over two Lua states."""

    def __init__(self) -> None:
        self._rand = Rand48()
        self._scripts: dict[str, Script] = {}
        self._eval_engine = LuaEngine("eval", self)
        self._function_engine = LuaEngine("function", self)
        self._libraries: dict[bytes, Library] = {}
        self._functions: dict[bytes, FunctionInfo] = {}  # lower-cased name -> function
        self._current: ScriptRun | None = None
        self._interrupt: Callable[[ScriptRun], bool] | None = None
        self._loading: Library | None = None
        self._load_deadline: float | None = None

    # ------------------------------------------------------------------ state

    @property
    def current(self) -> ScriptRun | None:
        """The running script, or None (for BUSY replies, SCRIPT KILL, FUNCTION STATS)."""
        return self._current

    def set_interrupt_handler(self, fn: Callable[[ScriptRun], bool] | None) -> None:
        """Call ``fn(run)`` every 100000 Lua instructions; returning True kills the script.

        This is where the server notices a script has run past
        ``busy-reply-threshold`` and serves other clients (BUSY, SCRIPT KILL).
        """
        self._interrupt = fn

    def kill(self) -> bool:
        """Abort the running script at its next hook tick (SCRIPT KILL / FUNCTION KILL).

        The server checks the UNKILLABLE cases first (messages.UNKILLABLE_*).
        Returns False when nothing runs. Safe to call from another thread.
        """
        run = self._current
        if run is None:
            return False
        run.kill_requested = True
        return True

    # ------------------------------------------------------------ EVAL side

    def script_load(self, body: bytes) -> str:
        """SCRIPT LOAD: compile and cache, returning the SHA1 hex (errors as Redis)."""
        return self._script(bytes(body)).sha

    def get_script(self, sha: str | bytes) -> Script | None:
        """The cached script for an EVALSHA, or None (case-insensitive SHA)."""
        return self._scripts.get(_as_sha(sha))

    def script_exists(self, *shas: str | bytes) -> list[int]:
        return [1 if _as_sha(s) in self._scripts else 0 for s in shas]

    def script_flush(self) -> None:
        """SCRIPT FLUSH: forget every script and start a fresh Lua state, as Redis does."""
        self._scripts.clear()
        self._eval_engine = LuaEngine("eval", self)

    @property
    def scripts(self) -> dict[str, Script]:
        """The script cache by SHA (for INFO and replication of EVALSHA as EVAL)."""
        return self._scripts

    def eval(
        self,
        body: bytes,
        keys: Sequence[bytes],
        args: Sequence[bytes],
        call: Call,
        *,
        resp: int = 2,
        readonly: bool = False,
        acl_check: AclCheck | None = None,
        command: list[bytes] | None = None,
    ) -> Any:
        """EVAL / EVAL_RO: compile (or reuse) ``body`` and run it."""
        script = self._script(bytes(body))
        return self.run_script(
            script, keys, args, call, resp=resp, readonly=readonly, acl_check=acl_check, command=command
        )

    def evalsha(
        self,
        sha: str | bytes,
        keys: Sequence[bytes],
        args: Sequence[bytes],
        call: Call,
        *,
        resp: int = 2,
        readonly: bool = False,
        acl_check: AclCheck | None = None,
        command: list[bytes] | None = None,
    ) -> Any:
        """EVALSHA / EVALSHA_RO; NOSCRIPT when the SHA is not cached."""
        script = self.get_script(sha)
        if script is None:
            raise RedisError(M.NOSCRIPT)
        return self.run_script(
            script, keys, args, call, resp=resp, readonly=readonly, acl_check=acl_check, command=command
        )

    def run_script(
        self,
        script: Script,
        keys: Sequence[bytes],
        args: Sequence[bytes],
        call: Call,
        *,
        resp: int = 2,
        readonly: bool = False,
        acl_check: AclCheck | None = None,
        command: list[bytes] | None = None,
    ) -> Any:
        """Run a cached script; the server may call ``check_script_run`` on its flags first."""
        flags = script.flags
        if readonly and not script.compat and "no-writes" not in flags:
            raise RedisError(M.WRITE_SCRIPT_RO_COMMAND)
        run = ScriptRun(
            kind="eval",
            name=script.sha,
            flags=flags,
            read_only=readonly or (not script.compat and "no-writes" in flags),
            allow_oom=not script.compat and "allow-oom" in flags,
            allow_cross_slot=script.compat or "allow-cross-slot-keys" in flags,
            command=command,
            call=call,
            acl_check=acl_check,
        )
        engine = self._eval_engine
        with self._running(run):
            outcome = engine.run_eval(script.fn, engine.strings(keys), engine.strings(args))
        return self._reply(outcome, run, resp)

    def _script(self, body: bytes) -> Script:
        sha = hashlib.sha1(body).hexdigest()
        script = self._scripts.get(sha)
        if script is not None:
            return script
        header = parse_script_shebang(body)
        fn, err = self._eval_engine.compile(body[header.shebang_len:], b"@user_script")
        if fn is None:
            raise RedisError(M.COMPILE_ERROR.format(_text(err)))
        script = Script(sha, body, header.flags, header.compat, fn)
        self._scripts[sha] = script
        return script

    # -------------------------------------------------------- FUNCTION side

    @property
    def libraries(self) -> dict[bytes, Library]:
        """Loaded libraries by name (FUNCTION DUMP serializes each ``code``)."""
        return self._libraries

    def get_function(self, name: bytes) -> FunctionInfo | None:
        """The function FCALL would run (names are case-insensitive)."""
        return self._functions.get(bytes(name).lower())

    def load_library(self, code: bytes, replace: bool = False, *, timeout: float | None = LOAD_TIMEOUT) -> bytes:
        """FUNCTION LOAD [REPLACE]: returns the library name; RedisError as Redis.

        ``timeout`` bounds the library body's run time (Redis: 500 ms; None
        when loading from an RDB/AOF/primary, which must always succeed).
        """
        code = bytes(code)
        lib = self._create_library(code, replace, self._libraries, timeout)
        old = self._libraries.get(lib.name)
        others = {k: v for k, v in self._functions.items() if old is None or v.library != old.name}
        for fi in lib.functions.values():
            if fi.name.lower() in others:
                raise RedisError(M.LIB_FUNCTION_EXISTS.format(_text(fi.name)))
        if old is not None:
            self._unlink(old)
        self._link(lib)
        return lib.name

    def delete_library(self, name: bytes) -> None:
        """FUNCTION DELETE."""
        lib = self._libraries.get(bytes(name))
        if lib is None:
            raise RedisError(M.LIB_NOT_FOUND)
        self._unlink(lib)

    def flush_libraries(self) -> None:
        """FUNCTION FLUSH."""
        self._libraries.clear()
        self._functions.clear()

    def restore_libraries(self, payloads: Sequence[bytes], policy: Literal["APPEND", "REPLACE", "FLUSH"] = "APPEND") -> None:
        """FUNCTION RESTORE once the server has decoded the dump into library payloads.

        All or nothing: on any error the current libraries are left untouched.
        """
        staged: dict[bytes, Library] = {}
        for code in payloads:
            lib = self._create_library(bytes(code), False, staged, None)
            names = {fi.name.lower() for lib2 in staged.values() for fi in lib2.functions.values()}
            for fi in lib.functions.values():
                if fi.name.lower() in names:
                    raise RedisError(M.LIB_FUNCTION_EXISTS.format(_text(fi.name)))
            staged[lib.name] = lib
        if policy == "FLUSH":
            self.flush_libraries()
            for lib in staged.values():
                self._link(lib)
            return
        replaced: list[Library] = []
        for lib in staged.values():
            old = self._libraries.get(lib.name)
            if old is not None:
                if policy != "REPLACE":
                    raise RedisError(M.LIB_EXISTS_RESTORE.format(_text(lib.name)))
                replaced.append(old)
        remaining = {
            k: v for k, v in self._functions.items() if all(v.library != o.name for o in replaced)
        }
        for lib in staged.values():
            for fi in lib.functions.values():
                if fi.name.lower() in remaining:
                    raise RedisError(M.LIB_FUNCTION_EXISTS.format(_text(fi.name)))
        for old in replaced:
            self._unlink(old)
        for lib in staged.values():
            self._link(lib)

    def list_libraries(self, pattern: bytes | None = None, withcode: bool = False) -> list[dict[bytes, Any]]:
        """FUNCTION LIST [WITHCODE] [LIBRARYNAME pattern] as a reply value."""
        out = []
        for lib in self._libraries.values():
            if pattern is not None and not glob_match(bytes(pattern), lib.name, nocase=True):
                continue
            entry: dict[bytes, Any] = {
                b"library_name": lib.name,
                b"engine": lib.engine,
                b"functions": [
                    {
                        b"name": fi.name,
                        b"description": fi.description,
                        b"flags": RespSet(Status(f) for f in fi.ordered_flags()),
                    }
                    for fi in lib.functions.values()
                ],
            }
            if withcode:
                entry[b"library_code"] = lib.code
            out.append(entry)
        return out

    def function_stats(self) -> dict[bytes, Any]:
        """FUNCTION STATS as a reply value (the server answers BUSY while an EVAL runs)."""
        run = self._current
        running: dict[bytes, Any] | None = None
        if run is not None:
            running = {
                b"name": run.name.encode("utf-8", "surrogateescape"),
                b"command": list(run.command or []),
                b"duration_ms": run.elapsed_ms(),
            }
        return {
            b"running_script": running,
            b"engines": {
                b"LUA": {
                    b"libraries_count": len(self._libraries),
                    b"functions_count": sum(len(lib.functions) for lib in self._libraries.values()),
                }
            },
        }

    def fcall(
        self,
        name: bytes,
        keys: Sequence[bytes],
        args: Sequence[bytes],
        call: Call,
        *,
        resp: int = 2,
        readonly: bool = False,
        acl_check: AclCheck | None = None,
        command: list[bytes] | None = None,
    ) -> Any:
        """FCALL / FCALL_RO."""
        fi = self.get_function(name)
        if fi is None:
            raise RedisError(M.FUNCTION_NOT_FOUND)
        if readonly and "no-writes" not in fi.flags:
            raise RedisError(M.WRITE_SCRIPT_RO_COMMAND)
        run = ScriptRun(
            kind="function",
            name=_text(fi.name),
            flags=fi.flags,
            read_only=readonly or "no-writes" in fi.flags,
            allow_oom="allow-oom" in fi.flags,
            allow_cross_slot="allow-cross-slot-keys" in fi.flags,
            command=command,
            call=call,
            acl_check=acl_check,
        )
        engine = self._function_engine
        with self._running(run):
            outcome = engine.run_function(fi.fn, engine.strings(keys), engine.strings(args))
        return self._reply(outcome, run, resp)

    def _create_library(
        self, code: bytes, replace: bool, existing: dict[bytes, Library], timeout: float | None
    ) -> Library:
        """``functionsCreateWithLibraryCtx`` up to (not including) linking."""
        header = parse_library_shebang(code)
        if header.engine.upper() != b"LUA":
            raise RedisError(M.LIB_ENGINE_NOT_FOUND.format(_text(header.engine)))
        if header.name in existing and not replace:
            raise RedisError(M.LIB_EXISTS.format(_text(header.name)))
        if self._current is not None or self._loading is not None:
            raise RedisError(M.CALL_NOT_ALLOWED)
        engine = self._function_engine
        fn, err = engine.compile(header.code, b"@user_function")
        if fn is None:
            raise RedisError(M.LIB_COMPILE_ERROR.format(_text(err)))
        lib = Library(header.name, code, {})
        self._loading = lib
        self._load_deadline = None if not timeout else time.monotonic() + timeout
        try:
            ok, message = engine.load_library(fn)
        finally:
            self._loading = None
            self._load_deadline = None
        if not ok:
            raise RedisError(M.LIB_REGISTER_ERROR.format(_text(message) if message is not None else "(null)"))
        if not lib.functions:
            raise RedisError(M.LIB_NO_FUNCTIONS)
        return lib

    def _link(self, lib: Library) -> None:
        self._libraries[lib.name] = lib
        for fi in lib.functions.values():
            self._functions.setdefault(fi.name.lower(), fi)

    def _unlink(self, lib: Library) -> None:
        del self._libraries[lib.name]
        for fi in lib.functions.values():
            key = fi.name.lower()
            if self._functions.get(key) is fi:
                del self._functions[key]

    # ------------------------------------------------------------- running

    def _running(self, run: ScriptRun) -> _RunScope:
        if self._current is not None or self._loading is not None:
            raise RedisError(M.CALL_NOT_ALLOWED)
        return _RunScope(self, run)

    def _reply(self, outcome: Outcome, run: ScriptRun, resp: int) -> Any:
        """Turn a run's outcome into the reply value, or raise the error reply."""
        if outcome.ok:
            reply = tokens_to_reply(outcome.tokens, resp)
            if isinstance(reply, ErrorReply):
                raise ScriptError(reply.message, count_in_stats=not outcome.ignore_stats)
            return reply
        if outcome.raw_error is not None:
            text = error_text(outcome.raw_error[:100])
            raise ScriptError(f"ERR Error running script {run.name}, {text}")
        if outcome.message is None:
            message = "ERR unknown error"
        else:
            message = error_text(outcome.message)
        if outcome.source is not None and outcome.line is not None:
            message += f" script: {run.name}, on {_text(outcome.source)}:{_text(outcome.line)}."
        raise ScriptError(_one_line(message), count_in_stats=not outcome.ignore_stats)

    # --------------------------------------------- callbacks from Lua (host)

    def lua_call(self, argv: Any, resp: int) -> tuple[int, Any]:
        """redis.call with many arguments: they come as one Lua table."""
        return self._call(list(argv.values()), resp)

    def lua_callv(self, resp: int, *argv: bytes) -> tuple[int, Any]:
        """redis.call with a few arguments (the sandbox's CALLV_MAX): each one is a
        Python argument already, with no Lua table to walk."""
        return self._call(list(argv), resp)

    def _call(self, command: list[Any], resp: int) -> tuple[int, Any]:
        run = self._current
        if run is None or run.call is None:  # pragma: no cover - Lua checks first
            return ERROR, b"-ERR redis.call/pcall can only be called inside a script invocation"
        run.resp = int(resp)
        try:
            reply = run.call(command)
        except RedisError as e:
            return ERROR, b"-" + e.message.encode("utf-8", "surrogateescape")
        except Exception as e:  # a bug in a handler must not take the script engine down
            log.exception("command %r failed inside a script", command[:1])
            return ERROR, b"-ERR " + str(e).encode("utf-8", "replace")
        try:
            status, value = reply_to_lua(reply, run.resp)
        except Exception as e:  # pragma: no cover - defensive
            log.exception("cannot convert reply of %r for Lua", command[:1])
            return ERROR, b"-ERR " + str(e).encode("utf-8", "replace")
        if status == TOKENS:
            value = self._engine_for(run).table(value)
        elif status == FLAT:
            return PLAIN, self._engine_for(run).table(value)
        return status, value

    def lua_interrupt(self) -> bytes | None:
        if self._loading is not None:
            if self._load_deadline is not None and time.monotonic() > self._load_deadline:
                return M.FUNCTION_LOAD_TIMEOUT.encode()
            return None
        run = self._current
        if run is None:
            return None
        if not run.kill_requested and self._interrupt is not None:
            try:
                if self._interrupt(run):
                    run.kill_requested = True
            except Exception:
                log.exception("script interrupt handler failed")
        if run.kill_requested:
            log.warning("Lua script killed by user with SCRIPT KILL.")
            return M.SCRIPT_KILLED.encode()
        return None

    def lua_log(self, level: int, message: bytes) -> None:
        log.log(LOG_LEVELS.get(int(level), logging.WARNING), "%s", message.decode("utf-8", "replace"))

    def lua_set_repl(self, flags: int) -> None:
        if self._current is not None:
            self._current.repl = int(flags)

    def lua_acl_check(self, argv: Any) -> bool | None:
        run = self._current
        if run is None or run.acl_check is None:
            return True
        try:
            return run.acl_check(list(argv.values()))
        except Exception:
            log.exception("ACL check failed inside a script")
            return False

    def lua_rand(self) -> float:
        return self._rand.random()

    def lua_seed(self, seed: int) -> None:
        self._rand.seed(int(seed))

    def lua_register(self, name: bytes, fn: Any, flags: Any, desc: bytes | None) -> bytes | None:
        lib = self._loading
        if lib is None:  # pragma: no cover - Lua checks first
            return b"redis.register_function can only be called on FUNCTION LOAD command"
        if not valid_name(name):
            return M.LIB_BAD_NAME.removeprefix("ERR ").encode()
        if name in lib.functions:
            return b"Function already exists in the library"
        lib.functions[name] = FunctionInfo(
            name=bytes(name),
            library=lib.name,
            flags=frozenset(f.decode() for f in flags.values()),
            description=desc,
            fn=fn,
        )
        return None

    def _engine_for(self, run: ScriptRun) -> LuaEngine:
        return self._eval_engine if run.kind == "eval" else self._function_engine

    def memory(self) -> dict[str, int]:
        """Bytes held by the two Lua states (INFO ``used_memory_lua`` / ``used_memory_vm_functions``)."""
        return {
            "eval": self._eval_engine.memory(),
            "functions": self._function_engine.memory(),
        }


def _one_line(text: str) -> str:
    return text.replace("\r", " ").replace("\n", " ")


class _RunScope:
    """Marks a script as running for the duration of a ``with`` block."""

    def __init__(self, runtime: ScriptRuntime, run: ScriptRun) -> None:
        self.runtime = runtime
        self.run = run

    def __enter__(self) -> ScriptRun:
        self.runtime._current = self.run
        return self.run

    def __exit__(self, *exc: object) -> None:
        self.runtime._current = None

