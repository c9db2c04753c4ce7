"""The process title (``set-proc-title``, ``proc-title-template``), as Redis's
redisSetProcTitle sets it, so that ``ps`` and ``top`` tell servers apart by address
(``aki 127.0.0.1:6379`` under the default template ``{title} {listen-addr}
{server-mode}``). ``setproctitle`` rewrites the process's argument area, which is what
``/proc/<pid>/cmdline`` shows.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TYPE_CHECKING

from aki.config import ConfigError, expand_template

if TYPE_CHECKING:
    from aki.config import Config
    from aki.core.state import Server

log = logging.getLogger("aki")


def program_title() -> str:
    """Redis's ``exec_argv[0]``: the program as it was started (``aki`` for ``python -m
    aki``, whose argv[0] is the package's ``__main__.py``)."""
    first = sys.argv[0] if sys.argv else ""
    if not first or os.path.basename(first) == "__main__.py":
        return "aki"
    return first


def expand(cfg: Config, title: str) -> str | None:
    """redisProcTitleGetVariable over the template, trimmed of spaces (None: invalid)."""
    port, tls_port = int(cfg.port), int(cfg.tls_port)
    bind = str(cfg.bind).split()

    def lookup(name: str) -> str | None:
        if name == "title":
            return title
        if name == "listen-addr":
            if port or tls_port:
                return f"{bind[0] if bind else '*'}:{port or tls_port}"
            return f"unixsocket:{cfg.unixsocket or ''}"
        if name == "server-mode":
            return ""  # no cluster, no sentinel mode
        if name == "config-file":
            return cfg.source_file or "-"
        if name == "port":
            return str(port)
        if name == "tls-port":
            return str(tls_port)
        if name == "unixsocket":
            return str(cfg.unixsocket or "")
        return None

    res = expand_template(str(cfg.proc_title_template), lookup)
    return None if res is None else res.strip(" ")


def apply(cfg: Config) -> bool:
    title = expand(cfg, program_title())
    if title is None:
        return False
    import setproctitle

    setproctitle.setproctitle(title)
    return True


def hook(server: Server) -> None:
    """At start-up with ``set-proc-title yes``; on every CONFIG SET of the template
    whatever ``set-proc-title`` says (updateProcTitleTemplate does the same)."""
    cfg = server.config

    def on_template() -> None:
        if not apply(cfg):
            raise ConfigError("failed to set process title")

    cfg.on_apply(("proc-title-template",), on_template)
    if cfg.set_proc_title and not apply(cfg):
        log.warning("the process title could not be set")
