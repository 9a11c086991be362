"""Benchmark statistics: pooled (the API reference's six figures) and per model (metrics.md)."""

from arguslm.stats import percentile, summary

METRICS = ("ttft_ms", "latency_ms", "tps", "tps_excluding_ttft")


def is_failed(result) -> bool:
    """A failed request: the API reports 0 for its numbers and statistics skip it."""
    return result.error_type is not None or bool(result.error)


def pooled(results) -> dict:
    """p50/p95/p99 of TTFT and end-to-end tps over the run's successful results (0.0 if none)."""
    ok = [r for r in results if not is_failed(r)]
    ttft = [r.ttft_ms for r in ok if r.ttft_ms is not None]
    tps = [r.tps for r in ok if r.tps is not None]
    out = {}
    for name, values in (("ttft", ttft), ("tps", tps)):
        for p in (50, 95, 99):
            value = percentile(values, p)
            out[f"{name}_p{p}"] = round(value, 3) if value is not None else 0.0
    out["n"] = len(ok)
    return out


def per_model(results, names: dict) -> list[dict]:
    """One row per model: n, errors, and a summary of each metric over successful results."""
    grouped: dict = {}
    for r in results:
        grouped.setdefault(r.model_id, []).append(r)
    rows = []
    for model_id, items in grouped.items():
        ok = [r for r in items if not is_failed(r)]
        row = {
            "model_id": str(model_id),
            "model_name": names.get(model_id, str(model_id)),
            "n": len(ok),
            "errors": len(items) - len(ok),
        }
        for metric in METRICS:
            row[metric] = {
                k: (round(v, 3) if isinstance(v, float) else v)
                for k, v in summary([getattr(r, metric) for r in ok]).items()
            }
        rows.append(row)
    return rows
