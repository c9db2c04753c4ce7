"""CLIENT TRACKING / CACHING / GETREDIR / TRACKINGINFO (networking.c's clientCommand),
checks and error texts in Redis 7.0.15's order. The machinery is core/tracking.py."""

from __future__ import annotations

from aki import errors
from aki.commands.common import to_int
from aki.core import tracking as core_tracking
from aki.core.registry import command
from aki.errors import RedisError
from aki.resp.types import OK, RespSet

_SWITCH_MODE = ("tracking for this client, and then re-enabling it with a different mode.")


def _prefix_overlap(a: bytes, b: bytes) -> bool:
    n = min(len(a), len(b))
    return a[:n] == b[:n]


def _text(b: bytes) -> str:
    return b.decode("utf-8", "surrogateescape")


@command("client|tracking")
def client_tracking(c, argv):
    redir = 0
    bcast = optin = optout = noloop = False
    prefixes: list[bytes] = []
    j = 3
    n = len(argv)
    while j < n:
        opt = argv[j].lower()
        more = n - 1 - j
        if opt == b"redirect" and more:
            j += 1
            if redir != 0:
                raise RedisError("ERR A client can only redirect to a single other client")
            v = to_int(argv[j])
            if v is None:
                raise RedisError(errors.NOT_INTEGER)
            redir = v
            if redir not in c.server.clients and redir != c.id:
                raise RedisError("ERR The client ID you want redirect to does not exist")
        elif opt == b"bcast":
            bcast = True
        elif opt == b"optin":
            optin = True
        elif opt == b"optout":
            optout = True
        elif opt == b"noloop":
            noloop = True
        elif opt == b"prefix" and more:
            j += 1
            prefixes.append(argv[j])
        else:
            raise RedisError(errors.SYNTAX)
        j += 1
    mode = argv[2].lower()
    st = c.tracking_state
    if mode == b"on":
        if not bcast and prefixes:
            raise RedisError("ERR PREFIX option requires BCAST mode to be enabled")
        if c.tracking and bool(st.get("bcast")) != bcast:
            raise RedisError("ERR You can't switch BCAST mode on/off before disabling " + _SWITCH_MODE)
        if bcast and (optin or optout):
            raise RedisError("ERR OPTIN and OPTOUT are not compatible with BCAST")
        if optin and optout:
            raise RedisError("ERR You can't specify both OPTIN mode and OPTOUT mode")
        if c.tracking and ((optin and st.get("optout")) or (optout and st.get("optin"))):
            raise RedisError("ERR You can't switch OPTIN/OPTOUT mode before disabling " + _SWITCH_MODE)
        if bcast:
            existing = st.get("prefixes", []) if c.tracking else []
            for i, p in enumerate(prefixes):
                for old in existing:
                    if _prefix_overlap(old, p):
                        raise RedisError(
                            f"ERR Prefix '{_text(p)}' overlaps with an existing prefix "
                            f"'{_text(old)}'. Prefixes for a single client must not overlap.")
                for q in prefixes[i + 1:]:
                    if _prefix_overlap(p, q):
                        raise RedisError(
                            f"ERR Prefix '{_text(p)}' overlaps with another provided prefix "
                            f"'{_text(q)}'. Prefixes for a single client must not overlap.")
        core_tracking.get(c.server).enable(c, redir, bcast, optin, optout, noloop, prefixes)
    elif mode == b"off":
        t = c.server.extensions.get("tracking")
        if t is not None:
            t.disable(c)
    else:
        raise RedisError(errors.SYNTAX)
    return OK


@command("client|caching")
def client_caching(c, argv):
    if not c.tracking:
        raise RedisError("ERR CLIENT CACHING can be called only when the client is in tracking "
                         "mode with OPTIN or OPTOUT mode enabled")
    opt = argv[2].lower()
    st = c.tracking_state
    if opt == b"yes":
        if not st.get("optin"):
            raise RedisError("ERR CLIENT CACHING YES is only valid when tracking is enabled in "
                             "OPTIN mode.")
    elif opt == b"no":
        if not st.get("optout"):
            raise RedisError("ERR CLIENT CACHING NO is only valid when tracking is enabled in "
                             "OPTOUT mode.")
    else:
        raise RedisError(errors.SYNTAX)
    st["caching"] = True
    return OK


@command("client|getredir")
def client_getredir(c, argv):
    return c.tracking_state.get("redirect", 0) if c.tracking else -1


@command("client|trackinginfo")
def client_trackinginfo(c, argv):
    st = c.tracking_state
    flags = RespSet([b"on" if c.tracking else b"off"])
    if c.tracking:
        if st.get("bcast"):
            flags.append(b"bcast")
        if st.get("optin"):
            flags.append(b"optin")
            if st.get("caching"):
                flags.append(b"caching-yes")
        if st.get("optout"):
            flags.append(b"optout")
            if st.get("caching"):
                flags.append(b"caching-no")
        if st.get("noloop"):
            flags.append(b"noloop")
        if st.get("broken_redir"):
            flags.append(b"broken_redirect")
    return {
        b"flags": flags,
        b"redirect": st.get("redirect", 0) if c.tracking else -1,
        b"prefixes": sorted(st.get("prefixes", [])),
    }
