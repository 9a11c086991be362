"""The simulator's capacity keys (cap, over) over real HTTP: queueing beyond cap, counted
per model name from acceptance until the response ends or the client hangs up."""

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from arguslm.llmsim.scenarios import Scenario, ScenarioError, loaded, parse_model
from arguslm.llmsim.server import start_in_thread

SLACK_MS = 30  # as in test_llmsim: loopback, a busy CI box, GC pauses
MESSAGES = [{"role": "user", "content": "x" * 40}]


@pytest.fixture
def url() -> Iterator[str]:
    # A server per test: the counts are server-wide, another test's streams must not leak in.
    base_url, stop = start_in_thread(seed=0)
    yield base_url
    stop()


def stream(
    client: httpx.Client, model: str, headers_in: threading.Event | None = None
) -> dict[str, Any]:
    """Stream one OpenAI request to the end: its headers and the measured TTFT in ms."""
    body = {"model": model, "messages": MESSAGES, "stream": True}
    ttft = None
    start = time.perf_counter()
    with client.stream("POST", "/v1/chat/completions", json=body) as resp:
        if headers_in is not None:
            headers_in.set()  # the server counted this request before sending its headers
        for line in resp.iter_lines():
            if ttft is None and '"content":"tok' in line:
                ttft = (time.perf_counter() - start) * 1000
    return {"headers": resp.headers, "ttft": ttft}


def test_streams_beyond_cap_wait_over_ms_each_and_the_count_drops_when_they_end(url):
    # The first stream lasts 250 ms: all four are in flight together.
    model = "sim/ttft=50/itl=50/n=5/cap=2/over=100"
    clients = [httpx.Client(base_url=url, timeout=5) for _ in range(4)]  # made before timing
    results: list[dict[str, Any]] = [{}] * 4

    def run(i: int, headers_in: threading.Event) -> None:
        results[i] = stream(clients[i], model, headers_in)

    threads = []
    for i in range(4):  # each starts once the previous one is counted: arrival in order
        headers_in = threading.Event()
        threads.append(threading.Thread(target=run, args=(i, headers_in)))
        threads[-1].start()
        assert headers_in.wait(5)
    for thread in threads:
        thread.join(5)
    for client in clients:
        client.close()

    expected = [50, 50, 150, 250]
    for i, result in enumerate(results):
        assert result["headers"]["x-sim-active"] == str(i + 1)
        assert result["headers"]["x-sim-ttft-ms"] == str(expected[i])
        assert result["headers"]["x-sim-scenario"] == f"sim/ttft={expected[i]}/itl=50/n=5/chunk=1"
        assert expected[i] <= result["ttft"] <= expected[i] + SLACK_MS, (i, result["ttft"])
    log = httpx.get(f"{url}/_sim/requests", params={"limit": 4}).json()["requests"]
    assert [(r["active"], r["scheduled_ttft_ms"]) for r in reversed(log)] == [
        (1, 50),
        (2, 50),
        (3, 150),
        (4, 250),
    ]
    with httpx.Client(base_url=url, timeout=5) as client:
        after = stream(client, model)
    assert (after["headers"]["x-sim-active"], after["headers"]["x-sim-ttft-ms"]) == ("1", "50")


def test_a_client_that_hangs_up_mid_stream_is_no_longer_counted(url):
    model = "sim/ttft=0/itl=50/n=100/cap=1/over=100"
    body = {"model": model, "messages": MESSAGES, "stream": True}
    with (
        httpx.Client(base_url=url, timeout=5) as client,
        client.stream("POST", "/v1/chat/completions", json=body) as resp,
    ):
        lines = resp.iter_lines()
        while '"content":"tok2' not in next(lines):
            pass
    # Leaving the block mid-body closes the connection; wait for the server to notice.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        record = httpx.get(f"{url}/_sim/requests", params={"limit": 1}).json()["requests"][0]
        if record["outcome"] != "pending":
            break
        time.sleep(0.01)

    assert record["outcome"] == "client_closed"
    with (
        httpx.Client(base_url=url, timeout=5) as client,
        client.stream("POST", "/v1/chat/completions", json=body) as again,
    ):
        assert (again.headers["x-sim-active"], again.headers["x-sim-ttft-ms"]) == ("1", "0")


def test_bad_capacity_values_get_400_naming_the_key(url):
    for model, key in (("sim/cap=0", "cap"), ("sim/cap=two", "cap"), ("sim/over=-1", "over")):
        resp = httpx.post(f"{url}/v1/chat/completions", json={"model": model})

        assert resp.status_code == 400
        assert resp.json()["error"]["message"].startswith(f"{key}="), model


def test_the_capacity_keys_round_trip_and_load_only_the_ttft():
    scenario = parse_model("sim/ttft=50/cap=2/over=100")

    assert (scenario.cap, scenario.over) == (2, 100)
    assert scenario.spec() == "sim/ttft=50/itl=20/n=20/chunk=1/cap=2/over=100"
    assert parse_model(scenario.spec()) == scenario
    assert loaded(scenario, 1) == Scenario(ttft=50)
    assert loaded(scenario, 3) == Scenario(ttft=250)
    assert loaded(Scenario(ttft=50), 99) == Scenario(ttft=50)  # no cap: unlimited
    with pytest.raises(ScenarioError) as excinfo:
        parse_model("sim/over=nan")
    assert excinfo.value.key == "over"
