"""Live metrics for everyone: ``GET /api/metrics/global`` (JSON, cached 5 s)
and ``GET /api/metrics/stream`` (Server-Sent Events)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache import cache
from django.core.serializers.json import DjangoJSONEncoder
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from casino.errors import ValidationErrorSerializer
from casino.serializers import OutputSerializer
from realtime.selectors import global_metrics

CACHE_KEY = "live-metrics:global"
MIN_INTERVAL, MAX_INTERVAL, DEFAULT_INTERVAL = 2, 30, 5


class GlobalMetricsSerializer(OutputSerializer):
    online_users = serializers.IntegerField(help_text="Players active in the last 5 minutes.")
    spins_last_hour = serializers.IntegerField(help_text="Game rounds played in the last hour.")
    big_wins_last_hour = serializers.IntegerField(help_text="Won rounds that paid at least BIG_WIN_THRESHOLD_GOLD.")
    generated_at = serializers.DateTimeField()
    source = serializers.CharField(help_text="clickhouse or postgresql")  # type: ignore[assignment]  # a field, not Field.source
    big_wins_today = serializers.IntegerField(help_text="Big wins announced in the live feed today (UTC).")
    jackpots_today = serializers.IntegerField(help_text="Jackpots announced in the live feed today (UTC).")


def cached_global_metrics() -> dict[str, Any]:
    data = cache.get(CACHE_KEY)
    if data is None:
        data = GlobalMetricsSerializer(global_metrics().as_dict()).data
        cache.set(CACHE_KEY, data, timeout=settings.LIVE_METRICS_CACHE_SECONDS)
    return dict(data)


class GlobalMetricsView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list[type] = []

    @extend_schema(tags=["live"], responses={200: GlobalMetricsSerializer}, auth=[])
    def get(self, request: Request) -> Response:
        return Response(cached_global_metrics())


class StreamQuerySerializer(serializers.Serializer):
    interval = serializers.IntegerField(
        required=False,
        default=DEFAULT_INTERVAL,
        help_text=f"Seconds between events, clamped to {MIN_INTERVAL}-{MAX_INTERVAL}.",
    )


async def metrics_events(interval: int) -> AsyncIterator[str]:
    """``event: metrics`` frames forever, every ``interval`` seconds; a comment
    first so proxies flush the headers at once."""
    yield ": live metrics\n\n"
    while True:
        data = await sync_to_async(cached_global_metrics)()
        yield f"event: metrics\ndata: {json.dumps(data, cls=DjangoJSONEncoder)}\n\n"
        await asyncio.sleep(interval)


class EventStreamRenderer(BaseRenderer):
    """Lets clients ask for ``text/event-stream``; the body is the stream itself,
    so this renders only error bodies (as JSON)."""

    media_type = "text/event-stream"
    format = "event-stream"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        return json.dumps(data, cls=DjangoJSONEncoder).encode()


class MetricsStreamView(APIView):
    """Served by the ASGI server in production (long-lived connections)."""

    permission_classes = [AllowAny]
    authentication_classes: list[type] = []
    renderer_classes = [JSONRenderer, EventStreamRenderer]

    @extend_schema(
        tags=["live"],
        parameters=[
            OpenApiParameter(
                "interval", OpenApiTypes.INT, description=f"Seconds between events ({MIN_INTERVAL}-{MAX_INTERVAL})"
            )
        ],
        responses={
            (200, "text/event-stream"): OpenApiResponse(
                OpenApiTypes.STR, description="Server-Sent Events: `event: metrics` with the global metrics as data."
            ),
            400: ValidationErrorSerializer,
        },
        auth=[],
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        query = StreamQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        interval = min(MAX_INTERVAL, max(MIN_INTERVAL, query.validated_data["interval"]))
        response = StreamingHttpResponse(metrics_events(interval), content_type="text/event-stream")
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"
        return response
