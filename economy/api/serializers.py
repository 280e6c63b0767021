from __future__ import annotations

from typing import Any

from rest_framework import serializers

from accounts.serializers import UserSerializer
from casino.serializers import InputSerializer, OutputSerializer
from economy.enums import Currency, LedgerReason

# --- Input -----------------------------------------------------------------------


class LedgerFilterSerializer(serializers.Serializer):
    currency = serializers.ChoiceField(choices=Currency.choices, required=False)
    reason = serializers.ChoiceField(choices=LedgerReason.choices, required=False)
    since = serializers.DateTimeField(required=False, help_text="Entries at or after (ISO 8601).")
    until = serializers.DateTimeField(required=False, help_text="Entries before (ISO 8601).")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("since") and attrs.get("until") and attrs["since"] >= attrs["until"]:
            raise serializers.ValidationError({"until": ["Must be after since."]})
        return attrs


class StreakHistoryQuerySerializer(serializers.Serializer):
    year = serializers.IntegerField(min_value=2000, max_value=2100, required=False)
    month = serializers.IntegerField(min_value=1, max_value=12, required=False)


class StreakTickInputSerializer(InputSerializer):
    action_type = serializers.ChoiceField(
        choices=[("DAILY_LOGIN", "Daily login")],
        required=False,
        help_text="What the client records; only DAILY_LOGIN (the default) is a streak here.",
    )


class RecentActionsQuerySerializer(serializers.Serializer):
    limit = serializers.IntegerField(
        min_value=1, required=False, default=20, help_text="At most 100 (a larger limit is read as 100)."
    )


# --- Output ------------------------------------------------------------------------


class BalanceSerializer(OutputSerializer):
    """The wallet under every name the client reads (docs/client-contract.md)."""

    user_id = serializers.IntegerField()
    nickname = serializers.CharField()
    cyber_token_balance = serializers.IntegerField(help_text="Gold: the name most client screens read.")
    gold_balance = serializers.IntegerField(help_text="Gold.")
    gold = serializers.IntegerField(help_text="Gold (alias).")
    gems_balance = serializers.IntegerField(help_text="Gems.")
    gems = serializers.IntegerField(help_text="Gems (alias).")
    vip_points = serializers.IntegerField()
    vip_tier = serializers.CharField()
    level = serializers.IntegerField()
    experience_points = serializers.IntegerField(help_text="Total experience.")
    exp = serializers.IntegerField(help_text="Total experience (alias).")
    experience = serializers.IntegerField(help_text="XP into the current level (the numerator of max_experience).")
    max_experience = serializers.IntegerField(help_text="XP the current level needs to level up.")
    daily_streak = serializers.IntegerField()


class RecentActionSerializer(OutputSerializer):
    id = serializers.IntegerField(help_text="The action's first ledger entry.")
    action_type = serializers.CharField(
        help_text="DAILY_LOGIN, VIP_CLAIM, PURCHASE, PURCHASE_REFUND, SIGNUP_BONUS, EVENT_REWARD, "
        "MISSION_REWARD, ACHIEVEMENT, ADMIN_ADJUSTMENT, GAME_BET, GAME_WIN"
    )
    game_type = serializers.CharField(allow_null=True, help_text="The game of a round; null otherwise.")
    amount = serializers.IntegerField(help_text="Signed change of `currency` (gold when gold moved).")
    currency = serializers.CharField()
    amounts = serializers.DictField(child=serializers.IntegerField(), help_text="Every currency the action moved.")
    reference = serializers.CharField(help_text="What caused it (order:R…, streak:2025-01-01, …).")
    created_at = serializers.DateTimeField()


class LedgerEntrySerializer(OutputSerializer):
    id = serializers.IntegerField()
    currency = serializers.CharField()
    delta = serializers.IntegerField()
    balance_after = serializers.IntegerField()
    reason = serializers.CharField()
    reference = serializers.CharField()
    created_at = serializers.DateTimeField()


class AttendanceDaySerializer(OutputSerializer):
    date = serializers.DateField()
    checked_in = serializers.BooleanField()
    protected = serializers.BooleanField(help_text="Missed, but saved by a protection token.")
    claimed = serializers.BooleanField()


class StreakStatusSerializer(OutputSerializer):
    count = serializers.IntegerField(help_text="The streak as it stands now (0 once broken).")
    current_count = serializers.IntegerField(help_text="Same as count (the client's other name).")
    claimed_today = serializers.BooleanField()
    checked_in_today = serializers.BooleanField()
    claimable = serializers.BooleanField()
    today_reward_gold = serializers.IntegerField()
    today_reward_xp = serializers.IntegerField()
    next_day_reward_gold = serializers.IntegerField()
    next_day_reward_xp = serializers.IntegerField()
    longest = serializers.IntegerField()
    protection_tokens = serializers.IntegerField()
    last_checkin_date = serializers.DateField(allow_null=True)
    last_action_date = serializers.DateField(allow_null=True, help_text="Same as last_checkin_date.")
    attendance_week = AttendanceDaySerializer(many=True, help_text="Sunday to Saturday of the current UTC week.")
    month_count = serializers.IntegerField(help_text="Check-ins this UTC month.")


class StreakTickSerializer(OutputSerializer):
    count = serializers.IntegerField()
    checked_in_now = serializers.BooleanField(help_text="False when today was already recorded.")
    protected_days = serializers.ListField(child=serializers.DateField())
    protection_tokens = serializers.IntegerField()


class StreakClaimSerializer(OutputSerializer):
    streak_count = serializers.IntegerField()
    awarded_gold = serializers.IntegerField()
    awarded_xp = serializers.IntegerField()
    new_gold_balance = serializers.IntegerField()
    claimed_at = serializers.DateTimeField()
    idempotent = serializers.BooleanField(help_text="True when today's reward had already been claimed.")


class StreakHistorySerializer(OutputSerializer):
    year = serializers.IntegerField()
    month = serializers.IntegerField()
    days = serializers.ListField(child=serializers.DateField())
    protected_days = serializers.ListField(child=serializers.DateField())
    claimed_days = serializers.ListField(child=serializers.DateField())


class VipStatusSerializer(OutputSerializer):
    vip_tier = serializers.CharField()
    vip_points = serializers.IntegerField()
    daily_points = serializers.IntegerField()
    claimed_today = serializers.BooleanField()
    last_claim_at = serializers.DateTimeField(allow_null=True)


class VipClaimSerializer(OutputSerializer):
    awarded_points = serializers.IntegerField()
    new_vip_points = serializers.IntegerField()
    claimed_at = serializers.DateTimeField()
    vip_tier = serializers.CharField()
    idempotent = serializers.BooleanField()


class DashboardBalancesSerializer(OutputSerializer):
    cyber_token_balance = serializers.IntegerField(help_text="Gold: the name most client screens read.")
    gold_balance = serializers.IntegerField()
    gold = serializers.IntegerField()
    gems_balance = serializers.IntegerField()
    gems = serializers.IntegerField()
    vip_points = serializers.IntegerField()


class DashboardLevelSerializer(OutputSerializer):
    level = serializers.IntegerField()
    experience = serializers.IntegerField()
    max_experience = serializers.IntegerField()
    total_experience = serializers.IntegerField()


class RewardSerializer(OutputSerializer):
    gold = serializers.IntegerField()
    xp = serializers.IntegerField()


class DashboardStreakSerializer(OutputSerializer):
    count = serializers.IntegerField()
    claimed_today = serializers.BooleanField()
    next_reward = RewardSerializer(help_text="Today's reward if unclaimed, else tomorrow's.")
    attendance_week = AttendanceDaySerializer(many=True)
    protection_tokens = serializers.IntegerField()


class DashboardSerializer(OutputSerializer):
    profile = UserSerializer()
    balances = DashboardBalancesSerializer()
    level = DashboardLevelSerializer()
    streak = DashboardStreakSerializer()
    vip = VipStatusSerializer()
    events = serializers.ListField(child=serializers.DictField())
    missions = serializers.ListField(child=serializers.DictField())
    shop_highlights = serializers.ListField(child=serializers.DictField())
