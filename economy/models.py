"""Wallets, the immutable ledger, daily streaks and the audit trail of both."""

from __future__ import annotations

from typing import Any, NoReturn

from django.conf import settings
from django.db import models

from economy.enums import Currency, LedgerReason, StreakDayKind, VipTier

# A wallet has one balance column per currency, named after it.
BALANCE_FIELDS: tuple[str, ...] = tuple(currency.value for currency in Currency)


class Wallet(models.Model):
    """One per player (primary key = the user's id). Balances never go below
    zero: the CHECK constraints hold even against raw SQL."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, primary_key=True, on_delete=models.PROTECT, related_name="wallet"
    )
    gold = models.BigIntegerField(default=0)
    gems = models.BigIntegerField(default=0)
    xp = models.BigIntegerField(default=0)
    vip_points = models.BigIntegerField(default=0)
    vip_tier = models.CharField(max_length=16, choices=VipTier.choices, default=VipTier.STANDARD)
    # What a refund could not take back because it was already spent; repaid
    # automatically from the next grants of that currency.
    gold_debt = models.BigIntegerField(default=0)
    gems_debt = models.BigIntegerField(default=0)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(**{f"{field}__gte": 0}), name=f"wallet_{field}_non_negative")
            for field in (*BALANCE_FIELDS, "gold_debt", "gems_debt")
        ]
        # Staff actions with their own permission (promise 7); "change" is never used on wallets.
        permissions = [
            ("adjust_balance", "Can adjust a balance (audited ledger entry)"),
            ("set_vip_tier", "Can change a player's VIP tier"),
        ]

    def __str__(self) -> str:
        # The nickname when the user came with the wallet (select_related); never a query of its own.
        if Wallet.user.is_cached(self):
            return f"wallet of {self.user.nickname}"  # type: ignore[attr-defined]  # the project's User
        return f"wallet of {self.user_id}"

    def balance(self, currency: str) -> int:
        return int(getattr(self, Currency(currency).value))

    def debt(self, currency: str) -> int:
        return int(getattr(self, f"{currency}_debt", 0))


class LedgerEntryQuerySet(models.QuerySet["LedgerEntry"]):
    def update(self, **kwargs: Any) -> NoReturn:
        raise ImmutableLedger("ledger entries cannot be updated")

    def delete(self) -> NoReturn:  # type: ignore[override]
        raise ImmutableLedger("ledger entries cannot be deleted")


class ImmutableLedger(Exception):
    pass


class LedgerEntry(models.Model):
    """One change of one balance. Immutable: the ORM refuses updates and
    deletes, and so does a database trigger (migration 0002)."""

    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="entries")
    currency = models.CharField(max_length=16, choices=Currency.choices)
    delta = models.BigIntegerField()
    balance_after = models.BigIntegerField()
    reason = models.CharField(max_length=32, choices=LedgerReason.choices)
    reference = models.CharField(max_length=128, blank=True, help_text="What caused it: order:123, round:abc ...")
    idempotency_key = models.CharField(max_length=255)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField()

    objects = LedgerEntryQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "ledger entries"
        constraints = [
            # One operation (key) moves each currency of a wallet at most once.
            models.UniqueConstraint(
                fields=["wallet", "idempotency_key", "currency"], name="ledger_unique_key_currency"
            ),
            models.CheckConstraint(condition=~models.Q(delta=0), name="ledger_delta_non_zero"),
            models.CheckConstraint(condition=models.Q(balance_after__gte=0), name="ledger_balance_after_non_negative"),
        ]
        indexes = [
            models.Index(fields=["wallet", "-created_at", "-id"], name="ledger_wallet_history_idx"),
            models.Index(fields=["reason", "created_at"], name="ledger_reason_report_idx"),
            models.Index(fields=["reference"], name="ledger_reference_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.currency} {self.delta:+d} ({self.reason})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and not self._state.adding:
            raise ImmutableLedger("ledger entries cannot be updated")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:  # type: ignore[override]
        raise ImmutableLedger("ledger entries cannot be deleted")


class DebtEntry(models.Model):
    """A change of a wallet's debt: ``+`` when a refund could not take back
    spent currency, ``-`` when a later grant repaid it."""

    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="debt_entries")
    currency = models.CharField(max_length=16, choices=Currency.choices)
    delta = models.BigIntegerField()
    debt_after = models.BigIntegerField()
    reason = models.CharField(max_length=32, choices=LedgerReason.choices)
    reference = models.CharField(max_length=128, blank=True)
    idempotency_key = models.CharField(max_length=255)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "debt entries"
        constraints = [
            models.UniqueConstraint(fields=["wallet", "idempotency_key", "currency"], name="debt_unique_key_currency"),
            models.CheckConstraint(condition=models.Q(debt_after__gte=0), name="debt_after_non_negative"),
        ]

    def __str__(self) -> str:
        return f"debt {self.currency} {self.delta:+d}"


class DailyStreak(models.Model):
    """A player's daily check-in streak (one row per player)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, primary_key=True, on_delete=models.CASCADE, related_name="streak"
    )
    current_count = models.PositiveIntegerField(default=0)
    longest_count = models.PositiveIntegerField(default=0)
    last_checkin_date = models.DateField(null=True, blank=True)
    protection_tokens = models.PositiveSmallIntegerField(default=0)
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(protection_tokens__lte=3), name="streak_tokens_at_most_3")
        ]

    def __str__(self) -> str:
        return f"streak {self.current_count} of {self.user_id}"


class StreakDay(models.Model):
    """A UTC day in a player's streak: a check-in, or a missed day bridged by
    a protection token (recorded when the token was consumed)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="streak_days")
    date = models.DateField()
    kind = models.CharField(max_length=16, choices=StreakDayKind.choices, default=StreakDayKind.CHECKIN)
    streak_count = models.PositiveIntegerField(help_text="The streak after this day.")
    claimed_at = models.DateTimeField(null=True, blank=True, help_text="When the day's reward was paid.")
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-date"]
        constraints = [models.UniqueConstraint(fields=["user", "date"], name="streak_day_unique")]

    def __str__(self) -> str:
        return f"{self.user_id} {self.date} {self.kind}"


class StreakRepairReport(models.Model):
    """One run of the streak repair: what disagreed with the ledger and what was fixed."""

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    claims_checked = models.PositiveIntegerField()
    days_repaired = models.PositiveIntegerField()
    streaks_recounted = models.PositiveIntegerField()
    details = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"streak repair {self.started_at:%Y-%m-%d %H:%M} ({self.days_repaired} repaired)"


class LedgerAuditRun(models.Model):
    """One run of ``audit_ledger``: every balance equals the sum of its entries."""

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    wallets_checked = models.PositiveIntegerField()
    entries_checked = models.PositiveBigIntegerField()
    ok = models.BooleanField()
    violations = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-started_at"]
        permissions = [("run_ledger_audit", "Can run a ledger audit from the back office")]

    def __str__(self) -> str:
        return f"ledger audit {self.started_at:%Y-%m-%d %H:%M}: {'ok' if self.ok else 'VIOLATIONS'}"


class RewardCampaign(models.Model):
    """A reward bundle granted by staff to a list of players (a changelist selection or an
    uploaded list of ids), each through ``wallet_grant`` under the key
    ``campaign:{campaign_id}:{user_id}``, so a run repeated (a task redelivered, run twice in
    parallel) never pays a player twice. The grants run as a back-office job
    (``casino.models.AdminJob``) that shows their progress and the report."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    name = models.CharField(max_length=120)
    gold = models.BigIntegerField(default=0)
    gems = models.BigIntegerField(default=0)
    xp = models.BigIntegerField(default=0)
    reason = models.TextField(help_text="Why: kept on every ledger entry and in the audit log.")
    target_description = models.CharField(max_length=255, help_text="Where the players came from.")
    user_ids = models.JSONField(default=list, blank=True, help_text="The players to grant to (user ids).")
    unknown_ids = models.JSONField(default=list, blank=True, help_text="Unknown uploaded ids (the first 1000).")
    unknown_count = models.PositiveIntegerField(default=0, help_text="How many uploaded ids were no player.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    job = models.ForeignKey("casino.AdminJob", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(gold__gte=0, gems__gte=0, xp__gte=0), name="campaign_amounts_non_negative"
            ),
            models.CheckConstraint(
                condition=models.Q(gold__gt=0) | models.Q(gems__gt=0) | models.Q(xp__gt=0),
                name="campaign_bundle_not_empty",
            ),
        ]
        permissions = [("grant_campaign", "Can grant a reward bundle to many players (reward campaign)")]

    def __str__(self) -> str:
        return f"campaign #{self.pk} {self.name}"

    @property
    def bundle(self) -> dict[str, int]:
        amounts = (("gold", self.gold), ("gems", self.gems), ("xp", self.xp))
        return {currency: int(amount) for currency, amount in amounts if amount}
