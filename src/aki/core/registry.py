"""The command registry: one declaration per command, served back by COMMAND.

A handler is bound to its name with ``@command("get")``. Arity, flags, key
positions, ACL categories, key specs and docs come from ``command_table.json``,
captured from Redis 7.0.15's own COMMAND INFO/DOCS (tools/gen_command_table.py),
so what COMMAND reports can never disagree with Redis. A command that aki does
not implement has no handler and is answered as unknown.

Commands Redis 7.0 lacks (CLIENT SETINFO, CLIENT NO-TOUCH ...) are declared with
explicit ``arity``/``flags``/``keys``/``categories``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib import resources
from typing import Any

Handler = Callable[..., Any]

_TABLE: dict[str, dict] = json.loads(
    resources.files("aki.core").joinpath("command_table.json").read_text()
)


def _status_set(tagged: Any) -> frozenset[str]:
    return frozenset(x["v"] for x in tagged["v"])


class Command:
    """A command (or a subcommand such as ``client|list``) and its handler."""

    __slots__ = (
        "name", "fullname", "arity", "flags", "first_key", "last_key", "step",
        "categories", "handler", "subcommands", "info", "docs", "parent",
        "is_write", "is_readonly", "noscript", "loading", "stale", "denyoom",
        "pubsub", "fast", "admin", "blocking", "no_multi", "noauth", "allow_busy",
        "calls", "usec", "rejected_calls", "failed_calls", "key_finder", "skip_monitor",
        "cached_read", "cache_only", "latency", "protected",
    )

    def __init__(self, fullname: str, info: list | None, docs: Any, parent: Command | None) -> None:
        self.fullname = fullname
        self.name = fullname.split("|")[-1]
        self.parent = parent
        self.info = info
        self.docs = docs
        self.handler: Handler | None = None
        self.subcommands: dict[bytes, Command] = {}
        self.key_finder: Callable[[list[bytes]], list[int]] | None = None
        # Optional answer without a batch transaction (row cache or autocommit read), or
        # keyspace.UNCACHED to take the handler's road: see dispatch.execute.
        self.cached_read: Callable[[Any, list[bytes]], object] | None = None
        # The handler reads keys rows only through the row cache, so the collection
        # counters pending in the batch need not be written before it runs (see
        # storage.keyspace, ``pending_meta``).
        self.cache_only = False
        if info is not None:
            self.arity = info[1]
            self.flags = _status_set(info[2])
            self.first_key, self.last_key, self.step = info[3], info[4], info[5]
            self.categories = _status_set(info[6])
        else:
            self.arity = 0
            self.flags = frozenset()
            self.first_key = self.last_key = self.step = 0
            self.categories = frozenset()
        self._derive()
        self.calls = self.usec = self.rejected_calls = self.failed_calls = 0
        self.latency: dict[int, int] = {}  # calls per duration in us (core/histogram.py)
        # CMD_PROTECTED: the config attribute (enable_debug_command ...) that allows it
        self.protected: str | None = None

    def _derive(self) -> None:
        f = self.flags
        self.is_write = "write" in f
        self.is_readonly = "readonly" in f
        self.noscript = "noscript" in f
        self.loading = "loading" in f
        self.stale = "stale" in f
        self.denyoom = "denyoom" in f
        self.pubsub = "pubsub" in f
        self.fast = "fast" in f
        self.admin = "admin" in f
        self.blocking = "blocking" in f
        self.no_multi = "no_multi" in f
        self.noauth = "no_auth" in f
        self.allow_busy = "allow_busy" in f
        self.skip_monitor = "skip_monitor" in f

    def key_positions(self, argv: list[bytes]) -> list[int]:
        """Indexes of the key arguments in ``argv`` (COMMAND GETKEYS, WATCH, ACL)."""
        if self.key_finder is not None:
            return self.key_finder(argv)
        if self.first_key <= 0:
            return []
        last = self.last_key
        if last < 0:
            last = len(argv) + last
        return list(range(self.first_key, min(last, len(argv) - 1) + 1, self.step or 1))


COMMANDS: dict[bytes, Command] = {}


def total_calls() -> int:
    """INFO total_commands_processed: every call counted in commandstats (call() counts
    each command once there, so the sum is the total; no second counter on the hot path)."""
    return sum(x.calls for cmd in COMMANDS.values() for x in (cmd, *cmd.subcommands.values()))


def _ensure(fullname: str) -> Command:
    parts = fullname.split("|")
    top = parts[0]
    cmd = COMMANDS.get(top.encode())
    if cmd is None:
        entry = _TABLE.get(top, {})
        cmd = Command(top, entry.get("info"), entry.get("docs"), None)
        COMMANDS[top.encode()] = cmd
    if len(parts) == 1:
        return cmd
    sub = parts[1]
    sc = cmd.subcommands.get(sub.encode())
    if sc is None:
        info = None
        docs = None
        if cmd.info is not None:
            for s in cmd.info[9]:
                if s[0] == fullname:
                    info = s
        top_docs = _TABLE.get(top, {}).get("docs")
        if top_docs is not None:
            for k, v in top_docs["v"]:
                if k == "subcommands":
                    for name, d in v["v"]:
                        if name == fullname:
                            docs = d
        sc = Command(fullname, info, docs, cmd)
        cmd.subcommands[sub.encode()] = sc
    return sc


def command(
    fullname: str,
    *,
    arity: int | None = None,
    flags: str | None = None,
    keys: tuple[int, int, int] | None = None,
    categories: str | None = None,
    key_finder: Callable[[list[bytes]], list[int]] | None = None,
    cached_read: Callable[[Any, list[bytes]], object] | None = None,
    cache_only: bool = False,
    protected: str | None = None,
) -> Callable[[Handler], Handler]:
    """Bind a handler ``fn(client, argv) -> reply`` to a command name.

    ``argv`` is the whole request (``argv[0]`` is the command name as sent).
    The extra arguments are for commands missing from Redis 7.0's table.
    ``protected``: Redis's hidden CMD_PROTECTED flag, naming the config attribute
    (``enable_debug_command``, ``enable_module_command``) that decides who may run it.
    """

    def bind(fn: Handler) -> Handler:
        cmd = _ensure(fullname)
        if cmd.info is None:
            if arity is None:
                raise ValueError(f"{fullname}: not in Redis 7.0's table, arity required")
            fk, lk, st = keys or (0, 0, 0)
            cats = categories.split() if categories else []
            flist = flags.split() if flags else []
            cmd.info = [
                fullname, arity,
                {"t": "set", "v": [{"t": "status", "v": f} for f in flist]},
                fk, lk, st,
                {"t": "set", "v": [{"t": "status", "v": c} for c in cats]},
                {"t": "set", "v": []}, {"t": "set", "v": []}, [],
            ]
            cmd.arity, cmd.first_key, cmd.last_key, cmd.step = arity, fk, lk, st
            cmd.flags = frozenset(flist)
            cmd.categories = frozenset(cats)
            cmd._derive()
            if cmd.parent is not None and cmd.parent.info is not None:
                pass
        cmd.handler = fn
        if key_finder is not None:
            cmd.key_finder = key_finder
        if cached_read is not None:
            cmd.cached_read = cached_read
        cmd.cache_only = cache_only
        if protected is not None:
            cmd.protected = protected
        return fn

    return bind


def rename_command(old: str, new: str) -> str | None:
    """``rename-command old new`` (config file only, as in Redis): the command answers to
    ``new`` from now on, or to nothing when ``new`` is empty; its own name (COMMAND,
    INFO commandstats, SLOWLOG, ACL rules) stays. Returns Redis's error text, or None.
    Several renames apply in order; the caller then drops the dispatch caches."""
    key = old.lower().encode("utf-8", "surrogateescape")
    cmd = COMMANDS.get(key)
    if cmd is None:
        return "No such command in rename-command"
    del COMMANDS[key]
    if new:
        target = new.lower().encode("utf-8", "surrogateescape")
        if target in COMMANDS:
            COMMANDS[key] = cmd
            return "Target command name already exists"
        COMMANDS[target] = cmd
    return None


def lookup(name: bytes) -> Command | None:
    cmd = COMMANDS.get(name)
    if cmd is None:
        cmd = COMMANDS.get(name.lower())
    if cmd is None or (cmd.handler is None and not cmd.subcommands):
        return None
    return cmd


def by_fullname(name: bytes) -> Command | None:
    """The command or subcommand named ``cmd`` or ``container|sub`` (any case)."""
    top, _, sub = name.lower().partition(b"|")
    cmd = COMMANDS.get(top)
    if cmd is not None and sub:
        cmd = cmd.subcommands.get(sub)
    return cmd


def implemented() -> list[Command]:
    """Top-level commands that have a handler (or at least one subcommand)."""
    out = []
    for cmd in COMMANDS.values():
        if cmd.handler is not None or any(s.handler for s in cmd.subcommands.values()):
            out.append(cmd)
    return out


def table_entry(name: str) -> dict:
    return _TABLE.get(name, {})
