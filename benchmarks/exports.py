"""Benchmark exports (JSON and CSV), with statistics."""

import json

from django.http import HttpResponse

from arguslm.exports import csv_lines
from benchmarks.stats import is_failed

RESULT_COLUMNS = [
    "model_name",
    "provider",
    "ttft_ms",
    "tps",
    "tps_excluding_ttft",
    "total_latency_ms",
    "input_tokens",
    "output_tokens",
    "error",
    "timestamp",
    "ttfat_ms",
    "tpot_ms",
    "itl_mean_ms",
    "itl_p95_ms",
    "token_source",
    "error_type",
    "seq",
    "model_id",
    "step",
    "level",
    "turn",
    "queue_ms",
]
STAT_COLUMNS = ["model_name", "model_id", "n", "errors"]
STAT_METRICS = ["ttft_ms", "latency_ms", "tps", "tps_excluding_ttft"]
STAT_FIELDS = ["p50", "p95", "p99", "mean", "min", "max"]


def _result_row(r, levels: list) -> dict:
    failed = is_failed(r)  # reported as 0, like the API (partial timings may be stored)
    return {
        "model_name": r.model.display_name,
        "provider": r.model.provider_account.provider_type,
        "ttft_ms": 0.0 if failed else r.ttft_ms or 0.0,
        "tps": 0.0 if failed else r.tps or 0.0,
        "tps_excluding_ttft": 0.0 if failed else r.tps_excluding_ttft or 0.0,
        "total_latency_ms": 0.0 if failed else r.latency_ms or 0.0,
        "input_tokens": 0 if failed else r.input_tokens or 0,
        "output_tokens": 0 if failed else r.output_tokens or 0,
        "error": r.error,
        "timestamp": r.created_at.isoformat(),
        "ttfat_ms": r.ttfat_ms,
        "tpot_ms": r.tpot_ms,
        "itl_mean_ms": r.itl_mean_ms,
        "itl_p95_ms": r.itl_p95_ms,
        "token_source": r.token_source,
        "error_type": r.error_type,
        "seq": r.seq,
        "model_id": str(r.model_id),
        # Sweeps: the load step, its level (streams or requests/s); multi-turn: the turn.
        "step": r.step,
        "level": levels[r.step] if r.step is not None and r.step < len(levels) else None,
        "turn": r.turn,
        "queue_ms": r.queue_ms,
    }


def export(
    run, results, pooled: dict, per_model: list[dict], fmt: str, table: str, capacity=()
) -> HttpResponse:
    name = f"benchmark_{run.id}"
    levels = (run.load or {}).get("levels", [])
    if fmt == "json":
        body = {
            "run_id": str(run.id),
            "run_name": run.name,
            "prompt_pack": run.prompt_pack,
            "status": run.status,
            "settings": {
                "max_tokens": run.max_tokens,
                "num_runs": run.num_runs,
                "concurrency": run.concurrency,
                "warmup_runs": run.warmup_runs,
                "profile": run.profile,
                "load": run.load,
                "slo": run.slo,
            },
            "started_at": (run.started_at or run.created_at).isoformat(),
            "completed_at": run.completed_at.isoformat() if run.completed_at else None,
            "statistics": pooled,
            "model_statistics": per_model,
            "capacity": [c.as_dict() for c in capacity],
            "results": [_result_row(r, levels) for r in results],
        }
        response = HttpResponse(json.dumps(body, indent=2), content_type="application/json")
        filename = f"{name}.json"
    else:
        if table == "statistics":
            header = STAT_COLUMNS + [f"{m}_{f}" for m in STAT_METRICS for f in STAT_FIELDS]
            rows = [
                [row["model_name"], row["model_id"], row["n"], row["errors"]]
                + [row[m][f] for m in STAT_METRICS for f in STAT_FIELDS]
                for row in per_model
            ]
            filename = f"{name}_statistics.csv"
        else:
            header = RESULT_COLUMNS
            rows = [
                [row[c] for c in RESULT_COLUMNS]
                for row in (_result_row(r, levels) for r in results)
            ]
            filename = f"{name}.csv"
        body = "".join(csv_lines([header, *rows]))
        response = HttpResponse(body, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
