"""Connection commands: PING ECHO HELLO AUTH SELECT QUIT RESET."""

from __future__ import annotations

import hmac

from aki import errors
from aki.commands.common import to_int
from aki.core.registry import command
from aki.errors import RedisError
from aki.resp.types import OK, PONG, Status


@command("ping")
def ping(c, argv):
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


def check_password(c, username: bytes, password: bytes) -> bool:
    """The default user only (until ACL users exist): requirepass, or nopass when unset."""
    acl = c.server.extensions.get("acl")
    if acl is not None:
        return acl.authenticate(c, username, password)
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
        if not c.server.config.requirepass and c.server.extensions.get("acl") is None:
            raise RedisError(
                "ERR AUTH <password> called without any password configured for the default "
                "user. Are you sure your configuration is correct?"
            )
        username, password = b"default", argv[1]
    else:
        username, password = argv[1], argv[2]
    if not check_password(c, username, password):
        raise RedisError(errors.WRONGPASS)
    c.authenticated = True
    c.user = username.decode("utf-8", "surrogateescape")
    return OK


@command("hello")
def hello(c, argv):
    ver = None
    if len(argv) >= 2:
        ver = to_int(argv[1])
        if ver is None:
            raise RedisError("ERR Protocol version is not an integer or out of range")
    j = 2
    n = len(argv)
    setname = None
    creds = None
    while j < n:
        more = n - j - 1
        opt = argv[j].lower()
        if opt == b"auth" and more >= 2:
            creds = (argv[j + 1], argv[j + 2])
            j += 3
        elif opt == b"setname" and more >= 1:
            setname = argv[j + 1]
            j += 2
        else:
            raise RedisError(f"ERR Syntax error in HELLO option '{argv[j].decode('utf-8', 'replace')}'")
    if ver is not None and (ver < 2 or ver > 3):
        raise RedisError("NOPROTO unsupported protocol version")
    if creds is not None:
        if not check_password(c, creds[0], creds[1]):
            raise RedisError(errors.WRONGPASS)
        c.authenticated = True
        c.user = creds[0].decode("utf-8", "surrogateescape")
    if not c.authenticated:
        raise RedisError("NOAUTH HELLO must be called with the client already authenticated, "
                         "otherwise the HELLO <proto> AUTH <user> <pass> option can be used to "
                         "authenticate the client and select the RESP protocol version at the same time")
    if setname is not None:
        validate_client_name(setname)
        c.name = setname or None
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
    c.user = "default"
    c.authenticated = not server.config.requirepass and server.extensions.get("acl") is None
    return Status("RESET")
