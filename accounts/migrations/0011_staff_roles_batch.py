"""Batch work in the back office (issue 15): a permission to import players from a file
(``accounts.import_players``; the admin role has every accounts permission, no other role gets
it), and the staff roles synced again (``accounts.services.staff.STAFF_ROLES``) now that the
back-office jobs (``casino.AdminJob``: its view permission and ``casino.export_data``) and
reward campaigns (``economy.RewardCampaign``: ``economy.grant_campaign``) exist: live-ops grants
campaigns and watches their jobs, finance watches its ledger audits; only the admin role
exports changelists (personal data).

The same function as ``0006_staff_roles``, run again after the migrations that create those
models (it creates their permissions first, since ``post_migrate`` has not run yet); it makes
each group match the table, so a database that already has them changes nothing.
"""

from django.db import migrations

from accounts.services.staff import staff_roles_sync


def sync_roles(apps, schema_editor):
    staff_roles_sync(apps=apps, using=schema_editor.connection.alias, strict=False)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0010_player_days"),
        ("casino", "0002_admin_job"),
        ("economy", "0005_reward_campaign"),
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
                    ("import_players", "Can import players from a CSV or XLSX file"),
                ]
            },
        ),
        # Going back leaves the groups as they are (0006's reverse removes them).
        migrations.RunPython(sync_roles, migrations.RunPython.noop),
    ]
