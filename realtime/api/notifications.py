"""The notification inbox, the player's notification channels and the Web Push
subscription endpoints.

The web client sends only its ``auth_token`` cookie here (no Authorization
header): these views, and no others, accept it
(``realtime.notifications.authentication``)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotAuthenticated
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from casino.errors import ErrorSerializer, ValidationErrorSerializer
from casino.pagination import StandardPagination
from casino.serializers import OutputSerializer
from realtime.models import NotificationSettings
from realtime.notifications import preferences, selectors, services
from realtime.notifications.authentication import AccessTokenCookieAuthentication
from realtime.notifications.exceptions import WebPushNotConfigured

UNAUTHORIZED = OpenApiResponse(ErrorSerializer, description="not_authenticated / invalid_token / token_revoked")
CROSS_SITE = OpenApiResponse(
    ErrorSerializer, description="cross_site_request (cookie-authenticated POST or PUT from another origin)"
)
NOT_FOUND = OpenApiResponse(ErrorSerializer, description="notification_not_found")
INVALID = OpenApiResponse(ValidationErrorSerializer, description="validation_error")


def _player(request: Request) -> AbstractBaseUser:
    user = request.user
    if not isinstance(user, AbstractBaseUser):
        raise NotAuthenticated()
    return user


class NotificationSerializer(OutputSerializer):
    id = serializers.IntegerField()
    kind = serializers.CharField(help_text="purchase_fulfilled, purchase_refunded, staff_grant, reward_<source>, ...")
    title = serializers.CharField()
    body = serializers.CharField()
    data = serializers.DictField(help_text="Details of the kind (receipt_code, amounts, ...).")  # type: ignore[assignment]  # a field, not Serializer.data
    created_at = serializers.DateTimeField()
    read = serializers.BooleanField()


class NotificationReadAllSerializer(OutputSerializer):
    marked_read = serializers.IntegerField(help_text="How many were unread.")
    unread = serializers.IntegerField()


class PushKeysSerializer(serializers.Serializer):  # type: ignore[type-arg]
    p256dh = serializers.RegexField(r"^[A-Za-z0-9_\-]+={0,2}$", max_length=200)
    auth = serializers.RegexField(r"^[A-Za-z0-9_\-]+={0,2}$", max_length=100)


class PushSubscribeSerializer(serializers.Serializer):  # type: ignore[type-arg]
    endpoint = serializers.URLField(max_length=2048, help_text="PushSubscription.endpoint of the browser.")
    keys = PushKeysSerializer()
    expirationTime = serializers.IntegerField(required=False, allow_null=True, help_text="Ignored.")  # noqa: N815 - the browser's name

    def validate_endpoint(self, value: str) -> str:
        if not services.push_endpoint_allowed(value):
            raise serializers.ValidationError("This push service is not accepted.")
        return value


class PushSubscriptionSerializer(OutputSerializer):
    endpoint = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class VapidPublicKeySerializer(OutputSerializer):
    public_key = serializers.CharField(help_text="The VAPID public key (base64url): applicationServerKey.")


class NotificationSettingsSerializer(OutputSerializer):
    in_app = serializers.BooleanField(help_text="Campaign messages in the notification inbox.")
    push = serializers.BooleanField(help_text="Campaign messages as Web Push notifications.")
    email = serializers.BooleanField(help_text="Campaign messages by email (to the account's address).")


class NotificationSettingsUpdateSerializer(serializers.Serializer):  # type: ignore[type-arg]
    """Any of the three switches; those left out stay as they are. A key that is
    not one of them is refused, so a misspelt switch never looks saved."""

    in_app = serializers.BooleanField(required=False, help_text="Campaign messages in the notification inbox.")
    push = serializers.BooleanField(required=False, help_text="Campaign messages as Web Push notifications.")
    email = serializers.BooleanField(required=False, help_text="Campaign messages by email (to the account's address).")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(self.initial_data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError({name: ["Unknown setting."] for name in unknown})
        return attrs


class NotificationPagination(StandardPagination):
    unread = 0

    def get_paginated_response(self, data: Any) -> Response:
        response = super().get_paginated_response(data)
        response.data["unread"] = self.unread
        return response

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        paginated = super().get_paginated_response_schema(schema)
        paginated["required"].append("unread")
        paginated["properties"]["unread"] = {"type": "integer", "description": "Unread notifications in all."}
        return paginated


class NotificationAPIView(APIView):
    """Bearer header first, then the ``auth_token`` cookie."""

    authentication_classes = [*api_settings.DEFAULT_AUTHENTICATION_CLASSES, AccessTokenCookieAuthentication]  # type: ignore[list-item]  # DRF imports the setting's strings as classes


class NotificationListView(NotificationAPIView):
    pagination_class = NotificationPagination

    @extend_schema(
        tags=["notifications"],
        responses={200: NotificationSerializer(many=True), 400: INVALID, 401: UNAUTHORIZED},
    )
    def get(self, request: Request) -> Response:
        user = _player(request)
        paginator = NotificationPagination()
        page = paginator.paginate_queryset(selectors.notifications_for(user=user), request, view=self)
        paginator.unread = selectors.notifications_unread_count(user=user)
        items = [services.notification_as_dict(notification) for notification in page or []]
        return paginator.get_paginated_response(NotificationSerializer(items, many=True).data)


class NotificationReadView(NotificationAPIView):
    @extend_schema(
        tags=["notifications"],
        request=None,
        responses={200: NotificationSerializer, 401: UNAUTHORIZED, 403: CROSS_SITE, 404: NOT_FOUND},
    )
    def post(self, request: Request, notification_id: int) -> Response:
        notification = services.notification_mark_read(user=_player(request), notification_id=notification_id)
        return Response(NotificationSerializer(services.notification_as_dict(notification)).data)


class NotificationReadAllView(NotificationAPIView):
    @extend_schema(
        tags=["notifications"],
        request=None,
        responses={200: NotificationReadAllSerializer, 401: UNAUTHORIZED, 403: CROSS_SITE},
    )
    def post(self, request: Request) -> Response:
        marked = services.notifications_mark_all_read(user=_player(request))
        return Response({"marked_read": marked, "unread": 0})


class VapidPublicKeyView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list[type] = []

    @extend_schema(
        tags=["notifications"],
        responses={
            200: VapidPublicKeySerializer,
            503: OpenApiResponse(ErrorSerializer, description="web_push_not_configured"),
        },
        auth=[],
    )
    def get(self, request: Request) -> Response:
        if not services.web_push_configured():
            raise WebPushNotConfigured()
        return Response({"public_key": settings.VAPID_PUBLIC_KEY})


class PushSubscribeView(NotificationAPIView):
    @extend_schema(
        tags=["notifications"],
        request=PushSubscribeSerializer,
        responses={
            200: PushSubscriptionSerializer,
            400: INVALID,
            401: UNAUTHORIZED,
            403: CROSS_SITE,
            503: OpenApiResponse(ErrorSerializer, description="web_push_not_configured"),
        },
    )
    def post(self, request: Request) -> Response:
        user = _player(request)
        if not services.web_push_configured():
            raise WebPushNotConfigured()
        body = PushSubscribeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        subscription = services.push_subscription_save(
            user=user,
            endpoint=body.validated_data["endpoint"],
            p256dh=body.validated_data["keys"]["p256dh"],
            auth=body.validated_data["keys"]["auth"],
        )
        return Response(PushSubscriptionSerializer(subscription).data)


def _settings_body(current: NotificationSettings) -> dict[str, bool]:
    return {"in_app": current.in_app, "push": current.push, "email": current.email}


class NotificationSettingsView(NotificationAPIView):
    """Which channels accept promotional messages (campaigns). Notifications the
    player's own actions cause always reach the inbox."""

    @extend_schema(
        tags=["notifications"],
        responses={200: NotificationSettingsSerializer, 401: UNAUTHORIZED},
    )
    def get(self, request: Request) -> Response:
        current = preferences.notification_settings_get(user=_player(request))
        return Response(NotificationSettingsSerializer(_settings_body(current)).data)

    @extend_schema(
        tags=["notifications"],
        request=NotificationSettingsUpdateSerializer,
        responses={200: NotificationSettingsSerializer, 400: INVALID, 401: UNAUTHORIZED, 403: CROSS_SITE},
    )
    def put(self, request: Request) -> Response:
        user = _player(request)
        body = NotificationSettingsUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        current = preferences.notification_settings_update(user=user, **body.validated_data)
        return Response(NotificationSettingsSerializer(_settings_body(current)).data)
