"""Input and output serializers of games/'s API; no create()/update() logic."""

from __future__ import annotations

from rest_framework import serializers


class RevealedSeedSerializer(serializers.Serializer[dict]):
    server_seed = serializers.CharField()
    server_seed_hash = serializers.CharField()
    client_seed = serializers.CharField()
    last_nonce = serializers.IntegerField(help_text="The nonce of the last round played with it (-1: none).")
    revealed_at = serializers.DateTimeField()


class FairnessSerializer(serializers.Serializer[dict]):
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


class RoundFairnessSerializer(serializers.Serializer[dict]):
    server_seed_hash = serializers.CharField()
    server_seed = serializers.CharField(allow_null=True, help_text="Shown once the seed is rotated.")
    client_seed = serializers.CharField()
    nonce = serializers.IntegerField()


class RoundSerializer(serializers.Serializer[dict]):
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


# --- crash ---------------------------------------------------------------------------------------


# --- rps, history, stats -------------------------------------------------------------------------


# --- gacha, inventory ----------------------------------------------------------------------------
