"""What every export shares: CSV cells that cannot start a formula."""

import csv
from collections.abc import Iterable, Iterator

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
