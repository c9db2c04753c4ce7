"""MODULE: what Redis 7.0 answers when no module is loaded and none can be.

aki cannot load Redis modules (they are shared objects written against Redis's C
API), so MODULE LIST is always empty, and a LOAD/LOADEX that the protected-command
check lets through fails as a failed load does in Redis; UNLOAD finds no module.
The commands exist, rather than answering unknown-command, because clients list
modules to detect features (RedisJSON, RediSearch) and must see "none" here.
"""

from __future__ import annotations

import logging

from aki.commands.connection import help_reply
from aki.core.registry import command
from aki.errors import RedisError

log = logging.getLogger("aki.modules")


@command("module|list")
def module_list(c, argv):
    return []


@command("module|load", protected="enable_module_command")
@command("module|loadex", protected="enable_module_command")
def module_load(c, argv):
    log.warning("Module %s failed to load: aki cannot load Redis modules",
                argv[2].decode("utf-8", "replace"))
    raise RedisError("ERR Error loading the extension. Please check the server logs.")


@command("module|unload", protected="enable_module_command")
def module_unload(c, argv):
    raise RedisError("ERR Error unloading module: no such module with that name")


@command("module|help")
def module_help(c, argv):
    return help_reply(argv[0], [
        "LIST",
        "    Return a list of loaded modules.",
        "LOAD <path> [<arg> ...]",
        "    Load a module library from <path>, passing to it any optional arguments.",
        "LOADEX <path> [[CONFIG NAME VALUE] [CONFIG NAME VALUE]] [ARGS ...]",
        "    Load a module library from <path>, while passing it module configurations and "
        "optional arguments.",
        "UNLOAD <name>",
        "    Unload a module.",
    ])
