"""Reward campaigns: staff grant one reward bundle (gold, gems, XP) to many players at once --
a filtered selection of the player list, or an uploaded list of ids -- as a back-office job
with its progress and a report (``casino.jobs``).

Exactly once per (campaign, player), however often the grants run:

* every player is paid by :func:`~economy.services.ledger.wallet_grant` -- the same grant
  service as any reward, one transaction per player -- under the idempotency key
  ``campaign:{campaign_id}:{user_id}``. The wallet row lock and the ledger's unique
  (wallet, key, currency) make a second grant under the key a replay (``applied=False``), so
  a run repeated after a crash, a task delivered twice, or two runs in parallel pay each
  player once;
* a run first reads, in one query, which players already hold the campaign's grant
  (``reference = campaign:{id}``) and skips them without locking their wallets: a re-run
  costs one query per player it still has to pay. The ledger's key check stays the
  authority (a run in parallel may pay a player after that read; the grant then replays).

:func:`campaign_create` checks ``economy.grant_campaign`` and writes one audit record for the
campaign (who, why, the bundle, how many players) with the campaign and its job, in one
transaction; :func:`campaign_run` is the job's body.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models.functions import Lower
from django.utils import timezone

from accounts.models import User
from casino.errors import ApplicationError
from casino.jobs import job_create, job_enqueue
from casino.permissions import staff_permission_require
from casino.services import audit_record
from economy.enums import Currency, LedgerReason
from economy.exceptions import CampaignTooLarge, CampaignWithoutPlayers, InvalidBundle, ReasonRequired, WalletMissing
from economy.models import LedgerEntry, RewardCampaign, Wallet
from economy.services.ledger import MAX_AMOUNT, wallet_grant

GRANT_CAMPAIGN = "economy.grant_campaign"
JOB_KIND = "reward_campaign"
# What a campaign may grant (VIP points follow play, not gifts).
CAMPAIGN_CURRENCIES = (Currency.GOLD, Currency.GEMS, Currency.XP)
MAX_CAMPAIGN_PLAYERS = 100_000
UNKNOWN_KEPT = 1000  # unknown uploaded ids kept on the campaign (the report counts them all)
_LOOKUP_CHUNK = 5000
_SEPARATORS = re.compile(r"[\s,;]+")
# Header cells of an uploaded list, skipped.
_HEADERS = {"id", "user_id", "userid", "site_id", "siteid", "player", "login"}


def campaign_key(campaign_id: int, user_id: int) -> str:
    return f"campaign:{campaign_id}:{user_id}"


def campaign_reference(campaign_id: int) -> str:
    return f"campaign:{campaign_id}"


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


# --- Creating a campaign --------------------------------------------------------------------


def campaign_bundle_checked(bundle: Mapping[str, int]) -> dict[str, int]:
    """The bundle's non-zero amounts; :class:`InvalidBundle` for a currency a campaign does not
    grant, a negative or too large amount, or nothing at all."""
    amounts: dict[str, int] = {}
    for currency, amount in bundle.items():
        if currency not in CAMPAIGN_CURRENCIES:
            raise InvalidBundle(f"A campaign grants gold, gems and XP, not {currency!r}.", currency=str(currency))
        if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0 or amount > MAX_AMOUNT:
            raise InvalidBundle(currency=currency)
        if amount:
            amounts[currency] = amount
    if not amounts:
        raise InvalidBundle("Nothing to grant: every amount is zero.")
    return amounts


def campaign_create(
    *,
    actor: User,
    name: str,
    bundle: Mapping[str, int],
    reason: str,
    user_ids: Iterable[int],
    target_description: str,
    unknown_ids: Sequence[str] = (),
) -> RewardCampaign:
    """Create a reward campaign for ``user_ids`` (each once) and queue its job: the campaign,
    its job and one audit record (who, why, the bundle, how many players, how many uploaded ids
    were unknown) commit together, and the grants start on commit. Needs
    ``economy.grant_campaign``. An entry point (the admin pages)."""
    staff_permission_require(actor=actor, permission=GRANT_CAMPAIGN)
    note = (reason or "").strip()
    if not note:
        raise ReasonRequired("A reward campaign needs a reason.")
    title = (name or "").strip()[:120] or "Reward campaign"
    amounts = campaign_bundle_checked(bundle)
    players = list(dict.fromkeys(int(user_id) for user_id in user_ids))
    if not players:
        raise CampaignWithoutPlayers(unknown=len(unknown_ids))
    if len(players) > MAX_CAMPAIGN_PLAYERS:
        raise CampaignTooLarge(players=len(players), limit=MAX_CAMPAIGN_PLAYERS)
    with transaction.atomic(durable=True):
        campaign = RewardCampaign.objects.create(
            name=title,
            gold=amounts.get(Currency.GOLD, 0),
            gems=amounts.get(Currency.GEMS, 0),
            xp=amounts.get(Currency.XP, 0),
            reason=note,
            target_description=target_description[:255],
            user_ids=players,
            unknown_ids=list(unknown_ids[:UNKNOWN_KEPT]),
            unknown_count=len(unknown_ids),
            created_by=actor,
            created_at=timezone.now(),
        )
        job = job_create(
            kind=JOB_KIND,
            actor=actor,
            title=f"Reward campaign #{campaign.pk}: {title}",
            params={"campaign_id": campaign.pk},
            total=len(players),
        )
        campaign.job = job
        campaign.save(update_fields=["job"])
        audit_record(
            actor=actor,
            action="campaign_create",
            target=campaign,
            reason=note,
            data={
                "bundle": amounts,
                "players": len(players),
                "unknown_ids": len(unknown_ids),
                "target": campaign.target_description,
                "job_id": job.pk,
            },
        )
        job_enqueue(job=job)
    return campaign


# --- Running it (the job's body) --------------------------------------------------------------


@dataclass(frozen=True)
class CampaignReport:
    campaign_id: int
    players: int  # players the campaign names
    granted_now: int  # paid by this run
    already_granted: int  # found paid already (an earlier or parallel run)
    missing: int  # no longer an account
    failed: int  # refused by the ledger (see failures)
    unknown: int  # uploaded ids that were no player (at creation)
    paid_total: int  # players holding the campaign's grant now, by the ledger
    failures: tuple[str, ...] = ()

    def as_text(self) -> str:
        lines = [
            f"Granted {self.granted_now} player(s) now; {self.already_granted} already had this campaign's "
            f"grant (skipped); {self.unknown} uploaded id(s) unknown; {self.missing} player(s) no longer exist; "
            f"{self.failed} failed.",
            f"Players holding the grant, by the ledger: {self.paid_total} of {self.players}.",
        ]
        lines += [f"  {failure}" for failure in self.failures]
        return "\n".join(lines)


def campaign_grant_one(*, campaign: RewardCampaign, user_id: int) -> bool:
    """Pay one player the campaign's bundle (its own transaction); False when the player was
    paid already (the ledger's key replays)."""
    with transaction.atomic(durable=True):
        result = wallet_grant(
            user=user_id,
            bundle=campaign.bundle,
            reason=LedgerReason.CAMPAIGN_REWARD,
            idempotency_key=campaign_key(campaign.pk, user_id),
            reference=campaign_reference(campaign.pk),
            metadata={"campaign_id": campaign.pk, "campaign": campaign.name, "staff_id": campaign.created_by_id},
        )
    return result.applied


def campaign_paid_players(campaign_id: int) -> set[int]:
    """The players holding the campaign's grant (one query on the ledger's reference index)."""
    entries = LedgerEntry.objects.filter(reference=campaign_reference(campaign_id), reason=LedgerReason.CAMPAIGN_REWARD)
    return set(entries.values_list("wallet_id", flat=True).distinct())


def campaign_wallets_open(user_ids: Sequence[int]) -> None:
    """Open, in bulk, the wallets the players do not have yet (imported players have none
    until their first grant): a few INSERTs for the whole list instead of the grant opening
    each one (``wallet_get_or_open``, a handful of queries a player). A player whose account
    went meanwhile makes the batch fail; the grants then open what they need themselves."""
    now = timezone.now()
    for start in range(0, len(user_ids), _LOOKUP_CHUNK):
        chunk = user_ids[start : start + _LOOKUP_CHUNK]
        missing = list(User.objects.filter(pk__in=chunk, wallet__isnull=True).values_list("pk", flat=True))
        if not missing:
            continue
        try:
            with transaction.atomic(durable=True):
                Wallet.objects.bulk_create(
                    [Wallet(user_id=user_id, created_at=now, updated_at=now) for user_id in missing],
                    ignore_conflicts=True,
                    batch_size=1000,
                )
        except IntegrityError:
            return


def campaign_run(*, campaign_id: int, progress: Callable[[int, int], None] | None = None) -> CampaignReport:
    """Grant the campaign's bundle to each of its players not paid yet (see the module
    docstring: exactly once per player however often it runs); ``progress(done, failed)``
    after each player. Returns the report; the campaign ends ``done`` (``failed`` only if every
    grant failed). An entry point (the job)."""
    campaign = RewardCampaign.objects.get(pk=campaign_id)
    RewardCampaign.objects.filter(pk=campaign_id).exclude(status=RewardCampaign.Status.DONE).update(
        status=RewardCampaign.Status.RUNNING
    )
    paid_before = campaign_paid_players(campaign_id)
    granted_now = already = missing = failed = 0
    failures: list[str] = []
    players = [int(user_id) for user_id in campaign.user_ids]
    campaign_wallets_open([user_id for user_id in players if user_id not in paid_before])
    for done, user_id in enumerate(players, 1):
        if user_id in paid_before:
            already += 1
        else:
            try:
                if campaign_grant_one(campaign=campaign, user_id=user_id):
                    granted_now += 1
                else:
                    already += 1
            except WalletMissing:
                missing += 1
            except ApplicationError as exc:
                failed += 1
                if len(failures) < 20:
                    failures.append(f"player {user_id}: {exc.message}")
        if progress is not None:
            progress(done, failed + missing)
    status = RewardCampaign.Status.FAILED if players and failed == len(players) else RewardCampaign.Status.DONE
    RewardCampaign.objects.filter(pk=campaign_id).update(status=status, finished_at=timezone.now())
    return CampaignReport(
        campaign_id=campaign_id,
        players=len(players),
        granted_now=granted_now,
        already_granted=already,
        missing=missing,
        failed=failed,
        unknown=campaign.unknown_count,
        paid_total=len(campaign_paid_players(campaign_id)),
        failures=tuple(failures),
    )
