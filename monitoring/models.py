"""Monitoring: the global config, each pass (run) and every probe's uptime check."""

import uuid
from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from arguslm.models import MeasuredSample
from providers.models import LLMModel


class MonitoringConfig(models.Model):
    """The one monitoring configuration row (``MonitoringConfig.get()``)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    interval_minutes = models.PositiveIntegerField(default=5, validators=[MinValueValidator(1)])
    prompt_pack = models.CharField(max_length=100, default="health_check")
    enabled = models.BooleanField(default=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    # Degraded thresholds (metrics.md "Status of a monitoring check"); None = off.
    degraded_ttft_ms = models.PositiveIntegerField(null=True, blank=True)
    degraded_latency_ms = models.PositiveIntegerField(null=True, blank=True)
    max_tokens = models.PositiveIntegerField(
        default=100, validators=[MinValueValidator(1), MaxValueValidator(4096)]
    )
    timeout_seconds = models.PositiveIntegerField(
        default=30, validators=[MinValueValidator(1), MaxValueValidator(600)]
    )
    concurrency_per_account = models.PositiveIntegerField(
        default=8, validators=[MinValueValidator(1), MaxValueValidator(256)]
    )
    retention_days = models.PositiveIntegerField(default=30, validators=[MinValueValidator(1)])
    # Scheduled passes pause once this month's probe spend reaches it (monitoring.costs).
    monthly_budget_usd = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0"))],
    )
    # With several regions, a model is down when at least this many of the regions that
    # probed it saw it down (monitoring.regions.agree); None = a majority.
    down_quorum = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(64)]
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        state = "on" if self.enabled else "off"
        return f"Monitoring every {self.interval_minutes} min ({state})"

    def save(self, *args, **kwargs) -> None:
        """Save, and make the schedules follow (interval, on/off) from any path: the page, the
        API, the admin, a shell or a worker."""
        super().save(*args, **kwargs)
        from arguslm.schedules import reconcile  # schedules read this model

        reconcile()

    @classmethod
    def get(cls) -> "MonitoringConfig":
        config = cls.objects.order_by("created_at").first()
        return config if config is not None else cls.objects.create()

    def status_for(self, sample, model: LLMModel) -> str:
        """up / degraded / down for one probe's sample (metrics.md)."""
        if sample.error_type in ("rate_limited", "bad_answer"):  # it answers, not as it should
            return UptimeCheck.Status.DEGRADED
        if sample.error_type is not None:
            return UptimeCheck.Status.DOWN
        ttft_limit = model.degraded_ttft_ms or self.degraded_ttft_ms
        latency_limit = model.degraded_latency_ms or self.degraded_latency_ms
        if ttft_limit and sample.ttft_ms is not None and sample.ttft_ms > ttft_limit:
            return UptimeCheck.Status.DEGRADED
        if latency_limit and sample.latency_ms is not None and sample.latency_ms > latency_limit:
            return UptimeCheck.Status.DEGRADED
        return UptimeCheck.Status.UP


class MonitoringRun(models.Model):
    """One monitoring pass: queued → running → completed / failed, or skipped (overlap)."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        COMPLETED = "completed"
        FAILED = "failed"
        SKIPPED = "skipped"

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule"
        MANUAL = "manual"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    trigger = models.CharField(max_length=20, choices=Trigger.choices, default=Trigger.MANUAL)
    prompt_pack = models.CharField(max_length=100, default="health_check")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Liveness of the workers executing the pass: a running pass whose heartbeat stops is
    # closed as failed by the next pass (the worker was killed).
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    shards_total = models.PositiveIntegerField(default=0)
    # Shards finished or given up (their region's workers gone): the run closes when every
    # shard is settled.
    shards_done = models.PositiveIntegerField(default=0)
    # The regions this pass probes from (those with a live worker when it started).
    regions = models.JSONField(default=list, blank=True)
    # Queued behind a pass held up by a worker that is gone: started when that one closes.
    waiting = models.BooleanField(default=False)
    total = models.PositiveIntegerField(default=0)
    up = models.PositiveIntegerField(default=0)
    degraded = models.PositiveIntegerField(default=0)
    down = models.PositiveIntegerField(default=0)
    message = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # Overlap guard and stale-run detection look up active runs.
            models.Index(fields=["status", "created_at"], name="run_status_idx"),
        ]

    def __str__(self) -> str:
        return f"Monitoring run {self.id} ({self.status})"

    @property
    def duration_ms(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds() * 1000
        return None


class UptimeCheck(MeasuredSample):
    """One probe of one model: its status and measurements (metrics.md fields)."""

    class Status(models.TextChoices):
        UP = "up"
        DEGRADED = "degraded"
        DOWN = "down"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    model = models.ForeignKey(LLMModel, on_delete=models.CASCADE, related_name="uptime_checks")
    run = models.ForeignKey(
        MonitoringRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="checks"
    )
    status = models.CharField(max_length=10, choices=Status.choices)
    created_at = models.DateTimeField()
    # Where the probe ran from (settings.ARGUSLM_REGION of its worker).
    region = models.CharField(max_length=32, default="default")
    # Probed during a maintenance window: kept and shown, but out of availability, the rollups
    # and alerting (monitoring.maintenance).
    in_maintenance = models.BooleanField(default=False)
    # The answer's start, credentials and prompt removed (arguslm.llm.measure): what came back.
    answer_excerpt = models.CharField(max_length=200, blank=True, default="")
    # The model's fingerprint in this answer (monitoring.drift): what the response says served
    # it, a digest and the length of the answer, and whether it was a refusal.
    served_model = models.CharField(max_length=200, null=True, blank=True)
    system_fingerprint = models.CharField(max_length=200, null=True, blank=True)
    answer_hash = models.CharField(max_length=16, blank=True, default="")
    answer_chars = models.PositiveIntegerField(null=True, blank=True)
    refusal = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # GET /monitoring/uptime (newest first), exports by date, the retention prune, the
            # probe-cost figures (monitoring.costs: last 24 h, this month).
            models.Index(fields=["-created_at"], name="check_created_idx"),
            # Per-model history: uptime?model_id=, dashboard cards, alert evaluation.
            models.Index(fields=["model", "-created_at"], name="check_model_created_idx"),
            # uptime?status= filters.
            models.Index(fields=["status", "-created_at"], name="check_status_created_idx"),
            # uptime?region= filters.
            models.Index(fields=["region", "-created_at"], name="check_region_created_idx"),
            # A shard taken over: which of its models this pass already checked there.
            models.Index(fields=["run", "region"], name="check_run_region_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.model_id} {self.status} at {self.created_at:%Y-%m-%d %H:%M:%S}"


class LatestCheck(models.Model):
    """A status and the figures of the check that set it (monitoring.rollups.STATUS_FIELDS)."""

    status = models.CharField(max_length=10, choices=UptimeCheck.Status.choices)
    checked_at = models.DateTimeField()
    ttft_ms = models.FloatField(null=True, blank=True)
    latency_ms = models.FloatField(null=True, blank=True)
    tps_excluding_ttft = models.FloatField(null=True, blank=True)
    error_type = models.CharField(max_length=20, null=True, blank=True)
    error = models.TextField(null=True, blank=True)

    class Meta:
        abstract = True


class ModelStatus(LatestCheck):
    """Each model's latest status, kept beside it so pages never scan the checks table: with
    one region its latest check, with several the regions' agreement (monitoring.regions)."""

    model = models.OneToOneField(
        LLMModel, on_delete=models.CASCADE, primary_key=True, related_name="status"
    )

    def __str__(self) -> str:
        return f"{self.model_id}: {self.status}"


class RegionStatus(LatestCheck):
    """The latest check of a model from one region (written by that region's shard only)."""

    model = models.ForeignKey(LLMModel, on_delete=models.CASCADE, related_name="region_statuses")
    region = models.CharField(max_length=32)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["model", "region"], name="one_status_per_region")
        ]

    def __str__(self) -> str:
        return f"{self.model_id} in {self.region}: {self.status}"


class Region(models.Model):
    """A place probes run from, known by its workers' heartbeats (monitoring.regions)."""

    name = models.CharField(max_length=32, primary_key=True)
    # Written every few seconds by each live worker cluster of the region.
    last_seen_at = models.DateTimeField()
    # The last cluster that beat ("host:pid"), for the operator looking for it.
    last_worker = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class MonitoringShard(models.Model):
    """Some of a pass's models, probed from one region by whichever worker holds its lease.

    A worker renews the lease as it stores checks; when a lease runs out (the worker was
    killed), a live worker of the region takes the shard over and probes the models that have
    no check yet (monitoring.regions.keep).
    """

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        LOST = "lost"  # its region's workers were gone

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    run = models.ForeignKey(MonitoringRun, on_delete=models.CASCADE, related_name="shards")
    region = models.CharField(max_length=32)
    model_ids = models.JSONField(default=list)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    worker = models.CharField(max_length=200, blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)
    enqueued_at = models.DateTimeField()
    lease_until = models.DateTimeField(null=True, blank=True)
    stored = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["status", "region"], name="shard_status_region_idx")]

    def __str__(self) -> str:
        return f"Shard {self.id} of {self.run_id} in {self.region} ({self.status})"


class CheckRollup(models.Model):
    """Checks of one model in one hour or day: exact counts, mergeable quantile summaries.

    Maintained as checks are stored (monitoring.rollups), kept longer than raw checks, and
    read by every chart: a 30-day chart reads 30 rows per model, never 8,640 raw checks.
    """

    class Resolution(models.TextChoices):
        HOUR = "hour"
        DAY = "day"

    model = models.ForeignKey(LLMModel, on_delete=models.CASCADE, related_name="rollups")
    region = models.CharField(max_length=32, default="default")
    resolution = models.CharField(max_length=4, choices=Resolution.choices)
    bucket = models.DateTimeField()
    n = models.PositiveIntegerField(default=0)
    up = models.PositiveIntegerField(default=0)
    degraded = models.PositiveIntegerField(default=0)
    down = models.PositiveIntegerField(default=0)
    ttft = models.JSONField(default=dict)  # monitoring.sketch summaries of successful checks
    latency = models.JSONField(default=dict)
    tps = models.JSONField(default=dict)  # tps_excluding_ttft (the dashboard's "tok/s")
    latency_p50 = models.FloatField(null=True, blank=True)  # for sparklines

    class Meta:
        constraints = [
            # One writer per row: a model is in one shard per region and pass. Region last:
            # the dashboard looks a model's buckets up by (model, resolution, bucket range)
            # in this index (dashboard.queries.rollup_rows).
            models.UniqueConstraint(
                fields=["model", "resolution", "bucket", "region"],
                name="one_rollup_per_region_bucket",
            )
        ]
        indexes = [
            # Charts: every model's buckets of one resolution in a time range.
            models.Index(fields=["resolution", "bucket"], name="rollup_resolution_bucket_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.model_id} {self.resolution} {self.bucket:%Y-%m-%d %H:%M}"


class CheckCount(models.Model):
    """How many raw checks of a model with a status are stored (exact, kept with the rows).

    ``GET /monitoring/uptime`` reports ``total``; counting millions of rows on every call costs
    ~100 ms, so the count is kept here: incremented as checks are stored, decremented as they
    are pruned, cascaded with its model.
    """

    model = models.ForeignKey(LLMModel, on_delete=models.CASCADE, related_name="check_counts")
    status = models.CharField(max_length=10, choices=UptimeCheck.Status.choices)
    count = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["model", "status"], name="one_count_per_model_status")
        ]

    def __str__(self) -> str:
        return f"{self.model_id} {self.status}: {self.count}"

    @classmethod
    def add(cls, counts: dict) -> None:
        """Apply {(model_id, status): delta} in one statement per key (rare: once per batch).
        Two regions may add to a new row at once: it is created if missing, then updated. Rows
        are taken in one order, so two regions' batches never deadlock on them."""
        from django.db.models import F

        for (model_id, status), delta in sorted(counts.items(), key=lambda i: str(i[0])):
            if not delta:
                continue
            keyed = cls.objects.filter(model_id=model_id, status=status)
            if not keyed.update(count=F("count") + delta):
                cls.objects.bulk_create(
                    [cls(model_id=model_id, status=status, count=0)], ignore_conflicts=True
                )
                keyed.update(count=F("count") + delta)


class MaintenanceWindow(models.Model):
    """A time when one account's or one model's checks do not count: once (``starts_at`` to
    ``ends_at``), every week (on ``weekdays``, from ``start_time`` UTC for
    ``duration_minutes``) or whenever a ``cron`` expression fires (UTC, for
    ``duration_minutes``). Probes still run; see monitoring.maintenance."""

    class Recurrence(models.TextChoices):
        ONCE = "once"
        WEEKLY = "weekly"
        CRON = "cron"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    account = models.ForeignKey(
        "providers.ProviderAccount",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="maintenance_windows",
    )
    model = models.ForeignKey(
        LLMModel,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="maintenance_windows",
    )
    recurrence = models.CharField(max_length=10, choices=Recurrence.choices)
    starts_at = models.DateTimeField(null=True, blank=True)  # once
    ends_at = models.DateTimeField(null=True, blank=True)  # once
    weekdays = models.JSONField(default=list, blank=True)  # weekly: 0 = Monday … 6 = Sunday
    start_time = models.TimeField(null=True, blank=True)  # weekly, UTC
    duration_minutes = models.PositiveIntegerField(null=True, blank=True)  # weekly, cron
    cron = models.CharField(max_length=100, blank=True)  # cron: 5 fields, UTC
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name


class Slo(models.Model):
    """A service level objective for one account's or one model's checks over the last
    ``period_days``: availability (the share of checks up or degraded) and/or latency (the
    share of successful checks whose TTFT or total latency is at most a threshold, so "TTFT p95
    ≤ 1.5 s" is 95 % at most 1,500 ms). Budgets and burn rates: monitoring.slos."""

    class LatencyMetric(models.TextChoices):
        TTFT = "ttft", "TTFT"
        LATENCY = "latency", "Total latency"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    account = models.ForeignKey(
        "providers.ProviderAccount",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="slos",
    )
    model = models.ForeignKey(
        LLMModel, null=True, blank=True, on_delete=models.CASCADE, related_name="slos"
    )
    # Percentages in (0, 100]; None leaves that objective out (one of the two is needed).
    availability_target = models.FloatField(null=True, blank=True)
    latency_metric = models.CharField(
        max_length=10, choices=LatencyMetric.choices, blank=True, default=""
    )
    latency_target = models.FloatField(null=True, blank=True)
    latency_threshold_ms = models.PositiveIntegerField(null=True, blank=True)
    period_days = models.PositiveSmallIntegerField(default=30)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "SLO"

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        """The rules of an SLO, for every path that writes one (the API's and the page's
        serializer call this, the admin's form too)."""
        from django.core.exceptions import ValidationError

        errors: dict = {}
        if bool(self.account_id) == bool(self.model_id):
            errors["account"] = "Give either an account or a model (one of them)."
        for field in ("availability_target", "latency_target"):
            value = getattr(self, field)
            if value is not None and not 0 < value <= 100:
                errors[field] = f"{field} must be a percentage above 0 and at most 100."
        if self.availability_target is None and self.latency_target is None:
            errors["availability_target"] = (
                "Set availability_target, latency_target or both: an SLO needs an objective."
            )
        if self.latency_target is not None:
            if not self.latency_metric:
                errors["latency_metric"] = "A latency objective needs latency_metric."
            if not self.latency_threshold_ms:
                errors["latency_threshold_ms"] = "A latency objective needs a threshold above 0."
        elif self.latency_metric or self.latency_threshold_ms:
            errors["latency_target"] = (
                "latency_metric and latency_threshold_ms need latency_target (the percentage "
                "of checks that must be at or under the threshold)."
            )
        if not 1 <= (self.period_days or 0) <= 365:
            errors["period_days"] = "period_days must be between 1 and 365."
        if errors:
            raise ValidationError(errors)


class ModelBaseline(models.Model):
    """How a model answered one prompt pack when its behaviour was accepted: the reference
    the ``model_changed`` alert rule compares each pass with (monitoring.drift)."""

    model = models.OneToOneField(
        LLMModel, on_delete=models.CASCADE, primary_key=True, related_name="baseline"
    )
    prompt_pack = models.CharField(max_length=100)
    served_models = models.JSONField(default=list)
    system_fingerprints = models.JSONField(default=list)
    answer_hashes = models.JSONField(default=list)
    length_mean = models.FloatField()
    length_std = models.FloatField()
    refusal_share = models.FloatField()
    checks = models.PositiveIntegerField()  # how many answered checks it was drawn from
    accepted_at = models.DateTimeField()
    accepted_by = models.CharField(max_length=150, blank=True, default="")  # "" = automatic

    def __str__(self) -> str:
        return f"Baseline of {self.model_id} ({self.prompt_pack})"
