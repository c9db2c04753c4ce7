"""What the lane tests (test_get_lane, test_set_lane, test_collection_lane,
test_call_lane) share: the three servers they compare (real Redis, aki with the C lane,
aki with ``AKI_LANE=0``), the comparison of their replies, a primary with a replica, and
INFO read as a dict."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator

import redis

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


def assert_same_replies(replies: dict[str, list[bytes]]) -> None:
    """Both aki servers answered every request as Redis did, byte for byte."""
    for name in ("lane", "python"):
        for i, (got, want) in enumerate(zip(replies[name], replies["redis"], strict=True)):
            assert got == want, (name, i, got, want)
    assert replies["lane"] == replies["python"]


def primary_and_replica(tmp_path, *primary_args: str) -> tuple[ServerProcess, ServerProcess]:
    """An aki primary (started with ``primary_args``) and an aki replica of it whose link
    is up; the caller stops both."""
    for d in ("p", "r"):
        (tmp_path / d).mkdir()
    primary = start_aki(tmp_path / "p", *primary_args)
    replica = start_aki(tmp_path / "r")
    r = redis.Redis(port=replica.port)
    r.execute_command("REPLICAOF", "127.0.0.1", primary.port)
    deadline = time.monotonic() + 20
    while r.info("replication").get("master_link_status") != "up":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return primary, replica


def info(c: RawClient, section: str) -> dict[str, str]:
    text = c.cmd("INFO", section).decode()
    return dict(line.split(":", 1) for line in text.split("\r\n") if ":" in line)


def counters(port: int, exact: tuple[str, ...], timed: tuple[str, ...]) -> dict[str, str]:
    """INFO everything's fields named in ``exact``, and those starting with a prefix in
    ``timed`` (commandstats, latency percentiles) without their timings: what the two
    roads must count alike."""
    c = RawClient(port)
    try:
        text = c.cmd("INFO", "everything").decode()
    finally:
        c.close()
    fields = {}
    for line in text.split("\r\n"):
        key, _, value = line.partition(":")
        if key in exact:
            fields[key] = value
        elif key.startswith(timed):
            fields[key] = re.sub(r"(usec|usec_per_call|p\d+(\.\d+)?)=[^,]*", "", value)
    return fields
