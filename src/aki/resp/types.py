"""Reply value types: what handlers return, before any protocol is chosen.

Handlers return plain Python values; only ``resp.encoder`` decides how each one
looks in RESP2 or RESP3. The mapping:

=====================  =======================  ==============================
Python value           RESP2                    RESP3
=====================  =======================  ==============================
``bytes``              bulk string              bulk string
``int``                integer                  integer
``None``               null bulk ``$-1``        null ``_``
``list`` / ``tuple``   array                    array
``float``              bulk string (``%.17g``)  double ``,``
``bool``               integer 1/0              boolean ``#t``/``#f``
``dict``               flat array k1 v1 ...     map ``%``
``Status``             simple string ``+``      simple string ``+``
``RespSet``            array                    set ``~``
``Verbatim``           bulk string              verbatim ``=txt:``
``BigNumber``          bulk string              big number ``(``
``Push``               array                    push ``>``
``Pushes``             its items, one by one    its items, one by one
``NullArray``          null array ``*-1``       null ``_``
``ErrorReply``         error ``-``              error ``-``
``Raw``                bytes as given           bytes as given
``BulkArray`` (a Raw)  bytes as given           bytes as given
=====================  =======================  ==============================
"""

from __future__ import annotations

import hiredis


class Status(str):
    """A RESP simple string such as ``+OK``; never carries CR or LF."""

    __slots__ = ()


OK = Status("OK")
QUEUED = Status("QUEUED")
PONG = Status("PONG")


class RespSet(list):
    """An unordered collection: a RESP3 set, a plain array in RESP2."""

    __slots__ = ()


class Push(list):
    """An out-of-band message (pub/sub, invalidation): ``>`` in RESP3."""

    __slots__ = ()


class Pushes(list):
    """Several out-of-band messages as one command's answer (SUBSCRIBE a b c): each
    item is written as a message of its own, even under CLIENT REPLY OFF, and inside
    an EXEC array they take the command's place unframed, as Redis writes them."""

    __slots__ = ()


class Verbatim(bytes):
    """Human-readable text (INFO, CLIENT LIST): ``=txt:`` in RESP3."""

    __slots__ = ()


class BigNumber(int):
    """An integer outside 64 bits: ``(`` in RESP3, a bulk string in RESP2."""

    __slots__ = ()


class _NullArray:
    """``*-1`` in RESP2 (EXEC aborted, BLPOP timeout), ``_`` in RESP3."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NullArray"


NullArray = _NullArray()


class ErrorReply:
    """An error as a value, for errors nested inside arrays (EXEC, Lua)."""

    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message

    def __repr__(self) -> str:
        return f"ErrorReply({self.message!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ErrorReply) and other.message == self.message

    def __hash__(self) -> int:
        return hash(self.message)


class Raw(bytes):
    """Bytes already in wire form; written as they are, in either protocol."""

    __slots__ = ()


class BulkArray(Raw):
    """An array of bulk strings in wire form (the same bytes in RESP2 and RESP3), built
    by SQLite for long ranges so that no Python object exists per element; ``items()``
    gives the list back to consumers of values (scripts, the CLI, the HTTP API)."""

    __slots__ = ()

    @classmethod
    def of(cls, n: int, body: bytes | None) -> BulkArray:
        """From ``n`` and the concatenated ``$<len>\r\n<bytes>\r\n`` elements."""
        return cls(b"*%d\r\n%b" % (n, body or b""))

    @classmethod
    def joined(cls, blob: bytes | None, n: int) -> BulkArray | None:
        """From ``blob``, ``n`` elements joined by 0xff bytes (SQLite's
        ``group_concat(col, x'ff')``); None when it does not split into exactly ``n``
        parts, because an element holds a 0xff byte."""
        wire = _joined_array(blob, n)
        return None if wire is None else cls(wire)

    def items(self) -> list[bytes]:
        reader = hiredis.Reader()
        reader.feed(self)
        return reader.gets()


def _joined_array_py(blob: bytes | None, n: int) -> bytes | None:
    """What ``aki._lane.joined_array`` does, for an install without the C extension."""
    parts = [] if blob is None else blob.split(b"\xff")
    if len(parts) != n:
        return None
    return b"*%d\r\n" % n + b"".join(b"$%d\r\n%b\r\n" % (len(p), p) for p in parts)


try:
    from aki._lane import joined_array as _joined_array
except ImportError:  # the C extension is optional (setup.py)
    _joined_array = _joined_array_py
