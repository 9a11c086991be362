"""Load profiles: how a benchmark loads each model, and the limits that keep it bounded.

``fixed``: ``num_runs`` requests per model at ``concurrency`` (the original's benchmark).
``concurrency_sweep``: for each level C, C streams send requests back to back (a closed
loop) for the step. ``rate_sweep``: for each level R, requests leave at R per second (evenly
spaced, or Poisson arrivals) whatever the answers do (an open loop). A step lasts
``step_seconds`` or ``step_requests``. Sweeps measure one model at a time, so each model's
steps see only their own load. Definitions: docs/metrics.md, "Load profiles and capacity".
"""

import itertools
import math
import random
from dataclasses import dataclass

FIXED, CONCURRENCY_SWEEP, RATE_SWEEP = "fixed", "concurrency_sweep", "rate_sweep"
SWEEPS = (CONCURRENCY_SWEEP, RATE_SWEEP)
ARRIVALS = ("constant", "poisson")

MAX_LEVELS = 16
MAX_CONCURRENCY = 256  # streams of one step (the engine's connection pool holds 1,000)
# Requests per second one engine process paces to within a few milliseconds while it also
# reads every stream (manage.py sweep_bench prints the pacing error per step).
MAX_RATE = 100.0
MIN_RATE = 0.05
MAX_STEP_SECONDS = 600
MAX_STEP_REQUESTS = 5_000
# Per run: the requests a sweep may send (models × steps), and how long it may last (the
# worker task's timeout is an hour: benchmarks.services.start).
MAX_SWEEP_REQUESTS = 20_000
MAX_SWEEP_SECONDS = 3_000


class LoadError(ValueError):
    """A load spec breaks a rule: ``field`` names the key (``load.levels``, ``profile``...)."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Load:
    profile: str
    levels: tuple[float, ...]
    step_seconds: float | None = None
    step_requests: int | None = None
    arrivals: str = "constant"

    @property
    def is_rate(self) -> bool:
        return self.profile == RATE_SWEEP

    def as_dict(self) -> dict:
        out = {"levels": list(self.levels), "arrivals": self.arrivals}
        if self.step_seconds is not None:
            out["step_seconds"] = self.step_seconds
        if self.step_requests is not None:
            out["step_requests"] = self.step_requests
        if not self.is_rate:
            out.pop("arrivals")
        return out

    def requests_per_model(self) -> int | None:
        """Requests one model is sent (None: a concurrency sweep timed by seconds)."""
        if self.step_requests is not None:
            return self.step_requests * len(self.levels)
        if self.is_rate:
            return sum(math.ceil(rate * self.step_seconds) for rate in self.levels)
        return None

    def seconds_per_model(self) -> float | None:
        """The steps' set durations (None when steps count requests)."""
        if self.step_seconds is None:
            return None
        return self.step_seconds * len(self.levels)


def doubling(start: float, top: float) -> list[float]:
    """start, 2×start, 4×start … up to top, and top itself: 1, 2, 4, … 64."""
    levels, level = [], start
    while level < top:
        levels.append(level)
        level *= 2
    levels.append(top)
    return levels


def parse(profile: str, spec: dict | None, *, models: int = 1) -> Load | None:
    """The Load a benchmark request asks for (None for a fixed run), or LoadError."""
    if profile == FIXED:
        if spec:
            raise LoadError("load", "A fixed run takes no load; choose a sweep profile.")
        return None
    if profile not in SWEEPS:
        raise LoadError("profile", f"Unknown profile '{profile}'.")
    if not spec:
        raise LoadError("load", f"A {profile} needs a load: levels (or max) and a step length.")
    is_rate = profile == RATE_SWEEP
    unit = "requests per second" if is_rate else "concurrent streams"
    top = MAX_RATE if is_rate else MAX_CONCURRENCY
    bottom = MIN_RATE if is_rate else 1
    if spec.get("levels"):
        if spec.get("max") is not None:
            raise LoadError("load.max", "Give levels or max, not both.")
        levels = list(spec["levels"])
    elif spec.get("max") is not None:
        start = spec.get("start") or 1
        if start > spec["max"]:
            raise LoadError("load.start", "start must not exceed max.")
        levels = doubling(start, spec["max"])
    else:
        raise LoadError("load.levels", "Give the levels, or max (doubling from 1).")
    if not is_rate and any(level != int(level) for level in levels):
        raise LoadError("load.levels", "Concurrency levels are whole numbers of streams.")
    if len(levels) > MAX_LEVELS:
        raise LoadError("load.levels", f"At most {MAX_LEVELS} levels ({len(levels)} given).")
    if any(b <= a for a, b in itertools.pairwise(levels)):
        raise LoadError("load.levels", "Levels must increase.")
    if levels[0] < bottom:
        raise LoadError("load.levels", f"Levels start at {bottom:g} {unit} or more.")
    if levels[-1] > top:
        why = " (one engine process paces up to that)" if is_rate else ""
        raise LoadError("load.levels", f"At most {top:g} {unit}{why}; {levels[-1]:g} asked.")
    seconds, count = spec.get("step_seconds"), spec.get("step_requests")
    if (seconds is None) == (count is None):
        raise LoadError("load.step_seconds", "Give step_seconds or step_requests (one of them).")
    if count is not None and not is_rate and count < levels[-1]:
        raise LoadError(
            "load.step_requests",
            f"A step of {count} requests cannot keep {levels[-1]:g} streams busy; "
            f"give at least {levels[-1]:g}.",
        )
    arrivals = spec.get("arrivals") or "constant"
    if arrivals != "constant" and not is_rate:
        raise LoadError("load.arrivals", "Arrivals apply to rate sweeps only.")
    load = Load(
        profile=profile,
        levels=tuple(float(v) if is_rate else int(v) for v in levels),
        step_seconds=seconds,
        step_requests=count,
        arrivals=arrivals,
    )
    per_model = load.requests_per_model()
    if per_model is not None and per_model * models > MAX_SWEEP_REQUESTS:
        raise LoadError(
            "load",
            f"The sweep would send {per_model * models:,} requests "
            f"({models} model(s) × {per_model:,}); the limit is {MAX_SWEEP_REQUESTS:,}.",
        )
    seconds_total = load.seconds_per_model()
    if seconds_total is not None and seconds_total * models > MAX_SWEEP_SECONDS:
        raise LoadError(
            "load",
            f"The sweep's steps would last {seconds_total * models:,.0f} s "
            f"({models} model(s) × {len(levels)} steps × {seconds:g} s); "
            f"the limit is {MAX_SWEEP_SECONDS:,} s.",
        )
    return load


def from_run(run) -> Load | None:
    """The Load of a stored run (validated when it was created)."""
    if run.profile == FIXED or not run.load:
        return None
    return parse(run.profile, run.load, models=len(run.model_ids))


def arrivals(load: Load, rate: float, *, seed: str) -> list[float]:
    """When each request of a rate step leaves, in seconds from the step's start.

    Constant: every 1/rate s. Poisson: exponential gaps of mean 1/rate from a generator
    seeded by the run and step, so a re-run sends the same pattern. The step ends after
    step_seconds (arrivals before it) or step_requests arrivals."""
    rng = random.Random(seed)
    times, at = [], 0.0
    while True:
        if load.step_requests is not None and len(times) >= load.step_requests:
            return times
        if load.step_seconds is not None and at >= load.step_seconds:
            return times
        times.append(at)
        at += rng.expovariate(rate) if load.arrivals == "poisson" else 1 / rate
