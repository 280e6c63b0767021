"""Sending a campaign: the job's body (:func:`campaign_deliver`) and what a campaign did
(:func:`campaign_counts`). Creating, scheduling and starting one, its target and its
permissions: ``economy.services.campaigns``.

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
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from accounts.models import User
from casino.errors import ApplicationError
from casino.services import audit_record
from economy.enums import LedgerReason
from economy.models import Campaign, CampaignDelivery, LedgerEntry, Wallet
from economy.services import campaign_emails
from economy.services.campaigns import (
    LOOKUP_CHUNK,
    campaign_audience,
    campaign_key,
    campaign_notification_key,
    campaign_reference,
)
from economy.services.ledger import wallet_grant
from realtime.models import PushSubscription
from realtime.notifications.preferences import players_accepting
from realtime.notifications.services import OutgoingNotification, notifications_send, web_push_configured

logger = logging.getLogger(__name__)

BATCH_SIZE = 100  # players a transaction: their wallets stay locked until it commits
NOTIFICATION_KIND = "campaign"

Outcome = CampaignDelivery.Outcome


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
            ids: Iterable[int] = audience.values_list("pk", flat=True).iterator(chunk_size=LOOKUP_CHUNK)
        else:
            named = sorted({int(user_id) for user_id in locked.user_ids or []})
            existing: list[int] = []
            for start in range(0, len(named), LOOKUP_CHUNK):
                chunk = named[start : start + LOOKUP_CHUNK]
                existing += list(User.objects.filter(pk__in=chunk).order_by("pk").values_list("pk", flat=True))
            ids = existing
        total = 0
        rows: list[CampaignDelivery] = []
        for user_id in ids:
            rows.append(CampaignDelivery(campaign_id=campaign.pk, user_id=user_id))
            if len(rows) == LOOKUP_CHUNK:
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
        campaign_emails.campaign_emails_send(campaign, [(row.pk, users[row.user_id]) for row in queued])
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
            campaign_emails.campaign_emails_settle(campaign)
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
            campaign_emails.campaign_emails_settle(campaign)
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
