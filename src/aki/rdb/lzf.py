"""LZF, the compression Redis applies to RDB strings (``lzf_c.c``/``lzf_d.c``), in pure Python.

Format (a sequence of tokens; ``ctrl`` is the first byte of each):

* ``000LLLLL`` then L+1 literal bytes (1..32);
* ``LLLooooo oooooooo``: copy L+2 bytes (L = 1..6) from ``offset + 1`` bytes back;
* ``111ooooo LLLLLLLL oooooooo``: copy L+9 bytes from ``offset + 1`` bytes back.

A back reference may overlap the bytes it produces (a run). ``decompress`` checks every
bound and raises ``ValueError`` on malformed input; the RDB reader turns that into an
``RDBError`` with the file offset. ``compress`` produces valid LZF (not byte-identical
to liblzf's output; any valid stream loads in Redis) and returns ``None`` when the
result would not be smaller than the limit, mirroring ``lzf_compress`` returning 0.
"""

from __future__ import annotations

__all__ = ["compress", "decompress"]

_MAX_LIT = 32
_MAX_OFF = 1 << 13
_MAX_REF = (1 << 8) + (1 << 3)  # 264: longest back reference


def decompress(data: bytes | bytearray | memoryview, out_len: int) -> bytes:
    """Decompress ``data``, which must produce exactly ``out_len`` bytes."""
    src = bytes(data)
    n = len(src)
    out = bytearray()
    i = 0
    while i < n:
        ctrl = src[i]
        i += 1
        if ctrl < 32:
            run = ctrl + 1
            if i + run > n:
                raise ValueError("LZF literal run past the end of the input")
            out += src[i : i + run]
            i += run
        else:
            length = ctrl >> 5
            if length == 7:
                if i >= n:
                    raise ValueError("LZF back reference truncated")
                length += src[i]
                i += 1
            if i >= n:
                raise ValueError("LZF back reference truncated")
            dist = ((ctrl & 0x1F) << 8) + src[i] + 1
            i += 1
            length += 2
            start = len(out) - dist
            if start < 0:
                raise ValueError("LZF back reference before the start of the output")
            if length <= dist:
                out += out[start : start + length]
            else:
                pattern = bytes(out[start:])
                reps = -(-length // dist)
                out += (pattern * reps)[:length]
        if len(out) > out_len:
            raise ValueError("LZF output longer than announced")
    if len(out) != out_len:
        raise ValueError(f"LZF output is {len(out)} bytes, expected {out_len}")
    return bytes(out)


def _match_len(data: bytes, ref: int, ip: int, maxlen: int) -> int:
    """Length of the common prefix of data[ref:] and data[ip:], at most maxlen (>= 3)."""
    if data[ref : ref + maxlen] == data[ip : ip + maxlen]:
        return maxlen
    lo, hi = 3, maxlen  # data[ref:ref+lo] matches, data[ref:ref+hi] does not
    while hi - lo > 1:
        mid = (lo + hi) >> 1
        if data[ref : ref + mid] == data[ip : ip + mid]:
            lo = mid
        else:
            hi = mid
    return lo


def compress(data: bytes | bytearray | memoryview, max_out: int | None = None) -> bytes | None:
    """Compress ``data``; ``None`` if the output would exceed ``max_out`` bytes.

    ``max_out`` defaults to ``len(data) - 1`` (only a real saving is worth it). Redis
    itself asks for ``len - 4``: the writer passes that.
    """
    src = bytes(data)
    n = len(src)
    if max_out is None:
        max_out = n - 1
    if n == 0 or max_out <= 0:
        return None
    out = bytearray()
    lits = bytearray()
    table: dict[bytes, int] = {}
    ip = 0
    limit = n - 2  # a match needs three bytes

    def flush_literals() -> None:
        for k in range(0, len(lits), _MAX_LIT):
            chunk = lits[k : k + _MAX_LIT]
            out.append(len(chunk) - 1)
            out.extend(chunk)
        lits.clear()

    while ip < limit:
        key = src[ip : ip + 3]
        ref = table.get(key)
        table[key] = ip
        if ref is not None and ip - ref - 1 < _MAX_OFF:
            maxlen = min(_MAX_REF, n - ip)
            length = _match_len(src, ref, ip, maxlen)
            if lits:
                flush_literals()
            off = ip - ref - 1
            code = length - 2
            if code < 7:
                out.append((off >> 8) + (code << 5))
            else:
                out.append((off >> 8) + (7 << 5))
                out.append(code - 7)
            out.append(off & 0xFF)
            # Index the positions inside the match sparsely: a cheap trade of ratio for speed.
            end = ip + length
            if end - 1 < limit:
                table[src[end - 1 : end + 2]] = end - 1
            ip = end
            if len(out) > max_out:
                return None
        else:
            lits.append(src[ip])
            ip += 1
    lits.extend(src[ip:])
    if lits:
        flush_literals()
    if len(out) > max_out:
        return None
    return bytes(out)
