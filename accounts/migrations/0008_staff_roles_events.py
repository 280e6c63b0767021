"""The staff roles again, now that events/ has its tables and permissions
(``accounts.services.staff.STAFF_ROLES``): live-ops creates and edits events,
their requirements, mission templates and achievements, sees players' progress
and force-claims an event's reward for a player (``events.force_claim_event``,
audited); admin gets every events permission.

The same function as ``0006_staff_roles``, run again after the migration that
creates the events' models (it creates their permissions first, since
``post_migrate`` has not run yet); it makes each group match the table, so a
database that already has them changes nothing.
"""

from django.db import migrations

from accounts.services.staff import staff_roles_sync


def sync_roles(apps, schema_editor):
    staff_roles_sync(apps=apps, using=schema_editor.connection.alias, strict=False)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0007_staff_roles_games"),
        ("events", "0001_initial"),
    ]

    # Going back leaves the groups as they are (0006's reverse removes them).
    operations = [migrations.RunPython(sync_roles, migrations.RunPython.noop)]
