"""What a probe region's name may be, checked wherever one is typed: the settings, the API's
filters, a model's or an account's probe regions, an account's regional endpoints.

Core, not monitoring.regions: providers validates its own fields with it and may not import
monitoring (the apps import downwards only).
"""

import re

from arguslm import errors

NAME = re.compile(r"[a-z][a-z0-9-]{0,31}")
MAX_LENGTH = 32
MAX_REGIONS = 16  # per model or account
RULE = "1-32 lowercase letters, digits or '-', starting with a letter"


def is_name(value: object) -> bool:
    # Length first: the regex never sees a long string.
    return isinstance(value, str) and len(value) <= MAX_LENGTH and bool(NAME.fullmatch(value))


def not_a_name(field: str, value: object) -> str:
    return f"{field}: {str(value)[:40]!r} is not a region name ({RULE})"


def clean_names(value, field: str) -> list[str]:
    """A list of region names, sorted and unique; Invalid naming ``field`` otherwise."""
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_REGIONS:
        raise errors.Invalid(f"{field}: a list of at most {MAX_REGIONS} region names")
    for name in value:
        if not is_name(name):
            raise errors.Invalid(not_a_name(field, name))
    return sorted(set(value))
