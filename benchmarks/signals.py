"""What benchmarks announce to the apps built on them (which subscribe in their ready())."""

from django.dispatch import Signal

# Sent once a run's final status is stored (benchmarks.engine.execute): ``run_id`` and
# ``status`` (completed, failed or cancelled). Alerts judge a saved benchmark's run against
# its baseline on it (benchmark_regression rules).
run_finished = Signal()
