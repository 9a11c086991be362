"""Prompt packs: the fixed prompts probes and benchmarks send (the original's seven, packs
whose answers are checked: arguslm.llm.answers, and benchmark workloads: long contexts and
a multi-turn conversation)."""

import functools
import random
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
    # Too heavy to send to every model each monitoring interval: benchmarks only.
    benchmark_only: bool = False
    # Long-context packs: a generated document before the prompt brings the message to about
    # this many input tokens (the default tokenizer's count); 0 = the prompt alone.
    context_tokens: int = 0
    # Multi-turn packs: user turns per conversation; ``prompt`` is the first one's first turn.
    conversations: tuple[tuple[str, ...], ...] = ()

    def as_dict(self) -> dict:
        return asdict(self)

    def messages(self, nonce: str | None = None) -> list[dict]:
        """One user message; probes add a nonce so prefix caches don't flatter TTFT.

        Long-context and multi-turn packs put it first: a prefix cache matches a request's
        longest cached prefix, so with the nonce at the end it would still serve the whole
        document (or the earlier turns) from cache.
        """
        if self.context_tokens:
            text = _nonce_first(nonce, f"{document(self.context_tokens)}\n\n{self.prompt}")
        elif self.conversations:
            text = self.conversation(0, nonce)[0]
        else:
            text = self.prompt if nonce is None else f"{self.prompt}\n(request {nonce})"
        return [{"role": "user", "content": text}]

    def conversation(self, index: int, nonce: str | None = None) -> tuple[str, ...]:
        """The user turns of conversation ``index`` (taken modulo their number), the nonce
        first in the first turn. The caller sends each turn after the model's answer to the
        previous one."""
        first, *rest = self.conversations[index % len(self.conversations)]
        return (_nonce_first(nonce, first), *rest)


def _nonce_first(nonce: str | None, text: str) -> str:
    return text if nonce is None else f"Request {nonce}.\n\n{text}"


# Words that are one token each in the default tokenizer (cl100k) with or without a leading
# space, capitalised or not, so that a document's token count follows from its word count
# without loading a tokenizer (litellm's import costs seconds in a web process). Function
# words make up about 40 % of English text; drawn as often here, they keep the document near
# prose's 4-5 characters a token, so its body weighs what a real one of that length would.
FUNCTION_WORDS = (  # noqa: SIM905 (text reads better than a list of 44 quoted words)
    "a an the of to in on at by for as or and but if so it is be we he she they you this that "
    "its our their his her all one two not no was are has had can will may do"
).split()
CONTENT_WORDS = (  # noqa: SIM905
    "service team system data report customer request response server network process model "
    "user account change update release issue support order payment invoice product market "
    "price cost budget quarter revenue plan project schedule meeting review policy rule record "
    "file page document note letter email message call office staff manager director board "
    "company business group unit region city country river mountain road bridge station train "
    "flight hotel room guest menu kitchen water energy power light heat weather season winter "
    "summer spring morning night week month year history story book chapter author reader "
    "library school student teacher lesson class course exam result score level stage phase "
    "step method tool machine engine vehicle driver worker factory supply stock store shop sale "
    "deal contract partner client vendor agent doctor patient health care study research test "
    "trial sample value rate number figure table chart graph line point area field range limit "
    "target goal task job work time life world state law court case question answer problem "
    "solution reason effect cause risk safety quality speed size weight length volume sound "
    "music film art picture image color design style form shape pattern structure element part "
    "piece set list item detail fact evidence source context summary section paragraph word "
    "language new old large small long short high low early late good great strong clear simple "
    "common local public private main major minor final first last next open free full real "
    "certain important different similar recent annual daily weekly monthly quick slow were "
    "should would could must does did made found left moved added increased improved changed "
    "built closed started finished reviewed checked shared used needed while because after "
    "before during since until when where which with from into over under between across "
    "through about against within without"
).split()
# The request line, the question and the message's framing (the tokenizer counts 7 tokens
# per message) around the document: measured, tests/gateway/test_prompt_packs.py holds it.
FRAME_TOKENS = 30


@functools.cache
def document(tokens: int) -> str:
    """A filler document that brings a long-context message to about ``tokens`` tokens.

    Sentences of 6-17 random words in paragraphs of 3-7 sentences: each word one token, each
    sentence one more for its full stop. The generator is seeded with ``tokens`` and used
    only through ``random()``, whose sequence Python keeps across versions: the same text in
    every process and every run. Built once per process, on first use.
    """
    rng = random.Random(tokens)

    def pick(low: int, high: int) -> int:
        return low + int(rng.random() * (high - low + 1))

    def word() -> str:
        words = FUNCTION_WORDS if rng.random() < 0.4 else CONTENT_WORDS
        return words[int(rng.random() * len(words))]

    paragraphs: list[str] = []
    budget = tokens - FRAME_TOKENS
    while budget > 0:
        sentences = []
        for _ in range(pick(3, 7)):
            count = min(pick(6, 17), max(budget - 1, 1))
            words = [word() for _ in range(count)]
            sentences.append(" ".join(words).capitalize() + ".")
            budget -= count + 1
            if budget <= 0:
                break
        paragraphs.append(" ".join(sentences))
    return "\n\n".join(paragraphs)


LONG_CONTEXT_PROMPT = (
    "Summarize the document above in five bullet points, then say in one sentence what it is "
    "mostly about."
)
CONVERSATIONS = (
    (
        "I was charged twice for my March subscription, on March 3 and March 5. What could "
        "have happened, and how do I get the extra charge refunded?",
        "The second charge still shows as pending in my bank app. Does that change anything, "
        "and how long should I wait before I contact my bank?",
        "Thanks. Please write a short summary of this case that I can forward to our finance team.",
    ),
    (
        "In Python I have a list of dicts like {'name': str, 'age': int}. How do I sort it by "
        "age, oldest first, and by name when the ages are equal?",
        "Some entries have age set to None. How do I put those at the end without a TypeError?",
        "Please turn that into a small function with type hints and a docstring, plus one "
        "pytest test for it.",
    ),
    (
        "My partner and I are spending four days in Lisbon in early October. We like food, "
        "walking and some history, not nightlife. Can you sketch a day-by-day plan?",
        "Day two looks too packed. Could you give Sintra a day of its own and tell me how to "
        "get there by train?",
        "What should we pack for that time of year, and what daily budget should two people "
        "plan for, not counting the hotel?",
    ),
)


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

# Benchmark workloads: prefill-heavy requests and conversations whose context grows by turn.
PACKS += [
    PromptPack(
        f"long_{size}k",
        f"Long context ({size}k tokens in)",
        LONG_CONTEXT_PROMPT,
        128,
        benchmark_only=True,
        context_tokens=size * 1000,
    )
    for size in (1, 8, 32)
]
PACKS.append(
    PromptPack(
        "multi_turn",
        "Multi-turn conversation",
        CONVERSATIONS[0][0],
        150,
        benchmark_only=True,
        conversations=CONVERSATIONS,
    )
)

BY_ID = {pack.id: pack for pack in PACKS}


def get_pack(pack_id: str) -> PromptPack | None:
    return BY_ID.get(pack_id)
