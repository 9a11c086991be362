"""Answer checks: is a model's answer what its prompt pack (or the model itself) expects?

"200 OK" is not "working" for an LLM: it fails by refusing, by answering wrong, or by breaking
the JSON it was asked for. A check is a list of rules, all of which must hold:

- ``{"kind": "contains", "text": "4", "case_sensitive": false}``
- ``{"kind": "regex", "pattern": "(^|\\D)4(\\D|$)"}``: RE2 syntax, searched anywhere. The
  answer is provider-controlled, so patterns run on RE2, in time linear in the answer whatever
  the pattern (Python's ``re`` can backtrack for minutes on a crafted text).
- ``{"kind": "json", "schema": {...}}``: the answer (one Markdown code fence around it allowed)
  parses as JSON and, given a schema, validates against it (JSON Schema 2020-12). A schema may
  not use ``pattern``, ``patternProperties`` or ``format``: those would run Python's regexes on
  the provider's text; a regex rule does that safely.
- ``{"kind": "not_refusal"}``: the answer does not open with a refusal ("I'm sorry, but I
  can't…", "As an AI…").
- ``{"kind": "tool_call", "name": "get_weather", "schema": {...}}``: the model called the
  function (given the pack's ``tools``) instead of answering in text, and its arguments are
  JSON that fits the schema (the same schema rules as ``json``).

The answer is capped before any rule reads it. A failing check makes a monitoring check
``degraded`` with error_type ``bad_answer`` and the first failing rule's reason (metrics.md).
"""

import functools
import hashlib
import json

import re2
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

# Each rule kind and the keys it takes besides "kind".
RULE_KEYS = {
    "contains": ("text", "case_sensitive"),
    "regex": ("pattern",),
    "json": ("schema",),
    "not_refusal": (),
    "tool_call": ("name", "schema"),
}
KINDS = tuple(RULE_KEYS)
MAX_ANSWER_CHARS = 32_768  # an answer check reads at most this much of the answer
MAX_RULES = 10
MAX_TEXT_CHARS = 1_000  # a contains text or a pattern
MAX_SCHEMA_CHARS = 10_000  # a schema, as JSON
# Keywords whose regexes jsonschema would run with Python's backtracking engine.
UNSAFE_SCHEMA_KEYWORDS = ("pattern", "patternProperties", "format")
# How refusals open (lower case, straight apostrophes); only the opening is read.
REFUSAL_OPENINGS = (
    "i'm sorry",
    "i am sorry",
    "i apologize",
    "sorry, but",
    "sorry, i can",
    "i can't help",
    "i cannot help",
    "i can't assist",
    "i cannot assist",
    "i can't provide",
    "i cannot provide",
    "i'm unable to",
    "i am unable to",
    "i won't be able",
    "as an ai",
)


def _options() -> "re2.Options":
    options = re2.Options()
    options.log_errors = False  # a bad pattern is reported to the user, not to stderr
    return options


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str):
    return re2.compile(pattern, _options())


def problems(rules) -> list[str]:
    """What is wrong with ``rules`` as an answer check (empty: nothing)."""
    if not isinstance(rules, list):
        return ["An answer check is a list of rules."]
    if len(rules) > MAX_RULES:
        return [f"At most {MAX_RULES} rules."]
    found = []
    for number, rule in enumerate(rules, 1):
        where = f"Rule {number}"
        if not isinstance(rule, dict) or rule.get("kind") not in KINDS:
            found.append(f"{where}: kind must be one of {', '.join(KINDS)}.")
            continue
        kind = rule["kind"]
        if extra := sorted(set(rule) - {"kind", *RULE_KEYS[kind]}):
            found.append(f"{where} ({kind}): unknown keys {', '.join(extra)}.")
        if kind == "contains":
            text = rule.get("text")
            if not isinstance(text, str) or not text or len(text) > MAX_TEXT_CHARS:
                found.append(f"{where} (contains): text is 1 to {MAX_TEXT_CHARS} characters.")
            if not isinstance(rule.get("case_sensitive", False), bool):
                found.append(f"{where} (contains): case_sensitive is true or false.")
        elif kind == "regex":
            pattern = rule.get("pattern")
            if not isinstance(pattern, str) or not pattern or len(pattern) > MAX_TEXT_CHARS:
                found.append(f"{where} (regex): pattern is 1 to {MAX_TEXT_CHARS} characters.")
            else:
                try:
                    _compiled(pattern)
                except re2.error as error:
                    found.append(f"{where} (regex): not an RE2 pattern: {_text(error)}.")
        elif kind in ("json", "tool_call") and "schema" in rule:
            found += [f"{where} ({kind}): {p}" for p in _schema_problems(rule["schema"])]
        if kind == "tool_call" and not isinstance(rule.get("name", ""), str):
            found.append(f"{where} (tool_call): name is the function's name.")
    return found


def _schema_problems(schema) -> list[str]:
    if not isinstance(schema, dict):
        return ["schema is a JSON object."]
    if len(json.dumps(schema)) > MAX_SCHEMA_CHARS:
        return [f"schema is at most {MAX_SCHEMA_CHARS:,} characters of JSON."]
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as error:
        return [f"not a valid JSON Schema: {error.message}."]
    stack = [schema]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if unsafe := [k for k in UNSAFE_SCHEMA_KEYWORDS if k in item]:
                return [
                    f"the schema may not use {', '.join(unsafe)} (use a regex rule for text "
                    "patterns: it runs in linear time)."
                ]
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return []


def failure(rules, answer: str, tool: str | None = None) -> str | None:
    """Why ``answer`` fails ``rules`` (the first failing rule), or None when it passes.
    ``tool`` is the function the model called (its arguments are then the answer). ``rules``
    are valid (``problems`` found nothing when they were stored)."""
    answer = answer[:MAX_ANSWER_CHARS]
    for rule in rules or ():
        reason = _rule_failure(rule, answer, tool)
        if reason:
            return reason
    return None


def _rule_failure(rule: dict, answer: str, tool: str | None) -> str | None:
    kind = rule["kind"]
    if kind == "tool_call":
        wanted = rule.get("name")
        if tool is None:
            return f"the model answered in text instead of calling {wanted or 'a function'}"
        if wanted and tool != wanted:
            return f"the model called {tool}, not {wanted}"
        return _json_failure(answer, rule.get("schema"), what=f"the {tool} call's arguments")
    if kind == "contains":
        text = rule["text"]
        found = text in answer if rule.get("case_sensitive") else text.lower() in answer.lower()
        return None if found else f"the answer does not contain “{text}”"
    if kind == "regex":
        if _compiled(rule["pattern"]).search(answer):
            return None
        return f"the answer does not match /{rule['pattern']}/"
    if kind == "json":
        return _json_failure(answer, rule.get("schema"))
    if kind == "not_refusal" and is_refusal(answer):
        return "the answer is a refusal"
    return None


def is_refusal(answer: str) -> bool:
    """Whether the answer opens the way refusals do (only its opening is read)."""
    opening = " ".join(answer[:200].split()).lower().replace("’", "'")
    return opening.startswith(REFUSAL_OPENINGS)


def answer_hash(answer: str) -> str:
    """A short digest of the answer with case and whitespace normalised: equal answers to a
    fixed prompt have equal hashes (a model fingerprint, monitoring.drift)."""
    normal = " ".join(answer[:MAX_ANSWER_CHARS].split()).casefold()
    return hashlib.sha256(normal.encode()).hexdigest()[:16]


def _json_failure(answer: str, schema: dict | None, what: str = "the answer") -> str | None:
    text = answer.strip()
    if text.startswith("```"):  # ```json … ```: the fence is not the model's JSON
        text = text.partition("\n")[2].rstrip().removesuffix("```").strip()
    try:
        value = json.loads(text)
    except ValueError as error:
        return f"{what}: not JSON ({error})"
    except RecursionError:
        return f"{what}: not JSON (nested too deeply)"
    if schema is None:
        return None
    try:
        error = next(Draft202012Validator(schema).iter_errors(value), None)
    except RecursionError:
        return f"{what}: JSON nested too deeply to check"
    if error is None:
        return None
    return f"{what}: JSON that does not fit the schema ({_text(error.message)})"


def _text(error) -> str:
    """An error message as one short line (RE2 gives its message as bytes)."""
    detail = error.args[0] if isinstance(error, Exception) and error.args else error
    if isinstance(detail, bytes):
        detail = detail.decode(errors="replace")
    return " ".join(str(detail).split())[:200]
