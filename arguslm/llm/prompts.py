"""Prompt packs: the fixed prompts probes and benchmarks send (the original's seven, and
packs whose answers are checked: arguslm.llm.answers)."""

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class PromptPack:
    id: str
    name: str
    prompt: str
    expected_tokens: int
    # What a right answer looks like (arguslm.llm.answers rules); a model may override it.
    answer_check: tuple = ()
    # Checked packs ask for the model's most likely answer, so that a different answer means
    # something (sent where the model takes a temperature: arguslm.llm.rules).
    temperature: float | None = None
    # Functions the model may call (OpenAI ``tools`` format; litellm translates them).
    tools: tuple = ()
    # Multi-turn packs: the user turns of each built-in conversation.
    turns: tuple = ()

    def conversation(self, index: int) -> tuple:
        return self.turns

    def as_dict(self) -> dict:
        return asdict(self)

    def messages(self, nonce: str | None = None) -> list[dict]:
        """One user message; probes add a nonce so prefix caches don't flatter TTFT."""
        text = self.prompt if nonce is None else f"{self.prompt}\n(request {nonce})"
        return [{"role": "user", "content": text}]


PACKS = [
    PromptPack(
        "health_check", "Health Check", "Count from 1 to 20, each number on a new line.", 30
    ),
    PromptPack(
        "shakespeare",
        "Shakespeare",
        "Write a short soliloquy in the style of Shakespeare about the nature of time. "
        "Use iambic pentameter and include at least one metaphor.",
        150,
    ),
    PromptPack(
        "synthetic_short", "Synthetic Short", "Explain what an API is in exactly 3 sentences.", 50
    ),
    PromptPack(
        "synthetic_medium",
        "Synthetic Medium",
        "Describe the process of photosynthesis. Include the key molecules involved, the two main "
        "stages (light-dependent and light-independent reactions), and explain why "
        "photosynthesis is essential for life on Earth.",
        200,
    ),
    PromptPack(
        "synthetic_long",
        "Synthetic Long",
        "Write a comprehensive guide to starting a small business. Cover these topics as a "
        "numbered list: 1. Validating the idea and market demand 2. Writing a business plan "
        "3. Choosing a legal structure and registering 4. Funding options 5. Setting up "
        "operations 6. Marketing and finding first customers 7. Common mistakes to avoid. "
        "Give practical advice for each.",
        500,
    ),
    PromptPack(
        "code_generation",
        "Code Generation",
        "Write a Python function that performs binary search on a sorted list. Include a "
        "docstring, type hints, handling of edge cases, and a short usage example.",
        150,
    ),
    PromptPack(
        "reasoning",
        "Reasoning",
        "A farmer has 17 sheep. All but 9 run away. How many sheep does the farmer have left? "
        "Explain your reasoning step by step.",
        100,
    ),
    PromptPack("liveness", "Liveness (minimal cost)", "Reply with the single word: ok", 2),
    PromptPack(
        "arithmetic",
        "Arithmetic (checked answer)",
        "What is 2 + 2? Reply with the number only.",
        2,
        temperature=0.0,
        answer_check=(
            {"kind": "not_refusal"},
            {"kind": "regex", "pattern": r"(^|\D)4(\D|$)|\b(?i:four)\b"},
        ),
    ),
    PromptPack(
        "json_answer",
        "JSON answer (checked)",
        "Reply with only this JSON object, exactly as written: "
        '{"status": "ok", "items": [1, 2, 3]}',
        20,
        temperature=0.0,
        answer_check=(
            {
                "kind": "json",
                "schema": {
                    "type": "object",
                    "required": ["status", "items"],
                    "properties": {
                        "status": {"const": "ok"},
                        "items": {"type": "array", "items": {"type": "integer"}},
                    },
                },
            },
        ),
    ),
]

WEATHER_ARGUMENTS = {
    "type": "object",
    "properties": {"city": {"type": "string", "minLength": 1}},
    "required": ["city"],
    "additionalProperties": False,
}
PACKS.append(
    PromptPack(
        "tool_call",
        "Tool call (checked)",
        "What is the weather in Paris right now? Use the get_weather tool.",
        15,
        temperature=0.0,
        tools=(
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "description": "The current weather in a city.",
                    "parameters": WEATHER_ARGUMENTS,
                },
            },
        ),
        answer_check=({"kind": "tool_call", "name": "get_weather", "schema": WEATHER_ARGUMENTS},),
    )
)

BY_ID = {pack.id: pack for pack in PACKS}


def get_pack(pack_id: str) -> PromptPack | None:
    return BY_ID.get(pack_id)
