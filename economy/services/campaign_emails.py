"""A campaign's emails, each sent **at most once** (``economy.services.campaign_delivery``
decides who gets one and marks it ``queued`` in the batch's transaction): claimed a few at a
time (``queued -> sending``, committed) before their SMTP conversations, recorded ``sent`` or
``failed`` after them; one left ``sending`` by a worker that died is recorded ``unconfirmed``
and never sent again."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.template.loader import render_to_string

from accounts.models import User
from casino.degraded import dependency_failed
from economy.models import Campaign, CampaignDelivery

EMAIL_CLAIM_CHUNK = 10  # emails claimed a commit: at most this many unconfirmed if a worker dies
SETTLE_BATCH = 100  # rows left queued by another run, read a query

Outcome = CampaignDelivery.Outcome


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


def campaign_emails_send(campaign: Campaign, recipients: Sequence[tuple[int, User]]) -> int:
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


def campaign_emails_settle(campaign: Campaign) -> int:
    """Emails another run left behind: ``sending`` ones (that run died during the SMTP
    conversation) become ``unconfirmed`` and are never sent again; ``queued`` ones (it died
    before reaching them) are sent now. How many this call sent."""
    CampaignDelivery.objects.filter(campaign_id=campaign.pk, email=Outcome.SENDING).update(email=Outcome.UNCONFIRMED)
    sent = 0
    while True:
        rows = list(
            CampaignDelivery.objects.filter(campaign_id=campaign.pk, email=Outcome.QUEUED)
            .select_related("user")
            .order_by("pk")[:SETTLE_BATCH]
        )
        if not rows:
            return sent
        sent += campaign_emails_send(campaign, [(row.pk, row.user) for row in rows])
