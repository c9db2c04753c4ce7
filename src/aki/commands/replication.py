"""Replication commands served by a primary (replication.c): SYNC PSYNC REPLCONF WAIT ROLE.

The stream, the backlog and the full sync live in aki.replication.primary; these
handlers check arguments exactly as Redis does and hand over."""

from __future__ import annotations

import logging

from aki import errors
from aki.commands.common import to_int
from aki.core.blocking import Suspend
from aki.core.registry import command
from aki.errors import RedisError
from aki.resp.types import OK, Raw

log = logging.getLogger("aki.replication")

_NOT_ON_REPLICA = ("WAIT cannot be used with replica instances. Please also note that since "
                   "Redis 4.0 if a replica is configured to be writable (which is not the "
                   "default) writes to replicas are just local and are not propagated.")


# SYNC/PSYNC (their answer goes out of band) and REPLCONF ACK/GETACK answer nothing at
# all, not even to a normal client: an empty pre-encoded reply
NO_REPLY = Raw(b"")


def _sync(c, argv):
    """syncCommand, its checks in Redis's order; PSYNC's offset is read after them."""
    from aki.replication.primary import primary

    if c.kind == "replica":
        return NO_REPLY  # already a replica: ignored, as Redis does
    server = c.server
    if "app" not in server.extensions:
        raise RedisError("ERR SYNC and PSYNC need a server connection (not the embedded library)")
    is_psync = argv[0].lower() == b"psync"
    if is_psync and len(argv) > 3 and argv[3].lower() == b"failover":
        _psync_failover(c, argv)
    if "failover" in server.extensions:  # don't let replicas sync while failing over
        raise RedisError("NOMASTERLINK Can't SYNC while failing over")
    link = server.extensions.get("master_link")
    if link is not None and not link.connected():
        raise RedisError("NOMASTERLINK Can't SYNC while not connected with my master")
    if c.output_size is not None and c.output_size():
        raise RedisError("ERR SYNC and PSYNC are invalid with pending output")
    psync_args = None
    if is_psync:
        offset = to_int(argv[2])
        if offset is None:
            raise RedisError(errors.NOT_INTEGER)
        psync_args = (argv[1].decode("latin-1"), offset)
    primary(server).sync(c, psync_args)
    return NO_REPLY


def _psync_failover(c, argv) -> None:
    """PSYNC <replid> <offset> FAILOVER, from a primary running FAILOVER to us: a replica
    in that primary's history promotes itself (as REPLICAOF NO ONE), then serves the
    PSYNC, which continues from its replid2."""
    from aki.commands.replicaof import _who
    from aki.replication import replica

    server = c.server
    log.warning("Failover request received for replid %s.", argv[1].decode("latin-1"))
    if server.extensions.get("master_link") is None:
        raise RedisError("ERR PSYNC FAILOVER can't be sent to a master.")
    if argv[1].lower().decode("latin-1") != server.replid:
        raise RedisError("ERR PSYNC FAILOVER replid must match my replid.")
    replica.unset_master(server)
    log.info("MASTER MODE enabled (failover request from '%s')", _who(c))


@command("sync")
def sync(c, argv):
    return _sync(c, argv)


@command("psync")
def psync(c, argv):
    return _sync(c, argv)


@command("failover")
def failover(c, argv):
    """FAILOVER [TO host port [FORCE]] [ABORT] [TIMEOUT ms] (failoverCommand): checks and
    errors as Redis 7.0; the failover itself runs in aki.replication.failover."""
    from aki.replication import failover as fo

    server = c.server
    if len(argv) == 2 and argv[1].lower() == b"abort":
        if "failover" not in server.extensions:
            raise RedisError("ERR No failover in progress.")
        fo.abort(server, "Failover manually aborted")
        return OK
    timeout_ms = 0
    force = False
    port = 0
    host: str | None = None
    j = 1
    while j < len(argv):
        opt = argv[j].lower()
        if opt == b"timeout" and j + 1 < len(argv) and timeout_ms == 0:
            timeout_ms = to_int(argv[j + 1])  # type: ignore[assignment]
            if timeout_ms is None:
                raise RedisError(errors.NOT_INTEGER)
            if timeout_ms <= 0:
                raise RedisError("ERR FAILOVER timeout must be greater than 0")
            j += 1
        elif opt == b"to" and j + 2 < len(argv) and host is None:
            port = to_int(argv[j + 2])  # type: ignore[assignment]
            if port is None:
                raise RedisError(errors.NOT_INTEGER)
            host = argv[j + 1].decode("utf-8", "surrogateescape")
            j += 2
        elif opt == b"force" and not force:
            force = True
        else:
            raise RedisError(errors.SYNTAX)
        j += 1
    if "failover" in server.extensions:
        raise RedisError("ERR FAILOVER already in progress.")
    if server.extensions.get("master_link") is not None:
        raise RedisError("ERR FAILOVER is not valid when server is a replica.")
    prim = server.extensions.get("primary")
    if prim is None or not (prim.replicas or prim.to_attach):
        raise RedisError("ERR FAILOVER requires connected replicas.")
    if force and (not timeout_ms or host is None):
        raise RedisError("ERR FAILOVER with force option requires both a timeout and "
                         "target HOST and IP.")
    if host is not None:
        from aki.replication.primary import ONLINE

        target = fo.find_replica(server, host, port)
        if target is None:
            raise RedisError("ERR FAILOVER target HOST and PORT is not a replica.")
        if target.state != ONLINE:
            raise RedisError("ERR FAILOVER target replica is not online.")
    fo.start(server, host, port, timeout_ms, force)
    return OK


@command("replconf")
def replconf(c, argv):
    if len(argv) % 2 == 0:
        raise RedisError(errors.SYNTAX)
    info = getattr(c, "replconf", None)
    if info is None:
        info = c.replconf = {"capa": set()}
    for i in range(1, len(argv), 2):
        opt = argv[i].lower()
        val = argv[i + 1]
        if opt == b"listening-port":
            port = to_int(val)
            if port is None:
                raise RedisError(errors.NOT_INTEGER)
            info["port"] = port
        elif opt == b"ip-address":
            if len(val) >= 256:  # NET_HOST_STR_LEN
                raise RedisError("ERR REPLCONF ip-address provided by replica instance is "
                                 f"too long: {len(val)} bytes")
            info["addr"] = val.decode("latin-1")
        elif opt == b"capa":
            if val.lower() in (b"eof", b"psync2"):
                info["capa"].add(val.lower().decode())
        elif opt == b"ack":
            if c.kind != "replica":
                return NO_REPLY
            offset = to_int(val)
            if offset is None:
                return NO_REPLY
            prim = c.server.extensions.get("primary")
            if prim is not None:
                prim.ack(c, offset)
            return NO_REPLY
        elif opt == b"getack":
            link = c.server.extensions.get("master_link")
            if link is not None and hasattr(link, "send_ack"):
                link.send_ack()
            return NO_REPLY
        elif opt == b"rdb-only":
            v = to_int(val)
            if v is None:
                raise RedisError(errors.NOT_INTEGER)
            if not 0 <= v <= 1:
                raise RedisError("ERR value is out of range, value must between 0 and 1")
            info["rdb_only"] = bool(v)
        elif opt == b"rdb-filter-only":
            from aki.resp.parser import split_args

            filters = split_args(val)  # sdssplitargs: quotes allowed
            if filters is None:
                raise RedisError("ERR Missing rdb-filter-only values")
            for f in filters:
                if f.lower() != b"functions":
                    raise RedisError("ERR Unsupported rdb-filter-only option: "
                                     + f.decode("latin-1"))
            info["rdb_filter"] = {f.lower().decode() for f in filters}
        else:
            raise RedisError("ERR Unrecognized REPLCONF option: " + argv[i].decode("latin-1"))
    return OK


@command("wait")
def wait(c, argv):
    """WAIT numreplicas timeout: block until that many replicas acknowledged every write
    made so far (the open batch's included), or the timeout; answers how many did."""
    if c.server.extensions.get("master_link") is not None:
        raise RedisError("ERR " + _NOT_ON_REPLICA)
    numreplicas = to_int(argv[1])
    if numreplicas is None:
        raise RedisError(errors.NOT_INTEGER)
    timeout_ms = to_int(argv[2])
    if timeout_ms is None:
        raise RedisError("ERR timeout is not an integer or out of range")
    if timeout_ms < 0:
        raise RedisError("ERR timeout is negative")
    prim = c.server.extensions.get("primary")
    if prim is None:
        acked = 0
        target = 0
    else:
        target = prim.pending_offset()
        acked = prim.count_acks(target)
    if acked >= numreplicas or c.in_multi or c.deny_blocking:
        return acked
    susp = Suspend(c, timeout_ms / 1000 if timeout_ms else None, acked)
    if prim is not None:
        prim.wait(susp, target, numreplicas)
    return susp


@command("role")
def role(c, argv):
    server = c.server
    link = server.extensions.get("master_link")
    if link is not None:
        return link.role_reply()
    prim = server.extensions.get("primary")
    replicas = []
    if prim is not None:
        from aki.replication.primary import ONLINE

        replicas = [[r.ip().encode(), b"%d" % r.port, b"%d" % r.ack_offset]
                    for r in prim.replicas if r.state == ONLINE]
    return [b"master", server.master_repl_offset, replicas]


def _startup(app) -> None:
    """A primary restarted cleanly keeps its replicas' history (primary.restore_position);
    a replica has its own record (replication/replica.py)."""
    from aki.replication.primary import restore_position

    cfg = app.server.config
    parts = (cfg.replicaof or "").split()
    if not (len(parts) == 2 and parts[0].lower() != "no"):
        restore_position(app.server)


def _register() -> None:
    from aki.server import listener

    if _startup not in listener.startup_hooks:
        listener.startup_hooks.append(_startup)


_register()
