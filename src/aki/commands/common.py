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
# The canonical spelling of every small integer: most numeric arguments (ranges,
# counts, increments) are found here with one dict lookup instead of a regex.
_SMALL_INTS = {b"%d" % i: i for i in range(-1024, 10241)}
_small_int = _SMALL_INTS.get
_FLOAT_BAD = re.compile(rb"[\s_]")
_HEX_FLOAT_B = re.compile(rb"[+-]?0[xX]")  # C strtod reads hex floats only with 0x


def to_int(b: bytes) -> int | None:
    """Redis string2ll: a canonical 64-bit signed integer, else None."""
    v = _small_int(b)
    if v is not None:
        return v
    if len(b) > 20 or not _INT_RE.match(b):
        return None
    v = int(b)
    if v < INT64_MIN or v > INT64_MAX:
        return None
    if b == b"-0":
        return None
    return v


def parse_int(b: bytes, message: str = errors.NOT_INTEGER) -> int:
    v = _small_int(b)
    if v is None:
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
    """strtold: the long double the text denotes; None if invalid, NaN or infinite."""
    v = strtold(b)
    return v if isinstance(v, Fraction) else None


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


# -- string2ld: strtold over the whole argument, as Redis reads INCRBYFLOAT operands --------

_LD_CHARS = 5 * 1024  # MAX_LONG_DOUBLE_CHARS: longer texts are not floats
_DEC_RE = re.compile(rb"([+-]?)([0-9]*)(?:\.([0-9]*))?(?:[eE]([+-]?[0-9]+))?\Z")
_HEX_RE = re.compile(
    rb"([+-]?)0[xX]([0-9a-fA-F]*)(?:\.([0-9a-fA-F]*))?(?:[pP]([+-]?[0-9]+))?\Z")
_INF_RE = re.compile(rb"([+-]?)inf(?:inity)?\Z", re.IGNORECASE)
_LD_SUBNORMAL = Fraction(1, 2**16382)  # smallest normal 80-bit long double
_LD_QUANTUM = 2**16445  # 1 / smallest subnormal
INF = float("inf")


def _ld_exact(x: Fraction) -> Fraction | None:
    """strtold's rounding of an exact value: None on overflow (HUGE_VAL) or on a
    non-zero value that rounds to zero (ERANGE with FP_ZERO), both rejected."""
    if x == 0:
        return x
    if abs(x) < _LD_SUBNORMAL:
        q = round(x * _LD_QUANTUM)
        return None if q == 0 else Fraction(q, _LD_QUANTUM)
    return ld_add(x, Fraction(0))


def _dec_int(digits: bytes) -> int:
    """int(digits) past Python's 4300-digit conversion limit (texts reach 5119 bytes)."""
    if len(digits) <= 4000:
        return int(digits)
    return int(digits[:-4000]) * 10**4000 + int(digits[-4000:])


def strtold(b: bytes) -> Fraction | float | None:
    """string2ld: the long double the whole of ``b`` denotes (a Fraction, or ±inf as a
    float); None when Redis answers "value is not a valid float" (empty, too long,
    spaces, trailing bytes, NaN, overflow, underflow to zero). Exponents are bounded
    before any big arithmetic, so "0e99999999999" or "1e-99999999" cost nothing."""
    if not b or len(b) >= _LD_CHARS:
        return None
    m = _DEC_RE.match(b)
    if m is not None and (m.group(2) or m.group(3)):
        sign, whole, frac, exp = m.groups()
        frac = frac or b""
        digits = (whole + frac).lstrip(b"0")
        if not digits:
            return Fraction(0)
        e10 = int(exp or 0) - len(frac)
        mag = len(digits) - 1 + e10  # 10**mag <= |x| < 10**(mag + 1)
        if mag > 4933 or mag < -4952:
            return None
        x = _dec_int(digits) * Fraction(10) ** e10
        return _ld_exact(-x if sign == b"-" else x)
    m = _HEX_RE.match(b)
    if m is not None and (m.group(2) or m.group(3)):
        sign, whole, frac, exp = m.groups()
        frac = frac or b""
        mant = int(whole + frac, 16)
        if mant == 0:
            return Fraction(0)
        e2 = int(exp or 0) - 4 * len(frac)
        mag = mant.bit_length() - 1 + e2
        if mag > 16384 or mag < -16447:
            return None
        x = mant * Fraction(2) ** e2
        return _ld_exact(-x if sign == b"-" else x)
    m = _INF_RE.match(b)
    if m is not None:
        return -INF if m.group(1) == b"-" else INF
    return None


def _int_text(n: int) -> str:
    """str(n) past Python's 4300-digit conversion limit (long doubles reach 4933 digits)."""
    if n < 10**4000:
        return str(n)
    q, r = divmod(n, 10**4000)
    return _int_text(q) + str(r).rjust(4000, "0")


def ld_human(x: Fraction) -> bytes:
    """ld2string(LD_STR_HUMAN): ``%.17Lf`` without trailing zeros, "-0" written "0"."""
    if abs(x) < 10**4000:
        return ld_format(x)
    q = round(x * 10**17)
    digits = _int_text(abs(q))
    text = (digits[:-17] + "." + digits[-17:]).rstrip("0").rstrip(".")
    return ("-" + text if q < 0 else text).encode()


def reply_over_output_limit(c, items: int, item_bytes: int = 7) -> bool:
    """A reply of ``items`` elements (at least ``item_bytes`` each on the wire) would
    cross the client's hard output-buffer limit: Redis stops building such a reply
    (CLIENT_CLOSE_ASAP) and closes the client; aki closes it before building it, so a
    HRANDFIELD key -999999999 cannot exhaust the server's memory when a limit is set."""
    from aki.core.pubsub import output_limits

    close = getattr(c, "close_connection", None)
    if close is None:
        return False  # in-process (embedded, HTTP): no output buffer to limit
    hard = output_limits(c.server).hard_limit(c)
    if not hard or items * item_bytes < hard:
        return False
    close()
    return True


def atoi(b: bytes) -> int:
    """C's atoi/atoll, as Redis reads DEBUG flags and manifest seqs: a leading number, else 0."""
    m = re.match(rb"\s*[-+]?\d+", b)
    return int(m.group()) if m else 0
