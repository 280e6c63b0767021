"""What a block of code commits, for the tests of the one-commit targets
(docs/architecture.md, "Performance targets")."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

WRITES = {"INSERT", "UPDATE", "DELETE"}


@contextmanager
def commits_counted() -> Iterator[list[str]]:
    """Yields a list that gets, in order, ``"transaction"`` for each COMMIT of
    the default connection and the quoted table of each data-changing
    statement run in autocommit (a transaction of its own)."""
    from django.db import connection

    commits: list[str] = []

    def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if not connection.in_atomic_block and sql.lstrip().split(" ", 1)[0].upper() in WRITES:
            commits.append(sql.split(" ", 3)[2] if sql.startswith("INSERT") else sql.split(" ", 2)[1])
        return execute(sql, params, many, context)

    original_commit = connection.commit

    def commit() -> None:
        commits.append("transaction")
        original_commit()

    connection.commit = commit  # type: ignore[method-assign]
    try:
        with connection.execute_wrapper(count):
            yield commits
    finally:
        del connection.commit
