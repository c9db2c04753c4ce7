"""ACL: the ACL command, AUTH against ACL users, and the permission guard.

State lives in one ``Acl`` object (``server.extensions["acl_state"]``), created at
server start (to load ``aclfile`` or the config file's ``user`` lines) or on first
use by the embedded library. It registers itself as ``server.extensions["acl"]``
for AUTH/HELLO (connection.check_password) and installs the dispatcher's
``guard`` only while some user could be refused something: a server whose only
user is an unrestricted ``default`` keeps dispatch's fast path.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from aki import errors
from aki.commands.common import parse_int, to_int
from aki.commands.connection import client_info_line, close_client, help_reply
from aki.core import acl as A
from aki.core.registry import COMMANDS, Command, command
from aki.errors import RedisError
from aki.resp.types import OK, ErrorReply, RespSet

log = logging.getLogger("aki.acl")

_LOG_GROUP_MS = 60000
_REASONS = {A.DENIED_CMD: "command", A.DENIED_KEY: "key", A.DENIED_CHANNEL: "channel",
            A.DENIED_AUTH: "auth"}
_CMD_ERRORS = {
    A.DENIED_CMD: "can't run this command or subcommand",
    A.DENIED_KEY: "can't access at least one of the keys mentioned in the command arguments",
    A.DENIED_CHANNEL: "can't publish to the channel mentioned in the command",
}
_EXEC_REASONS = {
    A.DENIED_CMD: "no permission to execute the command or subcommand",
    A.DENIED_KEY: "no permission to touch the specified keys",
    A.DENIED_CHANNEL: "no permission to access one of the channels used as arguments",
}
_NO_ACLFILE = (
    "ERR This Redis instance is not configured to use an ACL file. You may want to specify "
    "users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a "
    "Redis configuration file set) in order to store users in the Redis configuration.")


class LogEntry:
    __slots__ = ("count", "reason", "context", "object", "username", "ctime", "cinfo")

    def __init__(self, reason: int, context: str, obj: bytes, username: str, cinfo: str) -> None:
        self.count = 1
        self.reason = reason
        self.context = context
        self.object = obj
        self.username = username
        self.ctime = int(time.time() * 1000)
        self.cinfo = cinfo


# -- key references as ACL checks them (getKeysFromCommandWithSpecs) -----------------------

_FLAG_CACHE: dict[int, int] = {}


def _rw(flags: Any) -> int:
    """Key spec flags -> the R/W permissions a pattern must grant (ACLSelectorCheckKey)."""
    out = 0
    if "access" in flags:
        out |= A.READ
    if "insert" in flags or "delete" in flags or "update" in flags:
        out |= A.WRITE
    return out


def _compile_specs(cmd: Command) -> list[tuple] | None:
    """The command's key specs as tuples, parsed once (getKeysUsingKeySpecs runs per
    command of a restricted user). None when a spec has a begin_search or find_keys
    type only the generic code knows."""
    from aki.commands import introspection as I  # noqa: N812

    out: list[tuple] = []
    for spec in I._spec_list(cmd):
        flags = spec.get(b"flags", ())
        if "not_key" in flags:
            continue
        bs = spec[b"begin_search"]
        fk = spec[b"find_keys"]
        if bs[b"type"] == b"index":
            begin: tuple = ("index", bs[b"spec"][b"index"])
        elif bs[b"type"] == b"keyword":
            begin = ("keyword", bs[b"spec"][b"keyword"].lower(), bs[b"spec"][b"startfrom"])
        else:
            return None
        fs = fk[b"spec"]
        if fk[b"type"] == b"range":
            find: tuple = ("range", fs[b"lastkey"], fs[b"keystep"], fs[b"limit"])
        elif fk[b"type"] == b"keynum":
            find = ("keynum", fs[b"keynumidx"], fs[b"firstkey"], fs[b"keystep"])
        else:
            return None
        out.append((begin, find, _rw(flags), "incomplete" in flags))
    return out


def _keys_from_compiled(specs: list[tuple], argv: list[bytes]) -> list[tuple[int, int]] | None:
    """getKeysUsingKeySpecs over compiled specs (introspection.keys_from_specs' logic)."""
    argc = len(argv)
    result: list[tuple[int, int]] = []
    for begin, find, rw, incomplete in specs:
        if begin[0] == "index":
            first = begin[1]
        else:
            kw, start = begin[1], begin[2]
            si = start if start > 0 else argc + start
            ei = argc - 1 if start > 0 else 1
            first = 0
            i = si
            while not (i == ei or i >= argc or i < 1):
                if argv[i].lower() == kw:
                    first = i + 1
                    break
                i = i + 1 if si <= ei else i - 1
            if not first:
                continue
        if find[0] == "range":
            lastkey, step, limit = find[1], find[2], find[3]
            if lastkey >= 0:
                last = first + lastkey
            elif not limit:
                last = argc + lastkey
            else:
                last = first + ((argc - first) // limit + lastkey)
        else:
            idx, firstkey, step = find[1], find[2], find[3]
            if first + idx >= argc:
                return None
            numkeys = to_int(argv[first + idx])
            if numkeys is None or numkeys < 0:
                return None
            first += firstkey
            last = first + numkeys - 1
        if last >= argc or last < first or first >= argc:
            return None
        for i in range(first, last + 1, step):
            result.append((i, rw))
        if incomplete:
            return None
    return result


def key_finder(cmd: Command):
    """A function argv -> [(position, R/W bits)] for ``cmd`` (getKeysFromCommandWithSpecs:
    the key specs, else the command's own key finder; SET and BITFIELD have variable
    flags and SORT's BY/GET spec is unknown, so theirs are written out here)."""
    from aki.commands import introspection as I  # noqa: N812

    name = cmd.fullname
    if name in ("sort", "sort_ro"):
        def sort_keys(argv: list[bytes]) -> list[tuple[int, int]]:
            refs = I._sort_keys(argv)
            return [(i, _rw(f)) for i, f in (refs[:1] if name == "sort_ro" else refs)]
        return sort_keys
    if name == "set":
        def set_keys(argv: list[bytes]) -> list[tuple[int, int]]:
            get = any(a.lower() == b"get" for a in argv[3:])
            return [(1, A.READ | A.WRITE if get else A.WRITE)] if len(argv) > 1 else []
        return set_keys
    if name == "bitfield":
        def bitfield_keys(argv: list[bytes]) -> list[tuple[int, int]]:
            ro = not any(a.lower() in (b"set", b"incrby") for a in argv[2:])
            return [(1, A.READ if ro else A.READ | A.WRITE)] if len(argv) > 1 else []
        return bitfield_keys
    specs = _compile_specs(cmd)
    fallback = cmd.key_finder
    bits = A.READ | A.WRITE if name == "migrate" else 0  # migrateGetKeys: RW access delete
    if specs is not None and not specs and fallback is None:
        return None  # no keys at all: nothing to check

    def find(argv: list[bytes]) -> list[tuple[int, int]]:
        refs = _keys_from_compiled(specs, argv) if specs is not None else None
        if refs is None:
            if fallback is None:
                return []
            return [(i, bits) for i in fallback(argv) if i < len(argv)]
        return refs

    return find


class Acl:
    """Users, the ACL log, and the hooks the rest of aki calls."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.users: dict[str, A.User] = {}
        self.log: list[LogEntry] = []
        self._cmds: dict[str, tuple[A._Cmd, Any]] = {}
        default = A.User("default")
        for op in (b"+@all", b"~*", b"&*", b"on", b"nopass"):
            default.apply(op, False)
        self.users["default"] = default
        cfg = server.config
        if cfg.requirepass:
            self._set_default_password(cfg.requirepass)
        cfg.on_change("requirepass", self._requirepass_changed)
        object.__setattr__(cfg, "acl_rewrite", self.config_lines)
        server.extensions["acl"] = self
        server.extensions["acl_state"] = self
        self.refresh()

    # -- hooks used by connection.py, dispatch and scripting -----------------------------

    @property
    def default(self) -> A.User:
        return self.users["default"]

    def pubsub_default_all(self) -> bool:
        return self.server.config.acl_pubsub_default == "allchannels"

    def default_open(self) -> bool:
        """No AUTH needed: the default user is on and nopass (authRequired)."""
        d = self.default
        return d.nopass and d.enabled

    def default_nopass(self) -> bool:
        return self.default.nopass

    def user_exists(self, name: str) -> bool:
        return name in self.users

    def authenticate(self, client: Any, username: bytes, password: bytes,
                     argv0: bytes = b"AUTH") -> bool:
        """ACLAuthenticateUser: a failure is logged (reason auth)."""
        name = username.decode("utf-8", "surrogateescape")
        user = self.users.get(name)
        if user is not None and user.check_password(password):
            client.acl_auth = True
            return True
        self.add_log(client, A.DENIED_AUTH, self._context(client), argv0, name, None, None)
        return False

    def reset_client(self, client: Any) -> None:
        """RESET: back to the default user, authenticated only if it needs no password."""
        client.user = "default"
        client.acl_auth = self.default_open()
        client.authenticated = client.acl_auth

    def _set_default_password(self, password: str) -> None:
        d = self.default
        d.apply(b"resetpass", False)
        if password:
            d.apply(b">" + password.encode("utf-8", "surrogateescape"), False)
        else:
            d.apply(b"nopass", False)

    def _requirepass_changed(self, value: Any) -> None:
        self._set_default_password(str(value or ""))
        self.refresh()

    def refresh(self) -> None:
        """After any change of users: install or remove the guard, and re-derive which
        clients may run commands without AUTH (Redis's authRequired() is dynamic)."""
        server = self.server
        needed = len(self.users) > 1 or not self.default.unrestricted()
        if needed:
            server.extensions["guard"] = self.guard
        elif server.extensions.get("guard") == self.guard:
            server.extensions.pop("guard", None)
        is_open = self.default_open()
        for cl in list(server.clients.values()):
            if cl.kind != "normal":
                continue
            explicit = cl.__dict__.get("acl_auth")
            if explicit is None:
                explicit = cl.acl_auth = cl.authenticated
            cl.authenticated = bool(explicit) or is_open

    def _context(self, client: Any) -> str:
        if client.in_multi or (client.deny_blocking and self.server.call_depth > 0
                               and client.kind != "lua"):
            return "multi"
        return "toplevel"

    def command_of(self, cmd: Command) -> tuple[A._Cmd, Any]:
        entry = self._cmds.get(cmd.fullname)
        if entry is None:
            u = A.universe()
            c = u.lookup(cmd.fullname) or u.proxies.get(cmd.fullname)
            if c is None:  # unknown to Redis 7.0 and without a proxy: only +@all runs it
                c = A._Cmd(cmd.fullname, -1, set(), None)
            entry = self._cmds[cmd.fullname] = (c, key_finder(cmd))
        return entry

    def check(self, user: A.User, cmd: Command, argv: list[bytes]) -> tuple[int, int]:
        c, finder = self.command_of(cmd)
        return user.check(c, cmd.noauth, argv, finder)

    def guard(self, client: Any, cmd: Command, argv: list[bytes]) -> ErrorReply | None:
        """processCommand's ACL check (and EXEC's re-check of queued commands). Internal
        clients (AOF loading, a primary's link) have no user in Redis: never refused."""
        user = self.users.get(client.user)
        if user is None or user.unrestricted() or client.kind != "normal":
            return None
        res, idx = self.check(user, cmd, argv)
        if res == A.OK:
            return None
        exec_time = client.deny_blocking and self.server.call_depth > 0
        ctx = "multi" if client.in_multi or exec_time else "toplevel"
        self.add_log(client, res, ctx, None, None, cmd, argv, idx)
        if exec_time:
            return ErrorReply(
                "NOPERM ACLs rules changed between the moment the transaction was accumulated "
                "and the EXEC call. This command is no longer allowed for the following "
                f"reason: {_EXEC_REASONS[res]}")
        if res == A.DENIED_CMD:
            return ErrorReply(
                f"NOPERM this user has no permissions to run the '{cmd.fullname}' command")
        if res == A.DENIED_KEY:
            return ErrorReply("NOPERM this user has no permissions to access one of the keys "
                              "used as arguments")
        return ErrorReply("NOPERM this user has no permissions to access one of the channels "
                          "used as arguments")

    def script_check(self, lua: Any, caller: Any, cmd: Command, argv: list[bytes]) -> str | None:
        """scriptVerifyACL: the error text for a refused ``redis.call``, or None."""
        user = self.users.get(lua.user)
        if user is None or user.unrestricted():
            return None
        res, idx = self.check(user, cmd, argv)
        if res == A.OK:
            return None
        run = self.server.extensions.get("script_run")
        current = "eval" if run is None or run.is_eval else "fcall"
        self.add_log(caller, res, "lua", None, lua.user, cmd, argv, idx, current)
        return f"ERR The user executing the script {_CMD_ERRORS[res]}"

    def script_allowed(self, username: str, cmd: Command, argv: list[bytes]) -> bool:
        """redis.acl_check_cmd."""
        user = self.users.get(username)
        if user is None:
            return True
        return self.check(user, cmd, argv)[0] == A.OK

    def full_key_access(self, client: Any, cmd: Command, argv: list[bytes]) -> bool:
        """ACLUserCheckCmdWithUnrestrictedKeyAccess(..., CMD_KEY_ACCESS): SORT BY/GET."""
        user = self.users.get(client.user)
        if user is None or user.unrestricted():
            return True
        c, finder = self.command_of(cmd)
        keys = A._KeyCache(finder, argv)
        for s in user.selectors:
            res, _ = s.check_cmd(c, cmd.noauth, argv, keys)
            if res != A.OK:
                continue
            if s.allkeys or any(p.flags & A.READ and p.pattern == b"*" for p in s.patterns):
                return True
        return False

    # -- the ACL log ---------------------------------------------------------------------

    def add_log(self, client: Any, reason: int, context: str, obj: bytes | None,
                username: str | None, cmd: Command | None, argv: list[bytes] | None = None,
                idx: int = 0, current: str | None = None) -> None:
        """addACLLogEntry: similar recent entries (same reason, context, object, user,
        within 60 s, among the last 10) are counted in one."""
        if obj is None:
            assert cmd is not None and argv is not None
            obj = cmd.fullname.encode() if reason == A.DENIED_CMD else argv[idx]
        if username is None:
            username = client.user
        if current is None:  # a script's refusal names the EVAL/FCALL of its caller
            current = cmd.fullname if cmd is not None else (
                "auth" if obj.lower() == b"auth" else "hello")
        cinfo = client_info_line(client, client, current, argv=argv)
        entry = LogEntry(reason, context, obj, username, cinfo)
        for i, cur in enumerate(self.log[:10]):
            if (cur.reason == reason and cur.context == context and cur.object == obj
                    and cur.username == username
                    and abs(cur.ctime - entry.ctime) <= _LOG_GROUP_MS):
                del self.log[i]
                cur.cinfo = cinfo
                cur.ctime = entry.ctime
                cur.count += 1
                self.log.insert(0, cur)
                return
        self.log.insert(0, entry)
        limit = self.server.config.acllog_max_len
        del self.log[max(limit, 0):]

    # -- changing users ------------------------------------------------------------------

    def set_user(self, name: str, ops: list[bytes]) -> None:
        """ACLStringSetUser: every rule applied to a copy, committed only if all are valid."""
        merged, bad = A.merge_selector_args(ops)
        if merged is None:
            raise RedisError("ERR Unmatched parenthesis in acl selector starting at '"
                             + ops[bad].decode("utf-8", "surrogateescape") + "'.")
        current = self.users.get(name)
        temp = current.clone() if current is not None else A.User(
            name, self.pubsub_default_all())
        pda = self.pubsub_default_all()
        for op in merged:
            try:
                temp.apply(op, pda)
            except A.AclError as exc:
                raise RedisError(f"ERR Error in ACL SETUSER modifier '{errors.cstr(op)}': "
                                 f"{exc.text}") from None
        if current is not None:
            self._kill_pubsub_if_needed(temp, current)
            current.copy_from(temp)
        else:
            self.users[name] = temp
        self.refresh()

    def _kill_pubsub_if_needed(self, new: A.User, original: A.User) -> None:
        """ACLKillPubsubClientsIfNeeded: subscribers that lost a channel are disconnected."""
        if any(s.allchannels for s in new.selectors):
            return
        upcoming = [ch for s in new.selectors for ch in s.channels]
        match = True
        for s in original.selectors:
            if s.allchannels or any(ch not in upcoming for ch in s.channels):
                match = False
                break
        if match:
            return
        for cl in list(self.server.clients.values()):
            if cl.user != original.name or not cl.in_pubsub_mode():
                continue
            kill = any(not A.channel_in_list(upcoming, p, True) for p in cl.patterns) or any(
                not A.channel_in_list(upcoming, ch, False)
                for ch in list(cl.channels) + list(cl.shard_channels))
            if kill:
                self._kill(cl)

    def _kill(self, cl: Any, current: Any = None) -> None:
        if cl is current:
            cl.close_after_reply = True
        else:
            close_client(cl)

    def delete_users(self, names: list[str], caller: Any) -> int:
        deleted = 0
        for name in names:
            if self.users.pop(name, None) is not None:
                self._kill_clients_of(name, caller)
                deleted += 1
        self.refresh()
        return deleted

    def _kill_clients_of(self, name: str, caller: Any) -> None:
        """ACLFreeUserAndKillClients."""
        for cl in list(self.server.clients.values()):
            if cl.user == name:
                cl.user = "default"
                cl.acl_auth = False
                cl.authenticated = False
                self._kill(cl, caller)

    # -- files ---------------------------------------------------------------------------

    def load_file(self, path: str, caller: Any = None) -> str | None:
        """ACLLoadFromFile: all or nothing; returns the errors as one line, or None."""
        cfg = self.server.config
        label = cfg.aclfile
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as exc:
            return f"Error loading ACLs, opening file '{label}': {exc.strerror}"
        errors = ""
        users: dict[str, A.User] = {}
        pda = self.pubsub_default_all()
        for i, raw in enumerate(data.split(b"\n")):
            linenum = i + 1
            line = raw.strip(b" \t\r\n")
            if not line:
                continue
            argv = line.split(b" ")  # sdssplitlen on single spaces, as Redis
            if not argv:
                continue
            if argv[0] != b"user" or len(argv) < 2:
                errors += (f"{label}:{linenum} should start with user keyword followed by "
                           "the username. ")
                continue
            uname = argv[1].decode("utf-8", "surrogateescape")
            if A.has_spaces(argv[1]):
                errors += (f"'{label}:{linenum}: username '{uname}' contains invalid "
                           "characters. ")
                continue
            if uname in users:
                errors += f"WARNING: Duplicate user '{uname}' found on line {linenum}. "
                continue
            u = A.User(uname, pda)
            users[uname] = u
            merged, _ = A.merge_selector_args(argv[2:])
            if merged is None:
                errors += f"{label}:{linenum}: Unmatched parenthesis in selector definition."
                merged = []
            syntax_error = False
            for op in merged:
                op = op.strip(b"\t\r\n")
                try:
                    u.apply(op, pda)
                except A.AclError as exc:
                    if exc.code == "ENOENT":
                        errors += (f"{label}:{linenum}: Error in applying operation '"
                                   + op.decode("utf-8", "surrogateescape")
                                   + f"': {exc.text}. ")
                    elif not syntax_error:
                        errors += f"{label}:{linenum}: {exc.text}. "
                        syntax_error = True
        if errors:
            return errors + ("WARNING: ACL errors detected, no change to the previously "
                             "active ACL rules was performed")
        new_default = users.pop("default", None)
        if new_default is None:
            new_default = A.User("default")
            for op in (b"+@all", b"~*", b"&*", b"on", b"nopass"):
                new_default.apply(op, False)
        old = self.users
        default = old.pop("default")
        default.copy_from(new_default)
        self.users = {"default": default, **users}
        for name in old:
            self._kill_clients_of(name, caller)
        self.refresh()
        return None

    def save_file(self, path: str) -> bool:
        """ACLSaveToFile: write to a temporary file, then rename over the ACL file."""
        text = b"".join(b"user " + name.encode("utf-8", "surrogateescape") + b" "
                        + self.users[name].describe() + b"\n" for name in self.sorted_names())
        tmp = f"{path}.tmp-{os.getpid()}-{int(time.time() * 1000)}"
        try:
            with open(tmp, "wb") as f:
                f.write(text)
            os.replace(tmp, path)
        except OSError as exc:
            log.warning("Writing ACL file for ACL SAVE: %s", exc.strerror)
            try:
                os.unlink(tmp)
            except OSError:
                pass
            return False
        return True

    def config_lines(self) -> list[str]:
        """rewriteConfigUserOption: every user as a ``user`` line, unless an aclfile
        holds them (then the config file keeps none)."""
        if self.server.config.aclfile:
            return []
        return ["user " + n + " " + self.users[n].describe().decode("utf-8", "surrogateescape")
                for n in self.sorted_names()]

    def sorted_names(self) -> list[str]:
        """The rax order Redis lists users in: byte order of the names."""
        return sorted(self.users, key=lambda n: n.encode("utf-8", "surrogateescape"))

    def load_config_users(self, lines: list[list[bytes]]) -> str | None:
        """ACLLoadConfiguredUsers: the config file's ``user`` lines, in order."""
        pda = self.pubsub_default_all()
        seen: set[str] = set()
        for argv in lines:
            name = argv[0].decode("utf-8", "surrogateescape")
            if name in seen:
                return ("Error in user declaration '" + name + "': "
                        + A.SET_ERRORS["EALREADY"])
            seen.add(name)
            merged, bad = A.merge_selector_args(argv[1:])
            if merged is None:
                return "Unmatched parenthesis in acl selector"
            if A.has_spaces(argv[0]):
                return "Spaces not allowed in ACL usernames"
            u = self.users.get(name)
            if u is None:
                u = self.users[name] = A.User(name, pda)
            else:
                u.apply(b"reset", pda)
            for op in merged:
                try:
                    u.apply(op, pda)
                except A.AclError as exc:
                    return (f"Error loading ACL rule '{op.decode('utf-8', 'surrogateescape')}'"
                            f" for the user named '{name}': {exc.text}")
        self.refresh()
        return None


def state(server: Any) -> Acl:
    st = server.extensions.get("acl_state")
    if st is None:
        st = Acl(server)
    return st


def startup(server: Any) -> None:
    """ACLLoadUsersAtStartup: config ``user`` lines or the ``aclfile``, never both."""
    st = state(server)
    cfg = server.config
    lines = getattr(cfg, "acl_user_lines", None) or []
    if cfg.aclfile and lines:
        raise SystemExit(
            "Configuring Redis with users defined in redis.conf and at the same setting an ACL "
            "file path is invalid. This setup is very likely to lead to configuration errors "
            "and security holes, please define either an ACL file or declare users directly "
            "in your redis.conf, but not both.")
    err = st.load_config_users(lines)
    if err is not None:
        raise SystemExit(f"{err}\nCritical error while loading ACLs. Exiting.")
    if cfg.aclfile:
        err = st.load_file(resolve_path(server))
        if err is not None:
            raise SystemExit(f"Aborting Redis startup because of ACL errors: {err}")


# -- the ACL command ----------------------------------------------------------------------


def _syntax(argv: list[bytes]) -> RedisError:
    sub = argv[1].decode("utf-8", "surrogateescape")[:128]
    return RedisError(f"ERR unknown subcommand or wrong number of arguments for '{sub}'. "
                      f"Try {argv[0].decode('utf-8', 'surrogateescape').upper()} HELP.")


def _name(b: bytes) -> str:
    return b.decode("utf-8", "surrogateescape")


@command("acl|setuser")
def acl_setuser(c, argv):
    if A.has_spaces(argv[2]):
        raise RedisError("ERR Usernames can't contain spaces or null characters")
    state(c.server).set_user(_name(argv[2]), list(argv[3:]))
    return OK


@command("acl|deluser")
def acl_deluser(c, argv):
    names = [_name(a) for a in argv[2:]]
    if "default" in names:
        raise RedisError("ERR The 'default' user cannot be removed")
    return state(c.server).delete_users(names, c)


def _selector_fields(s: A.Selector) -> list:
    return [b"commands", s.describe_commands(), b"keys", s.describe_keys(),
            b"channels", s.describe_channels()]


@command("acl|getuser")
def acl_getuser(c, argv):
    u = state(c.server).users.get(_name(argv[2]))
    if u is None:
        return None
    out: dict = {
        b"flags": RespSet([f.encode() for f in u.flag_names()]),
        b"passwords": [p.encode() for p in u.passwords],
    }
    fields = _selector_fields(u.root)
    for i in range(0, len(fields), 2):
        out[fields[i]] = fields[i + 1]
    out[b"selectors"] = [_as_map(_selector_fields(s)) for s in u.selectors[1:]]
    return out


def _as_map(fields: list) -> dict:
    return {fields[i]: fields[i + 1] for i in range(0, len(fields), 2)}


@command("acl|list")
def acl_list(c, argv):
    st = state(c.server)
    return [b"user " + n.encode("utf-8", "surrogateescape") + b" " + st.users[n].describe()
            for n in st.sorted_names()]


@command("acl|users")
def acl_users(c, argv):
    return [n.encode("utf-8", "surrogateescape") for n in state(c.server).sorted_names()]


@command("acl|whoami")
def acl_whoami(c, argv):
    return c.user.encode("utf-8", "surrogateescape")


def resolve_path(server: Any) -> str:
    """The aclfile, relative to ``dir`` as for Redis (which runs inside ``dir``)."""
    cfg = server.config
    return os.path.join(cfg.dir, cfg.aclfile)


def _aclfile(c, argv) -> str:
    if not c.server.config.aclfile:
        raise RedisError(_NO_ACLFILE)
    return resolve_path(c.server)


@command("acl|load")
def acl_load(c, argv):
    path = _aclfile(c, argv)
    err = state(c.server).load_file(path, c)
    if err is not None:
        raise RedisError("ERR " + err)
    return OK


@command("acl|save")
def acl_save(c, argv):
    path = _aclfile(c, argv)
    if not state(c.server).save_file(path):
        raise RedisError("ERR There was an error trying to save the ACLs. Please check the "
                         "server logs for more information")
    return OK


@command("acl|cat")
def acl_cat(c, argv):
    if len(argv) == 2:
        return [cat.encode() for cat in A.CATEGORIES]
    if len(argv) != 3:
        raise _syntax(argv)
    cat = argv[2].decode("utf-8", "surrogateescape")
    if cat.lower() not in A.CATEGORIES:
        raise RedisError(f"ERR Unknown category '{cat[:128]}'")
    cat = cat.lower()
    out = []
    for top in A.universe().walk():
        for cmd in [top, *top.subs.values()]:
            if cat in cmd.categories:
                out.append(cmd.fullname.encode())
    return out


@command("acl|genpass")
def acl_genpass(c, argv):
    bits = 256
    if len(argv) == 3:
        bits = parse_int(argv[2])
    elif len(argv) > 3:
        raise _syntax(argv)
    if bits <= 0 or bits > 4096:
        raise RedisError("ERR ACL GENPASS argument must be the number of bits for the output "
                         "password, a positive number up to 4096")
    chars = (bits + 3) // 4
    return os.urandom((chars + 1) // 2).hex()[:chars].encode()


@command("acl|log")
def acl_log(c, argv):
    st = state(c.server)
    count = 10
    if len(argv) == 3:
        if argv[2].lower() == b"reset":
            st.log.clear()
            return OK
        count = max(parse_int(argv[2]), 0)
    elif len(argv) > 3:
        raise _syntax(argv)
    now = int(time.time() * 1000)
    out = []
    for e in st.log[:count]:
        out.append({
            b"count": e.count,
            b"reason": _REASONS.get(e.reason, "unknown").encode(),
            b"context": e.context.encode(),
            b"object": e.object,
            b"username": e.username.encode("utf-8", "surrogateescape"),
            b"age-seconds": (now - e.ctime) / 1000,
            b"client-info": e.cinfo.encode("utf-8", "surrogateescape"),
        })
    return out


def _lookup(argv: list[bytes]) -> Command | None:
    """lookupCommand over Redis 7.0's whole table (DRYRUN may name any command)."""
    from aki.commands.introspection import _spec_command
    from aki.core.registry import table_entry

    name = argv[0].lower()
    reg = COMMANDS.get(name)
    if reg is None and table_entry(name.decode("utf-8", "surrogateescape")).get("info") is None:
        return None
    info = table_entry(name.decode("utf-8", "surrogateescape")).get("info")
    subs = (reg.subcommands if reg is not None else {}) or (info[9] if info else None)
    if len(argv) == 1 or not subs:
        if reg is not None and reg.info is not None:
            return reg
        return Command(name.decode("utf-8", "surrogateescape"), info, None, None)
    return _spec_command(argv[:2])


@command("acl|dryrun")
def acl_dryrun(c, argv):
    st = state(c.server)
    user = st.users.get(_name(argv[2]))
    if user is None:
        raise RedisError(f"ERR User '{_name(argv[2])}' not found")
    target = list(argv[3:])
    cmd = _lookup(target)
    if cmd is None:
        raise RedisError(f"ERR Command '{_name(argv[3])}' not found")
    n = len(target)
    if (cmd.arity > 0 and cmd.arity != n) or n < -cmd.arity:
        raise RedisError(f"ERR wrong number of arguments for '{cmd.fullname}' command")
    res, idx = st.check(user, cmd, target)
    if res == A.DENIED_CMD:
        return f"This user has no permissions to run the '{cmd.fullname}' command".encode()
    if res == A.DENIED_KEY:
        return b"This user has no permissions to access the '" + target[idx] + b"' key"
    if res == A.DENIED_CHANNEL:
        return b"This user has no permissions to access the '" + target[idx] + b"' channel"
    return OK


_HELP = [
    "CAT [<category>]",
    "    List all commands that belong to <category>, or all command categories",
    "    when no category is specified.",
    "DELUSER <username> [<username> ...]",
    "    Delete a list of users.",
    "DRYRUN <username> <command> [<arg> ...]",
    "    Returns whether the user can execute the given command without executing the command.",
    "GETUSER <username>",
    "    Get the user's details.",
    "GENPASS [<bits>]",
    "    Generate a secure 256-bit user password. The optional `bits` argument can",
    "    be used to specify a different size.",
    "LIST",
    "    Show users details in config file format.",
    "LOAD",
    "    Reload users from the ACL file.",
    "LOG [<count> | RESET]",
    "    Show the ACL log entries.",
    "SAVE",
    "    Save the current config to the ACL file.",
    "SETUSER <username> <attribute> [<attribute> ...]",
    "    Create or modify a user with the specified attributes.",
    "USERS",
    "    List all the registered usernames.",
    "WHOAMI",
    "    Return the current connection username.",
]


@command("acl|help")
def acl_help(c, argv):
    return help_reply(argv[0], _HELP)



# -- secrets kept out of SLOWLOG and MONITOR (redactClientCommandArgument) ---------------

_REDACTED = b"(redacted)"


def _redact_auth(argv: list[bytes]) -> list[bytes]:
    if len(argv) > 3:
        return argv  # a syntax error, answered before Redis redacts
    return [argv[0]] + [_REDACTED] * (len(argv) - 1)


def _redact_hello(argv: list[bytes]) -> list[bytes]:
    out = list(argv)
    j = 2
    while j < len(out):
        opt = out[j].lower()
        if opt == b"auth" and len(out) - j - 1 >= 2:
            out[j + 1] = out[j + 2] = _REDACTED
            j += 3
        elif opt == b"setname" and len(out) - j - 1 >= 1:
            j += 2
        else:
            break
    return out


def _redact_acl(argv: list[bytes]) -> list[bytes]:
    if len(argv) >= 3 and argv[1].lower() == b"setuser":
        return argv[:2] + [_REDACTED] * (len(argv) - 2)
    return argv


def _redact_migrate(argv: list[bytes]) -> list[bytes]:
    out = list(argv)
    j = 6
    while j < len(out):
        opt = out[j].lower()
        more = len(out) - j - 1
        if opt == b"auth" and more >= 1:
            out[j + 1] = _REDACTED
            j += 1
        elif opt == b"auth2" and more >= 2:
            out[j + 1] = out[j + 2] = _REDACTED
            j += 2
        elif opt == b"keys":
            break
        j += 1
    return out


_SENSITIVE = {b"requirepass", b"masterauth", b"masteruser"}


def _redact_config(argv: list[bytes]) -> list[bytes]:
    if len(argv) < 4 or argv[1].lower() != b"set":
        return argv
    out = list(argv)
    for i in range(2, len(out) - 1, 2):
        if out[i].lower() in _SENSITIVE:
            out[i + 1] = _REDACTED
    return out


def _register_redactors() -> None:
    from aki.core import dispatch

    dispatch.REDACTORS.update({b"auth": _redact_auth, b"hello": _redact_hello,
                               b"acl": _redact_acl, b"migrate": _redact_migrate,
                               b"config": _redact_config})


_register_redactors()
