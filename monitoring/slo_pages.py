"""The SLOs page: each SLO's objectives, error budget left and burn rates; add and remove.

Figures come from monitoring.slos (the API's, the dashboard card's and /metrics' source);
the form is validated by the API's SloSerializer (``Slo.clean``'s rules).
"""

import uuid

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from arguslm.pages import login_required_htmx, permission_required
from monitoring import slos
from monitoring.forms import SloForm
from monitoring.models import Slo
from monitoring.pages import target_choices

NEW_SLO = {"availability_target": "99.5", "latency_metric": "ttft", "period_days": "30"}


def objective_rows(report: slos.Report) -> list[dict]:
    """What the page shows of each objective."""
    rows = []
    for objective in report.objectives:
        left = objective.budget_remaining
        if objective.kind == "availability":
            label = f"Availability ≥ {objective.target:g} %"
        else:
            metric = Slo.LatencyMetric(objective.kind).label
            label = f"{metric} ≤ {objective.threshold_ms:,} ms for {objective.target:g} % of checks"
        rows.append(
            {
                "label": label,
                "sli": objective.sli,
                "checks": objective.period.total,
                "bad": objective.period.bad,
                "allowed_bad": objective.allowed_bad,
                "left": left,
                "left_shown": slos.budget_shown(left),
                # The bar shows what is left, from empty (spent or overspent) to full.
                "bar": 0 if left is None else round(100 * min(max(left, 0), 1), 1),
                "burns": [(name, slos.times(objective.burn_rate(name))) for name in slos.WINDOWS],
                "alerts": [alert.name for alert in objective.firing],
            }
        )
    return rows


def decorated(report: slos.Report) -> dict:
    slo = report.slo
    label, css = report.state
    target = slo.model.display_name if slo.model_id else slo.account.display_name
    return {
        "slo": slo,
        "target": target,
        "state": label,
        "css": css,
        "objectives": objective_rows(report),
    }


def slo_list(*, now=None) -> list[dict]:
    watched = Slo.objects.select_related("account", "model").order_by("name")
    return [decorated(report) for report in slos.reports(watched, now=now)]


def _render(request: HttpRequest, *, form: dict | None = None, errors: dict | None = None):
    context = {
        "page": "slos",
        "slos": slo_list(),
        "form": form or NEW_SLO,
        "errors": errors or {},
        "targets": target_choices(),
        "metrics": Slo.LatencyMetric.choices,
        "windows": list(slos.WINDOWS),
        "burn_alerts": slos.BURN_ALERTS,
    }
    return render(request, "monitoring/slos.html", context)


@login_required_htmx
@require_GET
def slos_page(request: HttpRequest) -> HttpResponse:
    return _render(request)


@login_required_htmx
@permission_required("monitoring.add_slo")
@require_POST
def slo_add(request: HttpRequest) -> HttpResponse:
    form = SloForm(request.POST)
    if not form.is_valid():
        return _render(request, form=form.values(), errors=form.messages())
    slo = slos.save(**form.validated_data)
    messages.success(request, f"SLO “{slo.name}” added.")
    return redirect(reverse("slos"))


@login_required_htmx
@permission_required("monitoring.delete_slo")
@require_POST
def slo_delete(request: HttpRequest, slo_id: uuid.UUID) -> HttpResponse:
    slo = get_object_or_404(Slo, pk=slo_id)
    slos.delete(slo=slo)
    messages.success(request, f"SLO “{slo.name}” removed.")
    return redirect(reverse("slos"))
