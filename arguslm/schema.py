"""The OpenAPI schema's additions to drf-spectacular: authentication schemes, error responses."""

from django.conf import settings
from drf_spectacular import openapi
from drf_spectacular.authentication import SessionScheme
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiResponse, extend_schema_field
from rest_framework import authentication, serializers


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "arguslm.auth.BearerTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token (Settings page or `manage.py drf_create_token`). "
            "`Authorization: Token <key>` is accepted too.",
        }


class BasicTokenScheme(OpenApiAuthenticationExtension):
    target_class = "arguslm.auth.BasicTokenAuthentication"
    name = "basicTokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "basic",
            "description": "HTTP Basic with any user name and an API token as the password "
            "(what the arguslm SDK sends for http://token:<key>@host).",
        }


class SessionCsrfScheme(SessionScheme):
    """The session cookie, as drf-spectacular describes DRF's own session authentication."""

    target_class = "arguslm.auth.SessionAuthentication"


@extend_schema_field({"oneOf": [{"type": "string"}, {"type": "integer"}]})
class _LocPart(serializers.Field):
    """A step of an error's location: a name, or an index into a list."""


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="What was refused or went wrong, for a person.")


class FieldErrorSerializer(serializers.Serializer):
    type = serializers.CharField(help_text="A short code: required, invalid, max_value, …")
    loc = serializers.ListField(
        child=_LocPart(),
        help_text='Where: "body", "query" or "path", then the field (and list indexes).',
    )
    msg = serializers.CharField()


class ValidationErrorSerializer(serializers.Serializer):
    detail = FieldErrorSerializer(many=True)


UNSAFE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
# The 503 of an operation that hands work to the task queue (the broker may be down).
QUEUE_UNAVAILABLE = OpenApiResponse(description="The task queue is unavailable; retry shortly")


class AutoSchema(openapi.AutoSchema):
    """drf-spectacular's AutoSchema, plus every error an operation can answer, so that tools
    checking status codes (schemathesis, client generators) know them all.

    The codes follow from facts about the operation (see ``_errors``); a code declared in the
    view's ``@extend_schema(responses=...)`` keeps its description. Every error response gets
    the body ``arguslm.api.exception_handler`` sends: ``{"detail": "..."}``, or for a 422 a list
    naming each bad value.
    """

    def get_operation(self, *args, **kwargs):
        operation = super().get_operation(*args, **kwargs)
        if operation is None:  # excluded from the schema
            return None
        responses = operation["responses"]
        for code, description in self._errors(operation).items():
            responses.setdefault(code, {"description": description})
        for code, response in responses.items():
            if code >= "400" and "content" not in response:
                body = ValidationErrorSerializer if code == "422" else ErrorSerializer
                responses[code] = self._get_response_for_code(
                    OpenApiResponse(response=body, description=response["description"]), code
                )
        operation["responses"] = dict(sorted(responses.items()))
        return operation

    def _errors(self, operation: dict) -> dict[str, str]:
        """Code → description of the errors this operation can answer, from what it is."""
        authenticators = self.view.get_authenticators()
        locations = {parameter["in"] for parameter in operation.get("parameters", [])}
        errors = {}
        if authenticators:  # no credentials (where required), or a bad token (anywhere)
            errors["401"] = "Not authenticated, or the API token is invalid"
        if self.method in UNSAFE_METHODS and any(
            isinstance(a, authentication.SessionAuthentication) for a in authenticators
        ):
            errors["403"] = (
                "CSRF check failed (a request without an API token: by its session cookie, "
                "or anonymous when the API is open)"
            )
        if "path" in locations:  # every path parameter is the id of a stored object
            errors["404"] = "Not found"
        if "requestBody" in operation:
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE  # see arguslm.limits
            errors["413"] = f"Request body larger than {limit} bytes"
        if "requestBody" in operation or locations & {"path", "query"}:
            errors["422"] = "Invalid body, query or path value (each one named)"
        if self.view.get_throttles():
            errors["429"] = "Rate limited; Retry-After says when to retry"
        # Every request reads the database (its token at least); throttles count in the cache.
        errors["503"] = "A backing service is unavailable; retry shortly"
        return errors
