"""The ``#!`` first line of EVAL scripts and FUNCTION libraries.

Redis splits that line with ``sdssplitargs`` (quotes and escapes allowed), so
the same splitter is ported here: ``#!lua name="my lib"`` must fail or pass
exactly as it does in Redis.
"""

from __future__ import annotations

from dataclasses import dataclass

from aki.errors import RedisError
from aki.scripting import messages as M

# The flags a script or function may declare, in Redis's order (FUNCTION LIST
# and script flag checks use this order).
SCRIPT_FLAGS: tuple[str, ...] = (
    "no-writes",
    "allow-oom",
    "allow-stale",
    "no-cluster",
    "allow-cross-slot-keys",
)

_SPACE = b" \t\n\v\f\r"
_HEX = b"0123456789abcdefABCDEF"
_ESCAPES = {ord("n"): 10, ord("r"): 13, ord("t"): 9, ord("b"): 8, ord("a"): 7}


def split_args(line: bytes) -> list[bytes] | None:
    """Port of ``sdssplitargs``: None on unbalanced quotes, like Redis.

    The C code walks a NUL-terminated string, so a NUL byte ends the line.
    """
    nul = line.find(b"\0")
    if nul >= 0:
        line = line[:nul]
    n = len(line)

    def at(i: int) -> int:
        return line[i] if i < n else 0

    out: list[bytes] = []
    p = 0
    while True:
        while p < n and line[p] in _SPACE:
            p += 1
        if p >= n:
            return out
        cur = bytearray()
        inq = insq = done = False
        while not done:
            c = at(p)
            if inq:
                if c == 0x5C and at(p + 1) == 0x78 and at(p + 2) in _HEX and at(p + 3) in _HEX:
                    cur.append(int(bytes((at(p + 2), at(p + 3))), 16))
                    p += 3
                elif c == 0x5C and at(p + 1):
                    p += 1
                    cur.append(_ESCAPES.get(at(p), at(p)))
                elif c == 0x22:
                    if at(p + 1) and at(p + 1) not in _SPACE:
                        return None
                    done = True
                elif c == 0:
                    return None
                else:
                    cur.append(c)
            elif insq:
                if c == 0x5C and at(p + 1) == 0x27:
                    p += 1
                    cur.append(0x27)
                elif c == 0x27:
                    if at(p + 1) and at(p + 1) not in _SPACE:
                        return None
                    done = True
                elif c == 0:
                    return None
                else:
                    cur.append(c)
            elif c in (0x20, 0x0A, 0x0D, 0x09, 0):
                done = True
            elif c == 0x22:
                inq = True
            elif c == 0x27:
                insq = True
            else:
                cur.append(c)
            if p < n:
                p += 1
        out.append(bytes(cur))


def _first_line(body: bytes) -> int:
    """Index of the newline ending the shebang, or -1 (C's strchr stops at NUL)."""
    nul = body.find(b"\0")
    end = body.find(b"\n", 0, nul if nul >= 0 else len(body))
    return end


def _text(b: bytes) -> str:
    return b.decode("utf-8", "surrogateescape")


@dataclass(frozen=True)
class ScriptHeader:
    """What an EVAL body declares: flags, and how many bytes the shebang takes."""

    flags: frozenset[str]
    compat: bool  # no shebang: Redis's "EVAL compat mode", flags ignored
    shebang_len: int


def parse_script_shebang(body: bytes) -> ScriptHeader:
    """``evalExtractShebangFlags``: raise RedisError with Redis's text on a bad line."""
    if not body.startswith(b"#!"):
        return ScriptHeader(frozenset(), True, 0)
    end = _first_line(body)
    if end < 0:
        raise RedisError(M.INVALID_SHEBANG)
    parts = split_args(body[:end])
    if not parts:
        raise RedisError(M.INVALID_SHEBANG_ENGINE)
    if parts[0] != b"#!lua":
        raise RedisError(M.UNEXPECTED_SHEBANG_ENGINE.format(_text(parts[0])))
    flags: set[str] = set()
    for part in parts[1:]:
        if not part.startswith(b"flags="):
            raise RedisError(M.UNKNOWN_SHEBANG_OPTION.format(_text(part)))
        value = part[6:]
        for flag in value.split(b",") if value else []:
            name = _text(flag)
            if name not in SCRIPT_FLAGS:
                raise RedisError(M.UNEXPECTED_SHEBANG_FLAG.format(name))
            flags.add(name)
    return ScriptHeader(frozenset(flags), False, end)


@dataclass(frozen=True)
class LibraryHeader:
    """What a FUNCTION LOAD payload declares: engine, library name, and the code."""

    engine: bytes
    name: bytes
    code: bytes  # from the shebang's newline on, so line numbers stay right


def valid_name(name: bytes) -> bool:
    """``functionsVerifyName``: letters, digits, underscore; at least one."""
    return bool(name) and all(
        (0x30 <= c <= 0x39) or (0x41 <= c <= 0x5A) or (0x61 <= c <= 0x7A) or c == 0x5F
        for c in name
    )


def parse_library_shebang(payload: bytes) -> LibraryHeader:
    """``functionExtractLibMetaData`` plus the name check, in Redis's order."""
    if not payload.startswith(b"#!"):
        raise RedisError(M.LIB_MISSING_METADATA)
    end = _first_line(payload)
    if end < 0:
        raise RedisError(M.LIB_INVALID_METADATA)
    parts = split_args(payload[:end])
    if not parts:
        raise RedisError(M.LIB_INVALID_METADATA)
    engine = parts[0][2:]
    name: bytes | None = None
    for part in parts[1:]:
        if part[:5].lower() == b"name=":
            if name is not None:
                raise RedisError(M.LIB_NAME_TWICE)
            name = part[5:]
            continue
        raise RedisError(M.LIB_BAD_METADATA_VALUE.format(_text(part)))
    if name is None:
        raise RedisError(M.LIB_NO_NAME)
    if not valid_name(name):
        raise RedisError(M.LIB_BAD_NAME)
    return LibraryHeader(engine, name, payload[end:])
