"""The parts of Redis's bundled C libraries that are easier exact in Python.

lupa's Lua 5.1 ships none of ``bit``, ``struct``, ``cmsgpack`` or ``cjson``,
and plain Lua cannot see the bits of a double. So the bit-twiddling lives
here (LuaBitOp's double trick, struct's C integer casts, msgpack's IEEE
floats, Redis's ``rand48``) while the table walking stays in Lua
(``lua_src.py``), where iteration order and recursion come for free.

Every function called from Lua returns values instead of raising: a Python
exception crossing into Lua would become an opaque userdata error.
"""

from __future__ import annotations

import math
import re
import struct as _struct
from collections.abc import Callable
from typing import Any

from lupa import lua51

_MASK32 = 0xFFFFFFFF
_MASK64 = 0xFFFFFFFFFFFFFFFF
_INT64_MIN = -(1 << 63)

# --------------------------------------------------------------------------
# Lua value helpers
# --------------------------------------------------------------------------

_STRTOD = re.compile(
    rb"[ \t\n\v\f\r]*([+-]?(?:inf(?:inity)?|nan(?:\([0-9A-Za-z_]*\))?"
    rb"|0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?[0-9]+)?"
    rb"|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?))",
    re.IGNORECASE,
)
_TRAILING_SPACE = re.compile(rb"[ \t\n\v\f\r]*")


def lua_str2number(text: bytes) -> float | None:
    """``luaO_str2d``: strtod on a C string plus trailing blanks, else None."""
    nul = text.find(b"\0")
    if nul >= 0:
        text = text[:nul]
    m = _STRTOD.match(text)
    if m is None or _TRAILING_SPACE.fullmatch(text, m.end()) is None:
        return None
    tok = m.group(1).lower()
    sign = -1.0 if tok.startswith(b"-") else 1.0
    body = tok.lstrip(b"+-")
    if body.startswith(b"inf"):
        return sign * math.inf
    if body.startswith(b"nan"):
        return math.copysign(math.nan, sign)
    if body.startswith(b"0x"):
        return sign * float.fromhex(body.decode())
    return float(tok)


def lua_number2str(n: float) -> bytes:
    """``lua_number2str``: C's ``%.14g``, including glibc's ``-nan``."""
    if math.isnan(n):
        return b"-nan" if math.copysign(1.0, n) < 0 else b"nan"
    return (b"%.14g" % n)


def lua_typename(value: Any) -> str:
    """``lua_typename`` for a value lupa handed to Python."""
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, bytes):
        return "string"
    kind = lua51.lua_type(value)
    return kind if kind else "userdata"


def c_double_to_int64(x: float) -> int:
    """``(long long)x`` as x86-64 does it: out of range and NaN give INT64_MIN."""
    if math.isnan(x) or not (-9.223372036854775808e18 <= x < 9.223372036854775808e18):
        return _INT64_MIN
    return int(x)


# --------------------------------------------------------------------------
# math.random: Redis replaces libc rand() by its own rand48 so that every
# platform (and aki) yields the same sequence for the same seed.
# --------------------------------------------------------------------------


class Rand48:
    """Redis's ``redisLrand48``/``redisSrand48`` (rand.c): a 48-bit LCG."""

    MAX = 0x7FFFFFFF  # REDIS_LRAND48_MAX (INT32_MAX)

    def __init__(self) -> None:
        self.x = 0x1234ABCD330E

    def seed(self, seed: int) -> None:
        self.x = ((seed & _MASK32) << 16) | 0x330E

    def next(self) -> int:
        self.x = (0x5DEECE66D * self.x + 0xB) & 0xFFFFFFFFFFFF
        return self.x >> 17

    def random(self) -> float:
        """The ``r`` of Redis's math.random: in [0, 1)."""
        return (self.next() % self.MAX) / self.MAX


# --------------------------------------------------------------------------
# bit (LuaBitOp 1.0.2). Arguments arrive already checked and converted to
# numbers by the Lua wrapper.
# --------------------------------------------------------------------------


def tobit_u(x: float) -> int:
    """LuaBitOp's ``barg``: low 32 bits of ``x + 2^52 + 2^51`` as a double."""
    bits = _struct.unpack("<Q", _struct.pack("<d", float(x) + 6755399441055744.0))[0]
    return bits & _MASK32


def _signed(b: int) -> int:
    b &= _MASK32
    return b - 0x100000000 if b & 0x80000000 else b


def bit_tobit(x: float) -> int:
    return _signed(tobit_u(x))


def bit_bnot(x: float) -> int:
    return _signed(~tobit_u(x))


def bit_band(*xs: float) -> int:
    b = _MASK32
    for x in xs:
        b &= tobit_u(x)
    return _signed(b)


def bit_bor(*xs: float) -> int:
    b = 0
    for x in xs:
        b |= tobit_u(x)
    return _signed(b)


def bit_bxor(*xs: float) -> int:
    b = 0
    for x in xs:
        b ^= tobit_u(x)
    return _signed(b)


def bit_lshift(x: float, n: float) -> int:
    return _signed(tobit_u(x) << (tobit_u(n) & 31))


def bit_rshift(x: float, n: float) -> int:
    return _signed(tobit_u(x) >> (tobit_u(n) & 31))


def bit_arshift(x: float, n: float) -> int:
    return _signed(_signed(tobit_u(x)) >> (tobit_u(n) & 31))


def bit_rol(x: float, n: float) -> int:
    b, s = tobit_u(x), tobit_u(n) & 31
    return _signed((b << s) | (b >> (32 - s)))


def bit_ror(x: float, n: float) -> int:
    b, s = tobit_u(x), tobit_u(n) & 31
    return _signed((b << (32 - s)) | (b >> s))


def bit_bswap(x: float) -> int:
    return _signed(int.from_bytes(tobit_u(x).to_bytes(4, "little"), "big"))


def bit_tohex(x: float, n: float | None = None) -> bytes:
    b = tobit_u(x)
    count = 8 if n is None else _signed(tobit_u(n))
    digits = "0123456789abcdef"
    if count < 0:
        count, digits = -count, "0123456789ABCDEF"
    count = min(count, 8)
    out = []
    for _ in range(count):
        out.append(digits[b & 15])
        b >>= 4
    return "".join(reversed(out)).encode()


BIT_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "tobit": bit_tobit,
    "bnot": bit_bnot,
    "band": bit_band,
    "bor": bit_bor,
    "bxor": bit_bxor,
    "lshift": bit_lshift,
    "rshift": bit_rshift,
    "arshift": bit_arshift,
    "rol": bit_rol,
    "ror": bit_ror,
    "bswap": bit_bswap,
    "tohex": bit_tohex,
}

# --------------------------------------------------------------------------
# struct (Roberto Ierusalimschy's struct.c as Redis bundles it), for x86-64:
# int 4, long/size_t 8, little endian native, MAXALIGN 8.
# --------------------------------------------------------------------------


class _StructError(Exception):
    """A Lua error raised by struct: ``luaL_error`` text, or ``luaL_argerror`` when ``narg`` is set."""

    def __init__(self, message: bytes, narg: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.narg = narg

    def lua(self) -> tuple[Any, ...]:
        """What the Lua wrapper expects: (false, message[, narg])."""
        if self.narg is None:
            return (False, self.message)
        return (False, self.message, self.narg)


_LITTLE, _BIG = 1, 0
_MAXINTSIZE = 32
_MAXALIGN = 8
_FIXED_SIZES = {
    ord("b"): 1, ord("B"): 1, ord("h"): 2, ord("H"): 2, ord("l"): 8, ord("L"): 8,
    ord("T"): 8, ord("f"): 4, ord("d"): 8, ord("x"): 1,
}
_INTEGER_OPTS = frozenset(b"bBhHlLTiI")


def _argerror(fname: str, narg: int, extra: str | bytes) -> _StructError:
    """An argument error; Lua adds "bad argument #n to '<name>'" with the caller's name."""
    del fname  # the Lua side knows the name the function was called by
    if isinstance(extra, str):
        extra = extra.encode()
    return _StructError(extra, narg)


class _Format:
    """A cursor over a struct format string (a C string: NUL ends it)."""

    def __init__(self, fmt: bytes) -> None:
        nul = fmt.find(b"\0")
        self.fmt = fmt if nul < 0 else fmt[:nul]
        self.i = 0
        self.endian = _LITTLE
        self.align = 1

    def more(self) -> bool:
        return self.i < len(self.fmt)

    def take(self) -> int:
        c = self.fmt[self.i]
        self.i += 1
        return c

    def getnum(self, default: int) -> int:
        if not (self.more() and 0x30 <= self.fmt[self.i] <= 0x39):
            return default
        a = 0
        while self.more() and 0x30 <= self.fmt[self.i] <= 0x39:
            d = self.fmt[self.i] - 0x30
            if a > 0x7FFFFFFF // 10 or a * 10 > 0x7FFFFFFF - d:
                raise _StructError(b"integral size overflow")
            a = a * 10 + d
            self.i += 1
        return a

    def optsize(self, opt: int) -> int:
        if opt in _FIXED_SIZES:
            return _FIXED_SIZES[opt]
        if opt == ord("c"):
            return self.getnum(1)
        if opt in (ord("i"), ord("I")):
            size = self.getnum(4)
            if size > _MAXINTSIZE:
                raise _StructError(
                    b"integral size %d is larger than limit of %d" % (size, _MAXINTSIZE)
                )
            return size
        return 0

    def toalign(self, length: int, opt: int, size: int) -> int:
        if size == 0 or opt == ord("c"):
            return 0
        if size > self.align:
            size = self.align
        return (size - (length & (size - 1))) & (size - 1)

    def control(self, opt: int, fname: str) -> None:
        if opt == ord(" "):
            return
        if opt == ord(">"):
            self.endian = _BIG
        elif opt == ord("<"):
            self.endian = _LITTLE
        elif opt == ord("!"):
            a = self.getnum(_MAXALIGN)
            if not (a > 0 and a & (a - 1) == 0):
                raise _StructError(b"alignment %d is not a power of 2" % a)
            self.align = a
        else:
            raise _argerror(fname, 1, b"invalid format option '%c'" % opt)


class StructLib:
    """``struct.pack``/``unpack``/``size``; Lua passes ``select('#', ...)`` first."""

    @staticmethod
    def _checkstring(fname: str, narg: int, nargs: int, value: Any, nil_marker: bool = False) -> bytes:
        if isinstance(value, bytes):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return lua_number2str(float(value))
        got = "no value" if narg > nargs and not nil_marker else lua_typename(value)
        raise _argerror(fname, narg, f"string expected, got {got}")

    @staticmethod
    def _checknumber(fname: str, narg: int, nargs: int, value: Any, nil_marker: bool = False) -> float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, bytes):
            n = lua_str2number(value)
            if n is not None:
                return n
        got = "no value" if narg > nargs and not nil_marker else lua_typename(value)
        raise _argerror(fname, narg, f"number expected, got {got}")

    @staticmethod
    def _put_integer(n: float, size: int, endian: int) -> bytes:
        if n < 0:
            value = c_double_to_int64(n) & _MASK64
        elif math.isnan(n) or n >= 18446744073709551616.0:
            value = 1 << 63
        else:
            value = int(n) & _MASK64
        out = bytearray(size)
        for k in range(size):
            out[k] = value & 0xFF
            value >>= 8
        if endian == _BIG:
            out.reverse()
        return bytes(out)

    @staticmethod
    def _get_integer(data: bytes, endian: int, signed: bool, size: int) -> float:
        seq = data if endian == _BIG else data[::-1]
        value = 0
        for byte in seq:
            value = ((value << 8) | byte) & _MASK64
        if not signed:
            return float(value)
        mask = (_MASK64 << ((size * 8 - 1) & 63)) & _MASK64
        if value & mask:
            value |= mask
        if value >= 1 << 63:
            value -= 1 << 64
        return float(value)

    def pack(self, nargs: int, *args: Any) -> tuple[Any, ...]:
        try:
            return (True, self._pack(nargs, args))
        except _StructError as e:
            return e.lua()

    def _pack(self, nargs: int, args: tuple[Any, ...]) -> bytes:
        fmt = _Format(self._checkstring("pack", 1, nargs, args[0] if args else None))

        def arg_value(narg: int) -> Any:
            return args[narg - 1] if narg - 1 < len(args) else None

        out = bytearray()
        narg = 2
        total = 0
        while fmt.more():
            opt = fmt.take()
            size = fmt.optsize(opt)
            pad = fmt.toalign(total, opt, size)
            total += pad
            out += b"\0" * pad
            if opt in _INTEGER_OPTS:
                # b_pack pushes a nil before its buffer: one missing argument reads nil.
                n = self._checknumber("pack", narg, nargs, arg_value(narg), narg == nargs + 1)
                narg += 1
                out += self._put_integer(n, size, fmt.endian)
            elif opt == ord("x"):
                out += b"\0"
            elif opt in (ord("f"), ord("d")):
                n = self._checknumber("pack", narg, nargs, arg_value(narg), narg == nargs + 1)
                narg += 1
                code = ("<" if fmt.endian == _LITTLE else ">") + chr(opt)
                try:
                    out += _struct.pack(code, n)
                except OverflowError:
                    out += _struct.pack(code, math.copysign(math.inf, n))
            elif opt in (ord("c"), ord("s")):
                s = self._checkstring("pack", narg, nargs, arg_value(narg), narg == nargs + 1)
                narg += 1
                if size == 0:
                    size = len(s)
                if len(s) < size:
                    raise _argerror("pack", narg, "string too short")
                out += s[:size]
                if opt == ord("s"):
                    out += b"\0"
                    size += 1
            else:
                fmt.control(opt, "pack")
            total += size
        return bytes(out)

    def unpack(self, nargs: int, *args: Any) -> tuple[Any, ...]:
        try:
            return (True, *self._unpack(nargs, args))
        except _StructError as e:
            return e.lua()

    def _unpack(self, nargs: int, args: tuple[Any, ...]) -> list[Any]:
        padded = list(args) + [None] * (3 - len(args))
        fmt = _Format(self._checkstring("unpack", 1, nargs, padded[0]))
        data = self._checkstring("unpack", 2, nargs, padded[1])
        if padded[2] is None:
            pos = 1
        else:
            pos = c_double_to_int64(self._checknumber("unpack", 3, nargs, padded[2]))
        if pos == 0:
            raise _argerror("unpack", 3, "offset must be 1 or greater")
        pos = (pos - 1) & _MASK64  # size_t arithmetic, as in C
        ld = len(data)
        results: list[Any] = []
        while fmt.more():
            opt = fmt.take()
            size = fmt.optsize(opt)
            pos += fmt.toalign(pos, opt, size)
            if not (size <= ld and pos <= ld - size):
                raise _argerror("unpack", 2, "data string too short")
            if opt in _INTEGER_OPTS:
                signed = chr(opt).islower()
                results.append(self._get_integer(data[pos:pos + size], fmt.endian, signed, size))
            elif opt in (ord("f"), ord("d")):
                code = ("<" if fmt.endian == _LITTLE else ">") + chr(opt)
                results.append(_struct.unpack(code, data[pos:pos + size])[0])
            elif opt == ord("c"):
                if size == 0:
                    prev = results[-1] if results else None
                    length = None
                    if isinstance(prev, float):
                        length = prev
                    elif isinstance(prev, bytes):
                        length = lua_str2number(prev)
                    if length is None:
                        raise _StructError(b"format 'c0' needs a previous size")
                    results.pop()
                    size = c_double_to_int64(length) & _MASK64
                    if not (size <= ld and pos <= ld - size):
                        raise _argerror("unpack", 2, "data string too short")
                results.append(data[pos:pos + size])
            elif opt == ord("s"):
                end = data.find(b"\0", pos)
                if end < 0:
                    raise _StructError(b"unfinished string in data")
                size = end - pos + 1
                results.append(data[pos:end])
            elif opt != ord("x"):
                fmt.control(opt, "unpack")
            pos += size
        results.append(float((pos + 1) & _MASK64) if pos + 1 < (1 << 63) else float((pos + 1) - (1 << 64)))
        return results

    def size(self, nargs: int, *args: Any) -> tuple[Any, ...]:
        try:
            fmt = _Format(self._checkstring("size", 1, nargs, args[0] if args else None))
            pos = 0
            while fmt.more():
                opt = fmt.take()
                size = fmt.optsize(opt)
                pos += fmt.toalign(pos, opt, size)
                if opt == ord("s"):
                    raise _argerror("size", 1, "option 's' has no fixed size")
                if opt == ord("c") and size == 0:
                    raise _argerror("size", 1, "option 'c0' has no fixed size")
                if not chr(opt).isalnum() or opt >= 0x80:
                    fmt.control(opt, "size")
                pos += size
            return (True, pos)
        except _StructError as e:
            return e.lua()


# --------------------------------------------------------------------------
# cmsgpack number encoding/decoding (lua_cmsgpack.c 0.4.0).
# --------------------------------------------------------------------------


def _mp_int(n: int) -> bytes:
    if n >= 0:
        if n <= 127:
            return bytes((n,))
        if n <= 0xFF:
            return b"\xcc" + n.to_bytes(1, "big")
        if n <= 0xFFFF:
            return b"\xcd" + n.to_bytes(2, "big")
        if n <= 0xFFFFFFFF:
            return b"\xce" + n.to_bytes(4, "big")
        return b"\xcf" + n.to_bytes(8, "big")
    if n >= -32:
        return (n & 0xFF).to_bytes(1, "big")
    if n >= -128:
        return b"\xd0" + n.to_bytes(1, "big", signed=True)
    if n >= -32768:
        return b"\xd1" + n.to_bytes(2, "big", signed=True)
    if n >= -2147483648:
        return b"\xd2" + n.to_bytes(4, "big", signed=True)
    return b"\xd3" + n.to_bytes(8, "big", signed=True)


def mp_number(x: float) -> bytes:
    """``mp_encode_lua_number``: an int64-equivalent number as an integer, else float/double."""
    x = float(x)
    if not math.isinf(x) and not math.isnan(x) and -9.223372036854775808e18 <= x < 9.223372036854775808e18 and x == int(x):
        return _mp_int(int(x))
    try:
        as_float = _struct.unpack(">f", _struct.pack(">f", x))[0]
    except OverflowError:
        as_float = math.copysign(math.inf, x)
    if as_float == x:
        return b"\xca" + _struct.pack(">f", x)
    return b"\xcb" + _struct.pack(">d", x)


def mp_int64(data: bytes) -> float:
    """An 8-byte msgpack integer as Lua sees it: always read as signed (lua_pushinteger)."""
    return float(int.from_bytes(data, "big", signed=True))


def mp_float(data: bytes) -> float:
    return _struct.unpack(">f", data)[0]


def mp_double(data: bytes) -> float:
    return _struct.unpack(">d", data)[0]
