"""The start-up log calls a directive inert when it is not in config.EFFECTIVE: a directive
the code reads must not be called inert (eleven were, tcp-backlog and replica-priority
among them), and one that nothing reads must not be listed as having an effect."""

from __future__ import annotations

import re
from pathlib import Path

from aki.config import _TABLE, AKI_DIRECTIVES, EFFECTIVE

SRC = Path(__file__).resolve().parents[2] / "src" / "aki"
# read only to validate other settings (tls.py refuses them with a client certificate
# setup that Redis would refuse too); the subsystems themselves do not exist in aki
VALIDATION_ONLY = {"tls-cluster", "tls-replication"}


def _reads() -> set[str]:
    """Directives whose value the code reads (``cfg.x``, ``config.x``, on_change("x"))."""
    text = "\n".join(p.read_text() for p in SRC.rglob("*.py"))
    attrs = set(re.findall(r"\b(?:cfg|config)\.([a-z][a-z0-9_]*)", text))
    attrs |= {a.replace("-", "_") for a in re.findall(r'on_change\(\s*"([a-z0-9-]+)"', text)}
    attrs |= set(re.findall(r'getattr\(cfg, "([a-z0-9_]+)"', text))
    attrs |= set(re.findall(r'protected="([a-z_]+)"', text))  # getattr(config, cmd.protected)
    return {name for name in _TABLE if name.replace("-", "_") in attrs}


def test_directives_the_code_reads_are_not_called_inert():
    inert_but_read = _reads() - EFFECTIVE - set(AKI_DIRECTIVES) - VALIDATION_ONLY
    assert not inert_but_read


def test_effective_directives_are_read_somewhere():
    # aliases (lua-time-limit ...) are not names of their own in the table
    unread = (EFFECTIVE & set(_TABLE)) - _reads()
    assert not unread
