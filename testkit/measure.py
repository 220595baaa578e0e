"""What the benches report: percentiles of latency samples."""

from __future__ import annotations


def percentile(values: list[float], fraction: float) -> float:
    """The sample at ``fraction`` of the sorted ``values`` (nearest rank; NaN when empty)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]
