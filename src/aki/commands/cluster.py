"""CLUSTER, ASKING, READONLY, READWRITE: what a Redis 7.0 started without cluster mode answers.

aki is never a cluster node (``cluster-enabled`` is inert), so, as in cluster.c when
``server.cluster_enabled`` is 0, every CLUSTER subcommand (HELP included) and the
three connection commands answer the same error. They are registered rather than
left unknown because clients probe them (CLUSTER INFO, READONLY) and read the reply
to learn that the server is standalone, and COMMAND INFO/LIST must list them.
"""

from __future__ import annotations

from aki.core.registry import command, table_entry
from aki.errors import RedisError

CLUSTER_DISABLED = "ERR This instance has cluster support disabled"


def cluster_disabled(c, argv):
    raise RedisError(CLUSTER_DISABLED)


for _name in ("asking", "readonly", "readwrite"):
    command(_name)(cluster_disabled)
for _sub in table_entry("cluster")["info"][9]:  # every subcommand of Redis 7.0's table
    command(_sub[0])(cluster_disabled)
