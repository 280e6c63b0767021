"""The player page (issue 15): a permission to make a one-time password-set
link for a player (``accounts.reset_password``; the support role gets it, the
admin role has every accounts permission), and the staff roles synced again so
the groups hold it (``accounts.services.staff.STAFF_ROLES``).

Lifting a self-exclusion already had its own permission
(``accounts.lift_self_exclusion``, migration 0005), held by the admin role and
not by support.

Also run after realtime's notifications, so the admin role (every permission of
the back office's apps) holds their view permission too."""

from django.db import migrations

from accounts.services.staff import staff_roles_sync


def sync_roles(apps, schema_editor):
    staff_roles_sync(apps=apps, using=schema_editor.connection.alias, strict=False)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0008_staff_roles_events"),
        # The player's page shows the inbox to roles that may view it: the admin role gets the
        # notification permissions here (they did not exist when 0006-0008 ran).
        ("realtime", "0005_notifications"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="user",
            options={
                "permissions": [
                    ("ban_user", "Can ban and reinstate players"),
                    ("lift_self_exclusion", "Can lift a player's self-exclusion"),
                    ("revoke_sessions", "Can end every session of a player"),
                    ("grant_privileges", "Can grant staff status, groups and permissions"),
                    ("reset_password", "Can make a one-time password-set link for a player"),
                ]
            },
        ),
        # Going back leaves the groups as they are (0006's reverse removes them).
        migrations.RunPython(sync_roles, migrations.RunPython.noop),
    ]
