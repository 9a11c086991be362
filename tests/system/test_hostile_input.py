"""Hostile input at the API: oversized bodies, malformed ids and dates, huge numbers, hostile
strings. Whatever comes in, the answer is a 4xx with ``{"detail": ...}``, never a 500, and
text that is valid is stored and returned byte for byte.
"""

import base64
import csv
import io
import json
import re
from pathlib import Path

import pytest

from arguslm.exports import FORMULA_STARTS, csv_cell
from tests.factories import (
    make_account,
    make_benchmark_result,
    make_benchmark_run,
    make_check,
    make_model,
)

ROOT = Path(__file__).resolve().parents[2]

API = "/api/v1"
ZERO = "00000000-0000-0000-0000-000000000000"

# Every route with an id in its path, with its method.
ID_ROUTES = [
    ("get", "/providers/{}"),
    ("patch", "/providers/{}"),
    ("delete", "/providers/{}"),
    ("post", "/providers/{}/test"),
    ("post", "/providers/{}/refresh-models"),
    ("get", "/models/{}"),
    ("patch", "/models/{}"),
    ("delete", "/models/{}"),
    ("get", "/benchmarks/{}"),
    ("delete", "/benchmarks/{}"),
    ("post", "/benchmarks/{}/cancel"),
    ("get", "/benchmarks/{}/results"),
    ("get", "/benchmarks/{}/export"),
    ("get", "/monitoring/runs/{}"),
    ("post", "/alerts/{}/acknowledge"),
    ("get", "/alerts/rules/{}"),
    ("patch", "/alerts/rules/{}"),
    ("delete", "/alerts/rules/{}"),
    ("post", "/alerts/rules/{}/test"),
]
BAD_IDS = [
    "not-a-uuid",
    "1' OR '1'='1",
    "0" * 5000,
    "ünïcødé-🚀",
    "%00",
    "12345678-1234-1234-1234-1234567890123",  # one digit too many
]


def _detail(response) -> list | str:
    body = response.json()
    assert set(body) == {"detail"}, body
    return body["detail"]


# --- Bodies -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [("post", "/providers"), ("post", "/models"), ("patch", "/monitoring/config")],
)
def test_an_oversized_body_is_a_413_and_one_just_under_the_limit_a_422(api, settings, method, path):
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 1024 * 1024
    send = getattr(api, method)
    for size, expected in ((2 * limit, 413), (limit - 100, 422)):
        body = json.dumps({"display_name": "x" * size, "model_id": "m", "prompt_pack": "x"})
        response = send(API + path, body, content_type="application/json")
        # Without the limit (DATA_UPLOAD_MAX_MEMORY_SIZE=None) the value fails validation.
        wanted = expected if settings.DATA_UPLOAD_MAX_MEMORY_SIZE else 422
        assert response.status_code == wanted, (size, response.content[:200])
        assert _detail(response)


@pytest.mark.parametrize(
    "raw",
    [
        b"{",
        b"[]",
        b"null",
        b'"text"',
        b"\xff\xfe",
        b'{"a": NaN}',
        b'{"a":' * 5000 + b"1" + b"}" * 5000,  # nested past Python's recursion limit
        b"[" * 100_000 + b"]" * 100_000,
        b'{"provider_type": "x", "credentials": ' + b'{"a":' * 3000 + b"1" + b"}" * 3000 + b"}",
    ],
)
def test_a_body_that_is_not_a_json_object_is_a_422(api, raw):
    response = api.post(f"{API}/providers", raw, content_type="application/json")
    assert response.status_code == 422, response.content[:200]
    assert _detail(response)


# --- Ids in paths and queries -----------------------------------------------------------------


@pytest.mark.parametrize(("method", "route"), ID_ROUTES)
def test_a_malformed_id_in_a_path_is_a_422_naming_it(api, method, route, settings):
    # Every request counts against its rate limit, malformed or not: lift them here.
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": dict.fromkeys(rates, "1000/min"),
    }
    for bad in BAD_IDS:
        response = getattr(api, method)(API + route.format(bad))
        assert response.status_code == 422, (bad, response.content[:200])
        (error,) = _detail(response)
        assert error["loc"][0] == "path"


@pytest.mark.parametrize(("method", "route"), ID_ROUTES)
def test_an_unknown_id_in_a_path_is_a_404(api, method, route):
    response = getattr(api, method)(API + route.format(ZERO))
    assert response.status_code == 404
    assert isinstance(_detail(response), str)


@pytest.mark.parametrize(
    ("path", "param"),
    [
        ("/models", "provider_id"),
        ("/models", "provider_account_id"),
        ("/monitoring/uptime", "model_id"),
        ("/monitoring/uptime/export", "model_id"),
        ("/alerts", "rule_id"),
    ],
)
def test_a_malformed_id_in_a_query_is_a_422_naming_it(api, path, param):
    for bad in ["nope", "1;DROP TABLE x", "\x00", "0" * 5000]:
        response = api.get(API + path, {param: bad})
        assert response.status_code == 422, (bad, response.content[:200])
        assert ["query", param] in [e["loc"] for e in _detail(response)]


# --- Dates ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "param"),
    [
        ("/monitoring/uptime", "since"),
        ("/monitoring/uptime/export", "start_date"),
        ("/monitoring/uptime/export", "end_date"),
        ("/alerts", "since"),
    ],
)
def test_a_bad_date_in_a_query_is_a_422(api, path, param):
    for bad in [
        "yesterday",
        "2024-13-45",
        "2024-02-30T00:00:00Z",
        "99999-01-01T00:00:00Z",
        "2024-01-01T25:61:00Z",
        "2024-01-01T00:00:00+99:00",
        "9999-12-31T23:59:59-12:00",  # valid, but beyond year 9999 once in UTC
        "0001-01-01T00:00:00+14:00",  # valid, but before year 1 once in UTC
        "\x00",
    ]:
        response = api.get(API + path, {param: bad})
        assert response.status_code == 422, (bad, response.content[:200])
        assert ["query", param] in [e["loc"] for e in _detail(response)]


@pytest.mark.parametrize(
    "value", ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "2024-01-01", "1970-01-01T00:00Z"]
)
def test_extreme_but_valid_dates_are_accepted(api, value):
    assert api.get(f"{API}/monitoring/uptime", {"since": value}).status_code == 200
    assert api.get(f"{API}/alerts", {"since": value}).status_code == 200
    export = api.get(f"{API}/monitoring/uptime/export", {"start_date": value, "format": "csv"})
    assert export.status_code == 200


def test_an_export_window_that_ends_before_it_starts_is_a_422(api):
    response = api.get(
        f"{API}/monitoring/uptime/export",
        {"start_date": "2024-02-01T00:00:00Z", "end_date": "2024-01-01T00:00:00Z"},
    )
    assert response.status_code == 422


# Every operation that reads its query string.
QUERIED = [
    "/models",
    "/monitoring/runs",
    "/monitoring/uptime",
    "/monitoring/uptime/export",
    "/benchmarks",
    f"/benchmarks/{ZERO}/export",
    "/alerts",
    "/alerts/recent",
    "/alerts/incidents",
    "/alerts/deliveries",
]


@pytest.mark.parametrize("path", QUERIED)
def test_more_query_parameters_than_django_parses_is_a_422_not_a_500(api, settings, path):
    many = "&".join(f"p{i}=1" for i in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1))
    response = api.get(f"{API}{path}?{many}")
    assert response.status_code == 422, response.content[:200]
    assert _detail(response)[0]["loc"] == ["query"]


# --- Numbers ----------------------------------------------------------------------------------

PAGED = [
    "/models",
    "/monitoring/runs",
    "/monitoring/uptime",
    "/alerts",
    "/alerts/incidents",
    "/alerts/deliveries",
]


@pytest.mark.parametrize("path", PAGED)
@pytest.mark.parametrize("param", ["limit", "offset"])
def test_a_huge_or_malformed_limit_or_offset_is_a_422_not_an_overflow(api, path, param):
    for value in [10**20, 2**63, -1, "1e3", "0x10", "NaN", "12abc"]:
        response = api.get(API + path, {param: value})
        assert response.status_code == 422, (value, response.content[:200])
        assert ["query", param] in [e["loc"] for e in _detail(response)]


@pytest.mark.parametrize("path", PAGED)
def test_the_largest_accepted_offset_answers_an_empty_page(api, path):
    response = api.get(API + path, {"offset": 10_000_000})
    assert response.status_code == 200
    body = response.json()
    assert (body["items"] if isinstance(body, dict) else body) == []


@pytest.mark.parametrize("value", [10**20, 0, -5])
def test_a_huge_benchmark_page_is_a_422(api, value):
    response = api.get(f"{API}/benchmarks", {"page": value})
    assert response.status_code == 422


@pytest.mark.parametrize(
    "patch",
    [
        {"interval_minutes": 10**20},
        {"timeout_seconds": 1e308},
        {"max_tokens": -1},
        {"concurrency_per_account": "lots"},
        {"degraded_ttft_ms": 2**63},
        {"retention_days": True},
    ],
)
def test_out_of_range_numbers_in_a_body_are_a_422(api, patch):
    response = api.patch(f"{API}/monitoring/config", patch, format="json")
    assert response.status_code == 422, response.content[:200]


# --- Hostile strings: stored and returned intact -----------------------------------------------

HOSTILE = [
    "Robert'); DROP TABLE providers_provideraccount;--",
    "1 OR 1=1; SELECT * FROM auth_user",
    "模型 🚀 ñandú — Ωmega",
    "\u202eevil\u202c zero\u200bwidth",
    "<script>alert(1)</script>",
    "100% _real_ \\ back\\slash",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝟙𝟚𝟛",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_names_are_stored_and_returned_intact(api, text):
    created = api.post(
        f"{API}/providers",
        {
            "provider_type": "custom_openai_compatible",
            "display_name": text,
            "credentials": {"base_url": "http://127.0.0.1:9/v1"},
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    assert created.json()["display_name"] == text
    account_id = created.json()["id"]
    assert api.get(f"{API}/providers/{account_id}").json()["display_name"] == text

    model = api.post(
        f"{API}/models",
        {"provider_account_id": account_id, "model_id": "m-1", "custom_name": text},
        format="json",
    )
    assert model.status_code == 201, model.content
    assert model.json()["custom_name"] == text

    rule = api.post(
        f"{API}/alerts/rules", {"name": text, "rule_type": "any_model_down"}, format="json"
    )
    assert rule.status_code == 201, rule.content
    assert api.get(f"{API}/alerts/rules/{rule.json()['id']}").json()["name"] == text


@pytest.mark.parametrize("text", HOSTILE)
def test_a_search_finds_hostile_text_literally(api, text):
    account = make_account()
    wanted = make_model(account, model_id="wanted", custom_name=f"before {text} after")
    make_model(account, model_id="other", custom_name="plain name")
    response = api.get(f"{API}/models", {"search": text})
    assert response.status_code == 200
    assert [m["id"] for m in response.json()["items"]] == [str(wanted.id)]


@pytest.mark.parametrize("term", ["%", "_", "\\", "'", '"', "%%'--", "🚀"])
def test_like_wildcards_in_a_search_match_only_themselves(api, term):
    make_model(make_account(), model_id="abc", custom_name="nothing special")
    response = api.get(f"{API}/models", {"search": term})
    assert response.status_code == 200
    assert response.json()["items"] == []


def test_a_search_longer_than_allowed_is_a_422(api):
    response = api.get(f"{API}/models", {"search": "x" * 10_000})
    assert response.status_code == 422


# --- Null characters (PostgreSQL rejects \x00 in text and jsonb) ------------------------------

NUL = "bad\x00value"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (
            "/providers",
            {
                "provider_type": "custom_openai_compatible",
                "display_name": NUL,
                "credentials": {"base_url": "http://127.0.0.1:9/v1"},
            },
        ),
        ("/providers", {"provider_type": NUL, "display_name": "x"}),
        ("/providers/test-connection", {"provider_type": NUL, "display_name": "x"}),
        ("/alerts/rules", {"name": NUL, "rule_type": "any_model_down"}),
        ("/alerts/rules", {"name": "r", "rule_type": "any_model_down", "email_to": NUL}),
        (
            "/alerts/rules",
            {
                "name": "r",
                "rule_type": "model_unavailable_everywhere",
                "target_model_name": NUL,
            },
        ),
        (
            "/alerts/rules",
            {"name": "r", "rule_type": "any_model_down", "threshold_config": {"k": NUL}},
        ),
        (
            "/alerts/rules",
            {"name": "r", "rule_type": "any_model_down", "threshold_config": {NUL: 1}},
        ),
        (
            "/alerts/rules",
            {
                "name": "r",
                "rule_type": "any_model_down",
                "notify_webhook": True,
                "webhook_url": f"http://example.com/{NUL}",
            },
        ),
        ("/benchmarks", {"model_ids": [ZERO], "prompt_pack": NUL}),
    ],
)
def test_a_null_character_in_a_body_string_is_a_422(api, path, body):
    response = api.post(API + path, body, format="json")
    assert response.status_code == 422, response.content[:300]
    assert _detail(response)


def test_a_null_character_in_model_fields_is_a_422(api):
    account = make_account()
    for body in (
        {"provider_account_id": str(account.id), "model_id": NUL},
        {"provider_account_id": str(account.id), "model_id": "m", "custom_name": NUL},
        {"provider_account_id": str(account.id), "model_id": "m", "metadata": {"k": NUL}},
        {"provider_account_id": str(account.id), "model_id": "m", "metadata": {NUL: "v"}},
        {"provider_account_id": str(account.id), "model_id": "m", "metadata": {"a": [{"b": NUL}]}},
    ):
        response = api.post(f"{API}/models", body, format="json")
        assert response.status_code == 422, (body, response.content[:300])
    model = make_model(account)
    response = api.patch(f"{API}/models/{model.id}", {"custom_name": NUL}, format="json")
    assert response.status_code == 422


def test_a_null_character_in_updates_is_a_422(api):
    account = make_account()
    response = api.patch(f"{API}/providers/{account.id}", {"display_name": NUL}, format="json")
    assert response.status_code == 422
    response = api.patch(f"{API}/monitoring/config", {"prompt_pack": NUL}, format="json")
    assert response.status_code == 422
    rule = api.post(
        f"{API}/alerts/rules", {"name": "r", "rule_type": "any_model_down"}, format="json"
    )
    response = api.patch(
        f"{API}/alerts/rules/{rule.json()['id']}", {"threshold_config": {"x": NUL}}, format="json"
    )
    assert response.status_code == 422


@pytest.mark.parametrize(
    ("path", "param"),
    [
        ("/models", "search"),
        ("/monitoring/runs", "status"),
        ("/monitoring/uptime", "status"),
        ("/monitoring/uptime/export", "format"),
        ("/benchmarks", "status"),
    ],
)
def test_a_null_character_in_a_query_is_a_422(api, path, param):
    response = api.get(API + path, {param: NUL})
    assert response.status_code == 422, response.content[:300]


def test_a_null_character_in_credentials_never_reaches_the_database_as_text(api):
    """Credentials are stored encrypted (base64 text), so even \\x00 in a key is harmless."""
    response = api.post(
        f"{API}/providers",
        {
            "provider_type": "custom_openai_compatible",
            "display_name": "nul key",
            "credentials": {"base_url": "http://127.0.0.1:9/v1", "api_key": "sk-\x00-123"},
        },
        format="json",
    )
    assert response.status_code in (201, 422), response.content[:300]


@pytest.mark.parametrize(
    "header",
    ["Basic " + base64.b64encode(b"token:ab\x00c").decode(), "Bearer ab\x00c", "Token \x00"],
    ids=["basic", "bearer", "token"],
)
def test_a_null_character_in_an_api_token_is_a_401(anon, header):
    response = anon.get(f"{API}/providers", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401, response.content[:300]


def test_deeply_nested_but_parseable_json_is_stored_and_returned(api):
    account = make_account()
    deep: dict = {"leaf": "ok"}
    for _ in range(200):
        deep = {"a": deep}
    body = {"provider_account_id": str(account.id), "model_id": "deep", "metadata": deep}
    response = api.post(f"{API}/models", body, format="json")
    assert response.status_code == 201, response.content[:300]
    assert api.get(f"{API}/models/{response.json()['id']}").json()["model_metadata"] == deep


# --- CSV exports cannot start a formula (OWASP "CSV injection") -------------------------------

FORMULAS = ['=HYPERLINK("http://evil.example","x")', "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"]


def test_a_cell_that_would_start_a_formula_is_written_as_text():
    assert [csv_cell(v) for v in FORMULAS] == ["'" + v for v in FORMULAS]
    plain = [None, 12, -3.5, "Model A", "a=b", "'quoted"]
    assert [csv_cell(v) for v in plain] == ["", 12, -3.5, "Model A", "a=b", "'quoted"]


def csv_cells(response) -> list[str]:
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return [cell for row in csv.reader(io.StringIO(body.decode())) for cell in row]


def test_no_csv_export_writes_a_cell_that_starts_a_formula(api):
    account = make_account(display_name="@account")
    model = make_model(account, custom_name="=cmd|' /C calc'!A0")
    make_check(model, status="down", error_type="server_error", error="-2+3 from the provider")
    run = make_benchmark_run(model)
    make_benchmark_result(model, run=run, error_type="server_error", error="+1 failed")
    exports = {
        "uptime": api.get("/api/v1/monitoring/uptime/export?format=csv"),
        "results": api.get(f"/api/v1/benchmarks/{run.id}/export?format=csv"),
        "statistics": api.get(f"/api/v1/benchmarks/{run.id}/export?format=csv&table=statistics"),
    }
    cells = {name: csv_cells(response) for name, response in exports.items()}
    for name, found in cells.items():
        assert [c for c in found if c.startswith(FORMULA_STARTS)] == [], name
        assert "'=cmd|' /C calc'!A0" in found, name
    assert {"'@account", "'-2+3 from the provider"} <= set(cells["uptime"])
    assert "'+1 failed" in cells["results"]


def test_every_csv_export_writes_through_the_one_helper():
    """A new export using csv.writer directly would skip the formula guard."""
    writers = [
        str(path.relative_to(ROOT))
        for app in ("arguslm", "providers", "monitoring", "benchmarks", "alerts", "dashboard")
        for path in (ROOT / app).rglob("*.py")
        if re.search(r"csv\.(writer|DictWriter)\(", path.read_text())
    ]
    assert writers == ["arguslm/exports.py"]
