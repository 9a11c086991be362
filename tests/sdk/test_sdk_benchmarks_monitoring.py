"""The published SDK's monitoring and benchmark methods against a live server and worker.

The benchmark stream goes through a real daphne process and a real WebSocket client (the
SDK's ``websockets``), authenticated with HTTP Basic userinfo as the SDK sends it.
"""

import json

import pytest

pytestmark = pytest.mark.live


def setup_models(live, llmsim, ids):
    with live.api() as http:
        account = http.post(
            "/api/v1/providers",
            json={
                "provider_type": "custom_openai_compatible",
                "display_name": "Sim SDK",
                "credentials": {"base_url": f"{llmsim}/v1"},
            },
        ).json()
        models = []
        for model_id in ids:
            body = {
                "provider_account_id": account["id"],
                "model_id": model_id,
                "enabled_for_monitoring": True,
            }
            models.append(http.post("/api/v1/models", json=body).json()["id"])
    return models


def test_the_sdk_runs_a_benchmark_and_streams_it_live(live, llmsim):
    models = setup_models(live, llmsim, ["sim/ttft=40/itl=4/n=10", "sim/ttft=80/itl=2/n=6"])
    script = f"""
import asyncio, json
from arguslm import AsyncArgusLMClient
from arguslm.schemas import BenchmarkCreate

async def main():
    out = {{}}
    async with AsyncArgusLMClient() as c:
        body = BenchmarkCreate(model_ids={models!r}, prompt_pack="health_check", num_runs=2,
                               max_tokens=20, name="sdk run")
        started = await c.start_benchmark(body)
        out["start"] = started.status
        kinds = []
        async for message in c.stream_benchmark(started.id):
            kinds.append(message["type"])
        out["kinds"] = kinds
        run = await c.get_benchmark(started.id)
        out["run"] = [run.status, run.result_count, len(run.results), run.statistics.ttft_p50 > 0]
        res = await c.get_benchmark_results(started.id)
        out["results"] = [res.total, sorted({{r.model_name for r in res.results}})]
        exported = await c.export_benchmark(started.id, format="csv")
        out["csv_lines"] = len(exported.text.strip().splitlines())
        listed = await c.list_benchmarks()
        out["listed"] = listed.total
    print(json.dumps(out))

asyncio.run(main())
"""
    out = json.loads(live.sdk(script, timeout=180).strip().splitlines()[-1])
    assert out["start"] == "pending"
    assert out["kinds"][-1] == "complete"
    assert out["kinds"].count("result") == 4
    assert out["run"] == ["completed", 4, 4, True]
    assert out["results"] == [4, ["sim/ttft=40/itl=4/n=10", "sim/ttft=80/itl=2/n=6"]]
    assert out["csv_lines"] == 5 and out["listed"] >= 1


def test_a_late_sdk_subscriber_gets_the_end_instead_of_hanging(live, llmsim):
    models = setup_models(live, llmsim, ["sim/ttft=5/itl=1/n=3/seed=9"])
    script = f"""
import asyncio, json
from arguslm import AsyncArgusLMClient
from arguslm.schemas import BenchmarkCreate

async def main():
    async with AsyncArgusLMClient() as c:
        started = await c.start_benchmark(BenchmarkCreate(model_ids={models!r},
                                          prompt_pack="liveness", num_runs=1, max_tokens=5))
        for _ in range(100):
            if (await c.get_benchmark(started.id)).status == "completed":
                break
            await asyncio.sleep(0.2)
        kinds = [m["type"] async for m in c.stream_benchmark(started.id)]
    print(json.dumps(kinds))

asyncio.run(asyncio.wait_for(main(), 60))
"""
    kinds = json.loads(live.sdk(script).strip().splitlines()[-1])
    assert kinds == ["progress", "result", "complete"]


def test_the_sdk_monitoring_methods(live, llmsim):
    setup_models(live, llmsim, ["sim/ttft=10/itl=1/n=4", "sim/status=500"])
    script = """
import json, time
from arguslm import ArgusLMClient
from arguslm.schemas import MonitoringConfigUpdate

out = {}
with ArgusLMClient() as c:
    config = c.update_monitoring_config(MonitoringConfigUpdate(interval_minutes=30,
                                                               prompt_pack="liveness"))
    out["config"] = [config.interval_minutes, config.prompt_pack, c.get_monitoring_config().enabled]
    out["packs"] = len(c.list_prompt_packs())
    run = c.run_monitoring()
    out["run"] = run.status
    # Checks are stored as they complete: wait for both of this test's models.
    ours = {"sim/ttft=10/itl=1/n=4", "sim/status=500"}
    for _ in range(150):
        history = c.get_uptime_history(limit=50)
        if ours <= {i.model_name for i in history.items}:
            break
        time.sleep(0.2)
    mine = [i for i in history.items if i.model_name in ours]
    out["statuses"] = sorted(i.status for i in mine)
    out["names"] = sorted(i.model_name for i in mine)
    out["down_only"] = c.get_uptime_history(status="down").total
    exported = c.export_uptime_history(format="json")
    out["exported"] = len(exported.json()["checks"])
print(json.dumps(out))
"""
    out = json.loads(live.sdk(script, timeout=120).strip().splitlines()[-1])
    assert out["config"] == [30, "liveness", True]
    assert out["packs"] == 15 and out["run"] == "queued"
    assert {"up", "down"} <= set(out["statuses"])
    assert "sim/status=500" in out["names"] and out["down_only"] >= 1
    assert out["exported"] >= 2
