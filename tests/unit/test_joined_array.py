"""BulkArray.joined: group_concat(col, x'ff') rows back as a RESP array, in C (the lane's
module) and in Python (an install without it), the same bytes for every input."""

from __future__ import annotations

import hiredis
import pytest
from hypothesis import given
from hypothesis import strategies as st

from aki.resp import types
from aki.resp.types import BulkArray

try:
    from aki._lane import joined_array as c_joined
except ImportError:  # pragma: no cover - the extension is optional
    c_joined = None

IMPLS = [types._joined_array_py] + ([c_joined] if c_joined is not None else [])


@pytest.mark.parametrize("impl", IMPLS)
@given(st.lists(st.binary(max_size=40), max_size=30))
def test_round_trip(impl, elements):
    blob = b"\xff".join(elements) if elements else None
    wire = impl(blob, len(elements))
    if any(b"\xff" in e for e in elements):
        # the split is longer than the range: the caller reads the rows another way
        assert wire is None
        return
    reader = hiredis.Reader()
    reader.feed(wire)
    assert reader.gets() == elements
    assert wire == types._joined_array_py(blob, len(elements))


@pytest.mark.parametrize("impl", IMPLS)
def test_edges(impl):
    assert impl(None, 0) == b"*0\r\n"
    assert impl(b"", 1) == b"*1\r\n$0\r\n\r\n"
    assert impl(b"\xff", 2) == b"*2\r\n$0\r\n\r\n$0\r\n\r\n"
    assert impl(b"a\xffb", 3) is None
    assert impl(b"a\xffb", 1) is None
    assert impl(None, 1) is None


def test_bulk_array_type():
    arr = BulkArray.joined(b"x\xffyz", 2)
    assert isinstance(arr, BulkArray)
    assert arr.items() == [b"x", b"yz"]
    assert BulkArray.joined(b"x\xffyz", 3) is None


@pytest.mark.skipif(c_joined is None, reason="the C extension is not built")
def test_c_rejects_wrong_types():
    with pytest.raises(TypeError):
        c_joined("text", 1)
    with pytest.raises(TypeError):
        c_joined(b"x")
