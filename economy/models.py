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


class Campaign(models.Model):
    """A message and/or a reward bundle sent by staff to a target -- every active player, a
    saved :class:`Segment`, an uploaded list of ids, or a selection of the player list -- over
    any of the in-app inbox, Web Push and email, now or at a set time.

    A campaign with a reward and no channel is a plain reward grant; one with channels and no
    reward is a plain message. Each player's outcome is a :class:`CampaignDelivery` row, which
    is what makes sending exactly once per player (``economy.services.campaign_delivery``); rewards go
    through ``wallet_grant`` under the key ``campaign:{campaign_id}:{user_id}``.

    ``status`` moves draft -> scheduled -> sending -> sent (or failed), or to cancelled while
    draft or scheduled; each step is one conditional UPDATE on the status it leaves, so the beat
    starting a due campaign and staff cancelling it never both win."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        SCHEDULED = "scheduled", "Scheduled"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        CANCELLED = "cancelled", "Cancelled"
        FAILED = "failed", "Failed"

    class Target(models.TextChoices):
        ALL = "all", "All active players"
        SEGMENT = "segment", "A saved segment"
        UPLOAD = "upload", "An uploaded list of ids"
        SELECTION = "selection", "A selection of the player list"

    title = models.CharField(max_length=120, help_text="The notification's title and the email's subject.")
    message = models.TextField(blank=True, help_text="The notification's and the email's text.")
    gold = models.BigIntegerField(default=0)
    gems = models.BigIntegerField(default=0)
    xp = models.BigIntegerField(default=0)
    reason = models.TextField(help_text="Why: kept on every ledger entry and in the audit log.")
    in_app = models.BooleanField(default=False, help_text="A notification in the player's inbox (and socket).")
    push = models.BooleanField(default=False, help_text="The inbox notification as Web Push to the player's browsers.")
    email = models.BooleanField(default=False, help_text="An email to the player's address.")
    target = models.CharField(max_length=16, choices=Target.choices, default=Target.SELECTION)
    segment = models.ForeignKey(
        "economy.Segment", null=True, blank=True, on_delete=models.SET_NULL, related_name="campaigns"
    )
    target_description = models.CharField(max_length=255, help_text="Where the players came from.")
    user_ids = models.JSONField(
        default=list, blank=True, help_text="The players of an uploaded list or a selection (user ids)."
    )
    unknown_ids = models.JSONField(default=list, blank=True, help_text="Unknown uploaded ids (the first 1000).")
    unknown_count = models.PositiveIntegerField(default=0, help_text="How many uploaded ids were no player.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    scheduled_at = models.DateTimeField(null=True, blank=True, help_text="When it starts sending.")
    targeted = models.PositiveIntegerField(
        null=True, blank=True, help_text="Players the target held when sending started (their delivery rows)."
    )
    error = models.TextField(blank=True, help_text="Why the campaign failed.")
    job = models.ForeignKey("casino.AdminJob", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(gold__gte=0, gems__gte=0, xp__gte=0), name="campaign_amounts_non_negative"
            ),
            models.CheckConstraint(
                condition=models.Q(in_app=True)
                | models.Q(push=True)
                | models.Q(email=True)
                | models.Q(gold__gt=0)
                | models.Q(gems__gt=0)
                | models.Q(xp__gt=0),
                name="campaign_sends_something",
            ),
            # Web Push shows the inbox notification in the browser: there is no push without it.
            models.CheckConstraint(condition=models.Q(push=False) | models.Q(in_app=True), name="campaign_push_in_app"),
        ]
        indexes = [
            # The beat's "due" query.
            models.Index(fields=["scheduled_at"], name="campaign_due_idx", condition=models.Q(status="scheduled")),
        ]
        permissions = [
            ("grant_campaign", "Can grant a reward bundle to many players (a campaign with a reward)"),
            ("send_campaign", "Can create, schedule and cancel campaigns that message players"),
        ]

    def __str__(self) -> str:
        return f"campaign #{self.pk} {self.title}"

    @property
    def bundle(self) -> dict[str, int]:
        amounts = (("gold", self.gold), ("gems", self.gems), ("xp", self.xp))
        return {currency: int(amount) for currency, amount in amounts if amount}

    @property
    def channels(self) -> list[str]:
        return [channel for channel in ("in_app", "push", "email") if getattr(self, channel)]


class CampaignDelivery(models.Model):
    """What one campaign did for one player: one row per (campaign, player), written when the
    campaign starts sending (its audience, frozen then) and filled in batch by batch. A channel
    left blank is not part of the campaign; ``skipped`` says why a player got nothing at all.

    The row is the record that makes sending exactly once: a batch decides, grants, notifies
    and claims the emails of its rows in one transaction, so a batch either happened entirely
    or not at all, and a run started again takes only rows still ``pending``."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DONE = "done", "Done"

    class Outcome(models.TextChoices):
        NONE = "", "-"
        SENT = "sent", "Sent"
        GRANTED = "granted", "Granted"
        QUEUED = "queued", "Queued"  # an email decided in the batch, not yet claimed for sending
        SENDING = "sending", "Sending"  # an email claimed, its SMTP answer not recorded yet
        UNCONFIRMED = "unconfirmed", "Unconfirmed"  # the worker stopped while sending: never sent again
        OPTED_OUT = "opted_out", "Opted out"
        NO_EMAIL = "no_email", "No email address"
        NO_DEVICE = "no_device", "No push subscription"
        FAILED = "failed", "Failed"

    class Skip(models.TextChoices):
        NONE = "", "-"
        SELF_EXCLUDED = "self_excluded", "Self-excluded"
        BANNED = "banned", "Banned"

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="deliveries")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    skipped = models.CharField(max_length=16, choices=Skip.choices, blank=True, default="")
    in_app = models.CharField(max_length=16, choices=Outcome.choices, blank=True, default="")
    push = models.CharField(max_length=16, choices=Outcome.choices, blank=True, default="")
    email = models.CharField(max_length=16, choices=Outcome.choices, blank=True, default="")
    reward = models.CharField(max_length=16, choices=Outcome.choices, blank=True, default="")
    # The inbox entry sent: whether the player opened it is its read_at.
    notification = models.ForeignKey(
        "realtime.Notification", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    error = models.CharField(max_length=255, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "campaign deliveries"
        constraints = [models.UniqueConstraint(fields=["campaign", "user"], name="campaign_delivery_once")]
        indexes = [
            # The next batch of a campaign still to send.
            models.Index(
                fields=["campaign", "id"], name="campaign_delivery_pending_idx", condition=models.Q(status="pending")
            ),
        ]

    def __str__(self) -> str:
        return f"campaign #{self.campaign_id} to {self.user_id}: {self.status}"


# --- Segments: who the players are, for live operations -------------------------------------


class RfmGroup(models.TextChoices):
    """The nightly RFM group (``economy.services.segments``); thresholds in settings."""

    WHALE = "whale", "Whale"
    HIGH_VALUE = "high_value", "High-Value"
    MEDIUM_VALUE = "medium_value", "Medium-Value"
    LOW_VALUE = "low_value", "Low-Value"
    AT_RISK = "at_risk", "At-Risk"


class PlayerSegment(models.Model):
    """A player's recency, frequency and monetary figures over the scoring window, their
    scores (1, 3 or 5) and RFM group, as of the last computation. One row per player,
    replaced by every run; the run that wrote it is ``computed_at``."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, primary_key=True, on_delete=models.CASCADE, related_name="segment"
    )
    rfm_group = models.CharField(max_length=16, choices=RfmGroup.choices, db_index=True)
    recency_score = models.PositiveSmallIntegerField()
    frequency_score = models.PositiveSmallIntegerField()
    monetary_score = models.PositiveSmallIntegerField()
    recency_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="Whole days since the last activity; empty: none ever."
    )
    frequency = models.PositiveIntegerField(help_text="Activities (rounds, purchases) in the window.")
    monetary = models.PositiveBigIntegerField(help_text="Money spent in the window, minor units of SEGMENT_CURRENCY.")
    total_spent = models.PositiveBigIntegerField(
        default=0, help_text="Money spent ever, minor units of SEGMENT_CURRENCY."
    )
    source = models.CharField(max_length=16, help_text="Where the figures came from: clickhouse or postgresql.")
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["user_id"]

    def __str__(self) -> str:
        return f"{self.get_rfm_group_display()} ({self.user_id})"


class SegmentRun(models.Model):
    """One computation of every player's RFM group: when, from where, and how many players
    fell in each group (the dashboard's segment sizes over time)."""

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    source = models.CharField(max_length=16)
    window_days = models.PositiveSmallIntegerField()
    players = models.PositiveIntegerField(default=0)
    sizes = models.JSONField(default=dict, blank=True, help_text="Players per RFM group.")
    timings = models.JSONField(
        default=dict, blank=True, help_text="Seconds spent reading the facts, scoring and writing the rows."
    )

    class Meta:
        ordering = ["-started_at", "-id"]
        get_latest_by = "started_at"
        permissions = [("compute_segments", "Can recompute every player's RFM segment now")]

    def __str__(self) -> str:
        return f"segment run {self.started_at:%Y-%m-%d %H:%M} ({self.source})"


class Segment(models.Model):
    """A saved filter over players, defined by staff in the admin (previewed with a count
    before use) and used as a campaign's target. Every criterion left empty matches
    everyone; the criteria set combine with AND."""

    name = models.CharField(max_length=120, unique=True)
    description = models.TextField(blank=True)
    rfm_groups = models.JSONField(default=list, blank=True, help_text="Any of these RFM groups (empty: any).")
    vip_tiers = models.JSONField(default=list, blank=True, help_text="Any of these VIP tiers (empty: any).")
    level_min = models.PositiveIntegerField(null=True, blank=True)
    level_max = models.PositiveIntegerField(null=True, blank=True)
    seen_within_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="Seen in the last N days (active players)."
    )
    unseen_for_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="Not seen for at least N days (lapsed players)."
    )
    total_spent_min = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="Money spent ever, minor units of SEGMENT_CURRENCY, at least."
    )
    total_spent_max = models.PositiveBigIntegerField(null=True, blank=True, help_text="... at most.")
    phone_prefixes = models.CharField(
        max_length=200, blank=True, help_text="Country calling codes, comma separated (e.g. +82, +1)."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["name"]
        permissions = [("preview_segment", "Can preview how many players a segment holds")]

    def __str__(self) -> str:
        return self.name
