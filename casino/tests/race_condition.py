"""Run a competing call at an exact point of another (Saleor's race helpers).

A concurrency test that only fires threads at the same time proves what
happens under *some* interleaving. Where one interleaving matters (a refund
arriving while another refund holds the order, an expiry sweep while a webhook
is mid-transaction, a claim straddling midnight), patch the function the first
call passes through and run the second call right before or right after it:

    with run_before("shop.services.webhooks.order_apply_payment", lambda *a, **k: sweep()):
        receive_webhook(...)

``target`` is a dotted path to the name *where it is looked up* (the module
that calls it), exactly as for ``unittest.mock.patch``. The callback receives
the same arguments as the patched call; the original still runs and its
result is returned. ``calls`` on the yielded mock tells how often it ran.
"""

from __future__ import annotations

import pkgutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock


@contextmanager
def run_before(target: str, callback: Callable[..., Any], *, once: bool = True) -> Iterator[mock.MagicMock]:
    """Call ``callback(*args, **kwargs)`` just before each call of ``target`` (only the first with ``once``)."""
    original = pkgutil.resolve_name(target)
    fired = False

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        nonlocal fired
        if not (once and fired):
            fired = True
            callback(*args, **kwargs)
        return original(*args, **kwargs)

    with mock.patch(target, side_effect=wrapper) as patched:
        yield patched


@contextmanager
def run_after(target: str, callback: Callable[..., Any], *, once: bool = True) -> Iterator[mock.MagicMock]:
    """Call ``callback(*args, **kwargs)`` right after each call of ``target`` returns (only the first with ``once``)."""
    original = pkgutil.resolve_name(target)
    fired = False

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        nonlocal fired
        result = original(*args, **kwargs)
        if not (once and fired):
            fired = True
            callback(*args, **kwargs)
        return result

    with mock.patch(target, side_effect=wrapper) as patched:
        yield patched


@contextmanager
def run_waiting_after(target: str, call: Callable[[], Any], *, timeout: float = 5.0) -> Iterator[dict[str, Any]]:
    """Right after ``target`` first returns, start ``call`` in a thread of its own and go on only
    once that thread waits for a row lock (a lock the caller's transaction holds: seen as a
    backend waiting on a ``Lock`` in ``pg_stat_activity``, read on a connection of its own).
    The statement that waits took its snapshot before the caller commits. On leaving, the
    thread is joined; the yielded dict's ``"result"`` is what ``call`` returned or raised."""
    import threading
    import time

    import psycopg
    from django.db import connection

    settings = connection.settings_dict
    watcher = psycopg.connect(
        host=settings["HOST"], port=settings["PORT"], user=settings["USER"], dbname=settings["NAME"], autocommit=True
    )
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = call()
        except Exception as error:  # noqa: BLE001 - reported to the test
            outcome["result"] = error
        finally:
            connection.close()

    thread = threading.Thread(target=run)

    def start_and_wait_until_it_waits(*_args: Any, **_kwargs: Any) -> None:
        thread.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            waiting = watcher.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            ).fetchone()
            if waiting and waiting[0]:
                return
            time.sleep(0.01)
        raise AssertionError(f"the call started after {target} never waited for a lock")

    try:
        with run_after(target, start_and_wait_until_it_waits):
            yield outcome
        if thread.ident is not None:  # started: ``target`` was called
            thread.join(10)
    finally:
        watcher.close()
