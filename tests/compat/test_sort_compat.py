"""SORT / SORT_RO against real redis-server, byte for byte."""

from __future__ import annotations

import pytest


@pytest.fixture
def data(pair):
    for cmd in [
        ("RPUSH", "nums", "3", "1", "2", "10", "-5", "2.5"),
        ("RPUSH", "words", "banana", "apple", "cherry", "apple"),
        ("SADD", "s", "30", "10", "20"),
        ("ZADD", "z", "3", "c", "1", "a", "2", "b"),
        ("MSET", "w_1", "30", "w_2", "10", "w_3", "20", "w_10", "5", "w_-5", "1", "w_2.5", "7"),
        ("HSET", "h_1", "name", "one", "rank", "3"),
        ("HSET", "h_2", "name", "two", "rank", "1"),
        ("HSET", "h_3", "name", "three", "rank", "2"),
        ("RPUSH", "ids", "1", "2", "3"),
        ("SET", "str", "x"),
    ]:
        pair.same(*cmd)
    return pair


@pytest.mark.parametrize("args", [
    ("SORT", "nums"),
    ("SORT", "nums", "DESC"),
    ("SORT", "nums", "LIMIT", "1", "3"),
    ("SORT", "nums", "LIMIT", "-1", "2"),
    ("SORT", "nums", "LIMIT", "10", "2"),
    ("SORT", "nums", "LIMIT", "2", "-1"),
    ("SORT", "words"),
    ("SORT", "words", "ALPHA"),
    ("SORT", "words", "ALPHA", "DESC", "LIMIT", "0", "2"),
    ("SORT", "s"),
    ("SORT", "z"),
    ("SORT", "z", "BY", "nosort"),
    ("SORT", "z", "BY", "nosort", "DESC"),
    ("SORT", "z", "BY", "nosort", "LIMIT", "1", "1"),
    ("SORT", "z", "BY", "nosort", "DESC", "LIMIT", "1", "5"),
    ("SORT", "nums", "BY", "w_*"),
    ("SORT", "nums", "BY", "w_*", "GET", "#", "GET", "w_*"),
    ("SORT", "ids", "BY", "h_*->rank", "GET", "h_*->name"),
    ("SORT", "ids", "BY", "h_*->rank", "GET", "h_*->name", "GET", "#", "DESC"),
    ("SORT", "ids", "BY", "nosort", "GET", "h_*->name"),
    ("SORT", "ids", "BY", "nosort", "DESC"),
    ("SORT", "ids", "BY", "missing_*", "ALPHA"),
    ("SORT", "ids", "GET", "nothing_*"),
    ("SORT", "ids", "BY", "h_*->name", "ALPHA"),
    ("SORT", "missing"),
    ("SORT", "str"),
    ("SORT", "words"),
    ("SORT", "nums", "LIMIT", "x", "1"),
    ("SORT", "nums", "FOO"),
    ("SORT", "nums", "LIMIT", "1"),
    ("SORT_RO", "nums", "DESC"),
    ("SORT_RO", "nums", "STORE", "dst"),
])
def test_sort(data, args):
    data.same(*args)


def test_sort_store(data):
    data.same("SORT", "nums", "STORE", "dst")
    data.same("LRANGE", "dst", "0", "-1")
    data.same("SORT", "ids", "BY", "h_*->rank", "GET", "h_*->name", "GET", "nope_*", "STORE", "dst")
    data.same("LRANGE", "dst", "0", "-1")
    data.same("SORT", "s", "BY", "nosort", "STORE", "dst2")
    data.same("LRANGE", "dst2", "0", "-1")
    data.same("SORT", "missing", "STORE", "dst")
    data.same("EXISTS", "dst")
    data.same("SET", "strdst", "x")
    data.same("SORT", "nums", "STORE", "strdst")
    data.same("TYPE", "strdst")


@pytest.mark.parametrize("args", [
    ("COMMAND", "GETKEYS", "SORT", "abc", "STORE", "x", "BY", "y"),
    ("COMMAND", "GETKEYS", "SORT_RO", "abc"),
    ("COMMAND", "GETKEYS", "SORT_RO", "abc", "BY", "w_*"),
    ("COMMAND", "GETKEYSANDFLAGS", "SORT_RO", "abc"),
])
def test_sort_getkeys(pair, args):
    pair.same(*args)
