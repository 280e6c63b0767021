"""Client telemetry endpoints: ``POST /api/telemetry/events``, and the old
client's ``POST /api/actions`` (one event) and ``POST /api/actions/bulk``.

All three record through :func:`realtime.telemetry.services.telemetry_record`
and share the limits of docs/telemetry.md: a raw body of at most
``MAX_BODY_BYTES`` (413 ``payload_too_large``), at most ``MAX_EVENTS`` events
(413 ``too_many_events``), registered names and schemas (400
``invalid_telemetry_event``), ``TELEMETRY_THROTTLE_RATE`` requests per player
(429 ``rate_limited``)."""

from __future__ import annotations

import io
from collections.abc import Mapping
from datetime import datetime
from typing import IO, Any

from django.contrib.auth.base_user import AbstractBaseUser
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from casino.errors import ErrorSerializer, PayloadTooLarge, ValidationErrorSerializer
from casino.parsers import JSONParser
from casino.serializers import OutputSerializer
from casino.throttling import PlayerRateThrottle
from realtime.telemetry.exceptions import InvalidTelemetryEvent, TooManyTelemetryEvents
from realtime.telemetry.limits import MAX_BODY_BYTES, MAX_CLIENT_TS_LENGTH, MAX_EVENTS, MAX_NAME_LENGTH
from realtime.telemetry.services import ClientEvent, telemetry_record


class TelemetryJSONParser(JSONParser):
    """The project's JSON parser, on at most ``MAX_BODY_BYTES`` of raw body: the
    bytes as they arrive are counted, not the ``Content-Length`` the client claims."""

    def parse(
        self, stream: IO[bytes] | None, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> Any:
        if stream is None:
            return None
        raw = stream.read(MAX_BODY_BYTES + 1)
        if len(raw) > MAX_BODY_BYTES:
            raise PayloadTooLarge(
                f"A telemetry request body is at most {MAX_BODY_BYTES} bytes; send smaller batches.",
                max_bytes=MAX_BODY_BYTES,
            )
        return super().parse(io.BytesIO(raw), media_type, parser_context)


class TelemetryThrottle(PlayerRateThrottle):
    """Telemetry requests per player (``TELEMETRY_THROTTLE_RATE``), refused ones included.
    Fails open with Redis unreachable, like every throttle (casino.throttling)."""

    scope = "telemetry"


class ClientTimestampField(serializers.CharField):
    """An ISO 8601 date-time, kept exactly as the client wrote it (the client's
    claim; the server's time is the outbox row's)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", MAX_CLIENT_TS_LENGTH)
        kwargs.setdefault("required", False)
        kwargs.setdefault("allow_null", True)
        kwargs.setdefault("default", None)
        kwargs.setdefault(
            "help_text", "When the client says it happened: ISO 8601 (`2025-05-01T12:00:00.000Z`), stored as sent."
        )
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        value = str(super().to_internal_value(data))
        try:
            datetime.fromisoformat(value)
        except ValueError:
            raise serializers.ValidationError("Not an ISO 8601 date and time.") from None
        return value


class TelemetryEventSerializer(serializers.Serializer):  # type: ignore[type-arg]
    name = serializers.CharField(
        max_length=MAX_NAME_LENGTH, help_text="A registered client event name (docs/telemetry.md)."
    )
    client_ts = ClientTimestampField()
    properties = serializers.DictField(
        required=False,
        default=dict,
        help_text="The name's properties. Personal fields (password, phone, email) are dropped, at any depth.",
    )


class TelemetryBatchSerializer(serializers.Serializer):  # type: ignore[type-arg]
    events = TelemetryEventSerializer(many=True, max_length=MAX_EVENTS, help_text=f"At most {MAX_EVENTS}.")  # type: ignore[call-arg]  # many=True passes it to the ListSerializer


class ActionSerializer(serializers.Serializer):  # type: ignore[type-arg]
    """The old client's action. Its ``user_id`` is ignored: the caller is the token's player."""

    action_type = serializers.CharField(
        max_length=MAX_NAME_LENGTH, help_text="A registered client event name, in any case (`SCREEN_VIEW`)."
    )
    context = serializers.DictField(  # type: ignore[assignment]  # the old client's field, not Serializer.context
        required=False, allow_null=True, default=dict, help_text="The event's properties (as `properties`)."
    )
    client_ts = ClientTimestampField()


class ActionBatchSerializer(serializers.Serializer):  # type: ignore[type-arg]
    items = ActionSerializer(many=True, max_length=MAX_EVENTS, help_text=f"At most {MAX_EVENTS}.")  # type: ignore[call-arg]  # many=True passes it to the ListSerializer


class TelemetryAcceptedSerializer(OutputSerializer):
    accepted = serializers.IntegerField(help_text="How many events were recorded (all of the request's).")


class TelemetryRefusalSerializer(ValidationErrorSerializer):
    """A 400: ``validation_error`` (the request's shape, ``fields``), ``invalid_telemetry_event``
    (``index``, ``field``), or a platform code (``malformed_request``, ``invalid_json``, ...)."""

    index = serializers.IntegerField(required=False, help_text="invalid_telemetry_event: the event's place (from 0).")
    field = serializers.CharField(
        required=False, help_text="invalid_telemetry_event: the refused field (`name`, `properties.<key>`)."
    )


class TelemetryTooLargeSerializer(ErrorSerializer):
    max_bytes = serializers.IntegerField(required=False, help_text="payload_too_large: the body limit.")
    max_events = serializers.IntegerField(required=False, help_text="too_many_events: the events limit.")


class TelemetryRateLimitedSerializer(ErrorSerializer):
    retry_after_seconds = serializers.IntegerField(help_text="Also in the Retry-After header.")


RESPONSES = {
    202: TelemetryAcceptedSerializer,
    400: OpenApiResponse(
        TelemetryRefusalSerializer,
        description="validation_error (the request's shape; `fields` names the place, as `events.3.client_ts`) / "
        "invalid_telemetry_event (an unknown name or a property its schema refuses: `index`, `field`). "
        "Nothing of the batch is recorded.",
    ),
    401: OpenApiResponse(ErrorSerializer, description="not_authenticated / invalid_token / token_revoked"),
    413: OpenApiResponse(
        TelemetryTooLargeSerializer,
        description=f"payload_too_large (a body over {MAX_BODY_BYTES} bytes) / too_many_events (over "
        f"{MAX_EVENTS} events). Nothing is recorded.",
    ),
    429: OpenApiResponse(TelemetryRateLimitedSerializer, description="rate_limited (Retry-After, retry_after_seconds)"),
}
DESCRIPTION = (
    "Client-reported telemetry, for analytics only: nothing a client reports here moves a balance, a statistic, "
    "a limit, progress or a reward. Each event is a name of the registry in docs/telemetry.md with that name's "
    f"properties; at most {MAX_EVENTS} events and {MAX_BODY_BYTES} bytes a request, one bad event refuses the batch."
)
OLD_NAMES = {"name": "action_type", "properties": "context"}


def _player(request: Request) -> AbstractBaseUser:
    user = request.user
    if not isinstance(user, AbstractBaseUser):
        raise NotAuthenticated()
    return user


def _count_check(data: Any, key: str) -> None:
    """Refuse an oversized batch before validating any of it."""
    items = data.get(key) if isinstance(data, dict) else None
    if isinstance(items, list) and len(items) > MAX_EVENTS:
        raise TooManyTelemetryEvents()


def _accepted(count: int) -> Response:
    return Response(TelemetryAcceptedSerializer({"accepted": count}).data, status=status.HTTP_202_ACCEPTED)


def _from_action(item: Mapping[str, Any]) -> ClientEvent:
    return ClientEvent(
        name=str(item["action_type"]).lower(), client_ts=item["client_ts"], properties=dict(item["context"] or {})
    )


class TelemetryAPIView(APIView):
    parser_classes = [TelemetryJSONParser]
    throttle_classes = [TelemetryThrottle]


class TelemetryEventsView(TelemetryAPIView):
    @extend_schema(tags=["telemetry"], request=TelemetryBatchSerializer, responses=RESPONSES, description=DESCRIPTION)
    def post(self, request: Request) -> Response:
        user = _player(request)
        _count_check(request.data, "events")
        body = TelemetryBatchSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        events = [ClientEvent(**event) for event in body.validated_data["events"]]
        return _accepted(telemetry_record(user=user, events=events))


class ActionView(TelemetryAPIView):
    @extend_schema(
        tags=["telemetry"],
        request=ActionSerializer,
        responses=RESPONSES,
        description=f"The old client's single action, recorded as one telemetry event (`action_type` is the name, "
        f"`context` the properties). {DESCRIPTION}",
    )
    def post(self, request: Request) -> Response:
        user = _player(request)
        body = ActionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            return _accepted(telemetry_record(user=user, events=[_from_action(body.validated_data)]))
        except InvalidTelemetryEvent as refusal:
            raise refusal.renamed(list_name=None, fields=OLD_NAMES) from None


class ActionBulkView(TelemetryAPIView):
    @extend_schema(
        tags=["telemetry"],
        request=ActionBatchSerializer,
        responses=RESPONSES,
        description=f"The old client's batch of actions (`items`), recorded as telemetry events. {DESCRIPTION}",
    )
    def post(self, request: Request) -> Response:
        user = _player(request)
        _count_check(request.data, "items")
        body = ActionBatchSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        events = [_from_action(item) for item in body.validated_data["items"]]
        try:
            return _accepted(telemetry_record(user=user, events=events))
        except InvalidTelemetryEvent as refusal:
            raise refusal.renamed(list_name="items", fields=OLD_NAMES) from None
