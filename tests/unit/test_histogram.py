"""Latency percentiles and LATENCY HISTOGRAM buckets, as Redis 7.0's hdr_histogram gives them.

Expected values are ones real Redis 7.0.15 printed (INFO latencystats,
LATENCY HISTOGRAM) for calls of that duration, or, for the mixed distributions, what
the HdrHistogram Python port (hdrhistogram 0.10) computes for the same recorded values.
"""

from __future__ import annotations

import pytest

from aki.core.histogram import cdf_usec, percentile_usec


@pytest.mark.parametrize(("usec", "p0", "p50"), [
    (3, 2.992, 3.007),
    (4, 4.000, 4.015),
    (155, 154.624, 155.647),
    (3090, 3080.192, 3096.575),
    (0, 0.001, 0.001),  # clamped to 1 ns
])
def test_single_call_percentiles(usec, p0, p50):
    assert percentile_usec({usec: 1}, 0) == pytest.approx(p0)
    assert percentile_usec({usec: 1}, 50) == pytest.approx(p50)
    assert percentile_usec({usec: 1}, 100) == pytest.approx(p50)


def test_percentiles_pick_the_bucket_holding_the_rank():
    calls = {1: 90, 10: 9, 1000: 1}
    assert percentile_usec(calls, 50) == pytest.approx(1.003)  # 1000 ns: an 8 ns wide bucket
    assert percentile_usec(calls, 90) == pytest.approx(1.003)
    assert percentile_usec(calls, 95) == pytest.approx(10.047)
    assert percentile_usec(calls, 99.9) == pytest.approx(1003.519)
    assert percentile_usec(calls, 100) == pytest.approx(1003.519)


def test_cdf_buckets_are_redis_powers_of_two():
    # one call at each power of two: Redis labels its buckets 1 2 4 8 16 33 66 ...
    calls = {1 << i: 1 for i in range(14)}
    got = cdf_usec(calls)
    assert [b for b, _ in got] == [1, 2, 4, 8, 16, 33, 66, 132, 264, 528, 1056, 2113, 4227,
                                   8454]
    assert [n for _, n in got] == list(range(1, 15))


def test_cdf_skips_empty_buckets_and_is_cumulative():
    assert cdf_usec({0: 3, 1: 2}) == [(1, 5)]
    assert cdf_usec({2: 1, 100: 4}) == [(2, 1), (132, 5)]
    assert cdf_usec({}) == []


def test_calls_over_a_second_are_clamped():
    got = cdf_usec({5: 1, 5_000_000: 2})
    assert got[0] == (8, 1) and got[-1] == (1073741, 3)
    assert percentile_usec({5_000_000: 1}, 50) == pytest.approx(1002438.655)
