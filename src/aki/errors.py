"""Typed errors and every message text Redis 7.0.15 sends that aki reproduces.

Handlers raise ``RedisError`` (or a subclass); the encoder writes
``-<message>\\r\\n``. The message always starts with the error code
(``ERR``, ``WRONGTYPE``, ``EXECABORT`` ...), exactly as Redis sends it.
Keeping every text here means one place to compare against Redis.
"""

from __future__ import annotations


class RedisError(Exception):
    """An error reply. ``message`` is the full text after the ``-``."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ProtocolError(Exception):
    """A framing error: answered with ``-ERR Protocol error: ...`` and the connection closed."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# Common texts (shared constants so a typo cannot hide in one handler).
WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"
SYNTAX = "ERR syntax error"
NOT_INTEGER = "ERR value is not an integer or out of range"
NOT_FLOAT = "ERR value is not a valid float"
OVERFLOW = "ERR increment or decrement would overflow"
NO_SUCH_KEY = "ERR no such key"
INDEX_OUT_OF_RANGE = "ERR index out of range"
DB_INDEX_OUT_OF_RANGE = "ERR DB index is out of range"
INVALID_EXPIRE = "ERR invalid expire time in '{}' command"
NOAUTH = "NOAUTH Authentication required."
WRONGPASS = "WRONGPASS invalid username-password pair or user is disabled."
TIMEOUT_NOT_FLOAT = "ERR timeout is not a float or out of range"
TIMEOUT_NEGATIVE = "ERR timeout is negative"
TIMEOUT_OUT_OF_RANGE = "ERR timeout is out of range"
STRING_TOO_LONG = "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
BIT_OFFSET = "ERR bit offset is not an integer or out of range"
BIT_VALUE = "ERR bit is not an integer or out of range"
SAME_OBJECT = "ERR source and destination objects are the same"
OOM = "OOM command not allowed when used memory > 'maxmemory'."


def wrong_arity(name: str) -> RedisError:
    """Arity error; ``name`` as the client sent it (Redis echoes the original case)."""
    return RedisError(f"ERR wrong number of arguments for '{name}' command")


def unknown_command(name: bytes, args: list[bytes]) -> RedisError:
    """Redis's unknown-command error: arguments quoted while under 128 bytes, each as
    printf's "%.*s" shows it (cut at its first NUL byte)."""
    shown = b""
    for a in args:
        if len(shown) >= 128:
            break
        shown += b"'" + a.split(b"\0", 1)[0][: 128 - len(shown)] + b"' "
    text = (
        f"ERR unknown command '{cstr(name, 128)}', "
        f"with args beginning with: {shown.decode('utf-8', 'surrogateescape')}"
    )
    return RedisError(text.replace("\r", " ").replace("\n", " "))


def unknown_subcommand(cmd: str, sub: str) -> RedisError:
    """Unknown subcommand of a container command (``CLIENT FOO``)."""
    return RedisError(f"ERR unknown subcommand '{_safe(sub)}'. Try {cmd.upper()} HELP.")


def wrong_subcommand_arity(cmd: str, sub: str) -> RedisError:
    return RedisError(
        f"ERR wrong number of arguments for '{cmd.lower()}|{sub.lower()}' command"
    )


def _safe(text: str) -> str:
    """Redis replaces CR/LF (and truncates) when echoing user input in errors."""
    return cstr(text, 128).replace("\r", " ").replace("\n", " ")


def cstr(text: bytes | str, limit: int | None = None) -> str:
    """An argument as C's "%s" / "%.<limit>s" shows it in an error: up to its first NUL
    byte and at most ``limit`` bytes (Redis formats these messages with printf)."""
    raw = text if isinstance(text, bytes) else text.encode("utf-8", "surrogateescape")
    raw = raw.split(b"\0", 1)[0]
    if limit is not None:
        raw = raw[:limit]
    return raw.decode("utf-8", "surrogateescape")
