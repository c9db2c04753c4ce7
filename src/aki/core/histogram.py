"""Per-command latency distributions, reported as Redis 7.0's hdr_histogram reports them.

Redis records each call's duration (whole microseconds, times 1000, as nanoseconds
clamped to [1, 1e9]) in an HdrHistogram of 2 significant digits, then answers INFO
latencystats percentiles and LATENCY HISTOGRAM from its buckets. aki keeps, per
command, a plain count of calls per duration in microseconds: one dict increment on
the hot path, and enough to rebuild the same buckets exactly when asked. The
functions below follow deps/hdr_histogram (lowest 1, highest 1e9, 2 figures:
256 sub-buckets, 23 buckets, 3072 counts).
"""

from __future__ import annotations

_HALF_MAGNITUDE = 7  # sub_bucket_half_count_magnitude
_HALF = 1 << _HALF_MAGNITUDE  # sub_bucket_half_count
_SUB_BUCKETS = 2 * _HALF  # sub_bucket_count
_MASK = _SUB_BUCKETS - 1  # sub_bucket_mask (unit magnitude 0)
_COUNTS_LEN = 24 * _HALF  # (bucket_count + 1) * sub_bucket_half_count
_MIN_NS, _MAX_NS = 1, 1_000_000_000


def _bucket(v: int) -> int:
    return (v | _MASK).bit_length() - (_HALF_MAGNITUDE + 1)


def _index(v: int) -> int:
    b = _bucket(v)
    return ((b + 1) << _HALF_MAGNITUDE) + (v >> b) - _HALF


def _value_at_index(i: int) -> int:
    b = (i >> _HALF_MAGNITUDE) - 1
    s = (i & (_HALF - 1)) + _HALF
    if b < 0:
        s -= _HALF
        b = 0
    return s << b


def _lowest(v: int) -> int:
    b = _bucket(v)
    return (v >> b) << b


def _range_size(v: int) -> int:
    b = _bucket(v)
    return 1 << (b + 1 if (v >> b) >= _SUB_BUCKETS else b)


def _highest(v: int) -> int:
    return _lowest(v) + _range_size(v) - 1


def _counts(by_usec: dict[int, int]) -> dict[int, int]:
    """hdr counts (index -> count) of the recorded durations."""
    out: dict[int, int] = {}
    for usec, n in by_usec.items():
        ns = min(max(usec * 1000, _MIN_NS), _MAX_NS)
        i = _index(ns)
        out[i] = out.get(i, 0) + n
    return out


def percentile_usec(by_usec: dict[int, int], percentile: float) -> float:
    """hdr_value_at_percentile, in microseconds (INFO latencystats)."""
    counts = _counts(by_usec)
    total = sum(counts.values())
    wanted = max(int(min(percentile, 100.0) / 100 * total + 0.5), 1)
    value = 0
    seen = 0
    for i in sorted(counts):
        seen += counts[i]
        if seen >= wanted:
            value = _value_at_index(i)
            break
    ns = _lowest(value) if percentile == 0.0 else _highest(value)
    return ns / 1000.0


def cdf_usec(by_usec: dict[int, int]) -> list[tuple[int, int]]:
    """LATENCY HISTOGRAM's ``histogram_usec``: (bucket upper bound in us, calls up to it)
    at powers of two from 1 us, as fillCommandCDF walks hdr's logarithmic iterator."""
    counts = _counts(by_usec)
    total = sum(counts.values())
    out: list[tuple[int, int]] = []
    index = -1
    cumulative = 0
    value = highest = 0
    level = 1024
    level_low = _lowest(level)
    previous = 0
    while cumulative < total or (index < _COUNTS_LEN and _value_at_index(index + 1) > level_low):
        while value < level_low:  # move_next until the reporting level is reached
            index += 1
            if index >= _COUNTS_LEN:
                break
            cumulative += counts.get(index, 0)
            value = _value_at_index(index)
            highest = _lowest(value) + _range_size(value) - 1
        else:
            level *= 2
            level_low = _lowest(level)
        if cumulative > previous:
            out.append((highest // 1000, cumulative))
        previous = cumulative
        if index >= _COUNTS_LEN:
            break
    return out
