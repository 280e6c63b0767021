"""Campaigns and segments in the staff roles (``accounts.services.staff.STAFF_ROLES``): live-ops
sends campaigns (``economy.send_campaign``, and ``economy.grant_campaign`` for their rewards),
defines and previews segments and recomputes the RFM groups; the admin role gets no add, change
or delete on the rows only services write (campaign deliveries, player segments, segment runs).

The same function as ``0006_staff_roles``, run again after the migrations that create those
models; it makes each group match the table, so a database that already has them changes nothing.
"""

from django.db import migrations

from accounts.services.staff import staff_roles_sync


def sync_roles(apps, schema_editor):
    staff_roles_sync(apps=apps, using=schema_editor.connection.alias, strict=False)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0013_user_welcome_email_sent_at"),
        ("economy", "0007_campaign"),
        ("realtime", "0006_notification_settings"),
    ]

    operations = [
        migrations.RunPython(sync_roles, migrations.RunPython.noop),
    ]
