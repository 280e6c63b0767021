"""The player profile's shape, which other apps embed in their answers (the
dashboard's ``profile``): published here, outside ``accounts.api``, because
no app reaches into another app's API layer."""

from __future__ import annotations

from rest_framework import serializers


class UserSerializer(serializers.Serializer):
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
    gold_balance = serializers.IntegerField(required=False)
    gems_balance = serializers.IntegerField(required=False)
    vip_points = serializers.IntegerField(required=False)
    vip_tier = serializers.CharField(required=False)
    level = serializers.IntegerField(required=False)
    experience = serializers.IntegerField(required=False)
    max_experience = serializers.IntegerField(required=False)
    daily_streak = serializers.IntegerField(required=False)
