"""Input and output serializers of events/'s API; no create()/update() logic. The answers'
serializers are :class:`~casino.serializers.OutputSerializer` classes: their fields are built once per
class, not deep-copied on every request (half a missions list's CPU)."""

from rest_framework import serializers

from casino.serializers import InputSerializer, OutputSerializer

# --- events --------------------------------------------------------------------------------------


class EventRewardsSerializer(OutputSerializer):
    gold = serializers.IntegerField()
    gems = serializers.IntegerField()
    exp = serializers.IntegerField(help_text="Experience points (the earlier API's name).")
    xp = serializers.IntegerField(help_text="Experience points (the missions' name).")
    items = serializers.ListField(child=serializers.CharField(), help_text="Item codes granted with the reward.")


class EventRequirementSerializer(OutputSerializer):
    key = serializers.CharField(help_text="The key in `requirements` and `progress`: the metric, or `metric:game`.")
    metric = serializers.CharField(help_text="A metric of the registry (docs/live-ops.md).")
    game = serializers.CharField(help_text="Only rounds of this game count (empty: any game).")
    target = serializers.IntegerField()
    # The metaclass pops declared fields off the class, so this shadows Field.label only for mypy.
    label = serializers.CharField(help_text="For people, e.g. `Amount bet ≥ 1,000`.")  # type: ignore[assignment]


class UserParticipationSerializer(OutputSerializer):
    joined = serializers.BooleanField()
    progress = serializers.DictField(
        child=serializers.IntegerField(), help_text="Requirement key -> value counted so far (empty until joined)."
    )
    completed = serializers.BooleanField()
    claimed = serializers.BooleanField()
    progress_version = serializers.IntegerField(help_text="Goes up by one with every change of progress.")
    joined_at = serializers.DateTimeField(allow_null=True)
    completed_at = serializers.DateTimeField(allow_null=True)
    claimed_at = serializers.DateTimeField(allow_null=True)


class PublicEventSerializer(OutputSerializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    description = serializers.CharField()
    event_type = serializers.CharField(help_text="challenge, tournament, seasonal or special.")
    status = serializers.CharField(help_text="upcoming, running or ended (at the time of the answer).")
    start_date = serializers.DateTimeField()
    end_date = serializers.DateTimeField()
    is_active = serializers.BooleanField()
    rewards = EventRewardsSerializer()
    requirements = serializers.DictField(
        child=serializers.IntegerField(), help_text="Requirement key (metric, or `metric:game`) -> target."
    )
    requirement_list = EventRequirementSerializer(many=True)
    image_url = serializers.CharField()
    priority = serializers.IntegerField(help_text="Higher first.")
    participation_count = serializers.IntegerField(help_text="Players who joined.")


class EventSerializer(PublicEventSerializer):
    created_at = serializers.DateTimeField()
    user_participation = UserParticipationSerializer(help_text="The caller's own participation.")


class EventJoinInputSerializer(InputSerializer):
    event_id = serializers.IntegerField(min_value=1)


class EventParticipationSerializer(OutputSerializer):
    id = serializers.IntegerField()
    user_id = serializers.IntegerField()
    event_id = serializers.IntegerField()
    joined = serializers.BooleanField()
    progress = serializers.DictField(child=serializers.IntegerField(), help_text="Requirement key -> value.")
    progress_version = serializers.IntegerField()
    completed = serializers.BooleanField()
    claimed = serializers.BooleanField()
    claimed_rewards = serializers.BooleanField(help_text="The same as `claimed` (the earlier API's name).")
    joined_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(allow_null=True)
    claimed_at = serializers.DateTimeField(allow_null=True)


class EventRewardItemSerializer(OutputSerializer):
    type = serializers.CharField(help_text="gold, gems, exp, or item.")
    amount = serializers.IntegerField()
    code = serializers.CharField(required=False, help_text="The item's code (type item only).")


class EventClaimSerializer(OutputSerializer):
    success = serializers.BooleanField()
    claimed = serializers.BooleanField()
    message = serializers.CharField()
    event_id = serializers.IntegerField()
    rewards = EventRewardsSerializer()
    reward_items = EventRewardItemSerializer(many=True)
    awarded_gold = serializers.IntegerField()
    awarded_gems = serializers.IntegerField()
    awarded_exp = serializers.IntegerField()
    new_balance = serializers.IntegerField(help_text="Gold after the claim.")
    cyber_token_balance = serializers.IntegerField(help_text="Gold after the claim (the client's name).")
    gold_balance = serializers.IntegerField()
    gems_balance = serializers.IntegerField()
    progress_version = serializers.IntegerField()
    claimed_at = serializers.DateTimeField()


# --- missions ------------------------------------------------------------------------------------


class MissionRewardsSerializer(OutputSerializer):
    gold = serializers.IntegerField()
    gems = serializers.IntegerField()
    xp = serializers.IntegerField()
    exp = serializers.IntegerField(help_text="The same as `xp` (the earlier API's name).")
    items = serializers.ListField(child=serializers.CharField(), help_text="Item codes granted with the reward.")


class MissionDefinitionSerializer(OutputSerializer):
    id = serializers.IntegerField(help_text="The mission (template) id: the one `claim/{mission_id}` takes.")
    code = serializers.CharField()
    title = serializers.CharField()
    description = serializers.CharField()
    mission_type = serializers.ChoiceField(choices=["daily", "weekly"])
    reset_period = serializers.CharField(help_text="The same as `mission_type`: daily or weekly.")
    category = serializers.CharField()
    target_type = serializers.CharField(help_text="The metric counted (docs/live-ops.md lists them).")
    game = serializers.CharField(allow_null=True, help_text="Only rounds of this game count (null: any game).")
    target_value = serializers.IntegerField()
    rewards = MissionRewardsSerializer()
    icon = serializers.CharField()
    sort_order = serializers.IntegerField()


class PlayerMissionSerializer(OutputSerializer):
    id = serializers.IntegerField(
        allow_null=True, help_text="The player's instance for this period (null until the first progress)."
    )
    mission_id = serializers.IntegerField()
    mission = MissionDefinitionSerializer()
    current_progress = serializers.IntegerField()
    target_value = serializers.IntegerField(help_text="The target of this period's instance.")
    completed = serializers.BooleanField()
    claimed = serializers.BooleanField()
    completed_at = serializers.DateTimeField(allow_null=True)
    claimed_at = serializers.DateTimeField(allow_null=True)
    period_start = serializers.DateField(help_text="The UTC day, or the Monday of the ISO week.")
    reset_at = serializers.DateTimeField(help_text="When this period ends and the mission starts again (UTC).")


class MissionRewardItemSerializer(OutputSerializer):
    type = serializers.CharField(help_text="gold, gems, exp, or item (then `code`).")
    amount = serializers.IntegerField()
    code = serializers.CharField(required=False)


class MissionClaimSerializer(OutputSerializer):
    success = serializers.BooleanField()
    claimed = serializers.BooleanField()
    message = serializers.CharField()
    mission_id = serializers.IntegerField()
    rewards = MissionRewardsSerializer()
    reward_items = MissionRewardItemSerializer(many=True)
    awarded_gold = serializers.IntegerField()
    new_balance = serializers.IntegerField(help_text="Gold after the claim.")
    cyber_token_balance = serializers.IntegerField(help_text="Gold after the claim (the client's name).")
    gold_balance = serializers.IntegerField()
    gems_balance = serializers.IntegerField()
    balances = serializers.DictField(child=serializers.IntegerField(), help_text="Every balance after the claim.")
    current_progress = serializers.IntegerField()
    target_value = serializers.IntegerField()
    claimed_at = serializers.DateTimeField()
    period_start = serializers.DateField()
    reset_at = serializers.DateTimeField()


# --- achievements --------------------------------------------------------------------------------


class AchievementRewardsSerializer(OutputSerializer):
    gold = serializers.IntegerField()
    gems = serializers.IntegerField()
    xp = serializers.IntegerField()
    items = serializers.ListField(
        child=serializers.CharField(), help_text="Gacha item codes put in the inventory on unlock."
    )


class AchievementSerializer(OutputSerializer):
    id = serializers.IntegerField()
    code = serializers.CharField()
    title = serializers.CharField()
    description = serializers.CharField()
    icon = serializers.CharField()
    metric = serializers.CharField(help_text="The metric counted (docs/live-ops.md lists them).")
    game = serializers.CharField(allow_null=True, help_text="Only rounds of this game count (null: any game).")
    threshold = serializers.IntegerField(help_text="The metric's value that unlocks it.")
    hidden = serializers.BooleanField(
        help_text="A secret achievement: listed only to players who unlocked it (never to others)."
    )
    rewards = AchievementRewardsSerializer()


class AchievementCatalogueSerializer(OutputSerializer):
    items = AchievementSerializer(many=True)


class PlayerAchievementSerializer(AchievementSerializer):
    threshold = serializers.IntegerField(
        help_text="The value the caller's progress counts towards (the one it unlocked at, once unlocked)."
    )
    progress = serializers.IntegerField(help_text="The caller's value of the metric (frozen once unlocked).")
    unlocked = serializers.BooleanField()
    unlocked_at = serializers.DateTimeField(allow_null=True)


class AchievementSummarySerializer(OutputSerializer):
    unlocked = serializers.IntegerField()
    total = serializers.IntegerField(help_text="Achievements listed (the caller may see).")
    hidden_remaining = serializers.IntegerField(help_text="Secret achievements the caller has not unlocked yet.")


class PlayerAchievementsSerializer(OutputSerializer):
    items = PlayerAchievementSerializer(many=True)
    summary = AchievementSummarySerializer()
