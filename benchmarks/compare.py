"""Is B really different from A, or is it noise? Bootstrap confidence intervals.

``difference(a, b)`` is the relative change of a percentile from sample A (the baseline) to
sample B: ``p(B) / p(A) - 1``, with a percentile-bootstrap interval. Both samples are
resampled with replacement ``resamples`` times; the interval holds the middle ``confidence``
share of the resampled changes. Seeded, so the same samples always give the same interval.
The change is significant when the interval leaves out 0 (docs/metrics.md, "Comparing runs").
"""

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from arguslm.stats import percentile

RESAMPLES = 2000
CONFIDENCE = 0.95
MIN_SAMPLES = 5  # fewer successful requests on either side: no interval


@dataclass(frozen=True)
class Difference:
    baseline: float  # the percentile of A
    value: float  # the percentile of B
    change: float  # value / baseline - 1
    low: float  # the interval of the change
    high: float
    n_baseline: int
    n: int

    @property
    def significant(self) -> bool:
        return self.low > 0 or self.high < 0

    def __str__(self) -> str:
        """``+18 % [+12, +25]``: the change and its interval, in percent."""
        return f"{_pct(self.change)} % [{_pct(self.low)}, {_pct(self.high)}]"

    def as_dict(self) -> dict:
        return {
            "baseline": round(self.baseline, 3),
            "value": round(self.value, 3),
            "change_percent": round(self.change * 100, 2),
            "ci_low_percent": round(self.low * 100, 2),
            "ci_high_percent": round(self.high * 100, 2),
            "significant": self.significant,
            "n_baseline": self.n_baseline,
            "n": self.n,
            "text": str(self),
        }


def _pct(ratio: float) -> str:
    value = ratio * 100
    return f"{value:+.0f}" if abs(value) >= 10 else f"{value:+.1f}"


def difference(
    a: Sequence[float],
    b: Sequence[float],
    *,
    q: float = 50,
    confidence: float = CONFIDENCE,
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> Difference | None:
    """The change of the q-th percentile from A to B with its interval; None when either
    side has fewer than MIN_SAMPLES values or A's percentile is 0."""
    a = sorted(v for v in a if v is not None and math.isfinite(v))
    b = sorted(v for v in b if v is not None and math.isfinite(v))
    if len(a) < MIN_SAMPLES or len(b) < MIN_SAMPLES:
        return None
    base, value = percentile(a, q), percentile(b, q)
    if not base:
        return None
    rng = random.Random(seed)
    changes = []
    for _ in range(resamples):
        ra = percentile(rng.choices(a, k=len(a)), q)
        rb = percentile(rng.choices(b, k=len(b)), q)
        if ra:
            changes.append(rb / ra - 1)
    tail = (1 - confidence) / 2 * 100
    return Difference(
        baseline=base,
        value=value,
        change=value / base - 1,
        low=percentile(changes, tail),
        high=percentile(changes, 100 - tail),
        n_baseline=len(a),
        n=len(b),
    )
