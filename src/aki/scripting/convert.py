"""Reply values <-> the flat token lists the Lua side builds and reads.

Crossing lupa's boundary once per value is slow, so containers travel as one
flat list: Python -> Lua as opcodes that ``build`` (lua_sandbox.py) turns
into tables, Lua -> Python as tagged tokens that ``flatten`` emits.

Direction Redis -> Lua reproduces what Redis does: encode the reply in the
protocol the script chose with ``redis.setresp`` and parse it back
(``redisProtocolToLuaType``). So in RESP2 a dict becomes a flat array, a
float a bulk string, a bool an integer; in RESP3 they become ``{map=}``,
``{double=}``, booleans.

Direction Lua -> Redis follows ``luaReplyToRedisReply``: which reply the
client finally sees (RESP2 or RESP3 framing) is the encoder's business,
except for the few shapes aki's value types cannot express (a ``-nan``
double, a big number that is not a number, a verbatim string that is not
``txt``), which are written as ``Raw`` wire bytes for the client's protocol.
"""

from __future__ import annotations

import math
from typing import Any

from aki.resp.types import (
    BigNumber,
    BulkArray,
    ErrorReply,
    NullArray,
    Push,
    Raw,
    RespSet,
    Status,
    Verbatim,
)
from aki.scripting.libs import c_double_to_int64

# Opcodes understood by ``build`` in lua_sandbox.py.
OP_VALUE, OP_FALSE, OP_NIL, OP_STATUS, OP_ERROR = 0, 2, 3, 4, 5
OP_ARRAY, OP_MAP, OP_SET, OP_DOUBLE, OP_TRUE, OP_BOOL_FALSE = 6, 7, 8, 9, 10, 11
OP_BIG_NUMBER, OP_VERBATIM = 12, 13

# What redis.call hands back to Lua: (PLAIN, lua value) | (TOKENS, list) | (ERROR, "-msg")
# | (FLAT, list of strings/numbers to become a Lua array as is) | (STATUS, text: Lua
# makes the {ok = text} table itself).
PLAIN, TOKENS, ERROR, FLAT, STATUS = 0, 1, 2, 3, 4

_INT64_LIMIT = 1 << 63


def _text_bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def _lua_number(n: int) -> int | float:
    """Lua numbers are doubles; lupa refuses ints it cannot fit."""
    return n if -_INT64_LIMIT <= n < _INT64_LIMIT else float(n)


def _format_double(x: float) -> bytes:
    """A double as RESP2 shows it (``addReplyDouble``: ``%.17g``, inf spelled out)."""
    if math.isinf(x):
        return b"inf" if x > 0 else b"-inf"
    if math.isnan(x):
        return b"-nan" if math.copysign(1.0, x) < 0 else b"nan"
    return b"%.17g" % x


def reply_to_lua(value: Any, resp: int) -> tuple[int, Any]:
    """A command's reply as redis.call returns it to a script speaking ``resp``."""
    t = type(value)  # the common replies first, by exact type
    if t is bytes:
        return PLAIN, value
    if t is Status:
        return STATUS, _text_bytes(value)
    if t is int:
        return PLAIN, _lua_number(value)
    if t is BulkArray:
        value = value.items()
    elif isinstance(value, Raw):
        value = parse_raw(bytes(value))
    if isinstance(value, ErrorReply):
        return ERROR, b"-" + _text_bytes(value.message)
    if isinstance(value, bytes) and not (resp == 3 and isinstance(value, Verbatim)):
        return PLAIN, bytes(value)
    if isinstance(value, bool):
        return PLAIN, (value if resp == 3 else int(value))
    if isinstance(value, int) and not isinstance(value, BigNumber):
        return PLAIN, _lua_number(value)
    if value is None or value is NullArray:
        return PLAIN, (None if resp == 3 else False)
    if type(value) is list and all(type(x) is bytes or type(x) is int for x in value):
        # The common LRANGE/SMEMBERS/HKEYS shape: one table_from, no tokens.
        if all(-_INT64_LIMIT <= x < _INT64_LIMIT for x in value if type(x) is int):
            return FLAT, value
    tokens: list[Any] = []
    _tokens(value, resp, tokens)
    return TOKENS, tokens


def _tokens(v: Any, resp: int, out: list[Any]) -> None:
    if type(v) is BulkArray:
        v = v.items()
    elif isinstance(v, Raw):
        v = parse_raw(bytes(v))
    if isinstance(v, Verbatim):
        if resp == 3:
            out += (OP_VERBATIM, b"txt", bytes(v))
        else:
            out += (OP_VALUE, bytes(v))
    elif isinstance(v, (bytes, bytearray, memoryview)):
        out += (OP_VALUE, bytes(v))
    elif isinstance(v, bool):
        if resp == 3:
            out.append(OP_TRUE if v else OP_BOOL_FALSE)
        else:
            out += (OP_VALUE, int(v))
    elif isinstance(v, BigNumber):
        if resp == 3:
            out += (OP_BIG_NUMBER, str(int(v)).encode())
        else:
            out += (OP_VALUE, str(int(v)).encode())
    elif isinstance(v, int):
        out += (OP_VALUE, _lua_number(v))
    elif v is None or v is NullArray:
        out.append(OP_NIL if resp == 3 else OP_FALSE)
    elif isinstance(v, Status):
        out += (OP_STATUS, _text_bytes(v))
    elif isinstance(v, ErrorReply):
        out += (OP_ERROR, b"-" + _text_bytes(v.message))
    elif isinstance(v, float):
        if resp == 3:
            out += (OP_DOUBLE, v)
        else:
            out += (OP_VALUE, _format_double(v))
    elif isinstance(v, RespSet):
        out += (OP_SET if resp == 3 else OP_ARRAY, len(v))
        for item in v:
            _tokens(item, resp, out)
    elif isinstance(v, dict):
        if resp == 3:
            out += (OP_MAP, len(v))
        else:
            out += (OP_ARRAY, 2 * len(v))
        for key, item in v.items():
            _tokens(key, resp, out)
            _tokens(item, resp, out)
    elif isinstance(v, (list, tuple)):
        out += (OP_ARRAY, len(v))
        for item in v:
            _tokens(item, resp, out)
    elif isinstance(v, str):
        out += (OP_VALUE, _text_bytes(v))
    else:
        raise TypeError(f"cannot convert {type(v).__name__} reply for Lua")


# ---------------------------------------------------------------------------
# Lua -> Redis
# ---------------------------------------------------------------------------


def _c_string(b: bytes) -> bytes:
    """Redis copies these with ``sdsnew(lua_tostring())``: a NUL ends them."""
    nul = b.find(b"\0")
    return b if nul < 0 else b[:nul]


def _no_newlines(b: bytes) -> bytes:
    return b.replace(b"\r", b" ").replace(b"\n", b" ")


def error_text(msg: bytes) -> str:
    """An error reply built by ``addReplyErrorFormat("-%s")``: trimmed, one line."""
    return _no_newlines(_c_string(msg).strip(b"\r\n")).decode("utf-8", "surrogateescape")


def _freeze(value: Any) -> Any:
    """Make a map key hashable (a Lua table used as a key becomes a tuple)."""
    if isinstance(value, RespSet):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, dict):
        return tuple(_freeze(x) for kv in value.items() for x in kv)
    return value


def _lua_integer(n: Any) -> int:
    """``(long long)lua_tonumber()``: lupa gives ints for integral values, floats otherwise."""
    if type(n) is int:
        return n if -_INT64_LIMIT <= n < _INT64_LIMIT else -_INT64_LIMIT
    return c_double_to_int64(n)


_DEEP = 100  # nesting beyond which the reply goes out as Raw wire bytes


def tokens_to_reply(tokens: list[Any], client_resp: int) -> Any:
    """The reply value for ``flatten``'s tokens.

    A script can return thousands of nested tables (Redis stops at its Lua
    stack limit, ~8000 levels); such replies are written out iteratively as
    ``Raw`` so that neither this module nor the encoder recurses that deep.
    """
    if _depth(tokens) > _DEEP:
        return Raw(_wire(tokens, client_resp))
    return TokenReader(tokens, client_resp).read()


def _depth(tokens: list[Any]) -> int:
    """Deepest container nesting in a token list, without recursion."""
    pending: list[int] = []  # values still expected at each open level
    deepest = pos = 0
    n = len(tokens)
    while pos < n:
        tag = tokens[pos]
        children = 0
        if tag in (b"b", b"i", b"s", b"e", b"d", b"g"):
            pos += 2
        elif tag == b"v":
            pos += 3
        elif tag == b"B":
            pos += 2 + tokens[pos + 1]
        elif tag in (b"a", b"S"):
            children = tokens[pos + 1]
            pos += 2
        elif tag == b"m":
            children = 2 * tokens[pos + 1]
            pos += 2
        else:
            pos += 1
        while pending and pending[-1] == 0:
            pending.pop()
        if pending:
            pending[-1] -= 1
        if children:
            pending.append(children)
            deepest = max(deepest, len(pending))
    return deepest


def _wire(tokens: list[Any], resp: int) -> bytes:
    """RESP bytes for a token list (only used for very deep replies)."""
    out: list[bytes] = []
    reader = TokenReader(tokens, resp)
    pos, n = 0, len(tokens)
    while pos < n:
        tag = tokens[pos]
        if tag == b"a":
            out.append(b"*%d\r\n" % tokens[pos + 1])
            pos += 2
        elif tag == b"S":
            out.append((b"~%d\r\n" if resp == 3 else b"*%d\r\n") % tokens[pos + 1])
            pos += 2
        elif tag == b"m":
            count = tokens[pos + 1]
            out.append(b"%%%d\r\n" % count if resp == 3 else b"*%d\r\n" % (2 * count))
            pos += 2
        else:
            reader.pos = pos
            value = reader.read()  # a leaf or a flat 'B' array: no recursion
            pos = reader.pos
            out.append(_leaf_wire(value, resp))
    return b"".join(out)


def _leaf_wire(value: Any, resp: int) -> bytes:
    if isinstance(value, Raw):
        return bytes(value)
    if isinstance(value, ErrorReply):
        return b"-" + _text_bytes(value.message) + b"\r\n"
    if isinstance(value, Status):
        return b"+" + _text_bytes(value) + b"\r\n"
    if isinstance(value, Verbatim) and resp == 3:
        return b"=%d\r\ntxt:%s\r\n" % (len(value) + 4, bytes(value))
    if isinstance(value, bytes):
        return b"$%d\r\n%s\r\n" % (len(value), value)
    if isinstance(value, bool):
        if resp == 3:
            return b"#t\r\n" if value else b"#f\r\n"
        return b":1\r\n" if value else b":0\r\n"
    if isinstance(value, BigNumber):
        if resp == 3:
            return b"(%d\r\n" % value
        text = str(int(value)).encode()
        return b"$%d\r\n%s\r\n" % (len(text), text)
    if isinstance(value, int):
        return b":%d\r\n" % value
    if value is None:
        return b"_\r\n" if resp == 3 else b"$-1\r\n"
    if isinstance(value, float):
        text = _format_double(value)
        return b"," + text + b"\r\n" if resp == 3 else b"$%d\r\n%s\r\n" % (len(text), text)
    if isinstance(value, list):  # a flat array of strings
        return b"*%d\r\n" % len(value) + b"".join(b"$%d\r\n%s\r\n" % (len(x), x) for x in value)
    raise TypeError(type(value))


class TokenReader:
    """Rebuilds a reply value from ``flatten``'s tokens (recursive: shallow replies)."""

    def __init__(self, tokens: list[Any], client_resp: int) -> None:
        self.tokens = tokens
        self.pos = 0
        self.client_resp = client_resp

    def read(self) -> Any:
        tokens = self.tokens
        pos = self.pos
        tag = tokens[pos]
        if tag == b"b":
            self.pos = pos + 2
            return tokens[pos + 1]
        if tag == b"i":
            self.pos = pos + 2
            return _lua_integer(tokens[pos + 1])
        if tag == b"n":
            self.pos = pos + 1
            return None
        if tag == b"B":  # an array of strings only
            count = tokens[pos + 1]
            self.pos = pos + 2 + count
            return tokens[pos + 2:pos + 2 + count]
        if tag == b"a":
            self.pos = pos + 2
            return [self.read() for _ in range(tokens[pos + 1])]
        if tag == b"t" or tag == b"f":
            self.pos = pos + 1
            return tag == b"t"
        self.pos = pos + 2
        value = tokens[pos + 1]
        if tag == b"s":
            return Status(_no_newlines(_c_string(value)).decode("utf-8", "surrogateescape"))
        if tag == b"e":
            return ErrorReply(error_text(value))
        if tag == b"m":
            result: dict[Any, Any] = {}
            for _ in range(value):
                key = _freeze(self.read())
                result[key] = self.read()
            return result
        if tag == b"S":
            return RespSet(self.read() for _ in range(value))
        if tag == b"d":
            return self._double(float(value))
        if tag == b"g":
            return self._big_number(_no_newlines(value))
        if tag == b"v":
            self.pos = pos + 3
            return self._verbatim(value, tokens[pos + 2])
        raise ValueError(f"bad reply token {tag!r}")

    def _double(self, x: float) -> Any:
        if not math.isnan(x):
            return x
        text = _format_double(x)
        if self.client_resp == 3:
            return Raw(b"," + text + b"\r\n")
        return Raw(b"$%d\r\n%s\r\n" % (len(text), text))

    def _big_number(self, text: bytes) -> Any:
        digits = text[1:] if text[:1] == b"-" else text
        if digits.isdigit() and str(int(text)).encode() == text:
            return BigNumber(int(text))
        if self.client_resp == 3:
            return Raw(b"(" + text + b"\r\n")
        return Raw(b"$%d\r\n%s\r\n" % (len(text), text))

    def _verbatim(self, fmt: bytes, text: bytes) -> Any:
        ext = (_c_string(fmt) + b"   ")[:3]
        if self.client_resp == 2:
            return bytes(text)
        if ext == b"txt":
            return Verbatim(text)
        return Raw(b"=%d\r\n%s:%s\r\n" % (len(text) + 4, ext, text))


# ---------------------------------------------------------------------------
# Raw replies (wire bytes a handler returned as is) back into values.
# ---------------------------------------------------------------------------


def parse_raw(data: bytes) -> Any:
    """Parse one RESP2/RESP3 reply; attributes are skipped as Redis's Lua parser does."""
    value, _ = _parse(data, 0)
    return value


def _line(data: bytes, pos: int) -> tuple[bytes, int]:
    end = data.index(b"\r\n", pos)
    return data[pos:end], end + 2


def _parse(data: bytes, pos: int) -> tuple[Any, int]:
    kind = data[pos:pos + 1]
    line, pos = _line(data, pos + 1)
    if kind == b"+":
        return Status(line.decode("utf-8", "surrogateescape")), pos
    if kind == b"-":
        return ErrorReply(line.decode("utf-8", "surrogateescape")), pos
    if kind == b":":
        return int(line), pos
    if kind in (b"$", b"="):
        n = int(line)
        if n < 0:
            return None, pos
        body = data[pos:pos + n]
        pos += n + 2
        if kind == b"=":
            return Verbatim(body[4:]), pos
        return body, pos
    if kind in (b"*", b"~", b">"):
        n = int(line)
        if n < 0:
            return NullArray, pos
        items = []
        for _ in range(n):
            item, pos = _parse(data, pos)
            items.append(item)
        if kind == b"~":
            return RespSet(items), pos
        if kind == b">":
            return Push(items), pos
        return items, pos
    if kind == b"%":
        result: dict[Any, Any] = {}
        for _ in range(int(line)):
            key, pos = _parse(data, pos)
            result[_freeze(key)], pos = _parse(data, pos)
        return result, pos
    if kind == b"|":
        for _ in range(2 * int(line)):
            _, pos = _parse(data, pos)
        return _parse(data, pos)
    if kind == b"_":
        return None, pos
    if kind == b",":
        return float(line), pos
    if kind == b"#":
        return line == b"t", pos
    if kind == b"(":
        return BigNumber(int(line)), pos
    raise ValueError(f"bad RESP type {kind!r}")
