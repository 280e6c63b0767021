"""Input and output serializers of the gacha's and the inventory's API (games/api/views.py);
no create()/update() logic."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from casino.serializers import InputSerializer, OutputSerializer
from games.api.serializers import StrictIntegerField


class GachaPullInputSerializer(InputSerializer):
    pull_count = StrictIntegerField(
        required=False, default=1, help_text="1 (cost_single) or 10 (cost_ten); anything else is invalid_choice."
    )
    banner = serializers.SlugField(
        required=False, allow_null=True, default=None, max_length=64, help_text="A banner code; default: the first."
    )


class GachaOddsItemSerializer(OutputSerializer):
    code = serializers.CharField()
    name = serializers.CharField()
    image_url = serializers.CharField(allow_blank=True)


class GachaRarityOddsSerializer(OutputSerializer):
    rarity = serializers.CharField(help_text="legendary, epic, rare or common")
    rank = serializers.IntegerField(help_text="0 = the top rarity (the one pity guarantees).")
    weight = serializers.IntegerField()
    odds = serializers.FloatField(help_text="P(this rarity) of one pull without pity = weight / total weight.")
    odds_exact = serializers.CharField(help_text="The same probability as an exact fraction, e.g. 3/500.")
    duplicate_value = serializers.IntegerField(help_text="What a duplicate converts to, in duplicate_currency.")
    items = GachaOddsItemSerializer(many=True, help_text="Drawn evenly within the rarity.")


class GachaBannerSerializer(OutputSerializer):
    code = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    currency = serializers.CharField()
    cost_single = serializers.IntegerField()
    cost_ten = serializers.IntegerField()
    pity_threshold = serializers.IntegerField(help_text="The top rarity is guaranteed by this pull at the latest.")
    pity_counter = serializers.IntegerField(help_text="The caller's pulls on this banner since the last top rarity.")
    pulls_to_guarantee = serializers.IntegerField(help_text="The pull (from now) that is sure to be top rarity.")
    expected_pulls_to_top = serializers.FloatField(
        help_text="E[pulls to the top rarity] from a counter of 0, pity included (exact formula)."
    )
    duplicate_currency = serializers.CharField()
    rarities = GachaRarityOddsSerializer(many=True, help_text="Top rarity first.")


@extend_schema_field(
    {
        "type": "array",
        "items": {"type": "array", "items": {"oneOf": [{"type": "string"}, {"type": "number"}]}},
        "description": "[[rarity, probability], ...] of the default banner (the earlier client's shape).",
    }
)
class _RarityTableField(serializers.Field):  # type: ignore[type-arg]
    def to_representation(self, value: object) -> object:
        return value


class GachaConfigSerializer(OutputSerializer):
    default_banner = serializers.CharField(allow_null=True, help_text="The banner a pull without `banner` uses.")
    currency = serializers.CharField(allow_null=True)
    cost_single = serializers.IntegerField(allow_null=True, help_text="Of the default banner (null: none open).")
    cost_ten = serializers.IntegerField(allow_null=True, help_text="Of the default banner.")
    pity_threshold = serializers.IntegerField(allow_null=True)
    pity_counter = serializers.IntegerField(help_text="The caller's pity counter on the default banner.")
    rarity_table = _RarityTableField()
    daily_limit = serializers.IntegerField(allow_null=True, help_text="Pulls per UTC day for the caller's VIP tier.")
    pulls_today = serializers.IntegerField()
    pulls_left_today = serializers.IntegerField(allow_null=True, help_text="null: no limit.")
    banners = GachaBannerSerializer(many=True)


class GachaPulledItemSerializer(OutputSerializer):
    name = serializers.CharField()
    rarity = serializers.CharField()
    code = serializers.CharField()
    is_new = serializers.BooleanField(help_text="False: a duplicate, converted to duplicate_value.")
    duplicate_value = serializers.IntegerField()
    pity = serializers.BooleanField(help_text="True: the top rarity forced by the pity counter.")


class GachaFeedbackSerializer(OutputSerializer):
    code = serializers.CharField(help_text="gacha.pull.normal / .epic / .legendary / .pity")
    severity = serializers.CharField(help_text="success or info")
    message = serializers.CharField()


class GachaPullSerializer(OutputSerializer):
    success = serializers.BooleanField()
    round_id = serializers.IntegerField(help_text="GET /api/games/rounds/{id} shows it for verification.")
    banner = serializers.CharField()
    pull_count = serializers.IntegerField()
    items = GachaPulledItemSerializer(many=True)
    cost = serializers.IntegerField(help_text="What the pull cost (the round's bet).")
    currency = serializers.CharField()
    win_amount = serializers.IntegerField(
        help_text="The round's payout: the duplicates' value when they convert to the cost's currency, else 0."
    )
    duplicate_total = serializers.IntegerField(help_text="What this pull's duplicates converted to.")
    duplicate_currency = serializers.CharField()
    balance = serializers.IntegerField(help_text="The caller's balance after the pull (in `currency`).")
    animation_type = serializers.ChoiceField(choices=["normal", "epic", "legendary", "pity"])
    pity_counter = serializers.IntegerField(help_text="Pulls since the last top rarity, after this pull.")
    message = serializers.CharField()
    feedback = GachaFeedbackSerializer()
    replayed = serializers.BooleanField(help_text="True: a retry with the same Idempotency-Key, the first pull.")


class InventoryQuerySerializer(serializers.Serializer[dict]):
    limit = serializers.IntegerField(min_value=1, required=False, help_text="Default 20; more than 100 reads as 100.")
    offset = serializers.IntegerField(min_value=0, required=False)
    banner = serializers.SlugField(required=False, max_length=64, help_text="Only this banner's items.")
    rarity = serializers.ChoiceField(choices=["legendary", "epic", "rare", "common"], required=False)


class InventoryItemSerializer(OutputSerializer):  # InventoryItem rows
    id = serializers.IntegerField(source="pk")
    code = serializers.CharField(source="item.code")
    name = serializers.CharField(source="item.name")
    rarity = serializers.CharField(source="item.rarity")
    image_url = serializers.CharField(source="item.image_url")
    banner = serializers.CharField(source="item.banner.code")
    banner_name = serializers.CharField(source="item.banner.name")
    duplicates = serializers.IntegerField(help_text="Later draws of the item, converted to currency.")
    acquired_at = serializers.DateTimeField()
    # The metaclass takes declared fields off the class, so this does not shadow Field.source.
    source = serializers.CharField(  # type: ignore[assignment]
        help_text="gacha (a pull) or reward (an event, mission or achievement reward)"
    )
    round_id = serializers.IntegerField(allow_null=True, help_text="The pull that first gave it (null: a reward).")
