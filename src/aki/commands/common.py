"""Argument parsing shared by every family, with Redis's exact strictness.

Python's ``int()``/``float()`` accept things Redis rejects (``"+1"``, ``" 1"``,
``"1_0"``, ``"nan"``), so every numeric argument goes through these.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

from aki import errors
from aki.errors import RedisError

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

_INT_RE = re.compile(rb"-?(0|[1-9][0-9]*)\Z")
_FLOAT_BAD = re.compile(rb"[\s_]")
_HEX_FLOAT_B = re.compile(rb"[+-]?0[xX]")  # C strtod reads hex floats only with 0x


def to_int(b: bytes) -> int | None:
    """Redis string2ll: a canonical 64-bit signed integer, else None."""
    if len(b) > 20 or not _INT_RE.match(b):
        return None
    v = int(b)
    if v < INT64_MIN or v > INT64_MAX:
        return None
    if b == b"-0":
        return None
    return v


def parse_int(b: bytes, message: str = errors.NOT_INTEGER) -> int:
    v = to_int(b)
    if v is None:
        raise RedisError(message)
    return v


def parse_positive(b: bytes, name: str = "") -> int:
    """A non-negative integer argument (COUNT and friends)."""
    v = to_int(b)
    if v is None:
        raise RedisError(errors.NOT_INTEGER)
    if v < 0:
        raise RedisError(errors.NOT_INTEGER if not name else f"ERR {name} must be positive")
    return v


def to_float(b: bytes) -> float | None:
    """Redis strtod rules: no spaces, no NaN; inf/-inf allowed. None if invalid."""
    if not b or _FLOAT_BAD.search(b):
        return None
    try:
        v = float(b)
    except ValueError:
        if not _HEX_FLOAT_B.match(b):
            return None
        try:
            v = float.fromhex(b.decode("ascii"))
        except (ValueError, UnicodeDecodeError):
            return None
    if v != v:
        return None
    return v


def parse_float(b: bytes, message: str = errors.NOT_FLOAT) -> float:
    v = to_float(b)
    if v is None:
        raise RedisError(message)
    return v


def parse_timeout(b: bytes) -> float:
    """Blocking-command timeout in seconds (fractional allowed), as Redis 7.0 validates it."""
    v = to_float(b)
    if v is None or math.isinf(v):
        raise RedisError(errors.TIMEOUT_NOT_FLOAT)
    if v < 0:
        raise RedisError(errors.TIMEOUT_NEGATIVE)
    return v


# -- x87 80-bit long double emulation (INCRBYFLOAT, HINCRBYFLOAT) -----------------------
# Redis does this arithmetic in C ``long double`` and prints it with ``%.17Lf``; the
# results differ from doubles (0.1 + 0.2 prints as 0.3 there), so aki reproduces the
# 64-bit-significand rounding exactly with rationals.

_LD_MAX = Fraction((2**64 - 1) * 2 ** (16383 - 63))


def _ld_round(x: Fraction) -> Fraction:
    """Round an exact rational to the nearest 80-bit long double (half to even)."""
    if x == 0:
        return x
    sign = -1 if x < 0 else 1
    a = abs(x)
    e = a.numerator.bit_length() - a.denominator.bit_length() - 64
    while True:
        scaled = a / (Fraction(2) ** e)
        if scaled >= 2**64:
            e += 1
        elif scaled < 2**63:
            e -= 1
        else:
            break
    m = round(scaled)  # Python rounds Fractions half to even
    result = sign * Fraction(m) * (Fraction(2) ** e)
    return result


def ld_parse(b: bytes) -> Fraction | None:
    """strtold: the long double nearest to the text; None if invalid, NaN or infinite."""
    f = to_float(b)
    if f is None or math.isinf(f):
        return None
    try:
        exact = Fraction(b.decode("ascii"))
    except (ValueError, UnicodeDecodeError):
        exact = Fraction(f)
    return _ld_round(exact)


def ld_add(a: Fraction, b: Fraction) -> Fraction | None:
    """a + b rounded as long double; None when the result overflows (infinity)."""
    r = _ld_round(a + b)
    if abs(r) > _LD_MAX:
        return None
    return r


def ld_format(x: Fraction) -> bytes:
    """``%.17Lf`` then trailing zeros (and a bare dot) removed, as ld2string(HUMAN)."""
    q = round(x * 10**17)
    neg = q < 0
    digits = str(abs(q)).rjust(18, "0")
    text = digits[:-17] + "." + digits[-17:]
    text = text.rstrip("0").rstrip(".")
    if neg and text != "0":
        text = "-" + text
    return text.encode()


def format_float_human(v: float) -> bytes:
    """%.17g as Redis writes doubles into strings (e.g. HINCRBYFLOAT inputs, scores)."""
    if math.isinf(v):
        return b"inf" if v > 0 else b"-inf"
    return b"%.17g" % v


def lower(b: bytes) -> bytes:
    return b.lower()


def parse_scan_args(argv: list[bytes], start: int) -> tuple[int, bytes | None, bytes | None]:
    """``[MATCH pattern] [COUNT n] [TYPE t]`` for SCAN/HSCAN/SSCAN/ZSCAN."""
    count = 10
    match: bytes | None = None
    type_: bytes | None = None
    i = start
    n = len(argv)
    while i < n:
        opt = argv[i].lower()
        if opt == b"count" and i + 1 < n:
            count = parse_int(argv[i + 1])
            if count < 1:
                raise RedisError(errors.SYNTAX)
            i += 2
        elif opt == b"match" and i + 1 < n:
            match = argv[i + 1]
            i += 2
        elif opt == b"type" and i + 1 < n:
            type_ = argv[i + 1]
            i += 2
        else:
            raise RedisError(errors.SYNTAX)
    return count, match, type_


def parse_cursor(b: bytes) -> int:
    v = to_int(b)
    if v is None:
        # Redis parses the cursor as unsigned long long
        if re.fullmatch(rb"[0-9]+", b) and int(b) < 2**64:
            return int(b)
        raise RedisError("ERR invalid cursor")
    return v


def check_string_size(size: int, server) -> None:
    """Strings are capped at proto-max-bulk-len, as in Redis."""
    if size > server.config.proto_max_bulk_len:
        raise RedisError(errors.STRING_TOO_LONG)
