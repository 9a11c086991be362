"""Tiny builders for test data (no fixtures files)."""

from providers.models import LLMModel, ProviderAccount


def make_account(**kw) -> ProviderAccount:
    credentials = kw.pop("credentials", {"base_url": "http://127.0.0.1:9/v1"})
    defaults = {"provider_type": "custom_openai_compatible", "display_name": "Test account"}
    account = ProviderAccount(**{**defaults, **kw})
    account.credentials = credentials
    account.save()
    return account


def make_model(account: ProviderAccount | None = None, **kw) -> LLMModel:
    account = account or make_account()
    defaults = {"model_id": "sim/n=3", "enabled_for_monitoring": True}
    return LLMModel.objects.create(provider_account=account, **{**defaults, **kw})


def make_benchmark_result(model: LLMModel, **kw):
    """A completed benchmark run with one result of ``model`` (history that must be kept)."""
    from benchmarks.models import BenchmarkResult, BenchmarkRun

    run = BenchmarkRun.objects.create(name="history", model_ids=[str(model.pk)], status="completed")
    return BenchmarkResult.objects.create(run=run, model=model, seq=1, **{"ttft_ms": 100.0, **kw})
