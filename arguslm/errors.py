"""Domain errors: what a service refuses, in plain words, knowing nothing of HTTP.

Services (``<app>/services.py``) raise these; the API's exception handler (``arguslm/api.py``)
maps each to its status with a ``{"detail": message}`` body, and the pages show ``message``.
"""


class DomainError(Exception):
    """A refused operation; ``message`` is meant for the user."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class NotFound(DomainError):
    """The object does not exist (404)."""


class Conflict(DomainError):
    """The operation would break an invariant of stored data, e.g. lose history (409)."""


class Invalid(DomainError):
    """The input breaks a rule of the data itself, e.g. secrets sent to a new host (422)."""


class LimitReached(DomainError):
    """A limit that is not a request rate, e.g. concurrent benchmarks (429)."""


class Unavailable(DomainError):
    """A backing service (the task queue) cannot take the work now; retry later (503)."""
