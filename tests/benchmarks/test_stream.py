"""The benchmark WebSocket (Channels) with WebsocketCommunicator: live, late and resuming."""

import asyncio
import threading

import pytest
from channels.testing import WebsocketCommunicator

from benchmarks import engine
from benchmarks.models import BenchmarkRun
from tests.factories import make_account, make_benchmark_result, make_benchmark_run, make_model

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _asgi_imported(db):
    """Import the ASGI app (it checks the encryption key) outside the event loop."""
    import arguslm.asgi  # noqa: F401


def app():
    from arguslm.asgi import application

    return application


def communicator(path: str, token: str | None) -> WebsocketCommunicator:
    headers = [(b"authorization", f"Bearer {token}".encode())] if token else []
    return WebsocketCommunicator(app(), path, headers=headers)


async def collect(comm: WebsocketCommunicator, *, until=("complete", "error"), limit=200) -> list:
    messages = []
    for _ in range(limit):
        message = await comm.receive_json_from(timeout=10)
        messages.append(message)
        if message["type"] in until:
            break
    return messages


def finished_run(n: int = 3) -> BenchmarkRun:
    model = make_model(model_id="m-1", custom_name="Model One")
    run = make_benchmark_run(model, name="done", num_runs=n)
    for seq in range(1, n + 1):
        make_benchmark_result(model, run=run, seq=seq, ttft_ms=100.0 + seq)
    return run


def test_a_late_subscriber_gets_the_final_state_and_complete_at_once(token):
    run = finished_run()

    async def scenario():
        comm = communicator(f"/api/v1/benchmarks/{run.id}/stream", token)
        connected, _ = await comm.connect()
        assert connected
        messages = await collect(comm)
        closed = await comm.receive_output(timeout=5)
        await comm.disconnect()
        return messages, closed

    messages, closed = asyncio.run(scenario())
    assert messages[0] == {
        "type": "progress",
        "status": "completed",
        "completed": 3,
        "total": 3,
        "current_model": None,
    }
    results = [m for m in messages if m["type"] == "result"]
    assert [r["data"]["seq"] for r in results] == [1, 2, 3]
    assert (
        results[0]["data"]["model_name"] == "Model One" and results[0]["data"]["ttft_ms"] == 101.0
    )
    assert messages[-1]["type"] == "complete" and messages[-1]["status"] == "completed"
    assert closed["type"] == "websocket.close"


def test_a_reconnecting_client_resumes_after_the_last_result_it_saw(token):
    run = finished_run(4)

    async def scenario():
        comm = communicator(f"/api/v1/benchmarks/{run.id}/stream?after=2", token)
        await comm.connect()
        messages = await collect(comm)
        await comm.disconnect()
        return messages

    seqs = [m["data"]["seq"] for m in asyncio.run(scenario()) if m["type"] == "result"]
    assert seqs == [3, 4]


def test_a_live_subscriber_sees_progress_and_results_as_they_are_saved(token, llmsim):
    account = make_account(credentials={"base_url": f"{llmsim}/v1"})
    model = make_model(account, model_id="sim/ttft=30/itl=2/n=5")
    run = make_benchmark_run(model, name="live", status="pending", num_runs=3, warmup_runs=0)

    async def scenario():
        comm = communicator(f"/api/v1/benchmarks/{run.id}/stream", token)
        await comm.connect()
        first = await comm.receive_json_from(timeout=5)
        worker = threading.Thread(target=engine.execute, args=(run.id,))
        worker.start()
        messages = await collect(comm)
        await asyncio.to_thread(worker.join)
        await comm.disconnect()
        return first, messages

    first, messages = asyncio.run(scenario())
    assert first["type"] == "progress" and first["completed"] == 0 and first["total"] == 3
    kinds = [m["type"] for m in messages]
    assert kinds.count("result") == 3 and kinds[-1] == "complete"
    progress = [m for m in messages if m["type"] == "progress" and m.get("current_model")]
    assert [p["completed"] for p in progress] == [1, 2, 3]
    assert all(m["data"]["error"] is None for m in messages if m["type"] == "result")


def test_a_failed_run_ends_with_an_error_message(token):
    run = finished_run(1)
    run.status, run.error = "failed", "The worker running this benchmark stopped responding."
    run.save()

    async def scenario():
        comm = communicator(f"/api/v1/benchmarks/{run.id}/stream", token)
        await comm.connect()
        messages = await collect(comm)
        await comm.disconnect()
        return messages

    last = asyncio.run(scenario())[-1]
    assert last == {"type": "error", "error": run.error, "status": "failed"}


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/api/v1/benchmarks/00000000-0000-4000-8000-000000000000/stream", 4404),
        ("/api/v1/benchmarks/not-a-uuid/stream", 4422),
    ],
)
def test_unknown_or_malformed_runs_are_closed_with_a_clear_code(token, path, code):
    async def scenario():
        comm = communicator(path, token)
        await comm.connect()
        message = await comm.receive_json_from(timeout=5)
        closed = await comm.receive_output(timeout=5)
        return message, closed

    message, closed = asyncio.run(scenario())
    assert message["type"] == "error" and message["error"]
    assert closed == {"type": "websocket.close", "code": code}


def test_an_unauthenticated_client_is_closed_with_4401(db):
    run = finished_run(1)

    async def scenario():
        comm = communicator(f"/api/v1/benchmarks/{run.id}/stream", None)
        await comm.connect()
        await comm.receive_json_from(timeout=5)
        return await comm.receive_output(timeout=5)

    assert asyncio.run(scenario()) == {"type": "websocket.close", "code": 4401}


def test_text_ping_is_answered_with_pong(token, llmsim):
    model = make_model()
    run = make_benchmark_run(model, name="p", status="pending")

    async def scenario():
        comm = communicator(f"/api/v1/benchmarks/{run.id}/stream", token)
        await comm.connect()
        await comm.receive_json_from(timeout=5)  # initial progress
        await comm.send_to(text_data="ping")
        reply = await comm.receive_from(timeout=5)
        await comm.disconnect()
        return reply

    assert asyncio.run(scenario()) == "pong"
