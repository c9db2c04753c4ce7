"""Connection commands: PING ECHO HELLO AUTH SELECT QUIT RESET."""

from __future__ import annotations

import hashlib
import hmac
import time

from aki import errors
from aki.commands.common import to_int
from aki.core.registry import command
from aki.errors import RedisError
from aki.resp.types import OK, PONG, Status, Verbatim


@command("ping")
def ping(c, argv):
    if len(argv) > 2:
        raise RedisError("ERR wrong number of arguments for 'ping' command")
    if c.resp == 2 and c.in_pubsub_mode():
        return [b"pong", argv[1] if len(argv) > 1 else b""]
    if len(argv) == 2:
        return argv[1]
    return PONG


@command("echo")
def echo(c, argv):
    return argv[1]


@command("select")
def select(c, argv):
    db = to_int(argv[1])
    if db is None:
        raise RedisError(errors.NOT_INTEGER)
    if db < 0 or db >= c.server.engine.databases:
        raise RedisError(errors.DB_INDEX_OUT_OF_RANGE)
    c.db = db
    return OK


@command("quit")
def quit_(c, argv):
    c.close_after_reply = True
    return OK


def check_password(c, username: bytes, password: bytes, argv0: bytes = b"AUTH") -> bool:
    """ACL users when the ACL state exists (``argv0`` names the command in ACL LOG);
    otherwise the default user only: requirepass, or nopass when unset."""
    acl = c.server.extensions.get("acl")
    if acl is not None:
        return acl.authenticate(c, username, password, argv0)
    if username != b"default":
        return False
    required = c.server.config.requirepass
    if not required:
        return True
    return hmac.compare_digest(password, required.encode("utf-8", "surrogateescape"))


@command("auth")
def auth(c, argv):
    if len(argv) > 3:
        raise RedisError(errors.SYNTAX)
    if len(argv) == 2:
        acl = c.server.extensions.get("acl")
        if (acl.default_nopass() if acl is not None else not c.server.config.requirepass):
            raise RedisError(
                "ERR AUTH <password> called without any password configured for the default "
                "user. Are you sure your configuration is correct?"
            )
        username, password = b"default", argv[1]
    else:
        username, password = argv[1], argv[2]
    if not check_password(c, username, password, argv[0]):
        raise RedisError(errors.WRONGPASS)
    c.authenticated = True
    c.user = username.decode("utf-8", "surrogateescape")
    return OK


@command("hello")
def hello(c, argv):
    """helloCommand, step by step in Redis's order (AUTH and SETNAME act as they are met)."""
    ver = None
    if len(argv) >= 2:
        ver = to_int(argv[1])
        if ver is None:
            raise RedisError("ERR Protocol version is not an integer or out of range")
        if ver < 2 or ver > 3:
            raise RedisError("NOPROTO unsupported protocol version")
    j = 2
    n = len(argv)
    while j < n:
        more = n - j - 1
        opt = argv[j].lower()
        if opt == b"auth" and more >= 2:
            if not check_password(c, argv[j + 1], argv[j + 2], argv[0]):
                raise RedisError(errors.WRONGPASS)
            c.authenticated = True
            c.user = argv[j + 1].decode("utf-8", "surrogateescape")
            j += 3
        elif opt == b"setname" and more >= 1:
            validate_client_name(argv[j + 1])
            c.name = argv[j + 1] or None
            j += 2
        else:
            raise RedisError(f"ERR Syntax error in HELLO option '{argv[j].decode('utf-8', 'replace')}'")
    if not c.authenticated:
        raise RedisError("NOAUTH HELLO must be called with the client already authenticated, "
                         "otherwise the HELLO AUTH <user> <pass> option can be used to "
                         "authenticate the client and select the RESP protocol version at the same time")
    if ver is not None:
        c.resp = ver
    role = c.server.extensions.get("role", "master")
    return {
        b"server": b"redis",
        b"version": b"7.0.15",
        b"proto": c.resp,
        b"id": c.id,
        b"mode": b"standalone",
        b"role": role.encode(),
        b"modules": [],
    }


def validate_client_name(name: bytes) -> None:
    """Names are printable ASCII without spaces (CLIENT SETNAME, HELLO SETNAME)."""
    for ch in name:
        if ch < 33 or ch > 126:
            raise RedisError(
                "ERR Client names cannot contain spaces, newlines or special characters."
            )


@command("reset")
def reset(c, argv):
    server = c.server
    for hook in server.extensions.get("reset_hooks", []):
        hook(c)
    c.in_multi = False
    c.multi_queue = []
    c.multi_error = False
    server.pubsub.drop_client(c)
    if c in server.monitors:
        server.monitors.remove(c)
        c.monitor = False
    c.db = 0
    c.resp = 2
    c.name = None
    c.reply_mode = "on"
    c.no_evict = False
    c.no_touch = False
    acl = server.extensions.get("acl")
    if acl is not None:
        acl.reset_client(c)
    else:
        c.user = "default"
        c.authenticated = not server.config.requirepass
    return Status("RESET")


# -- CLIENT ------------------------------------------------------------------------------


def help_reply(argv0: bytes, lines: list[str]) -> list:
    """addReplyHelp: a header naming the command as sent, the lines, then HELP."""
    head = argv0.decode("utf-8", "replace").upper()
    out: list = [Status(f"{head} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:")]
    out += [Status(x) for x in lines]
    out += [Status("HELP"), Status("    Prints this help.")]
    return out


_CLIENT_HELP = [
    "CACHING (YES|NO)",
    "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
    "GETREDIR",
    "    Return the client ID we are redirecting to when tracking is enabled.",
    "GETNAME",
    "    Return the name of the current connection.",
    "ID",
    "    Return the ID of the current connection.",
    "INFO",
    "    Return information about the current client connection.",
    "KILL <ip:port>",
    "    Kill connection made from <ip:port>.",
    "KILL <option> <value> [<option> <value> [...]]",
    "    Kill connections. Options are:",
    "    * ADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made from the specified address",
    "    * LADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made to specified local address",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Kill connections by type.",
    "    * USER <username>",
    "      Kill connections authenticated by <username>.",
    "    * SKIPME (YES|NO)",
    "      Skip killing current connection (default: yes).",
    "LIST [options ...]",
    "    Return information about client connections. Options:",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Return clients of specified type.",
    "UNPAUSE",
    "    Stop the current client pause, resuming traffic.",
    "PAUSE <timeout> [WRITE|ALL]",
    "    Suspend all, or just write, clients for <timeout> milliseconds.",
    "REPLY (ON|OFF|SKIP)",
    "    Control the replies sent to the current connection.",
    "SETNAME <name>",
    "    Assign the name <name> to the current connection.",
    "UNBLOCK <clientid> [TIMEOUT|ERROR]",
    "    Unblock the specified blocked client.",
    "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
    "         [OPTIN] [OPTOUT] [NOLOOP]",
    "    Control server assisted client side caching.",
    "TRACKINGINFO",
    "    Report tracking status for the current connection.",
    "NO-EVICT (ON|OFF)",
    "    Protect current client connection from eviction.",
]


@command("client|help")
def client_help(c, argv):
    return help_reply(argv[0], _CLIENT_HELP)


@command("client|id")
def client_id(c, argv):
    return c.id


@command("client|setname")
def client_setname(c, argv):
    validate_client_name(argv[2])
    c.name = argv[2] or None
    return OK


@command("client|getname")
def client_getname(c, argv):
    return c.name


@command("client|setinfo", arity=4, flags="noscript loading stale",
         categories="@slow @connection")
def client_setinfo(c, argv):
    attr = argv[2].lower()
    value = argv[3]
    if attr not in (b"lib-name", b"lib-ver"):
        raise RedisError(f"ERR Unrecognized option '{argv[2].decode('utf-8', 'replace')}'")
    for ch in value:
        if ch < 33 or ch > 126:
            raise RedisError(f"ERR {attr.decode()} cannot contain spaces, newlines or "
                             "special characters.")
    if attr == b"lib-name":
        c.lib_name = value or None
    else:
        c.lib_ver = value or None
    return OK


def client_type(cl) -> str:
    """getClientType: MONITOR clients count as normal."""
    if cl.kind == "master":
        return "master"
    if cl.kind == "replica" and not cl.monitor:
        return "slave"
    if cl.in_pubsub_mode():
        return "pubsub"
    return "normal"


_TYPES = {b"normal": "normal", b"slave": "slave", b"replica": "slave", b"pubsub": "pubsub",
          b"master": "master"}


def _flags(cl) -> str:
    """catClientInfoString's flag letters, in its order (plus 7.2's T for NO-TOUCH)."""
    f = ""
    if cl.monitor:
        f += "O"
    elif cl.kind == "replica":
        f += "S"
    if cl.kind == "master":
        f += "M"
    if cl.in_pubsub_mode():
        f += "P"
    if cl.in_multi:
        f += "x"
    if cl.blocked is not None:
        f += "b"
    if cl.tracking:
        f += "t"
        st = cl.tracking_state
        if st.get("broken_redir"):
            f += "R"
        if st.get("bcast"):
            f += "B"
    if cl.dirty_cas:
        f += "d"
    if cl.close_after_reply:
        f += "c"
    if "unix" in cl.flags:
        f += "U"
    if "readonly" in cl.flags:
        f += "r"
    if cl.no_evict:
        f += "e"
    if cl.no_touch:
        f += "T"
    return f or "N"


def client_info_line(cl, caller=None, current: str | None = None, now: float | None = None,
                     argv: list[bytes] | None = None) -> str:
    """One CLIENT LIST line in Redis 7.0's format; buffer sizes are aki's best analogue
    (the caller's query buffer still holds the request being served, as in Redis)."""
    if now is None:
        now = time.time()
    name = cl.name.decode("utf-8", "replace") if cl.name else ""
    multi = len(cl.multi_queue) if cl.in_multi else -1
    argv_mem = qbuf = qbuf_free = 0
    cmd = cl.last_cmd
    if cl is caller and current is not None:
        cmd = current
        args = argv or []
        argv_mem = sum(len(a) for a in args)
        qbuf = len(b"*%d\r\n" % len(args)) + sum(len(b"$%d\r\n" % len(a)) + len(a) + 2
                                                 for a in args)
        qbuf_free = max(20474 - qbuf, 0)
    multi_mem = sum(len(a) for q in cl.multi_queue for a in q) if cl.in_multi else 0
    omem = cl.output_size() if cl.output_size is not None else 0  # unsent reply bytes
    tot_mem = 22272 + argv_mem + multi_mem + omem
    tr = cl.tracking_state.get("redirect", 0) if cl.tracking else -1
    line = (
        f"id={cl.id} addr={cl.addr} laddr={cl.laddr} fd={cl.fd} name={name} "
        f"age={int(now - cl.created)} idle={int(now - cl.last_interaction)} flags={_flags(cl)} "
        f"db={cl.db} sub={len(cl.channels)} psub={len(cl.patterns)} "
        f"ssub={len(cl.shard_channels)} multi={multi} qbuf={qbuf} qbuf-free={qbuf_free} "
        f"argv-mem={argv_mem} multi-mem={multi_mem} rbs=1024 rbp=0 obl=0 oll={int(omem > 0)} "
        f"omem={omem} "
        f"tot-mem={tot_mem} events=r cmd={cmd} user={cl.user} redir={tr} resp={cl.resp}"
    )
    if cl.lib_name or cl.lib_ver:
        pass  # 7.2 fields; 7.0's format has none
    return line


@command("client|info")
def client_info(c, argv):
    return Verbatim((client_info_line(c, c, "client|info", argv=argv) + "\n").encode())


@command("client|list")
def client_list(c, argv):
    clients = c.server.clients
    n = len(argv)
    kind = None
    chosen = None
    if n == 4 and argv[2].lower() == b"type":
        kind = _TYPES.get(argv[3].lower())
        if kind is None:
            raise RedisError(f"ERR Unknown client type '{argv[3].decode('utf-8', 'replace')}'")
    elif n > 3 and argv[2].lower() == b"id":
        chosen = []
        for a in argv[3:]:
            cid = to_int(a)
            if cid is None:
                raise RedisError("ERR Invalid client ID")
            cl = clients.get(cid)
            if cl is not None:
                chosen.append(cl)
    elif n != 2:
        raise RedisError(errors.SYNTAX)
    if chosen is None:
        chosen = [cl for cl in clients.values() if kind is None or client_type(cl) == kind]
    now = time.time()
    text = "".join(client_info_line(cl, c, "client|list", now, argv) + "\n" for cl in chosen)
    return Verbatim(text.encode())


def close_client(cl) -> None:
    """Disconnect another client now (CLIENT KILL, idle timeout)."""
    close = getattr(cl, "close_connection", None)
    if close is not None:
        close()
    else:
        cl.close_after_reply = True


@command("client|kill")
def client_kill(c, argv):
    server = c.server
    n = len(argv)
    addr = laddr = user = None
    kind = None
    cid = 0
    maxage = 0
    skipme = True
    if n == 3:
        addr = argv[2].decode("utf-8", "surrogateescape")
        skipme = False
    else:
        i = 2
        while i < n:
            opt = argv[i].lower()
            more = i + 1 < n
            if not more:
                raise RedisError(errors.SYNTAX)
            val = argv[i + 1]
            if opt == b"id":
                v = to_int(val)
                if v is None or v < 1:
                    raise RedisError("ERR client-id should be greater than 0")
                cid = v
            elif opt == b"type":
                kind = _TYPES.get(val.lower())
                if kind is None:
                    raise RedisError(f"ERR Unknown client type '{val.decode('utf-8', 'replace')}'")
            elif opt == b"addr":
                addr = val.decode("utf-8", "surrogateescape")
            elif opt == b"laddr":
                laddr = val.decode("utf-8", "surrogateescape")
            elif opt == b"user":
                user = val.decode("utf-8", "surrogateescape")
                acl = server.extensions.get("acl")
                known = acl.user_exists(user) if acl is not None and hasattr(acl, "user_exists") \
                    else user == "default"
                if not known:
                    raise RedisError(f"ERR No such user '{user}'")
            elif opt == b"skipme":
                v = val.lower()
                if v == b"yes":
                    skipme = True
                elif v == b"no":
                    skipme = False
                else:
                    raise RedisError(errors.SYNTAX)
            elif opt == b"maxage":
                v = to_int(val)
                if v is None or v < 0:
                    raise RedisError(errors.NOT_INTEGER)
                maxage = v
            else:
                raise RedisError(errors.SYNTAX)
            i += 2
    now = time.time()
    killed = 0
    close_self = False
    for cl in list(server.clients.values()):
        if addr is not None and cl.addr != addr:
            continue
        if laddr is not None and cl.laddr != laddr:
            continue
        if kind is not None and client_type(cl) != kind:
            continue
        if cid and cl.id != cid:
            continue
        if user is not None and cl.user != user:
            continue
        if maxage and now - cl.created < maxage:
            continue
        if cl is c and skipme:
            continue
        if cl is c:
            close_self = True
        else:
            close_client(cl)
        killed += 1
    if close_self:
        c.close_after_reply = True
    if n == 3:
        if not killed:
            raise RedisError("ERR No such client")
        return OK
    return killed


@command("client|reply")
def client_reply(c, argv):
    mode = argv[2].lower()
    if mode == b"on":
        c.reply_mode = "on"
        return OK
    if mode == b"off":
        c.reply_mode = "off"
        return None
    if mode == b"skip":
        if c.reply_mode != "off":
            # the connection skips the *next* reply: this one is not sent either
            c.reply_mode = "skip_next"
        return None
    raise RedisError(errors.SYNTAX)


def _on_off(argv) -> bool:
    v = argv[2].lower()
    if v == b"on":
        return True
    if v == b"off":
        return False
    raise RedisError(errors.SYNTAX)


@command("client|no-evict")
def client_no_evict(c, argv):
    c.no_evict = _on_off(argv)
    return OK


@command("client|no-touch", arity=3, flags="noscript loading stale",
         categories="@slow @connection")
def client_no_touch(c, argv):
    c.no_touch = _on_off(argv)
    return OK


# -- CLIENT PAUSE --------------------------------------------------------------------------
#
# How a pause works in aki: CLIENT PAUSE sets server.paused_until / pause_kind and installs
# ``pause_blocks`` as server.extensions["pause"]. The connection asks it (only while a pause
# is set) before executing each request; a request that must wait stays in the connection's
# pending queue and the connection registers in server.extensions["pause_waiters"]. When the
# pause ends (CLIENT UNPAUSE or its timer) every waiter drains its queue again, in order.


# CMD_MAY_REPLICATE, a flag Redis 7.0 hides from COMMAND INFO (so not in our table)
_MAY_REPLICATE = frozenset({"pfcount", "publish", "spublish", "eval", "evalsha", "fcall"})


def _may_replicate(cmd, client, argv: list[bytes]) -> bool:
    """Is this a write, or a command that may replicate one? A script that declares its
    flags replicates only without no-writes (evalGetCommandFlags, scriptFlagsToCmdFlags)."""
    if cmd.is_write:
        return True
    name = cmd.fullname
    if name not in _MAY_REPLICATE:
        return False
    if name in ("eval", "evalsha", "fcall") and len(argv) > 1:
        from aki.commands.scripting import runtime
        from aki.scripting.shebang import parse_script_shebang

        rt = runtime(client.server)
        if name == "fcall":
            fn = rt.get_function(argv[1])
            return fn is None or "no-writes" not in fn.flags
        body = argv[1]
        if name == "evalsha" and len(body) != 40:
            return True
        script = rt.get_script(body.lower() if name == "evalsha" else
                               hashlib.sha1(body).hexdigest())
        if script is None:
            if name == "evalsha":
                return True
            try:
                header = parse_script_shebang(body)
            except RedisError:
                return True
            compat, flags = header.compat, header.flags
        else:
            compat, flags = script.compat, script.flags
        return compat or "no-writes" not in flags
    return True


def pause_blocks(client, argv: list[bytes]) -> bool:
    """Must ``argv`` from ``client`` wait for the pause to end (processCommand's check)?"""
    server = client.server
    if not server.paused_until:
        return False
    if time.time() >= server.paused_until:
        end_pause(server)
        return False
    if client.kind == "replica":  # replicas are never paused; the master's stream is
        return False
    if server.pause_kind == "all":
        return True
    from aki.core.dispatch import resolve
    from aki.core.registry import Command

    cmd = resolve(client, argv)
    if not isinstance(cmd, Command):
        return False
    if _may_replicate(cmd, client, argv):
        return True
    if cmd.fullname == "exec" and client.in_multi:
        for q in client.multi_queue:
            qc = resolve(client, q)
            if isinstance(qc, Command) and _may_replicate(qc, client, q):
                return True
    return False


def end_pause(server) -> None:
    """The pause is over: every parked connection drains its pending requests. While a
    FAILOVER or a SHUTDOWN holds a pause (``hold_pause``) only the client's pause ends:
    the held one stays, as Redis keeps each pause purpose apart."""
    saved = server.extensions.get("client_pause_held")
    if saved is not None:
        saved["until"], saved["kind"] = 0.0, ""
        server.pause_kind = _held_kind(server)
    else:
        server.paused_until = 0.0
        server.pause_kind = ""
        if "expire_before_pause" in server.extensions:
            server.ks.lazy_expire = server.extensions.pop("expire_before_pause")
    wake_paused(server)


def wake_paused(server) -> None:
    """Parked connections try their pending requests again (those still held park again)."""
    waiters = server.extensions.get("pause_waiters") or []
    server.extensions["pause_waiters"] = []
    app = server.extensions.get("app")
    for w in waiters:
        if app is not None:
            app.loop.call_soon(w)
        else:
            w()


def _pause_timer(server) -> None:
    saved = server.extensions.get("client_pause_held")
    until = saved["until"] if saved is not None else server.paused_until
    if until and time.time() >= until - 0.0005:
        end_pause(server)


@command("client|pause")
def client_pause(c, argv):
    server = c.server
    kind = "all"
    if len(argv) == 4:
        m = argv[3].lower()
        if m == b"write":
            kind = "write"
        elif m != b"all":
            raise RedisError("ERR CLIENT PAUSE mode must be WRITE or ALL")
    ms = to_int(argv[2])
    if ms is None:
        raise RedisError("ERR timeout is not an integer or out of range")
    if ms < 0:
        raise RedisError("ERR timeout is negative")
    end = time.time() + ms / 1000.0 if ms > 0 else 0.0
    # pauseClients: a pause is never shortened nor weakened by a new one
    if kind == "all" or server.pause_kind != "all":
        server.pause_kind = kind
    if end > server.paused_until:
        server.paused_until = end
    saved = server.extensions.get("client_pause_held")
    if saved is not None:  # a held write pause is on: this one is kept for after it
        if kind == "all" or saved["kind"] != "all":
            saved["kind"] = kind
        saved["until"] = max(saved["until"], end)
    server.extensions["pause"] = pause_blocks
    server.extensions.setdefault("pause_waiters", [])
    if server.paused_until and "expire_before_pause" not in server.extensions:
        # Deleting an expired key is a write: while paused, expired keys read as missing
        # but stay stored, and neither lazy nor active expiry deletes them (Redis 7.0).
        server.extensions["expire_before_pause"] = server.ks.lazy_expire
        server.ks.lazy_expire = False
    app = server.extensions.get("app")
    if app is not None and server.paused_until:
        until = saved["until"] if saved is not None else server.paused_until
        app.loop.call_later(max(until - time.time(), 0) + 0.001, _pause_timer, server)
    return OK


# -- write pauses held by the server (PAUSE_DURING_FAILOVER, PAUSE_DURING_SHUTDOWN) ------
#
# FAILOVER and a SHUTDOWN hold a pause for as long as they need, each under its own
# purpose, as Redis's pause purposes: the effective pause is the strongest one. While
# any is held, ``server.extensions["client_pause_held"]`` keeps the
# clients' own pause (its end and kind): CLIENT PAUSE / UNPAUSE and its timer change only
# that, and when the last hold is released whatever is left of it is in force again.

_FOREVER = 10 * 365 * 86400.0


def _held_kind(server) -> str:
    """The strongest kind among the held pauses (an empty string: none held)."""
    kinds = server.extensions.get("pause_holds", {}).values()
    return "all" if "all" in kinds else ("write" if kinds else "")


def hold_pause(server, purpose: str, kind: str = "write") -> None:
    """pauseClients(purpose, forever, kind): FAILOVER and a shutdown waiting for replicas
    hold writes; a shutdown writing its final RDB holds every command, as Redis is busy
    then."""
    holds = server.extensions.setdefault("pause_holds", {})
    if not holds:
        active = bool(server.paused_until)
        server.extensions["client_pause_held"] = {
            "until": server.paused_until if active else 0.0,
            "kind": server.pause_kind if active else ""}
    holds[purpose] = kind
    if server.pause_kind != "all" or not server.paused_until:
        server.pause_kind = _held_kind(server)
    server.paused_until = max(server.paused_until, time.time() + _FOREVER)
    server.extensions["pause"] = pause_blocks
    server.extensions.setdefault("pause_waiters", [])
    if "expire_before_pause" not in server.extensions:
        # as CLIENT PAUSE: deleting an expired key is a write, so none is deleted now
        server.extensions["expire_before_pause"] = server.ks.lazy_expire
        server.ks.lazy_expire = False


def release_pause(server, purpose: str) -> None:
    """unpauseClients(purpose): the other holds stay; once none is left, a client's
    pause still running stays in force; otherwise every parked command runs again."""
    holds = server.extensions.get("pause_holds")
    if not holds or purpose not in holds:
        return
    del holds[purpose]
    saved = server.extensions.get("client_pause_held")
    if holds:
        client_kind = saved["kind"] if saved is not None and saved["until"] > time.time() else ""
        server.pause_kind = "all" if client_kind == "all" else _held_kind(server)
        wake_paused(server)  # parked reads may run under a weaker pause
        return
    server.extensions.pop("client_pause_held", None)
    if saved is not None and saved["until"] > time.time():
        server.paused_until = saved["until"]
        server.pause_kind = saved["kind"]
        app = server.extensions.get("app")
        if app is not None:
            app.loop.call_later(max(saved["until"] - time.time(), 0) + 0.001,
                                _pause_timer, server)
        wake_paused(server)
    else:
        end_pause(server)


@command("client|unpause")
def client_unpause(c, argv):
    end_pause(c.server)
    return OK
