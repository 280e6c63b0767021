"""Input and output serializers of games/'s API; no create()/update() logic."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from casino.serializers import InputSerializer, OutputSerializer
from games.enums import Game


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer only. DRF's IntegerField also takes "100", 100.0 and true; a bet must be
    refused as what it is (validation_error) before any service runs. Shared by the games."""

    def to_internal_value(self, data: object) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class RevealedSeedSerializer(OutputSerializer):
    server_seed = serializers.CharField()
    server_seed_hash = serializers.CharField()
    client_seed = serializers.CharField()
    last_nonce = serializers.IntegerField(help_text="The nonce of the last round played with it (-1: none).")
    revealed_at = serializers.DateTimeField()


class FairnessSerializer(OutputSerializer):
    server_seed_hash = serializers.CharField(
        allow_null=True, help_text="SHA-256 of the server seed in use (null until the first round)."
    )
    client_seed = serializers.CharField(allow_null=True)
    nonce = serializers.IntegerField(help_text="The nonce of the next round.")
    previous = RevealedSeedSerializer(allow_null=True, help_text="The last seed revealed by a rotation.")


class RotateSerializer(serializers.Serializer[dict]):
    client_seed = serializers.RegexField(
        r"^[A-Za-z0-9_-]{1,64}$", required=False, help_text="The client seed for the new server seed."
    )


class ClientSeedSerializer(serializers.Serializer[dict]):
    client_seed = serializers.RegexField(r"^[A-Za-z0-9_-]{1,64}$", max_length=64)


class RoundFairnessSerializer(OutputSerializer):
    server_seed_hash = serializers.CharField()
    server_seed = serializers.CharField(allow_null=True, help_text="Shown once the seed is rotated.")
    client_seed = serializers.CharField()
    nonce = serializers.IntegerField()


class RoundSerializer(OutputSerializer):
    """A round as tools/verify_round.py reads it (docs/fairness.md)."""

    id = serializers.IntegerField()
    game = serializers.CharField()
    status = serializers.CharField(help_text="open (a live crash round) or settled")
    result = serializers.CharField(allow_null=True, help_text="win / lose / draw once settled")
    currency = serializers.CharField()
    bet_amount = serializers.IntegerField()
    payout = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    settled_at = serializers.DateTimeField(allow_null=True)
    fairness = RoundFairnessSerializer()
    inputs = serializers.DictField(help_text="What the player asked for and the configuration the round used.")
    outcome = serializers.DictField(allow_null=True, help_text="What the fair bytes decided; null while open.")


# --- slots ---------------------------------------------------------------------------------------


class SlotSpinInputSerializer(InputSerializer):
    bet_amount = StrictIntegerField(
        help_text="A JSON integer within the game's min_bet..max_bet (else bet_out_of_range)."
    )


class SlotFeedbackSerializer(OutputSerializer):
    code = serializers.CharField(help_text="slot.jackpot / slot.win / slot.loss")
    severity = serializers.CharField(help_text="success / info / loss")
    message = serializers.CharField()


class SlotWinLineSerializer(OutputSerializer):
    symbol = serializers.CharField(help_text="The rule's symbol code.")
    emoji = serializers.CharField()
    count = serializers.IntegerField(help_text="The first `count` reels from the left show the symbol.")
    positions = serializers.ListField(child=serializers.IntegerField(), help_text="The reels (0-based) that match.")
    multiplier = serializers.CharField(help_text="The rule's multiplier, a decimal string.")
    payout = serializers.IntegerField(help_text="floor(bet x multiplier)")
    is_jackpot = serializers.BooleanField()


class SlotSpinSerializer(OutputSerializer):
    success = serializers.BooleanField()
    round_id = serializers.IntegerField(help_text="GET /api/games/rounds/{round_id} to verify it.")
    reels = serializers.ListField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="[[left, middle, right]]: the payline as emoji (the client reads reels[0]).",
    )
    symbols = serializers.ListField(child=serializers.CharField(), help_text="The payline as symbol codes.")
    stops = serializers.ListField(child=serializers.IntegerField(), help_text="The stop of each reel strip.")
    bet_amount = serializers.IntegerField()
    win_amount = serializers.IntegerField(help_text="What the spin paid (0 on a loss); the bet is not included.")
    net_change = serializers.IntegerField(help_text="win_amount - bet_amount")
    multiplier = serializers.FloatField(help_text="win_amount / bet_amount to 2 decimals (0 on a loss).")
    is_jackpot = serializers.BooleanField()
    win_lines = SlotWinLineSerializer(many=True, help_text="The winning rule; empty on a loss.")
    balance = serializers.IntegerField(help_text="The player's balance after the spin.")
    currency = serializers.CharField()
    table_version = serializers.IntegerField(help_text="The slot table version the spin used.")
    message = serializers.CharField()
    feedback = SlotFeedbackSerializer()
    replayed = serializers.BooleanField(help_text="true: a retry with the same Idempotency-Key (the first spin).")


class SlotSymbolSerializer(OutputSerializer):
    code = serializers.CharField()
    name = serializers.CharField()
    emoji = serializers.CharField()


class SlotReelSerializer(OutputSerializer):
    reel = serializers.IntegerField(help_text="0 = leftmost")
    stops = serializers.IntegerField(help_text="Stops on the strip (the sum of the weights).")
    weights = serializers.DictField(child=serializers.IntegerField(), help_text="symbol -> stops showing it")


class SlotPayRuleSerializer(OutputSerializer):
    symbol = serializers.CharField()
    emoji = serializers.CharField()
    count = serializers.IntegerField(help_text="The first `count` reels from the left show the symbol.")
    multiplier = serializers.CharField(help_text="Pays floor(bet x multiplier); a decimal string.")
    is_jackpot = serializers.BooleanField()
    probability = serializers.CharField(help_text="Exact probability that this rule is the win (a fraction).")
    rtp_share = serializers.CharField(help_text="Its share of the RTP, in percent.")


class SlotConfigSerializer(OutputSerializer):
    game = serializers.CharField()
    is_enabled = serializers.BooleanField()
    min_bet = serializers.IntegerField()
    max_bet = serializers.IntegerField()
    currency = serializers.CharField()
    table_version = serializers.IntegerField()
    digest = serializers.CharField(help_text="SHA-256 of the canonical JSON of the strips and the paytable.")
    rtp = serializers.CharField(help_text="Declared RTP in percent (4 decimals), computed exactly by enumeration.")
    rtp_exact = serializers.CharField(help_text="The RTP as an exact fraction.")
    hit_frequency = serializers.CharField(help_text="Percent of spins that win something (4 decimals).")
    hit_frequency_exact = serializers.CharField()
    jackpot_probability = serializers.CharField(help_text="Exact, as a fraction.")
    jackpot_odds = serializers.CharField(allow_null=True)
    combinations = serializers.IntegerField(help_text="Equally likely stop combinations.")
    symbols = SlotSymbolSerializer(many=True)
    reels = SlotReelSerializer(many=True)
    paytable = SlotPayRuleSerializer(many=True)


# --- crash ---------------------------------------------------------------------------------------


@extend_schema_field(
    {
        "oneOf": [{"type": "number"}, {"type": "string", "pattern": r"^\d{1,4}(\.\d{1,2})?$"}],
        "nullable": True,
        "example": "2.00",
    }
)
class _CrashMultiplierField(serializers.Field[Decimal, Decimal, Decimal, Any]):
    """A multiplier as a JSON number (the existing client sends 2.5) or a decimal string ("2.50"),
    read exactly (2.5 -> Decimal("2.5"), never a binary float). Range and places are the service's
    to judge (``invalid_auto_cashout``)."""

    default_error_messages = {"invalid": 'A multiplier is a number such as 2.5 or a string such as "2.50".'}

    def to_internal_value(self, data: object) -> Decimal:
        if isinstance(data, bool) or not isinstance(data, int | float | str) or len(str(data)) > 32:
            self.fail("invalid")
        try:
            value = Decimal(str(data).strip())
        except InvalidOperation:
            self.fail("invalid")
        if not value.is_finite():
            self.fail("invalid")
        return value

    def to_representation(self, value: Decimal) -> Decimal:
        return value


class CrashBetSerializer(InputSerializer):
    bet_amount = StrictIntegerField(help_text="A whole number within the game's limits (bet_out_of_range).")
    auto_cashout_multiplier = _CrashMultiplierField(
        required=False,
        allow_null=True,
        help_text="1.01 ... 1000.00, two decimals at most: the round settles in this request. "
        "Absent or null: a live round on the server clock; cash out with POST /api/games/crash/cashout.",
    )


class CrashCashoutSerializer(InputSerializer):
    game_id = StrictIntegerField(min_value=1, help_text="The game_id of the bet response.")


class CrashRoundSerializer(OutputSerializer):
    """A crash round. ``max_multiplier`` (the crash point) only once the round is over."""

    game_id = serializers.IntegerField(help_text="The round's id (GET /api/games/crash/{game_id}, /rounds/{id}).")
    status = serializers.CharField(
        help_text="running / auto_cashed / cashed_out / lost. running: live, cash out before it crashes; "
        "auto_cashed: a round with an auto cash-out target that paid out before the crash (the client shows a "
        "win on this word); cashed_out: a round without one, cashed out by hand or at the cap before the crash; "
        "lost: it crashed first.",
    )
    result = serializers.CharField(
        allow_null=True, help_text="win / draw (cashed out at 1.00) / lose; null while running"
    )
    bet_amount = serializers.IntegerField()
    win_amount = serializers.IntegerField(help_text="What was paid: floor(stake x cash-out multiplier), or 0.")
    balance = serializers.IntegerField(help_text="The player's balance in the game's currency after this.")
    currency = serializers.CharField()
    auto_cashout_multiplier = serializers.CharField(allow_null=True)
    cashout_multiplier = serializers.CharField(
        allow_null=True, help_text="Where the stake was cashed out (null while running or if it crashed first)."
    )
    started_at = serializers.DateTimeField(help_text="Server time the multiplier started growing from.")
    server_time = serializers.DateTimeField(help_text="Server time of this answer (to sync the client's clock).")
    settled_at = serializers.DateTimeField(allow_null=True)
    multiplier_formula = serializers.CharField()
    growth_per_ms = serializers.FloatField(help_text="multiplier(t) = floor(100 * e^(growth_per_ms * t_ms)) / 100")
    max_cashout_multiplier = serializers.CharField(help_text="A live round still running here pays out by itself.")
    elapsed_ms = serializers.IntegerField(required=False, help_text="While running: ms since started_at.")
    current_multiplier = serializers.CharField(required=False, help_text="While running: the multiplier now.")
    max_multiplier = serializers.CharField(
        required=False, help_text="The crash point: only once the round is over (absent while it runs)."
    )


# --- rps, history, stats -------------------------------------------------------------------------


@extend_schema_field({"type": "string", "enum": ["rock", "paper", "scissors"]})
class RpsChoiceField(serializers.Field):  # type: ignore[type-arg]
    """Passed through as sent: the service refuses anything but a move with ``invalid_choice``."""

    def to_internal_value(self, data: object) -> object:
        return data

    def to_representation(self, value: object) -> object:
        return value


class RpsPlayInputSerializer(InputSerializer):
    choice = RpsChoiceField(
        required=False,
        allow_null=True,
        help_text="rock, paper or scissors (any letter case); anything else is invalid_choice.",
    )
    bet_amount = StrictIntegerField(help_text="A JSON integer within the game's min_bet..max_bet.")


class RpsFeedbackSerializer(OutputSerializer):
    code = serializers.CharField(help_text="rps.win, rps.draw or rps.loss")
    severity = serializers.CharField(help_text="success, info or loss")
    message = serializers.CharField()


class RpsPlaySerializer(OutputSerializer):
    success = serializers.BooleanField()
    round_id = serializers.IntegerField(help_text="GET /api/games/rounds/{id} shows it for verification.")
    player_choice = serializers.CharField()
    computer_choice = serializers.CharField()
    result = serializers.ChoiceField(choices=["win", "lose", "draw"])
    bet_amount = serializers.IntegerField()
    win_amount = serializers.IntegerField(help_text="What the round paid: bet x multiplier, the bet on a draw, 0.")
    net_change = serializers.IntegerField(help_text="win_amount - bet_amount")
    win_multiplier = serializers.CharField(help_text="What a win pays per unit bet (a decimal string).")
    balance = serializers.IntegerField(help_text="The player's balance after the round (in `currency`).")
    currency = serializers.CharField()
    message = serializers.CharField()
    feedback = RpsFeedbackSerializer()
    replayed = serializers.BooleanField(help_text="True: a retry with the same Idempotency-Key, the first round.")


class GameHistoryQuerySerializer(serializers.Serializer[dict]):
    limit = serializers.IntegerField(min_value=1, required=False, help_text="Default 20; more than 100 reads as 100.")
    offset = serializers.IntegerField(min_value=0, max_value=2**31 - 1, required=False)
    game = serializers.ChoiceField(choices=Game.choices, required=False, help_text="Only this game's rounds.")
    game_type = serializers.ChoiceField(choices=Game.choices, required=False, help_text="Alias of `game`.")
    date_from = serializers.DateField(required=False, help_text="Rounds on or after this UTC date (YYYY-MM-DD).")
    date_to = serializers.DateField(required=False, help_text="Rounds on or before this UTC date (YYYY-MM-DD).")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("game") and attrs.get("game_type") and attrs["game"] != attrs["game_type"]:
            raise serializers.ValidationError({"game_type": ["Must match game when both are given."]})
        if attrs.get("date_from") and attrs.get("date_to") and attrs["date_from"] > attrs["date_to"]:
            raise serializers.ValidationError({"date_to": ["Must not be before date_from."]})
        return attrs


class GameHistoryItemSerializer(OutputSerializer):
    id = serializers.IntegerField(help_text="The round's id (GET /api/games/rounds/{id}).")
    game_type = serializers.CharField(help_text="slot, crash, rps or gacha")
    action_type = serializers.CharField(
        help_text="WIN (paid more than the bet), DRAW (the bet back) or BET (anything else, or still running)"
    )
    amount = serializers.IntegerField(help_text="The round's net effect on the balance: win_amount - bet_amount.")
    result = serializers.CharField(allow_null=True, help_text="win, lose or draw; null while a crash round runs.")
    status = serializers.CharField(help_text="settled, or open (a live crash round)")
    currency = serializers.CharField()
    bet_amount = serializers.IntegerField()
    win_amount = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    settled_at = serializers.DateTimeField(allow_null=True)


class GameHistoryPageSerializer(OutputSerializer):
    items = GameHistoryItemSerializer(many=True)
    total = serializers.IntegerField()
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()
    next = serializers.CharField(allow_null=True)
    previous = serializers.CharField(allow_null=True)


class GameStatsSerializer(OutputSerializer):
    plays = serializers.IntegerField(help_text="Settled rounds.")
    spins = serializers.IntegerField(help_text="= plays (the client's name for slot and gacha).")
    bets = serializers.IntegerField(help_text="= plays (the client's name for crash).")
    wins = serializers.IntegerField(help_text="Rounds that paid more than the bet.")
    losses = serializers.IntegerField(help_text="Rounds that paid less than the bet.")
    draws = serializers.IntegerField(help_text="Rounds that paid the bet back.")
    ties = serializers.IntegerField(help_text="= draws (the client's name for rps).")
    win_rate = serializers.FloatField(help_text="wins / plays in percent, 0-100, two decimals.")
    max_win = serializers.IntegerField(help_text="The largest payout of a won round.")
    total_bet = serializers.IntegerField(help_text="The sum of the bets.")
    total_won = serializers.IntegerField(help_text="The sum of the payouts.")
    net_profit = serializers.IntegerField(help_text="total_won - total_bet")
    current_win_streak = serializers.IntegerField(help_text="Wins since the last loss (draws neither count nor break).")
    best_win_streak = serializers.IntegerField()
    updated_at = serializers.DateTimeField(allow_null=True)


class CrashGameStatsSerializer(GameStatsSerializer):
    max_multiplier = serializers.FloatField(allow_null=True, help_text="The best multiplier cashed out at.")


class GachaGameStatsSerializer(GameStatsSerializer):
    rare_wins = serializers.IntegerField(help_text="Items of rarity rare pulled.")
    ultra_rare_wins = serializers.IntegerField(help_text="Items of rarity epic or legendary pulled.")


class GameBreakdownSerializer(OutputSerializer):
    slot = GameStatsSerializer()
    crash = CrashGameStatsSerializer()
    gacha = GachaGameStatsSerializer()
    rps = GameStatsSerializer()


class PlayerGameStatsSerializer(OutputSerializer):
    user_id = serializers.IntegerField()
    total_games_played = serializers.IntegerField(help_text="Settled rounds of every game.")
    total_bets = serializers.IntegerField(help_text="= total_games_played: the number of bets settled.")
    total_wins = serializers.IntegerField()
    total_losses = serializers.IntegerField()
    total_draws = serializers.IntegerField()
    win_rate = serializers.FloatField(help_text="total_wins / total_games_played in percent, 0-100.")
    total_bet_amount = serializers.IntegerField(help_text="The sum of the bets.")
    total_won_amount = serializers.IntegerField(help_text="The sum of the payouts.")
    total_profit = serializers.IntegerField(help_text="total_won_amount - total_bet_amount")
    overall_max_win = serializers.IntegerField(help_text="The largest payout of a won round, any game.")
    highest_multiplier = serializers.FloatField(allow_null=True, help_text="= game_breakdown.crash.max_multiplier")
    current_win_streak = serializers.IntegerField(help_text="The current streak of the game played last.")
    best_win_streak = serializers.IntegerField(help_text="The best streak of any game.")
    updated_at = serializers.DateTimeField(allow_null=True, help_text="When a round last changed them.")
    game_breakdown = GameBreakdownSerializer()


class GameStatsMeSerializer(OutputSerializer):
    success = serializers.BooleanField()
    stats = PlayerGameStatsSerializer()


# --- leaderboards --------------------------------------------------------------------------------


from games.services.leaderboards import BOARD_GAMES, METRICS, PERIODS  # noqa: E402


class LeaderboardQuerySerializer(serializers.Serializer[dict]):
    game = serializers.ChoiceField(
        choices=list(BOARD_GAMES), default="all", help_text="One game's board, or `all` (every game together)."
    )
    period = serializers.ChoiceField(
        choices=list(PERIODS), default="weekly", help_text="`weekly`: this ISO week (UTC, from Monday 00:00)."
    )
    metric = serializers.ChoiceField(
        choices=list(METRICS),
        default="biggest_win",
        help_text="`biggest_win`: the largest payout of a won round; `total_won`: the sum of payouts; "
        "`rounds_played`: settled rounds. Gold rounds only.",
    )
    limit = serializers.IntegerField(min_value=1, max_value=100, default=10, help_text="Entries (1-100).")


class LeaderboardEntrySerializer(OutputSerializer):
    rank = serializers.IntegerField(help_text="1 = first; ties go to who got there first, so ranks are unique.")
    nickname = serializers.CharField()
    value = serializers.IntegerField()


class LeaderboardMeSerializer(OutputSerializer):
    rank = serializers.IntegerField(allow_null=True, help_text="The caller's rank, wherever it is; null: not on it.")
    value = serializers.IntegerField(help_text="The caller's value (0 when not on the board).")


class LeaderboardSerializer(OutputSerializer):
    game = serializers.CharField()
    period = serializers.CharField()
    metric = serializers.CharField()
    period_key = serializers.CharField(help_text="`2025-W07` (ISO year and week) or `all`.")
    resets_at = serializers.DateTimeField(allow_null=True, help_text="When a weekly board starts over (UTC).")
    entries = LeaderboardEntrySerializer(many=True)
    me = LeaderboardMeSerializer()
