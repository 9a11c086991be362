"""Benchmark runs and their per-request results (one row per measured request)."""

import uuid

from django.conf import settings
from django.db import models

from arguslm.models import MeasuredSample
from providers.models import LLMModel


class BenchmarkRun(models.Model):
    """One benchmark: pending → running → completed / failed / cancelled.

    ``profile`` says how load is applied (benchmarks.load): ``fixed`` sends ``num_runs``
    requests per model at ``concurrency``; a sweep steps through ``load["levels"]``
    (concurrent streams, or requests per second) and finds the largest level that meets
    ``slo`` (benchmarks.capacity)."""

    class Profile(models.TextChoices):
        FIXED = "fixed"
        CONCURRENCY_SWEEP = "concurrency_sweep"
        RATE_SWEEP = "rate_sweep"

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        COMPLETED = "completed"
        FAILED = "failed"
        CANCELLED = "cancelled"

    TERMINAL = (Status.COMPLETED, Status.FAILED, Status.CANCELLED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=255)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    model_ids = models.JSONField(default=list)  # as requested, in order (UUID strings)
    prompt_pack = models.CharField(max_length=100)
    max_tokens = models.PositiveIntegerField(default=200)
    num_runs = models.PositiveIntegerField(default=3)
    concurrency = models.PositiveIntegerField(default=1)
    warmup_runs = models.PositiveIntegerField(default=1)
    triggered_by = models.CharField(max_length=20, default="user")
    profile = models.CharField(max_length=20, choices=Profile.choices, default=Profile.FIXED)
    # Sweeps: {"levels": [...], "step_seconds": s or "step_requests": n, "arrivals":
    # "constant" | "poisson"} (benchmarks.load); None for a fixed run.
    load = models.JSONField(null=True, blank=True)
    # {"metric": "ttft" | "itl" | "latency", "percentile": 50 | 95 | 99, "max_ms": x,
    # "max_error_rate": percent} (benchmarks.capacity); None: no capacity verdict.
    slo = models.JSONField(null=True, blank=True)
    # The saved benchmark this run was started from (by hand or by its schedule).
    template = models.ForeignKey(
        "BenchmarkTemplate", null=True, blank=True, on_delete=models.SET_NULL, related_name="runs"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    # The engine refreshes this while it works; a running run whose heartbeat stops had its
    # worker killed and is closed as failed.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    cancel_requested = models.BooleanField(default=False)
    error = models.TextField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # GET /benchmarks?status= (newest first) and stale-run detection.
            models.Index(fields=["status", "-created_at"], name="bench_status_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.status})"

    @property
    def total_requests(self) -> int:
        """Requests the run will send (for a multi-turn pack, one per turn); a concurrency
        sweep timed in seconds cannot know: 0."""
        from arguslm.llm.prompts import get_pack
        from benchmarks import load

        sweep = load.from_run(self)
        per_model = self.num_runs if sweep is None else sweep.requests_per_model() or 0
        pack = get_pack(self.prompt_pack)
        turns = len(pack.conversations[0]) if pack and pack.conversations else 1
        return len(self.model_ids) * per_model * turns

    @property
    def is_finished(self) -> bool:
        return self.status in self.TERMINAL


class BenchmarkResult(MeasuredSample):
    """One measured request of a run (warm-ups are not stored); fields per metrics.md."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    run = models.ForeignKey(BenchmarkRun, on_delete=models.CASCADE, related_name="results")
    # PROTECT: benchmark history is never lost to a model's (or its account's) deletion, from
    # any path; providers.services.delete_model / delete_account say why (a 409 in the API).
    model = models.ForeignKey(LLMModel, on_delete=models.PROTECT, related_name="benchmark_results")
    # Order of completion within the run: WebSocket clients resume after the last one they saw.
    seq = models.PositiveIntegerField()
    # Sweeps: the index of the load level the request was sent at (None in a fixed run).
    step = models.PositiveSmallIntegerField(null=True, blank=True)
    # Multi-turn workloads: the turn of the conversation (1 = first message).
    turn = models.PositiveSmallIntegerField(null=True, blank=True)
    estimated_cost = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["run", "seq"]
        constraints = [models.UniqueConstraint(fields=["run", "seq"], name="unique_result_seq")]
        indexes = [
            # The model detail page lists benchmark results involving a model.
            models.Index(fields=["model", "-created_at"], name="result_model_created_idx"),
        ]

    def __str__(self) -> str:
        return f"Result {self.seq} of {self.run_id}"


class BenchmarkStep(models.Model):
    """One load level of a sweep for one model: when it ran, so that throughput is exact."""

    run = models.ForeignKey(BenchmarkRun, on_delete=models.CASCADE, related_name="steps")
    model = models.ForeignKey(LLMModel, on_delete=models.PROTECT, related_name="+")
    index = models.PositiveSmallIntegerField()
    level = models.FloatField()  # concurrent streams, or requests per second
    started_at = models.DateTimeField()
    # From the step's first request sent to its last one finished (requests/s divide by it).
    duration_ms = models.FloatField(default=0)
    # From the step's first request finished to its last: a rate sweep's throughput is the
    # pace of its completions over this span (benchmarks.capacity).
    finish_span_ms = models.FloatField(null=True, blank=True)
    sent = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["run", "model", "index"]
        constraints = [
            models.UniqueConstraint(fields=["run", "model", "index"], name="unique_bench_step")
        ]

    def __str__(self) -> str:
        return f"Step {self.index} ({self.level:g}) of {self.run_id}"


class BenchmarkTemplate(models.Model):
    """A saved benchmark: its settings, an optional schedule, and the run it is compared to."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=255, unique=True)
    # The POST /api/v1/benchmarks body it starts (validated by BenchmarkCreateSerializer).
    spec = models.JSONField(default=dict)
    # 5-field UTC cron expression (cronsim); blank: started by hand only.
    cron = models.CharField(max_length=100, blank=True, default="")
    enabled = models.BooleanField(default=True)
    next_run_at = models.DateTimeField(null=True, blank=True)
    # New runs are compared with this one (benchmarks.compare); regressions alert on it.
    baseline_run = models.ForeignKey(
        BenchmarkRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["enabled", "next_run_at"], name="bench_tpl_due_idx")]

    def __str__(self) -> str:
        return self.name
