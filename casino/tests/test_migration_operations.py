"""casino.migration_operations: ``CONCURRENTLY`` on PostgreSQL, the plain statement on SQLite
(the embedded mode), forwards and backwards. The SQL is collected, not run."""

from __future__ import annotations

import pytest
from django.db import connection, models
from django.db.migrations.state import ProjectState
from django.db.utils import ConnectionHandler

from casino.migration_operations import AddIndexOnline, RemoveIndexOnline

INDEX = models.Index(fields=["occurred_at"], name="outbox_probe_idx")


def _states() -> tuple[ProjectState, ProjectState]:
    """The project's state, and the same with the probe index on the outbox."""
    from django.apps import apps

    without = ProjectState.from_apps(apps)
    with_index = without.clone()
    AddIndexOnline(model_name="outboxevent", index=INDEX).state_forwards("realtime", with_index)
    return without, with_index


def _collect(conn, run) -> str:  # type: ignore[no-untyped-def]
    with conn.schema_editor(collect_sql=True, atomic=False) as editor:
        run(editor)
    return " ".join(editor.collected_sql)


def _sqlite():  # type: ignore[no-untyped-def]
    return ConnectionHandler({"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}})["default"]


@pytest.mark.django_db(transaction=True)  # a concurrent build refuses to run inside a transaction
def test_on_postgresql_the_index_is_built_and_dropped_concurrently() -> None:
    assert connection.vendor == "postgresql"
    without, with_index = _states()
    add = AddIndexOnline(model_name="outboxevent", index=INDEX)
    remove = RemoveIndexOnline(model_name="outboxevent", name=INDEX.name)

    built = _collect(connection, lambda e: add.database_forwards("realtime", e, without, with_index))
    unbuilt = _collect(connection, lambda e: add.database_backwards("realtime", e, with_index, without))
    dropped = _collect(connection, lambda e: remove.database_forwards("realtime", e, with_index, without))
    restored = _collect(connection, lambda e: remove.database_backwards("realtime", e, without, with_index))

    assert "CREATE INDEX CONCURRENTLY" in built and "outbox_probe_idx" in built
    assert "DROP INDEX CONCURRENTLY" in unbuilt
    assert "DROP INDEX CONCURRENTLY" in dropped and "outbox_probe_idx" in dropped
    assert "CREATE INDEX CONCURRENTLY" in restored


@pytest.mark.django_db
def test_on_sqlite_the_plain_statements_run() -> None:
    sqlite = _sqlite()
    without, with_index = _states()
    add = AddIndexOnline(model_name="outboxevent", index=INDEX)
    remove = RemoveIndexOnline(model_name="outboxevent", name=INDEX.name)
    try:
        built = _collect(sqlite, lambda e: add.database_forwards("realtime", e, without, with_index))
        unbuilt = _collect(sqlite, lambda e: add.database_backwards("realtime", e, with_index, without))
        dropped = _collect(sqlite, lambda e: remove.database_forwards("realtime", e, with_index, without))
        restored = _collect(sqlite, lambda e: remove.database_backwards("realtime", e, without, with_index))
    finally:
        sqlite.close()

    assert "CREATE INDEX" in built and "outbox_probe_idx" in built
    assert "DROP INDEX" in unbuilt and "DROP INDEX" in dropped
    assert "CREATE INDEX" in restored
    for sql in (built, unbuilt, dropped, restored):
        assert "CONCURRENTLY" not in sql
