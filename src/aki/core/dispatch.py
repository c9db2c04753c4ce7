"""``execute()``: the one road every command travels, from any face.

It alone: looks the command up in the registry, checks arity, auth, MULTI
queueing and the pub/sub context; opens the batch transaction; runs the
handler; and then, for what the command changed, calls the hooks (WATCH,
tracking, blocked clients), propagates the write (AOF, replicas, MONITOR) and
delivers keyspace events. Handlers only compute and return values.

Failure model: a ``RedisError`` is a normal reply. Any other exception inside a
handler means the command may be half-applied, so the whole batch is marked
failed: the committer rolls it back and every held reply of the batch becomes
an error (none of them had been sent, so nothing acknowledged is lost).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from aki import errors
from aki.core.blocking import Suspend
from aki.core.registry import COMMANDS, Command
from aki.errors import RedisError
from aki.resp.types import QUEUED, ErrorReply
from aki.storage.keyspace import UNCACHED

if TYPE_CHECKING:
    from aki.core.session import Client
    from aki.core.state import Server

log = logging.getLogger("aki.dispatch")

_perf = time.perf_counter

# Commands a RESP2 client may send while subscribed.
_PUBSUB_ALLOWED = {b"ping", b"subscribe", b"ssubscribe", b"unsubscribe", b"sunsubscribe",
                   b"psubscribe", b"punsubscribe", b"quit", b"reset"}
# A write refused by a read-only replica (processCommand's shared.roslaveerr).
READONLY_REPLICA = "READONLY You can't write against a read only replica."
# Commands that run immediately even inside MULTI.
_MULTI_IMMEDIATE = {b"exec", b"discard", b"multi", b"watch", b"quit", b"reset"}


class BatchFailed(Exception):
    """Raised by the committer's check when a handler crashed inside this batch."""


_BY_SPELLING: dict[bytes, Command] = {}
# The spellings of plain commands (a handler, no subcommands, not protected) seen so far:
# execute() takes its short road for these after one dict hit.
_PLAIN: dict[bytes, Command] = {}
# Fed to MONITOR before they run (eval.c, functions.c), the rest after.
_MONITOR_FIRST = {"eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro"}


def forget_spellings() -> None:
    """Drop the name caches after the table changed (rename-command at start-up)."""
    _BY_SPELLING.clear()
    _PLAIN.clear()


def resolve(client: Client, argv: list[bytes], count: bool = False) -> Command | ErrorReply:
    """Find the (sub)command for ``argv`` and check its arity, as processCommand does.
    ``count``: a wrong arity is a rejected call of that command (INFO commandstats)."""
    name = argv[0]
    cmd = _BY_SPELLING.get(name)
    if cmd is None:
        cmd = COMMANDS.get(name.lower())
        if cmd is not None and len(_BY_SPELLING) < 4096:
            _BY_SPELLING[name] = cmd  # "GET", "get", "Get": one dict hit next time
            if cmd.handler is not None and not cmd.subcommands and cmd.protected is None:
                _PLAIN[name] = cmd
    if cmd is None or (cmd.handler is None and not cmd.subcommands):
        return ErrorReply(errors.unknown_command(name, argv[1:]).message)
    if cmd.subcommands and len(argv) >= 2:
        sub = cmd.subcommands.get(argv[1].lower())
        if sub is None or sub.handler is None:
            return ErrorReply(
                errors.unknown_subcommand(cmd.name, argv[1].decode("utf-8", "surrogateescape")).message
            )
        cmd = sub
    arity = cmd.arity
    n = len(argv)
    if (arity > 0 and n != arity) or n < -arity:
        if count:
            cmd.rejected_calls += 1
        return ErrorReply(f"ERR wrong number of arguments for '{cmd.fullname}' command")
    return cmd


def execute(client: Client, argv: list[bytes]) -> object:
    """Run one request from ``client`` and return its reply value."""
    cmd = _PLAIN.get(argv[0])
    if cmd is not None and client.authenticated and not client.in_multi:
        # The common case, checked in one pass: a known plain command from an
        # authenticated client outside MULTI. Anything else takes the full road below.
        arity = cmd.arity
        n = len(argv)
        if (n == arity or n >= -arity > 0) and not (client.resp == 2 and (
                client.channels or client.patterns or client.shard_channels)):
            server = client.server
            if "guard" not in server.extensions:
                if server.state_guards:  # NOREPLICAS, READONLY, MASTERDOWN
                    for state_guard in server.state_guards:
                        refused = state_guard(client, cmd, argv)
                        if refused is not None:
                            return _reject(client, cmd, refused)
                read = cmd.cached_read
                if read is not None and not server.monitors and not server.after_read \
                        and not client.no_touch:
                    # A read answered without a batch transaction (the row cache, or
                    # one autocommit SELECT): nothing to propagate or notify, but
                    # SLOWLOG and LATENCY still see it, as they see every GET in Redis.
                    start = _perf()
                    reply = read(client, argv)
                    if reply is not UNCACHED:
                        usec = int((_perf() - start) * 1_000_000)
                        cmd.calls += 1
                        cmd.usec += usec
                        if server.latency_tracking:
                            lat = cmd.latency  # a plain dict: get + store beats a
                            lat[usec] = lat.get(usec, 0) + 1  # defaultdict's += here
                        client.last_cmd = cmd.fullname
                        if usec >= server.slow_at:
                            _slow(server, client, cmd, argv, usec)
                        return reply
                return call(client, cmd, argv)
    server = client.server
    cmd = resolve(client, argv, count=True)
    if type(cmd) is ErrorReply:
        return _reject(client, None, cmd)
    assert isinstance(cmd, Command)
    if cmd.protected is not None and not protected_allowed(
            client, getattr(server.config, cmd.protected)):
        what = "DEBUG" if cmd.protected == "enable_debug_command" else "MODULE"
        option = cmd.protected.replace("_", "-")
        return _reject(client, cmd, ErrorReply(
            f'ERR {what} command not allowed. If the {option} option is set to "local", you '
            "can run it from a local connection, otherwise you need to set this option in "
            "the configuration file, and then restart the server."))
    if not client.authenticated and not cmd.noauth:
        return _reject(client, cmd, ErrorReply(errors.NOAUTH))
    if client.in_multi:
        if cmd.no_multi and cmd.fullname not in ("exec", "discard", "multi", "quit", "reset"):
            return _reject(client, cmd, ErrorReply("ERR Command not allowed inside a transaction"))
    guard = server.extensions.get("guard")
    if guard is not None:  # ACL comes before the pub/sub context check, as in processCommand
        rejected = guard(client, cmd, argv)
        if rejected is not None:
            return _reject(client, cmd, rejected)
    # NOREPLICAS (min-replicas-to-write, primary.py), READONLY and MASTERDOWN (a replica,
    # replica.py): an empty tuple unless the replication state refuses something
    for state_guard in server.state_guards:
        rejected = state_guard(client, cmd, argv)
        if rejected is not None:
            return _reject(client, cmd, rejected)
    if client.resp == 2 and (client.channels or client.patterns or client.shard_channels):
        top = cmd.parent.name if cmd.parent else cmd.name
        if top.encode() not in _PUBSUB_ALLOWED:
            return _reject(client, cmd, ErrorReply(
                f"ERR Can't execute '{cmd.fullname}': only (P|S)SUBSCRIBE / "
                "(P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"))
    if client.in_multi and (cmd.parent or cmd).name.encode() not in _MULTI_IMMEDIATE:
        client.multi_queue.append(argv)
        return QUEUED
    return call(client, cmd, argv)


def protected_allowed(client: Client, mode: str) -> bool:
    """allowProtectedAction: "yes", or "local" and the client is on this machine (a unix
    socket, loopback, or in-process: the embedded library and the CLI)."""
    if mode == "yes":
        return True
    return mode == "local" and (
        "unix" in client.flags
        or client.addr.startswith(("127.0.0.1:", "::1:", "[::1]:", "embedded:", "cli:")))


def _reject(client: Client, cmd: Command | None, err: ErrorReply) -> ErrorReply:
    """rejectCommand: flag the open transaction; a rejected EXEC aborts it."""
    server = client.server
    if cmd is not None:
        cmd.rejected_calls += 1
    _count_error(server, err.message)
    if client.in_multi:
        client.multi_error = True
        if cmd is not None and cmd.fullname == "exec":
            client.in_multi = False
            client.multi_queue = []
            client.multi_error = False
            client.dirty_cas = False
            watch = server.extensions.get("watch")
            if watch is not None:
                watch.unwatch_all(client)
            return ErrorReply(f"EXECABORT Transaction discarded because of: {err.message}")
    return err


def _count_error(server: Server, message: str) -> None:
    server.stats.total_error_replies += 1
    code = message.split(" ", 1)[0]
    server.stats.errors[code] += 1


def call(client: Client, cmd: Command, argv: list[bytes]) -> object:
    """Run a resolved command: handler, stats, hooks, propagation, events.

    Hot path: every line here runs for every command, so the rare cases (monitors,
    slow commands, events, propagation overrides) sit behind one cheap test each."""
    server = client.server
    if not server.engine.in_tx:
        server.engine.begin(cmd.is_readonly)
        server.request_commit()
    elif server.ks.pending_meta and not cmd.cache_only:
        server.ks.flush_meta()  # this handler may read counters from the file
    prop = server.propagation
    server.propagation = None
    monitors = server.monitors
    if monitors and cmd.fullname in _MONITOR_FIRST:
        _feed_monitors(server, client, argv)  # scripts show before the commands they run
    ks = server.ks
    if (client.no_touch or ks.no_touch) and not server.call_depth:
        # CLIENT NO-TOUCH (Redis 7.2): no access time moves, except through TOUCH
        ks.no_touch = client.no_touch and cmd.fullname != "touch"
    server.call_depth += 1
    ks.writing = cmd.is_write  # a write deletes an expired key even on a replica
    start = _perf()
    try:
        reply = cmd.handler(client, argv)  # type: ignore[misc]
    except RedisError as exc:
        reply = ErrorReply(exc.message)
        cmd.failed_calls += 1
        _count_error(server, exc.message)
    except Exception as exc:  # a bug or an I/O error: the batch must not commit
        log.exception("command %r failed", argv[0])
        server.batch_failed = True
        server.batch_error = exc
        reply = ErrorReply(f"ERR internal error while executing '{cmd.fullname}': {exc}")
        cmd.failed_calls += 1
        _count_error(server, reply.message)
    usec = int((_perf() - start) * 1_000_000)
    server.call_depth -= 1
    cmd.calls += 1
    cmd.usec += usec
    if server.latency_tracking:
        lat = cmd.latency
        lat[usec] = lat.get(usec, 0) + 1
    client.last_cmd = cmd.fullname
    if usec >= server.slow_at:
        _slow(server, client, cmd, argv, usec, reply)
    touched = ks.touched
    if touched:
        ks.touched = []
        server.dirty += len(touched)
        for hook in server.touch_hooks:
            hook(touched, client)
    if server.after_read:
        for hook in server.after_read:
            hook(client, cmd, argv)
    override = server.propagation
    server.propagation = prop
    if override is not None:
        for db, args in override:
            server.propagate(db, args)
    elif touched and cmd.is_write and server.propagators:
        server.propagate(client.db, argv)
    if ks.events:
        events = ks.events
        ks.events = []
        deliver = server.extensions.get("notify")
        if deliver is not None:
            deliver(events)
    if monitors and not cmd.admin and not cmd.skip_monitor:
        _feed_monitors(server, client, argv)
    if not server.call_depth and server.after_command:
        # the end of a top-level command (after EXEC or a script as a whole):
        # blocked clients are served here, as in Redis's processCommand
        for hook in server.after_command:
            hook()
    return reply


def _slow(server: Server, client: Client, cmd: Command, argv: list[bytes], usec: int,
          reply: object = None) -> None:
    """SLOWLOG and LATENCY for a command that took ``usec``. A command that blocked is
    logged when it ends (see blocked_slowlog); EXEC is never logged (skip_slowlog),
    the commands it ran are."""
    if type(reply) is Suspend:
        reply.usec = usec
    elif usec >= server.slowlog_threshold >= 0 and "skip_slowlog" not in cmd.flags:
        _slowlog(server, client, argv, usec)
    if usec >= 1000 and server.config.latency_monitor_threshold:
        server.add_latency("fast-command" if cmd.fast else "command", usec // 1000)


def blocked_slowlog(client: Client, susp: Suspend) -> None:
    """updateStatsOnUnblock: a blocked command enters SLOWLOG when it is served or CLIENT
    UNBLOCKed (not when it times out), as it was sent (BLPOP, not the LPOP it became)."""
    server = client.server
    if susp.argv is not None and susp.usec >= server.slowlog_threshold >= 0:
        _slowlog(server, client, susp.argv, susp.usec)


def rewrite(server: Server, db: int, argv: list[bytes]) -> None:
    """Propagate ``argv`` instead of (or besides) the command as sent (EXPIRE -> PEXPIREAT)."""
    if server.propagation is None:
        server.propagation = []
    server.propagation.append((db, argv))


# Per command name: argv with its secrets replaced by "(redacted)" for SLOWLOG and MONITOR,
# as redactClientCommandArgument does (AUTH, HELLO AUTH, ACL SETUSER ...: commands/acl.py).
REDACTORS: dict[bytes, Callable[[list[bytes]], list[bytes]]] = {}


def _slowlog(server: Server, client: Client, argv: list[bytes], usec: int) -> None:
    redact = REDACTORS.get(argv[0].lower())
    if redact is not None:
        argv = redact(argv)
    shown: list[bytes] = []
    for i, a in enumerate(argv):
        if i == 31 and len(argv) > 32:
            shown.append(b"... (%d more arguments)" % (len(argv) - 31))
            break
        if len(a) > 128:
            shown.append(a[:128] + b"... (%d more bytes)" % (len(a) - 128))
        else:
            shown.append(a)
    server.slowlog.appendleft(
        (server.slowlog_next_id, int(time.time()), usec, shown,
         client.addr.encode(), (client.name or b""))
    )
    server.slowlog_next_id += 1


def _feed_monitors(server: Server, client: Client, argv: list[bytes]) -> None:
    from aki.resp.types import Status

    now = time.time()
    parts = []
    redact = REDACTORS.get(argv[0].lower())
    if redact is not None:
        argv = redact(argv)
    for a in argv:
        parts.append('"' + repr_bytes(a) + '"')
    where = client.addr if client.kind != "lua" else "lua"
    line = Status(f"{now:.6f} [{client.db} {where}] " + " ".join(parts))
    for m in list(server.monitors):
        if m is not client:
            m.send(line)


_ESCAPES = {ord("\\"): "\\\\", ord('"'): '\\"', ord("\n"): "\\n", ord("\r"): "\\r",
            ord("\t"): "\\t", ord("\a"): "\\a", ord("\b"): "\\b"}


def repr_bytes(a: bytes) -> str:
    """Redis's sdscatrepr without the quotes (MONITOR lines, redis-cli output)."""
    out = []
    for ch in a:
        esc = _ESCAPES.get(ch)
        if esc is not None:
            out.append(esc)
        elif 32 <= ch < 127:
            out.append(chr(ch))
        else:
            out.append("\\x%02x" % ch)
    return "".join(out)


def run_internal(server: Server, work) -> object:
    """Run server-side work (active expiry, reclaim) on the same road as a command:
    inside the batch, with touched keys, propagation and events handled as for a command."""
    engine = server.engine
    if not engine.in_tx:
        engine.begin()
        server.request_commit()
    ks = server.ks
    if ks.pending_meta:
        ks.flush_meta()
    try:
        result = work()
    except Exception:
        log.exception("internal work failed")
        server.batch_failed = True
        return None
    touched = ks.touched
    if touched:
        ks.touched = []
        server.dirty += len(touched)
        for hook in server.touch_hooks:
            hook(touched, None)
    if ks.events:
        events = ks.events
        ks.events = []
        deliver = server.extensions.get("notify")
        if deliver is not None:
            deliver(events)
    return result
