"""Configuration directives: Redis 7.0's table, its parsing rules, and aki's own.

Every directive Redis 7.0 knows is accepted (``config_table.json`` is
extracted from Redis's config.c by tools/gen_config_table.py), so a
``redis.conf`` loads unchanged and ``CONFIG GET/SET`` answer as Redis does.
Directives that aki has a subsystem for take effect (``LIVE`` or through an
``on_change`` hook); the rest are *inert*: stored, reported, logged at start-up.
aki's own directives (``dbfile``, ``cache-size`` ...) are declared in ``AKI_DIRECTIVES``.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

log = logging.getLogger("aki.config")

_TABLE: dict[str, dict] = json.loads(resources.files("aki").joinpath("config_table.json").read_text())

# Directives with a real effect in aki (the rest of Redis's table is inert).
EFFECTIVE = {
    "port", "bind", "bind-source-addr", "unixsocket", "unixsocketperm", "requirepass",
    "maxclients", "databases", "tcp-backlog", "tcp-keepalive", "timeout", "pidfile",
    "appendfsync", "appendonly", "appendfilename", "appenddirname", "aof-load-truncated",
    "aof-timestamp-enabled", "no-appendfsync-on-rewrite", "auto-aof-rewrite-percentage",
    "auto-aof-rewrite-min-size", "aof-use-rdb-preamble", "loglevel", "logfile", "dir",
    "dbfilename", "save", "rdbcompression", "rdbchecksum", "hz", "active-expire-effort",
    "proto-max-bulk-len", "client-query-buffer-limit", "client-output-buffer-limit",
    "notify-keyspace-events", "slowlog-log-slower-than", "slowlog-max-len",
    "latency-monitor-threshold", "latency-tracking", "latency-tracking-info-percentiles",
    "busy-reply-threshold", "lua-time-limit", "hash-max-listpack-entries",
    "hash-max-listpack-value", "set-max-intset-entries", "zset-max-listpack-entries",
    "zset-max-listpack-value", "list-max-listpack-size", "stream-node-max-bytes",
    "stream-node-max-entries", "hll-sparse-max-bytes", "maxmemory", "maxmemory-policy",
    "lfu-log-factor", "lfu-decay-time", "protected-mode", "tracking-table-max-keys",
    "replicaof", "masterauth", "masteruser", "replica-read-only", "replica-serve-stale-data",
    "replica-priority", "replica-announced", "replica-announce-ip", "replica-announce-port",
    "repl-backlog-size", "repl-backlog-ttl", "repl-timeout", "repl-ping-replica-period",
    "min-replicas-to-write", "min-replicas-max-lag", "enable-debug-command",
    "enable-module-command", "enable-protected-configs", "acllog-max-len", "aclfile",
    "acl-pubsub-default", "always-show-logo", "shutdown-on-sigterm", "shutdown-on-sigint",
    "shutdown-timeout", "rdb-key-save-delay", "oom-score-adj", "oom-score-adj-values",
    "set-proc-title", "proc-title-template", "repl-diskless-sync", "repl-diskless-sync-delay",
    "repl-diskless-sync-max-replicas",
    # the TLS listener (server/tls.py); tls-replication, tls-cluster and the
    # tls-client-* files (outgoing TLS) stay inert
    "tls-port", "tls-cert-file", "tls-key-file", "tls-key-file-pass", "tls-ca-cert-file",
    "tls-ca-cert-dir", "tls-auth-clients", "tls-protocols", "tls-ciphers", "tls-ciphersuites",
    "tls-prefer-server-ciphers", "tls-session-caching", "tls-session-cache-size",
    "tls-session-cache-timeout", "tls-dh-params-file",
}

# aki's own directives: name -> (kind, default, description)
AKI_DIRECTIVES: dict[str, dict] = {
    "dbfile": {"kind": "String", "default": "data.aki", "flags": ["IMMUTABLE_CONFIG"]},
    "cache-size": {"kind": "LongLong", "default": "67108864", "min": 1024 * 1024,
                   "max": 2**63 - 1, "numtype": "MEMORY_CONFIG", "flags": ["MODIFIABLE_CONFIG"]},
    "checkpoint-wal-size": {"kind": "LongLong", "default": "67108864", "min": 1024 * 1024,
                            "max": 2**63 - 1, "numtype": "MEMORY_CONFIG",
                            "flags": ["MODIFIABLE_CONFIG"]},
    "page-size": {"kind": "Enum", "default": "4096",
                  "values": ["512", "1024", "2048", "4096", "8192", "16384", "32768", "65536"],
                  "flags": ["IMMUTABLE_CONFIG"]},
    "row-cache-entries": {"kind": "Int", "default": "200000", "min": 1000, "max": 2**31 - 1,
                          "numtype": "INTEGER_CONFIG", "flags": ["MODIFIABLE_CONFIG"]},
    "http-port": {"kind": "Int", "default": "0", "min": 0, "max": 65535,
                  "numtype": "INTEGER_CONFIG", "flags": ["IMMUTABLE_CONFIG"]},
    "load-rdb": {"kind": "String", "default": "", "flags": ["IMMUTABLE_CONFIG"]},
    "rdb-db": {"kind": "Int", "default": "-1", "min": -1, "max": 2**31 - 1,
               "numtype": "INTEGER_CONFIG", "flags": ["IMMUTABLE_CONFIG"]},
    # a replica that heard nothing from its primary for this many ms promotes itself
    # (replication/replica.py MasterLink._auto_promote); 0: never
    "replica-auto-promote-after": {"kind": "LongLong", "default": "0", "min": 0,
                                   "max": 2**63 - 1, "numtype": "INTEGER_CONFIG",
                                   "flags": ["MODIFIABLE_CONFIG"]},
}

for _name, _entry in AKI_DIRECTIVES.items():
    _entry.setdefault("alias", None)
    _TABLE[_name] = _entry

_ALIASES = {v["alias"]: k for k, v in _TABLE.items() if v.get("alias")}
_DEPRECATED = {"list-max-ziplist-entries", "list-max-ziplist-value", "lua-replicate-commands"}


def _fix_limit(v):
    if isinstance(v, str):
        out = 1
        for part in v.split("*"):
            out *= int(part)
        return out
    return v


for _entry in _TABLE.values():
    for _lim in ("min", "max"):
        if _lim in _entry:
            _entry[_lim] = _fix_limit(_entry[_lim])


_PROC_TITLE_VARS = ("title", "listen-addr", "server-mode", "config-file", "port", "tls-port",
                    "unixsocket")
# the variables that can expand to "" when Redis validates ({port}, {listen-addr} ... never do)
_EMPTY_IN_CHECK = ("title", "server-mode", "unixsocket")


def expand_template(template: str, lookup: Callable[[str], str | None]) -> str | None:
    """Redis's sdstemplate: ``{name}`` becomes ``lookup(name)``, ``{{`` a literal brace;
    None for an unterminated variable or one ``lookup`` does not know (None)."""
    out: list[str] = []
    i = 0
    while i < len(template):
        start = template.find("{", i)
        if start < 0:
            out.append(template[i:])
            break
        out.append(template[i:start])
        if start + 1 >= len(template):
            return None
        if template[start + 1] == "{":
            out.append("{")
            i = start + 2
            continue
        end = template.find("}", start + 1)
        value = lookup(template[start + 1:end]) if end >= 0 else None
        if value is None:
            return None
        out.append(value)
        i = end + 1
    return "".join(out)


def _proc_title_template_ok(template: str) -> bool:
    """Redis's validateProcTitleTemplate: every variable known, and something left
    besides spaces (only whether each value can be empty matters here)."""
    res = expand_template(template, lambda name: None if name not in _PROC_TITLE_VARS
                          else "" if name in _EMPTY_IN_CHECK else "x")
    return bool(res and res.strip(" "))


class ConfigError(Exception):
    """A value a directive cannot take; ``message`` is Redis's wording."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.directive: str | None = None  # set by Config.applying_once


_UNITS = {
    "": 1, "b": 1, "k": 1000, "kb": 1024, "m": 1000**2, "mb": 1024**2,
    "g": 1000**3, "gb": 1024**3,
}


def parse_memory(text: str) -> int | None:
    """Redis's memtoull: ``1gb`` = 1024^3, ``1g`` = 1000^3; None when unparseable."""
    t = text.strip().lower()
    i = len(t)
    while i > 0 and t[i - 1].isalpha():
        i -= 1
    num, unit = t[:i], t[i:]
    if unit not in _UNITS or not num or not num.isdigit():  # memtoull: no sign at all
        return None
    return int(num) * _UNITS[unit]


def _parse_double(text: str) -> float | None:
    """string2d: strtod over the whole word (decimal or hex), never NaN."""
    if not text or "_" in text or text.strip() != text:
        return None  # Python's float() would take these, strtod does not
    try:
        v = float(text)
    except ValueError:
        if not re.match(r"[+-]?0[xX]", text):
            return None
        try:
            v = float.fromhex(text)
        except ValueError:
            return None
    return None if v != v else v


def _parse_int_strict(text: str) -> int | None:
    t = text.strip()
    if not t or t != text:
        return None
    neg = t.startswith("-")
    digits = t[1:] if neg else t
    if not digits.isdigit() or (len(digits) > 1 and digits[0] == "0"):
        return None
    return int(t)


class _Values(dict):
    """Directive values by name; every write is mirrored into the owner's ``__dict__``
    under the python name, so ``config.maxclients`` is a plain attribute read (hot paths
    read limits per command) instead of a ``__getattr__`` call."""

    __slots__ = ("_attrs",)

    def __init__(self, attrs: dict) -> None:
        super().__init__()
        self._attrs = attrs

    def __setitem__(self, name: str, value) -> None:
        super().__setitem__(name, value)
        self._attrs[name.replace("-", "_")] = value


class Config:
    """The live configuration. Attribute access uses python names (``maxclients``)."""

    def __init__(self) -> None:
        object.__setattr__(self, "_values", _Values(self.__dict__))
        object.__setattr__(self, "_hooks", {})
        object.__setattr__(self, "_appliers", {})
        # inside applying_once(): the apply functions due, each with the first directive
        # that made it due (the one Redis's error names)
        object.__setattr__(self, "_deferred", None)
        object.__setattr__(self, "source_file", None)
        # ``user`` lines of the config file (each: name, rules...), loaded by the ACL at start
        object.__setattr__(self, "acl_user_lines", [])
        # ``rename-command old new`` lines, in order: (old, new, where, lineno, line), applied
        # to the command table by the server at start (aki.core.registry.rename_command)
        object.__setattr__(self, "renames", [])
        # set by the ACL: the ``user`` lines CONFIG REWRITE writes (none with an aclfile)
        object.__setattr__(self, "acl_rewrite", None)
        for name, entry in _TABLE.items():
            default = entry.get("default")
            if default is None:
                if entry["kind"] in ("String", "SDS", "Special"):
                    default = ""
                elif entry["kind"] == "Bool":
                    default = "no"
                else:
                    default = str(max(_fix_limit(entry.get("min", 0)), 0))
            self._values[name] = self._parse(name, entry, default, startup=True)
        self._values["port"] = 6379
        # loopback only unless told otherwise (aki's spec; Redis's default is "* -::*",
        # which protected mode then guards: set it with --bind to get Redis's listeners)
        self._values["bind"] = "127.0.0.1 -::1"
        self._values["dir"] = os.getcwd()
        # the extracted table holds a daemonized test server's values for these two
        self._values["daemonize"] = False
        self._values["pidfile"] = ""

    # -- access ------------------------------------------------------------------------

    def __getattr__(self, pyname: str):
        name = pyname.replace("_", "-")
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(pyname) from None

    def __setattr__(self, pyname: str, value) -> None:
        self._values[pyname.replace("_", "-")] = value

    def raw(self, name: str):
        return self._values[self.canonical(name)]

    @staticmethod
    def canonical(name: str) -> str:
        n = name.lower()
        return _ALIASES.get(n, n)

    @staticmethod
    def known(name: str) -> bool:
        n = name.lower()
        return n in _TABLE or n in _ALIASES

    def on_change(self, name: str, fn: Callable[[object], None]) -> None:
        """Call ``fn(new_value)`` after ``name`` changes (CONFIG SET or a reload)."""
        self._hooks.setdefault(name, []).append(fn)

    def on_apply(self, names: Iterable[str], fn: Callable[[], None]) -> None:
        """Redis's apply function: ``fn()`` runs after any of ``names`` is set, once per
        CONFIG SET however many of them it sets (a new certificate and its key must be
        loaded together), and also when a VOLATILE_CONFIG (a file name) is set to the
        same value, which reloads the file. A ConfigError from it undoes the set."""
        for name in names:
            self._appliers.setdefault(name, []).append(fn)

    @contextmanager
    def applying_once(self) -> Iterator[None]:
        """CONFIG SET of several directives: every value is set first, then each apply
        function due runs once, as in Redis's configSetCommand. A failing one raises its
        ConfigError with ``directive`` naming the directive that made it due."""
        pending: list[tuple[Callable[[], None], str]] = []
        object.__setattr__(self, "_deferred", pending)
        try:
            yield
        finally:
            object.__setattr__(self, "_deferred", None)
        for fn, name in pending:
            try:
                fn()
            except ConfigError as exc:
                exc.directive = name
                raise

    def _apply(self, name: str) -> None:
        deferred = self._deferred
        for fn in self._appliers.get(name, ()):
            if deferred is None:
                fn()
            elif all(fn != f for f, _n in deferred):  # bound methods: equal, not identical
                deferred.append((fn, name))

    def names(self) -> list[str]:
        return list(_TABLE)

    def aliases_of(self, name: str) -> str | None:
        return _TABLE[name].get("alias")

    # -- parsing -----------------------------------------------------------------------

    def _parse(self, name: str, entry: dict, text: str, startup: bool = False):
        kind = entry["kind"]
        if kind == "Bool":
            t = text.lower()
            if t not in ("yes", "no"):
                raise ConfigError("argument must be 'yes' or 'no'")
            return t == "yes"
        if kind == "Enum":
            words = text.lower().split() if entry.get("bitflags") else [text.lower()]
            if not words or any(w not in entry["values"] for w in words):
                raise ConfigError(
                    "argument(s) must be one of the following: " + ", ".join(entry["values"])
                )
            if entry.get("bitflags"):
                # configEnumGetName: the set flags in the table's order ("default" is none)
                return " ".join(v for v in entry["values"] if v in words and v != "default") \
                    or "default"
            return " ".join(words)
        if kind in ("String", "SDS"):
            if name == "proc-title-template" and not _proc_title_template_ok(text):
                raise ConfigError("template format is invalid or contains unknown variables")
            return text
        if kind == "Special":
            return self._parse_special(name, text)
        # numeric
        numtype = entry.get("numtype", "INTEGER_CONFIG")
        if "PERCENT_CONFIG" in numtype:  # numericParseString: memory first, then NN%
            v = parse_memory(text) if "MEMORY_CONFIG" in numtype else None
            if v is None and len(text) > 1 and text.endswith("%"):
                p = _parse_int_strict(text[:-1])
                if p is not None and p >= 0:
                    v = -p
            if v is None:
                raise ConfigError("argument must be a memory or percent value"
                                  if "MEMORY_CONFIG" in numtype else
                                  "argument couldn't be parsed into an integer")
            numtype = "PERCENT_CONFIG"
        elif numtype == "MEMORY_CONFIG":
            v = parse_memory(text)
            if v is None:
                raise ConfigError("argument must be a memory value")
        elif numtype == "OCTAL_CONFIG":
            try:
                v = int(text, 8)
            except ValueError:
                raise ConfigError("argument couldn't be parsed as an octal number") from None
        else:
            v = _parse_int_strict(text)
            if v is None:
                raise ConfigError("argument couldn't be parsed into an integer")
        lo, hi = entry["min"], entry["max"]
        if numtype == "PERCENT_CONFIG" and v < 0:
            if v < lo:
                raise ConfigError(f"percentage argument must be less or equal to {-lo}")
        elif v < lo or v > hi:
            if numtype == "OCTAL_CONFIG":
                raise ConfigError(f"argument must be between {lo:o} and {hi:o} inclusive")
            raise ConfigError(f"argument must be between {lo} and {hi} inclusive")
        return v

    def _parse_special(self, name: str, text: str):
        if name == "save":
            parts = text.split()
            if len(parts) % 2:
                raise ConfigError("Invalid save parameters")
            for p in parts:
                if _parse_int_strict(p) is None or int(p) < 0:
                    raise ConfigError("Invalid save parameters")
            return " ".join(parts)
        if name == "notify-keyspace-events":
            for ch in text:
                if ch not in "KEg$lshzxetmdnA":
                    raise ConfigError("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.")
            return notify_flags(text)
        if name == "client-output-buffer-limit":
            parts = text.split()
            if len(parts) % 4:
                raise ConfigError("Wrong number of arguments in buffer limit configuration.")
            current = {}
            cur = self._values.get(name)
            if cur:
                cp = cur.split()
                for i in range(0, len(cp), 4):
                    current[cp[i]] = cp[i + 1 : i + 4]
            for i in range(0, len(parts), 4):
                cls = parts[i].lower()
                if cls == "replica":
                    cls = "slave"
                if cls not in ("normal", "slave", "pubsub"):
                    raise ConfigError("Invalid client class specified in buffer limit configuration.")
                hard, soft = parse_memory(parts[i + 1]), parse_memory(parts[i + 2])
                secs = _parse_int_strict(parts[i + 3])
                if hard is None or soft is None or secs is None or hard < 0 or soft < 0 or secs < 0:
                    raise ConfigError("Error in hard, soft or soft_seconds setting in buffer limit configuration.")
                current[cls] = [str(hard), str(soft), str(secs)]
            return " ".join(
                f"{c} {' '.join(current.get(c, ['0', '0', '0']))}" for c in ("normal", "slave", "pubsub")
            )
        if name == "latency-tracking-info-percentiles":
            # stored as Redis shows it: each value "%f" with trailing zeros trimmed; split
            # on single spaces (sdssplitlen), so a doubled space is an empty, bad value
            words = text.split(" ") if text else []
            out = []
            for w in words:
                v = _parse_double(w)
                if v is None:
                    raise ConfigError("Invalid latency-tracking-info-percentiles parameters")
                if not 0.0 <= v <= 100.0:
                    raise ConfigError("latency-tracking-info-percentiles parameters should "
                                      "sit between [0.0,100.0]")
                out.append(("%f" % v).rstrip("0").rstrip("."))
            return " ".join(out)
        if name == "oom-score-adj-values":  # setConfigOOMScoreAdjValuesOption
            parts = text.split()
            if len(parts) != 3:
                raise ConfigError("wrong number of arguments")
            vals = [_parse_int_strict(p) for p in parts]
            if any(v is None or not -2000 <= v <= 2000 for v in vals):
                raise ConfigError("Invalid oom-score-adj-values, elements must be between "
                                  "-2000 and 2000.")
            if vals[1] < vals[0] or vals[2] < vals[1]:  # type: ignore[operator]
                log.warning("The oom-score-adj-values configuration may not work for "
                            "non-privileged processes! Please consult the documentation.")
            return " ".join(str(v) for v in vals)
        if name == "replicaof":  # setConfigReplicaOfOption; the link starts at start-up
            parts = text.split()
            if not parts:
                return ""
            if len(parts) != 2:
                raise ConfigError("wrong number of arguments")
            if parts[0].lower() == "no" and parts[1].lower() == "one":
                return ""
            port = _parse_int_strict(parts[1])
            if port is None or not 0 <= port <= 65535:
                raise ConfigError("Invalid master port")
            return f"{parts[0]} {port}"
        if name == "dir":
            return text
        if name == "bind":
            return " ".join(text.split())
        return text

    def format(self, name: str) -> str:
        """The value as CONFIG GET shows it."""
        entry = _TABLE[name]
        v = self._values[name]
        kind = entry["kind"]
        if kind == "Bool":
            return "yes" if v else "no"
        if name == "notify-keyspace-events":
            return normalize_notify_flags(v)
        if kind in ("Enum", "String", "SDS", "Special"):
            return str(v)
        numtype = entry.get("numtype") or ""
        if "PERCENT_CONFIG" in numtype and v < 0:
            return f"{-v}%"
        if numtype == "OCTAL_CONFIG":
            return f"{v:o}"
        return str(v)

    def set(self, name: str, text: str, *, startup: bool = False) -> None:
        """Validate and apply one directive; raises ConfigError with Redis's wording."""
        name = self.canonical(name)
        entry = _TABLE.get(name)
        if entry is None:
            raise ConfigError(f"Unknown option '{name}'")
        value = self._parse(name, entry, text, startup=startup)
        old = self._values.get(name)
        self._values[name] = value
        if name == "dir" and not startup:
            try:
                os.chdir(value)
            except OSError as exc:
                self._values[name] = old
                raise ConfigError(exc.strerror or str(exc)) from None
        if old != value or "VOLATILE_CONFIG" in entry["flags"]:
            try:
                for fn in self._hooks.get(name, ()):
                    fn(value)
                self._apply(name)
            except ConfigError:
                self._values[name] = old  # a hook could not apply it: nothing changed
                raise

    def is_mutable(self, name: str) -> bool:
        flags = _TABLE[name]["flags"]
        return "IMMUTABLE_CONFIG" not in flags

    def is_protected(self, name: str) -> bool:
        return "PROTECTED_CONFIG" in _TABLE[name]["flags"]

    # -- files -------------------------------------------------------------------------

    def load_file(self, path: str | os.PathLike[str], _depth: int = 0) -> list[str]:
        """Apply a redis.conf-style file (``include`` works); returns inert directives seen."""
        if _depth == 0:
            object.__setattr__(self, "source_file", str(Path(path).resolve()))
        inert: list[str] = []
        text = Path(path).read_text()
        for lineno, line in enumerate(text.splitlines(), 1):
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            from aki.resp.parser import split_args

            args = split_args(stripped.encode())
            if args is None:
                raise StartupConfigError(path, lineno, line, "Unbalanced quotes in configuration line")
            words = [a.decode("utf-8", "replace") for a in args]
            name = words[0].lower()
            if name == "include":
                if len(words) != 2:
                    raise StartupConfigError(path, lineno, line, "Bad directive or wrong number of arguments")
                inert += self.load_file(words[1], _depth + 1)
                continue
            if name in _DEPRECATED:
                continue
            if name == "user" and len(args) >= 2:
                self.acl_user_lines.append(list(args[1:]))
                continue
            if name == "rename-command":
                if len(words) != 3:
                    raise StartupConfigError(path, lineno, line,
                                             "Bad directive or wrong number of arguments")
                self.renames.append((words[1], words[2], path, lineno, line))
                continue
            if name in ("user", "loadmodule", "sentinel"):
                inert.append(name)
                continue
            if not self.known(name):
                raise StartupConfigError(path, lineno, line, "Bad directive or wrong number of arguments")
            cname = self.canonical(name)
            entry = _TABLE[cname]
            multi = "MULTI_ARG_CONFIG" in entry["flags"] or entry["kind"] == "Special"
            if len(words) < 2 or (len(words) > 2 and not multi):
                if not (len(words) == 1 and entry["kind"] in ("String", "SDS", "Special")):
                    raise StartupConfigError(path, lineno, line, "wrong number of arguments")
            value = " ".join(words[1:])
            try:
                if cname == "save" and _depth >= 0 and getattr(self, "_save_seen", False):
                    value = self._values["save"] + " " + value if value else ""
                self.set(cname, value, startup=True)
                if cname == "save":
                    object.__setattr__(self, "_save_seen", True)
            except ConfigError as exc:
                raise StartupConfigError(path, lineno, line, exc.message) from None
            if cname not in EFFECTIVE and cname not in AKI_DIRECTIVES:
                inert.append(cname)
        return inert

    def rewrite(self, force_all: bool = False) -> None:
        """CONFIG REWRITE: write every non-default directive back to the source file
        (``force_all``, DEBUG CONFIG-REWRITE-FORCE-ALL: every directive, defaults too)."""
        path = self.source_file
        if not path:
            raise ConfigError("The server is running without a config file")
        defaults = Config()
        lines = []
        try:
            original = Path(path).read_text().splitlines()
        except OSError:
            original = []
        written = set()
        users = self.acl_rewrite() if self.acl_rewrite is not None else None
        for line in original:
            words = line.strip().split()
            if users is not None and words and words[0].lower() == "user":
                if users:  # rewriteConfigUserOption: users replace the old lines in order
                    lines.append(users.pop(0))
                continue
            if words and not words[0].startswith("#") and self.known(words[0]):
                name = self.canonical(words[0])
                if name in written:
                    continue
                written.add(name)
                lines.append(self._rewrite_line(words[0], name))
            else:
                lines.append(line)
        for name in _TABLE:
            if name in written:
                continue
            if force_all or self._values[name] != defaults._values[name]:
                line = self._rewrite_line(name, name)
                if line:
                    lines.append(line)
        lines += users or []
        tmp = f"{path}.tmp-{os.getpid()}"
        with open(tmp, "w") as f:
            f.write("\n".join(lines) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    def _rewrite_line(self, word: str, name: str) -> str:
        """One directive's line for CONFIG REWRITE. ``replicaof`` is written as Redis's
        rewriteConfigReplicaOfOption does: ``replicaof host port`` unquoted, and on a
        primary the old line is blanked (a promoted replica restarts as a primary)."""
        if name == "replicaof":
            v = self.format(name)
            return f"{word} {v}" if v else ""
        return f"{word} {self._quoted(name)}".rstrip()

    def _quoted(self, name: str) -> str:
        v = self.format(name)
        if _TABLE[name]["kind"] in ("String", "SDS") and (not v or " " in v):
            return '"' + v.replace('"', '\\"') + '"'
        return v


class StartupConfigError(Exception):
    """A bad line in the configuration file: named with its line, as Redis does."""

    def __init__(self, path, lineno: int, line: str, reason: str) -> None:
        self.text = (
            "\n*** FATAL CONFIG FILE ERROR (aki) ***\n"
            f"Reading the configuration file {path}, at line {lineno}\n"
            f">>> '{line.strip()}'\n{reason}\n"
        )
        super().__init__(self.text)


def notify_flags(text: str) -> str:
    """The flags notify-keyspace-events sets, canonical (every letter; A expanded)."""
    flags = set(text)
    if "A" in flags:
        flags |= set("g$lshzxetd")
    return "".join(c for c in "g$lshzxetdnKEm" if c in flags)


def normalize_notify_flags(text: str) -> str:
    """How Redis shows the flags (keyspaceEventsFlagsToString): 'A' hides 'n', as there."""
    flags = set(text)
    if "A" in flags:
        flags |= set("g$lshzxetd")
    if set("g$lshzxetd") <= flags:
        res = "A"
    else:
        res = "".join(c for c in "g$lshzxetdn" if c in flags)
    return res + "".join(c for c in "KEm" if c in flags)
