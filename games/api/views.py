"""Thin DRF views of games/: validate an input serializer, call one service or selector, return
an output serializer."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import Serializer
from rest_framework.views import APIView

from accounts.authentication import request_user
from accounts.models import User
from casino.errors import ErrorSerializer, ValidationErrorSerializer
from casino.idempotency import idempotency_key_from
from casino.pagination import StandardPagination
from games import gacha_selectors, selectors, services
from games.api import gacha_serializers
from games.api import serializers as s
from games.exceptions import RoundNotFound
from games.models import GameRound

UNAUTHORIZED = OpenApiResponse(ErrorSerializer, description="not_authenticated / invalid_token / token_revoked")
INVALID = OpenApiResponse(ValidationErrorSerializer, description="validation_error")
# What refuses any round played for a stake, whatever the game.
PLAY_FORBIDDEN = OpenApiResponse(ErrorSerializer, description="game_disabled / self_excluded")
PLAY_CONFLICT = OpenApiResponse(
    ErrorSerializer, description="insufficient_funds / idempotency_key_reused (same key, other request)"
)
PLAY_DAILY_LIMIT = OpenApiResponse(ErrorSerializer, description="daily_limit_reached")


def play_key(request: Request) -> str:
    """The round's idempotency key: the client's ``Idempotency-Key`` / ``X-Idempotency-Key``
    (a retry with it returns the same round), else a fresh one (each request a new round)."""
    return idempotency_key_from(request) or f"auto:{uuid.uuid4()}"


class PlayView(APIView):
    """A round played for a stake: the body is validated by ``input_serializer``, then
    :meth:`play` calls the game's service under the round's idempotency key (:func:`play_key`) and
    returns the answer. A subclass describes itself with :func:`play_schema`."""

    input_serializer: type[Serializer[Any]]

    def post(self, request: Request) -> Response:
        body = self.input_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        return Response(self.play(request_user(request), body.validated_data, idempotency_key=play_key(request)))

    def play(self, user: User, data: dict[str, Any], *, idempotency_key: str) -> Any:
        raise NotImplementedError


V = TypeVar("V", bound=type[PlayView])


def play_schema(
    *,
    ok: type[Serializer[Any]],
    refused: OpenApiResponse,
    description: str,
    conflict: OpenApiResponse = PLAY_CONFLICT,
    daily_limit: OpenApiResponse = PLAY_DAILY_LIMIT,
    more: dict[int, OpenApiResponse] | None = None,
) -> Callable[[V], V]:
    """The schema of a :class:`PlayView`'s ``post``: its input serializer, ``ok`` (200), ``refused``
    (400) and ``more`` (its own refusals); 401, 403, 409 and 429 as for every play unless given."""
    responses = {
        200: ok,
        400: refused,
        401: UNAUTHORIZED,
        403: PLAY_FORBIDDEN,
        409: conflict,
        429: daily_limit,
        **(more or {}),
    }

    def decorate(view: V) -> V:
        schema = extend_schema(
            tags=["games"],
            request=view.input_serializer,
            responses=dict(sorted(responses.items())),
            description=description,
        )
        decorated: V = extend_schema_view(post=schema)(view)
        return decorated

    return decorate


class Played(Protocol):
    """What a game's service returns for a round played (slots, rps, gacha)."""

    @property
    def round(self) -> GameRound: ...
    @property
    def balance(self) -> int: ...
    @property
    def replayed(self) -> bool: ...


def played_body(played: Played, feedback: dict[str, str], **fields: Any) -> dict[str, Any]:
    """What every round of a game with feedback answers (slots, rps, gacha), and ``fields``, the game's own."""
    return {
        "success": True,
        "round_id": played.round.pk,
        "currency": played.round.currency,
        "balance": played.balance,
        "message": feedback["message"],
        "feedback": feedback,
        "replayed": played.replayed,
        **fields,
    }


class FairnessView(APIView):
    @extend_schema(tags=["games"], responses={200: s.FairnessSerializer, 401: UNAUTHORIZED})
    def get(self, request: Request) -> Response:
        return Response(s.FairnessSerializer(selectors.fairness_state(user_id=request_user(request).pk)).data)


class FairnessRotateView(APIView):
    @extend_schema(
        tags=["games"],
        request=s.RotateSerializer,
        responses={
            200: s.FairnessSerializer,
            400: INVALID,
            401: UNAUTHORIZED,
            409: OpenApiResponse(ErrorSerializer, description="round_in_progress"),
        },
        description="Reveal the server seed in use (every round played with it can then be verified) and "
        "publish the hash of a new one. Refused while a live crash round is open.",
    )
    def post(self, request: Request) -> Response:
        body = s.RotateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        user = request_user(request)
        rotation = services.fairness_rotate(user=user, client_seed=body.validated_data.get("client_seed"))
        return Response(s.FairnessSerializer(selectors.fairness_state(user_id=user.pk, current=rotation.current)).data)


class ClientSeedView(APIView):
    @extend_schema(
        tags=["games"],
        request=s.ClientSeedSerializer,
        responses={200: s.FairnessSerializer, 400: INVALID, 401: UNAUTHORIZED},
        description="Set the client seed of the next rounds (1-64 letters, digits, '-' or '_').",
    )
    def put(self, request: Request) -> Response:
        body = s.ClientSeedSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        user = request_user(request)
        seed = services.fairness_client_seed_set(user=user, client_seed=body.validated_data["client_seed"])
        return Response(s.FairnessSerializer(selectors.fairness_state(user_id=user.pk, current=seed)).data)


class RoundDetailView(APIView):
    @extend_schema(
        tags=["games"],
        responses={
            200: s.RoundSerializer,
            401: UNAUTHORIZED,
            404: OpenApiResponse(ErrorSerializer, description="round_not_found (or another player's round)"),
        },
        description="One of the caller's rounds with everything needed to recompute it once the seed is "
        "revealed (tools/verify_round.py). The outcome of an open round is withheld.",
    )
    def get(self, request: Request, round_id: int) -> Response:
        round_ = selectors.round_for_player(user_id=request_user(request).pk, round_id=round_id)
        if round_ is None:
            raise RoundNotFound()
        return Response(s.RoundSerializer(selectors.round_public(round_)).data)


# --- slots ---------------------------------------------------------------------------------------


@play_schema(
    ok=s.SlotSpinSerializer,
    refused=OpenApiResponse(
        ErrorSerializer,
        description="bet_out_of_range (not within the game's min_bet..max_bet) / validation_error "
        "(bet_amount missing or not a JSON integer) / idempotency_key_invalid",
    ),
    conflict=OpenApiResponse(
        ErrorSerializer, description="insufficient_funds / idempotency_key_reused (same key, other bet)"
    ),
    more={503: OpenApiResponse(ErrorSerializer, description="slot_table_unavailable")},
    description="Spin the 3 reels once. Each reel's stop comes from the round's fair bytes; the payline "
    "pays bet x the best matching rule of the paytable (floored) — GET /api/games/slot/config has the "
    "table and its exact RTP. A retry with the same Idempotency-Key (or X-Idempotency-Key) returns the "
    "first spin. Refusals change nothing.",
)
class SlotSpinView(PlayView):
    input_serializer = s.SlotSpinInputSerializer

    def play(self, user: User, data: dict[str, Any], *, idempotency_key: str) -> Any:
        spin = services.slot_spin(user=user, bet_amount=data["bet_amount"], idempotency_key=idempotency_key)
        round_ = spin.round
        body = played_body(
            spin,
            spin.feedback,
            reels=spin.reels,
            symbols=spin.symbols,
            stops=spin.stops,
            bet_amount=round_.bet_amount,
            win_amount=spin.win_amount,
            net_change=spin.win_amount - round_.bet_amount,
            multiplier=spin.multiplier,
            is_jackpot=spin.is_jackpot,
            win_lines=spin.win_lines,
            table_version=round_.inputs.get("table_version"),
        )
        return s.SlotSpinSerializer(body).data


class SlotConfigView(APIView):
    @extend_schema(
        tags=["games"],
        responses={
            200: s.SlotConfigSerializer,
            401: UNAUTHORIZED,
            503: OpenApiResponse(ErrorSerializer, description="slot_table_unavailable"),
        },
        description="The slot machine in play: symbols, reel weights, paytable, bet limits, and the declared "
        "RTP, hit frequency and jackpot probability, computed exactly from the same table the spins use "
        "(enumeration of every stop combination).",
    )
    def get(self, request: Request) -> Response:
        return Response(s.SlotConfigSerializer(services.slot_config_public()).data)


# --- crash ---------------------------------------------------------------------------------------

CRASH_NOT_FOUND = OpenApiResponse(ErrorSerializer, description="round_not_found (no such crash round of yours)")


@play_schema(
    ok=s.CrashRoundSerializer,
    refused=OpenApiResponse(
        ValidationErrorSerializer,
        description="bet_out_of_range (not within the game's min_bet..max_bet) / invalid_auto_cashout "
        "(not 1.01..1000.00 with two decimals at most) / validation_error (bet_amount missing or not a JSON "
        "integer, auto_cashout_multiplier not a number) / idempotency_key_invalid",
    ),
    description="Bet on a crash round. With auto_cashout_multiplier the round settles in this request "
    "(won: stake x target if the crash point reaches it; max_multiplier shows the crash point). Without it "
    "the round runs on the server clock from started_at, multiplier(t) = floor(100 * e^(0.00006 * t_ms)) / 100; "
    "cash out with POST /api/games/crash/cashout before it crashes. The crash point (max_multiplier) is "
    "never sent before the round is over. A retry with the same Idempotency-Key (or X-Idempotency-Key) "
    "returns the first round as it stands. Refusals change nothing.",
)
class CrashBetView(PlayView):
    input_serializer = s.CrashBetSerializer

    def play(self, user: User, data: dict[str, Any], *, idempotency_key: str) -> Any:
        played = services.crash_bet(
            user=user,
            bet_amount=data["bet_amount"],
            auto_cashout_multiplier=data.get("auto_cashout_multiplier"),
            idempotency_key=idempotency_key,
        )
        return s.CrashRoundSerializer(services.crash_public(played)).data


class CrashCashoutView(APIView):
    @extend_schema(
        tags=["games"],
        request=s.CrashCashoutSerializer,
        responses={200: s.CrashRoundSerializer, 400: INVALID, 401: UNAUTHORIZED, 404: CRASH_NOT_FOUND},
        description="Cash out a running round at the multiplier of the server's time of receipt: pays "
        "floor(stake x multiplier). At or after the crash the round is lost. A round already over answers its "
        "final state (200). Any multiplier the client sends is ignored.",
    )
    def post(self, request: Request) -> Response:
        body = s.CrashCashoutSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        played = services.crash_cashout(user=request_user(request), round_id=body.validated_data["game_id"])
        return Response(s.CrashRoundSerializer(services.crash_public(played)).data)


class CrashRoundView(APIView):
    @extend_schema(
        tags=["games"],
        responses={200: s.CrashRoundSerializer, 401: UNAUTHORIZED, 404: CRASH_NOT_FOUND},
        description="One of your crash rounds. A round whose crash time has passed is settled first; while it "
        "runs: started_at, server_time and current_multiplier, never the crash point.",
    )
    def get(self, request: Request, game_id: int) -> Response:
        played = services.crash_round_read(user=request_user(request), round_id=game_id)
        return Response(s.CrashRoundSerializer(services.crash_public(played)).data)


# --- rps, history, stats -------------------------------------------------------------------------


@play_schema(
    ok=s.RpsPlaySerializer,
    refused=OpenApiResponse(
        ErrorSerializer,
        description="invalid_choice (not rock, paper or scissors) / bet_out_of_range (not within the "
        "game's min_bet..max_bet) / validation_error (bet_amount missing or not a JSON integer) / "
        "invalid_idempotency_key",
    ),
    description="One round of rock-paper-scissors. The computer's move comes from the round's fair bytes; "
    "a win pays bet x win_multiplier (floored), a draw returns the bet. A retry with the same "
    "Idempotency-Key (or X-Idempotency-Key) returns the first round. Refusals change nothing.",
)
class RpsPlayView(PlayView):
    input_serializer = s.RpsPlayInputSerializer

    def play(self, user: User, data: dict[str, Any], *, idempotency_key: str) -> Any:
        played = services.rps_play(
            user=user, choice=data.get("choice"), bet_amount=data["bet_amount"], idempotency_key=idempotency_key
        )
        round_ = played.round
        body = played_body(
            played,
            services.rps_feedback(played.result),
            player_choice=played.player_choice,
            computer_choice=played.computer_choice,
            result=played.result,
            bet_amount=round_.bet_amount,
            win_amount=round_.payout,
            net_change=round_.payout - round_.bet_amount,
            win_multiplier=round_.inputs.get("win_multiplier", ""),
        )
        return s.RpsPlaySerializer(body).data


class GameHistoryView(APIView):
    pagination_class = StandardPagination

    @extend_schema(
        tags=["games"],
        parameters=[s.GameHistoryQuerySerializer],
        responses={200: s.GameHistoryPageSerializer, 400: INVALID, 401: UNAUTHORIZED},
        description="The caller's rounds, newest first, `limit`/`offset` paginated with the `total`; filters "
        "`game` (or `game_type`) and `date_from`/`date_to` (UTC dates, both included). An unknown game or a "
        "malformed date is a validation_error.",
    )
    def get(self, request: Request) -> Response:
        query = s.GameHistoryQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        filters = query.validated_data
        rounds = selectors.round_history(
            user_id=request_user(request).pk,
            game=filters.get("game") or filters.get("game_type"),
            date_from=filters.get("date_from"),
            date_to=filters.get("date_to"),
        )
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(rounds, request, view=self) or []
        items = [selectors.round_history_item(round_) for round_ in page]
        return paginator.get_paginated_response(s.GameHistoryItemSerializer(items, many=True).data)


class GameStatsMeView(APIView):
    @extend_schema(
        tags=["games"],
        responses={200: s.GameStatsMeSerializer, 401: UNAUTHORIZED},
        description="The caller's game statistics: totals and one breakdown per game (zeros for a game never "
        "played), kept by every settled round. win_rate is a percentage (0-100).",
    )
    def get(self, request: Request) -> Response:
        stats = selectors.game_stats_for_player(user_id=request_user(request).pk)
        return Response(s.GameStatsMeSerializer({"success": True, "stats": stats}).data)


# --- gacha, inventory ----------------------------------------------------------------------------


class GachaConfigView(APIView):
    @extend_schema(
        tags=["games"],
        responses={200: gacha_serializers.GachaConfigSerializer, 401: UNAUTHORIZED},
        description="Every open gacha banner: prices, pity, the rarity table with its odds (computed from the same "
        "rows the draw uses) and items, the caller's pity counter; the caller's pulls left today; and, for the "
        "existing client, the default banner's cost_single, cost_ten and rarity_table ([[rarity, p], ...]).",
    )
    def get(self, request: Request) -> Response:
        config = gacha_selectors.gacha_config(user_id=request_user(request).pk)
        return Response(gacha_serializers.GachaConfigSerializer(config).data)


@play_schema(
    ok=gacha_serializers.GachaPullSerializer,
    refused=OpenApiResponse(
        ErrorSerializer,
        description="invalid_choice (pull_count not 1 or 10) / validation_error (pull_count not a JSON "
        "integer, banner not a code) / bet_out_of_range (the banner's price is outside the game's limits) / "
        "invalid_idempotency_key",
    ),
    daily_limit=OpenApiResponse(ErrorSerializer, description="daily_limit_reached (pulls per UTC day by VIP tier)"),
    more={404: OpenApiResponse(ErrorSerializer, description="banner_not_found (unknown, inactive or closed)")},
    description="One pull or a 10-pull on a banner, for its cost_single / cost_ten. The items come from the "
    "round's fair bytes (GET /api/games/rounds/{id}); the top rarity is guaranteed by the banner's "
    "pity_threshold-th pull. New items go to the inventory; a duplicate converts to its rarity's "
    "duplicate_value (win_amount when it is in the cost's currency). A retry with the same Idempotency-Key "
    "(or X-Idempotency-Key) returns the first pull. Refusals change nothing.",
)
class GachaPullView(PlayView):
    input_serializer = gacha_serializers.GachaPullInputSerializer

    def play(self, user: User, data: dict[str, Any], *, idempotency_key: str) -> Any:
        pulled = services.gacha_pull(
            user=user, pull_count=data["pull_count"], banner_code=data["banner"], idempotency_key=idempotency_key
        )
        round_ = pulled.round
        body = played_body(
            pulled,
            pulled.feedback,
            banner=pulled.banner,
            pull_count=len(pulled.items),
            items=pulled.items,
            cost=round_.bet_amount,
            win_amount=round_.payout,
            duplicate_total=pulled.duplicate_total,
            duplicate_currency=pulled.duplicate_currency,
            animation_type=pulled.animation_type,
            pity_counter=pulled.pity_counter,
        )
        return gacha_serializers.GachaPullSerializer(body).data


class InventoryView(APIView):
    pagination_class = StandardPagination

    @extend_schema(
        tags=["games"],
        parameters=[gacha_serializers.InventoryQuerySerializer],
        responses={200: gacha_serializers.InventoryItemSerializer(many=True), 400: INVALID, 401: UNAUTHORIZED},
        description="The caller's gacha items, newest first, `limit`/`offset` paginated with the `total`; filters "
        "`banner` (a code) and `rarity`. One entry per item; `duplicates` counts later draws of it.",
    )
    def get(self, request: Request) -> Response:
        query = gacha_serializers.InventoryQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        items = gacha_selectors.gacha_inventory(
            user_id=request_user(request).pk,
            banner=query.validated_data.get("banner"),
            rarity=query.validated_data.get("rarity"),
        )
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(items, request, view=self)
        return paginator.get_paginated_response(gacha_serializers.InventoryItemSerializer(page, many=True).data)


# --- leaderboards --------------------------------------------------------------------------------


class LeaderboardView(APIView):
    @extend_schema(
        tags=["games"],
        parameters=[s.LeaderboardQuerySerializer],
        responses={200: s.LeaderboardSerializer, 400: INVALID, 401: UNAUTHORIZED},
        description="A leaderboard: the top `limit` players by nickname (no ids or contact details) and the "
        "caller's own rank and value (`me`), even outside the top. Weekly boards cover the current ISO week "
        "(UTC) and start over on Monday 00:00 UTC. Ties go to the player who got there first. An unknown "
        "game, period or metric, or a limit outside 1-100, is a validation_error.",
    )
    def get(self, request: Request) -> Response:
        query = s.LeaderboardQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        board = services.leaderboard_get(user_id=request_user(request).pk, **query.validated_data)
        return Response(s.LeaderboardSerializer(board.public()).data)
