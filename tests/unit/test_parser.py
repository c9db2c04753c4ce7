"""The sans-IO request parser: framing, split points, the hiredis/Python hand-offs."""

from __future__ import annotations

import random

import pytest

from aki.resp.parser import (
    QueryBufferFull,
    RequestParser,
    requests_length,
    split_args,
    string2ll,
    wire_length,
)


def enc(*args: bytes | str) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a.encode() if isinstance(a, str) else a
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def parse_all(chunks: list[bytes], **kw) -> tuple[list[list[bytes]], str | None]:
    p = RequestParser(**kw)
    got: list[list[bytes]] = []
    for c in chunks:
        reqs, err = p.feed(c)
        got += reqs
        if err:
            return got, err
    return got, None


REQUESTS = [
    [b"SET", b"k", b"v"],
    [b"GET", b"k"],
    [b"ECHO", b"\r\n*1\r\n$4\r\nPING\r\n"],  # framing bytes inside a value
    [b"SET", b"big", b"x" * 70_000],  # above the big-bulk threshold
    [b"PING"],
    [b"MSET", b"a", b"", b"b", b"\x00\xff"],
    [b"ECHO", b"+status-looking\n+x"],
]
STREAM = b"".join(enc(*r) for r in REQUESTS) + b"PING\r\nECHO \"in line\"\r\n" + enc("GET", "z")
EXPECTED = REQUESTS + [[b"PING"], [b"ECHO", b"in line"], [b"GET", b"z"]]


def test_whole_stream():
    assert parse_all([STREAM]) == (EXPECTED, None)


def test_every_single_split_point_gives_the_same_requests():
    # Split points near request boundaries and inside headers matter most; all are tried
    # for the small requests, and a sample inside the 70 kB value.
    small_end = STREAM.index(b"x" * 100)
    points = list(range(1, small_end + 20)) + list(range(len(STREAM) - 200, len(STREAM)))
    points += random.Random(1).sample(range(small_end, len(STREAM) - 200), 200)
    for i in points:
        assert parse_all([STREAM[:i], STREAM[i:]]) == (EXPECTED, None), i


def test_random_three_way_splits():
    rnd = random.Random(7)
    for _ in range(300):
        a, b = sorted(rnd.sample(range(1, len(STREAM)), 2))
        assert parse_all([STREAM[:a], STREAM[a:b], STREAM[b:]]) == (EXPECTED, None), (a, b)


def test_byte_by_byte():
    small = b"".join(enc(*r) for r in REQUESTS[:3]) + b"PING\r\n"
    assert parse_all([small[i:i + 1] for i in range(len(small))]) == (REQUESTS[:3] + [[b"PING"]], None)


def test_request_split_after_a_complete_header_line():
    # hiredis swallows "*2\r\n$4\r\nECHO\r\n" without returning anything; the rest must
    # still complete the same request.
    assert parse_all([b"*2\r\n$4\r\nECHO\r\n", b"$2\r\nhi\r\n"]) == ([[b"ECHO", b"hi"]], None)
    assert parse_all([b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\n", b"hello\r\n"]) == (
        [[b"SET", b"k", b"hello"]], None)


def test_large_pipeline_in_chunks_matches():
    reqs = [[b"SET", b"key:%d" % i, b"v" * (i % 500)] for i in range(5000)]
    data = b"".join(enc(*r) for r in reqs)
    for size in (1, 7, 4096, 65536):
        if size == 1:
            part = data[:3000]
            n = len(parse_all([part[i:i + 1] for i in range(len(part))])[0])
            assert parse_all([part[i:i + 1] for i in range(len(part))])[0] == reqs[:n]
            continue
        chunks = [data[i:i + size] for i in range(0, len(data), size)]
        assert parse_all(chunks) == (reqs, None)


def test_wire_length_helpers():
    reqs = [[b"a"], [b"x" * 10, b"y" * 100_001], [b""] * 12]
    for r in reqs:
        assert wire_length(r) == len(enc(*r))
    assert requests_length(reqs) == sum(len(enc(*r)) for r in reqs)
    assert requests_length([]) == 0


@pytest.mark.parametrize("data,err", [
    (b"*1\r\n:5\r\n", "expected '$', got ':'"),
    (b"*1\r\n+PING\r\n", "expected '$', got '+'"),
    (b"*1\r\n=8\r\ntxt:PING\r\n", "expected '$', got '='"),
    (b"*1\r\n(123\r\n", "expected '$', got '('"),
    (b"*1\r\n*1\r\n$4\r\nPING\r\n", "expected '$', got '*'"),
    (b"*abc\r\n", "invalid multibulk length"),
    (b"*01\r\n", "invalid multibulk length"),
    (b"*+1\r\n", "invalid multibulk length"),
    (b"*-0\r\n", "invalid multibulk length"),
    (b"*1_0\r\n", "invalid multibulk length"),
    (b"*3000000000\r\n", "invalid multibulk length"),
    (b"*2147483648\r\n", "invalid multibulk length"),
    (b"*1\r\n$-1\r\n", "invalid bulk length"),
    (b"*1\r\n$04\r\nPING\r\n", "invalid bulk length"),
    (b"*1\r\n$536870913\r\n", "invalid bulk length"),
    (b'SET "a\r\n', "unbalanced quotes in request"),
    (b"x" * 70_000, "too big inline request"),
    (b"*" + b"1" * 70_000, "too big mbulk count string"),
    (b"*1\r\n$" + b"1" * 70_000, "too big bulk count string"),
])
def test_framing_errors(data, err):
    assert parse_all([data]) == ([], err)
    # The same error when the bytes arrive in two pieces, after a good request.
    good = enc("PING")
    mid = len(data) // 2 or 1
    assert parse_all([good + data[:mid], data[mid:]]) == ([[b"PING"]], err)


def test_requests_before_an_error_are_returned():
    assert parse_all([enc("PING") + b"PING\r\n" + b"*1\r\n:1\r\n"]) == ([[b"PING"], [b"PING"]],
                                                                          "expected '$', got ':'")


def test_empty_and_negative_counts_are_skipped():
    assert parse_all([b"*0\r\n*-1\r\n" + enc("PING")]) == ([[b"PING"]], None)


def test_header_cr_followed_by_any_byte():
    # Redis finds a header's end by '\r' and skips one more byte without checking it.
    assert parse_all([b"*1\rx$4\r\nPING\r\n"]) == ([[b"PING"]], None)
    assert parse_all([b"*1\r\n$4\r\nPINGxy"]) == ([[b"PING"]], None)


def test_max_bulk_len_enforced_on_complete_requests():
    ok = enc("SET", "k", "v" * 10)
    assert parse_all([ok], max_bulk_len=10) == ([[b"SET", b"k", b"v" * 10]], None)
    assert parse_all([enc("SET", "k", "v" * 11)], max_bulk_len=10) == ([], "invalid bulk length")


def test_unauthenticated_limits():
    p = RequestParser()
    p.authenticated = False
    assert p.feed(enc(*["a"] * 11)) == ([], "unauthenticated multibulk length")
    p = RequestParser()
    p.authenticated = False
    assert p.feed(enc("ECHO", "x" * 16385)) == ([], "unauthenticated bulk length")
    p = RequestParser()
    p.authenticated = False
    assert p.feed(enc("ECHO", "x" * 16384)) == ([[b"ECHO", b"x" * 16384]], None)


def test_unauthenticated_parsing_pauses_after_auth():
    p = RequestParser()
    p.authenticated = False
    big = enc(*["a"] * 11)
    reqs, err = p.feed(enc("AUTH", "pw") + big)
    assert (reqs, err, p.paused) == ([[b"AUTH", b"pw"]], None, True)
    p.paused = False
    p.authenticated = True  # the AUTH succeeded
    assert p.feed(b"") == ([[b"a"] * 11], None)


def test_query_buffer_limit_counts_the_pending_bulk():
    p = RequestParser(query_buffer_limit=100_000)
    head = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$200000\r\n"
    p.feed(head + b"x" * 50_000)
    with pytest.raises(QueryBufferFull):
        p.feed(b"x" * 60_000)
    # Complete arguments do not count: three 90 kB values under a 100 kB limit.
    p = RequestParser(query_buffer_limit=100_000)
    data = enc("MSET", "a", "1" * 90_000, "b", "2" * 90_000, "c", "3" * 90_000)
    got = []
    for i in range(0, len(data), 30_000):
        got += p.feed(data[i:i + 30_000])[0]
    assert len(got) == 1 and len(got[0]) == 7


def test_string2ll_matches_redis():
    assert string2ll(b"0") == 0
    assert string2ll(b"-1") == -1
    assert string2ll(b"9223372036854775807") == 2**63 - 1
    assert string2ll(b"-9223372036854775808") == -(2**63)
    for bad in [b"", b"-", b"+1", b" 1", b"1 ", b"01", b"-0", b"1_0", b"9223372036854775808",
                b"\xd9\xa1", b"1e3", b"0x1"]:
        assert string2ll(bad) is None, bad


@pytest.mark.parametrize("line,args", [
    (b"", []),
    (b"   ", []),
    (b"a b  c", [b"a", b"b", b"c"]),
    (b'"hello world"', [b"hello world"]),
    (b'"a\\tb\\n\\x41\\x4a\\\\"', [b"a\tb\nAJ\\"]),
    (b'"\\xzz"', [b"xzz"]),
    (b"'it\\'s \"raw\" \\n'", [b"it's \"raw\" \\n"]),
    (b'""', [b""]),
    (b"''", [b""]),
    (b'set "k"v', None),
    (b'"unterminated', None),
    (b"'unterminated", None),
    (b"a\tb", [b"a", b"b"]),
])
def test_inline_split_args(line, args):
    assert split_args(line) == args


def test_plus_payloads_stay_on_hiredis_and_plus_elements_are_refused():
    """'+inf' as a payload is common (ZRANGEBYSCORE): it must not push the stream to
    the Python parser. A '+'/'(' element is still refused exactly as Redis does, alone,
    after good requests, mixed with '+' payloads, and in a pipeline cut mid-request."""
    slow = []

    class Counting(RequestParser):
        def _feed_python(self, *a, **k):
            slow.append(1)
            return super()._feed_python(*a, **k)

    p = Counting()
    one = enc("ZRANGEBYSCORE", "z", "(1", "+inf", "LIMIT", "0", "10")
    assert p.feed(one) == ([[b"ZRANGEBYSCORE", b"z", b"(1", b"+inf", b"LIMIT", b"0", b"10"]],
                           None)
    reqs, err = p.feed(one * 16)
    assert len(reqs) == 16 and err is None
    assert not slow  # hiredis parsed both reads
    # a pipeline split in the middle of a request that holds '+' payloads
    data = one * 3
    assert parse_all([data[:50], data[50:]]) == ([list(map(str.encode, [
        "ZRANGEBYSCORE", "z", "(1", "+inf", "LIMIT", "0", "10"]))] * 3, None)
    # '+' elements among '+' payloads: the good requests, then Redis's error
    bad = b"*2\r\n$4\r\nECHO\r\n+inf\r\n"
    assert parse_all([one + bad + one]) == (
        [[b"ZRANGEBYSCORE", b"z", b"(1", b"+inf", b"LIMIT", b"0", b"10"]],
        "expected '$', got '+'")
    assert parse_all([bad]) == ([], "expected '$', got '+'")
    assert parse_all([b"*2\r\n$4\r\nECHO\r\n(12\r\n" + one]) == ([], "expected '$', got '('")
    # a '+' element whose shortfall is made up by a later oversized request cannot pass
    tricky = b"*2\r\n$4\r\nECHO\r\n+ab\r\n" + enc("ECHO", "+" * 10)
    assert parse_all([tricky])[1] == "expected '$', got '+'"
