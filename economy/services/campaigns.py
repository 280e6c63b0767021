"""Campaigns: staff send a message (in-app inbox, Web Push, email) and/or a reward bundle
(gold, gems, XP) to a target -- every active player, a saved segment, an uploaded list of ids,
or a selection of the player list -- now or at a set time, as a back-office job with progress
(``casino.jobs``).

**Life.** :func:`campaign_create` makes a draft, a scheduled campaign, or one that starts at
once; :func:`campaign_schedule` and :func:`campaign_cancel` move a draft or scheduled one on.
The beat runs :func:`campaigns_start_due` every minute; :func:`campaign_start` moves a due
campaign ``scheduled -> sending`` with one conditional UPDATE, so two beats (or a beat and a
cancel) never both win, and queues its job. The job runs
:func:`~economy.services.campaign_delivery.campaign_deliver` (how a campaign reaches each
player exactly once, and its counts: ``economy.services.campaign_delivery``).

**Who.** When sending starts, the target is frozen into one :class:`CampaignDelivery` row per
player (unique per campaign and player): a segment or "all players" is evaluated then, so a
scheduled campaign reaches who is in the segment when it goes out. Self-excluded and banned
players get nothing at all, the reward included: a gift is promotional too (compensation
for one excluded player is the player page's own audited grant, a decision about that
player). A player who switched a channel off (``realtime.notifications.preferences``) gets
nothing on that channel; one without an email address counts as "no email".

**Permissions.** A campaign with a reward needs ``economy.grant_campaign``; one with a
channel needs ``economy.send_campaign``; one with both needs both, to create, schedule or
cancel it. Each is audited (``campaign_create``, ``campaign_schedule``, ``campaign_cancel``,
and ``campaign_sent`` by the system at the end).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import QuerySet
from django.db.models.functions import Lower
from django.utils import timezone

from accounts.models import User
from casino.jobs import job_create, job_enqueue
from casino.permissions import staff_permission_require
from casino.services import audit_record
from economy.enums import Currency
from economy.exceptions import (
    CampaignInvalid,
    CampaignNotCancellable,
    CampaignNothingToSend,
    CampaignNotSchedulable,
    CampaignTooLarge,
    CampaignWithoutPlayers,
    InvalidBundle,
    ReasonRequired,
)
from economy.models import Campaign, Segment
from economy.segment_filters import segment_players
from economy.services.ledger import MAX_AMOUNT

GRANT_CAMPAIGN = "economy.grant_campaign"
SEND_CAMPAIGN = "economy.send_campaign"
# Two job kinds, so that the jobs page shows a campaign's job to the staff who may make it.
JOB_KIND = "reward_campaign"  # a campaign with a reward (economy.grant_campaign)
MESSAGE_JOB_KIND = "campaign_message"  # a campaign without one (economy.send_campaign)
CHANNELS = ("in_app", "push", "email")
# What a campaign may grant (VIP points follow play, not gifts).
CAMPAIGN_CURRENCIES = (Currency.GOLD, Currency.GEMS, Currency.XP)
MAX_CAMPAIGN_PLAYERS = 100_000  # an uploaded list or a selection (a segment has no limit)
MAX_MESSAGE_CHARS = 1000  # the inbox's body
UNKNOWN_KEPT = 1000  # unknown uploaded ids kept on the campaign (the report counts them all)
LOOKUP_CHUNK = 5000
_SEPARATORS = re.compile(r"[\s,;]+")
# Header cells of an uploaded list, skipped.
_HEADERS = {"id", "user_id", "userid", "site_id", "siteid", "player", "login"}
# The namespace of the campaign notifications' source_event_id (uuid5 of campaign_key).
_NOTIFICATION_NAMESPACE = uuid.UUID("6f1c6a53-2c1e-4f57-9b0e-4a8d3c5e7b21")


def campaign_key(campaign_id: int, user_id: int) -> str:
    return f"campaign:{campaign_id}:{user_id}"


def campaign_reference(campaign_id: int) -> str:
    return f"campaign:{campaign_id}"


def campaign_notification_key(campaign_id: int, user_id: int) -> uuid.UUID:
    """The ``source_event_id`` of the campaign's notification to the player: the same for
    every run, so the inbox's unique key makes a second one impossible."""
    return uuid.uuid5(_NOTIFICATION_NAMESPACE, campaign_key(campaign_id, user_id))


# --- Who: the players a campaign names ----------------------------------------------------


@dataclass(frozen=True)
class CampaignTargets:
    user_ids: list[int]  # players found, in the order given, once each
    unknown: list[str]  # identifiers that are no player, in the order given, once each


def campaign_identifiers(text: str) -> list[str]:
    """The identifiers of an uploaded list: CSV, one per line, or separated by commas,
    semicolons or spaces; a header cell (``site_id``, ``user_id``, ``id``...) is skipped.
    Each once, in the order given."""
    seen: dict[str, None] = {}
    for token in _SEPARATORS.split(text):
        token = token.strip().strip("\"'")
        if token and token.lower() not in _HEADERS:
            seen.setdefault(token, None)
    return list(seen)


def campaign_targets_resolve(*, identifiers: Sequence[str], by: str) -> CampaignTargets:
    """Find the players an uploaded list names: ``by`` ``"site_id"`` (login ids, letter case
    ignored) or ``"user_id"`` (numbers). A read: chunks of :data:`LOOKUP_CHUNK` ids a query."""
    if by not in ("site_id", "user_id"):
        raise ValueError(f"unknown identifier kind {by!r}")
    found: dict[str, int] = {}
    if by == "user_id":
        numbers = {token: int(token) for token in identifiers if token.isdigit() and len(token) < 19}
        values = list(numbers.values())
        existing: set[int] = set()
        for start in range(0, len(values), LOOKUP_CHUNK):
            chunk = values[start : start + LOOKUP_CHUNK]
            existing.update(User.objects.filter(pk__in=chunk).values_list("pk", flat=True))
        found = {token: number for token, number in numbers.items() if number in existing}
    else:
        lowered = {token: token.lower() for token in identifiers}
        wanted = list(set(lowered.values()))
        by_login: dict[str, int] = {}
        for start in range(0, len(wanted), LOOKUP_CHUNK):
            rows = (
                User.objects.annotate(login=Lower("site_id"))
                .filter(login__in=wanted[start : start + LOOKUP_CHUNK])
                .values_list("login", "pk")
            )
            by_login.update(dict(rows))
        found = {token: by_login[login] for token, login in lowered.items() if login in by_login}
    user_ids: dict[int, None] = {}
    unknown: list[str] = []
    for token in identifiers:
        if token in found:
            user_ids.setdefault(found[token], None)
        else:
            unknown.append(token)
    return CampaignTargets(user_ids=list(user_ids), unknown=unknown)


def campaign_audience(*, target: str, segment: Segment | None = None) -> QuerySet[User]:
    """The players "all active players" or a saved segment holds now (active, non-staff:
    ``economy.segment_filters.segment_players``). An unsaved empty segment matches everyone."""
    if target == Campaign.Target.SEGMENT:
        if segment is None:
            raise CampaignInvalid("Choose the segment to send to.", field="segment")
        return segment_players(segment)
    return segment_players(Segment())


def campaign_audience_count(*, target: str, segment: Segment | None = None, user_ids: Sequence[int] = ()) -> int:
    """How many players the target names now: the admin form's preview (one COUNT)."""
    if target in (Campaign.Target.ALL, Campaign.Target.SEGMENT):
        return campaign_audience(target=target, segment=segment).count()
    return len(set(user_ids))


# --- Creating, scheduling, cancelling ---------------------------------------------------------


def campaign_bundle_checked(bundle: Mapping[str, int]) -> dict[str, int]:
    """The bundle's non-zero amounts (maybe none: a plain message); :class:`InvalidBundle` for
    a currency a campaign does not grant, or a negative or too large amount."""
    amounts: dict[str, int] = {}
    for currency, amount in bundle.items():
        if currency not in CAMPAIGN_CURRENCIES:
            raise InvalidBundle(f"A campaign grants gold, gems and XP, not {currency!r}.", currency=str(currency))
        if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0 or amount > MAX_AMOUNT:
            raise InvalidBundle(currency=currency)
        if amount:
            amounts[currency] = amount
    return amounts


def campaign_permissions(*, rewards: bool, channels: Iterable[str]) -> list[str]:
    """What creating, scheduling or cancelling such a campaign needs: ``grant_campaign`` for a
    reward, ``send_campaign`` for a channel (and for a campaign of neither, which is refused)."""
    needed = [GRANT_CAMPAIGN] if rewards else []
    if list(channels) or not rewards:
        needed.append(SEND_CAMPAIGN)
    return needed


def _permissions_require(*, actor: User, campaign: Campaign) -> None:
    for permission in campaign_permissions(rewards=bool(campaign.bundle), channels=campaign.channels):
        staff_permission_require(actor=actor, permission=permission)


def _channels_checked(channels: Iterable[str]) -> list[str]:
    chosen = list(dict.fromkeys(channels))
    unknown = [channel for channel in chosen if channel not in CHANNELS]
    if unknown:
        raise CampaignInvalid(f"Unknown channel {unknown[0]!r}: in_app, push or email.", field="channels")
    if "push" in chosen and "in_app" not in chosen:
        raise CampaignInvalid(
            "Web push shows the in-app notification in the player's browser: choose in-app too.", field="channels"
        )
    return [channel for channel in CHANNELS if channel in chosen]


def _job_title(campaign: Campaign) -> str:
    return f"Campaign #{campaign.pk}: {campaign.title}"


def _start(campaign: Campaign, *, now: datetime) -> bool:
    """``scheduled -> sending`` and the job queued on commit, in the caller's transaction;
    False when the campaign was no longer scheduled (cancelled, started by another beat)."""
    started = Campaign.objects.filter(pk=campaign.pk, status=Campaign.Status.SCHEDULED).update(
        status=Campaign.Status.SENDING, started_at=now
    )
    if not started:
        return False
    job = job_create(
        kind=JOB_KIND if campaign.bundle else MESSAGE_JOB_KIND,
        actor=campaign.created_by,
        title=_job_title(campaign),
        params={"campaign_id": campaign.pk},
        total=len(campaign.user_ids or []),
    )
    Campaign.objects.filter(pk=campaign.pk).update(job=job)
    campaign.status, campaign.started_at, campaign.job = Campaign.Status.SENDING, now, job
    job_enqueue(job=job)
    return True


def campaign_create(
    *,
    actor: User,
    title: str,
    reason: str,
    bundle: Mapping[str, int] | None = None,
    message: str = "",
    channels: Iterable[str] = (),
    target: str = Campaign.Target.SELECTION,
    segment: Segment | None = None,
    user_ids: Iterable[int] = (),
    target_description: str = "",
    unknown_ids: Sequence[str] = (),
    send_at: datetime | None = None,
    draft: bool = False,
) -> Campaign:
    """Create a campaign: a ``draft`` (``draft=True``), ``scheduled`` for ``send_at``, or
    (no ``send_at``, or one already past) started at once, its job queued on commit. The
    campaign, its job and one audit record (who, why, what, to whom, when) commit together.
    ``user_ids`` name the players of an uploaded list or a selection (each once); a segment or
    "all" is evaluated when sending starts. Needs the permissions of
    :func:`campaign_permissions`. An entry point (the admin pages)."""
    chosen = list(channels)
    given = dict(bundle or {})
    rewards = any(isinstance(amount, int) and not isinstance(amount, bool) and amount > 0 for amount in given.values())
    for permission in campaign_permissions(rewards=rewards, channels=chosen):
        staff_permission_require(actor=actor, permission=permission)
    note = (reason or "").strip()
    if not note:
        raise ReasonRequired("A campaign needs a reason.")
    amounts = campaign_bundle_checked(given)
    chosen = _channels_checked(chosen)
    if not amounts and not chosen:
        raise CampaignNothingToSend()
    text = (message or "").strip()
    if chosen and not text:
        raise CampaignInvalid("Write the message the players will read.", field="message")
    if len(text) > MAX_MESSAGE_CHARS:
        raise CampaignInvalid(f"The message is longer than {MAX_MESSAGE_CHARS} characters.", field="message")
    heading = (title or "").strip()[:120]
    if not heading:
        if chosen:
            raise CampaignInvalid("Give the campaign a title: it is the notification's title.", field="title")
        heading = "Reward campaign"
    if target not in Campaign.Target.values:
        raise CampaignInvalid(f"Unknown target {target!r}.", field="target")
    players: list[int] = []
    if target == Campaign.Target.SEGMENT:
        if segment is None:
            raise CampaignInvalid("Choose the segment to send to.", field="segment")
        described = target_description or f"segment {segment.name}"
    elif target == Campaign.Target.ALL:
        segment, described = None, target_description or "all active players"
    else:
        segment = None
        players = list(dict.fromkeys(int(user_id) for user_id in user_ids))
        if not players:
            raise CampaignWithoutPlayers(unknown=len(unknown_ids))
        if len(players) > MAX_CAMPAIGN_PLAYERS:
            raise CampaignTooLarge(players=len(players), limit=MAX_CAMPAIGN_PLAYERS)
        described = target_description or f"{len(players)} player(s)"
    now = timezone.now()
    with transaction.atomic(durable=True):
        campaign = Campaign.objects.create(
            title=heading,
            message=text,
            gold=amounts.get(Currency.GOLD, 0),
            gems=amounts.get(Currency.GEMS, 0),
            xp=amounts.get(Currency.XP, 0),
            reason=note,
            **{channel: channel in chosen for channel in CHANNELS},
            target=target,
            segment=segment,
            target_description=described[:255],
            user_ids=players,
            unknown_ids=list(unknown_ids[:UNKNOWN_KEPT]),
            unknown_count=len(unknown_ids),
            status=Campaign.Status.DRAFT if draft else Campaign.Status.SCHEDULED,
            scheduled_at=None if draft else (send_at or now),
            created_by=actor,
            created_at=now,
        )
        if not draft and campaign.scheduled_at is not None and campaign.scheduled_at <= now:
            _start(campaign, now=now)
        audit_record(
            actor=actor,
            action="campaign_create",
            target=campaign,
            reason=note,
            data={
                "bundle": amounts,
                "channels": chosen,
                "target": campaign.target,
                "segment_id": campaign.segment_id,
                "description": campaign.target_description,
                "players": len(players) if players else None,
                "unknown_ids": len(unknown_ids),
                "status": campaign.status,
                "scheduled_at": campaign.scheduled_at.isoformat() if campaign.scheduled_at else None,
                "job_id": campaign.job_id,
            },
        )
    return campaign


def campaign_schedule(*, actor: User, campaign_id: int, reason: str, send_at: datetime | None = None) -> Campaign:
    """Schedule a draft (or move a scheduled campaign) to ``send_at``; no time, or one already
    past, starts it now. One conditional UPDATE on draft/scheduled (a campaign the beat has just
    started is :class:`CampaignNotSchedulable`), audited. An entry point (the admin)."""
    campaign = Campaign.objects.get(pk=campaign_id)
    _permissions_require(actor=actor, campaign=campaign)
    note = (reason or "").strip()
    if not note:
        raise ReasonRequired("Say why (it goes into the audit log).")
    now = timezone.now()
    when = send_at or now
    with transaction.atomic(durable=True):
        before = campaign.status
        moved = Campaign.objects.filter(
            pk=campaign_id, status__in=[Campaign.Status.DRAFT, Campaign.Status.SCHEDULED]
        ).update(status=Campaign.Status.SCHEDULED, scheduled_at=when)
        if not moved:
            raise CampaignNotSchedulable(state=Campaign.objects.values_list("status", flat=True).get(pk=campaign_id))
        campaign.refresh_from_db()
        if when <= now:
            _start(campaign, now=now)
        audit_record(
            actor=actor,
            action="campaign_schedule",
            target=campaign,
            reason=note,
            data={"from": before, "scheduled_at": when.isoformat(), "status": campaign.status},
        )
    return campaign


def campaign_cancel(*, actor: User, campaign_id: int, reason: str) -> Campaign:
    """Cancel a draft or scheduled campaign (one conditional UPDATE: a campaign the beat has
    started is :class:`CampaignNotCancellable`, players are getting it), audited. An entry
    point (the admin action)."""
    campaign = Campaign.objects.get(pk=campaign_id)
    _permissions_require(actor=actor, campaign=campaign)
    note = (reason or "").strip()
    if not note:
        raise ReasonRequired("Say why (it goes into the audit log).")
    now = timezone.now()
    with transaction.atomic(durable=True):
        cancelled = Campaign.objects.filter(
            pk=campaign_id, status__in=[Campaign.Status.DRAFT, Campaign.Status.SCHEDULED]
        ).update(status=Campaign.Status.CANCELLED, cancelled_at=now, cancelled_by=actor, finished_at=now)
        if not cancelled:
            raise CampaignNotCancellable(state=Campaign.objects.values_list("status", flat=True).get(pk=campaign_id))
        audit_record(
            actor=actor,
            action="campaign_cancel",
            target=campaign,
            reason=note,
            data={
                "from": campaign.status,
                "scheduled_at": campaign.scheduled_at.isoformat() if campaign.scheduled_at else None,
            },
        )
        campaign.refresh_from_db()
    return campaign


def campaign_start(*, campaign_id: int) -> bool:
    """Start a scheduled campaign now: ``scheduled -> sending`` (one conditional UPDATE) and
    its job queued on commit. False when it was not scheduled any more. An entry point."""
    campaign = Campaign.objects.filter(pk=campaign_id).first()
    if campaign is None:
        return False
    with transaction.atomic(durable=True):
        return _start(campaign, now=timezone.now())


def campaigns_start_due() -> list[int]:
    """Start every scheduled campaign whose time has come (the beat's task, every minute);
    the ids started."""
    due = Campaign.objects.filter(status=Campaign.Status.SCHEDULED, scheduled_at__lte=timezone.now())
    candidates = list(due.order_by("scheduled_at", "pk").values_list("pk", flat=True))
    return [pk for pk in candidates if campaign_start(campaign_id=pk)]
