"""Tables of games/: per-game configuration and daily limits, the players' fairness seeds, rounds
and per-player statistics, the slot machine's reels and paytable, gacha banners, pity counters
and inventories.

Fields, constraints and indexes only; no business logic. The invariants the services rely on are
database constraints, so they hold against any code path:

* a (seed, nonce) pair is used by one round only (``round_seed_nonce_once``): two parallel rounds
  can never share an outcome;
* one round per (player, idempotency key): a retried bet finds its round;
* bets are positive, payouts and counters never negative;
* one unrevealed seed per player.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from economy.enums import Currency, VipTier
from games.enums import GachaRarity, Game, RoundResult, RoundStatus

USER = settings.AUTH_USER_MODEL


class GameConfig(models.Model):
    """One row per game: switched on or off, bet limits, and the payout multiplier where the game
    has a single one (rock-paper-scissors). Changed by staff through audited services only."""

    game = models.CharField(max_length=16, choices=Game.choices, primary_key=True)
    is_enabled = models.BooleanField(default=True, help_text="Off: every new bet is refused at once.")
    min_bet = models.BigIntegerField(default=10)
    max_bet = models.BigIntegerField(default=10_000)
    currency = models.CharField(max_length=16, choices=Currency.choices, default=Currency.GOLD)
    win_multiplier = models.DecimalField(
        max_digits=8,
        decimal_places=4,
        null=True,
        blank=True,
        help_text="Rock-paper-scissors: a win pays bet x this (1.91 gives an RTP of 97%).",
    )
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(min_bet__gte=1), name="game_config_min_bet_positive"),
            models.CheckConstraint(condition=Q(max_bet__gte=models.F("min_bet")), name="game_config_max_not_below_min"),
            models.CheckConstraint(
                condition=Q(win_multiplier__isnull=True) | Q(win_multiplier__gt=0),
                name="game_config_multiplier_positive",
            ),
        ]
        permissions = [
            ("switch_game", "Can switch a game on or off"),
            ("configure_game", "Can change a game's limits, odds and paytable"),
        ]

    def __str__(self) -> str:
        return f"{self.get_game_display()} ({'on' if self.is_enabled else 'off'})"


class GameDailyLimit(models.Model):
    """At most ``limit`` rounds (gacha: pulls) per UTC day for players of a VIP tier. No row: no limit."""

    game = models.CharField(max_length=16, choices=Game.choices)
    vip_tier = models.CharField(max_length=16, choices=VipTier.choices)
    limit = models.PositiveIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["game", "vip_tier"], name="game_daily_limit_once")]

    def __str__(self) -> str:
        return f"{self.game} {self.vip_tier}: {self.limit}/day"


class PlayerGameDay(models.Model):
    """What a player played of a game on one UTC day, counted by one upsert in the round's
    transaction (the daily limit reads the count that upsert returns)."""

    user = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="+")
    game = models.CharField(max_length=16, choices=Game.choices)
    day = models.DateField()
    units = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "game", "day"], name="player_game_day_once")]

    def __str__(self) -> str:
        return f"{self.user_id} {self.game} {self.day}: {self.units}"


class FairnessSeed(models.Model):
    """A player's server seed: secret while in use (only its SHA-256 is shown), revealed when the
    player rotates it. ``next_nonce`` is the nonce the next round uses; it only ever goes up."""

    user = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="fairness_seeds")
    server_seed = models.CharField(max_length=64)
    server_seed_hash = models.CharField(max_length=64, db_index=True)
    client_seed = models.CharField(max_length=64)
    next_nonce = models.BigIntegerField(default=0)
    created_at = models.DateTimeField()
    revealed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user"], condition=Q(revealed_at__isnull=True), name="one_active_seed_per_player"
            ),
            models.CheckConstraint(condition=Q(next_nonce__gte=0), name="seed_nonce_non_negative"),
        ]
        indexes = [models.Index(fields=["user", "-created_at"], name="seed_user_created_idx")]

    def __str__(self) -> str:
        return f"seed {self.server_seed_hash[:12]}… of {self.user_id}"

    @property
    def is_revealed(self) -> bool:
        return self.revealed_at is not None


class GameRound(models.Model):
    """One round of one game: the bet, the payout, what the player asked for (``inputs``), what the
    fair bytes decided (``outcome``) and the seed and nonce that decided it.

    A live crash round is ``open`` from the bet until it is cashed out or crashes
    (``settle_due_at``: the server time of the crash); every other round is settled when created.
    ``outcome`` of an open round holds the crash point, which no response shows until it is over."""

    id = models.BigAutoField(primary_key=True)
    user = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="game_rounds")
    game = models.CharField(max_length=16, choices=Game.choices)
    status = models.CharField(max_length=16, choices=RoundStatus.choices, default=RoundStatus.SETTLED)
    result = models.CharField(max_length=8, choices=RoundResult.choices, blank=True)
    currency = models.CharField(max_length=16, choices=Currency.choices, default=Currency.GOLD)
    bet_amount = models.BigIntegerField()
    payout = models.BigIntegerField(default=0)
    seed = models.ForeignKey(FairnessSeed, on_delete=models.PROTECT, related_name="rounds")
    nonce = models.BigIntegerField()
    client_seed = models.CharField(max_length=64, help_text="The client seed when the round was played.")
    inputs = models.JSONField(default=dict, blank=True)
    outcome = models.JSONField(default=dict, blank=True)
    idempotency_key = models.CharField(max_length=255)
    request_fingerprint = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField()
    settle_due_at = models.DateTimeField(null=True, blank=True)
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["seed", "nonce"], name="round_seed_nonce_once"),
            models.UniqueConstraint(fields=["user", "idempotency_key"], name="round_idempotency_key_once"),
            models.CheckConstraint(condition=Q(bet_amount__gt=0), name="round_bet_positive"),
            models.CheckConstraint(condition=Q(payout__gte=0), name="round_payout_non_negative"),
            models.CheckConstraint(
                condition=Q(status=RoundStatus.OPEN) | Q(settled_at__isnull=False), name="round_settled_has_time"
            ),
        ]
        indexes = [
            models.Index(fields=["user", "-created_at"], name="round_user_created_idx"),
            models.Index(fields=["user", "game", "-created_at"], name="round_user_game_idx"),
            models.Index(fields=["game", "created_at"], name="round_game_created_idx"),
            models.Index(fields=["settle_due_at"], condition=Q(status=RoundStatus.OPEN), name="round_open_due_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.game} round {self.pk}"


class PlayerGameStats(models.Model):
    """Per player and game, kept by one ``INSERT … ON CONFLICT DO UPDATE SET x = x + …`` in each
    round's transaction (``games.services.stats``); ``manage.py recalc_game_stats`` rebuilds them
    from the rounds."""

    user = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="+")
    game = models.CharField(max_length=16, choices=Game.choices)
    plays = models.BigIntegerField(default=0)
    wins = models.BigIntegerField(default=0)
    losses = models.BigIntegerField(default=0)
    draws = models.BigIntegerField(default=0)
    total_bet = models.BigIntegerField(default=0)
    total_won = models.BigIntegerField(default=0)
    max_win = models.BigIntegerField(default=0)
    current_win_streak = models.IntegerField(default=0)
    best_win_streak = models.IntegerField(default=0)
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "game"], name="player_game_stats_once")]
        verbose_name_plural = "player game stats"

    def __str__(self) -> str:
        return f"{self.game} stats of {self.user_id}"


# --- Slots -------------------------------------------------------------------------------------


class SlotSymbol(models.Model):
    code = models.SlugField(max_length=32, unique=True)
    name = models.CharField(max_length=64)
    emoji = models.CharField(max_length=8, blank=True)
    sort_order = models.PositiveIntegerField(default=0, help_text="Order of the symbol on every reel strip.")

    class Meta:
        ordering = ["sort_order", "id"]

    def __str__(self) -> str:
        return f"{self.emoji} {self.name}".strip()


class SlotReelWeight(models.Model):
    """How many stops of reel ``reel`` (0 = leftmost) show ``symbol``. A reel's strip is the
    symbols in ``sort_order``, each repeated ``weight`` times."""

    reel = models.PositiveSmallIntegerField()
    symbol = models.ForeignKey(SlotSymbol, on_delete=models.PROTECT, related_name="reel_weights")
    weight = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["reel", "symbol"], name="slot_reel_symbol_once"),
            models.CheckConstraint(condition=Q(reel__lte=2), name="slot_three_reels"),
        ]
        ordering = ["reel", "symbol__sort_order"]

    def __str__(self) -> str:
        return f"reel {self.reel}: {self.symbol.code} x{self.weight}"


class SlotPayRule(models.Model):
    """Pays bet x ``multiplier`` when the first ``count`` reels from the left show ``symbol`` on the
    payline; the best matching rule pays."""

    symbol = models.ForeignKey(SlotSymbol, on_delete=models.PROTECT, related_name="pay_rules")
    count = models.PositiveSmallIntegerField()
    multiplier = models.DecimalField(max_digits=10, decimal_places=2)
    is_jackpot = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["symbol", "count"], name="slot_pay_rule_once"),
            models.CheckConstraint(condition=Q(count__gte=1, count__lte=3), name="slot_pay_rule_count_1_3"),
            models.CheckConstraint(condition=Q(multiplier__gt=0), name="slot_pay_rule_multiplier_positive"),
        ]
        ordering = ["-multiplier"]

    def __str__(self) -> str:
        return f"{self.count}x {self.symbol.code} pays x{self.multiplier}"


class SlotTableVersion(models.Model):
    """An immutable snapshot of the reel strips and the paytable, with the RTP computed exactly from
    it. Every change of the slot tables makes a new one; a round names the version it used, so
    it can be verified after the tables change."""

    reel_strips = models.JSONField()
    paytable = models.JSONField()
    digest = models.CharField(max_length=64, unique=True, help_text="SHA-256 of the strips and paytable.")
    rtp = models.DecimalField(max_digits=9, decimal_places=6)
    hit_frequency = models.DecimalField(max_digits=9, decimal_places=6)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"slot table v{self.pk} (RTP {self.rtp:.4%})"


# --- Gacha -------------------------------------------------------------------------------------


class GachaBanner(models.Model):
    code = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=128)
    description = models.TextField(blank=True)
    is_active = models.BooleanField(default=True)
    currency = models.CharField(max_length=16, choices=Currency.choices, default=Currency.GOLD)
    cost_single = models.BigIntegerField()
    cost_ten = models.BigIntegerField(help_text="The price of a 10-pull (usually less than ten singles).")
    pity_threshold = models.PositiveIntegerField(
        default=90, help_text="The top rarity is guaranteed by this pull at the latest."
    )
    duplicate_currency = models.CharField(max_length=16, choices=Currency.choices, default=Currency.GOLD)
    sort_order = models.PositiveIntegerField(default=0)
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["sort_order", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(cost_single__gt=0, cost_ten__gt=0), name="gacha_costs_positive"),
            models.CheckConstraint(condition=Q(pity_threshold__gte=1), name="gacha_pity_positive"),
        ]

    def __str__(self) -> str:
        return self.name


class GachaRarityWeight(models.Model):
    """A rarity of a banner: its draw weight (out of the banner's total), its rank (0 = the top
    rarity, the one pity guarantees) and what a duplicate item of it converts to."""

    banner = models.ForeignKey(GachaBanner, on_delete=models.CASCADE, related_name="rarities")
    rarity = models.CharField(max_length=16, choices=GachaRarity.choices)
    rank = models.PositiveSmallIntegerField()
    weight = models.PositiveIntegerField()
    duplicate_value = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["banner", "rank"]
        constraints = [
            models.UniqueConstraint(fields=["banner", "rarity"], name="gacha_banner_rarity_once"),
            models.UniqueConstraint(fields=["banner", "rank"], name="gacha_banner_rank_once"),
            models.CheckConstraint(condition=Q(duplicate_value__gte=0), name="gacha_duplicate_value_non_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.banner.code} {self.rarity} (weight {self.weight})"


class GachaItem(models.Model):
    banner = models.ForeignKey(GachaBanner, on_delete=models.CASCADE, related_name="items")
    rarity = models.CharField(max_length=16, choices=GachaRarity.choices)
    code = models.SlugField(max_length=64)
    name = models.CharField(max_length=128)
    image_url = models.URLField(blank=True)
    sort_order = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["banner", "sort_order", "id"]
        constraints = [models.UniqueConstraint(fields=["banner", "code"], name="gacha_item_code_once")]

    def __str__(self) -> str:
        return f"{self.name} ({self.rarity})"


class GachaPity(models.Model):
    """Pulls since the player last drew the banner's top rarity; updated in the pull's transaction."""

    user = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="+")
    banner = models.ForeignKey(GachaBanner, on_delete=models.CASCADE, related_name="+")
    pulls_since_top = models.PositiveIntegerField(default=0)
    total_pulls = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "banner"], name="gacha_pity_once")]
        verbose_name_plural = "gacha pity counters"

    def __str__(self) -> str:
        return f"pity of {self.user_id} on {self.banner_id}: {self.pulls_since_top}"


class InventoryItem(models.Model):
    """An item a player owns (one row per item; a duplicate draw converts to currency instead).

    Items come from gacha pulls (``round``: the pull that first gave it) or as a reward of an
    achievement, event or mission (``source`` "reward", no round; games.services.inventory)."""

    class Source(models.TextChoices):
        GACHA = "gacha", "Gacha pull"
        REWARD = "reward", "Reward (achievement, event, mission)"

    user = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="inventory")
    item = models.ForeignKey(GachaItem, on_delete=models.PROTECT, related_name="+")
    round = models.ForeignKey(
        GameRound, on_delete=models.PROTECT, related_name="+", null=True, blank=True, help_text="The pull that gave it."
    )
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.GACHA)
    duplicates = models.PositiveIntegerField(
        default=0, help_text="Later draws of it (converted to currency), or later rewards of it (not paid)."
    )
    acquired_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "item"], name="inventory_item_once"),
            models.CheckConstraint(
                condition=Q(source="reward") | Q(round__isnull=False), name="inventory_gacha_item_has_round"
            ),
        ]
        indexes = [models.Index(fields=["user", "-acquired_at"], name="inventory_user_idx")]

    def __str__(self) -> str:
        return f"{self.item} of {self.user_id}"
