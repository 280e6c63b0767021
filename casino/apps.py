from pathlib import Path

from django.apps import AppConfig
from django.conf import settings


class CasinoConfig(AppConfig):
    name = "casino"
    verbose_name = "Platform (idempotency, audit log)"

    def ready(self) -> None:
        # django-prometheus creates its HTTP metrics lazily, on the first request,
        # and not thread-safely: threads racing on that first request register
        # them twice. Create them now, while only one thread runs.
        from django_prometheus.middleware import Metrics

        from casino import checks  # noqa: F401  (registers the system checks)
        from casino.dashboard import register_platform_figures

        Metrics.get_instance()
        register_platform_figures()  # the staff dashboard's alerts card; the apps add theirs
        _ensure_sqlite_directory()


def _ensure_sqlite_directory() -> None:
    """Embedded mode: SQLite creates the file but not its directory (var/ in a
    fresh checkout). Here rather than in settings, whose import has no side effects."""
    database = settings.DATABASES["default"]
    name = str(database.get("NAME") or "")
    if database["ENGINE"] == "django.db.backends.sqlite3" and name and not name.startswith(("file:", ":memory:")):
        Path(name).parent.mkdir(parents=True, exist_ok=True)
