"""Install the configuration the games ship with (games/defaults.py); idempotent."""

from typing import Any

from django.db import migrations


def install_defaults(apps: Any, schema_editor: Any) -> None:
    from games import defaults

    defaults.install(apps)


class Migration(migrations.Migration):
    dependencies = [("games", "0001_initial")]

    operations = [migrations.RunPython(install_defaults, migrations.RunPython.noop)]
