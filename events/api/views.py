"""Thin DRF views of events/: validate an input serializer, call one service or selector, return an
output serializer."""

from typing import Any

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from accounts.authentication import request_user
from casino.errors import ErrorSerializer, ValidationErrorSerializer
from casino.idempotency import idempotent
from casino.throttling import ClientIpRateThrottle, parse_rate
from events import achievement_selectors, mission_selectors, selectors, services
from events.api import serializers as s
from events.exceptions import EventNotFound, ProgressIsServerSide

# --- events --------------------------------------------------------------------------------------

EVENTS_UNAUTHORIZED = OpenApiResponse(ErrorSerializer, description="not_authenticated / invalid_token / token_revoked")
EVENT_NOT_FOUND = OpenApiResponse(ErrorSerializer, description="event_not_found (no such event, or switched off)")


class EventListView(APIView):
    @extend_schema(
        tags=["events"],
        operation_id="events_list",
        responses={200: s.EventSerializer(many=True), 401: EVENTS_UNAUTHORIZED},
        description="Active events running now or still to come, highest priority first (at most 100, one "
        "plain list), each with the caller's own participation and progress.",
    )
    def get(self, request: Request) -> Response:
        events = selectors.events_visible()
        return Response(
            s.EventSerializer(selectors.event_payloads(events, user_id=request_user(request).pk), many=True).data
        )


class EventActiveListView(APIView):
    @extend_schema(
        tags=["events"],
        operation_id="events_active_list",
        responses={200: s.EventSerializer(many=True), 401: EVENTS_UNAUTHORIZED},
        description="Active events running now (started, not ended), highest priority first.",
    )
    def get(self, request: Request) -> Response:
        events = selectors.events_running()
        return Response(
            s.EventSerializer(selectors.event_payloads(events, user_id=request_user(request).pk), many=True).data
        )


class EventDetailView(APIView):
    @extend_schema(
        tags=["events"],
        operation_id="events_retrieve",
        responses={200: s.EventSerializer, 401: EVENTS_UNAUTHORIZED, 404: EVENT_NOT_FOUND},
        description="One active event (running, to come, or ended: a completed event can still be claimed).",
    )
    def get(self, request: Request, event_id: int) -> Response:
        event = selectors.event_visible(event_id)
        if event is None:
            raise EventNotFound()
        payload = selectors.event_payloads([event], user_id=request_user(request).pk)[0]
        return Response(s.EventSerializer(payload).data)


class EventJoinView(APIView):
    @extend_schema(
        tags=["events"],
        operation_id="events_join",
        request=s.EventJoinInputSerializer,
        responses={
            200: OpenApiResponse(s.EventParticipationSerializer, description="Joined before: the same participation."),
            201: OpenApiResponse(s.EventParticipationSerializer, description="Joined now."),
            400: OpenApiResponse(ValidationErrorSerializer, description="validation_error (event_id)"),
            401: EVENTS_UNAUTHORIZED,
            404: EVENT_NOT_FOUND,
            409: OpenApiResponse(
                ErrorSerializer, description="event_not_open (not started or ended; starts_at, ends_at)"
            ),
        },
        description='Join a running event (`{"event_id": …}`). Idempotent: joining again answers 200 with the '
        "same participation. Progress counts from the moment of joining, from what the player does on the server.",
    )
    def post(self, request: Request) -> Response:
        body = s.EventJoinInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        participation, created = services.event_join(
            user=request_user(request), event_id=body.validated_data["event_id"]
        )
        return Response(
            s.EventParticipationSerializer(selectors.participation_payload(participation)).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


def claim_body(result: services.ClaimResult) -> dict[str, Any]:
    rewards = result.rewards
    reward_items: list[dict[str, Any]] = [
        {"type": "exp" if currency == "xp" else currency, "amount": amount} for currency, amount in rewards.items()
    ]
    reward_items += [{"type": "item", "amount": 1, "code": code} for code in result.items]
    gold = result.balances.get("gold", 0)
    return {
        "success": True,
        "claimed": True,
        "message": "Reward claimed.",
        "event_id": result.participation.event_id,
        "rewards": {
            "gold": rewards.get("gold", 0),
            "gems": rewards.get("gems", 0),
            "exp": rewards.get("xp", 0),
            "xp": rewards.get("xp", 0),
            "items": result.items,
        },
        "reward_items": reward_items,
        "awarded_gold": rewards.get("gold", 0),
        "awarded_gems": rewards.get("gems", 0),
        "awarded_exp": rewards.get("xp", 0),
        "new_balance": gold,
        "cyber_token_balance": gold,
        "gold_balance": gold,
        "gems_balance": result.balances.get("gems", 0),
        "progress_version": result.participation.progress_version,
        "claimed_at": result.participation.claimed_at,
    }


class EventClaimView(APIView):
    @extend_schema(
        tags=["events"],
        operation_id="events_claim",
        request=None,
        responses={
            200: s.EventClaimSerializer,
            401: EVENTS_UNAUTHORIZED,
            404: EVENT_NOT_FOUND,
            409: OpenApiResponse(
                ErrorSerializer,
                description="not_joined / not_completed / reward_already_claimed (with claimed_at) / "
                "idempotency_key_reused / idempotency_key_in_use",
            ),
        },
        description="Claim a completed event's reward, once (ledger key `event-claim:{user}:{event}`): of "
        "parallel claims one pays, the others are `reward_already_claimed`. A retry with the same "
        "Idempotency-Key replays the first answer. An event that has ended can still be claimed.",
    )
    @idempotent()
    def post(self, request: Request, event_id: int) -> Response:
        result = services.event_claim(user=request_user(request), event_id=event_id)
        return Response(s.EventClaimSerializer(claim_body(result)).data)


class ProgressRefusedView(APIView):
    """The earlier client still reports its own progress (of an event, of missions): every write
    is refused with 405 ``progress_is_server_side`` and nothing changes, whatever it sends.
    Subclasses only describe themselves with :func:`progress_refused_schema`."""

    def put(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        raise ProgressIsServerSide()

    def patch(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        raise ProgressIsServerSide()

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        raise ProgressIsServerSide()


def progress_refused_schema(*, tag: str, unauthorized: OpenApiResponse, what: str) -> Any:
    """The schema of a :class:`ProgressRefusedView`: the three methods documented alike, each
    with its own operation id (``{tag}_progress_update`` / ``_partial_update`` / ``_create``)."""
    schema: dict[str, Any] = {
        "tags": [tag],
        "request": None,  # whatever the client sends is not read
        "responses": {401: unauthorized, 405: OpenApiResponse(ErrorSerializer, description="progress_is_server_side")},
        "description": f"Refused (405 `progress_is_server_side`): {what} progress is counted by the server from "
        "what the player does (rounds, bets, wins, purchases, logins), never sent by a client.",
    }
    return extend_schema_view(
        put=extend_schema(operation_id=f"{tag}_progress_update", **schema),
        patch=extend_schema(operation_id=f"{tag}_progress_partial_update", **schema),
        post=extend_schema(operation_id=f"{tag}_progress_create", **schema),
    )


@progress_refused_schema(tag="events", unauthorized=EVENTS_UNAUTHORIZED, what="event")
class EventProgressView(ProgressRefusedView):
    """``/api/events/progress/<event_id>``: the event's progress, refused."""


# The public preview's rate per client IP when the settings name none for its scope.
PUBLIC_EVENTS_DEFAULT_RATE = "120/minute"


class PublicEventsThrottle(ClientIpRateThrottle):
    """Public event previews per client IP (``DEFAULT_THROTTLE_RATES["public_events"]``, else
    :data:`PUBLIC_EVENTS_DEFAULT_RATE`): the endpoint needs no login, so it is always limited."""

    scope = "public_events"

    def window(self) -> tuple[int, int] | None:
        return parse_rate(str(api_settings.DEFAULT_THROTTLE_RATES.get(self.scope) or PUBLIC_EVENTS_DEFAULT_RATE))


class PublicEventsView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list[type] = []
    throttle_classes = [PublicEventsThrottle]

    @extend_schema(
        tags=["events"],
        operation_id="public_events_list",
        auth=[],
        parameters=[OpenApiParameter("If-None-Match", str, OpenApiParameter.HEADER, required=False)],
        responses={
            200: s.PublicEventSerializer(many=True),
            304: OpenApiResponse(description="Not modified (the ETag sent in If-None-Match is current)"),
            429: OpenApiResponse(ErrorSerializer, description="rate_limited (Retry-After, retry_after_seconds)"),
        },
        description="Active events running now or still to come, for anyone (no login, nothing about any "
        "player). Cached for a few seconds and at once refreshed when staff change an event; send the ETag "
        "back in If-None-Match to get 304 while nothing changed. Limited per client IP.",
    )
    def get(self, request: Request) -> HttpResponse:
        page = selectors.public_events_page(render=_render_public_events)
        if request.headers.get("If-None-Match") == page.etag:
            response = HttpResponse(status=status.HTTP_304_NOT_MODIFIED)
        else:
            response = HttpResponse(page.body, content_type="application/json")
        response["ETag"] = page.etag
        response["Cache-Control"] = "public, max-age=0, must-revalidate"
        return response


def _render_public_events(payloads: list[dict[str, Any]]) -> bytes:
    return JSONRenderer().render(s.PublicEventSerializer(payloads, many=True).data)


# --- missions ------------------------------------------------------------------------------------

MISSIONS_UNAUTHORIZED = OpenApiResponse(
    ErrorSerializer, description="not_authenticated / invalid_token / token_revoked"
)


class _MissionListView(APIView):
    period: str | None = None

    def get(self, request: Request) -> Response:
        missions = mission_selectors.missions_for_user(request_user(request), period=self.period)
        return Response(s.PlayerMissionSerializer(missions, many=True).data)


_MISSION_LIST_DESCRIPTION = (
    "The active {what} missions with the caller's progress in the current period ({period}); a mission "
    "with no progress yet shows 0. Progress comes only from what the player does on the server; a new "
    "period starts at `reset_at` with fresh missions."
)


class DailyMissionsView(_MissionListView):
    period = "daily"

    @extend_schema(
        tags=["missions"],
        operation_id="missions_daily",
        responses={200: s.PlayerMissionSerializer(many=True), 401: MISSIONS_UNAUTHORIZED},
        description=_MISSION_LIST_DESCRIPTION.format(what="daily", period="the UTC day"),
    )
    def get(self, request: Request) -> Response:
        return super().get(request)


class WeeklyMissionsView(_MissionListView):
    period = "weekly"

    @extend_schema(
        tags=["missions"],
        operation_id="missions_weekly",
        responses={200: s.PlayerMissionSerializer(many=True), 401: MISSIONS_UNAUTHORIZED},
        description=_MISSION_LIST_DESCRIPTION.format(what="weekly", period="the ISO week, Monday to Sunday, UTC"),
    )
    def get(self, request: Request) -> Response:
        return super().get(request)


class AllMissionsView(_MissionListView):
    @extend_schema(
        tags=["missions"],
        operation_id="missions_all",
        responses={200: s.PlayerMissionSerializer(many=True), 401: MISSIONS_UNAUTHORIZED},
        description=_MISSION_LIST_DESCRIPTION.format(what="daily and weekly", period="daily ones first"),
    )
    def get(self, request: Request) -> Response:
        return super().get(request)


class MissionClaimView(APIView):
    @extend_schema(
        tags=["missions"],
        operation_id="missions_claim",
        request=None,
        responses={
            200: s.MissionClaimSerializer,
            401: MISSIONS_UNAUTHORIZED,
            404: OpenApiResponse(ErrorSerializer, description="mission_not_found"),
            409: OpenApiResponse(
                ErrorSerializer,
                description="not_completed (with current_progress, target_value, reset_at) / reward_already_claimed "
                "(with claimed_at) / idempotency_key_reused / idempotency_key_in_use",
            ),
        },
        description="Claim the reward of a completed mission for the current period, once per period "
        "(ledger key `mission:{user}:{mission}:{period_start}`). Only the running period can be claimed: "
        "a mission completed yesterday and not claimed is gone at UTC midnight. A retry with the same "
        "Idempotency-Key replays the first answer.",
    )
    @idempotent()
    def post(self, request: Request, mission_id: int) -> Response:
        result = services.mission_claim(user=request_user(request), mission_id=mission_id)
        progress = result.progress
        amounts = {"gold": 0, "gems": 0, "xp": 0, **result.rewards}
        reward_items: list[dict[str, Any]] = [
            {"type": "exp" if currency == "xp" else currency, "amount": amount}
            for currency, amount in result.rewards.items()
        ]
        reward_items += [{"type": "item", "amount": 1, "code": code} for code in result.items]
        return Response(
            s.MissionClaimSerializer(
                {
                    "success": True,
                    "claimed": True,
                    "message": "Reward claimed.",
                    "mission_id": result.template.pk,
                    "rewards": {**amounts, "exp": amounts["xp"], "items": result.items},
                    "reward_items": reward_items,
                    "awarded_gold": result.rewards.get("gold", 0),
                    "new_balance": result.balances.get("gold", 0),
                    "cyber_token_balance": result.balances.get("gold", 0),
                    "gold_balance": result.balances.get("gold", 0),
                    "gems_balance": result.balances.get("gems", 0),
                    "balances": result.balances,
                    "current_progress": progress.value,
                    "target_value": progress.target,
                    "claimed_at": progress.claimed_at,
                    "period_start": progress.period_start,
                    "reset_at": result.reset_at,
                }
            ).data
        )


@progress_refused_schema(tag="missions", unauthorized=MISSIONS_UNAUTHORIZED, what="mission")
class MissionProgressView(ProgressRefusedView):
    """``/api/events/missions/progress``: a mission's progress, refused."""


# --- achievements --------------------------------------------------------------------------------

ACHIEVEMENTS_UNAUTHORIZED = OpenApiResponse(
    ErrorSerializer, description="not_authenticated / invalid_token / token_revoked"
)
_HIDDEN_RULE = (
    "An achievement is listed when it is active and not hidden, or when the caller unlocked it; a "
    "hidden one the caller has not unlocked is left out entirely (no title, no placeholder)."
)


class AchievementCatalogueView(APIView):
    @extend_schema(
        tags=["achievements"],
        operation_id="achievements_list",
        responses={200: s.AchievementCatalogueSerializer, 401: ACHIEVEMENTS_UNAUTHORIZED},
        description="The achievements a player can unlock, in display order: what is counted (a metric of the "
        "registry, optionally one game), the threshold and the reward. Unlocks come only from what the player "
        f"does on the server. {_HIDDEN_RULE}",
    )
    def get(self, request: Request) -> Response:
        items = achievement_selectors.achievement_catalogue(user_id=request_user(request).pk)
        return Response(s.AchievementCatalogueSerializer({"items": items}).data)


class MyAchievementsView(APIView):
    @extend_schema(
        tags=["achievements"],
        operation_id="achievements_my",
        responses={200: s.PlayerAchievementsSerializer, 401: ACHIEVEMENTS_UNAUTHORIZED},
        description="The catalogue with the caller's progress (`progress`, `threshold`, `unlocked`, "
        f"`unlocked_at`) and a `summary` (`unlocked` of `total` listed, `hidden_remaining`). {_HIDDEN_RULE}",
    )
    def get(self, request: Request) -> Response:
        mine = achievement_selectors.achievements_for_user(user_id=request_user(request).pk)
        return Response(s.PlayerAchievementsSerializer({"items": mine.items, "summary": mine.summary}).data)
