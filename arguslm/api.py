"""Conventions shared by every API view: error bodies, 422 validation errors, query parsing.

Errors are ``{"detail": ...}``. Invalid bodies and query values are 422 (as the original
ArgusLM and its SDK expect) with ``detail`` as a list naming each bad field, in FastAPI's
shape without its ``input``: ``[{"type", "loc", "msg"}]`` (documented in arguslm.schema).
"""

import logging
import uuid

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig, TooManyFieldsSent
from django.db import OperationalError
from django.http import Http404
from drf_spectacular.utils import extend_schema_serializer
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from arguslm import errors

log = logging.getLogger(__name__)


class Unprocessable(exceptions.ValidationError):
    """A 422 whose detail names the bad fields; ``location`` is "body", "query" or "path"."""

    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY

    def __init__(self, detail, location: str = "body"):
        super().__init__(detail)
        self.location = location


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "Conflict."


class QueueUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The task queue is unavailable; try again shortly."


class DatabaseUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The database is unavailable; try again shortly."


class BadGateway(exceptions.APIException):
    status_code = status.HTTP_502_BAD_GATEWAY
    default_detail = "The provider returned an error."


def _from_domain(exc: errors.DomainError) -> exceptions.APIException:
    """A service's refusal as the API's status (one mapping for every view)."""
    from arguslm.limits import LimitReached

    if isinstance(exc, errors.NotFound):
        return exceptions.NotFound(exc.message)
    if isinstance(exc, errors.Conflict):
        return Conflict(exc.message)
    if isinstance(exc, errors.LimitReached):
        return LimitReached(exc.message)
    if isinstance(exc, errors.Unavailable):
        return QueueUnavailable(exc.message)
    if isinstance(exc, errors.Invalid):
        return Unprocessable(exc.message)
    return exceptions.APIException(exc.message)


def _flatten(detail, loc: list) -> list[dict]:
    """DRF's nested error dict/list → a flat list of {loc, msg, type}."""
    if isinstance(detail, dict):
        items = []
        for key, value in detail.items():
            sub = loc if key in ("non_field_errors", "__all__") else [*loc, key]
            items.extend(_flatten(value, sub))
        return items
    if isinstance(detail, list):
        if all(isinstance(d, str) for d in detail):
            return [_entry(d, loc) for d in detail]
        items = []
        for index, value in enumerate(detail):
            items.extend(_flatten(value, [*loc, index] if not isinstance(value, str) else loc))
        return items
    return [_entry(detail, loc)]


def _entry(message, loc: list) -> dict:
    code = getattr(message, "code", None) or "value_error"
    return {"type": code, "loc": loc, "msg": str(message)}


def exception_handler(exc, context):
    """DRF exception handler with the API's conventions (see module docstring)."""
    if isinstance(exc, exceptions.ParseError):
        exc = Unprocessable({"non_field_errors": [f"Malformed JSON body: {exc.detail}"]})
    if isinstance(exc, RecursionError) and "decoding a JSON" in str(exc):
        # json.loads on a body nested thousands deep; DRF's JSON parser only catches ValueError.
        exc = Unprocessable({"non_field_errors": ["Malformed JSON body: nested too deeply."]})
    if isinstance(exc, errors.DomainError):
        # Before the 422 branch: errors.Invalid becomes a ValidationError, answered like one.
        exc = _from_domain(exc)
    if isinstance(exc, exceptions.ValidationError):
        location = getattr(exc, "location", "body")
        detail = _flatten(exc.detail, [location])
        return Response({"detail": detail}, status=status.HTTP_422_UNPROCESSABLE_ENTITY)
    if isinstance(exc, RequestDataTooBig):  # raised by request.data (arguslm.limits)
        from arguslm.limits import body_too_large

        return Response(
            {"detail": body_too_large(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)},
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, Http404):
        message = str(exc) or "Not found."
        return Response({"detail": message}, status=status.HTTP_404_NOT_FOUND)
    if isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    # A backing service that is down (or restarting) is a 503 the client may retry, not a 500.
    if isinstance(exc, OperationalError):
        log.warning("Database unavailable: %s", exc)
        exc = DatabaseUnavailable()
    elif isinstance(exc, RedisConnectionError | RedisTimeoutError):  # broker, cache (throttles)
        log.warning("Redis unavailable: %s", exc)
        exc = QueueUnavailable()
    response = drf_exception_handler(exc, context)
    if response is None:
        # An unexpected error: log it with the traceback, answer JSON without internals.
        log.exception("Unhandled API error", exc_info=exc)
        return Response(
            {"detail": "Internal server error."}, status=status.HTTP_500_INTERNAL_SERVER_ERROR
        )
    return response


def parse_uuid(value: str, *, field: str = "id", location: str = "path") -> uuid.UUID:
    """A UUID from a path or query value, or a 422 naming the field."""
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise Unprocessable({field: [f"'{value}' is not a valid UUID."]}, location) from None


def validate_query(serializer_class: type[serializers.Serializer], request) -> dict:
    """Validate ``request.query_params`` with a serializer; bad values → 422 at "query"."""
    try:
        params = request.query_params
    except TooManyFieldsSent:  # Django's own limit: a SuspiciousOperation, else a 500 in DRF
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
        raise Unprocessable(
            {"non_field_errors": [f"More than {limit} query parameters."]}, "query"
        ) from None
    serializer = serializer_class(data=params)
    if not serializer.is_valid():
        raise Unprocessable(serializer.errors, "query")
    return serializer.validated_data


# An OFFSET beyond a 64-bit integer was a 500 (SQLite overflow, PostgreSQL DataError).
MAX_OFFSET = 10_000_000


class Paging:
    """A paged list: its ``limit`` and ``offset`` query fields and its envelope
    ``{items, total, limit, offset}``, written here once for every list that pages.

    The list's query serializer declares ``limit, offset = PAGING.fields()``, so a bad value
    is a 422 reported with any bad filter; the view answers ``PAGING.response(...)``.
    ``has_more`` is in the envelope only where the contract has it (the models list).
    """

    def __init__(self, *, default_limit: int, max_limit: int, has_more: bool = False):
        self.default_limit = default_limit
        self.max_limit = max_limit
        self.has_more = has_more

    def fields(self) -> tuple[serializers.IntegerField, serializers.IntegerField]:
        limit = serializers.IntegerField(
            default=self.default_limit, min_value=1, max_value=self.max_limit
        )
        return limit, serializers.IntegerField(default=0, min_value=0, max_value=MAX_OFFSET)

    @staticmethod
    def items(queryset, query: dict) -> list:
        """The page of ``queryset`` that the validated ``query`` asks for."""
        offset = query["offset"]
        return list(queryset[offset : offset + query["limit"]])

    def envelope(self, item: type[serializers.Serializer], **extra: serializers.Field) -> type:
        """The OpenAPI shape of ``response``'s envelope around ``item``, with the list's own
        keys; named after the item (``AlertSerializer`` → ``AlertListSerializer``)."""
        fields: dict = {"items": item(many=True), "total": serializers.IntegerField()}
        if self.has_more:
            fields["has_more"] = serializers.BooleanField()
        fields |= extra
        fields |= {"limit": serializers.IntegerField(), "offset": serializers.IntegerField()}
        name = item.__name__.removesuffix("Serializer") + "ListSerializer"
        # many=False: the list action answers one envelope object, not an array of them.
        return extend_schema_serializer(many=False)(type(name, (serializers.Serializer,), fields))

    def response(
        self, queryset, query: dict, serializer_class, *, total: int | None = None, **extra
    ) -> Response:
        """The envelope of one page; pass ``total`` when a COUNT(*) would be too slow, and the
        list's own keys (e.g. ``unacknowledged_count``) as ``extra``."""
        items = self.items(queryset, query)
        if total is None:
            total = queryset.count()
        body = {"items": serializer_class(items, many=True).data, "total": total}
        if self.has_more:
            body["has_more"] = query["offset"] + len(items) < total
        return Response({**body, **extra, "limit": query["limit"], "offset": query["offset"]})


def after_update(serializer, attrs: dict, fields) -> dict:
    """Each field's value once this (possibly partial) update is applied: the submitted one,
    else the stored one (None when creating). Cross-field rules read these."""
    return {field: attrs.get(field, getattr(serializer.instance, field, None)) for field in fields}


def reject_null_characters(value):
    """Validator for free-form JSON fields: no ``\\x00`` in any string or key.

    DRF's CharField refuses null characters; a JSON object's strings are not checked, and
    PostgreSQL's jsonb cannot store ``\\u0000`` (a DataError, so a 500, instead of a 422).
    """
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
        elif isinstance(item, str) and "\x00" in item:
            raise serializers.ValidationError("Null characters are not allowed.")
    return value


class UUIDLookupMixin:
    """Viewset mixin: a malformed UUID in the path is a 422, an unknown one a 404."""

    not_found_message = "Not found."

    def get_object(self):
        lookup = self.kwargs[self.lookup_url_kwarg or self.lookup_field]
        pk = parse_uuid(lookup, field=self.lookup_url_kwarg or self.lookup_field)
        obj = self.get_queryset().filter(pk=pk).first()
        if obj is None:
            raise Http404(self.not_found_message.format(id=pk))
        self.check_object_permissions(self.request, obj)
        return obj
