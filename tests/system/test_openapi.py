"""The served OpenAPI schema lists every status code an operation can answer, with its body
(arguslm.schema.AutoSchema), so that tools checking status codes can rely on it."""

import pytest

pytestmark = pytest.mark.django_db

ERROR = {"$ref": "#/components/schemas/Error"}
VALIDATION_ERROR = {"$ref": "#/components/schemas/ValidationError"}


@pytest.fixture
def openapi(client) -> dict:
    response = client.get("/openapi.json", HTTP_ACCEPT="application/yaml")  # JSON whatever
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.oai.openapi+json"  # a JSON type (+json)
    return response.json()


def _responses(openapi: dict, method: str, path: str) -> dict:
    return openapi["paths"]["/api/v1" + path][method.lower()]["responses"]


@pytest.mark.parametrize(
    ("method", "path", "codes"),
    [
        # A list: authenticated, query parameters; no id, no body.
        ("GET", "/models", {"200", "401", "422", "503"}),
        # Fixed data, nothing to validate.
        ("GET", "/providers/catalog", {"200", "401", "503"}),
        # An id in the path, a body, a conflict the view declares.
        ("POST", "/models", {"201", "401", "403", "409", "413", "422", "503"}),
        ("PATCH", "/providers/{id}", {"200", "401", "403", "404", "413", "422", "503"}),
        ("DELETE", "/providers/{id}", {"204", "401", "403", "404", "409", "422", "503"}),
        # Queues work and is rate-limited; no body.
        ("POST", "/monitoring/run", {"200", "401", "403", "429", "503"}),
        ("POST", "/benchmarks", {"202", "401", "403", "413", "422", "429", "503"}),
        # The original API's 400 for a type without discovery, and the provider's failure.
        (
            "POST",
            "/providers/{id}/refresh-models",
            {"200", "400", "401", "403", "404", "422", "429", "502", "503"},
        ),
        ("GET", "/monitoring/runs/{run_id}", {"200", "401", "404", "422", "503"}),
    ],
)
def test_representative_operations_declare_their_codes(openapi, method, path, codes):
    assert set(_responses(openapi, method, path)) == codes


def test_declared_descriptions_are_kept(openapi):
    assert _responses(openapi, "DELETE", "/providers/{id}")["409"]["description"] == (
        "Has benchmark history"
    )
    queue = _responses(openapi, "POST", "/monitoring/run")["503"]["description"]
    assert "task queue" in queue


def test_every_error_response_has_the_detail_body_the_handler_sends(openapi):
    for path, operations in openapi["paths"].items():
        for method, operation in operations.items():
            for code, response in operation["responses"].items():
                if code < "400":
                    continue
                schema = response["content"]["application/json"]["schema"]
                wanted = VALIDATION_ERROR if code == "422" else ERROR
                assert schema == wanted, (method, path, code)
    components = openapi["components"]["schemas"]
    assert components["Error"]["properties"]["detail"]["type"] == "string"
    assert components["Error"]["required"] == ["detail"]
    items = components["ValidationError"]["properties"]["detail"]
    assert items["type"] == "array"
    assert items["items"] == {"$ref": "#/components/schemas/FieldError"}
    assert set(components["FieldError"]["required"]) == {"type", "loc", "msg"}


def test_a_422_body_matches_its_component(api, openapi):
    """What the exception handler really sends, checked against the documented shape."""
    body = api.get("/api/v1/models", {"limit": 0, "provider_id": "x"}).json()
    assert set(body) == {"detail"}
    fields = set(openapi["components"]["schemas"]["FieldError"]["properties"])
    for error in body["detail"]:
        assert set(error) == fields
        assert error["loc"][0] == "query"
