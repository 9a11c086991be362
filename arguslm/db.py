"""Database connection hygiene for long-running worker code."""

from django.db import close_old_connections, connection


def refresh_connection() -> None:
    """Drop this thread's connection if it is broken or too old (after a long async phase).

    A connection inside an atomic block is the caller's and is left alone.
    """
    if not connection.in_atomic_block:
        close_old_connections()
