"""Players' active days (``PlayerDay``) for the staff dashboard's daily actives, and
the staff roles again for ``shop.view_revenue`` (finance sees the dashboard's
revenue; support does not).

Existing players get one day each, the day of their ``last_seen_at`` (the only
activity recorded before this table), so today's count is right from the start;
earlier days fill in as players come back.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from accounts.services.staff import staff_roles_sync

BACKFILL_BATCH = 5000


def backfill_last_seen_days(apps, schema_editor):
    user_model = apps.get_model("accounts", "User")
    player_day = apps.get_model("accounts", "PlayerDay")
    alias = schema_editor.connection.alias
    seen = user_model.objects.using(alias).filter(last_seen_at__isnull=False).values_list("pk", "last_seen_at")
    batch = []
    for user_id, last_seen_at in seen.iterator(chunk_size=BACKFILL_BATCH):
        batch.append(player_day(user_id=user_id, day=last_seen_at.date()))
        if len(batch) == BACKFILL_BATCH:
            player_day.objects.using(alias).bulk_create(batch, ignore_conflicts=True)
            batch = []
    player_day.objects.using(alias).bulk_create(batch, ignore_conflicts=True)


def sync_roles(apps, schema_editor):
    staff_roles_sync(apps=apps, using=schema_editor.connection.alias, strict=False)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0009_player_page_permissions"),
        ("shop", "0004_order_view_revenue"),
    ]

    operations = [
        migrations.CreateModel(
            name="PlayerDay",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("day", models.DateField()),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to=settings.AUTH_USER_MODEL
                    ),
                ),
            ],
            options={
                "constraints": [models.UniqueConstraint(fields=("day", "user"), name="player_day_once")],
            },
        ),
        migrations.RunPython(backfill_last_seen_days, migrations.RunPython.noop),
        # Going back leaves the groups as they are (0006's reverse removes them).
        migrations.RunPython(sync_roles, migrations.RunPython.noop),
    ]
