"""One sandboxed Lua 5.1 state (lupa), as Redis keeps one for EVAL and one for FUNCTION.

``LuaEngine`` owns the lupa runtime and the entry points the sandbox source
returns; it knows nothing about scripts, caches or libraries (runtime.py).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from lupa import lua51

from aki.scripting import libs
from aki.scripting.bytecode import keep_caller_frames
from aki.scripting.lua_cjson import CJSON_SOURCE
from aki.scripting.lua_cmsgpack import CMSGPACK_SOURCE
from aki.scripting.lua_sandbox import SANDBOX_SOURCE

log = logging.getLogger("aki.scripting")

Mode = Literal["eval", "function"]
_CHUNK = 4000  # values per unpack(): well under Lua's 8000-slot C stack limit


class EngineHost(Protocol):
    """The Python side the sandbox calls back into (implemented by ScriptRuntime).

    None of these may raise: an exception crossing into Lua turns into an
    opaque userdata error. They return values Lua understands instead.
    """

    def lua_call(self, argv: Any, resp: int) -> tuple[int, Any]: ...
    def lua_callv(self, resp: int, *argv: bytes) -> tuple[int, Any]: ...
    def lua_interrupt(self) -> bytes | None: ...
    def lua_log(self, level: int, message: bytes) -> None: ...
    def lua_set_repl(self, flags: int) -> None: ...
    def lua_acl_check(self, argv: Any) -> bool | None: ...
    def lua_rand(self) -> float: ...
    def lua_seed(self, seed: int) -> None: ...
    def lua_register(self, name: bytes, fn: Any, flags: Any, desc: bytes | None) -> bytes | None: ...


@dataclass
class Outcome:
    """What a script run produced: reply tokens, or the pieces of Redis's error."""

    ok: bool
    tokens: list[Any]
    message: bytes | None = None  # the err field (None: error table without one)
    source: bytes | None = None
    line: bytes | None = None
    ignore_stats: bool = False
    raw_error: bytes | None = None  # non-table error object: the handler itself failed


def _lua_error_text(e: Exception) -> bytes:
    msg = e.args[0] if e.args else b""
    return msg if isinstance(msg, bytes) else str(msg).encode("utf-8", "replace")


def _no_attributes(obj: Any, name: Any, is_setting: bool) -> Any:
    """lupa attribute filter: Lua never gets to poke at Python objects."""
    raise AttributeError("access denied")


def _safe(fn: Callable[..., Any], fallback: Any = None) -> Callable[..., Any]:
    """Wrap a helper so a Python bug never surfaces as a userdata error inside Lua."""

    def wrapper(*args: Any) -> Any:
        try:
            return fn(*args)
        except Exception:  # pragma: no cover - defensive
            log.exception("Lua library helper %s failed", getattr(fn, "__name__", fn))
            return fallback

    return wrapper


class LuaEngine:
    """A Lua state with Redis's globals, libraries and protections installed."""

    def __init__(self, mode: Mode, host: EngineHost) -> None:
        self.mode = mode
        self.lua = lua51.LuaRuntime(
            encoding=None,
            unpack_returned_tuples=True,
            register_eval=False,
            register_builtins=False,
            attribute_filter=_no_attributes,
        )
        g = self.lua.globals()
        table = self.lua.table_from
        struct_lib = libs.StructLib()
        py = table({
            b"call": host.lua_call,
            b"callv": host.lua_callv,
            b"interrupt": host.lua_interrupt,
            b"log": host.lua_log,
            b"set_repl": host.lua_set_repl,
            b"acl_check": host.lua_acl_check,
            b"rand": host.lua_rand,
            b"seed": host.lua_seed,
            b"register": host.lua_register,
            b"sha1hex": lambda s: hashlib.sha1(s).hexdigest().encode(),
            b"patch": _safe(keep_caller_frames),
            b"null": g.newproxy(True),
            b"bit": table({name.encode(): _safe(f, 0) for name, f in libs.BIT_FUNCTIONS.items()}),
            b"struct": table({
                name: _safe(f, (False, b"internal error in struct"))
                for name, f in ((b"pack", struct_lib.pack), (b"unpack", struct_lib.unpack), (b"size", struct_lib.size))
            }),
            b"msgpack": table({
                b"number": _safe(libs.mp_number, b"\xc0"),
                b"int64": _safe(libs.mp_int64, 0),
                b"float": _safe(libs.mp_float, 0),
                b"double": _safe(libs.mp_double, 0),
            }),
            b"cjson_source": CJSON_SOURCE.encode(),
            b"cmsgpack_source": CMSGPACK_SOURCE.encode(),
        })
        bootstrap = g.loadstring(SANDBOX_SOURCE.encode(), b"=aki")
        api = bootstrap(py, mode.encode())
        self._compile = api[b"compile"]
        self._run_eval = api[b"run_eval"]
        self._run_function = api[b"run_function"]
        self._slice = api[b"slice"]
        self._load_library = api[b"load_library"] if mode == "function" else None
        self._memory = api[b"memory"]

    def compile(self, body: bytes, chunkname: bytes) -> tuple[Any, bytes | None]:
        """Compile a chunk in the sandbox: (function, None) or (None, Lua's message)."""
        result = self._compile(body, chunkname)
        if isinstance(result, tuple):
            return None, result[1]
        return result, None

    def strings(self, items: Sequence[bytes]) -> Any:
        """A Lua array of strings (KEYS, ARGV)."""
        return self.lua.table_from(items if type(items) is list else list(items))

    def table(self, items: list[Any]) -> Any:
        return self.lua.table_from(items)

    def run_eval(self, fn: Any, keys: Any, args: Any) -> Outcome:
        try:
            return self._outcome(self._run_eval(fn, keys, args))
        except lua51.LuaError as e:  # pragma: no cover - the runner itself failed
            return Outcome(False, [], raw_error=_lua_error_text(e))

    def run_function(self, fn: Any, keys: Any, args: Any) -> Outcome:
        try:
            return self._outcome(self._run_function(fn, keys, args))
        except lua51.LuaError as e:  # pragma: no cover - the runner itself failed
            return Outcome(False, [], raw_error=_lua_error_text(e))

    def load_library(self, fn: Any) -> tuple[bool, bytes | None]:
        """Run a library body in the load-time sandbox: (ok, error message)."""
        assert self._load_library is not None
        try:
            result = self._load_library(fn)
        except lua51.LuaError as e:  # pragma: no cover - the loader itself failed
            return False, b"ERR " + _lua_error_text(e)
        if isinstance(result, tuple):
            return bool(result[0]), result[1] if len(result) > 1 else None
        return bool(result), None

    def memory(self) -> int:
        """Bytes the Lua state holds (``used_memory_lua``)."""
        return int(self._memory() * 1024)

    def _outcome(self, result: tuple[Any, ...]) -> Outcome:
        if result[0]:
            count, ignore = int(result[1]), bool(result[2])
            if count <= 16:
                return Outcome(True, list(result[3:3 + count]), ignore_stats=ignore)
            return Outcome(True, self._tokens(result[3], count), ignore_stats=ignore)
        padded = list(result) + [None] * (6 - len(result))
        _, message, source, line, ignore, raw = padded[:6]
        return Outcome(False, [], message, source, line, bool(ignore), raw)

    def _tokens(self, out: Any, count: int) -> list[Any]:
        tokens: list[Any] = []
        i = 1
        while i <= count:
            j = min(count, i + _CHUNK - 1)
            part = self._slice(out, i, j)
            if j == i:
                tokens.append(part)
            else:
                tokens.extend(part)
            i = j + 1
        return tokens
