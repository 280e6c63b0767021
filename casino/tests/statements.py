"""The SQL a block of code sends, for tests of what a path reads and writes.

Django's ``CaptureQueriesContext`` slices the connection's query log, which a
test client's request empties when it starts (``request_started`` resets it):
around a request it may miss the request's first statements. An execute
wrapper sees every statement."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def statements_sent() -> Iterator[list[str]]:
    """Yields a list that gets the SQL of each statement the default connection runs, in order."""
    from django.db import connection

    sent: list[str] = []

    def record(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        sent.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        yield sent
