"""Suspending a client: the mechanism under blocking commands and CLIENT PAUSE.

A handler that must wait returns a ``Suspend``. The transport then parks the
client (it stops reading its pipeline), and later calls ``Suspend.resume`` with
the final reply, either from whoever satisfies the wait or when the timeout
fires (``timeout_reply``). Blocking commands build on this; no handler ever
waits on the event loop itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aki.core.session import Client


class Suspend:
    """A reply that is not ready yet."""

    __slots__ = ("client", "timeout", "timeout_reply", "on_cancel", "_resume", "done", "data")

    def __init__(self, client: Client, timeout: float | None, timeout_reply: object,
                 on_cancel: Callable[[], None] | None = None, data: object = None) -> None:
        self.client = client
        self.timeout = timeout  # seconds from now; None or 0 = forever
        self.timeout_reply = timeout_reply
        self.on_cancel = on_cancel  # called when the wait ends without resume (disconnect)
        self._resume: Callable[[object], None] | None = None
        self.done = False
        self.data = data

    def attach(self, resume: Callable[[object], None]) -> None:
        """Called by the transport: how to deliver the final reply."""
        self._resume = resume

    def resume(self, reply: object) -> None:
        if self.done:
            return
        self.done = True
        self.client.blocked = None
        if self._resume is not None:
            self._resume(reply)

    def expire(self) -> None:
        """The timeout fired."""
        if self.done:
            return
        if self.on_cancel is not None:
            self.on_cancel()
        self.resume(self.timeout_reply)

    def cancel(self) -> None:
        """The client went away while waiting."""
        if self.done:
            return
        self.done = True
        self.client.blocked = None
        if self.on_cancel is not None:
            self.on_cancel()
