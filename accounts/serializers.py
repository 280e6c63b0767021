"""The player profile's shape, which other apps embed in their answers (the
dashboard's ``profile``): published here, outside ``accounts.api``, because
no app reaches into another app's API layer."""

from __future__ import annotations

from rest_framework import serializers

from casino.serializers import OutputSerializer


class UserSerializer(OutputSerializer):
    """The player profile. Economy fields (balances, level, streak) are added by
    the economy app when it is installed, so they are optional here."""

    id = serializers.IntegerField()
    site_id = serializers.CharField()
    nickname = serializers.CharField()
    phone_number = serializers.CharField()
    is_active = serializers.BooleanField()
    is_admin = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    last_login = serializers.DateTimeField()
    email = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="The player's email address (empty: none); only in the player's own profile (auth answers, /me).",
    )
    # Economy fields. The client reads the first name present of each group
    # (docs/client-contract.md): gold cyber_token_balance | gold_balance | gold,
    # gems gems_balance | gems, XP experience_points | experience | exp.
    cyber_token_balance = serializers.IntegerField(
        required=False, help_text="Gold (the name most client screens read; same as gold_balance)."
    )
    gold_balance = serializers.IntegerField(required=False, help_text="Gold.")
    gold = serializers.IntegerField(required=False, help_text="Gold (alias).")
    gems_balance = serializers.IntegerField(required=False, help_text="Gems.")
    gems = serializers.IntegerField(required=False, help_text="Gems (alias).")
    vip_points = serializers.IntegerField(required=False)
    vip_tier = serializers.CharField(required=False)
    level = serializers.IntegerField(required=False)
    experience_points = serializers.IntegerField(required=False, help_text="Total XP.")
    exp = serializers.IntegerField(required=False, help_text="Total XP (alias of experience_points).")
    experience = serializers.IntegerField(
        required=False,
        help_text="XP into the current level, the numerator of max_experience (not the total: "
        "the total is experience_points, which the client reads first).",
    )
    max_experience = serializers.IntegerField(required=False, help_text="XP the current level needs to level up.")
    daily_streak = serializers.IntegerField(required=False)
    total_spent = serializers.IntegerField(
        required=False, help_text="Gold paid for purchases and bets, all time (refunds not subtracted)."
    )
