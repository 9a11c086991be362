"""Uptime exports, streamed in constant memory (JSON and CSV).

Rows are read with ``QuerySet.iterator()`` (server-side cursors on PostgreSQL) and written as
they come: a million checks export without ever being held in memory together.
"""

import json

from django.http import StreamingHttpResponse

from arguslm.exports import csv_lines

COLUMNS = [
    "model_name",
    "provider",
    "status",
    "latency_ms",
    "error",
    "timestamp",
    "ttft_ms",
    "ttfat_ms",
    "tps",
    "tps_excluding_ttft",
    "tpot_ms",
    "input_tokens",
    "output_tokens",
    "token_source",
    "error_type",
    "provider_name",
    "model_id",
]
FIELDS = [
    "model__custom_name",
    "model__model_id",
    "model__provider_account__provider_type",
    "status",
    "latency_ms",
    "error",
    "created_at",
    "ttft_ms",
    "ttfat_ms",
    "tps",
    "tps_excluding_ttft",
    "tpot_ms",
    "input_tokens",
    "output_tokens",
    "token_source",
    "error_type",
    "model__provider_account__display_name",
    "model_id",
]


def _rows(checks):
    for row in checks.values_list(*FIELDS).iterator(chunk_size=2000):
        (
            custom,
            model_id,
            provider,
            status,
            latency,
            error,
            created,
            ttft,
            ttfat,
            tps,
            tps_ex,
            tpot,
            tin,
            tout,
            source,
            etype,
            account,
            mid,
        ) = row
        yield {
            "model_name": custom or model_id,
            "provider": provider,
            "status": status,
            "latency_ms": latency,
            "error": error,
            "timestamp": created.isoformat(),
            "ttft_ms": ttft,
            "ttfat_ms": ttfat,
            "tps": tps,
            "tps_excluding_ttft": tps_ex,
            "tpot_ms": tpot,
            "input_tokens": tin,
            "output_tokens": tout,
            "token_source": source,
            "error_type": etype,
            "provider_name": account,
            "model_id": str(mid),
        }


def _json(checks):
    yield '{"checks": ['
    first = True
    for item in _rows(checks):
        yield ("\n  " if first else ",\n  ") + json.dumps(item)
        first = False
    yield "\n]}\n"


def _csv(checks):
    yield from csv_lines([COLUMNS])
    for item in _rows(checks):
        yield from csv_lines([[item[c] for c in COLUMNS]])


def uptime_response(checks, fmt: str) -> StreamingHttpResponse:
    if fmt == "csv":
        response = StreamingHttpResponse(_csv(checks), content_type="text/csv; charset=utf-8")
        filename = "uptime_history.csv"
    else:
        response = StreamingHttpResponse(_json(checks), content_type="application/json")
        filename = "uptime_history.json"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
