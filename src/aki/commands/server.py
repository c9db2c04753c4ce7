"""Server commands (server.c, db.c, config.c, rdb.c): FLUSHALL FLUSHDB DBSIZE SWAPDB TIME
LASTSAVE SAVE BGSAVE SHUTDOWN CONFIG."""

from __future__ import annotations

import logging
import time

from aki import errors
from aki.commands.common import to_int
from aki.commands.connection import help_reply
from aki.config import _TABLE, AKI_DIRECTIVES, ConfigError
from aki.core.blocking import Suspend
from aki.core.dispatch import protected_allowed, rewrite
from aki.core.registry import COMMANDS, command
from aki.core.state import WHOLE_DB
from aki.durability.checkpoint import checkpoint_connection
from aki.errors import RedisError
from aki.resp.types import OK, ErrorReply, Status
from aki.storage.bulk import SnapshotCancelled

log = logging.getLogger("aki")


def _flush_mode(argv: list[bytes]) -> None:
    if len(argv) > 2:
        raise RedisError(errors.SYNTAX)
    if len(argv) == 2 and argv[1].lower() not in (b"sync", b"async"):
        raise RedisError(errors.SYNTAX)


@command("flushdb")
def flushdb(c, argv):
    _flush_mode(argv)
    ks = c.server.ks
    ks.flushdb(c.db)
    ks.touch(c.db, WHOLE_DB)
    for hook in c.server.extensions.get("flush_hooks", []):
        hook(c.db)
    rewrite(c.server, c.db, list(argv))
    return OK


@command("flushall")
def flushall(c, argv):
    _flush_mode(argv)
    ks = c.server.ks
    for db in range(c.server.engine.databases):
        ks.flushdb(db)
    ks.touch(c.db, WHOLE_DB)
    for hook in c.server.extensions.get("flush_hooks", []):
        hook(None)
    rewrite(c.server, c.db, list(argv))
    from aki.durability import rdbsave

    # flushAllDataAndResetRDB: a BGSAVE in progress would write the data just flushed
    rdbsave.kill_bgsave(c.server, why="")
    if rdbsave.enabled(c.server):
        # flushAllDataAndResetRDB: with `save` configured, FLUSHALL saves at once (the
        # empty RDB and a checkpoint), so rdb_changes_since_last_save is 0 again
        after_commit(c.server, "save")
    return OK


@command("dbsize")
def dbsize(c, argv):
    return c.server.ks.dbsize(c.db)


@command("swapdb")
def swapdb(c, argv):
    a = to_int(argv[1])
    if a is None or not -(2**31) <= a < 2**31:
        raise RedisError("ERR invalid first DB index")
    b = to_int(argv[2])
    if b is None or not -(2**31) <= b < 2**31:
        raise RedisError("ERR invalid second DB index")
    n = c.server.engine.databases
    if a < 0 or a >= n or b < 0 or b >= n:
        raise RedisError(errors.DB_INDEX_OUT_OF_RANGE)
    server = c.server
    if a != b:
        server.ks.swapdb(a, b)
        # every key of both databases changed: WATCH, blocked clients and tracking react
        for hook in server.extensions.get("swapdb_hooks", []):
            hook(a, b)
    server.ks.touch(a, WHOLE_DB)
    server.dirty += 1
    rewrite(server, c.db, list(argv))
    return OK


@command("time")
def time_(c, argv):
    now = time.time_ns() // 1000
    return [b"%d" % (now // 1_000_000), b"%d" % (now % 1_000_000)]


@command("lastsave")
def lastsave(c, argv):
    return c.server.lastsave


# -- SAVE, BGSAVE, DEBUG RELOAD: work that must run after the batch commits -----------------
#
# A handler runs inside the open batch transaction, and SQLite cannot checkpoint (or close)
# a connection with a transaction open. So SAVE/DEBUG RELOAD record what they want in
# server.extensions["after_commit_work"] and a hook on the committer's after_commit list
# (installed on first use) performs it right after the batch's COMMIT, before the held
# replies are released: the client hears OK only once the checkpoint is done. Without a
# committer (the embedded library) the work runs at once after an explicit commit.


def after_commit(server, what: str) -> None:
    work = server.extensions.setdefault("after_commit_work", [])
    if what not in work:
        work.append(what)
    app = server.extensions.get("app")
    if app is None:
        engine = server.engine
        if engine.in_tx:
            engine.commit()
        _run_after_commit(server, True)
        return
    if not server.extensions.get("after_commit_hooked"):
        server.extensions["after_commit_hooked"] = True
        app.committer.after_commit.append(lambda ok: _run_after_commit(server, ok))


def _run_after_commit(server, ok: bool) -> None:
    work = server.extensions.get("after_commit_work")
    if not work:
        return
    server.extensions["after_commit_work"] = []
    for what in work:
        if what == "save":
            waiters = server.extensions.pop("save_waiters", [])
            try:
                _save_now(server)
            except Exception:
                log.exception("save failed")
                server.last_bgsave_status = "err"
                for w in waiters:  # saveCommand: addReplyErrorObject(c, shared.err)
                    w.resume(ErrorReply("ERR"))
            else:
                for w in waiters:
                    w.resume(OK)
            continue
        try:
            if what == "reload":
                _save_now(server)
                reopen_storage(server)
            elif what == "bgsave":
                _start_bgsave(server)
        except Exception:
            log.exception("%s failed", what)
            if what == "save":
                server.last_bgsave_status = "err"


def _save_now(server) -> None:
    """A TRUNCATE checkpoint: the main file alone then holds every committed write."""
    server.engine.checkpoint("TRUNCATE")
    from aki.durability import rdbsave

    rdbsave.save_rdb(server)  # the RDB file too, when `save` is configured
    server.lastsave = int(time.time())
    server.dirty = 0
    server.extensions["rdb_saves"] = server.extensions.get("rdb_saves", 0) + 1


def reopen_storage(server) -> None:
    """Close the file and open it again in place (DEBUG RELOAD): the Engine and Keyspace
    objects keep their identity because connections and hooks hold references to them."""
    engine = server.engine
    ks = server.ks
    counters = (engine.commits, engine.fsyncs, engine.checkpoints)
    hooks = list(engine.on_external_change)
    engine.close()
    engine.__init__(engine.path, appendfsync=server.config.appendfsync,  # type: ignore[misc]
                    cache_size_kb=max(1, server.config.cache_size // 1024),
                    databases=engine.databases, page_size=engine.page_size)
    engine.commits, engine.fsyncs, engine.checkpoints = counters
    on_expired, notify, lazy = ks.on_expired, ks.notify_enabled, ks.lazy_expire
    hits, misses, entries = ks.hits, ks.misses, ks.cache_entries
    ks.__init__(engine, entries)  # type: ignore[misc]
    for h in hooks:
        if getattr(h, "__self__", None) is not ks and h not in engine.on_external_change:
            engine.on_external_change.append(h)
    ks.on_expired, ks.notify_enabled, ks.lazy_expire = on_expired, notify, lazy
    ks.hits, ks.misses = hits, misses


def _start_bgsave(server) -> None:
    """BGSAVE: a PASSIVE checkpoint on its own connection in a worker thread."""
    import apsw

    app = server.extensions.get("app")
    state = server.extensions.setdefault("bgsave", {})
    state["running"] = True
    state["started"] = time.time()
    path = str(server.engine.path)
    from aki.durability import rdbsave

    rdb_work = rdbsave.prepare_bgsave(server)  # pins the snapshot now, on the loop thread

    def work():
        if rdb_work is not None:
            rdb_work()
        conn = checkpoint_connection(path, 1000)
        try:
            return conn.wal_checkpoint(mode=apsw.SQLITE_CHECKPOINT_PASSIVE)
        finally:
            conn.close()

    def done(fut):
        state["running"] = False
        state["last_time_sec"] = int(time.time() - state["started"])
        if isinstance(fut.exception(), SnapshotCancelled):
            return  # killed (FLUSHALL, shutdown): Redis whitelists that as no error
        if fut.exception() is not None:
            server.last_bgsave_status = "err"
            log.warning("background save failed: %s", fut.exception())
            return
        server.last_bgsave_status = "ok"
        server.engine.checkpoints += 1
        server.lastsave = int(time.time())
        server.dirty = 0
        server.extensions["rdb_saves"] = server.extensions.get("rdb_saves", 0) + 1
        if state.pop("scheduled", False):
            after_commit(server, "bgsave")
            server.request_commit()

    if app is None:
        try:
            work()
        finally:
            state["running"] = False
        return
    app.loop.run_in_executor(None, work).add_done_callback(done)


def save_points_due(server) -> None:
    """serverCron's save points (``save 3600 1 300 100 ...``): a BGSAVE once ``changes``
    writes happened and ``seconds`` passed since the last save; after a failed one, not
    again within 5 seconds (CONFIG_BGSAVE_RETRY_DELAY)."""
    from aki.durability import rdbsave

    if not rdbsave.enabled(server) or aof_rewriting(server):
        return
    if rdbsave.bgsave_running(server) or "bgsave" in server.extensions.get("after_commit_work", ()):
        return
    now = time.time()
    started = server.extensions.get("bgsave", {}).get("started", 0)
    if server.last_bgsave_status != "ok" and now - started <= 5:
        return
    words = str(server.config.save).split()
    for seconds, changes in zip(map(int, words[0::2]), map(int, words[1::2]), strict=False):
        if server.dirty >= changes and now - server.lastsave > seconds:
            log.info("%d changes in %d seconds. Saving...", changes, seconds)
            if server.engine.in_tx:
                after_commit(server, "bgsave")  # once this loop pass's batch is committed
            else:
                _start_bgsave(server)
            return


@command("save")
def save(c, argv):
    server = c.server
    bg = server.extensions.get("bgsave")
    if bg and bg.get("running"):
        raise RedisError("ERR Background save already in progress")
    waiter = None
    if "app" in server.extensions and not server.in_exec and c.kind == "normal":
        # the save runs after this batch's COMMIT; its client hears how it went (an RDB
        # that cannot be written is Redis's bare "-ERR", not OK)
        waiter = Suspend(c, None, None)
        server.extensions.setdefault("save_waiters", []).append(waiter)
        waiter.on_cancel = lambda: _forget_save_waiter(server, waiter)
    after_commit(server, "save")
    return waiter if waiter is not None else OK


def _forget_save_waiter(server, waiter) -> None:
    waiters = server.extensions.get("save_waiters", [])
    if waiter in waiters:
        waiters.remove(waiter)


@command("bgsave")
def bgsave(c, argv):
    schedule = False
    if len(argv) > 1:
        if len(argv) == 2 and argv[1].lower() == b"schedule":
            schedule = True
        else:
            raise RedisError(errors.SYNTAX)
    server = c.server
    bg = server.extensions.setdefault("bgsave", {})
    if bg.get("running"):
        if schedule:
            bg["scheduled"] = True
            return Status("Background saving scheduled")
        raise RedisError("ERR Background save already in progress")
    # Redis forks no second child, nor inside EXEC: the save waits (aki's starts after this
    # batch's COMMIT either way; a rewrite thread does not stop it)
    scheduled = server.in_exec or aof_rewriting(server)
    if scheduled and not (schedule or server.in_exec):
        raise RedisError("ERR Another child process is active (AOF?): can't BGSAVE right "
                         "now. Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever "
                         "possible.")
    if scheduled:
        bg["scheduled"] = True
    after_commit(server, "bgsave")
    return Status("Background saving scheduled" if scheduled else "Background saving started")


def aof_rewriting(server) -> bool:
    """A BGREWRITEAOF is running (Redis's AOF child), the log on or off."""
    return any(getattr(server.extensions.get(name), "rewriting", False)
               for name in ("aof", "aof_offline"))


@command("shutdown")
def shutdown(c, argv):
    flags = set()
    abort = False
    for a in argv[1:]:
        o = a.lower()
        if o in (b"nosave", b"save", b"now", b"force"):
            flags.add(o)
        elif o == b"abort":
            abort = True
        else:
            raise RedisError(errors.SYNTAX)
    if (abort and flags) or (b"nosave" in flags and b"save" in flags):
        raise RedisError(errors.SYNTAX)
    app = c.server.extensions.get("app")  # None in the embedded library
    if abort:
        if app is None or not app.shutdown.abort():
            raise RedisError("ERR No shutdown in progress.")
        return OK
    if c.kind == "lua" and b"now" not in flags:
        raise RedisError("ERR SHUTDOWN without NOW or ABORT isn't allowed for DENY BLOCKING client")
    if app is None:
        raise RedisError("ERR Errors trying to SHUTDOWN. Check logs.")
    # The client waits: Redis exits without replying (the connection just closes), or
    # answers an error when the shutdown fails or is aborted (server/shutdown.py).
    return app.shutdown.command(c, frozenset(f.decode() for f in flags))


# -- CONFIG ----------------------------------------------------------------------------------


def _glob(pattern: bytes):
    from aki.storage.keyspace import compile_glob

    return compile_glob(pattern.lower())


@command("config|get")
def config_get(c, argv):
    cfg = c.server.config
    out: dict[bytes, bytes] = {}
    seen: set[str] = set()
    names = None
    for arg in argv[2:]:
        if not any(ch in arg for ch in b"[*?"):
            text = arg.decode("utf-8", "surrogateescape")
            canon = cfg.canonical(text)
            if canon in seen or text.lower() in seen or not cfg.known(text):
                continue
            seen.add(text.lower())
            out[arg] = cfg.format(canon).encode("utf-8", "surrogateescape")
            continue
        if names is None:
            names = []
            for n in cfg.names():
                flags = _TABLE[n]["flags"]
                # aki's own start-up-only directives answer exact names only, like
                # Redis's hidden configs, so `CONFIG GET *` lists what Redis lists
                if "HIDDEN_CONFIG" in flags or (n in AKI_DIRECTIVES and "IMMUTABLE_CONFIG" in flags):
                    continue
                names.append(n)
                alias = cfg.aliases_of(n)
                if alias:
                    names.append(alias)
        match = _glob(arg)
        for n in names:
            if n in seen:
                continue
            if match(n.encode()):
                seen.add(n)
                out[n.encode()] = cfg.format(cfg.canonical(n)).encode("utf-8", "surrogateescape")
    return out


def _protected_allowed(c) -> bool:
    return protected_allowed(c, c.server.config.enable_protected_configs)


@command("config|set")
def config_set(c, argv):
    if len(argv) & 1:
        raise RedisError(errors.SYNTAX)
    cfg = c.server.config
    pairs: list[tuple[str, str, str]] = []
    invalid = None
    err = None
    for i in range(2, len(argv), 2):
        given = argv[i].decode("utf-8", "surrogateescape")
        if not cfg.known(given):
            if invalid is None and err is None:
                invalid = given
            continue
        if invalid is not None or err is not None:
            continue
        name = cfg.canonical(given)
        flags = _TABLE[name]["flags"]
        if "IMMUTABLE_CONFIG" in flags or ("PROTECTED_CONFIG" in flags and not _protected_allowed(c)):
            kind = "immutable" if "IMMUTABLE_CONFIG" in flags else "protected"
            err = (given, f"can't set {kind} config")
            continue
        if any(p[0] == name for p in pairs):
            err = (given, "duplicate parameter")
            continue
        pairs.append((name, given, argv[i + 1].decode("utf-8", "surrogateescape")))
    if invalid is not None:
        raise RedisError("ERR Unknown option or number of arguments for CONFIG SET - "
                         f"'{errors.cstr(invalid)}'")
    if err is not None:
        raise RedisError(f"ERR CONFIG SET failed (possibly related to argument '{err[0]}') - {err[1]}")
    # validate everything first: nothing is applied unless every value is acceptable
    for name, _given, text in pairs:
        try:
            cfg._parse(name, _TABLE[name], text)
        except ConfigError as exc:
            raise RedisError(
                f"ERR CONFIG SET failed (possibly related to argument '{name}') - {exc.message}"
            ) from None
    old = [(name, cfg.format(name)) for name, _g, _t in pairs]
    done: list[str] = []
    name = ""
    try:
        # apply functions (the TLS context ...) run once, after every value is set
        with cfg.applying_once():
            for name, _given, text in pairs:
                cfg.set(name, text)
                done.append(name)
    except ConfigError as exc:
        try:
            with cfg.applying_once():  # restoreBackupConfig: old values, applied again
                for oname, otext in old:
                    if oname in done:
                        try:
                            cfg.set(oname, otext)
                        except ConfigError:
                            pass
        except ConfigError:
            pass
        if exc.directive is not None:
            log.warning("Failed applying new configuration. Possibly related to new %s "
                        "setting. Restoring previous settings.", exc.directive)
        name = exc.directive or name
        raise RedisError(
            f"ERR CONFIG SET failed (possibly related to argument '{name}') - {exc.message}"
        ) from None
    return OK


@command("config|resetstat")
def config_resetstat(c, argv):
    server = c.server
    server.stats.reset()
    server.ks.hits = server.ks.misses = server.ks.lazyfreed = 0
    for cmd in COMMANDS.values():
        for x in (cmd, *cmd.subcommands.values()):
            x.calls = x.usec = x.rejected_calls = x.failed_calls = 0
            x.latency = {}
    server.extensions.pop("ops_sample", None)
    return OK


@command("config|rewrite")
def config_rewrite(c, argv):
    try:
        c.server.config.rewrite()
    except ConfigError as exc:
        raise RedisError(f"ERR {exc.message}") from None
    except OSError as exc:
        raise RedisError(f"ERR Rewriting config file: {exc.strerror}") from None
    return OK


@command("config|help")
def config_help(c, argv):
    return help_reply(argv[0], [
        "GET <pattern>",
        "    Return parameters matching the glob-like <pattern> and their values.",
        "SET <directive> <value>",
        "    Set the configuration <directive> to <value>.",
        "RESETSTAT",
        "    Reset statistics reported by the INFO command.",
        "REWRITE",
        "    Rewrite the configuration file.",
    ])


