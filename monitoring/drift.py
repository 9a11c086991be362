"""Model fingerprints and drift: has a model changed since its behaviour was accepted?

Each check stores the model's fingerprint in its answer (``fingerprint``): what the response
says served it (its ``model`` field, OpenAI's ``system_fingerprint``), a digest of the answer
with case and whitespace normalised, its length, and whether it was a refusal. A model's
baseline (``ModelBaseline``) is drawn from its last BASELINE_CHECKS answered checks of one
prompt pack: at first automatically, later when someone accepts the current behaviour.

The ``model_changed`` alert rule compares each pass with the baseline:

- at once: a served model name or a system fingerprint the baseline never saw;
- over the last WINDOW answered checks, so that sampling noise pages nobody: fewer than half of
  the answers among those the baseline saw; a mean length off the baseline's by more than
  LENGTH_SIGMAS standard errors (and at least a fifth, and 8 characters); or refusals up by
  half of the checks.

Only checks of the baseline's prompt pack are compared (another prompt, other answers); when
the monitoring pack changes, the baseline is drawn afresh from the new pack's checks.
"""

import math
import statistics
from dataclasses import dataclass

from django.utils import timezone

from arguslm import errors
from arguslm.llm import answers
from arguslm.llm.types import ErrorType, Sample
from monitoring.models import ModelBaseline, MonitoringConfig, UptimeCheck
from providers.models import LLMModel

BASELINE_CHECKS = 10
WINDOW = 10
ANSWER_SHARE = 0.5  # fewer known answers than this share of the window is a change
LENGTH_SIGMAS = 4
REFUSAL_RISE = 0.5


@dataclass(frozen=True)
class Change:
    what: str
    before: str
    after: str

    def __str__(self) -> str:
        return f"{self.what}: {self.before} → {self.after}"


def fingerprint(sample: Sample) -> dict:
    """The check fields a sample's answer gives (nothing of an answer that never came)."""
    if sample.error_type not in (None, ErrorType.BAD_ANSWER):
        return {"answer_excerpt": sample.excerpt}
    return {
        "answer_excerpt": sample.excerpt,
        "served_model": sample.served_model,
        "system_fingerprint": sample.system_fingerprint,
        "answer_hash": answers.answer_hash(sample.answer),
        "answer_chars": len(sample.answer),
        "refusal": answers.is_refusal(sample.answer),
    }


def answered(model_id, pack: str, limit: int) -> list[UptimeCheck]:
    """The model's latest answered checks of ``pack``, newest first."""
    return list(
        UptimeCheck.objects.filter(model_id=model_id, run__prompt_pack=pack, in_maintenance=False)
        .exclude(answer_hash="")
        .order_by("-created_at")[:limit]
    )


def accept(model: LLMModel, *, by: str = "", pack: str | None = None) -> ModelBaseline | None:
    """Make the model's latest BASELINE_CHECKS answered checks of ``pack`` (default: the
    monitoring pack) its baseline; None (and the old baseline kept) when there are fewer."""
    pack = pack or MonitoringConfig.get().prompt_pack
    checks = answered(model.pk, pack, BASELINE_CHECKS)
    if len(checks) < BASELINE_CHECKS:
        return None
    lengths = [c.answer_chars or 0 for c in checks]
    baseline, _ = ModelBaseline.objects.update_or_create(
        model=model,
        defaults={
            "prompt_pack": pack,
            "served_models": sorted({c.served_model for c in checks if c.served_model}),
            "system_fingerprints": sorted(
                {c.system_fingerprint for c in checks if c.system_fingerprint}
            ),
            "answer_hashes": sorted({c.answer_hash for c in checks}),
            "length_mean": statistics.fmean(lengths),
            "length_std": statistics.pstdev(lengths),
            "refusal_share": sum(c.refusal for c in checks) / len(checks),
            "checks": len(checks),
            "accepted_at": timezone.now(),
            "accepted_by": by,
        },
    )
    return baseline


def reaccept(model: LLMModel, *, by: str) -> ModelBaseline:
    """Someone accepts the model's current behaviour: its latest answers become the baseline
    (the model_changed incident then resolves with the next pass)."""
    baseline = accept(model, by=by)
    if baseline is None:
        pack = MonitoringConfig.get().prompt_pack
        have = len(answered(model.pk, pack, BASELINE_CHECKS))
        raise errors.Conflict(
            f"A baseline needs {BASELINE_CHECKS} answered checks of the “{pack}” pack; "
            f"{model.display_name} has {have}."
        )
    return baseline


def status(model: LLMModel) -> dict:
    """The model's baseline and its current changes, for the API and the model page (reads
    only: drawing a first baseline is the passes' work)."""
    pack = MonitoringConfig.get().prompt_pack
    baseline = ModelBaseline.objects.filter(model=model, prompt_pack=pack).first()
    found = changes(baseline, answered(model.pk, pack, WINDOW)) if baseline else []
    return {
        "model_id": model.pk,
        "prompt_pack": pack,
        "baseline": baseline,
        "changes": found,
        "checks_needed": BASELINE_CHECKS,
    }


def compare(model: LLMModel, pack: str) -> tuple[ModelBaseline | None, list[Change]]:
    """The model's baseline for ``pack`` (drawn now if it has none yet and enough checks) and
    how its latest answered checks differ from it. A fresh baseline reports no change."""
    baseline = ModelBaseline.objects.filter(model=model).first()
    if baseline is None or baseline.prompt_pack != pack:
        return accept(model, pack=pack), []
    return baseline, changes(baseline, answered(model.pk, pack, WINDOW))


def changes(baseline: ModelBaseline, checks: list[UptimeCheck]) -> list[Change]:
    """How ``checks`` (answered, newest first) differ from ``baseline``."""
    if not checks:
        return []
    found = []
    latest = checks[0]
    for what, value, known in (
        ("returned model", latest.served_model, baseline.served_models),
        ("system fingerprint", latest.system_fingerprint, baseline.system_fingerprints),
    ):
        if value and value not in known:
            found.append(Change(what, ", ".join(known) or "none", value))
    if len(checks) < WINDOW:
        return found
    window = checks[:WINDOW]
    new = sum(c.answer_hash not in baseline.answer_hashes for c in window)
    if (WINDOW - new) / WINDOW < ANSWER_SHARE:
        found.append(
            Change(
                "answers",
                f"{len(baseline.answer_hashes)} known",
                f"{new} of the last {WINDOW} new",
            )
        )
    mean = statistics.fmean(c.answer_chars or 0 for c in window)
    tolerance = max(
        LENGTH_SIGMAS * baseline.length_std / math.sqrt(WINDOW), baseline.length_mean / 5, 8
    )
    if abs(mean - baseline.length_mean) > tolerance:
        found.append(
            Change("answer length", f"{baseline.length_mean:.0f} chars", f"{mean:.0f} chars")
        )
    refusals = sum(c.refusal for c in window) / WINDOW
    if refusals - baseline.refusal_share >= REFUSAL_RISE:
        found.append(Change("refusals", f"{baseline.refusal_share:.0%}", f"{refusals:.0%}"))
    return found
