# Token-theft detection: a refresh token's family (claim "fam") revoked after a reuse.

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_activity_and_metrics_indexes"),
    ]

    operations = [
        migrations.CreateModel(
            name="RevokedTokenFamily",
            fields=[
                ("family", models.UUIDField(primary_key=True, serialize=False)),
                ("reason", models.CharField(default="refresh_token_reused", max_length=40)),
                ("revoked_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="revoked_token_families",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "verbose_name_plural": "revoked token families",
            },
        ),
    ]
