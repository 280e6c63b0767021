"""Player economy endpoints: balance, ledger, streak, VIP, dashboard."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import request_user
from casino.errors import ErrorSerializer, ValidationErrorSerializer
from casino.idempotency import idempotent
from casino.pagination import StandardPagination
from economy import ledger_selectors, selectors, services
from economy.api import serializers as s

UNAUTHORIZED = OpenApiResponse(ErrorSerializer, description="not_authenticated / invalid_token / token_revoked")
INVALID = OpenApiResponse(ValidationErrorSerializer, description="validation_error")
CONFLICT = OpenApiResponse(ErrorSerializer, description="idempotency_key_reused / idempotency_key_in_use")
CLAIM_CONFLICT = OpenApiResponse(
    ErrorSerializer,
    description="already_claimed (with `first_claim`: the first claim's answer) / idempotency_key_reused / "
    "idempotency_key_in_use",
)


class BalanceView(APIView):
    @extend_schema(tags=["wallet"], responses={200: s.BalanceSerializer, 401: UNAUTHORIZED})
    def get(self, request: Request) -> Response:
        return Response(s.BalanceSerializer(selectors.balance_summary(request_user(request))).data)


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
        entries = ledger_selectors.ledger_for(request_user(request).pk, **filters.validated_data)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(entries, request, view=self)
        return paginator.get_paginated_response(s.LedgerEntrySerializer(page, many=True).data)


class RecentActionsView(APIView):
    @extend_schema(
        tags=["wallet"],
        parameters=[
            s.RecentActionsQuerySerializer,
            OpenApiParameter(
                "user_id", str, OpenApiParameter.PATH, description="Ignored: the answer is always the caller's."
            ),
        ],
        responses={200: s.RecentActionSerializer(many=True), 400: INVALID, 401: UNAUTHORIZED},
        description="The caller's latest actions (claims, purchases, rewards; rounds once games exist), newest "
        "first. The path's id is ignored, whatever it holds (the client sometimes sends a timestamp): the "
        "answer is only ever the caller's own actions, never another player's and never a 403/404.",
    )
    def get(self, request: Request, user_id: str) -> Response:
        query = s.RecentActionsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        actions = ledger_selectors.recent_actions(user_id=request_user(request).pk, limit=query.validated_data["limit"])
        return Response(s.RecentActionSerializer(actions, many=True).data)


class StreakStatusView(APIView):
    @extend_schema(tags=["streak"], responses={200: s.StreakStatusSerializer, 401: UNAUTHORIZED})
    def get(self, request: Request) -> Response:
        return Response(s.StreakStatusSerializer(selectors.streak_status(request_user(request).pk)).data)


class StreakPreviewView(StreakStatusView):
    """Today's and tomorrow's rewards (the same payload as the status)."""

    @extend_schema(
        tags=["streak"], responses={200: s.StreakStatusSerializer, 401: UNAUTHORIZED}, operation_id="streak_preview"
    )
    def get(self, request: Request) -> Response:
        return super().get(request)


class StreakTickView(APIView):
    @extend_schema(
        tags=["streak"],
        request=s.StreakTickInputSerializer,
        responses={200: s.StreakTickSerializer, 400: INVALID, 401: UNAUTHORIZED, 409: CONFLICT},
        description='Record today\'s attendance (`{"action_type": "DAILY_LOGIN"}`, or no body), idempotently.',
    )
    @idempotent()
    def post(self, request: Request) -> Response:
        s.StreakTickInputSerializer(data=request.data).is_valid(raise_exception=True)
        result = services.streak_tick(user=request_user(request))
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
        request=s.StreakTickInputSerializer,
        responses={200: s.StreakClaimSerializer, 400: INVALID, 401: UNAUTHORIZED, 409: CLAIM_CONFLICT},
        description="Check in and take today's reward. A second claim the same UTC day with a new "
        "idempotency key is a 409 `already_claimed` carrying the first claim (`first_claim`); a retry with the "
        "same key replays the first answer.",
    )
    @idempotent()
    def post(self, request: Request) -> Response:
        s.StreakTickInputSerializer(data=request.data).is_valid(raise_exception=True)
        result = services.streak_claim(user=request_user(request))
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
        history = selectors.streak_history(
            request_user(request).pk, year=query.validated_data.get("year"), month=query.validated_data.get("month")
        )
        return Response(s.StreakHistorySerializer(history).data)


class VipStatusView(APIView):
    @extend_schema(tags=["vip"], responses={200: s.VipStatusSerializer, 401: UNAUTHORIZED})
    def get(self, request: Request) -> Response:
        return Response(s.VipStatusSerializer(selectors.vip_status(request_user(request).pk)).data)


class VipClaimView(APIView):
    @extend_schema(
        tags=["vip"], request=None, responses={200: s.VipClaimSerializer, 401: UNAUTHORIZED, 409: CLAIM_CONFLICT}
    )
    @idempotent()
    def post(self, request: Request) -> Response:
        return Response(s.VipClaimSerializer(services.vip_claim(user=request_user(request))).data)


# --- Dashboard, cached per user with an ETag ----------------------------------------


class DashboardView(APIView):
    @extend_schema(
        tags=["home"],
        parameters=[OpenApiParameter("If-None-Match", str, OpenApiParameter.HEADER, required=False)],
        responses={200: s.DashboardSerializer, 304: OpenApiResponse(description="Not modified"), 401: UNAUTHORIZED},
    )
    def get(self, request: Request) -> HttpResponse:
        page = selectors.dashboard_cached(request_user(request), render=_render_dashboard)
        if request.headers.get("If-None-Match") == page.etag:
            response = HttpResponse(status=304)
        else:
            response = HttpResponse(page.body, content_type="application/json")
        response["ETag"] = page.etag
        response["Cache-Control"] = "private, no-cache"
        return response


def _render_dashboard(payload: dict[str, Any]) -> bytes:
    return JSONRenderer().render(s.DashboardSerializer(payload).data)
