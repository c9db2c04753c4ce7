"""Lua scripting for aki: the engine under EVAL/EVALSHA/SCRIPT and FUNCTION/FCALL.

``ScriptRuntime`` is the whole public surface; ``messages`` holds every
error text the scripting commands send.
"""

from aki.scripting.runtime import (
    LOAD_TIMEOUT,
    REPL_ALL,
    REPL_AOF,
    REPL_NONE,
    REPL_REPLICA,
    FunctionInfo,
    Library,
    Script,
    ScriptError,
    ScriptRun,
    ScriptRuntime,
    check_script_run,
    glob_match,
)

__all__ = [
    "LOAD_TIMEOUT",
    "REPL_ALL",
    "REPL_AOF",
    "REPL_NONE",
    "REPL_REPLICA",
    "FunctionInfo",
    "Library",
    "Script",
    "ScriptError",
    "ScriptRun",
    "ScriptRuntime",
    "check_script_run",
    "glob_match",
]
