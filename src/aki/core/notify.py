"""Keyspace notifications: deliver the events ``execute()`` collected (notify.c).

Handlers and the keyspace record ``(class, event, db, key)``; after each command
``execute()`` hands them here, and we publish ``__keyspace@<db>__:<key>`` /
``__keyevent@<db>__:<event>`` as ``notify-keyspace-events`` asks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aki.core.state import Server

ALL_CLASSES = "g$lshzxetd"  # what 'A' stands for (not 'n' or 'm')


class Notifier:
    def __init__(self, server: Server) -> None:
        self.server = server
        self.flags = ""
        self.classes: set[str] = set()
        server.config.on_change("notify-keyspace-events", self.configure)
        self.configure(server.config.notify_keyspace_events)
        server.extensions["notify"] = self.deliver

    def configure(self, flags: str) -> None:
        self.flags = flags
        classes = set(flags)
        if "A" in classes:
            classes |= set(ALL_CLASSES)
        self.classes = classes

    def deliver(self, events: list[tuple[str, str, int, bytes]]) -> None:
        classes = self.classes
        keyspace = "K" in classes
        keyevent = "E" in classes
        publish = self.server.pubsub.publish
        for cls, event, db, key in events:
            if cls not in classes:
                continue
            ev = event.encode()
            if keyspace:
                publish(b"__keyspace@%d__:%s" % (db, key), ev)
            if keyevent:
                publish(b"__keyevent@%d__:%s" % (db, ev), key)
