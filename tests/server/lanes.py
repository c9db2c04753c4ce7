"""What the lane tests (test_get_lane, test_set_lane, test_call_lane) share: the three
servers they compare (real Redis, aki with the C lane, aki with ``AKI_LANE=0``) and
INFO read as a dict."""

from __future__ import annotations

import os
from collections.abc import Iterator

from tests.conftest import RawClient, ServerProcess, start_aki, start_redis


def three_servers(tmp_path_factory) -> Iterator[dict[str, ServerProcess]]:
    """For a module-scoped fixture: {"lane", "python", "redis"}, stopped afterwards."""
    lane = start_aki(tmp_path_factory.mktemp("lane"))
    os.environ["AKI_LANE"] = "0"
    try:
        python = start_aki(tmp_path_factory.mktemp("python"))
    finally:
        del os.environ["AKI_LANE"]
    red = start_redis(tmp_path_factory.mktemp("redis"))
    yield {"lane": lane, "python": python, "redis": red}
    for s in (lane, python, red):
        s.stop()


def info(c: RawClient, section: str) -> dict[str, str]:
    text = c.cmd("INFO", section).decode()
    return dict(line.split(":", 1) for line in text.split("\r\n") if ":" in line)
