"""Uptime exports, streamed in constant memory (JSON and CSV).

Rows are read with ``QuerySet.iterator()`` (server-side cursors on PostgreSQL) in batches of
``BATCH_SIZE``, and each batch is written as one part of the response: a million checks
export without ever being held in memory together, under daphne too (arguslm.exports).
"""

import json
from itertools import islice

from django.http import StreamingHttpResponse

from arguslm.exports import csv_lines, streaming_response

BATCH_SIZE = 2000

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
    "itl_mean_ms",
    "itl_p95_ms",
    "input_tokens",
    "output_tokens",
    "token_source",
    "error_type",
    "provider_name",
    "model_id",
    "region",  # columns are only ever added at the end: scripts read them by position
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
    "itl_mean_ms",
    "itl_p95_ms",
    "input_tokens",
    "output_tokens",
    "token_source",
    "error_type",
    "model__provider_account__display_name",
    "model_id",
    "region",
]


def _batches(checks):
    """Lists of at most BATCH_SIZE export rows (dicts), one database fetch each."""
    rows = checks.values_list(*FIELDS).iterator(chunk_size=BATCH_SIZE)
    while batch := list(islice(rows, BATCH_SIZE)):
        yield [_item(row) for row in batch]


def _item(row: tuple) -> dict:
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
        itl_mean,
        itl_p95,
        tin,
        tout,
        source,
        etype,
        account,
        mid,
        region,
    ) = row
    return {
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
        "itl_mean_ms": itl_mean,
        "itl_p95_ms": itl_p95,
        "input_tokens": tin,
        "output_tokens": tout,
        "token_source": source,
        "error_type": etype,
        "provider_name": account,
        "model_id": str(mid),
        "region": region,
    }


def _json(checks):
    yield '{"checks": ['
    first = True
    for batch in _batches(checks):
        items = ",\n  ".join(json.dumps(item) for item in batch)
        yield ("\n  " if first else ",\n  ") + items
        first = False
    yield "\n]}\n"


def _csv(checks):
    yield from csv_lines([COLUMNS])
    for batch in _batches(checks):
        yield "".join(csv_lines([item[c] for c in COLUMNS] for item in batch))


def uptime_response(request, checks, fmt: str) -> StreamingHttpResponse:
    if fmt == "csv":
        parts, content_type = _csv(checks), "text/csv; charset=utf-8"
    else:
        parts, content_type = _json(checks), "application/json"
    return streaming_response(
        request, parts, content_type=content_type, filename=f"uptime_history.{fmt}"
    )
