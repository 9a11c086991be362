"""A mergeable quantile summary (DDSketch-style log buckets) for the check rollups.

Percentiles of a day or a month are computed by merging per-hour summaries, never by
averaging per-hour percentiles. Values fall in buckets whose width is 2 % of their value, so
any quantile read back is within 1 % (relative) of a true sample value at that rank. Counts
are exact. The summary is a small JSON object: {"n": count, "z": zeros, "b": {index: count}}.
"""

import math

ALPHA = 0.01
GAMMA = (1 + ALPHA) / (1 - ALPHA)
LOG_GAMMA = math.log(GAMMA)


def empty() -> dict:
    return {"n": 0, "z": 0, "b": {}}


def add(sketch: dict, value: float | None) -> None:
    """Add one value (None is ignored; values ≤ 0 are counted as zero)."""
    if value is None:
        return
    sketch["n"] += 1
    if value <= 0:
        sketch["z"] += 1
        return
    key = str(math.ceil(math.log(value) / LOG_GAMMA))
    sketch["b"][key] = sketch["b"].get(key, 0) + 1


def merge(into: dict, other: dict | None) -> dict:
    if not other:
        return into
    into["n"] += other.get("n", 0)
    into["z"] += other.get("z", 0)
    buckets = into["b"]
    for key, count in other.get("b", {}).items():
        buckets[key] = buckets.get(key, 0) + count
    return into


def _representative(key: str | int) -> float:
    """The value a bucket's samples are read back as (within 1 % of each of them)."""
    return 2 * GAMMA ** int(key) / (GAMMA + 1)


def _value_at(sketch: dict, rank: int, keys: list[str]) -> float:
    """The representative value of the sample at 0-based ``rank`` (ascending)."""
    seen = sketch.get("z", 0)
    if rank < seen:
        return 0.0
    for key in keys:
        seen += sketch["b"][key]
        if rank < seen:
            return _representative(key)
    return _representative(keys[-1])


def count_at_most(sketch: dict | None, limit: float) -> int:
    """How many values are at most ``limit``, each read back as its bucket's representative
    (as ``quantile`` reads it): exact for values more than 1 % away from ``limit``."""
    if not sketch:
        return 0
    if limit < 0:
        return 0
    count = sketch.get("z", 0)
    if limit == 0:
        return count
    # The highest bucket whose representative is at most ``limit`` (checked both ways against
    # rounding in the logarithm).
    top = math.floor(math.log(limit * (GAMMA + 1) / 2) / LOG_GAMMA)
    if _representative(top + 1) <= limit:
        top += 1
    elif _representative(top) > limit:
        top -= 1
    return count + sum(n for key, n in sketch.get("b", {}).items() if int(key) <= top)


def quantile(sketch: dict | None, q: float) -> float | None:
    """The value at quantile ``q`` (0–1), or None for an empty summary.

    Like metrics.md's percentiles, it interpolates linearly between the two closest ranks
    (NumPy's default), each rank read back within 1 % of its true value.
    """
    if not sketch or not sketch.get("n"):
        return None
    keys = sorted(sketch["b"], key=int)
    if not keys:
        return 0.0
    rank = q * (sketch["n"] - 1)
    low, high = math.floor(rank), math.ceil(rank)
    low_value = _value_at(sketch, low, keys)
    if high == low:
        return low_value
    high_value = _value_at(sketch, high, keys)
    return low_value + (high_value - low_value) * (rank - low)
