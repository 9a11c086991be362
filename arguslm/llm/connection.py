"""Connection test: the cheapest real check that a provider account's credentials work.

A listing call where the provider has one (it costs nothing and proves key and URL);
otherwise a 1-token completion with a model that exists for that provider.
"""

import time

from arguslm.llm import catalog, discovery
from arguslm.llm.measure import measure
from arguslm.llm.types import GatewayError, Timeouts

TEST_TIMEOUTS = Timeouts(connect=10, first_token=20, between_tokens=20, total=30)
LISTING_FAMILIES = {"openai", "together", "ollama", "anthropic", "gemini", "azure", "bedrock"}


async def test_connection(provider_type: str, credentials: dict) -> dict:
    """``{"success", "message", "details"}``; never raises for a failed provider."""
    spec = catalog.get_spec(provider_type)
    if spec is None:
        return {
            "success": False,
            "message": f"Unknown provider type '{provider_type}'.",
            "details": {"error_type": "bad_request"},
        }
    if spec.discovery in LISTING_FAMILIES:
        return await _test_by_listing(provider_type, credentials)
    model = catalog.connection_test_model(provider_type)
    if model is None:
        return {
            "success": False,
            "message": "No cheap check is known for this provider type: add a model and probe it.",
            "details": {"error_type": "bad_request"},
        }
    return await _test_by_completion(provider_type, credentials, model)


async def _test_by_listing(provider_type: str, credentials: dict) -> dict:
    started = time.perf_counter()
    try:
        models = await discovery.discover(provider_type, credentials, timeout=15.0)
    except GatewayError as exc:
        latency = round((time.perf_counter() - started) * 1000, 1)
        return {
            "success": False,
            "message": f"Connection test failed: {exc.message}",
            "details": {
                "error_type": str(exc.error_type),
                "status_code": exc.status,
                "latency_ms": latency,
                "method": "list_models",
            },
        }
    latency = round((time.perf_counter() - started) * 1000, 1)
    return {
        "success": True,
        "message": f"Connected: {len(models)} model(s) available ({latency:.0f} ms).",
        "details": {"models_found": len(models), "latency_ms": latency, "method": "list_models"},
    }


async def _test_by_completion(provider_type: str, credentials: dict, model: str) -> dict:
    target = catalog.build_target(provider_type, credentials, model)
    messages = [{"role": "user", "content": "Reply with the single word: ok"}]
    sample = await measure(target, messages, max_tokens=1, timeouts=TEST_TIMEOUTS)
    details = {"model_tested": model, "latency_ms": sample.latency_ms, "method": "completion"}
    if sample.ok:
        return {"success": True, "message": f"Connected: {model} answered.", "details": details}
    details["error_type"] = sample.error_type
    return {
        "success": False,
        "message": f"Connection test failed: {sample.error}",
        "details": details,
    }
