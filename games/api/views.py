"""Thin DRF views of games/: validate an input serializer, call one service or selector, return
an output serializer."""

from __future__ import annotations

import uuid

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import request_user
from casino.errors import ErrorSerializer, ValidationErrorSerializer
from casino.idempotency import idempotency_key_from
from games import selectors, services
from games.api import serializers as s
from games.exceptions import RoundNotFound

UNAUTHORIZED = OpenApiResponse(ErrorSerializer, description="not_authenticated / invalid_token / token_revoked")
INVALID = OpenApiResponse(ValidationErrorSerializer, description="validation_error")


def play_key(request: Request) -> str:
    """The round's idempotency key: the client's ``Idempotency-Key`` / ``X-Idempotency-Key``
    (a retry with it returns the same round), else a fresh one (each request a new round)."""
    return idempotency_key_from(request) or f"auto:{uuid.uuid4()}"


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


# --- crash ---------------------------------------------------------------------------------------


# --- rps, history, stats -------------------------------------------------------------------------


# --- gacha, inventory ----------------------------------------------------------------------------
