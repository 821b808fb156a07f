"""Latency statistics shared by the load generator and the benchmark harness."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["LatencySummary", "percentile", "summarize_latencies"]


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """The ``fraction`` quantile (0..1) of already sorted values, linearly interpolated.

    The same definition as ``numpy.percentile``'s default ("linear"): the quantile sits at
    rank ``fraction * (n - 1)`` and is interpolated between its two neighbours.
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be within [0, 1], not {fraction}")
    if not sorted_values:
        return math.nan
    rank = fraction * (len(sorted_values) - 1)
    low = math.floor(rank)
    high = math.ceil(rank)
    if low == high:
        return float(sorted_values[low])
    weight = rank - low
    return sorted_values[low] * (1.0 - weight) + sorted_values[high] * weight


@dataclass(frozen=True, slots=True)
class LatencySummary:
    """Latency percentiles in milliseconds over ``count`` calls."""

    count: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float


def summarize_latencies(latencies_s: Sequence[float]) -> LatencySummary:
    """Summarize call latencies given in seconds (any order) as milliseconds."""
    ordered = sorted(latencies_s)
    if not ordered:
        return LatencySummary(0, math.nan, math.nan, math.nan, math.nan, math.nan)
    return LatencySummary(
        count=len(ordered),
        p50_ms=percentile(ordered, 0.50) * 1000.0,
        p95_ms=percentile(ordered, 0.95) * 1000.0,
        p99_ms=percentile(ordered, 0.99) * 1000.0,
        max_ms=ordered[-1] * 1000.0,
        mean_ms=sum(ordered) / len(ordered) * 1000.0,
    )
