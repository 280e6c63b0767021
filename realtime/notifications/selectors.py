"""Reads of the notification inbox."""

from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import QuerySet

from realtime.models import Notification, PushSubscription


def notifications_for(*, user: AbstractBaseUser) -> QuerySet[Notification]:
    """The player's inbox, newest first (``notification_inbox_idx``)."""
    return Notification.objects.filter(user_id=user.pk).order_by("-id")


def notifications_unread_count(*, user: AbstractBaseUser) -> int:
    return Notification.objects.filter(user_id=user.pk, read_at__isnull=True).count()


def push_subscription_ids_for(*, user_id: int) -> list[int]:
    return list(PushSubscription.objects.filter(user_id=user_id).order_by("id").values_list("pk", flat=True))
