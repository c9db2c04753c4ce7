"""Command families. Importing this package registers every handler."""

import importlib

FAMILIES = [
    "connection", "server", "keys", "strings", "bitmaps", "lists", "hashes", "sets", "zsets",
    "transactions", "pubsub", "scripting", "streams", "hll", "geo", "acl", "replication",
    "sort", "dump", "cluster", "modules", "introspection", "tracking", "replicaof",
]


def load_all() -> None:
    """Import every family module that exists (each registers its commands)."""
    for name in FAMILIES:
        try:
            importlib.import_module(f"aki.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"aki.commands.{name}":
                raise
