"""Migration operations that keep a busy table writable while they run.

``CREATE INDEX`` blocks every write to its table until the index is built: on the outbox, which
every state change writes to, that is every request of the product for as long as the build
takes (minutes on a day of events). PostgreSQL builds it ``CONCURRENTLY`` instead; SQLite (the
embedded mode) has no such option and no concurrent writers to block, so it gets the plain
statement. A migration using these sets ``atomic = False`` (a concurrent build cannot run in a
transaction)."""

from __future__ import annotations

from typing import Any

from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db.migrations.operations import AddIndex, RemoveIndex
from django.db.migrations.operations.base import Operation


class _ConcurrentlyOnPostgreSQL:
    """The concurrent operation (next in the MRO) on PostgreSQL, ``plain`` elsewhere."""

    plain: type[Operation]

    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)  # type: ignore[misc]
        else:
            self.plain.database_forwards(self, app_label, schema_editor, from_state, to_state)  # type: ignore[arg-type]

    def database_backwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)  # type: ignore[misc]
        else:
            self.plain.database_backwards(self, app_label, schema_editor, from_state, to_state)  # type: ignore[arg-type]


class AddIndexOnline(_ConcurrentlyOnPostgreSQL, AddIndexConcurrently):
    """``AddIndex``, built ``CONCURRENTLY`` on PostgreSQL."""

    plain = AddIndex


class RemoveIndexOnline(_ConcurrentlyOnPostgreSQL, RemoveIndexConcurrently):
    """``RemoveIndex``, dropped ``CONCURRENTLY`` on PostgreSQL (a plain ``DROP INDEX`` waits for
    every open transaction on the table while holding up every new one)."""

    plain = RemoveIndex
