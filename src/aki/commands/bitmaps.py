"""Bitmap commands (bitops.c): strings seen as arrays of bits, MSB first in each byte.

Strings are stored whole in ``keys.value``; these handlers work on the bytes with
``int.from_bytes``/``bytes.translate``-style whole-buffer operations instead of
per-bit loops. Strings a bit command writes are "raw" for OBJECT ENCODING, since
Redis modifies them in place.
"""

from __future__ import annotations

from aki import errors
from aki.commands.common import to_int
from aki.core.registry import command
from aki.errors import RedisError
from aki.storage.keyspace import KEEP, STRING

RAW = 1  # keys.enc for a string modified in place

_BITFIELD_TYPE_ERR = ("ERR Invalid bitfield type. Use something like i16 u8. "
                      "Note that u64 is not supported but i64 is.")


def _bit_offset(c, arg: bytes, hash_ok: bool = False, bits: int = 0) -> int:
    """getBitOffsetFromArgument: non-negative, below proto-max-bulk-len bytes; ``#n`` = n*bits."""
    usehash = hash_ok and bits > 0 and arg[:1] == b"#"
    v = to_int(arg[1:] if usehash else arg)
    if v is None:
        raise RedisError(errors.BIT_OFFSET)
    if usehash:
        v *= bits
    if v < 0 or (v >> 3) >= c.server.config.proto_max_bulk_len:
        raise RedisError(errors.BIT_OFFSET)
    return v


def _read_string(c, key: bytes):
    row = c.server.ks.lookup_read(c.db, key)
    if row is not None and row.type != STRING:
        raise RedisError(errors.WRONGTYPE)
    return row


def _write_row(c, key: bytes):
    """lookupKeyWrite + type check for commands that grow the string."""
    row = c.server.ks.lookup(c.db, key)
    if row is not None and row.type != STRING:
        raise RedisError(errors.WRONGTYPE)
    return row


def _ll(arg: bytes, message: str = errors.NOT_INTEGER) -> int:
    v = to_int(arg)
    if v is None:
        raise RedisError(message)
    return v


@command("setbit")
def setbit(c, argv):
    offset = _bit_offset(c, argv[2])
    on = to_int(argv[3])
    if on is None or on & ~1:
        raise RedisError(errors.BIT_VALUE)
    key = argv[1]
    row = _write_row(c, key)
    byte = offset >> 3
    value = row.value if row is not None else b""
    shift = 7 - (offset & 7)
    old = (value[byte] >> shift) & 1 if byte < len(value) else 0
    grow = byte >= len(value)
    if not grow and old == on and row.enc == RAW:
        return old
    buf = bytearray(value)
    if grow:
        buf.extend(bytes(byte + 1 - len(buf)))
    if on:
        buf[byte] |= 1 << shift
    else:
        buf[byte] &= ~(1 << shift) & 0xFF
    ks = c.server.ks
    ks.set_string(c.db, key, bytes(buf), KEEP, row, RAW)
    if grow or old != on:
        ks.notify("$", "setbit", c.db, key)
    else:
        ks.touched.pop()  # only the encoding changed: not a modification for Redis
    return old


@command("getbit")
def getbit(c, argv):
    offset = _bit_offset(c, argv[2])
    row = _read_string(c, argv[1])
    if row is None:
        return 0
    byte = offset >> 3
    value = row.value
    if byte >= len(value):
        return 0
    return (value[byte] >> (7 - (offset & 7))) & 1


def _popcount(data: bytes) -> int:
    return int.from_bytes(data, "big").bit_count()


@command("bitcount")
def bitcount(c, argv):
    row = _read_string(c, argv[1])
    if row is None:
        return 0
    p = row.value
    n = len(argv)
    first_mask = last_mask = 0
    if n in (4, 5):
        totlen = len(p)
        start = _ll(argv[2])
        end = _ll(argv[3])
        if start < 0 and end < 0 and start > end:
            return 0
        isbit = False
        if n == 5:
            unit = argv[4].lower()
            if unit == b"bit":
                isbit = True
            elif unit != b"byte":
                raise RedisError(errors.SYNTAX)
        if isbit:
            totlen <<= 3
        if start < 0:
            start += totlen
        if end < 0:
            end += totlen
        start = max(start, 0)
        end = max(end, 0)
        if end >= totlen:
            end = totlen - 1
        if isbit and start <= end:
            first_mask = ~((1 << (8 - (start & 7))) - 1) & 0xFF
            last_mask = (1 << (7 - (end & 7))) - 1
            start >>= 3
            end >>= 3
    elif n == 2:
        start, end = 0, len(p) - 1
    else:
        raise RedisError(errors.SYNTAX)
    if start > end:
        return 0
    count = _popcount(p[start : end + 1])
    if first_mask:
        count -= (p[start] & first_mask).bit_count()
    if last_mask:
        count -= (p[end] & last_mask).bit_count()
    return count


def _bitpos(data: bytes, bit: int) -> int:
    """redisBitpos: the first ``bit`` in ``data``; for 0 past the end, len*8; for 1, -1."""
    skip = data.lstrip(b"\x00" if bit else b"\xff")
    if not skip:
        return -1 if bit else len(data) * 8
    idx = len(data) - len(skip)
    b = skip[0]
    if not bit:
        b = ~b & 0xFF
    return idx * 8 + (8 - b.bit_length())


@command("bitpos")
def bitpos(c, argv):
    bit = _ll(argv[2])
    if bit not in (0, 1):
        raise RedisError("ERR The bit argument must be 1 or 0.")
    row = _read_string(c, argv[1])
    if row is None:
        return -1 if bit else 0
    p = row.value
    n = len(argv)
    end_given = False
    first_mask = last_mask = 0
    if n in (4, 5, 6):
        totlen = len(p)
        start = _ll(argv[3])
        isbit = False
        if n == 6:
            unit = argv[5].lower()
            if unit == b"bit":
                isbit = True
            elif unit != b"byte":
                raise RedisError(errors.SYNTAX)
        if n >= 5:
            end = _ll(argv[4])
            end_given = True
        else:
            end = (totlen << 3) + 7 if isbit else totlen - 1
        if isbit:
            totlen <<= 3
        if start < 0:
            start += totlen
        if end < 0:
            end += totlen
        start = max(start, 0)
        end = max(end, 0)
        if end >= totlen:
            end = totlen - 1
        if isbit and start <= end:
            first_mask = ~((1 << (8 - (start & 7))) - 1) & 0xFF
            last_mask = (1 << (7 - (end & 7))) - 1
            start >>= 3
            end >>= 3
    elif n == 3:
        start, end = 0, len(p) - 1
    else:
        raise RedisError(errors.SYNTAX)
    if start > end:
        return -1
    nbytes = end - start + 1
    if first_mask or last_mask:
        # Force the bits outside the range to the opposite of what we look for.
        seg = bytearray(p[start : end + 1])
        if first_mask:
            seg[0] = seg[0] & ~first_mask & 0xFF if bit else seg[0] | first_mask
        if last_mask:
            seg[-1] = seg[-1] & ~last_mask & 0xFF if bit else seg[-1] | last_mask
        pos = _bitpos(bytes(seg), bit)
    else:
        pos = _bitpos(p[start : end + 1], bit)
    if end_given and bit == 0 and pos == nbytes << 3:
        return -1
    if pos != -1:
        pos += start << 3
    return pos


@command("bitop")
def bitop(c, argv):
    op = argv[1].lower()
    if op not in (b"and", b"or", b"xor", b"not"):
        raise RedisError(errors.SYNTAX)
    if op == b"not" and len(argv) != 4:
        raise RedisError("ERR BITOP NOT must be called with a single source key.")
    ks = c.server.ks
    values = []
    for key in argv[3:]:
        row = ks.lookup_read(c.db, key)
        if row is None:
            values.append(b"")
            continue
        if row.type != STRING:
            raise RedisError(errors.WRONGTYPE)
        values.append(row.value)
    maxlen = max(len(v) for v in values)
    target = argv[2]
    if not maxlen:
        if ks.delete(c.db, target):
            ks.notify("g", "del", c.db, target)
        return 0

    def as_int(v: bytes) -> int:
        return int.from_bytes(v, "big") << (8 * (maxlen - len(v)))

    acc = as_int(values[0])
    if op == b"not":
        acc = ~acc & ((1 << (8 * maxlen)) - 1)
    elif op == b"and":
        for v in values[1:]:
            acc &= as_int(v)
    elif op == b"or":
        for v in values[1:]:
            acc |= as_int(v)
    else:
        for v in values[1:]:
            acc ^= as_int(v)
    ks.set_string(c.db, target, acc.to_bytes(maxlen, "big"), None, KEEP, RAW)
    ks.notify("$", "set", c.db, target)
    return maxlen


# -- BITFIELD ----------------------------------------------------------------------------

_GET, _SET, _INCRBY = 0, 1, 2
_WRAP, _SAT, _FAIL = 0, 1, 2


def _bitfield_type(arg: bytes) -> tuple[bool, int]:
    """getBitfieldTypeFromArgument: (signed, bits); u1..u63, i1..i64."""
    sign = arg[:1]
    if sign not in (b"i", b"u"):
        raise RedisError(_BITFIELD_TYPE_ERR)
    bits = to_int(arg[1:].split(b"\0", 1)[0])
    signed = sign == b"i"
    if bits is None or bits < 1 or (signed and bits > 64) or (not signed and bits > 63):
        raise RedisError(_BITFIELD_TYPE_ERR)
    return signed, bits


def _get_field(buf, offset: int, bits: int, signed: bool) -> int:
    start = offset >> 3
    stop = (offset + bits + 7) >> 3
    chunk = bytes(buf[start:stop])
    width = stop - start
    if len(chunk) < width:
        chunk += bytes(width - len(chunk))
    v = (int.from_bytes(chunk, "big") >> (width * 8 - (offset - start * 8) - bits)) & ((1 << bits) - 1)
    if signed and v >> (bits - 1):
        v -= 1 << bits
    return v


def _set_field(buf: bytearray, offset: int, bits: int, value: int) -> None:
    start = offset >> 3
    stop = (offset + bits + 7) >> 3
    width = stop - start
    shift = width * 8 - (offset - start * 8) - bits
    mask = ((1 << bits) - 1) << shift
    cur = int.from_bytes(buf[start:stop], "big")
    cur = (cur & ~mask) | ((value & ((1 << bits) - 1)) << shift)
    buf[start:stop] = cur.to_bytes(width, "big")


def _s64(x: int) -> int:
    """Wrap to a C int64_t."""
    x &= 0xFFFFFFFFFFFFFFFF
    return x - (1 << 64) if x >> 63 else x


def _overflow(value: int, incr: int, bits: int, signed: bool, owtype: int) -> tuple[bool, int]:
    """check(Un)signedBitfieldOverflow: (overflowed, value to store for WRAP/SAT).

    The signed check is ported with C's int64 wrap-around: for a SET of a value below
    the type's minimum, ``max - value`` wraps negative and Redis reports an overflow
    *upwards* (SAT stores the maximum). That is kept for byte-identical results."""
    mask = (1 << bits) - 1
    if signed:
        hi = 0x7FFFFFFFFFFFFFFF if bits == 64 else (1 << (bits - 1)) - 1
        lo = -hi - 1
        maxincr = _s64(hi - value)
        minincr = _s64(lo - value)
        if value > hi or (bits != 64 and incr > maxincr) or (value >= 0 and incr > 0 and incr > maxincr):
            limit = hi
        elif value < lo or (bits != 64 and incr < minincr) or (value < 0 and incr < 0 and incr < minincr):
            limit = lo
        else:
            return False, value + incr
    else:
        hi = mask
        total = value + incr
        if value > hi or (incr > 0 and total > hi):
            limit = hi
        elif incr < 0 and total < 0:
            limit = 0
        else:
            return False, total
    if owtype == _SAT:
        return True, limit
    wrapped = (value + incr) & mask
    if signed and wrapped >> (bits - 1):
        wrapped -= 1 << bits
    return True, wrapped


def _bitfield(c, argv, readonly_cmd: bool):
    ops = []
    owtype = _WRAP
    readonly = True
    highest = 0
    n = len(argv)
    j = 2
    while j < n:
        rem = n - j - 1
        sub = argv[j].lower()
        if sub == b"get" and rem >= 2:
            opcode = _GET
        elif sub == b"set" and rem >= 3:
            opcode = _SET
        elif sub == b"incrby" and rem >= 3:
            opcode = _INCRBY
        elif sub == b"overflow" and rem >= 1:
            kind = argv[j + 1].lower()
            if kind == b"wrap":
                owtype = _WRAP
            elif kind == b"sat":
                owtype = _SAT
            elif kind == b"fail":
                owtype = _FAIL
            else:
                raise RedisError("ERR Invalid OVERFLOW type specified")
            j += 2
            continue
        else:
            raise RedisError(errors.SYNTAX)
        signed, bits = _bitfield_type(argv[j + 1])
        offset = _bit_offset(c, argv[j + 2], True, bits)
        arg = 0
        if opcode != _GET:
            readonly = False
            highest = max(highest, offset + bits - 1)
            arg = _ll(argv[j + 3])
        ops.append((opcode, signed, bits, offset, arg, owtype))
        j += 3 if opcode == _GET else 4
    ks = c.server.ks
    key = argv[1]
    if readonly:
        row = _read_string(c, key)
        value = row.value if row is not None else b""
        return [_get_field(value, off, bits, signed) for _op, signed, bits, off, _a, _o in ops]
    if readonly_cmd:
        raise RedisError("ERR BITFIELD_RO only supports the GET subcommand")
    row = _write_row(c, key)
    buf = bytearray(row.value if row is not None else b"")
    need = (highest >> 3) + 1
    dirty = row is None or len(buf) < need
    if len(buf) < need:
        buf.extend(bytes(need - len(buf)))
    out: list = []
    changes = 0
    for opcode, signed, bits, off, arg, ow in ops:
        if opcode == _GET:
            out.append(_get_field(buf, off, bits, signed))
            continue
        old = _get_field(buf, off, bits, signed)
        if opcode == _INCRBY:
            overflow, new = _overflow(old, arg, bits, signed, ow)
            ret = new
        else:
            v = arg if signed else arg & 0xFFFFFFFFFFFFFFFF  # SET stores the value as uint64
            overflow, new = _overflow(v, 0, bits, signed, ow)
            ret = old
        if overflow and ow == _FAIL:
            out.append(None)
            continue
        out.append(ret)
        _set_field(buf, off, bits, new)
        if dirty or old != new:
            changes += 1
    if changes or dirty:
        ks.set_string(c.db, key, bytes(buf), KEEP, row, RAW)
        if changes:
            ks.notify("$", "setbit", c.db, key)
    return out


@command("bitfield")
def bitfield(c, argv):
    return _bitfield(c, argv, False)


@command("bitfield_ro")
def bitfield_ro(c, argv):
    return _bitfield(c, argv, True)
