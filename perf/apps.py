from django.apps import AppConfig


class PerfConfig(AppConfig):
    """The performance harness: the ``*_bench`` commands and the history generator. A
    development tool, loaded only where the ``perf/`` folder exists (a checkout, not a deploy)."""

    name = "perf"
