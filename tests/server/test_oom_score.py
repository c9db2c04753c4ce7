"""oom-score-adj: the process's /proc/<pid>/oom_score_adj follows the role and the mode,
as Redis's setOOMScoreAdj sets it (Redis's unit/oom-score-adj, run against aki)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.conftest import start_aki

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc is Linux's")


def _score(pid: int) -> int:
    return int(Path(f"/proc/{pid}/oom_score_adj").read_text())


def _set_score(pid: int, v: int) -> None:
    Path(f"/proc/{pid}/oom_score_adj").write_text(f"{v}\n")


def test_score_follows_role_and_mode(tmp_path: Path):
    srv = start_aki(tmp_path)
    try:
        r = srv.client()
        pid = srv.proc.pid
        base = _score(pid)
        r.config_set("oom-score-adj-values", "10 20 30")
        r.config_set("oom-score-adj", "yes")
        assert _score(pid) == base + 10
        r.config_set("oom-score-adj-values", "15 20 30")  # the current class changes
        assert _score(pid) == base + 15
        r.replicaof("localhost", 1)  # a replica's class
        assert _score(pid) == base + 20
        r.replicaof("no", "one")
        assert _score(pid) == base + 15
        # disabled: values do not touch /proc, and the score from before comes back
        r.config_set("oom-score-adj", "no")
        assert _score(pid) == base
        _set_score(pid, 22)
        r.config_set("oom-score-adj-values", "9 9 9")
        assert _score(pid) == 22
        r.execute_command("CONFIG", "SET", "oom-score-adj-values", "9 9 9", "oom-score-adj", "yes")
        assert _score(pid) == 31
        r.config_set("oom-score-adj", "no")
        assert _score(pid) == 22
        r.config_set("oom-score-adj", "absolute")
        assert _score(pid) == 9
        r.config_set("oom-score-adj", "relative")
        assert _score(pid) == 31
        r.config_set("oom-score-adj", "no")
    finally:
        srv.stop()


def test_oom_config_errors_match_redis(pair):
    for value in ("1 2", "1 2 3 4", "a b c", "-2001 0 0", "2001 2001 2001", "0 0 1x"):
        pair.same("CONFIG", "SET", "oom-score-adj-values", value)
    pair.same("CONFIG", "SET", "oom-score-adj", "bogus")
    pair.same("CONFIG", "SET", "oom-score-adj-values", "5 4 3")  # accepted, with a warning
    pair.same("CONFIG", "GET", "oom-score-adj-values")
    pair.same("CONFIG", "SET", "oom-score-adj-values", "0 200 800")
    pair.same("CONFIG", "GET", "oom-score-adj")  # one name each: a glob's order is Redis's
    pair.same("CONFIG", "GET", "oom-score-adj-values")  # dict order (seeded per process)
