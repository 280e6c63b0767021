"""Auth endpoints: thin views over ``accounts.services``."""

from __future__ import annotations

from datetime import timedelta
from typing import cast

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import services
from accounts.api import serializers as s
from accounts.authentication import request_user
from accounts.models import User
from accounts.selectors import daily_spend_limit_effective, invite_code_check, user_profile
from accounts.services import AuthResult
from casino.errors import ErrorSerializer, ValidationErrorSerializer
from casino.http import client_ip
from casino.throttling import ClientIpRateThrottle

ACCESS_LIFETIME_SECONDS = int(cast(timedelta, settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"]).total_seconds())

_errors = {
    400: OpenApiResponse(ValidationErrorSerializer, description="validation_error"),
    401: OpenApiResponse(ErrorSerializer, description="not_authenticated / invalid_token / token_revoked"),
}


def _own_profile(user: User) -> dict[str, object]:
    """The profile as the player themself sees it: with the email address, which
    the profiles other answers embed leave out."""
    return s.UserSerializer({**user_profile(user), "email": user.email}).data


def _auth_body(result: AuthResult) -> dict[str, object]:
    return {
        "access_token": result.tokens.access,
        "refresh_token": result.tokens.refresh,
        "token_type": "bearer",
        "expires_in": ACCESS_LIFETIME_SECONDS,
        "user": _own_profile(result.user),
    }


class SignupThrottle(ClientIpRateThrottle):
    """Sign-ups per client IP (``SIGNUP_THROTTLE_RATE``), refused ones included."""

    scope = "signup"


class InviteValidateThrottle(ClientIpRateThrottle):
    """Invite checks per client IP (``INVITE_VALIDATE_THROTTLE_RATE``)."""

    scope = "invite_validate"


_rate_limited = OpenApiResponse(ErrorSerializer, description="rate_limited (Retry-After, retry_after_seconds)")


class SignupView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list[type] = []
    throttle_classes = [SignupThrottle]

    @extend_schema(
        tags=["auth"],
        request=s.SignupInputSerializer,
        responses={
            201: s.AuthResponseSerializer,
            400: OpenApiResponse(
                ValidationErrorSerializer,
                description="invalid_invite_code (checked before anything else) / validation_error",
            ),
            409: OpenApiResponse(
                ErrorSerializer,
                description="site_id_taken / nickname_taken (also a look-alike of another nickname) / "
                "phone_number_taken",
            ),
            429: _rate_limited,
        },
        auth=[],
        description=(
            "Create a player. The invite code is checked first: without a usable one the answer is "
            "`invalid_invite_code`, whatever the other fields say. The nickname is stored in Unicode NFKC; "
            "one with invisible or text-direction characters is a `validation_error`, one that looks the "
            "same as another player's is `nickname_taken`. The email address is optional and never "
            "refused for being another account's; with one, a welcome email is sent once."
        ),
    )
    def post(self, request: Request) -> Response:
        data = s.SignupInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = services.user_signup(**data.validated_data, ip=client_ip(request))
        return Response(_auth_body(result), status=status.HTTP_201_CREATED)


class LoginView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list[type] = []

    @extend_schema(
        tags=["auth"],
        request=s.LoginInputSerializer,
        responses={
            200: s.AuthResponseSerializer,
            400: _errors[400],
            401: OpenApiResponse(ErrorSerializer, description="invalid_credentials"),
            403: OpenApiResponse(ErrorSerializer, description="account_disabled / self_excluded"),
            429: OpenApiResponse(ErrorSerializer, description="login_locked (with retry_after_minutes)"),
            503: OpenApiResponse(
                ErrorSerializer, description="login_unavailable: the lockout counters are down (retry_after_seconds)"
            ),
        },
        auth=[],
    )
    def post(self, request: Request) -> Response:
        data = s.LoginInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = services.user_login(
            identifier=data.validated_data["identifier"],
            password=data.validated_data["password"],
            ip=client_ip(request),
        )
        return Response(_auth_body(result))


class RefreshView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list[type] = []

    @extend_schema(
        tags=["auth"],
        request=s.RefreshInputSerializer,
        responses={
            200: s.RefreshResponseSerializer,
            400: _errors[400],
            401: OpenApiResponse(ErrorSerializer, description="invalid_refresh_token"),
        },
        auth=[],
    )
    def post(self, request: Request) -> Response:
        data = s.RefreshInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = services.token_refresh(refresh_token=data.validated_data["refresh_token"])
        return Response(
            {
                "access_token": result.tokens.access,
                "refresh_token": result.tokens.refresh,
                "token_type": "bearer",
                "expires_in": ACCESS_LIFETIME_SECONDS,
            }
        )


class LogoutView(APIView):
    @extend_schema(
        tags=["auth"], request=s.LogoutInputSerializer, responses={200: s.LogoutResponseSerializer, **_errors}
    )
    def post(self, request: Request) -> Response:
        data = s.LogoutInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        revoked = services.token_logout(
            user=request_user(request), refresh_token=data.validated_data.get("refresh_token")
        )
        return Response({"message": "Logged out.", "revoked": revoked})


class LogoutAllView(APIView):
    @extend_schema(tags=["auth"], request=None, responses={200: s.MessageSerializer, 401: _errors[401]})
    def post(self, request: Request) -> Response:
        services.token_logout_all(user=request_user(request))
        return Response({"message": "Logged out of every session."})


class MeView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(tags=["auth"], responses={200: s.UserSerializer, 401: _errors[401]})
    def get(self, request: Request) -> Response:
        return Response(_own_profile(request_user(request)))

    @extend_schema(
        tags=["auth"],
        request=s.ProfileUpdateInputSerializer,
        responses={
            200: s.UserSerializer,
            **_errors,
            409: OpenApiResponse(
                ErrorSerializer,
                description="nickname_taken (also a look-alike of another nickname) / phone_number_taken",
            ),
        },
    )
    def patch(self, request: Request) -> Response:
        data = s.ProfileUpdateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.user_update_profile(user=request_user(request), **data.validated_data)
        return Response(_own_profile(user))


class ProfileAliasView(APIView):
    """``GET /api/auth/profile``: the same as ``GET /api/auth/me``."""

    @extend_schema(tags=["auth"], responses={200: s.UserSerializer, 401: _errors[401]}, operation_id="auth_profile")
    def get(self, request: Request) -> Response:
        return Response(_own_profile(request_user(request)))


class InviteValidateView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list[type] = []
    throttle_classes = [InviteValidateThrottle]

    @extend_schema(
        tags=["auth"],
        request=s.InviteValidateInputSerializer,
        responses={200: s.InviteValidateResponseSerializer, 400: _errors[400], 429: _rate_limited},
        auth=[],
    )
    def post(self, request: Request) -> Response:
        data = s.InviteValidateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        check = invite_code_check(code=data.validated_data["code"])
        return Response(
            s.InviteValidateResponseSerializer(
                {
                    "is_valid": check.is_valid,
                    "error_message": check.message or None,
                    "reason": check.reason or None,
                    "code": check.code.code if check.is_valid and check.code else None,
                    "remaining_uses": check.remaining_uses if check.is_valid else None,
                    "expires_at": check.expires_at if check.is_valid else None,
                }
            ).data
        )


def _responsible_gaming_body(user: object) -> dict[str, object]:
    return s.ResponsibleGamingSerializer(
        {
            "self_excluded_until": user.self_excluded_until,  # type: ignore[attr-defined]
            "daily_spend_limit": daily_spend_limit_effective(user=user),  # type: ignore[arg-type]
            "pending_daily_spend_limit": user.pending_daily_spend_limit,  # type: ignore[attr-defined]
            "pending_limit_clears": user.pending_limit_clears,  # type: ignore[attr-defined]
            "pending_limit_effective_at": user.pending_limit_effective_at,  # type: ignore[attr-defined]
        }
    ).data


class ResponsibleGamingView(APIView):
    @extend_schema(tags=["responsible gaming"], responses={200: s.ResponsibleGamingSerializer, 401: _errors[401]})
    def get(self, request: Request) -> Response:
        return Response(_responsible_gaming_body(request_user(request)))


class SpendLimitView(APIView):
    @extend_schema(
        tags=["responsible gaming"],
        request=s.SpendLimitInputSerializer,
        responses={200: s.ResponsibleGamingSerializer, **_errors},
    )
    def put(self, request: Request) -> Response:
        data = s.SpendLimitInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.daily_spend_limit_set(
            user=request_user(request), limit=data.validated_data["daily_spend_limit"]
        )
        return Response(_responsible_gaming_body(user))


class SelfExclusionView(APIView):
    @extend_schema(
        tags=["responsible gaming"],
        request=s.SelfExclusionInputSerializer,
        responses={200: s.ResponsibleGamingSerializer, **_errors},
        description="Exclude yourself from play. Every session ends at once; log-in is refused until the date.",
    )
    def post(self, request: Request) -> Response:
        data = s.SelfExclusionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        until = data.validated_data.get("until") or timezone.now() + timedelta(days=data.validated_data["days"])
        user = services.self_exclusion_set(user=request_user(request), until=until)
        return Response(_responsible_gaming_body(user))
