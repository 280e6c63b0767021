# Look-alike nicknames: a confusable skeleton per player (accounts.nicknames), filled
# for the players who exist, then a unique index on it.

from typing import Any

from django.db import migrations, models

import accounts.nicknames

BATCH = 1000


def fill_skeletons(apps: Any, schema_editor: Any) -> None:
    """Oldest player first: a player whose nickname already looks like an older
    player's keeps it, with no skeleton (null), so the index can be built; the
    older player's skeleton still stops anyone new from taking a look-alike."""
    User = apps.get_model("accounts", "User")
    seen: set[str] = set()
    batch: list[Any] = []
    for user in User.objects.order_by("pk").only("pk", "nickname").iterator(chunk_size=BATCH):
        skeleton = accounts.nicknames.nickname_skeleton(user.nickname)
        if skeleton in seen:
            continue
        seen.add(skeleton)
        user.nickname_skeleton = skeleton
        batch.append(user)
        if len(batch) >= BATCH:
            User.objects.bulk_update(batch, ["nickname_skeleton"])
            batch.clear()
    if batch:
        User.objects.bulk_update(batch, ["nickname_skeleton"])


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_refresh_family"),
    ]

    operations = [
        migrations.AddField(
            model_name="user",
            name="nickname_skeleton",
            field=models.TextField(blank=True, editable=False, null=True),
        ),
        migrations.AlterField(
            model_name="user",
            name="nickname",
            field=models.CharField(max_length=50, validators=[accounts.nicknames.validate_nickname]),
        ),
        migrations.RunPython(fill_skeletons, migrations.RunPython.noop, elidable=False),
        migrations.AddConstraint(
            model_name="user",
            constraint=models.UniqueConstraint(fields=("nickname_skeleton",), name="user_nickname_skeleton_unique"),
        ),
    ]
