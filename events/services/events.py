"""Joining an event and claiming its reward.

Joining is idempotent (the unique (event, player) constraint decides between parallel joins) and
creates one progress row per requirement, carrying what the progress subscriber filters on.
Progress counts from the moment of joining.

Claiming grants the reward once: the participation row is locked, then the reward is posted
with the natural key ``event-claim:{user}:{event}`` — of 100 parallel claims one pays, the others
find ``claimed_at`` set (or the key used) and are told it was already claimed. Staff can claim
for a player (``event_force_claim``: audited, reason required); it pays exactly the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q
from django.utils import timezone

import realtime
from accounts.models import User
from casino.db import one_or_none, service_transaction
from casino.services import audit_record
from economy.enums import LedgerReason
from economy.services import LedgerResult, wallet_balances, wallet_get_or_open, wallet_grant
from events import metrics
from events.exceptions import EventNotFound, EventNotOpen, NotCompleted, NotJoined, RewardAlreadyClaimed
from events.locks import participation_lock
from events.models import Event, EventParticipation, EventProgress


def event_claim_key(user_id: int, event_id: int) -> str:
    return f"event-claim:{user_id}:{event_id}"


def _open_event(event_id: int, now: datetime) -> Event:
    event = one_or_none(Event.objects.filter(pk=event_id))
    if event is None or not event.is_active:
        raise EventNotFound()
    if not event.starts_at <= now < event.ends_at:
        raise EventNotOpen(starts_at=event.starts_at.isoformat(), ends_at=event.ends_at.isoformat())
    return event


def event_join(*, user: User, event_id: int) -> tuple[EventParticipation, bool]:
    """Join the event (a running, active one); returns the participation and whether it is new."""
    now = timezone.now()
    with transaction.atomic(durable=True):
        event = _open_event(event_id, now)
        existing = one_or_none(EventParticipation.objects.filter(event=event, user=user))
        if existing is not None:
            return existing, False
        try:
            with transaction.atomic():
                participation = EventParticipation.objects.create(event=event, user=user, joined_at=now)
        except IntegrityError:  # a parallel join of the same player won
            return EventParticipation.objects.get(event=event, user=user), False
        EventProgress.objects.bulk_create(
            [
                EventProgress(
                    participation=participation,
                    requirement=requirement,
                    user=user,
                    metric=requirement.metric,
                    game=requirement.game,
                    target=requirement.target,
                    starts_at=event.starts_at,
                    ends_at=event.ends_at,
                )
                for requirement in event.requirements.all()
            ]
        )
        realtime.emit(
            "event_progress",
            user,
            {
                "kind": "event",
                "event_id": event.pk,
                "participation_id": participation.pk,
                "joined": True,
                "progress_version": 0,
                "completed": False,
            },
        )
    metrics.event_joined()  # committed
    return participation, True


@dataclass(frozen=True)
class ClaimResult:
    participation: EventParticipation
    rewards: dict[str, int]
    items: list[str]
    balances: dict[str, int]
    claimed_now: bool = True  # False: a staff force-claim found it claimed already (nothing paid)


def _claim(user_id: int, event_id: int, *, actor: User | None, reason: str) -> ClaimResult:
    participation = participation_lock(event_id=event_id, user_id=user_id)
    if participation is None:
        event_row = one_or_none(Event.objects.filter(pk=event_id))
        if event_row is None:
            raise EventNotFound()
        if actor is None:
            raise NotJoined()
        # Staff claim for a player who never joined: the participation is created, complete.
        now = timezone.now()
        EventParticipation.objects.get_or_create(
            event=event_row, user_id=user_id, defaults={"joined_at": now, "completed_at": now}
        )
        participation = participation_lock(event_id=event_id, user_id=user_id)
        assert participation is not None
    if participation.claimed_at is not None:
        if actor is not None:  # idempotent for staff: the reward was paid once, nothing more now
            event = participation.event
            balances = wallet_balances(wallet_get_or_open(user_id=user_id))
            return ClaimResult(participation, event.reward_bundle, list(event.reward_items), balances, False)
        raise RewardAlreadyClaimed(claimed_at=participation.claimed_at.isoformat().replace("+00:00", "Z"))
    if participation.completed_at is None and _requirements_met(participation.pk):
        # The rows say complete though the flag does not: two kinds of progress (a round and a
        # purchase, say) advanced the last two requirements in parallel transactions, and each
        # statement judged completion from a snapshot without the other's. The rows decide.
        participation.completed_at = timezone.now()
    if participation.completed_at is None:
        if actor is None:
            raise NotCompleted()
        participation.completed_at = timezone.now()  # staff decided the player earned it
    event = participation.event
    bundle = event.reward_bundle
    ledger: LedgerResult | None = None
    if bundle:
        ledger = wallet_grant(
            user=user_id,
            bundle=bundle,
            reason=LedgerReason.EVENT_REWARD,
            idempotency_key=event_claim_key(user_id, event_id),
            reference=f"event:{event_id}",
            metadata={"event": event_id, "by_staff": actor is not None},
        )
        if not ledger.applied:  # paid before (a claim whose row update was lost cannot happen; be strict)
            raise RewardAlreadyClaimed()
    participation.claimed_at = timezone.now()
    participation.progress_version += 1
    participation.save(update_fields=["completed_at", "claimed_at", "progress_version"])
    realtime.emit(
        "reward_granted",
        user_id,
        {
            "source": LedgerReason.EVENT_REWARD.value,
            "amounts": bundle,
            "items": list(event.reward_items),
            "event_id": event_id,
            "by_staff": actor is not None,
        },
    )
    if actor is not None:
        audit_record(
            actor=actor,
            action="event_force_claim",
            target=participation,
            reason=reason,
            data={"event": event_id, "user": user_id, "rewards": bundle, "items": list(event.reward_items)},
        )
    balances = ledger.balances if ledger is not None else wallet_balances(wallet_get_or_open(user_id=user_id))
    return ClaimResult(participation=participation, rewards=bundle, items=list(event.reward_items), balances=balances)


def _requirements_met(participation_id: int) -> bool:
    """Every requirement row of the participation at its target (and at least one row)."""
    counts = EventProgress.objects.filter(participation_id=participation_id).aggregate(
        rows=Count("id"), below=Count("id", filter=Q(value__lt=F("target")))
    )
    return bool(counts["rows"]) and not counts["below"]


def event_claim(*, user: User, event_id: int) -> ClaimResult:
    """Claim a completed event's reward, once."""
    with metrics.claim_counted("event"), service_transaction():
        return _claim(user.pk, event_id, actor=None, reason="")


def event_force_claim(*, actor: User, user_id: int, event_id: int, reason: str) -> ClaimResult:
    """Staff claim an event's reward for a player: joined or not, complete or not (the staff
    member decided it is owed; the reason says why). Pays exactly once, like the player's own
    claim (the same ledger key), audited; when it was claimed already, nothing is paid and
    ``claimed_now`` is False. Needs ``events.force_claim_event`` (checked here and by the admin)."""
    if not reason.strip():
        raise ValueError("a force-claim needs a reason")
    if not actor.has_perm("events.force_claim_event"):
        raise PermissionDenied("force-claiming an event's reward needs events.force_claim_event")
    with transaction.atomic(durable=True):
        result = _claim(user_id, event_id, actor=actor, reason=reason)
    metrics.force_claimed(kind="event", paid=result.claimed_now)  # committed
    return result
