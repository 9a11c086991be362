"""Rule evaluation after a monitoring pass: conditions → streaks → incidents → alerts.

Each enabled rule yields, for this pass, a verdict per subject (a model id, or "*" for the
cross-model rule): failing, healthy, or no verdict (not observed / too few samples). Streaks
of consecutive verdicts open an incident after ``consecutive_failures`` failing passes and
resolve it after ``consecutive_recoveries`` healthy ones, so a flapping model does not page
anyone twice a minute. One open incident per (rule, subject): an ongoing outage raises one
alert however many passes it lasts, acknowledged or not.

One incident per real outage: for an "any model down" rule, when more than half of an
account's checked models are down in a pass (at least two), the account has its own incident
("OpenAI prod: 14 of 15 models down"), and when every account checked (at least two) is in
that state, the probing host's network has one ("probes cannot reach providers"). The narrower
incidents still open and resolve, held under the wider one (``Incident.parent``) and raising
no alert of their own: notifications follow the widest open incident. When it resolves, what
is still down under it is released and alerted on its own.

Probing from several regions (monitoring.regions), a model's verdict is the regions'
agreement: down when at least the configured quorum of the regions that probed it saw it down
(a majority by default). A region that sees most of its models down while the others see them
up has one incident of its own ("probes from eu fail"), and the models it alone saw down raise
none.
"""

import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from alerts.models import Alert, AlertEvent, AlertRule, Incident, RuleState, threshold_setting
from monitoring import drift, regions, slos
from monitoring.models import MonitoringConfig, MonitoringRun, Slo, UptimeCheck

METRIC_FIELDS = {"ttft": "ttft_ms", "latency": "latency_ms", "tps": "tps_excluding_ttft"}
METRIC_UNITS = {"ttft": "ms", "latency": "ms", "tps": "tok/s", "error_rate": ""}


NETWORK = "network"
ACCOUNT_PREFIX = "account:"
REGION_PREFIX = "region:"
SLO_PREFIX = "slo:"
# An account is in outage when more than this share of its checked models are down.
ACCOUNT_OUTAGE_SHARE = 0.5
MIN_GROUP = 2  # models of an account, or accounts, for a group to mean anything


@dataclass
class Verdict:
    subject: str
    model: object | None
    failing: bool
    reason: str
    account_id: object | None = None  # the model's account (model verdicts)


def evaluate_run(run_id) -> list[Alert]:
    """Evaluate every enabled rule against one pass's checks; returns the alerts raised."""
    # Checks made during a maintenance window raise nothing and resolve nothing.
    every_region = list(
        UptimeCheck.objects.filter(run_id=run_id, in_maintenance=False).select_related(
            "model__provider_account"
        )
    )
    checks = regions.agreed_checks(every_region, MonitoringConfig.get().down_quorum)
    raised: list[Alert] = []
    for rule in AlertRule.objects.filter(enabled=True).select_related("target_model"):
        model_verdicts = verdicts(rule, checks)
        if rule.rule_type == AlertRule.RuleType.ANY_MODEL_DOWN:
            raised += _apply_grouped(rule, checks, model_verdicts, every_region)
            continue
        for verdict in model_verdicts:
            alert = apply(rule, verdict)
            if alert is not None:
                raised.append(alert)
    if raised:
        from alerts import notifications

        notifications.queue_for(raised)
    return raised


def verdicts(rule: AlertRule, checks: list[UptimeCheck]) -> list[Verdict]:
    kind = AlertRule.RuleType
    if rule.rule_type == kind.ANY_MODEL_DOWN:
        return [_down(c) for c in checks]
    if rule.rule_type == kind.SPECIFIC_MODEL_DOWN:
        return [_down(c) for c in checks if c.model_id == rule.target_model_id]
    if rule.rule_type == kind.MODEL_UNAVAILABLE_EVERYWHERE:
        pattern = (rule.target_model_name or "").lower()
        matching = [c for c in checks if pattern and pattern in c.model.model_id.lower()]
        if not matching:
            return []
        down = [c for c in matching if c.status == UptimeCheck.Status.DOWN]
        failing = len(down) == len(matching)
        reason = (
            f"Model '{rule.target_model_name}' is unavailable across all {len(matching)} "
            f"monitored deployment(s)"
            if failing
            else f"Model '{rule.target_model_name}' is available again on "
            f"{len(matching) - len(down)} of {len(matching)} deployment(s)"
        )
        return [Verdict("*", None, failing, reason)]
    if rule.rule_type == kind.PERFORMANCE_DEGRADATION:
        return _performance(rule, checks)
    if rule.rule_type == kind.SLO_BURN_RATE:
        return _slo_burn(rule)
    if rule.rule_type == kind.MODEL_CHANGED:
        return _model_changed(rule, checks)
    return []


def _model_changed(rule: AlertRule, checks: list[UptimeCheck]) -> list[Verdict]:
    """One verdict per model answered in this pass that has a baseline (monitoring.drift):
    failing while its answers differ from it, with what changed, before and after."""
    answered = [c for c in checks if c.answer_hash]
    if rule.target_model_id:
        answered = [c for c in answered if c.model_id == rule.target_model_id]
    if not answered:
        return []
    pack = MonitoringRun.objects.filter(pk=answered[0].run_id).values_list(
        "prompt_pack", flat=True
    )[0]
    out = []
    for check in answered:
        baseline, changes = drift.compare(check.model, pack)
        if baseline is None:
            continue  # too few answers yet to know how this model answers
        name = check.model.display_name
        if changes:
            reason = f"{name} changed: " + "; ".join(str(c) for c in changes)
        else:
            reason = f"{name} answers like its baseline again"
        out.append(Verdict(str(check.model_id), check.model, bool(changes), reason))
    return out


def _slo_burn(rule: AlertRule) -> list[Verdict]:
    """One verdict per SLO whose alert windows saw checks: failing while a burn-rate alert
    fires (monitoring.slos), healthy once none does."""
    watched = Slo.objects.select_related("model")
    if rule.target_slo_id:
        watched = watched.filter(pk=rule.target_slo_id)
    out = []
    for report in slos.reports(watched):
        if not any(o.observed for o in report.objectives):
            continue
        firing = report.firing
        left, days = report.budget_remaining, report.slo.period_days
        if left is None:
            budget = f"no checks in the {days}-day period yet"
        elif left <= 0:
            budget = f"the {days}-day error budget is spent"
        else:
            budget = f"{slos.budget_shown(left)} of the {days}-day error budget left"
        if firing:
            burns = "; ".join(
                f"{o.kind} burning its budget {slos.times(o.burn_rate(a.long))} over {a.long} "
                f"and {slos.times(o.burn_rate(a.short))} over {a.short} ({a.name} burn)"
                for o, a in firing
            )
            reason = f"SLO “{report.slo.name}”: {burns}; {budget}"
        else:
            reason = f"SLO “{report.slo.name}”: burn rates back under the alert rates; {budget}"
        out.append(Verdict(f"{SLO_PREFIX}{report.slo.pk}", report.slo.model, bool(firing), reason))
    return out


def _down(check: UptimeCheck) -> Verdict:
    """A model's verdict from its (agreed) check; with several regions, which saw it down."""
    failing = check.status == UptimeCheck.Status.DOWN
    name = check.model.display_name
    seen = getattr(check, "by_region", {})
    down_in = sorted(r for r, status in seen.items() if status == UptimeCheck.Status.DOWN)
    where = (
        f" in {len(down_in)} of {len(seen)} regions ({', '.join(down_in)})" if len(seen) > 1 else ""
    )
    if failing:
        error = check.error or check.error_type or "health check failed"
        reason = f"Model {name} is down{where}: {error}"
    else:
        reason = f"Model {name} is {check.status} again"
    return Verdict(
        str(check.model_id), check.model, failing, reason, check.model.provider_account_id
    )


def group_verdicts(checks: list[UptimeCheck]) -> tuple[Verdict | None, list[Verdict]]:
    """The network's verdict (None when fewer than two accounts were checked) and each
    account's (for accounts with at least two checked models)."""
    by_account: dict = defaultdict(list)
    for check in checks:
        by_account[check.model.provider_account_id].append(check)
    accounts = []
    for account_id, account_checks in by_account.items():
        if len(account_checks) < MIN_GROUP:
            continue
        down = sum(1 for c in account_checks if c.status == UptimeCheck.Status.DOWN)
        name = account_checks[0].model.provider_account.display_name
        total = len(account_checks)
        failing = down / total > ACCOUNT_OUTAGE_SHARE
        reason = (
            f"{name}: {down} of {total} models down"
            if failing
            else f"{name}: {total - down} of {total} models up again"
        )
        accounts.append(Verdict(f"{ACCOUNT_PREFIX}{account_id}", None, failing, reason, account_id))
    network = None
    if len(by_account) >= MIN_GROUP:
        in_outage = {v.account_id for v in accounts if v.failing}
        failing = len(accounts) == len(by_account) and in_outage == set(by_account)
        reason = (
            f"Probes cannot reach providers: all {len(by_account)} accounts are failing "
            "(the probing host's network, most likely)"
            if failing
            else "Probes reach providers again"
        )
        network = Verdict(NETWORK, None, failing, reason)
    return network, accounts


def region_verdicts(every_region: list[UptimeCheck], agreed: list[UptimeCheck]) -> list[Verdict]:
    """Each region's verdict when a pass probed from two or more: failing when more than half
    of the models it checked (at least two) were down there, and most of those were not down
    by the regions' agreement (the region's network, not the providers)."""
    by_region: dict = defaultdict(list)
    for check in every_region:
        by_region[check.region].append(check)
    if len(by_region) < 2:
        return []
    agreed_down = {c.model_id for c in agreed if c.status == UptimeCheck.Status.DOWN}
    out = []
    for region, region_checks in sorted(by_region.items()):
        if len(region_checks) < MIN_GROUP:
            continue
        down = {c.model_id for c in region_checks if c.status == UptimeCheck.Status.DOWN}
        total = len(region_checks)
        alone = down - agreed_down
        failing = len(down) / total > ACCOUNT_OUTAGE_SHARE and len(alone) > len(down) / 2
        reason = (
            f"Probes from region {region} fail: {len(down)} of {total} models down there, "
            f"{len(alone)} of them up from the other regions (the region's network, most likely)"
            if failing
            else f"Probes from region {region} succeed again: {total - len(down)} of {total} up"
        )
        out.append(Verdict(f"{REGION_PREFIX}{region}", None, failing, reason))
    return out


def _apply_grouped(
    rule: AlertRule, checks, model_verdicts: list[Verdict], every_region=()
) -> list[Alert]:
    """Apply the regions' and the network's, then the accounts', then the models' verdicts,
    each held under the wider incident that is open; then release what a wider incident that
    resolved in this pass still holds (after the models' own verdicts, so that those that
    recovered stay quiet)."""
    network, accounts = group_verdicts(checks)
    wider: list[Alert | None] = []
    failing_regions = {}
    for verdict in region_verdicts(list(every_region), checks):
        wider.append(apply(rule, verdict))
        incident = _open(rule, verdict.subject)
        if incident is not None:
            failing_regions[verdict.subject.removeprefix(REGION_PREFIX)] = incident
    network_incident = None
    if network is not None:
        wider.append(apply(rule, network))
        network_incident = _open(rule, NETWORK)
    held_by_account = {}
    for verdict in accounts:
        wider.append(apply(rule, verdict, held_by=network_incident))
        held_by_account[verdict.account_id] = _open(rule, verdict.subject)
    down_in = defaultdict(set)
    for check in every_region:
        if check.status == UptimeCheck.Status.DOWN:
            down_in[str(check.model_id)].add(check.region)
    raised = []
    for verdict in model_verdicts:
        held_by = held_by_account.get(verdict.account_id) or network_incident
        regions_down = down_in.get(verdict.subject, set())
        if held_by is None and regions_down and regions_down <= set(failing_regions):
            held_by = failing_regions[sorted(regions_down)[0]]  # down only where probes fail
        raised.append(apply(rule, verdict, held_by=held_by))
    for alert in wider:
        raised += _released(alert)
    return [a for a in raised if a is not None]


def _open(rule: AlertRule, subject: str) -> Incident | None:
    return Incident.objects.filter(rule=rule, subject=subject, resolved_at__isnull=True).first()


def _released(alert: Alert | None) -> list[Alert]:
    """The alert of a wider incident; when it is a recovery, each incident it still held and
    that is still open is released and alerted on its own ("still failing after …"). What a
    released incident holds in turn (an account's models) stays held while it is open."""
    if alert is None:
        return []
    out = [alert]
    if alert.kind != Alert.Kind.RECOVERED:
        return out
    for held in Incident.objects.filter(parent=alert.incident, resolved_at__isnull=True):
        held.parent = None
        held.save(update_fields=["parent"])
        out.append(
            Alert.objects.create(
                rule=held.rule,
                model=held.model,
                incident=held,
                kind=Alert.Kind.FIRED,
                message=f"{held.summary} (still failing after: {alert.message})",
            )
        )
    return out


def _performance(rule: AlertRule, checks: list[UptimeCheck]) -> list[Verdict]:
    config = rule.threshold_config or {}
    metric = threshold_setting(config, "metric")
    window = timedelta(minutes=int(threshold_setting(config, "window_minutes")))
    min_samples = int(threshold_setting(config, "min_samples"))
    now = timezone.now()
    models = {c.model_id: c.model for c in checks}
    target = rule.target_model_id or config.get("target_model_id")
    if target:
        models = {k: v for k, v in models.items() if str(k) == str(target)}
    out = []
    for model_id, model in models.items():
        recent = list(UptimeCheck.objects.filter(model_id=model_id, created_at__gte=now - window))
        value, n = _metric_value(metric, recent)
        if value is None or n < min_samples:
            continue  # not enough evidence either way: streaks stay as they are
        limit, worse = _limit(rule, config, metric, model_id, now - window)
        if limit is None:
            continue
        failing = value > limit if worse == "higher" else value < limit
        unit = METRIC_UNITS[metric]
        label = (
            "error rate"
            if metric == "error_rate"
            else metric.upper()
            if metric != "tps"
            else "tok/s"
        )
        shown = f"{value:.0%}" if metric == "error_rate" else f"{value:.0f} {unit}"
        bound = f"{limit:.0%}" if metric == "error_rate" else f"{limit:.0f} {unit}"
        if failing:
            reason = f"{model.display_name}: {label} {shown} over {n} checks is past {bound}"
        else:
            reason = f"{model.display_name}: {label} back to {shown} (limit {bound})"
        out.append(Verdict(str(model_id), model, failing, reason))
    return out


def _metric_value(metric: str, checks: list[UptimeCheck]) -> tuple[float | None, int]:
    if metric == "error_rate":
        if not checks:
            return None, 0
        bad = sum(1 for c in checks if c.status != UptimeCheck.Status.UP)
        return bad / len(checks), len(checks)
    values = [getattr(c, METRIC_FIELDS[metric]) for c in checks if c.error_type is None]
    values = [v for v in values if v is not None]
    return (statistics.median(values) if values else None), len(values)


def _limit(rule, config: dict, metric: str, model_id, window_start) -> tuple[float | None, str]:
    """The bound a value must not cross, and which direction is worse."""
    worse = "lower" if metric == "tps" else "higher"
    if threshold_setting(config, "comparison") == "absolute":
        return float(config["threshold"]), worse
    # Baseline: the model's own median over the preceding hours, times a factor.
    hours = int(threshold_setting(config, "baseline_hours"))
    history = list(
        UptimeCheck.objects.filter(
            model_id=model_id,
            created_at__lt=window_start,
            created_at__gte=window_start - timedelta(hours=hours),
        )
    )
    baseline, n = _metric_value(metric, history)
    if baseline is None or n < int(threshold_setting(config, "min_samples")):
        return None, worse
    factor = float(threshold_setting(config, "factor"))
    if metric == "error_rate":
        return max(baseline * factor, float(config.get("threshold", 0.1))), worse
    return (baseline / factor if worse == "lower" else baseline * factor), worse


@transaction.atomic
def apply(rule: AlertRule, verdict: Verdict, *, held_by: Incident | None = None) -> Alert | None:
    """Update the subject's streaks; open or resolve its incident when they cross the limits.

    An incident opened or resolved while ``held_by`` (a wider incident) is open is recorded
    (incident and events) but raises no alert: the wider one speaks for it."""
    state, _ = RuleState.objects.select_for_update().get_or_create(
        rule=rule, subject=verdict.subject
    )
    if verdict.failing:
        state.fail_streak, state.ok_streak = state.fail_streak + 1, 0
    else:
        state.fail_streak, state.ok_streak = 0, state.ok_streak + 1
    state.save()
    incident = Incident.objects.filter(
        rule=rule, subject=verdict.subject, resolved_at__isnull=True
    ).first()
    now = timezone.now()
    if verdict.failing and incident is None and state.fail_streak >= rule.consecutive_failures:
        try:
            with transaction.atomic():
                incident = Incident.objects.create(
                    rule=rule,
                    model=verdict.model,
                    subject=verdict.subject,
                    summary=verdict.reason,
                    opened_at=now,
                    parent=held_by,
                )
        except IntegrityError:  # opened concurrently by another evaluation: one incident
            return None
        AlertEvent.objects.create(
            incident=incident, event=AlertEvent.Event.OPENED, detail=verdict.reason
        )
        if held_by is not None:
            return None
        return Alert.objects.create(
            rule=rule,
            model=verdict.model,
            incident=incident,
            kind=Alert.Kind.FIRED,
            message=verdict.reason,
        )
    if (
        not verdict.failing
        and incident is not None
        and state.ok_streak >= rule.consecutive_recoveries
    ):
        incident.resolved_at = now
        incident.save(update_fields=["resolved_at"])
        AlertEvent.objects.create(
            incident=incident, event=AlertEvent.Event.RESOLVED, detail=verdict.reason
        )
        if incident.parent_id is not None:
            return None  # it never alerted on its own: the wider incident's recovery speaks
        duration = _duration(now - incident.opened_at)
        return Alert.objects.create(
            rule=rule,
            model=verdict.model,
            incident=incident,
            kind=Alert.Kind.RECOVERED,
            message=f"Recovered after {duration}: {verdict.reason}",
        )
    return None


def _duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"
