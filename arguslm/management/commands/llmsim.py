"""``manage.py llmsim``: run the scripted LLM provider simulator (see arguslm.llmsim)."""

import contextlib
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from arguslm.llmsim import server


class Command(BaseCommand):
    help = (
        "Run the LLM simulator: OpenAI, Anthropic and Ollama wire formats with scripted, "
        "deterministic timing chosen by the model name (see arguslm/llmsim/__init__.py)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8100)
        parser.add_argument("--seed", type=int, default=0, help="seed for flaky failures")
        parser.add_argument(
            "--distance-ms",
            type=float,
            default=0,
            help="delay every chat answer by this much (the network distance of a region)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        def ready(url: str) -> None:
            self.stdout.write(f"LLM simulator listening on {url}")
            # Flush now: scripts wait for this line before sending traffic, and a pipe
            # would otherwise hold it in the buffer.
            self.stdout.flush()

        # SIGINT/SIGTERM stop the server cleanly; on Windows Ctrl-C arrives as an exception.
        with contextlib.suppress(KeyboardInterrupt):
            server.run(
                options["host"],
                options["port"],
                options["seed"],
                on_ready=ready,
                distance_ms=max(0.0, min(options["distance_ms"], 60_000.0)),
            )
