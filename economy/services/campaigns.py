"""Campaigns: staff send a message (in-app inbox, Web Push, email) and/or a reward bundle
(gold, gems, XP) to a target -- every active player, a saved segment, an uploaded list of ids,
or a selection of the player list -- now or at a set time, as a back-office job with progress
(``casino.jobs``).

**Life.** :func:`campaign_create` makes a draft, a scheduled campaign, or one that starts at
once; :func:`campaign_schedule` and :func:`campaign_cancel` move a draft or scheduled one on.
The beat runs :func:`campaigns_start_due` every minute; :func:`campaign_start` moves a due
campaign ``scheduled -> sending`` with one conditional UPDATE, so two beats (or a beat and a
cancel) never both win, and queues its job. The job runs :func:`campaign_deliver`.

**Who.** When sending starts, the target is frozen into one :class:`CampaignDelivery` row per
player (unique per campaign and player): a segment or "all players" is evaluated then, so a
scheduled campaign reaches who is in the segment when it goes out. Self-excluded and banned
players get nothing at all, the reward included: a gift is promotional too (compensation
for one excluded player is the player page's own audited grant, a decision about that
player). A player who switched a channel off (``realtime.notifications.preferences``) gets
nothing on that channel; one without an email address counts as "no email".

**Exactly once per player**, however often the job runs (a task delivered twice, a worker
killed mid-batch and the task redelivered, two workers at once):

* a batch takes its ``pending`` rows with ``FOR UPDATE SKIP LOCKED`` and, in one transaction,
  decides each player's outcome, grants the rewards, writes the inbox notifications and
  claims the emails, then marks the rows ``done``. The batch commits entirely or not at all:
  a worker killed inside it leaves its rows ``pending`` and nothing sent, and the next run
  takes them again. Two runs at once take different batches;
* the reward goes through :func:`~economy.services.ledger.wallet_grant` under the key
  ``campaign:{campaign_id}:{user_id}`` (unchanged from the reward campaigns, so grants made
  before stay counted): the ledger's unique key would replay a second grant anyway;
* the notification's ``source_event_id`` is ``uuid5(campaign, player)`` and is inserted with
  ``ON CONFLICT DO NOTHING`` (``realtime.notifications.services.notifications_send``): the
  socket event and the Web Push go out only for a row that was inserted;
* an email cannot be taken back and SMTP has no idempotency key, so it is sent **at most
  once**: the batch marks it ``queued``; after the commit the emails are claimed a few at a
  time (``queued -> sending``, committed, and a row another run holds is skipped) before
  their SMTP conversations, and recorded ``sent`` or ``failed`` after them. An email left
  ``sending`` by a worker that died may or may not have left; it is recorded ``unconfirmed``
  and never sent again, because a promotional email twice is worse than one missing, and
  the count says how many.

The run ends with one conditional UPDATE ``sending -> sent`` (or ``failed``) and one audit
record of the counts, when no row is left ``pending`` and no email ``queued``.

**Permissions.** A campaign with a reward needs ``economy.grant_campaign``; one with a
channel needs ``economy.send_campaign``; one with both needs both, to create, schedule or
cancel it. Each is audited (``campaign_create``, ``campaign_schedule``, ``campaign_cancel``,
and ``campaign_sent`` by the system at the end).
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.db.models.functions import Lower
from django.template.loader import render_to_string
from django.utils import timezone

from accounts.models import User
from casino.degraded import dependency_failed
from casino.errors import ApplicationError
from casino.jobs import job_create, job_enqueue
from casino.permissions import staff_permission_require
from casino.services import audit_record
from economy.enums import Currency, LedgerReason
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
from economy.models import Campaign, CampaignDelivery, LedgerEntry, Segment, Wallet
from economy.segment_filters import segment_players
from economy.services.ledger import MAX_AMOUNT, wallet_grant
from realtime.models import PushSubscription
from realtime.notifications.preferences import players_accepting
from realtime.notifications.services import OutgoingNotification, notifications_send, web_push_configured

logger = logging.getLogger(__name__)

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
BATCH_SIZE = 100  # players a transaction: their wallets stay locked until it commits
EMAIL_CLAIM_CHUNK = 10  # emails claimed a commit: at most this many unconfirmed if a worker dies
NOTIFICATION_KIND = "campaign"
_LOOKUP_CHUNK = 5000
_SEPARATORS = re.compile(r"[\s,;]+")
# Header cells of an uploaded list, skipped.
_HEADERS = {"id", "user_id", "userid", "site_id", "siteid", "player", "login"}
# The namespace of the campaign notifications' source_event_id (uuid5 of campaign_key).
_NOTIFICATION_NAMESPACE = uuid.UUID("6f1c6a53-2c1e-4f57-9b0e-4a8d3c5e7b21")

Outcome = CampaignDelivery.Outcome


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
    ignored) or ``"user_id"`` (numbers). A read: chunks of :data:`_LOOKUP_CHUNK` ids a query."""
    if by not in ("site_id", "user_id"):
        raise ValueError(f"unknown identifier kind {by!r}")
    found: dict[str, int] = {}
    if by == "user_id":
        numbers = {token: int(token) for token in identifiers if token.isdigit() and len(token) < 19}
        values = list(numbers.values())
        existing: set[int] = set()
        for start in range(0, len(values), _LOOKUP_CHUNK):
            chunk = values[start : start + _LOOKUP_CHUNK]
            existing.update(User.objects.filter(pk__in=chunk).values_list("pk", flat=True))
        found = {token: number for token, number in numbers.items() if number in existing}
    else:
        lowered = {token: token.lower() for token in identifiers}
        wanted = list(set(lowered.values()))
        by_login: dict[str, int] = {}
        for start in range(0, len(wanted), _LOOKUP_CHUNK):
            rows = (
                User.objects.annotate(login=Lower("site_id"))
                .filter(login__in=wanted[start : start + _LOOKUP_CHUNK])
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


# --- Counting ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CampaignCounts:
    """What a campaign did, from its delivery rows (one aggregate query)."""

    targeted: int = 0
    processed: int = 0
    in_app_sent: int = 0
    in_app_opted_out: int = 0
    push_sent: int = 0
    push_opted_out: int = 0
    push_no_device: int = 0
    email_sent: int = 0
    email_opted_out: int = 0
    email_no_email: int = 0
    email_failed: int = 0
    email_unconfirmed: int = 0
    email_waiting: int = 0  # queued or being sent right now
    rewards_granted: int = 0
    rewards_failed: int = 0
    self_excluded: int = 0
    banned: int = 0
    failed: int = 0  # players with a failure on any channel or the reward
    opened: int = 0  # players who read the campaign's notification

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def campaign_counts(campaign_id: int) -> CampaignCounts:
    """The campaign's counts in one aggregate over its delivery rows (the notification joined
    for "opened")."""

    def count(condition: Q) -> Count:
        return Count("pk", filter=condition)

    failed = (
        Q(in_app=Outcome.FAILED)
        | Q(push=Outcome.FAILED)
        | Q(email__in=[Outcome.FAILED, Outcome.UNCONFIRMED])
        | Q(reward=Outcome.FAILED)
    )
    row = CampaignDelivery.objects.filter(campaign_id=campaign_id).aggregate(
        targeted=Count("pk"),
        processed=count(Q(status=CampaignDelivery.Status.DONE)),
        in_app_sent=count(Q(in_app=Outcome.SENT)),
        in_app_opted_out=count(Q(in_app=Outcome.OPTED_OUT)),
        push_sent=count(Q(push=Outcome.SENT)),
        push_opted_out=count(Q(push=Outcome.OPTED_OUT)),
        push_no_device=count(Q(push=Outcome.NO_DEVICE)),
        email_sent=count(Q(email=Outcome.SENT)),
        email_opted_out=count(Q(email=Outcome.OPTED_OUT)),
        email_no_email=count(Q(email=Outcome.NO_EMAIL)),
        email_failed=count(Q(email=Outcome.FAILED)),
        email_unconfirmed=count(Q(email=Outcome.UNCONFIRMED)),
        email_waiting=count(Q(email__in=[Outcome.QUEUED, Outcome.SENDING])),
        rewards_granted=count(Q(reward=Outcome.GRANTED)),
        rewards_failed=count(Q(reward=Outcome.FAILED)),
        self_excluded=count(Q(skipped=CampaignDelivery.Skip.SELF_EXCLUDED)),
        banned=count(Q(skipped=CampaignDelivery.Skip.BANNED)),
        failed=count(failed),
        opened=count(Q(notification__read_at__isnull=False)),
    )
    return CampaignCounts(**{name: int(value or 0) for name, value in row.items()})


def campaign_paid_players(campaign_id: int) -> set[int]:
    """The players holding the campaign's grant, by the ledger (one query on its reference
    index): the authority the delivery rows' ``reward`` agrees with."""
    entries = LedgerEntry.objects.filter(reference=campaign_reference(campaign_id), reason=LedgerReason.CAMPAIGN_REWARD)
    return set(entries.values_list("wallet_id", flat=True).distinct())


# --- Sending (the job's body) -------------------------------------------------------------------


@dataclass(frozen=True)
class CampaignReport:
    campaign_id: int
    status: str
    processed_now: int  # players this run decided (0 for a run that found everything done)
    missing: int  # players of a list who no longer exist when sending started
    unknown: int  # uploaded ids that were no player (at creation)
    counts: CampaignCounts = field(default_factory=CampaignCounts)
    failures: tuple[str, ...] = ()

    def as_text(self) -> str:
        counts = self.counts
        lines = [
            f"Campaign #{self.campaign_id}: {self.status}. {counts.processed} of {counts.targeted} player(s) done "
            f"({self.processed_now} by this run); {self.unknown} uploaded id(s) unknown; "
            f"{self.missing} player(s) no longer exist.",
            f"In-app: {counts.in_app_sent} sent, {counts.in_app_opted_out} opted out. "
            f"Push: {counts.push_sent} sent, {counts.push_opted_out} opted out, "
            f"{counts.push_no_device} without a subscription. "
            f"Email: {counts.email_sent} sent, {counts.email_opted_out} opted out, {counts.email_no_email} without "
            f"an address, {counts.email_failed} failed, {counts.email_unconfirmed} unconfirmed.",
            f"Rewards granted, by the delivery records: {counts.rewards_granted} of {counts.targeted} "
            f"({counts.rewards_failed} failed). Skipped: {counts.self_excluded} self-excluded, {counts.banned} banned. "
            f"Opened: {counts.opened}.",
        ]
        lines += [f"  {failure}" for failure in self.failures]
        return "\n".join(lines)


def _audience_freeze(campaign: Campaign) -> int:
    """Write the campaign's delivery rows -- its audience, as of now -- in one transaction, and
    record how many (``targeted``). Runs once: a second run finds ``targeted`` set."""
    with transaction.atomic(durable=True):
        locked = Campaign.objects.select_for_update(of=("self",)).get(pk=campaign.pk)
        if locked.targeted is not None:
            campaign.targeted = locked.targeted
            return locked.targeted
        if locked.target in (Campaign.Target.ALL, Campaign.Target.SEGMENT):
            audience = campaign_audience(target=locked.target, segment=locked.segment)
            ids: Iterable[int] = audience.values_list("pk", flat=True).iterator(chunk_size=_LOOKUP_CHUNK)
        else:
            named = sorted({int(user_id) for user_id in locked.user_ids or []})
            existing: list[int] = []
            for start in range(0, len(named), _LOOKUP_CHUNK):
                chunk = named[start : start + _LOOKUP_CHUNK]
                existing += list(User.objects.filter(pk__in=chunk).order_by("pk").values_list("pk", flat=True))
            ids = existing
        total = 0
        rows: list[CampaignDelivery] = []
        for user_id in ids:
            rows.append(CampaignDelivery(campaign_id=campaign.pk, user_id=user_id))
            if len(rows) == _LOOKUP_CHUNK:
                CampaignDelivery.objects.bulk_create(rows, ignore_conflicts=True)
                total += len(rows)
                rows = []
        if rows:
            CampaignDelivery.objects.bulk_create(rows, ignore_conflicts=True)
            total += len(rows)
        Campaign.objects.filter(pk=campaign.pk).update(targeted=total)
        campaign.targeted = total
    return total


def _wallets_open(user_ids: Sequence[int], now: datetime) -> None:
    """Open, in one INSERT, the wallets the players do not have yet (imported players have
    none until their first grant), instead of each grant opening its own."""
    missing = list(User.objects.filter(pk__in=user_ids, wallet__isnull=True).values_list("pk", flat=True))
    if missing:
        Wallet.objects.bulk_create(
            [Wallet(user_id=user_id, created_at=now, updated_at=now) for user_id in missing], ignore_conflicts=True
        )


def _grant(campaign: Campaign, user_id: int) -> None:
    """The campaign's bundle to one player, under the campaign's key (a savepoint of the
    batch's transaction: a refusal leaves the batch usable)."""
    wallet_grant(
        user=user_id,
        bundle=campaign.bundle,
        reason=LedgerReason.CAMPAIGN_REWARD,
        idempotency_key=campaign_key(campaign.pk, user_id),
        reference=campaign_reference(campaign.pk),
        metadata={"campaign_id": campaign.pk, "campaign": campaign.title, "staff_id": campaign.created_by_id},
    )


def _notification_data(campaign: Campaign) -> dict[str, Any]:
    return {"campaign_id": campaign.pk, "reward": campaign.bundle}


def campaign_batch_deliver(*, campaign: Campaign, limit: int = BATCH_SIZE) -> int:
    """Deliver the next ``limit`` pending players of the campaign (those no other run holds):
    decide, grant, notify and claim the emails in one transaction, then send the claimed
    emails. The number of players taken; 0 when none is left to take."""
    now = timezone.now()
    failures: list[str] = []
    with transaction.atomic(durable=True):
        rows = list(
            CampaignDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(campaign_id=campaign.pk, status=CampaignDelivery.Status.PENDING)
            .order_by("pk")[:limit]
        )
        if not rows:
            return 0
        users = {
            user.pk: user
            for user in User.objects.filter(pk__in=[row.user_id for row in rows]).only(
                "pk", "is_active", "self_excluded_until", "email", "nickname"
            )
        }
        reached: list[CampaignDelivery] = []
        for row in rows:
            row.status, row.processed_at = CampaignDelivery.Status.DONE, now
            user = users.get(row.user_id)
            if user is None or not user.is_active:
                row.skipped = CampaignDelivery.Skip.BANNED
            elif user.is_self_excluded:
                row.skipped = CampaignDelivery.Skip.SELF_EXCLUDED
            else:
                reached.append(row)
        ids = [row.user_id for row in reached]
        accepting = {channel: players_accepting(user_ids=ids, channel=channel) for channel in campaign.channels}
        if campaign.bundle and reached:
            _wallets_open(ids, now)
            for row in sorted(reached, key=lambda delivery: delivery.user_id):  # wallets locked in key order
                try:
                    _grant(campaign, row.user_id)
                    row.reward = Outcome.GRANTED
                except ApplicationError as exc:
                    row.reward, row.error = Outcome.FAILED, exc.message[:255]
                    if len(failures) < 20:
                        failures.append(f"player {row.user_id}: {exc.message}")
        if campaign.in_app:
            inbox = [row for row in reached if row.user_id in accepting["in_app"]]
            push_to: set[int] = set()
            if campaign.push:
                wanted = {row.user_id for row in inbox} & accepting["push"]
                if wanted and web_push_configured():
                    push_to = set(PushSubscription.objects.filter(user_id__in=wanted).values_list("user_id", flat=True))
            sent = notifications_send(
                notifications=[
                    OutgoingNotification(
                        user_id=row.user_id,
                        kind=NOTIFICATION_KIND,
                        title=campaign.title,
                        body=campaign.message,
                        data=_notification_data(campaign),
                        dedupe_key=campaign_notification_key(campaign.pk, row.user_id),
                    )
                    for row in inbox
                ],
                push_to=push_to,
            )
            in_inbox = {row.user_id for row in inbox}
            for row in reached:
                if row.user_id in in_inbox:
                    row.in_app = Outcome.SENT
                    row.notification_id = sent.ids.get(campaign_notification_key(campaign.pk, row.user_id))
                else:
                    row.in_app = Outcome.OPTED_OUT
                if campaign.push:
                    if row.user_id not in in_inbox or row.user_id not in accepting["push"]:
                        row.push = Outcome.OPTED_OUT
                    else:
                        row.push = Outcome.SENT if row.user_id in push_to else Outcome.NO_DEVICE
        if campaign.email:
            for row in reached:
                if row.user_id not in accepting["email"]:
                    row.email = Outcome.OPTED_OUT
                elif not users[row.user_id].email:
                    row.email = Outcome.NO_EMAIL
                else:
                    row.email = Outcome.QUEUED
        _rows_record(rows)
    for failure in failures:
        logger.warning("campaign #%s: %s", campaign.pk, failure)
    queued = [row for row in rows if row.email == Outcome.QUEUED]
    if queued:
        _emails_send(campaign, [(row.pk, users[row.user_id]) for row in queued])
    return len(rows)


_OUTCOME_FIELDS = ("status", "processed_at", "skipped", "in_app", "push", "email", "reward", "error")


def _rows_record(rows: Sequence[CampaignDelivery]) -> None:
    """Write the batch's outcomes: one UPDATE per distinct outcome (a batch has a handful: most
    players get the same), and the notifications' ids in one more."""
    groups: dict[tuple[Any, ...], list[int]] = {}
    for row in rows:
        groups.setdefault(tuple(getattr(row, name) for name in _OUTCOME_FIELDS), []).append(row.pk)
    for values, pks in groups.items():
        CampaignDelivery.objects.filter(pk__in=pks).update(**dict(zip(_OUTCOME_FIELDS, values, strict=True)))
    notified = [row for row in rows if row.notification_id is not None]
    if notified:
        CampaignDelivery.objects.bulk_update(notified, ["notification"])


def _email_message(campaign: Campaign, user: User, connection: Any) -> EmailMultiAlternatives:
    context = {
        "campaign": campaign,
        "nickname": user.nickname,
        "title": campaign.title,
        "message": campaign.message,
        "reward": ", ".join(f"{amount:,} {currency}" for currency, amount in campaign.bundle.items()),
    }
    message = EmailMultiAlternatives(
        subject=campaign.title,
        body=render_to_string("email/campaign.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[user.email],
        connection=connection,
    )
    message.attach_alternative(render_to_string("email/campaign.html", context), "text/html")
    return message


def _email_send_one(message: EmailMultiAlternatives) -> None:
    """One SMTP conversation (raises on a refusal or a dead server)."""
    message.send(fail_silently=False)


def _emails_claim(delivery_ids: Sequence[int]) -> list[int]:
    """Claim the still-queued emails among these rows (``queued -> sending``, committed before
    any is sent): the rows this run won, skipping those another run holds."""
    with transaction.atomic(durable=True):
        claimed = list(
            CampaignDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(pk__in=delivery_ids, email=Outcome.QUEUED)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        if claimed:
            CampaignDelivery.objects.filter(pk__in=claimed).update(email=Outcome.SENDING)
    return claimed


def _emails_send(campaign: Campaign, recipients: Sequence[tuple[int, User]]) -> int:
    """Send the queued emails of these delivery rows, each at most once: claimed
    :data:`EMAIL_CLAIM_CHUNK` at a time (``queued -> sending``, a commit only one run wins)
    before their SMTP conversations, then recorded ``sent`` or ``failed`` (an SMTP server that
    does not answer fails them: never retried, as any email that may have left). A worker
    killed meanwhile leaves at most a chunk ``sending``, which the next run records
    ``unconfirmed``. Outside any transaction and holding no lock while talking SMTP; one SMTP
    connection for the lot. How many this call sent."""
    users = dict(recipients)
    ids = list(users)
    total = 0
    # A parallel run may have called a claimed email unconfirmed meanwhile: the answer wins.
    unsettled = [Outcome.SENDING, Outcome.UNCONFIRMED]
    connection = get_connection(fail_silently=False)
    down: Exception | None = None
    try:
        connection.open()
    except Exception as error:  # noqa: BLE001 - the SMTP server is down: these emails fail
        dependency_failed(dependency="smtp", use="campaign_email", error=error)
        down = error
    try:
        for start in range(0, len(ids), EMAIL_CLAIM_CHUNK):
            sent: list[int] = []
            failed: dict[str, list[int]] = {}
            for delivery_id in _emails_claim(ids[start : start + EMAIL_CLAIM_CHUNK]):
                try:
                    if down is not None:
                        raise down
                    _email_send_one(_email_message(campaign, users[delivery_id], connection))
                except Exception as error:  # noqa: BLE001 - an SMTP failure is this email's outcome
                    if error is not down:
                        dependency_failed(dependency="smtp", use="campaign_email", error=error)
                        connection.close()  # a broken conversation is not reused; the next send opens one
                    failed.setdefault(f"email: {type(error).__name__}: {error}"[:255], []).append(delivery_id)
                else:
                    sent.append(delivery_id)
            if sent:
                CampaignDelivery.objects.filter(pk__in=sent, email__in=unsettled).update(email=Outcome.SENT)
                total += len(sent)
            for message, pks in failed.items():
                CampaignDelivery.objects.filter(pk__in=pks, email__in=unsettled).update(
                    email=Outcome.FAILED, error=message
                )
    finally:
        connection.close()
    return total


def _emails_settle(campaign: Campaign) -> int:
    """Emails another run left behind: ``sending`` ones (that run died during the SMTP
    conversation) become ``unconfirmed`` and are never sent again; ``queued`` ones (it died
    before reaching them) are sent now. How many this call sent."""
    CampaignDelivery.objects.filter(campaign_id=campaign.pk, email=Outcome.SENDING).update(email=Outcome.UNCONFIRMED)
    sent = 0
    while True:
        rows = list(
            CampaignDelivery.objects.filter(campaign_id=campaign.pk, email=Outcome.QUEUED)
            .select_related("user")
            .order_by("pk")[:BATCH_SIZE]
        )
        if not rows:
            return sent
        sent += _emails_send(campaign, [(row.pk, row.user) for row in rows])


def _finish(campaign: Campaign, *, error: str = "") -> bool:
    """``sending -> sent`` (``failed`` when it reached nobody and something failed, or ``error``
    is given) once
    nothing is left pending or queued, with the audit record of the counts: one conditional
    UPDATE, so two runs finishing together record it once."""
    with transaction.atomic(durable=True):
        waiting = CampaignDelivery.objects.filter(campaign_id=campaign.pk).filter(
            Q(status=CampaignDelivery.Status.PENDING) | Q(email=Outcome.QUEUED)
        )
        if not error and waiting.exists():
            return False  # another run is still on it; it finishes
        counts = campaign_counts(campaign.pk)
        reached = counts.in_app_sent + counts.push_sent + counts.email_sent + counts.rewards_granted
        nothing_but_failures = counts.failed > 0 and reached == 0
        status = Campaign.Status.FAILED if error or nothing_but_failures else Campaign.Status.SENT
        finished = Campaign.objects.filter(pk=campaign.pk, status=Campaign.Status.SENDING).update(
            status=status, finished_at=timezone.now(), error=error
        )
        if not finished:
            return False
        audit_record(
            actor=None,
            action="campaign_sent",
            target=campaign,
            reason=error or campaign.reason,
            data={"status": status, **counts.as_dict()},
        )
    campaign.status = status
    return True


def campaign_deliver(
    *,
    campaign_id: int,
    progress: Callable[[int, int], None] | None = None,
    set_total: Callable[[int], None] | None = None,
) -> CampaignReport:
    """Send the campaign to every player not reached yet (see the module docstring: exactly
    once per player, emails at most once, however often and however many times at once it
    runs). ``set_total(players)`` once the audience is known, ``progress(done, failed)`` after
    each batch. A campaign not ``sending`` (sent, cancelled, not started) is left as it is.
    An entry point (the job)."""
    campaign = Campaign.objects.select_related("segment", "created_by").get(pk=campaign_id)
    processed = 0
    failures: list[str] = []
    if campaign.status == Campaign.Status.SENDING:
        if campaign.target == Campaign.Target.SEGMENT and campaign.segment is None and campaign.targeted is None:
            _finish(campaign, error="The campaign's segment was deleted before it started sending.")
        else:
            _audience_freeze(campaign)
            if set_total is not None:
                set_total(campaign.targeted or 0)
            _emails_settle(campaign)
            done = CampaignDelivery.objects.filter(campaign_id=campaign_id, status=CampaignDelivery.Status.DONE)
            finished = done.count()
            while True:
                taken = campaign_batch_deliver(campaign=campaign)
                if not taken:
                    break
                processed += taken
                finished += taken
                if progress is not None:
                    progress(finished, 0)
            _emails_settle(campaign)
            _finish(campaign)
    campaign.refresh_from_db()
    counts = campaign_counts(campaign_id)
    missing = max(0, len(campaign.user_ids or []) - counts.targeted) if campaign.targeted is not None else 0
    if campaign.error:
        failures.append(campaign.error)
    return CampaignReport(
        campaign_id=campaign_id,
        status=campaign.status,
        processed_now=processed,
        missing=missing if campaign.target in (Campaign.Target.UPLOAD, Campaign.Target.SELECTION) else 0,
        unknown=campaign.unknown_count,
        counts=counts,
        failures=tuple(failures),
    )
