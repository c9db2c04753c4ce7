"""Rewrite some tail calls of compiled Lua 5.1 chunks into plain calls.

Why: in Redis ``redis.call``, ``cjson.encode``... are C functions, and a C
function called in tail position (``return redis.call(...)``) leaves the
caller's frame on the stack, so error messages name the user's line
(``script: <sha>, on @user_script:1.``). aki implements those functions in
Lua, and a Lua tail call erases the caller's frame. Turning exactly those
tail calls into ``CALL`` + the ``RETURN`` that already follows them keeps
the frame, at no cost in behaviour. Only calls whose callee is a field
(``x.f(...)``, ``x:f(...)``), a local of the calling function, or one of
the sandbox's wrapped globals are rewritten. Recursion goes through
upvalues (a function cannot see itself as a local, and scripts cannot
define globals), so ``return loop(n - 1)`` keeps Lua's tail-call
optimisation; the price is that a library function kept in an upvalue
loses the line of its caller in error messages.

The input is ``string.dump`` output (Lua 5.1 bytecode, format 0); only the
opcode bits of ``OP_TAILCALL`` instructions change.
"""

from __future__ import annotations

import struct

OP_MOVE, OP_LOADK, OP_LOADBOOL, OP_LOADNIL, OP_GETUPVAL, OP_GETGLOBAL, OP_GETTABLE = range(7)
OP_NEWTABLE, OP_SELF = 10, 11
OP_ADD, OP_CONCAT = 12, 21
OP_TESTSET, OP_CALL, OP_TAILCALL = 27, 28, 29
OP_CLOSURE, OP_VARARG = 36, 37

# Opcodes that store into R(A) (OP_ADD..OP_CONCAT: arithmetic, UNM, NOT, LEN, CONCAT).
_WRITERS = frozenset(
    {OP_MOVE, OP_LOADK, OP_LOADBOOL, OP_LOADNIL, OP_GETUPVAL, OP_GETGLOBAL, OP_GETTABLE,
     OP_NEWTABLE, OP_SELF, OP_TESTSET, OP_CALL, OP_CLOSURE, OP_VARARG}
    | set(range(OP_ADD, OP_CONCAT + 1))
)
_BITRK = 1 << 8

# Globals the sandbox replaces by Lua functions that may raise.
WRAPPED_GLOBALS = frozenset({b"rawset", b"rawget", b"next", b"pairs", b"getmetatable", b"setmetatable"})


class _Reader:
    def __init__(self, data: bytearray) -> None:
        self.data = data
        self.pos = 0
        header = data[:12]
        if header[:4] != b"\x1bLua" or header[4] != 0x51 or header[5] != 0:
            raise ValueError("not a Lua 5.1 chunk")
        self.little = header[6] == 1
        self.int_size, self.size_t_size = header[7], header[8]
        self.number_size = header[10]
        self.pos = 12

    def _unpack(self, size: int, signed: bool = False) -> int:
        v = int.from_bytes(self.data[self.pos:self.pos + size], "little" if self.little else "big", signed=signed)
        self.pos += size
        return v

    def int(self) -> int:
        return self._unpack(self.int_size, signed=True)

    def string(self) -> bytes | None:
        n = self._unpack(self.size_t_size)
        if n == 0:
            return None
        s = bytes(self.data[self.pos:self.pos + n - 1])
        self.pos += n
        return s

    def byte(self) -> int:
        v = self.data[self.pos]
        self.pos += 1
        return v


def _patch_function(r: _Reader) -> int:
    """Patch one function prototype (and its children); returns how many calls changed."""
    r.string()  # source
    r.int()  # linedefined
    r.int()  # lastlinedefined
    r.pos += 4  # nups, numparams, is_vararg, maxstacksize
    ncode = r.int()
    code_at = r.pos
    fmt = ("<" if r.little else ">") + "I"
    code = [struct.unpack_from(fmt, r.data, code_at + 4 * i)[0] for i in range(ncode)]
    r.pos += 4 * ncode
    constants: list[object] = []
    for _ in range(r.int()):
        kind = r.byte()
        if kind == 1:
            constants.append(bool(r.byte()))
        elif kind == 3:
            r.pos += r.number_size
            constants.append(None)
        elif kind == 4:
            constants.append(r.string())
        else:
            constants.append(None)
    changed = 0
    for pc, ins in enumerate(code):
        if ins & 0x3F == OP_TAILCALL and _callee_is_library(code, pc, constants):
            struct.pack_into(fmt, r.data, code_at + 4 * pc, (ins & ~0x3F) | OP_CALL)
            changed += 1
    for _ in range(r.int()):
        changed += _patch_function(r)
    r.pos += r.int_size * r.int()  # lineinfo
    for _ in range(r.int()):  # locvars
        r.string()
        r.int()
        r.int()
    for _ in range(r.int()):  # upvalue names
        r.string()
    return changed


def _callee_is_library(code: list[int], pc: int, constants: list[object]) -> bool:
    """Is the function called at ``pc`` loaded from a field or a wrapped global?"""
    target = (code[pc] >> 6) & 0xFF
    for prev in range(pc - 1, -1, -1):
        ins = code[prev]
        op = ins & 0x3F
        if op not in _WRITERS:
            continue
        a = (ins >> 6) & 0xFF
        if op == OP_LOADNIL:
            b = (ins >> 23) & 0x1FF
            if a <= target <= b:
                return False
            continue
        if op == OP_SELF and a + 1 == target:
            return False
        if a != target:
            continue
        if op == OP_GETTABLE:
            return bool((ins >> 14) & _BITRK)
        if op in (OP_SELF, OP_MOVE):
            return True
        if op == OP_GETGLOBAL:
            bx = (ins >> 14) & 0x3FFFF
            return bx < len(constants) and constants[bx] in WRAPPED_GLOBALS
        return False
    return False


def keep_caller_frames(dump: bytes) -> bytes | None:
    """The chunk with library tail calls made plain calls, or None if nothing changed."""
    data = bytearray(dump)
    changed = _patch_function(_Reader(data))
    return bytes(data) if changed else None
