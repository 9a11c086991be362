"""The gateway's data types: what to call (``CallTarget``) and what one call measured (``Sample``).

Field meanings follow docs/metrics.md exactly; ``Sample.finish()`` derives the
rates from the raw timings so that every caller computes them the same way.
"""

from dataclasses import asdict, dataclass, field
from enum import StrEnum


class ErrorType(StrEnum):
    """The error taxonomy of metrics.md."""

    TIMEOUT = "timeout"
    CONNECTION = "connection"
    AUTH = "auth"
    RATE_LIMITED = "rate_limited"
    NOT_FOUND = "not_found"
    BAD_REQUEST = "bad_request"
    SERVER_ERROR = "server_error"
    STREAM_ERROR = "stream_error"
    EMPTY_RESPONSE = "empty_response"
    BAD_ANSWER = "bad_answer"  # answered, but not what the prompt pack expects (llm.answers)
    UNKNOWN = "unknown"


def error_type_for_status(status: int) -> ErrorType:
    """Map an HTTP status code to the taxonomy."""
    if status in (401, 403):
        return ErrorType.AUTH
    if status in (429, 529):
        return ErrorType.RATE_LIMITED
    if status == 404:
        return ErrorType.NOT_FOUND
    if status in (400, 413, 422):
        return ErrorType.BAD_REQUEST
    if status == 408:
        return ErrorType.TIMEOUT
    if status >= 500:
        return ErrorType.SERVER_ERROR
    return ErrorType.UNKNOWN


class GatewayError(Exception):
    """A classified failure talking to a provider (discovery, connection test)."""

    def __init__(self, error_type: ErrorType, message: str, *, status: int | None = None):
        super().__init__(message)
        self.error_type = ErrorType(error_type)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class CallTarget:
    """Everything needed to send one chat request to one model of one provider account.

    ``route`` is "openai" when the provider speaks the OpenAI wire format and is streamed
    directly through the ``openai`` SDK's async client (the precise timing path), else
    "litellm" (litellm's ``acompletion`` with ``litellm_model`` and ``litellm_kwargs``).
    """

    provider_type: str
    model_id: str
    route: str
    litellm_model: str
    base_url: str | None = None
    api_key: str | None = None
    headers: dict = field(default_factory=dict)
    litellm_kwargs: dict = field(default_factory=dict)
    query: dict = field(default_factory=dict)  # query parameters (Azure's api-version)
    # May reach private and loopback addresses whatever its provider type: set only for the
    # warm-up's own simulator on a loopback port (warm.py); the network policy's other rules
    # still apply (docs/network-policy.md).
    private: bool = False


@dataclass(frozen=True)
class Timeouts:
    """Per-phase timeouts in seconds (no retries inside a measurement)."""

    connect: float = 10.0
    first_token: float = 30.0
    between_tokens: float = 30.0
    total: float = 120.0


@dataclass
class Sample:
    """One HTTP attempt, measured per metrics.md."""

    ttft_ms: float | None = None
    ttfat_ms: float | None = None
    latency_ms: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    reasoning_tokens: int | None = None
    token_source: str | None = None
    chunks: int = 0
    tps: float | None = None
    tps_excluding_ttft: float | None = None
    tpot_ms: float | None = None
    # Inter-token latency: the gaps between token-bearing chunks, their mean and p95.
    itl_mean_ms: float | None = None
    itl_p95_ms: float | None = None
    error_type: str | None = None
    error: str | None = None
    queue_ms: float = 0.0
    # Whether this request opened a new connection (TCP and TLS) and how long that took:
    # TTFT with a handshake and TTFT on a reused connection can then be told apart. None where
    # the client does not tell (the litellm route).
    new_connection: bool | None = None
    connect_ms: float | None = None
    status_code: int | None = None
    text: str = field(default="", repr=False)
    # The answer alone (no reasoning), for answer checks; never stored. What may be stored and
    # shown is ``excerpt``: its start, with credentials and the prompt removed.
    answer: str = field(default="", repr=False)
    excerpt: str = ""
    # What the response says served it: its ``model`` field and OpenAI's system_fingerprint.
    served_model: str | None = None
    system_fingerprint: str | None = None
    tool: str | None = None  # the function the model called instead of answering in text

    @property
    def ok(self) -> bool:
        return self.error_type is None

    def finish(self) -> "Sample":
        """Derive tps, tps_excluding_ttft and tpot_ms from tokens and timings."""
        out, lat, ttft = self.output_tokens, self.latency_ms, self.ttft_ms
        if self.ok and out is not None and lat:
            self.tps = out / (lat / 1000)
        if self.ok and out is not None and out >= 2 and ttft is not None and lat and lat > ttft:
            decode_ms = lat - ttft
            self.tps_excluding_ttft = (out - 1) / (decode_ms / 1000)
            self.tpot_ms = decode_ms / (out - 1)
        return self

    def as_dict(self) -> dict:
        data = asdict(self)
        data.pop("text")
        data.pop("answer")
        return data
