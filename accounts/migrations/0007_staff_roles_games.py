"""The staff roles again, now that games/ has its tables and permissions
(``accounts.services.staff.STAFF_ROLES``): live-ops switches games on and off
and changes their limits, odds and paytables (``games.switch_game``,
``games.configure_game``) and sees every games table; support sees a player's
rounds, seeds, game stats and inventory; admin gets every games permission.

The same function as ``0006_staff_roles``, run again after the migration that
creates the games' models (it creates their permissions first, since
``post_migrate`` has not run yet); it makes each group match the table, so a
database that already has them changes nothing.
"""

from django.db import migrations

from accounts.services.staff import staff_roles_sync


def sync_roles(apps, schema_editor):
    staff_roles_sync(apps=apps, using=schema_editor.connection.alias, strict=False)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0006_staff_roles"),
        ("games", "0001_initial"),
    ]

    # Going back leaves the groups as they are (0006's reverse removes them).
    operations = [migrations.RunPython(sync_roles, migrations.RunPython.noop)]
