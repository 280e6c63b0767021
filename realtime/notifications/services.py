"""Writes of the notification inbox and Web Push subscriptions."""

from __future__ import annotations

import enum
import functools
import ipaddress
import json
import logging
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

import realtime
from casino.db import rows_insert_later
from casino.degraded import dependency_failed
from realtime.models import Notification, PushSubscription
from realtime.notifications.exceptions import NotificationNotFound
from realtime.registry import DomainEvent, register_event_type

logger = logging.getLogger(__name__)

NOTIFICATION_EVENT = "notification"
# Pushed, not stored: the notification row is the durable record, and the event carries its key,
# which the transaction's last statement (the row written with the outbox rows) hands out.
register_event_type(
    NOTIFICATION_EVENT,
    "A notification reached the player's inbox (data: id, kind, title, body, created_at, read).",
    stored=False,
)

MAX_SUBSCRIPTIONS_PER_PLAYER = 10  # the oldest go beyond this: one player must not fan a push out a thousandfold
PUSH_TTL_SECONDS = 24 * 3600  # how long the push service keeps a message for an offline browser
PUSH_TIMEOUT_SECONDS = 10.0


def notification_as_dict(notification: Notification) -> dict[str, Any]:
    return {
        "id": notification.pk,
        "kind": notification.kind,
        "title": notification.title,
        "body": notification.body,
        "data": notification.data,
        "created_at": notification.created_at,
        "read": notification.read_at is not None,
    }


def notification_from_event(event: DomainEvent) -> None:
    """The subscriber of every type in ``BUILDERS``: runs in the emitter's
    transaction, so a notification exists exactly when its event committed.
    The row is written with the transaction's last statement (with its outbox
    rows, ``casino.db.rows_insert_later``); its ``notification`` event, which
    carries the row's key, is emitted once that statement has handed it out."""
    from realtime.notifications.builders import BUILDERS

    builder = BUILDERS.get(event.type)
    if builder is None or event.user_id is None:
        return
    draft = builder(event)
    if draft is None:
        return
    notification = Notification(
        user_id=event.user_id,
        kind=draft.kind[:64],
        title=draft.title[:200],
        body=draft.body[:1000],
        data=draft.data,
        source_event_id=event.event_id,
        created_at=timezone.now(),
    )
    user_id = event.user_id

    def announce() -> None:
        realtime.emit(NOTIFICATION_EVENT, user_id, notification_as_dict(notification))
        if web_push_configured():
            transaction.on_commit(lambda: _queue_web_push(notification.pk), robust=True)

    rows_insert_later([notification], then=announce)


def _queue_web_push(notification_id: int) -> None:
    """After commit: never raises (a broker outage loses the push, not the inbox entry)."""
    from realtime.tasks import notification_web_push_fanout

    try:
        notification_web_push_fanout.delay(notification_id)
    except Exception as error:  # noqa: BLE001 - after commit: fail quietly (promise 9)
        dependency_failed(dependency="celery_broker", use="web_push", error=error)


@dataclass(frozen=True)
class OutgoingNotification:
    """A notification a service sends itself (a campaign's message), not built from an event.
    ``dedupe_key`` is its ``source_event_id``: the same key never makes a second row."""

    user_id: int
    kind: str
    title: str
    dedupe_key: uuid.UUID
    body: str = ""
    data: dict[str, Any] = field(default_factory=dict)


def notification_send(
    *,
    user_id: int,
    kind: str,
    title: str,
    body: str = "",
    data: dict[str, Any] | None = None,
    dedupe_key: uuid.UUID,
    push: bool = False,
) -> Notification | None:
    """Put one notification in the player's inbox at most once per ``dedupe_key`` (see
    :func:`notifications_send`). The new row, or None when the key was sent already."""
    item = OutgoingNotification(
        user_id=user_id, kind=kind, title=title, body=body, data=dict(data or {}), dedupe_key=dedupe_key
    )
    sent = notifications_send(notifications=[item], push_to={user_id} if push else ())
    if not sent.created:
        return None
    return Notification.objects.get(pk=sent.ids[dedupe_key])


@dataclass(frozen=True)
class NotificationsSent:
    ids: dict[uuid.UUID, int]  # every dedupe key given -> its notification (new or sent before)
    created: frozenset[uuid.UUID]  # the keys this call inserted


_SEND_CHUNK = 500
_SEND_COLUMNS = ("user", "kind", "title", "body", "data", "source_event_id", "created_at")


def notifications_send(
    *, notifications: Sequence[OutgoingNotification], push_to: Collection[int] = ()
) -> NotificationsSent:
    """Insert the notifications whose ``dedupe_key`` was never sent (``INSERT ... ON CONFLICT
    (source_event_id) DO NOTHING``, a few hundred rows a statement) and announce only those:
    the ``notification`` event for the player's socket and, on commit, Web Push for the
    players in ``push_to`` (when Web Push is configured). A retried or parallel sender
    therefore notifies nobody twice: the unique key decides, not a read before the write.

    A helper: call it inside the transaction that records the sending (it opens none, and
    ``realtime.emit`` refuses to run outside one)."""
    if not notifications:
        return NotificationsSent(ids={}, created=frozenset())
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("notifications_send must run inside the caller's transaction")
    now = timezone.now()
    meta = Notification._meta
    fields = [meta.get_field(name) for name in _SEND_COLUMNS]
    connection = transaction.get_connection()
    quote = connection.ops.quote_name
    columns = ", ".join(quote(column.column) for column in fields)  # type: ignore[union-attr]
    key_column = quote(meta.get_field("source_event_id").column)
    created: dict[uuid.UUID, int] = {}
    for start in range(0, len(notifications), _SEND_CHUNK):
        chunk = notifications[start : start + _SEND_CHUNK]
        params: list[Any] = []
        for item in chunk:
            values = (
                item.user_id,
                item.kind[:64],
                item.title[:200],
                item.body[:1000],
                item.data,
                item.dedupe_key,
                now,
            )
            params.extend(
                column.get_db_prep_save(value, connection)  # type: ignore[union-attr]
                for column, value in zip(fields, values, strict=True)
            )
        row = "(" + ", ".join(["%s"] * len(fields)) + ")"
        # Names from the model, every value a bound parameter.
        values_sql = ", ".join([row] * len(chunk))
        sql = (
            f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES {values_sql} "  # noqa: S608
            f"ON CONFLICT ({key_column}) DO NOTHING RETURNING {quote(meta.pk.column)}, {key_column}"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            for pk, key in cursor.fetchall():
                created[uuid.UUID(str(key))] = int(pk)
    ids = dict(created)
    earlier = [item.dedupe_key for item in notifications if item.dedupe_key not in created]
    for start in range(0, len(earlier), _SEND_CHUNK):
        found = Notification.objects.filter(source_event_id__in=earlier[start : start + _SEND_CHUNK])
        for key, pk in found.values_list("source_event_id", "pk"):
            if key is not None:
                ids[key] = pk
    fresh = [
        Notification(
            pk=created[item.dedupe_key],
            user_id=item.user_id,
            kind=item.kind[:64],
            title=item.title[:200],
            body=item.body[:1000],
            data=item.data,
            source_event_id=item.dedupe_key,
            created_at=now,
        )
        for item in notifications
        if item.dedupe_key in created
    ]
    if fresh:
        realtime.emit_many([(NOTIFICATION_EVENT, item.user_id, notification_as_dict(item)) for item in fresh])
    if push_to and web_push_configured():
        pushed = set(push_to)
        for notification in fresh:
            if notification.user_id in pushed:
                transaction.on_commit(functools.partial(_queue_web_push, notification.pk), robust=True)
    return NotificationsSent(ids=ids, created=frozenset(created))


@transaction.atomic(durable=True)
def notification_mark_read(*, user: AbstractBaseUser, notification_id: int) -> Notification:
    """Mark one of the player's notifications read (idempotent: the first read time stays)."""
    notification = Notification.objects.filter(pk=notification_id, user_id=user.pk).first()
    if notification is None:
        raise NotificationNotFound()
    if notification.read_at is None:
        now = timezone.now()
        Notification.objects.filter(pk=notification.pk, read_at__isnull=True).update(read_at=now)
        notification.refresh_from_db(fields=["read_at"])
    return notification


@transaction.atomic(durable=True)
def notifications_mark_all_read(*, user: AbstractBaseUser) -> int:
    """Mark every unread notification of the player read; how many were unread."""
    return Notification.objects.filter(user_id=user.pk, read_at__isnull=True).update(read_at=timezone.now())


# --- Web Push ---------------------------------------------------------------------------


def web_push_configured() -> bool:
    return bool(settings.VAPID_PUBLIC_KEY and settings.VAPID_PRIVATE_KEY)


def push_endpoint_allowed(endpoint: str) -> bool:
    """https to a host of ``WEB_PUSH_ENDPOINT_HOSTS`` (``.example.com``: any
    subdomain); plain http only to a listed loopback host (tests, development)."""
    try:
        parts = urlsplit(endpoint)
        host = (parts.hostname or "").lower()
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        return False
    if not host:
        return False
    listed = any(
        host == allowed.lstrip(".") or (allowed.startswith(".") and host.endswith(allowed))
        for allowed in (entry.strip().lower() for entry in settings.WEB_PUSH_ENDPOINT_HOSTS)
        if allowed
    )
    if not listed:
        return False
    if parts.scheme == "https":
        return True
    if parts.scheme != "http":
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@transaction.atomic(durable=True)
def push_subscription_save(*, user: AbstractBaseUser, endpoint: str, p256dh: str, auth: str) -> PushSubscription:
    """Store the browser's subscription for the player, idempotent on ``endpoint``
    (one upsert, so parallel subscribes of one browser make one row; a browser
    that changes hands belongs to its latest player). Keeps the player's
    newest ``MAX_SUBSCRIPTIONS_PER_PLAYER``."""
    now = timezone.now()
    PushSubscription.objects.bulk_create(
        [
            PushSubscription(
                user_id=user.pk, endpoint=endpoint, p256dh=p256dh, auth=auth, created_at=now, updated_at=now
            )
        ],
        update_conflicts=True,
        unique_fields=["endpoint"],
        update_fields=["user", "p256dh", "auth", "updated_at"],
    )
    stale = PushSubscription.objects.filter(user_id=user.pk).order_by("-updated_at", "-id")[
        MAX_SUBSCRIPTIONS_PER_PLAYER:
    ]
    PushSubscription.objects.filter(pk__in=list(stale.values_list("pk", flat=True))).delete()
    return PushSubscription.objects.get(endpoint=endpoint)


class PushOutcome(enum.Enum):
    SENT = "sent"
    GONE = "gone"  # 404/410: the subscription was removed
    RETRY = "retry"  # 429, 5xx, no answer: try again later
    REFUSED = "refused"  # another 4xx: retrying would not help
    SKIPPED = "skipped"  # not configured, or the notification or subscription no longer exists


def web_push_payload(notification: Notification) -> str:
    payload = notification_as_dict(notification)
    payload.pop("data")  # keep the encrypted message small (push services cap it near 4 KB)
    payload["created_at"] = notification.created_at.isoformat().replace("+00:00", "Z")
    return json.dumps(payload)


def web_push_deliver(*, notification_id: int, subscription_id: int) -> PushOutcome:
    """POST one notification, encrypted (aes128gcm, VAPID-signed), to one
    subscription's push service. Runs in a Celery task, outside any transaction
    and holding no lock. A subscription the push service says is gone (404,
    410) is deleted."""
    from pywebpush import WebPushException, webpush  # type: ignore[import-untyped]  # no stubs

    if not web_push_configured():
        return PushOutcome.SKIPPED
    notification = Notification.objects.filter(pk=notification_id).first()
    subscription = PushSubscription.objects.filter(pk=subscription_id).first()
    if notification is None or subscription is None or subscription.user_id != notification.user_id:
        return PushOutcome.SKIPPED
    if not push_endpoint_allowed(subscription.endpoint):
        return PushOutcome.REFUSED
    try:
        webpush(
            subscription_info={
                "endpoint": subscription.endpoint,
                "keys": {"p256dh": subscription.p256dh, "auth": subscription.auth},
            },
            data=web_push_payload(notification),
            vapid_private_key=settings.VAPID_PRIVATE_KEY,
            vapid_claims={"sub": settings.VAPID_SUBJECT},
            content_encoding="aes128gcm",
            ttl=PUSH_TTL_SECONDS,
            timeout=PUSH_TIMEOUT_SECONDS,
        )
    except WebPushException as error:
        response = getattr(error, "response", None)
        code = getattr(response, "status_code", None)
        if code in (404, 410):
            PushSubscription.objects.filter(pk=subscription.pk, endpoint=subscription.endpoint).delete()
            return PushOutcome.GONE
        if code is None or code == 429 or code >= 500:
            dependency_failed(dependency="web_push", use="notification", error=error)
            return PushOutcome.RETRY
        logger.warning("push service refused notification %s (HTTP %s)", notification_id, code)
        return PushOutcome.REFUSED
    except Exception as error:  # noqa: BLE001 - connection refused, timeout, TLS: the push service is down
        dependency_failed(dependency="web_push", use="notification", error=error)
        return PushOutcome.RETRY
    PushSubscription.objects.filter(pk=subscription.pk).update(last_success_at=timezone.now())
    return PushOutcome.SENT
