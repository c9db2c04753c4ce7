"""Pub/sub commands (pubsub.c): (P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE, (S)PUBLISH, PUBSUB.

The (un)subscribe confirmations are written as Redis writes them: one message
per channel, ``>3`` pushes in RESP3 and plain arrays in RESP2, even under
CLIENT REPLY OFF. Handlers return them as ``Pushes`` so they keep their place
among the client's replies (and inside an EXEC array). The registry and the
delivery of messages live in ``core/pubsub.py``.
"""

from __future__ import annotations

from aki.commands.connection import help_reply
from aki.core.dispatch import rewrite
from aki.core.registry import command
from aki.core.state import ReplOnly
from aki.errors import RedisError
from aki.resp.types import Push, Pushes


def _count(c) -> int:
    return len(c.channels) + len(c.patterns)


@command("subscribe")
def subscribe(c, argv):
    ps = c.server.pubsub
    out = Pushes()
    for ch in argv[1:]:
        ps.subscribe(c, ch)
        out.append(Push([b"subscribe", ch, _count(c)]))
    return out


@command("psubscribe")
def psubscribe(c, argv):
    ps = c.server.pubsub
    out = Pushes()
    for pat in argv[1:]:
        ps.psubscribe(c, pat)
        out.append(Push([b"psubscribe", pat, _count(c)]))
    return out


@command("ssubscribe")
def ssubscribe(c, argv):
    ps = c.server.pubsub
    out = Pushes()
    for ch in argv[1:]:
        ps.ssubscribe(c, ch)
        out.append(Push([b"ssubscribe", ch, len(c.shard_channels)]))
    return out


def _unsubscribe(c, argv, kind: bytes, mine: set, drop, count) -> Pushes:
    """pubsubUnsubscribe*: named channels (even unknown ones), or all; with nothing
    to leave, a single message with a null channel."""
    out = Pushes()
    names = argv[1:] if len(argv) > 1 else list(mine)
    for ch in names:
        drop(c, ch)
        out.append(Push([kind, ch, count(c)]))
    if not out:
        out.append(Push([kind, None, count(c)]))
    return out


@command("unsubscribe")
def unsubscribe(c, argv):
    return _unsubscribe(c, argv, b"unsubscribe", c.channels, c.server.pubsub.unsubscribe, _count)


@command("punsubscribe")
def punsubscribe(c, argv):
    return _unsubscribe(c, argv, b"punsubscribe", c.patterns, c.server.pubsub.punsubscribe, _count)


@command("sunsubscribe")
def sunsubscribe(c, argv):
    return _unsubscribe(c, argv, b"sunsubscribe", c.shard_channels,
                        c.server.pubsub.sunsubscribe, lambda cl: len(cl.shard_channels))


@command("publish")
def publish(c, argv):
    server = c.server
    n = server.pubsub.publish(argv[1], argv[2])
    server.stats.pubsub_channels_published += 1
    # Redis propagates PUBLISH to replicas only (PROPAGATE_REPL), never to the AOF, and
    # only while there is a replication stream (shouldPropagate: a backlog or replicas)
    if _streaming(server):
        rewrite(server, c.db, ReplOnly(argv))
    return n


def _streaming(server) -> bool:
    prim = server.extensions.get("primary")
    return prim is not None and prim.backlog is not None


@command("spublish")
def spublish(c, argv):
    server = c.server
    n = server.pubsub.spublish(argv[1], argv[2])
    if _streaming(server):
        rewrite(server, c.db, ReplOnly(argv))  # replicas only, as PUBLISH
    return n


# -- PUBSUB ----------------------------------------------------------------------------

_HELP = [
    "CHANNELS [<pattern>]",
    "    Return the currently active channels matching a <pattern> (default: '*').",
    "NUMPAT",
    "    Return number of subscriptions to patterns.",
    "NUMSUB [<channel> ...]",
    "    Return the number of subscribers for the specified channels, excluding",
    "    pattern subscriptions(default: no channels).",
    "SHARDCHANNELS [<pattern>]",
    "    Return the currently active shard level channels matching a <pattern> (default: '*').",
    "SHARDNUMSUB [<shardchannel> ...]",
    "    Return the number of subscribers for the specified shard level channel(s)",
]


@command("pubsub|help")
def pubsub_help(c, argv):
    return help_reply(argv[0], _HELP)


def _channels(table: dict, argv: list[bytes], c) -> list[bytes]:
    if len(argv) > 3:
        raise RedisError(
            "ERR unknown subcommand or wrong number of arguments for "
            f"'{argv[1][:128].decode('utf-8', 'surrogateescape')}'. "
            f"Try {argv[0].upper().decode('utf-8', 'surrogateescape')} HELP.")
    if len(argv) == 3:
        match = c.server.pubsub.matcher(argv[2])
        return [ch for ch in table if match(ch)]
    return list(table)


@command("pubsub|channels")
def pubsub_channels(c, argv):
    return _channels(c.server.pubsub.channels, argv, c)


@command("pubsub|shardchannels")
def pubsub_shardchannels(c, argv):
    return _channels(c.server.pubsub.shard_channels, argv, c)


@command("pubsub|numsub")
def pubsub_numsub(c, argv):
    table = c.server.pubsub.channels
    out: list = []
    for ch in argv[2:]:
        out.append(ch)
        out.append(len(table.get(ch, ())))
    return out


@command("pubsub|shardnumsub")
def pubsub_shardnumsub(c, argv):
    table = c.server.pubsub.shard_channels
    out: list = []
    for ch in argv[2:]:
        out.append(ch)
        out.append(len(table.get(ch, ())))
    return out


@command("pubsub|numpat")
def pubsub_numpat(c, argv):
    return len(c.server.pubsub.patterns)
