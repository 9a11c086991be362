"""LLM simulator: a real HTTP server standing in for LLM providers, on a scripted clock.

Run it with ``manage.py llmsim [--host 127.0.0.1] [--port 8100] [--seed 0]``, or in-process
with ``arguslm.llmsim.server.start_in_thread()``. Every chunk is sent at an absolute
deadline counted from the moment the request was received, so "measured - scheduled"
is the measurement error.

Endpoints
    OpenAI     POST /v1/chat/completions, GET /v1/models (also under /together/v1/...;
               /together/v1/models returns a bare array like Together AI)
    Anthropic  POST /v1/messages, GET /v1/models when the request carries an
               anthropic-version or x-api-key header (paginated: limit, after_id, before_id;
               named models plus claude-sim-1 ... claude-sim-25)
    Ollama     POST /api/chat (streams unless "stream": false), GET /api/tags
    Gemini     GET /v1beta/models (listing only; 7 models, pageSize 3 by default,
               gemini-sim-3 and gemini-sim-6 are embedding-only)
    Simulator  GET /_sim/health, GET /_sim/requests?limit=100 (last 10,000 chat requests,
               newest first, with first_chunk_sent_ms = actual delay to the first token and
               active = X-Sim-Active)
    Strict     /p/<profile>/...: one provider's exact rules each (accepted fields, limits,
               usage, reasoning field, auth, error bodies); see profiles.py. Base URLs:
               /p/{openai,mistral,groq,xai,deepseek,together,fireworks,openrouter,
               lm_studio,ollama,custom,gzip}/v1 (OpenAI-compatible), /p/azure (Azure
               OpenAI deployments), /p/anthropic, /p/gemini/v1beta, /p/vertex (+ token
               endpoint /p/vertex/token), /p/bedrock (Converse), /p/ollama (native
               /api/chat). /p/gzip is the generic OpenAI endpoint behind a proxy that
               gzips every body.

API keys: anything (or nothing) is accepted, except a key starting with ``invalid``: 401
(Authorization Bearer, x-api-key, x-goog-api-key, api-key or ?key=). Strict profiles also
demand the credentials their provider demands (see profiles.py).

The model name is the script
    Named: fast-small (ttft 150 ms, itl 8, n 40), balanced-medium (400, 25, 60),
    slow-large (1200, 60, 80), reasoner (300, 15, n 30 after 40 reasoning tokens),
    flaky (250, 15, 30; 30 % fail with 500), rate-limited (200, 10, 20; 50 % fail with
    429), down (always 503). Overrides may follow: ``fast-small/n=5``. Ollama's
    ``:latest`` suffix is ignored.
    Parametric: ``sim/key=value/...``, e.g. ``sim/ttft=200/itl=10/n=30/chunk=3``.
    Other names: 404. Unknown key or bad value: 400 naming the key.

Keys [default]
    ttft ms to the first token-bearing chunk [200]    itl ms between chunks [20]
    n answer tokens [20]     chunk tokens per chunk [1]     reasoning tokens first [0]
    usage 1/0 report token usage [1]     input prompt tokens [characters / 4, min 1]
    status answer at once with 400/401/403/404/408/413/422/429/500/503/529 [-]
    retry_after seconds, Retry-After on 429/529 [1]
    drop=k cut the connection at chunk k's slot (broken chunked stream) [-]
    error=k in-stream error event at chunk k's slot, then end [-]
    stall=k pause stall_ms [600000] at chunk k's slot, then carry on [-]; stall=0:
        headers (and the OpenAI role chunk / Anthropic message_start) but no token
    hang ms before the response headers [0]
    done 1/0 OpenAI ``data: [DONE]`` [1]    tool 1/0 OpenAI tool-call argument deltas, a
        call of the request's first ``tools`` function (else "answer") [0]
    flaky fraction 0-1 failing with flaky_status [500]    seed per-model flaky seed
    comments k SSE comment lines (": keep-alive") spread between the headers and the
        first token, OpenAI and Gemini SSE formats only [0]
    usage_ms OpenAI: the usage chunk (and [DONE]) come this many ms after the finish
        chunk; the tokens keep their schedule [0]
    finish 1/0 0: the stream just ends after the last token: no finish_reason chunk, no
        usage, no [DONE] (Anthropic: no message_delta/stop; Ollama: no done line) [1]
    rfield reasoning|reasoning_content OpenAI delta field of reasoning text
        [reasoning_content] (strict profiles use their provider's field instead)
    bad=k OpenAI: at chunk k's slot send the malformed ``data: {"choices":[null]}``,
        then carry on with chunk k and the rest [-]
    answer json|brokenjson|refusal|four|five|count|weather|empty a scripted answer instead of
        the filler (scenarios.ANSWERS; names only, never free text). n becomes the
        text's token count; an n in the same name cuts the answer to its first n tokens,
        a larger one is ignored. Every format and tool=1 send exactly that text [-]
    served alt the response reports a different model name: the requested one + "-v2"
        (OpenAI/Ollama ``model``, Anthropic ``message.model``) [-]
    vary k each request drops 0..k answer tokens, drawn from a seeded sequence per model
        name (the server's seed, or seed=): answers then differ in content and length as
        sampled ones do, the same way in every run. X-Sim-Scenario names the answer sent [0]
    cap C streams served at full speed: a request that finds k others of its exact model
        name active (server-wide, from acceptance, once its body is read and its model
        parsed, until its response ends or its client is gone) gets ttft + over *
        max(0, k + 1 - C); X-Sim-Scenario gives that ttft and no cap, so it replays this
        request's timing [-]
    over ms of TTFT added per stream beyond cap [50]

Schedule
    reasoning + n tokens are cut into chunks of ``chunk`` tokens, reasoning chunks first
    (never mixed): C = ceil(reasoning/chunk) + ceil(n/chunk). Chunk j (0-based) is sent at
    received + ttft + j*itl; the finish follows the last chunk at once (at ttft if C = 0).
    k >= C for drop/error/stall/bad acts in place of (bad: just before) the finish.
    Comments go out at start + i*(ttft - start)/(k+1), start = min(hang, ttft). Deadlines
    stay absolute, so a hang longer than ttft makes the due chunks follow the headers at
    once. Non-streaming requests get the whole body at the finish time. Tokens are
    ``tok1 tok2 ...`` (with ``answer``: the text's words, each with its whitespace, so the
    chunks join to the exact text), reasoning tokens ``think1 think2 ...``.

Flaky
    Request k to an exact model name fails iff the k-th draw of
    ``random.Random(f"{seed}:{model_name}")`` is below ``flaky``: same seed, same failures.

Ground truth headers on every chat response
    X-Sim-Request-Id, X-Sim-Scenario (canonical ``sim/...`` name), X-Sim-TTFT-Ms,
    X-Sim-ITL-Ms, X-Sim-Output-Tokens (reasoning + n), X-Sim-Chunks (C), X-Sim-Active
    (requests of that model name in flight, this one included; absent on rejections
    before the scenario runs). X-Sim-TTFT-Ms includes the cap's added time. In strict
    profiles they describe what is actually sent: after a token limit cut the answer, and
    with hidden reasoning (X-Sim-Chunks = answer chunks, X-Sim-TTFT-Ms = first of them).
"""
