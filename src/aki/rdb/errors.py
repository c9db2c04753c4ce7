"""Errors of the RDB codec: one class for a bad file, one for a bad DUMP payload.

``RDBError`` always names the byte offset where reading failed, so a user can look
at the file with a hex dump. ``DumpPayloadError`` is also an ``aki.errors.RedisError``
whose message is exactly what Redis replies to RESTORE, so a command handler can let
it propagate unchanged.
"""

from __future__ import annotations

from aki.errors import RedisError

__all__ = [
    "DUMP_BAD_FORMAT",
    "DUMP_VERSION_OR_CHECKSUM",
    "DumpPayloadError",
    "RDBError",
]

DUMP_VERSION_OR_CHECKSUM = "ERR DUMP payload version or checksum are wrong"
DUMP_BAD_FORMAT = "ERR Bad data format"


class RDBError(Exception):
    """A corrupt, truncated or unsupported RDB; ``offset`` is where it was detected."""

    def __init__(self, reason: str, offset: int | None = None) -> None:
        self.reason = reason
        self.offset = offset
        text = reason if offset is None else f"{reason} (at byte offset {offset})"
        super().__init__(text)


class DumpPayloadError(RDBError, RedisError):
    """A RESTORE payload Redis would refuse; ``message`` is Redis's exact reply text."""

    def __init__(self, message: str, reason: str | None = None, offset: int | None = None) -> None:
        RDBError.__init__(self, reason or message, offset)
        self.message = message

    def __str__(self) -> str:
        return self.message
