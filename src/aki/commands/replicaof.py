"""REPLICAOF / SLAVEOF (replication.c replicaofCommand), and ``replicaof`` in the config file.

The link itself lives in aki/replication/replica.py; this module only parses, answers
and hooks the config directives (``replicaof`` at start-up, ``replica-read-only``
while running) to it.
"""

from __future__ import annotations

import logging

from aki.commands.common import to_int
from aki.core.registry import command
from aki.errors import RedisError
from aki.replication import replica
from aki.resp.types import OK, Status

log = logging.getLogger("aki.replication")


@command("replicaof")
def replicaof(c, argv):
    server = c.server
    if "app" not in server.extensions:
        raise RedisError("ERR REPLICAOF needs a server (the embedded library has no network)")
    if "failover" in server.extensions:
        raise RedisError("ERR REPLICAOF not allowed while failing over.")
    host, port_arg = argv[1], argv[2]
    if host.lower() == b"no" and port_arg.lower() == b"one":
        if server.extensions.get("master_link") is not None:
            replica.unset_master(server)
            log.info("MASTER MODE enabled (user request from '%s')", _who(c))
        return OK
    if c.kind == "replica":
        raise RedisError("ERR Command is not valid when client is a replica.")
    port = to_int(port_arg)
    if port is None or not 0 <= port <= 65535:
        raise RedisError("ERR Invalid master port")
    host_s = host.decode("utf-8", "surrogateescape")
    link = server.extensions.get("master_link")
    if link is not None and link.host.lower() == host_s.lower() and link.port == port:
        log.info("REPLICAOF would result into synchronization with the master we are "
                 "already connected with. No operation performed.")
        return Status("OK Already connected to specified master")
    replica.set_master(server, host_s, port)
    log.info("REPLICAOF %s:%d enabled (user request from '%s')", host_s, port, _who(c))
    return OK


command("slaveof")(replicaof)


def _who(c) -> str:
    return f"id={c.id} addr={c.addr} laddr={c.laddr} fd={c.fd} name={(c.name or b'').decode()}"


def _startup(app) -> None:
    """``replicaof host port`` in the config: start the link once the server runs;
    ``replica-read-only`` and ``replica-serve-stale-data`` changes take effect at once."""
    server = app.server
    cfg = server.config
    for name in ("replica-read-only", "replica-serve-stale-data"):
        cfg.on_change(name, lambda v: replica.replica_config_changed(server, v))
    parts = (cfg.replicaof or "").split()
    if len(parts) == 2 and parts[0].lower() != "no":
        replica.load_position(server)  # continue where the file's data is, if recorded
        replica.set_master(server, parts[0], int(parts[1]))


def _register() -> None:
    from aki.server import listener

    if _startup not in listener.startup_hooks:
        listener.startup_hooks.append(_startup)


_register()
