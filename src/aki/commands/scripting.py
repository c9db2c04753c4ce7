"""EVAL/EVALSHA/SCRIPT and FUNCTION/FCALL (eval.c, functions.c, script.c) over aki.scripting.

The Lua engine lives in ``aki.scripting`` (one ``ScriptRuntime`` per server,
made lazily by ``runtime()``: the RESP server and the embedded library both get
it on first use, with the function libraries stored in the file loaded).

Invariants:

* One road. ``redis.call`` resolves the command and runs it with
  ``core.dispatch.call`` on the server's "lua" client (same db and user as the
  caller, RESP from ``redis.setresp``, blocking denied), so WATCH, tracking,
  keyspace events and propagation happen exactly as for a client command.
* Atomic. A script runs inside the current batch (one COMMIT) on the event-loop
  thread: nothing else touches the keyspace while it runs. What it writes is
  propagated as effects, wrapped in MULTI/EXEC when more than one command (as
  EXEC does); EVAL itself is never propagated (it has no ``write`` flag).
* Busy scripts. Past ``busy-reply-threshold`` the Lua hook (every 100000
  instructions) serves the *other* connections itself, as Redis's
  ``processEventsWhileBlocked``: it reads their sockets (non-blocking) and feeds
  their parsers; a guard rejects every command without the ``allow_busy`` flag
  with ``-BUSY``, so only SCRIPT KILL, FUNCTION KILL/STATS, SHUTDOWN NOSAVE and
  the MULTI/WATCH/AUTH family run — none of them touches keys. Their replies are
  written at once (they do not depend on the open batch). The caller's own
  connection is not read (protectClient), nor are clients blocked or paused.
  New connections are accepted from the hook too (served on a small
  synchronous transport) and handed to the event loop when the script ends.
  SHUTDOWN NOSAVE kills the script and rolls the batch back, so nothing the
  script wrote survives, as nothing survives a Redis SHUTDOWN NOSAVE.
* Libraries persist as meta rows ``function:<name>`` (the FUNCTION LOAD
  source, the format storage/bulk.py and the RDB/AOF writers read), rewritten
  in the same transaction as the FUNCTION command that changed them.
"""

from __future__ import annotations

import logging
import os
import select
import socket
import struct
from collections.abc import Callable
from typing import Any

from aki import errors
from aki.commands.common import to_int
from aki.commands.connection import help_reply
from aki.core.dispatch import READONLY_REPLICA, _count_error, call, rewrite
from aki.core.registry import COMMANDS, Command, command, table_entry
from aki.core.session import Client
from aki.core.state import AofOnly, ReplOnly
from aki.errors import RedisError
from aki.rdb.crc64 import crc64
from aki.replication.primary import enough_good_replicas
from aki.resp.types import OK, ErrorReply
from aki.scripting import (
    REPL_ALL,
    REPL_AOF,
    REPL_NONE,
    ScriptError,
    ScriptRun,
    ScriptRuntime,
    check_script_run,
)
from aki.scripting import messages as M
from aki.storage.bulk import FUNCTION_PREFIX
from aki.storage.keyspace import now_ms

log = logging.getLogger("aki.scripting")

# CMD_MAY_REPLICATE is hidden from COMMAND INFO, so the table lacks it (commands.c).
_MAY_REPLICATE = frozenset({"pfcount", "publish", "spublish"})
_RDB_VERSION = 10  # what FUNCTION DUMP stamps and RESTORE accepts (Redis 7.0)
_OP_FUNCTION_PRE_GA, _OP_FUNCTION2 = 246, 245


# -- the runtime and the stored libraries ----------------------------------------------------


def runtime(server: Any) -> ScriptRuntime:
    """The server's script runtime, created on first use with the stored libraries loaded."""
    rt = server.extensions.get("scripting")
    if rt is None:
        rt = ScriptRuntime()
        server.extensions["scripting"] = rt
        rt.set_interrupt_handler(lambda run: _interrupt(server, run))
        reload_functions(server)
    return rt


def reload_functions(server: Any) -> None:
    """Replace the runtime's libraries by those stored in the file (after a bulk import)."""
    rt = server.extensions.get("scripting")
    if rt is None:
        return
    rt.flush_libraries()
    rows = server.engine.cur.execute(
        "SELECT name, value FROM meta WHERE name >= 'function:' AND name < 'function;' ORDER BY name"
    ).fetchall()
    for name, code in rows:
        try:
            rt.load_library(bytes(code), timeout=None)
        except RedisError as exc:
            log.warning("stored function library %s not loaded: %s", name, exc.message)


def _store_functions(server: Any, rt: ScriptRuntime) -> None:
    """Make the meta rows match the runtime's libraries (inside the open batch)."""
    cur = server.engine.cur
    cur.execute("DELETE FROM meta WHERE name >= 'function:' AND name < 'function;'")
    for name, lib in rt.libraries.items():
        cur.execute("INSERT INTO meta (name, value) VALUES (?, ?)",
                    (FUNCTION_PREFIX + name.decode("utf-8", "surrogateescape"), lib.code))
    server.dirty += 1


def _changed_functions(c: Client, rt: ScriptRuntime, argv: list[bytes]) -> None:
    """A FUNCTION command changed the libraries: store them and propagate the command."""
    _store_functions(c.server, rt)
    rewrite(c.server, c.db, argv)


# -- one script run ---------------------------------------------------------------------------


class _Run:
    """The server side of one EVAL/FCALL: its lua client, write state and busy state."""

    def __init__(self, c: Client, rt: ScriptRuntime, is_eval: bool) -> None:
        server = c.server
        self.server = server
        self.rt = rt
        self.caller = c
        self.is_eval = is_eval
        self.dirty = False  # SCRIPT_WRITE_DIRTY: a write command ran (unkillable)
        self.timedout = False
        self.shutdown = False
        self.saved_guard: Any = None
        # connections accepted while busy, handed to the event loop when the script ends
        self.accepted: list[_BusyTransport] = []
        lua = server.extensions.get("lua_client")
        if lua is None:
            lua = Client(server, addr="", kind="lua")
            lua.deny_blocking = True
            server.extensions["lua_client"] = lua
        lua.db = c.db
        lua.user = c.user
        lua.authenticated = True
        lua.resp = 2
        self.lua = lua

    def call(self, argv: list[bytes]) -> Any:
        """``redis.call``: scriptCall's checks, then the command on the one road."""
        server = self.server
        run = self.rt.current
        assert run is not None
        argv = [a if type(a) is bytes else bytes(a) for a in argv]
        cmd = _lookup(argv)
        if cmd is None:
            _reject(server, None, _missing_command_error(argv))
        assert cmd is not None
        arity = cmd.arity
        if (arity > 0 and arity != len(argv)) or len(argv) < -arity:
            _reject(server, cmd, M.CALL_WRONG_ARITY)
        if cmd.noscript and not server.script_disable_deny:
            _reject(server, cmd, M.CALL_NOT_ALLOWED)
        if not cmd.stale and not server.config.replica_serve_stale_data:
            # scriptVerifyAllowStale: an allow-stale script on a replica whose link is down
            link = server.extensions.get("master_link")
            if link is not None and not link.connected():
                _reject(server, cmd, M.CALL_STALE)
        acl = server.extensions.get("acl")
        if acl is not None and "guard" in server.extensions:
            refused = acl.script_check(self.lua, self.caller, cmd, argv)
            if refused is not None:
                _reject(server, cmd, refused)
        if run.read_only and (cmd.is_write or cmd.fullname in _MAY_REPLICATE):
            _reject(server, cmd, M.CALL_WRITE_IN_READONLY)
        if cmd.is_write:
            if not self.dirty and "read_only_replica" in server.extensions \
                    and self.caller.kind not in ("master", "aof"):
                _reject(server, cmd, READONLY_REPLICA)  # a read-only replica, before any write
            if not self.dirty and not enough_good_replicas(server):
                _reject(server, cmd, M.RUN_NOREPLICAS)  # scriptVerifyWriteCommandAllow
            self.dirty = True
        lua = self.lua
        lua.resp = run.resp
        tx = server.tx_propagation
        mark = len(tx) if tx is not None else 0
        reply = call(lua, cmd, argv)
        if run.repl != REPL_ALL and tx is not None:
            # redis.set_repl(): REPL_NONE, the effects go nowhere; REPL_AOF and
            # REPL_REPLICA (REPL_SLAVE), to that target only
            if run.repl == REPL_NONE:
                del tx[mark:]
            else:
                only = AofOnly if run.repl == REPL_AOF else ReplOnly
                tx[mark:] = [(db, only(args)) for db, args in tx[mark:]]
        return reply

    def acl_check(self, argv: list[bytes]) -> bool | None:
        """``redis.acl_check_cmd``: None for an unknown command (the runtime raises)."""
        args = [a if type(a) is bytes else bytes(a) for a in argv]
        cmd = _lookup(args)
        if cmd is None:
            return None
        acl = self.server.extensions.get("acl")
        return True if acl is None else acl.script_allowed(self.caller.user, cmd, args)

    def busy_reply(self) -> str:
        return M.BUSY_EVAL if self.is_eval else M.BUSY_FUNCTION


def _lookup(argv: list[bytes]) -> Command | None:
    """lookupCommand: a container with a bad subcommand is unknown, alone it is itself."""
    if not argv:
        return None
    cmd = COMMANDS.get(argv[0]) or COMMANDS.get(argv[0].lower())
    if cmd is None:
        return None
    if cmd.subcommands and len(argv) >= 2:
        sub = cmd.subcommands.get(argv[1].lower())
        return sub if sub is not None and sub.handler is not None else None
    if cmd.handler is None and not cmd.subcommands:
        return None
    return cmd


def _missing_command_error(argv: list[bytes]) -> str:
    """scriptCall's error for a command aki does not implement: Redis 7.0 knows it (its
    table says arity and ``noscript``), so it answers as Redis would before running it."""
    name = argv[0].lower().decode("utf-8", "surrogateescape")
    info = table_entry(name).get("info")
    if info and info[9] and len(argv) >= 2:
        full = f"{name}|{argv[1].lower().decode('utf-8', 'surrogateescape')}"
        info = next((sub for sub in info[9] if sub[0] == full), None)
    if not info:
        return M.CALL_UNKNOWN_COMMAND
    arity, flags = info[1], {f["v"] for f in info[2]["v"]}
    if (arity > 0 and arity != len(argv)) or len(argv) < -arity:
        return M.CALL_WRONG_ARITY
    if "noscript" in flags:
        return M.CALL_NOT_ALLOWED
    return M.CALL_UNKNOWN_COMMAND


def _reject(server: Any, cmd: Command | None, message: str) -> None:
    """A command refused inside a script: counted as Redis's afterErrorReply does."""
    _count_error(server, message)
    if cmd is not None:
        cmd.rejected_calls += 1
    raise RedisError(message)


def _run(c: Client, argv: list[bytes], is_eval: bool, body: Callable[[_Run], Any]) -> Any:
    """Run a script with effects propagation and busy-mode cleanup around it."""
    server = c.server
    rt = runtime(server)
    state = _Run(c, rt, is_eval)
    _settle_batch(c)
    server.extensions["script_run"] = state
    outer = server.tx_propagation
    if outer is None:
        server.tx_propagation = []
    ks = server.ks
    freeze = ks.clock is None  # a script sees the time it started at (keys expire by it)
    if freeze:
        ks.clock = now_ms()
    try:
        return body(state)
    except ScriptError as exc:
        if exc.count_in_stats:
            raise
        # The failing command inside already counted the error (ignore_error_stats_update).
        cmd = _lookup(argv)
        if cmd is not None:
            cmd.failed_calls += 1
        return ErrorReply(exc.message)
    finally:
        server.extensions.pop("script_run", None)
        if state.timedout:
            _leave_busy(state)
        if freeze:
            ks.clock = None
        if outer is None:
            buffered = server.tx_propagation or []
            server.tx_propagation = None
            server.propagate_wrapped(buffered)


def _settle_batch(c: Client) -> None:
    """Commit the open batch first when other clients wait for replies held in it.

    A held reply would otherwise stay unsent for the whole script, and a client
    waiting for it could never send SCRIPT KILL (Redis writes pending replies
    while a script is busy). The batch holds only whole commands here (a
    top-level EVAL, not one inside EXEC), so committing it keeps atomicity.
    """
    server = c.server
    app = server.extensions.get("app")
    if app is None or server.call_depth != 1 or server.tx_propagation is not None:
        return
    held = app.committer.held
    if held and server.engine.in_tx and any(getattr(h, "client", None) is not c for h in held):
        app.committer.flush()


def _numkeys(argv: list[bytes], bad: str = errors.NOT_INTEGER) -> int:
    n = to_int(argv[2])
    if n is None:
        raise RedisError(bad)
    if n > len(argv) - 3:
        raise RedisError(M.NUMKEYS_TOO_MANY)
    if n < 0:
        raise RedisError(M.NUMKEYS_NEGATIVE)
    return n


def _script_keys(argv: list[bytes]) -> list[int]:
    """Key positions of EVAL/FCALL-shaped commands (COMMAND GETKEYS)."""
    n = to_int(argv[2]) if len(argv) > 2 else None
    if n is None or n < 0 or n > len(argv) - 3:
        return []
    return list(range(3, 3 + n))


# -- EVAL family ------------------------------------------------------------------------------


def _eval(c: Client, argv: list[bytes], sha: bool, ro: bool) -> Any:
    rt = runtime(c.server)
    if sha and len(argv[1]) != 40:
        raise RedisError(M.NOSCRIPT)
    n = _numkeys(argv)
    if sha:
        script = rt.get_script(argv[1])
        if script is None:
            raise RedisError(M.NOSCRIPT)
    else:
        script = rt.get_script(rt.script_load(argv[1]))
        assert script is not None
    refused = check_script_run(script.flags, script.compat, ro_command=ro,
                               not_enough_replicas=not enough_good_replicas(c.server))
    if refused is not None:
        raise RedisError(refused)
    keys, args = argv[3:3 + n], argv[3 + n:]
    return _run(c, argv, True, lambda st: rt.run_script(
        script, keys, args, st.call, resp=c.resp, readonly=ro, acl_check=st.acl_check, command=argv))


@command("eval", key_finder=_script_keys)
def eval_(c, argv):
    return _eval(c, argv, False, False)


@command("eval_ro", key_finder=_script_keys)
def eval_ro(c, argv):
    return _eval(c, argv, False, True)


@command("evalsha", key_finder=_script_keys)
def evalsha(c, argv):
    return _eval(c, argv, True, False)


@command("evalsha_ro", key_finder=_script_keys)
def evalsha_ro(c, argv):
    return _eval(c, argv, True, True)


_SCRIPT_HELP = [
    "DEBUG (YES|SYNC|NO)",
    "    Set the debug mode for subsequent scripts executed.",
    "EXISTS <sha1> [<sha1> ...]",
    "    Return information about the existence of the scripts in the script cache.",
    "FLUSH [ASYNC|SYNC]",
    "    Flush the Lua scripts cache. Very dangerous on replicas.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the scripts cache.",
    "    * SYNC: Synchronously flush the scripts cache.",
    "KILL",
    "    Kill the currently executing Lua script.",
    "LOAD <script>",
    "    Load a script into the scripts cache without executing it.",
]


def _subcommand_syntax(argv: list[bytes]) -> RedisError:
    """addReplySubcommandSyntaxError."""
    sub = argv[1].decode("utf-8", "surrogateescape")[:128]
    return RedisError(f"ERR unknown subcommand or wrong number of arguments for '{sub}'. "
                      f"Try {argv[0].decode('utf-8', 'surrogateescape').upper()} HELP.")


@command("script|help")
def script_help(c, argv):
    return help_reply(argv[0], _SCRIPT_HELP)


@command("script|load")
def script_load(c, argv):
    return runtime(c.server).script_load(argv[2]).encode()


@command("script|exists")
def script_exists(c, argv):
    return runtime(c.server).script_exists(*argv[2:])


@command("script|flush")
def script_flush(c, argv):
    if len(argv) == 3 and argv[2].lower() not in (b"sync", b"async"):
        raise RedisError("ERR SCRIPT FLUSH only support SYNC|ASYNC option")
    if len(argv) > 3:
        raise RedisError("ERR SCRIPT FLUSH only support SYNC|ASYNC option")
    runtime(c.server).script_flush()
    return OK


def _kill(c: Client, is_eval: bool) -> Any:
    """scriptKill: only a script that wrote nothing can be stopped."""
    state: _Run | None = c.server.extensions.get("script_run")
    rt = runtime(c.server)
    if state is None or rt.current is None:
        raise RedisError(M.NOTBUSY)
    if state.caller.kind in ("master", "aof"):
        raise RedisError(M.UNKILLABLE_REPLICATION)
    if state.dirty:
        raise RedisError(M.UNKILLABLE_WROTE)
    if is_eval and not state.is_eval:
        raise RedisError(M.BUSY_FUNCTION)
    if not is_eval and state.is_eval:
        raise RedisError(M.BUSY_EVAL)
    rt.kill()
    return OK


@command("script|kill")
def script_kill(c, argv):
    return _kill(c, True)


# -- FUNCTION family --------------------------------------------------------------------------


def _fcall(c: Client, argv: list[bytes], ro: bool) -> Any:
    rt = runtime(c.server)
    fi = rt.get_function(argv[1])
    if fi is None:
        raise RedisError(M.FUNCTION_NOT_FOUND)
    n = _numkeys(argv, M.FUNCTION_BAD_NUMKEYS)
    refused = check_script_run(fi.flags, False, ro_command=ro,
                               not_enough_replicas=not enough_good_replicas(c.server))
    if refused is not None:
        raise RedisError(refused)
    keys, args = argv[3:3 + n], argv[3 + n:]
    return _run(c, argv, False, lambda st: rt.fcall(
        argv[1], keys, args, st.call, resp=c.resp, readonly=ro, acl_check=st.acl_check, command=argv))


@command("fcall", key_finder=_script_keys)
def fcall(c, argv):
    return _fcall(c, argv, False)


@command("fcall_ro", key_finder=_script_keys)
def fcall_ro(c, argv):
    return _fcall(c, argv, True)


@command("function|load")
def function_load(c, argv):
    replace = False
    pos = 2
    while pos < len(argv) - 1:
        opt = argv[pos]
        pos += 1
        if opt.lower() == b"replace":
            replace = True
            continue
        raise RedisError(f"ERR Unknown option given: {opt.decode('utf-8', 'surrogateescape')}")
    if pos >= len(argv):
        raise RedisError(M.FUNCTION_CODE_MISSING)
    rt = runtime(c.server)
    timeout = None if c.kind in ("master", "aof") else 0.5
    name = rt.load_library(argv[pos], replace, timeout=timeout)
    _changed_functions(c, rt, argv)
    return name


@command("function|delete")
def function_delete(c, argv):
    rt = runtime(c.server)
    rt.delete_library(argv[2])
    _changed_functions(c, rt, argv)
    return OK


@command("function|flush")
def function_flush(c, argv):
    if len(argv) > 3:
        raise _subcommand_syntax(argv)
    if len(argv) == 3 and argv[2].lower() not in (b"sync", b"async"):
        raise RedisError(M.FUNCTION_FLUSH_OPTION)
    rt = runtime(c.server)
    rt.flush_libraries()
    _changed_functions(c, rt, argv)
    return OK


@command("function|list")
def function_list(c, argv):
    withcode = False
    pattern: bytes | None = None
    i = 2
    while i < len(argv):
        arg = argv[i]
        if not withcode and arg.lower() == b"withcode":
            withcode = True
        elif pattern is None and arg.lower() == b"libraryname":
            if i >= len(argv) - 1:
                raise RedisError(M.FUNCTION_LIST_NO_NAME)
            i += 1
            pattern = argv[i]
        else:
            raise RedisError(f"ERR Unknown argument {arg.decode('utf-8', 'surrogateescape')}")
        i += 1
    return runtime(c.server).list_libraries(pattern, withcode)


def dump_functions(codes: list[bytes], compress: bool) -> bytes:
    """FUNCTION DUMP's payload: FUNCTION2 + code per library, RDB version, CRC64 (LE)."""
    from aki.rdb.writer import _raw_string

    body = b"".join(bytes((_OP_FUNCTION2,)) + _raw_string(code, compress) for code in codes)
    body += struct.pack("<H", _RDB_VERSION)
    return body + struct.pack("<Q", crc64(body))


def load_functions(payload: bytes) -> list[bytes]:
    """The library sources of a FUNCTION DUMP payload; RedisError as FUNCTION RESTORE words it."""
    from aki.rdb.errors import RDBError
    from aki.rdb.reader import _Input, _no_more, _old_function

    payload = bytes(payload)
    if len(payload) < 10:
        raise RedisError(M.FUNCTION_RESTORE_PAYLOAD)
    ver = payload[-10] | (payload[-9] << 8)
    if ver > _RDB_VERSION or crc64(payload[:-8]) != struct.unpack_from("<Q", payload, len(payload) - 8)[0]:
        raise RedisError(M.FUNCTION_RESTORE_PAYLOAD)
    body = payload[:-10]
    inp = _Input(_no_more, body, track_crc=False)
    codes: list[bytes] = []
    while inp.pos < len(body):
        op = body[inp.pos]
        inp.pos += 1
        if op not in (_OP_FUNCTION2, _OP_FUNCTION_PRE_GA):
            raise RedisError("ERR given type is not a function")
        try:
            codes.append(inp.string() if op == _OP_FUNCTION2 else _old_function(inp))
        except (RDBError, ValueError, IndexError, struct.error):
            raise RedisError("ERR Failed loading library payload") from None
    return codes


@command("function|dump")
def function_dump(c, argv):
    rt = runtime(c.server)
    return dump_functions([lib.code for lib in rt.libraries.values()], c.server.config.rdbcompression)


@command("function|restore")
def function_restore(c, argv):
    if len(argv) > 4:
        raise _subcommand_syntax(argv)
    policy = "APPEND"
    if len(argv) == 4:
        policy = argv[3].decode("utf-8", "surrogateescape").upper()
        if policy not in ("APPEND", "REPLACE", "FLUSH"):
            raise RedisError(M.FUNCTION_RESTORE_POLICY)
    codes = load_functions(argv[2])
    rt = runtime(c.server)
    rt.restore_libraries(codes, policy)  # type: ignore[arg-type]
    _changed_functions(c, rt, argv)
    return OK


@command("function|stats")
def function_stats(c, argv):
    state: _Run | None = c.server.extensions.get("script_run")
    if state is not None and state.is_eval:
        raise RedisError(M.BUSY_EVAL)
    return runtime(c.server).function_stats()


@command("function|kill")
def function_kill(c, argv):
    return _kill(c, False)


_FUNCTION_HELP = [
    "LOAD [REPLACE] <FUNCTION CODE>",
    "    Create a new library with the given library name and code.",
    "DELETE <LIBRARY NAME>",
    "    Delete the given library.",
    "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
    "    Return general information on all the libraries:",
    "    * Library name",
    "    * The engine used to run the Library",
    "    * Library description",
    "    * Functions list",
    "    * Library code (if WITHCODE is given)",
    "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
    "STATS",
    "    Return information about the current function running:",
    "    * Function name",
    "    * Command used to run the function",
    "    * Duration in MS that the function is running",
    "    If no function is running, return nil",
    "    In addition, returns a list of available engines.",
    "KILL",
    "    Kill the current running function.",
    "FLUSH [ASYNC|SYNC]",
    "    Delete all the libraries.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the libraries.",
    "    * SYNC: Synchronously flush the libraries.",
    "DUMP",
    "    Return a serialized payload representing the current libraries, can be restored using "
    "FUNCTION RESTORE command",
    "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
    "    Restore the libraries represented by the given payload, it is possible to give a restore "
    "policy to",
    "    control how to handle existing libraries (default APPEND):",
    "    * FLUSH: delete all existing libraries.",
    "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
    "    * REPLACE: appends the restored libraries to the existing libraries, On collision, "
    "replace the old",
    "      libraries with the new libraries (notice that even on this option there is a chance "
    "of failure",
    "      in case of functions name collision with another library).",
]


@command("function|help")
def function_help(c, argv):
    return help_reply(argv[0], _FUNCTION_HELP)


# -- busy scripts: serving the other clients from the Lua hook ------------------------------


def _interrupt(server: Any, run: ScriptRun) -> bool:
    """The runtime's hook (every 100000 Lua instructions); True kills the script."""
    state: _Run | None = server.extensions.get("script_run")
    if state is None:
        return False
    if not state.timedout:
        elapsed = run.elapsed_ms()
        if elapsed < server.config.busy_reply_threshold:
            return False
        log.warning(
            "Slow script detected: still in execution after %d milliseconds. You can try killing "
            "the script using the %s command. Script name is: %s.",
            elapsed, "SCRIPT KILL" if state.is_eval else "FUNCTION KILL", run.name)
        _enter_busy(state)
    _serve_others(state)
    return state.shutdown


def _enter_busy(state: _Run) -> None:
    """Past the threshold: every command without ``allow_busy`` is answered with -BUSY."""
    server = state.server
    state.timedout = True
    state.saved_guard = server.extensions.get("guard")
    previous = state.saved_guard
    busy = state.busy_reply()

    def guard(client: Client, cmd: Command, argv: list[bytes]) -> ErrorReply | None:
        if previous is not None:  # the ACL check comes first in processCommand
            refused = previous(client, cmd, argv)
            if refused is not None:
                return refused
        allowed = cmd.allow_busy
        if allowed and cmd.name == "shutdown":
            # SHUTDOWN is allowed only with NOSAVE while a script is timed out.
            allowed = any(a.lower() == b"nosave" for a in argv[1:])
        if not allowed:
            return ErrorReply(busy)
        return None

    server.extensions["guard"] = guard


def _leave_busy(state: _Run) -> None:
    server = state.server
    app = server.extensions.get("app")
    for transport in state.accepted:
        transport.hand_over(app)
    if state.saved_guard is None:
        server.extensions.pop("guard", None)
    else:
        server.extensions["guard"] = state.saved_guard
    if state.shutdown:
        server.batch_failed = True  # SHUTDOWN NOSAVE: the script's writes are not kept


def _serve_others(state: _Run) -> None:
    """processEventsWhileBlocked: read the other connections and answer them now."""
    from aki.server.connection import RespConnection

    server = state.server
    app = server.extensions.get("app")
    if app is None:  # the embedded library: no network to serve
        return
    _accept_new(state, app)
    conns: dict[int, RespConnection] = {}
    for client in list(server.clients.values()):
        if client is state.caller or client.fd < 0:
            continue
        conn = getattr(client.write_out, "__self__", None)
        if not isinstance(conn, RespConnection) or conn.closing:
            continue
        if conn.suspended is not None or conn.pending:
            continue  # blocked or paused clients keep their input for later, as in Redis
        if conn.transport is not None and conn.transport.get_extra_info("sslcontext") is not None:
            # TLS: the socket holds encrypted bytes only uvloop's TLS layer may read, so
            # these clients wait for the script's end (Redis would serve them now)
            continue
        conns[client.fd] = conn
    if not conns:
        return
    poller = select.poll()
    for fd in conns:
        poller.register(fd, select.POLLIN)
    for fd, _ in poller.poll(0):
        conn = conns[fd]
        try:
            data = os.read(fd, 65536)
        except OSError:
            continue
        if not data:
            continue  # EOF: the event loop sees it again once the script returns
        was_holding = conn.holding
        conn.data_received(data)
        if conn.holding and not was_holding:
            # Nothing these commands return depends on the open batch: reply now.
            try:
                app.committer.held.remove(conn)
            except ValueError:
                pass
            conn.holding = False
            conn._write_out()
        if app.stopping.is_set():
            state.shutdown = True
            return


def _accept_new(state: _Run, app: Any) -> None:
    """Accept pending connections on the RESP listeners (Redis keeps accepting while busy).

    Known gap: a connection uvloop has already accepted, but whose protocol it has not
    yet created when the script turns busy, is neither here nor served by the loop: it
    waits for the script to end (Redis would serve it, e.g. its SCRIPT KILL)."""
    for srv in app.listeners:
        for pseudo in srv.sockets:
            try:
                listener = socket.socket(pseudo.family, pseudo.type, 0, os.dup(pseudo.fileno()))
            except OSError:
                continue
            try:
                listener.setblocking(False)
                while True:
                    try:
                        sock, _ = listener.accept()
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError:
                        break
                    sock.setblocking(False)
                    transport = _BusyTransport(sock)
                    conn = app.protocol()
                    transport.conn = conn
                    conn.connection_made(transport)
                    state.accepted.append(transport)
            finally:
                listener.close()  # the duplicate descriptor only


class _BusyTransport:
    """The transport of a connection accepted while a script is busy.

    Writes go straight to the socket (what does not fit is kept and written by the
    real transport later); ``hand_over`` gives the socket to the event loop with a
    protocol that forwards to the same RespConnection, so its Client lives on.
    """

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.conn: Any = None
        self.pending = b""
        self.closed = False

    def write(self, data: bytes) -> None:
        if self.pending:
            self.pending += data
            return
        try:
            sent = self.sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            self.closed = True
            return
        self.pending = data[sent:]

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        try:
            if name == "peername":
                return self.sock.getpeername()
            if name == "sockname":
                return self.sock.getsockname()
        except OSError:
            return default
        if name == "socket":
            return self.sock
        return default

    def get_write_buffer_size(self) -> int:
        return len(self.pending)

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass  # the real transport gets them in _Forward

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True

    def hand_over(self, app: Any) -> None:
        conn = self.conn
        if self.closed:
            self.sock.close()
            conn.connection_lost(None)
            return
        pending = self.pending
        app.loop.create_task(app.loop.connect_accepted_socket(lambda: _Forward(conn, pending), self.sock))


class _Forward:
    """Protocol glue: the loop's transport for a connection first served while busy."""

    def __init__(self, conn: Any, pending: bytes) -> None:
        self.conn = conn
        self.pending = pending

    def connection_made(self, transport: Any) -> None:
        conn = self.conn
        conn.transport = transport
        transport.set_write_buffer_limits(high=0)  # as RespConnection.connection_made
        if self.pending:
            transport.write(self.pending)
        if conn.closing and conn.client.close_after_reply:
            transport.close()

    def data_received(self, data: bytes) -> None:
        self.conn.data_received(data)

    def eof_received(self) -> bool | None:
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.conn.connection_lost(exc)

    def pause_writing(self) -> None:
        self.conn.pause_writing()

    def resume_writing(self) -> None:
        self.conn.resume_writing()
