"""Expiry on a live aki server: lazy on access, the active cycle, events, SCAN stability."""

from __future__ import annotations

import time

import redis


def wait_for(predicate, timeout: float = 5.0, step: float = 0.05) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def test_active_expiry_removes_keys_without_access(r):
    with r.pipeline(transaction=False) as p:
        for i in range(500):
            p.set(f"tmp:{i}", "v", px=150)
        for i in range(50):
            p.set(f"keep:{i}", "v")
        p.execute()
    assert r.dbsize() == 550
    # DBSIZE does not touch keys: only the active cycle can bring it down
    assert wait_for(lambda: r.dbsize() == 50, timeout=10)
    assert sorted(r.keys("*")) == sorted(f"keep:{i}".encode() for i in range(50))


def test_expired_keys_are_invisible_before_removal(r):
    r.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", "0")
    try:
        r.set("gone", "v", px=20)
        r.set("gone2", "v", px=20)
        r.set("stay", "v")
        time.sleep(0.1)
        assert r.dbsize() == 3  # not yet reclaimed: active expiry is off
        assert r.keys("*") == [b"stay"]
        cur, found = r.scan(0, count=100)
        assert found == [b"stay"]
        assert r.exists("gone", "gone2") == 0
        assert r.ttl("gone") == -2 and r.pttl("gone2") == -2
        assert r.get("gone") is None
        assert r.dbsize() == 1  # both were expired lazily by the accesses above
    finally:
        r.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", "1")


def _try(r, *args):
    try:
        return r.execute_command(*args)
    except redis.ResponseError as exc:
        return str(exc)


def test_lazy_expiry_on_access(r):
    r.set("k", "v", px=30)
    r.rpush("l", "a") if _has(r, "rpush") else r.set("l", "a")
    r.pexpire("l", 30)
    time.sleep(0.06)
    assert r.get("k") is None
    assert r.exists("l") == 0
    assert r.type("l") == b"none"


def _has(r, name: str) -> bool:
    return "unknown command" not in str(_try(r, name))


def test_ttl_values(r):
    r.set("k", "v")
    assert r.ttl("k") == -1 and r.pttl("k") == -1
    assert r.expire("k", 100) == 1
    assert r.ttl("k") == 100
    assert 99_000 < r.pttl("k") <= 100_000
    at = int(time.time()) + 1000
    r.expireat("k", at)
    assert r.expiretime("k") == at
    assert r.pexpiretime("k") == at * 1000
    assert r.ttl("missing") == -2


def test_expired_event_and_del_event(aki_server, r):
    r.config_set("notify-keyspace-events", "KEA")
    try:
        sub = aki_server.client()
        ps = sub.pubsub()
        ps.psubscribe("__keyevent@0__:*")
        assert ps.get_message(timeout=2)["type"] == "psubscribe"
        r.set("e", "v")
        r.pexpire("e", 40)
        r.set("d", "v")
        r.expire("d", -1)
        r.set("p", "v", ex=100)
        r.persist("p")
        r.rename("p", "p2")
        events = []
        deadline = time.time() + 5
        while time.time() < deadline and b"expired" not in [e for e, _ in events]:
            m = ps.get_message(timeout=0.2)
            if m and m["type"] == "pmessage":
                events.append((m["channel"].split(b":", 1)[1], m["data"]))
        assert (b"expire", b"e") in events
        assert (b"del", b"d") in events
        assert (b"persist", b"p") in events
        assert (b"rename_from", b"p") in events and (b"rename_to", b"p2") in events
        assert (b"expired", b"e") in events
        ps.close()
        sub.close()
    finally:
        r.config_set("notify-keyspace-events", "")


def test_scan_returns_every_key_present_throughout(r):
    stable = {f"stable:{i}".encode() for i in range(600)}
    with r.pipeline(transaction=False) as p:
        for i in range(600):
            p.set(f"stable:{i}", "v")
            p.set(f"churn:{i}", "v")
        p.execute()
    seen: set[bytes] = set()
    cursor = 0
    step = 0
    while True:
        cursor, keys = r.scan(cursor, count=50)
        seen.update(keys)
        # delete some churn keys and add new ones between calls
        with r.pipeline(transaction=False) as p:
            for j in range(10):
                p.delete(f"churn:{step * 10 + j}")
                p.set(f"new:{step}:{j}", "v")
            p.execute()
        step += 1
        if cursor == 0:
            break
    assert stable <= seen
    # nothing is returned twice by a scan whose cursor is a key id
    assert step < 200


def test_scan_skips_expired_and_filters(r):
    r.set("a1", "v")
    r.set("a2", "v", px=10)
    r.set("b1", "v")
    time.sleep(0.05)
    _, keys = r.scan(0, match="a*", count=1000)
    assert keys == [b"a1"]
    _, keys = r.scan(0, _type="string", count=1000)
    assert sorted(keys) == [b"a1", b"b1"]
    _, keys = r.scan(0, _type="hash", count=1000)
    assert keys == []


def test_ttl_survives_restart(tmp_path):
    from tests.conftest import start_aki

    srv = start_aki(tmp_path)
    try:
        c = srv.client()
        c.set("long", "v", ex=1000)
        c.set("short", "v", px=200)
        c.set("plain", "v")
        c.close()
        srv.restart()
        time.sleep(0.3)
        c = srv.client()
        assert 990 <= c.ttl("long") <= 1000
        assert c.ttl("plain") == -1
        assert c.get("short") is None
        assert sorted(c.keys("*")) == [b"long", b"plain"]
        c.close()
    finally:
        srv.stop()


def test_randomkey_with_only_expired_keys(r):
    r.set("x", "v", px=10)
    time.sleep(0.05)
    assert r.randomkey() is None
