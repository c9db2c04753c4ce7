"""Client tracking (tracking.c) against real redis-server: the same command sequences
on both, invalidation messages and replies compared byte for byte."""

from __future__ import annotations

import time

import pytest

from tests.conftest import RawClient, encode_command


class Side:
    """One server's clients: ``t`` tracks, ``w`` writes, ``rd`` receives redirections."""

    def __init__(self, port: int) -> None:
        self.t = RawClient(port)
        self.w = RawClient(port)
        self.rd = RawClient(port)
        self.rd_id = int(self.rd.cmd("CLIENT", "ID")[1:-2])
        self.t_id = int(self.t.cmd("CLIENT", "ID")[1:-2])

    def close(self) -> None:
        for c in (self.t, self.w, self.rd):
            c.close()


class Both:
    def __init__(self, aki_port: int, redis_port: int) -> None:
        self.a = Side(aki_port)
        self.r = Side(redis_port)
        self.a.w.cmd("FLUSHALL")
        self.r.w.cmd("FLUSHALL")

    def same(self, who: str, *args) -> bytes:
        """``who`` is t, w or rd; ids in the arguments are written as {rd} / {t}."""
        got = getattr(self.a, who).cmd(*self._args(self.a, args))
        want = getattr(self.r, who).cmd(*self._args(self.r, args))
        assert got == want, f"{who} {args!r}: aki {got!r} != redis {want!r}"
        return got

    def same_ids(self, who: str, *args) -> bytes:
        """Like same(), with each side's redirection id replaced by a placeholder."""
        got = getattr(self.a, who).cmd(*args).replace(b":%d\r\n" % self.a.rd_id, b":RD\r\n")
        want = getattr(self.r, who).cmd(*args).replace(b":%d\r\n" % self.r.rd_id, b":RD\r\n")
        assert got == want, f"{who} {args!r}: aki {got!r} != redis {want!r}"
        return got

    def send(self, who: str, *args) -> None:
        getattr(self.a, who).send(encode_command(*self._args(self.a, args)))
        getattr(self.r, who).send(encode_command(*self._args(self.r, args)))

    def read(self, who: str) -> bytes:
        got = getattr(self.a, who).read_reply()
        want = getattr(self.r, who).read_reply()
        assert got == want, f"{who}: aki {got!r} != redis {want!r}"
        return got

    def read_unordered(self, who: str, n: int) -> None:
        got = sorted(getattr(self.a, who).read_reply() for _ in range(n))
        want = sorted(getattr(self.r, who).read_reply() for _ in range(n))
        assert got == want

    def quiet(self, who: str) -> None:
        """Nothing more is waiting on either side (a PING answers PONG first)."""
        self.same(who, "ECHO", "sync")

    @staticmethod
    def _args(side: Side, args):
        out = []
        for a in args:
            if a == "{rd}":
                a = str(side.rd_id)
            elif a == "{t}":
                a = str(side.t_id)
            out.append(a)
        return out

    def close(self) -> None:
        self.a.close()
        self.r.close()


@pytest.fixture
def b(aki_server, redis_server):
    both = Both(aki_server.port, redis_server.port)
    yield both
    both.close()


def test_errors_and_options(b):
    for args in [
        ("CLIENT", "TRACKING", "maybe"),
        ("CLIENT", "TRACKING", "on", "PREFIX", "a"),
        ("CLIENT", "TRACKING", "on", "BCAST", "OPTIN"),
        ("CLIENT", "TRACKING", "on", "OPTIN", "OPTOUT"),
        ("CLIENT", "TRACKING", "on", "REDIRECT", "notanumber"),
        ("CLIENT", "TRACKING", "on", "REDIRECT", "999999"),
        ("CLIENT", "TRACKING", "on", "REDIRECT", "{rd}", "REDIRECT", "{rd}"),
        ("CLIENT", "TRACKING", "on", "REDIRECT"),
        ("CLIENT", "TRACKING", "on", "bogus"),
        ("CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "ab", "PREFIX", "a"),
        ("CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "a", "PREFIX", "b:"),
        ("CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "abc"),
        ("CLIENT", "TRACKINGINFO"),
        ("CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "ab"),
        ("CLIENT", "TRACKING", "on"),
        ("CLIENT", "TRACKING", "off"),
        ("CLIENT", "TRACKING", "on", "OPTIN"),
        ("CLIENT", "TRACKING", "on", "OPTOUT"),
        ("CLIENT", "CACHING", "no"),
        ("CLIENT", "CACHING", "maybe"),
        ("CLIENT", "CACHING", "yes"),
        ("CLIENT", "TRACKINGINFO"),
        ("CLIENT", "TRACKING", "off"),
        ("CLIENT", "CACHING", "yes"),
        ("CLIENT", "CACHING"),
        ("CLIENT", "GETREDIR"),
        ("CLIENT", "TRACKINGINFO"),
        ("CLIENT", "TRACKING", "on", "OPTOUT", "NOLOOP"),
        ("CLIENT", "TRACKINGINFO"),
        ("CLIENT", "CACHING", "no"),
        ("CLIENT", "TRACKINGINFO"),
        ("CLIENT", "GETREDIR"),
        ("CLIENT", "TRACKING", "off"),
        ("CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "x", "PREFIX", "y"),
        ("CLIENT", "TRACKINGINFO"),
        ("CLIENT", "TRACKING", "off"),
        ("CLIENT", "TRACKING"),
    ]:
        b.same("t", *args)


def test_redirect_to_resp2_subscriber(b):
    b.same("rd", "SUBSCRIBE", "__redis__:invalidate")
    b.same("t", "CLIENT", "TRACKING", "on", "REDIRECT", "{rd}")
    b.same("w", "SET", "a", "1")
    b.same("w", "SET", "b", "1")
    b.same("t", "GET", "a")
    b.same("t", "MGET", "b", "c")
    b.same("w", "INCR", "b")  # tracked through MGET
    assert b.read("rd") == (b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n"
                            b"*1\r\n$1\r\nb\r\n")
    b.same("w", "INCR", "a")
    b.read("rd")
    b.same("w", "INCR", "a")  # no longer tracked: nothing
    b.same("t", "SET", "c", "x")  # the tracking client's own write, no NOLOOP
    b.read("rd")
    b.same("t", "GET", "zz")
    b.same("w", "FLUSHALL")
    assert b.read("rd") == (b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n$-1\r\n")
    b.same("t", "CLIENT", "TRACKING", "off")


def test_resp3_self_invalidation_after_reply(b):
    b.a.t.cmd("HELLO", "3")
    b.r.t.cmd("HELLO", "3")
    b.same("t", "CLIENT", "TRACKING", "on")
    b.same("t", "HSET", "h", "f", "v")
    b.same("t", "HGET", "h", "f")
    # the invalidation of its own write comes right after the reply
    b.send("t", "HDEL", "h", "f")
    assert b.read("t") == b":1\r\n"
    assert b.read("t") == b">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nh\r\n"
    b.same("t", "MGET", "k1", "k2")
    b.send("t", "MSET", "k1", "1", "k2", "2")
    assert b.read("t") == b"+OK\r\n"
    b.read("t")
    b.read("t")
    b.same("t", "GET", "k1")
    b.same("t", "MULTI")
    b.same("t", "INCR", "k1")
    b.same("t", "GET", "k1")
    b.send("t", "EXEC")
    assert b.read("t") == b"*2\r\n:2\r\n$1\r\n2\r\n"
    b.read("t")
    b.same("t", "GET", "k2")
    b.send("w", "DEL", "k2")
    b.read("w")
    b.read("t")
    b.send("t", "FLUSHDB")
    assert b.read("t") == b"+OK\r\n"
    assert b.read("t") == b">2\r\n$10\r\ninvalidate\r\n_\r\n"
    b.quiet("t")


def test_noloop_and_optin_optout(b):
    b.a.t.cmd("HELLO", "3")
    b.r.t.cmd("HELLO", "3")
    b.same("t", "CLIENT", "TRACKING", "on", "NOLOOP")
    b.same("t", "MGET", "x", "y")
    b.same("t", "SET", "x", "1")  # its own write: no message
    b.same("w", "SET", "y", "1")
    assert b.read("t") == b">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\ny\r\n"
    b.same("t", "CLIENT", "TRACKING", "off")
    b.same("t", "CLIENT", "TRACKING", "on", "OPTIN")
    b.same("t", "GET", "o1")
    b.same("t", "CLIENT", "CACHING", "yes")
    b.same("t", "GET", "o2")
    b.same("t", "GET", "o3")  # CACHING lasts one command
    b.same("w", "MSET", "o1", "1", "o2", "2", "o3", "3")
    assert b.read("t") == b">2\r\n$10\r\ninvalidate\r\n*1\r\n$2\r\no2\r\n"
    b.quiet("t")
    b.same("t", "CLIENT", "TRACKING", "off")
    b.same("t", "CLIENT", "TRACKING", "on", "OPTOUT")
    b.same("t", "GET", "p1")
    b.same("t", "CLIENT", "CACHING", "no")
    b.same("t", "GET", "p2")
    b.same("w", "MSET", "p1", "1", "p2", "2")
    assert b.read("t") == b">2\r\n$10\r\ninvalidate\r\n*1\r\n$2\r\np1\r\n"
    b.quiet("t")
    b.same("t", "CLIENT", "TRACKING", "off")


def test_bcast_prefixes(b):
    b.same("rd", "SUBSCRIBE", "__redis__:invalidate")
    b.same("t", "CLIENT", "TRACKING", "on", "BCAST", "REDIRECT", "{rd}", "PREFIX", "a:",
           "PREFIX", "b:")
    b.same("w", "MULTI")
    for k in ("a:1", "a:2", "b:1", "c:1"):
        b.same("w", "INCR", k)
    b.same("w", "EXEC")
    b.read_unordered("rd", 2)
    assert b":RD\r\n" in b.same_ids("t", "CLIENT", "TRACKINGINFO")
    assert b.same_ids("t", "CLIENT", "GETREDIR") == b":RD\r\n"
    b.same("t", "CLIENT", "TRACKING", "off")
    b.same("t", "CLIENT", "TRACKING", "on", "BCAST", "REDIRECT", "{rd}", "NOLOOP")
    b.same("w", "SET", "other", "1")
    b.read("rd")
    b.same("t", "SET", "mine", "1")
    b.same("w", "SET", "other2", "1")
    assert b.read("rd").endswith(b"*1\r\n$6\r\nother2\r\n")
    b.same("t", "CLIENT", "TRACKING", "off")


def test_flush_and_swapdb_invalidate_no_key(b):
    """FLUSHDB/FLUSHALL send one null invalidation and SWAPDB none: neither touches the
    key "" (aki once told BCAST clients, and a client tracking "", that "" changed)."""
    b.same("rd", "SUBSCRIBE", "__redis__:invalidate")
    b.same("t", "CLIENT", "TRACKING", "on", "BCAST", "REDIRECT", "{rd}")
    b.same("w", "FLUSHDB")
    b.read("rd")
    b.same("w", "SWAPDB", "0", "1")
    b.same("w", "FLUSHALL")
    b.read("rd")
    b.same("rd", "PING")  # nothing else was waiting
    b.same("t", "CLIENT", "TRACKING", "off")
    b.same("t", "CLIENT", "TRACKING", "on", "REDIRECT", "{rd}")
    b.same("t", "GET", "")
    b.same("w", "SWAPDB", "0", "1")
    b.same("w", "SWAPDB", "0", "0")
    b.same("rd", "PING")
    b.same("w", "SET", "", "v")
    b.read("rd")
    b.same("t", "CLIENT", "TRACKING", "off")


def test_broken_redirect(b):
    b.a.t.cmd("HELLO", "3")
    b.r.t.cmd("HELLO", "3")
    b.same("t", "CLIENT", "TRACKING", "on", "REDIRECT", "{rd}")
    b.same("t", "GET", "k")
    b.a.rd.close()
    b.r.rd.close()
    time.sleep(0.2)
    b.same("w", "SET", "k", "1")
    got, want = b.a.t.read_reply(), b.r.t.read_reply()
    assert got.startswith(b">2\r\n$21\r\ntracking-redir-broken\r\n")
    assert want.startswith(b">2\r\n$21\r\ntracking-redir-broken\r\n")
    info = b.a.t.cmd("CLIENT", "TRACKINGINFO")
    assert b"broken_redirect" in info
    b.same("t", "CLIENT", "TRACKING", "off")


def test_expired_key_invalidates(b):
    b.a.t.cmd("HELLO", "3")
    b.r.t.cmd("HELLO", "3")
    b.same("w", "SET", "e", "v", "PX", "50")
    b.same("t", "CLIENT", "TRACKING", "on")
    b.same("t", "GET", "e")
    time.sleep(0.4)
    b.same("w", "EXISTS", "e")
    assert b.read("t") == b">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\ne\r\n"
    b.same("t", "CLIENT", "TRACKING", "off")


def test_bcast_noloop_sees_lazy_expiry_of_own_read(b):
    """A key the tracking client wrote itself (NOLOOP: not sent) and later found expired
    by its own GET: the lazy expiry is the server's change, so BCAST sends it."""
    b.same("w", "DEBUG", "SET-ACTIVE-EXPIRE", "0")  # only the lazy road may delete it
    try:
        b.same("rd", "SUBSCRIBE", "__redis__:invalidate")
        b.same("t", "CLIENT", "TRACKING", "on", "BCAST", "REDIRECT", "{rd}", "NOLOOP")
        b.same("t", "SET", "lazy", "v", "PX", "1")
        time.sleep(0.05)
        b.same("t", "GET", "lazy")
        assert b.read("rd").endswith(b"*1\r\n$4\r\nlazy\r\n")
        b.same("t", "SET", "mine", "1")  # its own write stays unsent
        b.same("w", "SET", "theirs", "1")
        assert b.read("rd").endswith(b"*1\r\n$6\r\ntheirs\r\n")
        b.same("t", "CLIENT", "TRACKING", "off")
    finally:
        b.same("w", "DEBUG", "SET-ACTIVE-EXPIRE", "1")


def test_tracking_table_limit(aki_server):
    r = aki_server.client(protocol=3)
    rd = RawClient(aki_server.port)
    try:
        rid = int(rd.cmd("CLIENT", "ID")[1:-2])
        rd.cmd("SUBSCRIBE", "__redis__:invalidate")
        r.execute_command("CLIENT", "TRACKING", "on", "REDIRECT", rid)
        r.mset({"key1": 1, "key2": 2})
        r.mget("key1", "key2")
        r.config_set("tracking-table-max-keys", 1)
        msg = rd.read_reply()
        assert msg.startswith(b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n*1\r\n$4\r\nkey")
        info = r.execute_command("CLIENT", "TRACKINGINFO")
        assert info[b"redirect"] == rid
    finally:
        r.config_set("tracking-table-max-keys", 1000000)
        r.execute_command("CLIENT", "TRACKING", "off")
        r.close()
        rd.close()


def test_unblocked_blmove_gets_invalidation_after_reply(aki_server, redis_server):
    """A served BLMOVE's own write to a tracked key is invalidated after its reply."""
    import time

    from tests.conftest import RawClient, encode_command

    seen = []
    for port in (aki_server.port, redis_server.port):
        r, rd = RawClient(port), RawClient(port)
        r.cmd("DEL", "list1", "list2")
        r.cmd("RPUSH", "list2", "a")
        rd.cmd("HELLO", "3")
        rd.cmd("CLIENT", "TRACKING", "on")
        rd.cmd("LRANGE", "list2", "0", "-1")
        rd.send(encode_command("BLMOVE", "list1", "list2", "left", "left", "0"))
        time.sleep(0.2)
        r.cmd("RPUSH", "list1", "foo")
        rd.sock.settimeout(5)
        seen.append((rd.read_reply(), rd.read_reply()))
        r.close()
        rd.close()
    assert seen[0] == seen[1]
