"""CLIENT, HELLO, AUTH, SELECT, RESET replies compared with real redis-server."""

from __future__ import annotations

from tests.conftest import RawClient


def test_client_setname_getname(pair):
    pair.same("CLIENT", "GETNAME")
    pair.same("CLIENT", "SETNAME", "myname")
    pair.same("CLIENT", "GETNAME")
    pair.same("CLIENT", "SETNAME", "bad name")
    pair.same("CLIENT", "SETNAME", "bad\nname")
    pair.same("CLIENT", "SETNAME", "")
    pair.same("CLIENT", "GETNAME")
    pair.same("CLIENT", "SETNAME")
    pair.same("CLIENT", "GETNAME", "x")


def test_client_errors(pair):
    pair.same("CLIENT", "HELP")
    pair.same("client", "help")
    pair.same("CLIENT", "NOSUCH")
    pair.same("CLIENT")
    pair.same("CLIENT", "KILL")
    pair.same("CLIENT", "KILL", "1.2.3.4:5")
    pair.same("CLIENT", "KILL", "ID", "x")
    pair.same("CLIENT", "KILL", "ID", "0")
    pair.same("CLIENT", "KILL", "ID", "999999")
    pair.same("CLIENT", "KILL", "TYPE", "bogus")
    pair.same("CLIENT", "KILL", "TYPE", "master")
    pair.same("CLIENT", "KILL", "SKIPME", "maybe")
    pair.same("CLIENT", "KILL", "USER", "nosuchuser")
    pair.same("CLIENT", "KILL", "ADDR", "1.2.3.4:5", "ID")
    pair.same("CLIENT", "KILL", "BOGUS", "x")
    pair.same("CLIENT", "KILL", "ADDR", "1.2.3.4:5", "SKIPME", "yes")
    pair.same("CLIENT", "LIST", "TYPE", "bogus")
    pair.same("CLIENT", "LIST", "ID", "x")
    pair.same("CLIENT", "LIST", "ID", "999999")
    pair.same("CLIENT", "LIST", "extra")
    pair.same("CLIENT", "REPLY", "maybe")
    pair.same("CLIENT", "NO-EVICT", "maybe")
    pair.same("CLIENT", "NO-EVICT", "on")
    pair.same("CLIENT", "NO-EVICT", "off")
    pair.same("CLIENT", "PAUSE", "x")
    pair.same("CLIENT", "PAUSE", "-1")
    pair.same("CLIENT", "PAUSE", "10", "bogus")
    pair.same("CLIENT", "UNPAUSE")
    pair.same("CLIENT", "ID", "x")


def test_client_reply(pair):
    a, r = pair.a, pair.r
    for c in (a, r):
        c.send(b"*3\r\n$6\r\nCLIENT\r\n$5\r\nREPLY\r\n$3\r\nOFF\r\n")
        c.send(b"*2\r\n$4\r\nECHO\r\n$1\r\nx\r\n")
        c.send(b"*3\r\n$6\r\nCLIENT\r\n$5\r\nREPLY\r\n$2\r\nON\r\n")
    assert a.read_reply() == r.read_reply() == b"+OK\r\n"
    for c in (a, r):
        c.send(b"*3\r\n$6\r\nCLIENT\r\n$5\r\nREPLY\r\n$4\r\nSKIP\r\n")
        c.send(b"*2\r\n$4\r\nECHO\r\n$1\r\ny\r\n")
        c.send(b"*2\r\n$4\r\nECHO\r\n$1\r\nz\r\n")
    assert a.read_reply() == r.read_reply() == b"$1\r\nz\r\n"


def test_client_info_shape(pair):
    got, want = pair.both("CLIENT", "INFO")

    def fields(raw):
        body = raw.split(b"\r\n", 1)[1]
        return [kv.split(b"=")[0] for kv in body.split()]

    assert fields(got) == fields(want)
    got, want = pair.both("CLIENT", "LIST", "TYPE", "normal")
    assert got.startswith(b"$") and want.startswith(b"$")


def test_select(pair):
    pair.same("SELECT", "1")
    pair.same("SELECT", "16")
    pair.same("SELECT", "-1")
    pair.same("SELECT", "x")
    pair.same("SELECT", "1.5")
    pair.same("SELECT", "0")


def test_hello_variants(aki_server, redis_server):
    for args in (("HELLO", "3"), ("HELLO", "2"), ("HELLO", "4"), ("HELLO", "x"),
                 ("HELLO", "3", "SETNAME", "foo"), ("HELLO", "3", "SETNAME", "a b"),
                 ("HELLO", "3", "AUTH", "default", "x"), ("HELLO", "2", "BOGUS"),
                 ("HELLO", "3", "AUTH", "default"), ("HELLO", "1")):
        a, r = RawClient(aki_server.port), RawClient(redis_server.port)
        try:
            ga, gr = a.cmd(*args), r.cmd(*args)
            if args[1] in ("2", "3") and not gr.startswith(b"-"):
                # id and version differ between the servers; the shape matches
                assert ga.split(b"\r\n")[0] == gr.split(b"\r\n")[0], args
                assert ga.count(b"\r\n") == gr.count(b"\r\n"), args
            else:
                assert ga == gr, args
            ga, gr = a.cmd("CLIENT", "GETNAME"), r.cmd("CLIENT", "GETNAME")
            assert ga == gr, args
        finally:
            a.close()
            r.close()


def test_auth_errors(pair):
    pair.same("AUTH", "x")
    pair.same("AUTH", "default", "x")
    pair.same("AUTH", "nosuch", "x")
    pair.same("AUTH", "a", "b", "c")
    pair.same("AUTH")


def test_reset(pair):
    pair.same("SELECT", "3")
    pair.same("CLIENT", "SETNAME", "n")
    pair.same("MULTI")
    pair.same("RESET")
    pair.same("CLIENT", "GETNAME")
    pair.same("SET", "k", "v")
    pair.same("SELECT", "0")
    pair.same("GET", "k")
