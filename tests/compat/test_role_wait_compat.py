"""ROLE and WAIT on a primary without replicas, against redis-server."""

from __future__ import annotations

import time


def test_role_and_wait(pair):
    pair.same("ROLE")
    pair.same("WAIT", "0", "0")
    pair.same("WAIT", "x", "0")
    pair.same("WAIT", "1", "x")
    pair.same("WAIT", "1", "-1")
    start = time.time()
    pair.same("WAIT", "1", "200")  # no replica acknowledges: both wait the timeout, answer 0
    assert time.time() - start >= 0.3
    pair.same("MULTI")
    pair.same("WAIT", "1", "0")
    pair.same("EXEC")
