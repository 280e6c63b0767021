"""Reward campaigns become campaigns: a message and/or a reward to a target, over in-app, Web
Push and email, scheduled, with one delivery row per (campaign, player).

* ``RewardCampaign`` is renamed ``Campaign`` (its table and content type follow; its default
  permissions are renamed too, so the groups holding ``view_rewardcampaign`` hold
  ``view_campaign``), ``name`` becomes ``title``, and a campaign may now carry no reward (a
  plain message): the non-empty-bundle CHECK gives way to "a channel or a reward".
* Statuses: queued and running become sending (their job is queued or running and will finish
  them with the new runner), done becomes sent, failed stays.
* Every existing campaign gets its delivery rows, from its list of players and the ledger: a
  player holding the campaign's grant (reference ``campaign:{id}``) has ``reward = granted``.
  The grant key ``campaign:{id}:{user}`` is unchanged, so a campaign still sending pays nobody
  twice.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

OLD_STATUSES = {"queued": "sending", "running": "sending", "done": "sent", "failed": "failed"}
DEFAULT_ACTIONS = ("add", "change", "delete", "view")
OUTCOMES = [
    ("", "-"),
    ("sent", "Sent"),
    ("granted", "Granted"),
    ("queued", "Queued"),
    ("sending", "Sending"),
    ("unconfirmed", "Unconfirmed"),
    ("opted_out", "Opted out"),
    ("no_email", "No email address"),
    ("no_device", "No push subscription"),
    ("failed", "Failed"),
]


def forward(apps, schema_editor):
    alias = schema_editor.connection.alias
    campaigns = apps.get_model("economy", "Campaign").objects.using(alias)
    deliveries = apps.get_model("economy", "CampaignDelivery")
    ledger = apps.get_model("economy", "LedgerEntry").objects.using(alias)
    users = apps.get_model(*settings.AUTH_USER_MODEL.split(".")).objects.using(alias)
    for campaign in campaigns.order_by("pk"):
        campaign.status = OLD_STATUSES.get(campaign.status, campaign.status)
        described = campaign.target_description or ""
        campaign.target = "upload" if described.startswith(("uploaded list", "pasted list")) else "selection"
        campaign.started_at = campaign.created_at
        finished = campaign.status in ("sent", "failed")
        paid = set(
            ledger.filter(reference=f"campaign:{campaign.pk}", reason="campaign_reward")
            .values_list("wallet_id", flat=True)
            .distinct()
        )
        named = [int(user_id) for user_id in campaign.user_ids or []]
        existing: set[int] = set()
        for start in range(0, len(named), 5000):
            chunk = named[start : start + 5000]
            existing.update(users.filter(pk__in=chunk).values_list("pk", flat=True))
        rows = []
        for user_id in dict.fromkeys(named):
            if user_id not in existing:
                continue
            if user_id in paid:
                rows.append(
                    deliveries(
                        campaign_id=campaign.pk,
                        user_id=user_id,
                        status="done",
                        reward="granted",
                        processed_at=campaign.finished_at or campaign.created_at,
                    )
                )
            elif finished:
                rows.append(
                    deliveries(
                        campaign_id=campaign.pk,
                        user_id=user_id,
                        status="done",
                        reward="failed",
                        error="not granted by the reward campaign",
                        processed_at=campaign.finished_at or campaign.created_at,
                    )
                )
            else:
                rows.append(deliveries(campaign_id=campaign.pk, user_id=user_id))
        deliveries.objects.using(alias).bulk_create(rows, batch_size=1000, ignore_conflicts=True)
        campaign.targeted = len(rows)
        campaign.save(update_fields=["status", "target", "started_at", "targeted"])
    # The default permissions follow the model's new name (the content type was renamed by Django).
    permissions = apps.get_model("auth", "Permission").objects.using(alias)
    for action in DEFAULT_ACTIONS:
        old = permissions.filter(content_type__app_label="economy", codename=f"{action}_rewardcampaign")
        taken = permissions.filter(content_type__app_label="economy", codename=f"{action}_campaign")
        if not taken.exists():
            old.update(codename=f"{action}_campaign", name=f"Can {action} campaign")


def backward(apps, schema_editor):
    alias = schema_editor.connection.alias
    campaigns = apps.get_model("economy", "Campaign").objects.using(alias)
    reverse_statuses = {"draft": "queued", "scheduled": "queued", "sending": "running", "sent": "done"}
    for status, old in reverse_statuses.items():
        campaigns.filter(status=status).update(status=old)
    campaigns.filter(status="cancelled").update(status="failed")
    permissions = apps.get_model("auth", "Permission").objects.using(alias)
    for action in DEFAULT_ACTIONS:
        taken = permissions.filter(content_type__app_label="economy", codename=f"{action}_rewardcampaign")
        if not taken.exists():
            permissions.filter(content_type__app_label="economy", codename=f"{action}_campaign").update(
                codename=f"{action}_rewardcampaign", name=f"Can {action} reward campaign"
            )


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("economy", "0006_segments"),
        ("realtime", "0005_notifications"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RenameModel(old_name="RewardCampaign", new_name="Campaign"),
        migrations.RemoveConstraint(model_name="campaign", name="campaign_bundle_not_empty"),
        migrations.RenameField(model_name="campaign", old_name="name", new_name="title"),
        migrations.AlterField(
            model_name="campaign",
            name="title",
            field=models.CharField(help_text="The notification's title and the email's subject.", max_length=120),
        ),
        migrations.AddField(
            model_name="campaign",
            name="message",
            field=models.TextField(blank=True, help_text="The notification's and the email's text."),
        ),
        migrations.AddField(
            model_name="campaign",
            name="in_app",
            field=models.BooleanField(default=False, help_text="A notification in the player's inbox (and socket)."),
        ),
        migrations.AddField(
            model_name="campaign",
            name="push",
            field=models.BooleanField(
                default=False, help_text="The inbox notification as Web Push to the player's browsers."
            ),
        ),
        migrations.AddField(
            model_name="campaign",
            name="email",
            field=models.BooleanField(default=False, help_text="An email to the player's address."),
        ),
        migrations.AddField(
            model_name="campaign",
            name="target",
            field=models.CharField(
                choices=[
                    ("all", "All active players"),
                    ("segment", "A saved segment"),
                    ("upload", "An uploaded list of ids"),
                    ("selection", "A selection of the player list"),
                ],
                default="selection",
                max_length=16,
            ),
        ),
        migrations.AddField(
            model_name="campaign",
            name="segment",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="campaigns",
                to="economy.segment",
            ),
        ),
        migrations.AlterField(
            model_name="campaign",
            name="user_ids",
            field=models.JSONField(
                blank=True, default=list, help_text="The players of an uploaded list or a selection (user ids)."
            ),
        ),
        migrations.AlterField(
            model_name="campaign",
            name="status",
            field=models.CharField(
                choices=[
                    ("draft", "Draft"),
                    ("scheduled", "Scheduled"),
                    ("sending", "Sending"),
                    ("sent", "Sent"),
                    ("cancelled", "Cancelled"),
                    ("failed", "Failed"),
                ],
                default="draft",
                max_length=16,
            ),
        ),
        migrations.AddField(
            model_name="campaign",
            name="scheduled_at",
            field=models.DateTimeField(blank=True, help_text="When it starts sending.", null=True),
        ),
        migrations.AddField(
            model_name="campaign",
            name="targeted",
            field=models.PositiveIntegerField(
                blank=True, help_text="Players the target held when sending started (their delivery rows).", null=True
            ),
        ),
        migrations.AddField(
            model_name="campaign",
            name="error",
            field=models.TextField(blank=True, help_text="Why the campaign failed."),
        ),
        migrations.AddField(
            model_name="campaign",
            name="started_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="campaign",
            name="cancelled_by",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="campaign",
            name="cancelled_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AlterModelOptions(
            name="campaign",
            options={
                "ordering": ["-created_at", "-id"],
                "permissions": [
                    ("grant_campaign", "Can grant a reward bundle to many players (a campaign with a reward)"),
                    ("send_campaign", "Can create, schedule and cancel campaigns that message players"),
                ],
            },
        ),
        migrations.CreateModel(
            name="CampaignDelivery",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "status",
                    models.CharField(
                        choices=[("pending", "Pending"), ("done", "Done")], default="pending", max_length=8
                    ),
                ),
                (
                    "skipped",
                    models.CharField(
                        blank=True,
                        choices=[("", "-"), ("self_excluded", "Self-excluded"), ("banned", "Banned")],
                        default="",
                        max_length=16,
                    ),
                ),
                (
                    "in_app",
                    models.CharField(blank=True, choices=OUTCOMES, default="", max_length=16),
                ),
                (
                    "push",
                    models.CharField(blank=True, choices=OUTCOMES, default="", max_length=16),
                ),
                (
                    "email",
                    models.CharField(blank=True, choices=OUTCOMES, default="", max_length=16),
                ),
                (
                    "reward",
                    models.CharField(blank=True, choices=OUTCOMES, default="", max_length=16),
                ),
                ("error", models.CharField(blank=True, max_length=255)),
                ("processed_at", models.DateTimeField(blank=True, null=True)),
                (
                    "campaign",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="deliveries",
                        to="economy.campaign",
                    ),
                ),
                (
                    "notification",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="realtime.notification",
                    ),
                ),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "verbose_name_plural": "campaign deliveries",
                "ordering": ["id"],
                "constraints": [models.UniqueConstraint(fields=("campaign", "user"), name="campaign_delivery_once")],
                "indexes": [
                    models.Index(
                        condition=models.Q(("status", "pending")),
                        fields=["campaign", "id"],
                        name="campaign_delivery_pending_idx",
                    )
                ],
            },
        ),
        migrations.AddConstraint(
            model_name="campaign",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("in_app", True),
                    ("push", True),
                    ("email", True),
                    ("gold__gt", 0),
                    ("gems__gt", 0),
                    ("xp__gt", 0),
                    _connector="OR",
                ),
                name="campaign_sends_something",
            ),
        ),
        migrations.AddConstraint(
            model_name="campaign",
            constraint=models.CheckConstraint(
                condition=models.Q(("push", False), ("in_app", True), _connector="OR"), name="campaign_push_in_app"
            ),
        ),
        migrations.AddIndex(
            model_name="campaign",
            index=models.Index(
                condition=models.Q(("status", "scheduled")), fields=["scheduled_at"], name="campaign_due_idx"
            ),
        ),
        # Last: rows written in a migration leave trigger events that forbid a later ALTER TABLE.
        migrations.RunPython(forward, backward),
    ]
