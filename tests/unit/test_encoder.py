"""The reply encoder: every value type in RESP2 and RESP3, exactly as Redis writes it."""

from __future__ import annotations

import pytest

from aki.errors import RedisError
from aki.resp.encoder import encode, format_double
from aki.resp.types import (
    OK,
    BigNumber,
    ErrorReply,
    NullArray,
    Push,
    Raw,
    RespSet,
    Status,
    Verbatim,
)

CASES = [
    (b"", b"$0\r\n\r\n", b"$0\r\n\r\n"),
    (b"a\r\nb", b"$4\r\na\r\nb\r\n", b"$4\r\na\r\nb\r\n"),
    (0, b":0\r\n", b":0\r\n"),
    (1023, b":1023\r\n", b":1023\r\n"),
    (1024, b":1024\r\n", b":1024\r\n"),
    (-1, b":-1\r\n", b":-1\r\n"),
    (2**63 - 1, b":9223372036854775807\r\n", b":9223372036854775807\r\n"),
    (None, b"$-1\r\n", b"_\r\n"),
    (OK, b"+OK\r\n", b"+OK\r\n"),
    (Status("QUEUED"), b"+QUEUED\r\n", b"+QUEUED\r\n"),
    ([], b"*0\r\n", b"*0\r\n"),
    ([b"a", 1, None], b"*3\r\n$1\r\na\r\n:1\r\n$-1\r\n", b"*3\r\n$1\r\na\r\n:1\r\n_\r\n"),
    ([[b"x"], []], b"*2\r\n*1\r\n$1\r\nx\r\n*0\r\n", b"*2\r\n*1\r\n$1\r\nx\r\n*0\r\n"),
    (True, b":1\r\n", b"#t\r\n"),
    (False, b":0\r\n", b"#f\r\n"),
    (1.5, b"$3\r\n1.5\r\n", b",1.5\r\n"),
    (0.1, b"$19\r\n0.10000000000000001\r\n", b",0.10000000000000001\r\n"),
    (float("inf"), b"$3\r\ninf\r\n", b",inf\r\n"),
    (float("-inf"), b"$4\r\n-inf\r\n", b",-inf\r\n"),
    ({b"a": 1}, b"*2\r\n$1\r\na\r\n:1\r\n", b"%1\r\n$1\r\na\r\n:1\r\n"),
    (RespSet([b"m"]), b"*1\r\n$1\r\nm\r\n", b"~1\r\n$1\r\nm\r\n"),
    (Push([b"message", b"c", b"d"]), b"*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nd\r\n",
     b">3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nd\r\n"),
    (Verbatim(b"hello"), b"$5\r\nhello\r\n", b"=9\r\ntxt:hello\r\n"),
    (BigNumber(2**70), b"$22\r\n1180591620717411303424\r\n", b"(1180591620717411303424\r\n"),
    (NullArray, b"*-1\r\n", b"_\r\n"),
    ([ErrorReply("ERR x")], b"*1\r\n-ERR x\r\n", b"*1\r\n-ERR x\r\n"),
    (Raw(b"+RAW\r\n"), b"+RAW\r\n", b"+RAW\r\n"),
]


@pytest.mark.parametrize("value,resp2,resp3", CASES, ids=[repr(c[0])[:30] for c in CASES])
def test_encode(value, resp2, resp3):
    assert encode(value, False) == resp2
    assert encode(value, True) == resp3


def test_error_value_in_array():
    assert encode([RedisError("WRONGTYPE Operation against a key holding the wrong kind of value")],
                  False) == b"*1\r\n-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"


def test_format_double_matches_redis_percent_17g():
    assert format_double(3.0) == b"3"
    assert format_double(1e20) == b"1e+20"
    assert format_double(-0.0) == b"-0"
    assert format_double(float("nan")) == b"nan"
    assert format_double(1 / 3) == b"0.33333333333333331"


def test_unknown_type_refused():
    with pytest.raises(TypeError):
        encode(object(), False)


def test_array_of_plain_bulks_fast_path_matches_the_general_encoder():
    """Lists of exact ``bytes`` take a one-pass path; bytes subclasses (Raw, Verbatim)
    and any other element keep the general encoder's answer, in both protocols."""
    from aki.resp.encoder import _encode_into
    from aki.resp.types import Raw, Status, Verbatim

    cases = [[b"a", b"", b"\r\n" * 3, bytes(range(256))], [b"a", None], [b"a", 7],
             [b"a", [b"x"]], [b"a", Status("OK")], [b"a", 1.5],
             [b"a", Verbatim(b"txt")], [Raw(b"+OK\r\n"), b"a"]]
    for v in cases:
        for resp3 in (False, True):
            parts: list[bytes] = []
            _encode_into(v, resp3, parts)
            assert encode(v, resp3) == b"".join(parts), (v, resp3)
