"""Error budgets and burn rates of the SLOs (monitoring.models.Slo); docs/metrics.md "SLOs".

An objective sorts checks into good and bad:
- availability: good = up or degraded, bad = down (metrics.md's availability);
- latency: of the checks that succeeded, good = TTFT (or total latency) at most the threshold.
Checks made during a maintenance window are not counted, as everywhere else.

The error budget is the share of checks an objective lets be bad, 1 − target. Over the SLO's
period, budget remaining = 1 − bad / (budget × checks): 1 untouched, 0 spent, below 0
overspent. The period is the last ``period_days`` from the start of the current hour, read
from the rollups (day rows for whole days, hour rows at both ends); days before yesterday no
longer change, so their sums are read once a day and cached.

A window's burn rate is its bad share over the budget share: at 1× the budget lasts exactly
the period; 14.4× spends 2 % of a 30-day budget in an hour. Alerts follow the SRE workbook's
multi-window, multi-burn-rate rule ("Alerting on SLOs", recommended parameters): *fast* when
the 1 h and the 5 min windows both burn at 14.4× or more, *slow* when the 6 h and the 30 min
windows both burn at 6× or more; the short window lets the alert stop soon after the burning
does. The windows are counted from the raw checks of the last six hours, in one query per SLO.
"""

import hashlib
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.core.cache import cache
from django.db.models import Count, Q
from django.utils import timezone

from monitoring import sketch
from monitoring.models import CheckRollup, Slo, UptimeCheck
from providers.models import LLMModel

WINDOWS = {
    "5m": timedelta(minutes=5),
    "30m": timedelta(minutes=30),
    "1h": timedelta(hours=1),
    "6h": timedelta(hours=6),
}
SETTLED_CACHE_SECONDS = 2 * 24 * 3600  # a settled day's key changes daily anyway
METRIC_FIELDS = {Slo.LatencyMetric.TTFT: "ttft_ms", Slo.LatencyMetric.LATENCY: "latency_ms"}


@dataclass(frozen=True)
class BurnAlert:
    name: str
    long: str  # WINDOWS keys
    short: str
    rate: float


BURN_ALERTS = (BurnAlert("fast", "1h", "5m", 14.4), BurnAlert("slow", "6h", "30m", 6.0))


@dataclass
class Tally:
    good: int = 0
    total: int = 0

    @property
    def bad(self) -> int:
        return self.total - self.good


@dataclass
class Objective:
    kind: str  # "availability", or the latency metric ("ttft", "latency")
    target: float  # percent
    threshold_ms: int | None
    period: Tally
    windows: dict[str, Tally] = field(default_factory=dict)

    @property
    def budget(self) -> float:
        """The share of checks allowed to be bad."""
        return 1 - self.target / 100

    @property
    def sli(self) -> float | None:
        """The percentage of good checks over the period."""
        return 100 * self.period.good / self.period.total if self.period.total else None

    @property
    def allowed_bad(self) -> float:
        return self.budget * self.period.total

    @property
    def budget_remaining(self) -> float | None:
        """1 − bad / allowed bad; a 100 % target has no budget: 1 until a bad check, then −∞."""
        if not self.period.total:
            return None
        if self.allowed_bad <= 0:
            return 1.0 if not self.period.bad else -math.inf
        return 1 - self.period.bad / self.allowed_bad

    def burn_rate(self, window: str) -> float | None:
        """The window's bad share over the budget share (None: no checks in the window)."""
        tally = self.windows.get(window)
        if tally is None or not tally.total:
            return None
        share = tally.bad / tally.total
        if self.budget <= 0:
            return 0.0 if not share else math.inf
        # Rounded so that a burn of exactly 14.4× is not 14.399999… in binary floating point.
        return round(share / self.budget, 9)

    @property
    def firing(self) -> list[BurnAlert]:
        """The burn-rate alerts whose two windows both burn at their rate or faster."""
        out = []
        for alert in BURN_ALERTS:
            rates = [self.burn_rate(alert.long), self.burn_rate(alert.short)]
            if all(rate is not None and rate >= alert.rate for rate in rates):
                out.append(alert)
        return out

    @property
    def observed(self) -> bool:
        """Whether the alert windows saw any check (else there is no verdict to give)."""
        return any(self.windows.get(w) and self.windows[w].total for w in WINDOWS)


@dataclass
class Report:
    slo: Slo
    objectives: list[Objective]
    computed_at: datetime

    @property
    def firing(self) -> list[tuple[Objective, BurnAlert]]:
        return [(o, alert) for o in self.objectives for alert in o.firing]

    @property
    def budget_remaining(self) -> float | None:
        """The lowest remaining budget of the objectives (the one that matters first)."""
        values = [o.budget_remaining for o in self.objectives if o.budget_remaining is not None]
        return min(values) if values else None

    @property
    def state(self) -> tuple[str, str]:
        """(label, status class) now: the worst of the burn alerts and the budget."""
        firing = {alert.name for _, alert in self.firing}
        if "fast" in firing:
            return "Fast burn", "down"
        if "slow" in firing:
            return "Slow burn", "degraded"
        left = self.budget_remaining
        if left is None:
            return "No data", "unknown"
        if left <= 0:
            return "Budget spent", "down"
        return "Within budget", "up"


def budget_shown(left: float | None) -> str:
    """Budget remaining as shown: "65 %", "−30 %" (overspent), "spent" (no budget at all)."""
    if left is None:
        return "—"
    return "spent" if math.isinf(left) else f"{100 * left:.0f} %".replace("-", "−")


def times(rate: float | None) -> str:
    """A burn rate as shown: "16.7×", "∞×" (a 100 % target's), "–" (no checks)."""
    if rate is None:
        return "–"
    return "∞×" if math.isinf(rate) else f"{rate:.1f}×"


def model_ids(slo: Slo) -> list:
    if slo.model_id:
        return [slo.model_id]
    return list(
        LLMModel.objects.filter(provider_account_id=slo.account_id).values_list("id", flat=True)
    )


def report(slo: Slo, *, now: datetime | None = None) -> Report:
    now = now or timezone.now()
    ids = model_ids(slo)
    objectives = []
    if slo.availability_target is not None:
        objectives.append(Objective("availability", slo.availability_target, None, Tally()))
    if slo.latency_target is not None:
        objectives.append(
            Objective(slo.latency_metric, slo.latency_target, slo.latency_threshold_ms, Tally())
        )
    _count_period(slo, ids, now, objectives)
    _count_windows(ids, now, objectives)
    return Report(slo, objectives, now)


def period_start(slo: Slo, now: datetime) -> datetime:
    return now.replace(minute=0, second=0, microsecond=0) - timedelta(days=slo.period_days)


def _count_period(slo: Slo, ids: list, now: datetime, objectives: list[Objective]) -> None:
    start = period_start(slo, now)
    first_day = start.replace(hour=0)
    if first_day < start:
        first_day += timedelta(days=1)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    # Days before yesterday are settled (a pass that crosses midnight still writes to
    # yesterday): their sums are read once a day and cached, so a long period costs the
    # hours at both ends and yesterday's row.
    settled = max(first_day, today - timedelta(days=1))
    hour, day = CheckRollup.Resolution.HOUR, CheckRollup.Resolution.DAY
    rollups = CheckRollup.objects.filter(model_id__in=ids)
    ids_digest = hashlib.sha256(",".join(sorted(map(str, ids))).encode()).hexdigest()[:16]
    key = (
        f"slo-days:{slo.pk}:{slo.updated_at.timestamp() if slo.updated_at else 0}:"
        f"{first_day:%Y%m%d}:{settled:%Y%m%d}:{ids_digest}"
    )
    days = cache.get(key)
    if days is None:
        days = _tally(
            rollups.filter(resolution=day, bucket__gte=first_day, bucket__lt=settled), objectives
        )
        cache.set(key, days, SETTLED_CACHE_SECONDS)
    recent = _tally(
        rollups.filter(
            Q(resolution=hour, bucket__gte=start, bucket__lt=first_day)
            | Q(resolution=day, bucket__gte=settled, bucket__lt=today)
            | Q(resolution=hour, bucket__gte=today)
        ),
        objectives,
    )
    for objective, (good, total), (more_good, more_total) in zip(
        objectives, days, recent, strict=True
    ):
        objective.period = Tally(good=good + more_good, total=total + more_total)


def _tally(rows, objectives: list[Objective]) -> list[tuple[int, int]]:
    """(good, total) of each objective over the rollup ``rows``.

    A bucket has one row per probe region: counts add, and so do the rows' latency counts
    (count_at_most sums a summary's buckets, so per row it equals reading the merged summary).
    """
    metrics = [o.kind for o in objectives if o.kind != "availability"]  # sketch columns
    sums = [[0, 0] for _ in objectives]
    for n, up, degraded, *summaries in rows.values_list("n", "up", "degraded", *metrics):
        summary_of = dict(zip(metrics, summaries, strict=True))
        for objective, tally in zip(objectives, sums, strict=True):
            if objective.kind == "availability":
                tally[0] += up + degraded
                tally[1] += n
            else:
                summary = summary_of[objective.kind]
                tally[0] += sketch.count_at_most(summary, objective.threshold_ms)
                tally[1] += (summary or {}).get("n", 0)
    return [tuple(tally) for tally in sums]


def _count_windows(ids: list, now: datetime, objectives: list[Objective]) -> None:
    aggregates = {}
    for name, span in WINDOWS.items():
        recent = Q(created_at__gt=now - span)
        for i, objective in enumerate(objectives):
            if objective.kind == "availability":
                counted, good = recent, recent & ~Q(status=UptimeCheck.Status.DOWN)
            else:
                column = METRIC_FIELDS[objective.kind]
                counted = recent & Q(error_type__isnull=True, **{f"{column}__isnull": False})
                good = counted & Q(**{f"{column}__lte": objective.threshold_ms})
            aggregates[f"total_{i}_{name}"] = Count("pk", filter=counted)
            aggregates[f"good_{i}_{name}"] = Count("pk", filter=good)
    counts = UptimeCheck.objects.filter(
        model_id__in=ids,
        in_maintenance=False,
        created_at__gt=now - max(WINDOWS.values()),
        created_at__lte=now,
    ).aggregate(**aggregates)
    for i, objective in enumerate(objectives):
        objective.windows = {
            name: Tally(good=counts[f"good_{i}_{name}"], total=counts[f"total_{i}_{name}"])
            for name in WINDOWS
        }


def reports(slos, *, now: datetime | None = None) -> list[Report]:
    now = now or timezone.now()
    return [report(slo, now=now) for slo in slos]


def save(*, slo: Slo | None = None, **data) -> Slo:
    """Create an SLO, or change ``slo``; ``data`` is SloSerializer's validated data (the rules
    are ``Slo.clean``)."""
    slo = slo or Slo()
    for name, value in data.items():
        setattr(slo, name, value)
    slo.save()
    return slo


def delete(*, slo: Slo) -> None:
    slo.delete()
