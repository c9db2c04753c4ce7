"""Protected mode (Redis's clientAcceptHandler): with ``protected-mode yes`` and no
password on the default user, only loopback and unix-socket clients are served.

aki binds loopback only by default (``127.0.0.1 -::1``); with ``bind * -::*`` (Redis's
default) this check is what keeps a password-less server off the network.
"""

from __future__ import annotations

from typing import Any

DENIED = (
    b"-DENIED Redis is running in protected mode because protected "
    b"mode is enabled and no password is set for the default user. "
    b"In this mode connections are only accepted from the loopback interface. "
    b"If you want to connect from external computers to Redis you "
    b"may adopt one of the following solutions: "
    b"1) Just disable protected mode sending the command "
    b"'CONFIG SET protected-mode no' from the loopback interface "
    b"by connecting to Redis from the same host the server is "
    b"running, however MAKE SURE Redis is not publicly accessible "
    b"from internet if you do so. Use CONFIG REWRITE to make this "
    b"change permanent. "
    b"2) Alternatively you can just disable the protected mode by "
    b"editing the Redis configuration file, and setting the protected "
    b"mode option to 'no', and then restarting the server. "
    b"3) If you started the server manually just for testing, restart "
    b"it with the '--protected-mode no' option. "
    b"4) Setup a an authentication password for the default user. "
    b"NOTE: You only need to do one of the above things in order for "
    b"the server to start accepting connections from the outside.\r\n"
)


def refuses(server: Any, peer: object) -> bool:
    """True when a TCP client from ``peer`` (a socket address) must be refused: as in
    Redis, only the exact loopback addresses 127.0.0.1 and ::1 count as local."""
    if not server.config.protected_mode:
        return False
    host = peer[0] if isinstance(peer, tuple) and peer else None
    if host is None or host in ("127.0.0.1", "::1"):
        return False
    acl = server.extensions.get("acl")
    return acl.default_nopass() if acl is not None else not server.config.requirepass
