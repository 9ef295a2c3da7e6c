"""Call-duration histograms binned by the data: the bin width is the smallest round width
(seconds) that covers the calls' range in at most MAX_BINS bins, so two-minute calls are not
squeezed into two 60-second bars and hour-long ones do not spread over sixty.

Each backend finds the range and counts the calls per bin in SQL; this module holds the choice
of width and the shape of the answer they share.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

NICE_WIDTHS_SECS: tuple[float, ...] = (
    1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 86400,
)  # fmt: skip
MAX_BINS = 24


def bin_width(low: float, high: float, max_bins: int = MAX_BINS) -> float:
    """The smallest width in NICE_WIDTHS_SECS whose aligned bins cover [low, high] in at most
    `max_bins` bins (the largest width when none does)."""
    for width in NICE_WIDTHS_SECS:
        if math.floor(high / width) - math.floor(low / width) + 1 <= max_bins:
            return width
    return NICE_WIDTHS_SECS[-1]


def bins(counts: Mapping[int, int], width: float) -> list[dict[str, float | int]]:
    """Bins from the lowest to the highest occupied one, empty ones included (a gap in the
    data shows as a gap, not as two neighbouring bars): `bucket` n is [n * width, (n+1) * width)."""
    if not counts:
        return []
    low, high = min(counts), max(counts)
    return [
        {
            "bucket_start_secs": bucket * width,
            "bucket_end_secs": (bucket + 1) * width,
            "calls": int(counts.get(bucket, 0)),
        }
        for bucket in range(low, high + 1)
    ]


def histogram_from(answer: Mapping[str, object] | None) -> list[dict[str, float | int]]:
    """Bins from a SQL function's `{"width": w, "counts": [{"bucket": n, "calls": k}, ...]}`."""
    if not answer or answer.get("width") is None:
        return []
    counts = answer.get("counts") or []
    width = float(answer["width"])  # type: ignore[arg-type]
    return bins({int(row["bucket"]): int(row["calls"]) for row in counts}, width)  # type: ignore[index]
