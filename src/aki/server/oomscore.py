"""``oom-score-adj`` / ``oom-score-adj-values``: the Linux OOM killer's preference for this
process, as Redis's ``setOOMScoreAdj`` sets it.

With ``oom-score-adj`` ``yes``/``relative`` the process's ``/proc/self/oom_score_adj`` is
the value for its role (the first of ``oom-score-adj-values`` for a primary, the second
for a replica) added to the score the process had before aki first changed it; with
``absolute`` it is the value itself (clamped to -1000..1000). ``no`` puts the original
score back. The third value is Redis's fork child's, and aki forks none. A write that
fails (lowering the score needs CAP_SYS_RESOURCE) is logged, and CONFIG SET answers
Redis's error and keeps the old setting.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from aki.config import ConfigError

if TYPE_CHECKING:
    from aki.core.state import Server

log = logging.getLogger("aki.oom")

PROC = "/proc/self/oom_score_adj"


class _State:
    adjusted = False  # aki changed the score, and ``base`` is what it was before
    base = 0


_state = _State()


def apply(server: Server) -> bool:
    """Set the score for the current role; False (logged) when /proc refuses it."""
    cfg = server.config
    mode = str(cfg.oom_score_adj)
    if mode != "no":
        if not _state.adjusted:
            try:
                with open(PROC) as f:
                    _state.base = int(f.read().strip() or 0)
            except (OSError, ValueError) as exc:
                log.warning("Unable to read oom_score_adj: %s", getattr(exc, "strerror", exc))
                return False
            _state.adjusted = True
        values = [int(v) for v in str(cfg.oom_score_adj_values).split()]
        val = values[1 if "master_link" in server.extensions else 0]
        if mode != "absolute":
            val += _state.base
        val = max(-1000, min(1000, val))
    elif _state.adjusted:
        _state.adjusted = False
        val = _state.base
    else:
        return True
    try:
        with open(PROC, "w") as f:
            f.write(f"{val}\n")
    except OSError as exc:
        log.warning("Unable to write oom_score_adj: %s", exc.strerror)
        return False
    return True


def hook(server: Server) -> None:
    """Apply now (start-up) and whenever either directive changes."""
    cfg = server.config

    def on_mode() -> None:
        if not apply(server):
            raise ConfigError("Failed to set current oom_score_adj. Check server logs.")

    def on_values() -> None:
        if cfg.oom_score_adj != "no" and not apply(server):
            raise ConfigError("Failed to apply oom-score-adj-values configuration")

    cfg.on_apply(("oom-score-adj",), on_mode)
    cfg.on_apply(("oom-score-adj-values",), on_values)
    if cfg.oom_score_adj != "no" and not apply(server):
        log.warning("oom-score-adj: the score could not be set at start-up")
