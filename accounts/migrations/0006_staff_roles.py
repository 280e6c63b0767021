"""Staff roles as Django groups (design promise 7, least privilege): support,
finance, live-ops and admin, with the permissions of
``accounts.services.staff.STAFF_ROLES`` (the README's back-office section
lists them).

- support: look players up, ban/unban, end sessions. Not lifting a
  self-exclusion: a player excluded themselves to be protected from their
  own pressure, and support is where that pressure arrives, so lifting one
  is a separate, senior decision (its own permission, given to admin only).
- finance: orders (settle, refund, review), balance adjustments, the ledger,
  wallets and webhooks.
- live-ops: products, limited packages, promo codes.
- admin: everything in the back office's apps except
  ``accounts.grant_privileges``: only superusers grant privileges.

Depends on every app whose permissions it names, and creates the missing
permissions first (``post_migrate`` has not run yet). The same function runs
again in a later migration when a feature adds permissions to a role; it makes
each group match the table, so running it twice changes nothing.
"""

from django.db import migrations

from accounts.services.staff import STAFF_ROLES, staff_roles_sync

ROLE_NAMES = [role.name for role in STAFF_ROLES]


def create_roles(apps, schema_editor):
    # Not strict: a permission of a model a later migration creates is granted by that later run.
    staff_roles_sync(apps=apps, using=schema_editor.connection.alias, strict=False)


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.using(schema_editor.connection.alias).filter(name__in=ROLE_NAMES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("accounts", "0005_staff_permissions"),
        ("casino", "0001_initial"),
        ("economy", "0004_staff_permissions"),
        ("realtime", "0003_staff_permissions"),
        ("shop", "0003_staff_permissions"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
