"""Player economy endpoints: balance, ledger, streak, VIP, dashboard."""

from __future__ import annotations

import hashlib
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from casino.errors import ErrorSerializer, ValidationErrorSerializer
from casino.idempotency import idempotent
from casino.pagination import StandardPagination
from economy import selectors, services
from economy.api import serializers as s
from economy.dashboard_cache import dashboard_version_key
from economy.exceptions import WalletMissing
from economy.streaks import utc_today

UNAUTHORIZED = OpenApiResponse(ErrorSerializer, description="not_authenticated / invalid_token / token_revoked")
INVALID = OpenApiResponse(ValidationErrorSerializer, description="validation_error")
CONFLICT = OpenApiResponse(ErrorSerializer, description="idempotency_key_reused / idempotency_key_in_use")


class BalanceView(APIView):
    @extend_schema(tags=["wallet"], responses={200: s.BalanceSerializer, 401: UNAUTHORIZED})
    def get(self, request: Request) -> Response:
        wallet = selectors.wallet_for(request.user.pk)
        if wallet is None:
            raise WalletMissing()
        streak = selectors.streak_status(request.user.pk)
        return Response(
            s.BalanceSerializer(
                {
                    **selectors.balances_payload(wallet),
                    "user_id": request.user.pk,
                    "nickname": request.user.nickname,
                    "daily_streak": streak["count"],
                }
            ).data
        )


class LedgerView(APIView):
    pagination_class = StandardPagination

    @extend_schema(
        tags=["wallet"],
        parameters=[s.LedgerFilterSerializer],
        responses={200: s.LedgerEntrySerializer(many=True), 400: INVALID, 401: UNAUTHORIZED},
    )
    def get(self, request: Request) -> Response:
        filters = s.LedgerFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        entries = selectors.ledger_for(request.user.pk, **filters.validated_data)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(entries, request, view=self)
        return paginator.get_paginated_response(s.LedgerEntrySerializer(page, many=True).data)


class StreakStatusView(APIView):
    @extend_schema(tags=["streak"], responses={200: s.StreakStatusSerializer, 401: UNAUTHORIZED})
    def get(self, request: Request) -> Response:
        return Response(s.StreakStatusSerializer(selectors.streak_status(request.user.pk)).data)


class StreakPreviewView(StreakStatusView):
    """Today's and tomorrow's rewards (the same payload as the status)."""

    @extend_schema(
        tags=["streak"], responses={200: s.StreakStatusSerializer, 401: UNAUTHORIZED}, operation_id="streak_preview"
    )
    def get(self, request: Request) -> Response:
        return super().get(request)


class StreakTickView(APIView):
    @extend_schema(
        tags=["streak"], request=None, responses={200: s.StreakTickSerializer, 401: UNAUTHORIZED, 409: CONFLICT}
    )
    @idempotent()
    def post(self, request: Request) -> Response:
        result = services.streak_tick(user=request.user)
        return Response(
            s.StreakTickSerializer(
                {
                    "count": result.streak.current_count,
                    "checked_in_now": result.checked_in_now,
                    "protected_days": list(result.protected_days),
                    "protection_tokens": result.streak.protection_tokens,
                }
            ).data
        )


class StreakClaimView(APIView):
    @extend_schema(
        tags=["streak"],
        request=None,
        responses={200: s.StreakClaimSerializer, 401: UNAUTHORIZED, 409: CONFLICT},
        description="Check in and take today's reward. A second claim the same UTC day returns the first "
        "result with `idempotent: true`.",
    )
    @idempotent()
    def post(self, request: Request) -> Response:
        result = services.streak_claim(user=request.user)
        return Response(s.StreakClaimSerializer(result).data)


class StreakHistoryView(APIView):
    @extend_schema(
        tags=["streak"],
        parameters=[s.StreakHistoryQuerySerializer],
        responses={200: s.StreakHistorySerializer, 400: INVALID, 401: UNAUTHORIZED},
    )
    def get(self, request: Request) -> Response:
        query = s.StreakHistoryQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        today = utc_today()
        history = selectors.streak_history(
            request.user.pk,
            year=query.validated_data.get("year", today.year),
            month=query.validated_data.get("month", today.month),
        )
        return Response(s.StreakHistorySerializer(history).data)


class VipStatusView(APIView):
    @extend_schema(tags=["vip"], responses={200: s.VipStatusSerializer, 401: UNAUTHORIZED})
    def get(self, request: Request) -> Response:
        return Response(s.VipStatusSerializer(selectors.vip_status(request.user.pk)).data)


class VipClaimView(APIView):
    @extend_schema(tags=["vip"], request=None, responses={200: s.VipClaimSerializer, 401: UNAUTHORIZED, 409: CONFLICT})
    @idempotent()
    def post(self, request: Request) -> Response:
        return Response(s.VipClaimSerializer(services.vip_claim(user=request.user)).data)


# --- Dashboard, cached per user with an ETag ----------------------------------------


class DashboardView(APIView):
    @extend_schema(
        tags=["home"],
        parameters=[OpenApiParameter("If-None-Match", str, OpenApiParameter.HEADER, required=False)],
        responses={200: s.DashboardSerializer, 304: OpenApiResponse(description="Not modified"), 401: UNAUTHORIZED},
    )
    def get(self, request: Request) -> HttpResponse:
        user_id = request.user.pk
        version = cache.get(dashboard_version_key(user_id), 0)
        key = f"dashboard:{user_id}:{version}"
        cached: dict[str, Any] | None = cache.get(key)
        if cached is None:
            body = JSONRenderer().render(s.DashboardSerializer(selectors.dashboard(request.user)).data)
            cached = {"etag": f'"{hashlib.sha256(body).hexdigest()[:32]}"', "body": body}
            cache.set(key, cached, timeout=settings.DASHBOARD_CACHE_SECONDS)
        if request.headers.get("If-None-Match") == cached["etag"]:
            response = HttpResponse(status=304)
        else:
            response = HttpResponse(cached["body"], content_type="application/json")
        response["ETag"] = cached["etag"]
        response["Cache-Control"] = "private, no-cache"
        return response
