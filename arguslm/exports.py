"""What every export shares: CSV cells that cannot start a formula, and streamed bodies that
stream under ASGI (daphne) as well as under WSGI."""

import csv
from collections.abc import AsyncIterator, Iterable, Iterator

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, StreamingHttpResponse

# A spreadsheet runs a cell starting with one of these as a formula (OWASP "CSV injection"):
# a model name, an account name or a provider's error text could read "=HYPERLINK(…)".
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value):
    """A value as a CSV cell: None is empty, and text that would start a formula gets a leading
    apostrophe, so spreadsheets show it as text. Numbers stay numbers."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class _Line:
    """A file-like object whose write() returns the line, for csv.writer."""

    def write(self, value: str) -> str:
        return value


def csv_lines(rows: Iterable[Iterable]) -> Iterator[str]:
    """Each row as one CSV line, every cell through ``csv_cell``: the one way exports write
    CSV."""
    writer = csv.writer(_Line())
    for row in rows:
        yield writer.writerow([csv_cell(value) for value in row])


def streaming_response(
    request: HttpRequest, parts: Iterator[str], *, content_type: str, filename: str
) -> StreamingHttpResponse:
    """An attachment streamed from ``parts`` (a generator reading the database in batches).

    Under ASGI, Django collects a synchronous iterator into one list before sending anything
    ("StreamingHttpResponse must consume synchronous iterators"), so there the parts are
    produced one at a time through ``sync_to_async``; WSGI iterates the generator itself.
    Either way at most one batch is in memory.
    """
    asgi = isinstance(getattr(request, "_request", request), ASGIRequest)  # DRF wraps it
    response = StreamingHttpResponse(
        _one_at_a_time(parts) if asgi else parts, content_type=content_type
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


async def _one_at_a_time(parts: Iterator[str]) -> AsyncIterator[str]:
    # Thread-sensitive: every step runs in the request's thread, on its database connection
    # (a PostgreSQL server-side cursor stays open between batches).
    step = sync_to_async(next)
    try:
        while (part := await step(parts, None)) is not None:
            yield part
    finally:  # the client went away, or the end: close the cursor in its thread
        close = getattr(parts, "close", None)
        if close is not None:
            await sync_to_async(close)()
