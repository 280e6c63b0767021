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
        from casino.dashboard_alerts import register_platform_figures

        Metrics.get_instance()
        register_platform_figures()  # the staff dashboard's alerts card; the apps add theirs
        _ensure_sqlite_directory()
        _psycopg_query_cache_widen()


# psycopg turns a query's ``%s`` placeholders into PostgreSQL's ``$n`` and keeps the result
# (128 queries, least recently used), but only for a query of at most 50 parameters and 4 KB:
# ORMs write INSERTs of any number of rows, which would fill the cache with shapes seen once.
# The hot paths' own statements (casino.inserts: an order with its steps, fraud decision and
# outbox events in one statement) run 60-150 parameters in a handful of shapes, and converting
# one again on every call cost ~100 us (a tenth of a money buy's statements). Cached up to
# these sizes, an entry stays under ~100 KB (the 128 entries: a few MB at most).
PSYCOPG_CACHED_QUERY_PARAMS = 400
PSYCOPG_CACHED_QUERY_BYTES = 16384


def _psycopg_query_cache_widen() -> None:
    try:
        from psycopg import _queries
    except ImportError:  # embedded mode without psycopg installed: nothing to widen
        return
    if hasattr(_queries, "MAX_CACHED_STATEMENT_PARAMS") and hasattr(_queries, "MAX_CACHED_STATEMENT_LENGTH"):
        _queries.MAX_CACHED_STATEMENT_PARAMS = max(_queries.MAX_CACHED_STATEMENT_PARAMS, PSYCOPG_CACHED_QUERY_PARAMS)
        _queries.MAX_CACHED_STATEMENT_LENGTH = max(_queries.MAX_CACHED_STATEMENT_LENGTH, PSYCOPG_CACHED_QUERY_BYTES)


def _ensure_sqlite_directory() -> None:
    """Embedded mode: SQLite creates the file but not its directory (var/ in a
    fresh checkout). Here rather than in settings, whose import has no side effects."""
    database = settings.DATABASES["default"]
    name = str(database.get("NAME") or "")
    if database["ENGINE"] == "django.db.backends.sqlite3" and name and not name.startswith(("file:", ":memory:")):
        Path(name).parent.mkdir(parents=True, exist_ok=True)
