"""Benchmark workload packs: long contexts of a known size and multi-turn conversations,
each with its nonce first, and the long prompt carried whole to the simulator."""

import asyncio
import hashlib
import random

import pytest

from arguslm.llm.measure import estimate_input_tokens, measure
from arguslm.llm.prompts import BY_ID, CONVERSATIONS, PACKS, document, get_pack
from arguslm.llm.types import CallTarget, Timeouts

LONG = {"long_1k": 1000, "long_8k": 8000, "long_32k": 32000}


def text(pack_id: str, nonce: str | None) -> str:
    [message] = get_pack(pack_id).messages(nonce)
    return message["content"]


@pytest.mark.parametrize("pack_id", [*LONG, "multi_turn"])
def test_a_workload_pack_is_deterministic_and_its_nonce_comes_first(pack_id):
    assert text(pack_id, "ab12cd34") == text(pack_id, "ab12cd34")
    assert text(pack_id, None) == text(pack_id, None)
    first, second = text(pack_id, "ab12cd34"), text(pack_id, "ef56ab78")
    assert first.splitlines()[0] == "Request ab12cd34."
    assert first.splitlines()[0] != second.splitlines()[0]
    assert first[:40] != second[:40]  # a prefix cache finds nothing to reuse
    assert first[40:] == second[40:]


@pytest.mark.parametrize(("pack_id", "target"), LONG.items())
def test_a_long_pack_lands_within_5_percent_of_its_token_target(pack_id, target):
    for nonce in (None, "ab12cd34"):
        tokens = estimate_input_tokens(get_pack(pack_id).messages(nonce))

        assert abs(tokens - target) <= target * 0.05, (nonce, tokens)
    assert get_pack(pack_id).expected_tokens == 128
    assert text(pack_id, None).endswith(get_pack(pack_id).prompt)


def test_the_document_does_not_depend_on_the_random_modules_state():
    document.cache_clear()
    random.seed(1)
    first = document(1000)
    document.cache_clear()
    random.seed(2)

    assert document(1000) == first
    # Pinned: the same text in every process and run (a changed word list changes it).
    assert hashlib.sha256(first.encode()).hexdigest()[:16] == "5aacdbd2205dfd3f"


def test_the_multi_turn_pack_gives_conversations_by_index_and_its_first_turn_alone():
    pack = get_pack("multi_turn")

    assert len(CONVERSATIONS) == 3 and all(len(turns) == 3 for turns in CONVERSATIONS)
    assert pack.conversation(1) == CONVERSATIONS[1]
    assert pack.conversation(4) == CONVERSATIONS[1]  # modulo the number of conversations
    turns = pack.conversation(2, "ab12cd34")
    assert turns[0] == f"Request ab12cd34.\n\n{CONVERSATIONS[2][0]}"
    assert turns[1:] == CONVERSATIONS[2][1:]
    assert text("multi_turn", "ab12cd34") == pack.conversation(0, "ab12cd34")[0]


def test_only_the_workload_packs_are_benchmark_only():
    assert {p.id for p in PACKS if p.benchmark_only} == {*LONG, "multi_turn"}
    assert BY_ID["health_check"].messages("n1")[0]["content"].endswith("(request n1)")


def test_the_gateway_sends_a_32k_token_prompt_whole_to_the_simulator(llmsim):
    messages = get_pack("long_32k").messages("ab12cd34")
    timeouts = Timeouts(connect=2, first_token=5, between_tokens=5, total=10)

    def sample(model: str):
        target = CallTarget(
            "custom_openai_compatible",
            model,
            "openai",
            f"openai/{model}",
            base_url=f"{llmsim}/v1",
            api_key="sk-test-123456",
        )
        return asyncio.run(measure(target, messages, max_tokens=128, timeouts=timeouts))

    reported = sample("sim/ttft=5/itl=1/n=4")
    estimated = sample("sim/ttft=5/itl=1/n=4/usage=0")

    assert reported.error is None and estimated.error is None
    # The simulator counts 4 characters a token of what it received: all of it arrived.
    assert reported.input_tokens == len(messages[0]["content"]) // 4
    # Without usage the gateway falls back on its own count, which the pack was sized by.
    assert estimated.input_tokens == estimate_input_tokens(messages)
    assert abs(estimated.input_tokens - 32000) <= 1600
