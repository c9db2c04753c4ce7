"""The ACL model without a server: rule descriptions round-trip to the same bitmap, and
the dispatcher's guard exists only while some user could be refused something."""

from __future__ import annotations

import random

import pytest

import aki
from aki.commands import load_all
from aki.core import acl as A


@pytest.fixture(scope="module", autouse=True)
def _commands():
    load_all()


def _user(*rules: bytes) -> A.User:
    u = A.User("u")
    for r in rules:
        u.apply(r, False)
    return u


def test_descriptions_round_trip():
    """ACL LIST's rules, applied to a new user, give back the same permissions (what ACL
    SAVE / LOAD rely on), for random rule sets."""
    u = A.universe()
    names = [c.fullname for c in u.by_id]
    pool = [b"+@" + c.encode() for c in A.CATEGORIES] + [b"-@" + c.encode() for c in A.CATEGORIES]
    pool += [b"+@all", b"-@all", b"+select|0", b"+debug|digest", b"~a*", b"%R~b", b"&c"]
    rnd = random.Random(7)
    for _ in range(300):
        rules = rnd.sample(pool, rnd.randint(1, 6))
        rules += [rnd.choice(b"+-").to_bytes(1, "big") + rnd.choice(names).encode()
                  for _ in range(rnd.randint(0, 4))]
        rules = [r for r in rules if not (r.startswith(b"-") and b"|" in r and
                                          u.lookup(r[1:].decode()) is None)]
        orig = _user(*rules)
        again = _user(*orig.describe().split(b" "))
        assert again.root.allowed == orig.root.allowed, rules
        # (a first-arg of an allowed command is not described, as in Redis: it is moot)
        live = {k: v for k, v in orig.root.firstargs.items() if not orig.root.has_bit(k)}
        assert again.root.firstargs == live, rules
        assert again.describe() == orig.describe(), rules


def test_unrestricted():
    assert _user(b"+@all", b"~*", b"&*").unrestricted()
    assert not _user(b"+@all", b"~*").unrestricted()
    assert not _user(b"+@all", b"-get", b"~*", b"&*").unrestricted()
    assert _user(b"+@all", b"-get", b"+get", b"~*", b"&*").unrestricted()
    assert not _user(b"+@all", b"~*", b"&*", b"(+get)").unrestricted()


def test_guard_only_while_needed(tmp_path):
    with aki.open(str(tmp_path / "d.aki")) as db:
        server = db._core.server
        db.execute("ACL", "USERS")  # creates the ACL state
        assert "acl" in server.extensions and "guard" not in server.extensions
        db.execute("ACL", "SETUSER", "alice", "on", ">pw")
        assert "guard" in server.extensions
        db.execute("ACL", "DELUSER", "alice")
        assert "guard" not in server.extensions
        db.execute("ACL", "SETUSER", "default", "-flushall")
        assert "guard" in server.extensions
        db.execute("ACL", "SETUSER", "default", "+flushall", ">secret")
        assert "guard" not in server.extensions
        db.execute("CONFIG", "SET", "requirepass", "")
        assert "guard" not in server.extensions
