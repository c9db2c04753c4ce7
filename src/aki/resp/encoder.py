"""Reply values to RESP bytes: the only place that knows RESP2 from RESP3.

See ``resp.types`` for the mapping. Exact-type checks come first because the
hot replies (bulk, integer, null, OK) must cost as little as possible.
"""

from __future__ import annotations

import math

from aki.errors import RedisError
from aki.resp.types import (
    OK,
    BigNumber,
    BulkArray,
    ErrorReply,
    NullArray,
    Push,
    Pushes,
    Raw,
    RespSet,
    Status,
    Verbatim,
    _NullArray,
)

_OK = b"+OK\r\n"
_NULL2 = b"$-1\r\n"
_NULL3 = b"_\r\n"
_INTS = [b":%d\r\n" % i for i in range(1024)]
_BYTES_ONLY = {bytes}
_CRLF = [b"\r\n"]


class _Headers(dict):
    """``$<len>\r\n`` by length, looked up from C (``map``); lengths up to 64 KiB stay."""

    def __missing__(self, n: int) -> bytes:
        h = b"$%d\r\n" % n
        if n < 65536:
            self[n] = h
        return h


_BULK_HEADER = _Headers((n, b"$%d\r\n" % n) for n in range(1024)).__getitem__


def format_double(d: float) -> bytes:
    """Redis 7.0's ``%.17g`` double text, with inf/-inf/nan spelled as Redis does."""
    if math.isinf(d):
        return b"inf" if d > 0 else b"-inf"
    if d != d:
        return b"nan"
    return b"%.17g" % d


def encode(value: object, resp3: bool) -> bytes:
    """Encode one reply value."""
    t = type(value)
    if t is bytes:
        return b"$%d\r\n%s\r\n" % (len(value), value)  # type: ignore[arg-type]
    if value is OK:  # the shared Status("OK") every write handler returns
        return _OK
    if t is int:
        if 0 <= value < 1024:  # type: ignore[operator]
            return _INTS[value]  # type: ignore[index]
        return b":%d\r\n" % value  # type: ignore[str-format]
    if value is None:
        return _NULL3 if resp3 else _NULL2
    if t is Status:
        if value == "OK":
            return _OK
        return b"+%s\r\n" % value.encode()  # type: ignore[union-attr]
    if t is list and value and set(map(type, value)) == _BYTES_ONLY:  # type: ignore[arg-type]
        # An array of plain bulk strings (LRANGE, SMEMBERS, HGETALL in RESP2 ...)
        # (exact type: Raw and Verbatim are bytes subclasses). Header, value and CRLF are
        # interleaved by slice assignment, so no Python code runs per element: 2-3x
        # faster than formatting each element.
        n = len(value)  # type: ignore[arg-type]
        parts = _CRLF * (3 * n)
        parts[0::3] = map(_BULK_HEADER, map(len, value))  # type: ignore[call-overload]
        parts[1::3] = value  # type: ignore[assignment]
        return b"*%d\r\n%b" % (n, b"".join(parts))
    if t is BulkArray:
        return value  # type: ignore[return-value]
    parts: list[bytes] = []
    _encode_into(value, resp3, parts)
    return b"".join(parts)


def encode_error(message: str) -> bytes:
    return b"-%s\r\n" % message.encode("utf-8", "surrogateescape")


def _encode_into(value: object, resp3: bool, out: list[bytes]) -> None:
    t = type(value)
    if t is bytes or t is bytearray or t is memoryview:
        b = bytes(value)  # type: ignore[arg-type]
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    elif t is bool:
        if resp3:
            out.append(b"#t\r\n" if value else b"#f\r\n")
        else:
            out.append(b":1\r\n" if value else b":0\r\n")
    elif t is int:
        out.append(b":%d\r\n" % value)  # type: ignore[str-format]
    elif value is None:
        out.append(_NULL3 if resp3 else _NULL2)
    elif t is list or t is tuple:
        out.append(b"*%d\r\n" % len(value))  # type: ignore[arg-type]
        for item in value:  # type: ignore[union-attr]
            _encode_into(item, resp3, out)
    elif t is Status:
        out.append(b"+%s\r\n" % value.encode())  # type: ignore[union-attr]
    elif t is float:
        text = format_double(value)  # type: ignore[arg-type]
        if resp3:
            out.append(b",%s\r\n" % text)
        else:
            out.append(b"$%d\r\n%s\r\n" % (len(text), text))
    elif t is dict:
        if resp3:
            out.append(b"%%%d\r\n" % len(value))  # type: ignore[arg-type]
        else:
            out.append(b"*%d\r\n" % (2 * len(value)))  # type: ignore[arg-type]
        for k, v in value.items():  # type: ignore[union-attr]
            _encode_into(k, resp3, out)
            _encode_into(v, resp3, out)
    elif t is ErrorReply:
        out.append(encode_error(value.message))  # type: ignore[union-attr]
    elif t is RespSet:
        out.append((b"~%d\r\n" if resp3 else b"*%d\r\n") % len(value))  # type: ignore[arg-type]
        for item in value:  # type: ignore[union-attr]
            _encode_into(item, resp3, out)
    elif t is Push:
        out.append((b">%d\r\n" if resp3 else b"*%d\r\n") % len(value))  # type: ignore[arg-type]
        for item in value:  # type: ignore[union-attr]
            _encode_into(item, resp3, out)
    elif t is Pushes:
        for item in value:  # type: ignore[union-attr]
            _encode_into(item, resp3, out)
    elif t is Verbatim:
        if resp3:
            out.append(b"=%d\r\ntxt:%s\r\n" % (len(value) + 4, value))  # type: ignore[arg-type]
        else:
            out.append(b"$%d\r\n%s\r\n" % (len(value), value))  # type: ignore[arg-type]
    elif t is BigNumber:
        if resp3:
            out.append(b"(%d\r\n" % value)  # type: ignore[str-format]
        else:
            text = b"%d" % value  # type: ignore[str-format]
            out.append(b"$%d\r\n%s\r\n" % (len(text), text))
    elif t is _NullArray:
        out.append(_NULL3 if resp3 else b"*-1\r\n")
    elif t is Raw or t is BulkArray:
        out.append(bytes(value))  # type: ignore[arg-type]
    elif isinstance(value, RedisError):
        out.append(encode_error(value.message))
    elif isinstance(value, str):
        b = value.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    elif isinstance(value, (set, frozenset)):
        _encode_into(RespSet(value), resp3, out)
    else:
        raise TypeError(f"cannot encode reply of type {t.__name__}")


__all__ = ["encode", "encode_error", "format_double", "NullArray"]
