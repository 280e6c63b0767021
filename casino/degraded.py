"""Failing quietly when a dependency is down (design promise 9).

Work that follows a commit (the WebSocket push, the dashboard cache bump) and
best-effort helpers in front of a request (the activity mark) must never turn
a success into an error when Redis, Kafka or ClickHouse is unavailable. They
catch the failure and report it here:

* the counter ``dependency_failures_total{dependency, use}`` counts every one
  (alert on its rate, not on single failures);
* a warning with the traceback is logged at most once per
  ``LOG_EVERY_SECONDS`` for each ``(dependency, use)``, so an outage of Redis
  does not write one traceback per request.

Long-running processes (the relay, the sink) do not exit when what they need
is down at start or goes away: :func:`dependency_wait` retries with a doubling
delay (up to ``DEPENDENCY_WAIT_MAX_SECONDS``) and logs one line per try.

Which uses fail open and which refuse (503 before anything changes) is the
table "A dependency going down" in ``docs/architecture.md``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from threading import Event

from prometheus_client import Counter

logger = logging.getLogger(__name__)

LOG_EVERY_SECONDS = 60.0

dependency_failures = Counter(
    "dependency_failures",
    "Operations that failed quietly because a dependency was unavailable (the request went on).",
    ["dependency", "use"],
)

_last_logged: dict[tuple[str, str], float] = {}
_lock = threading.Lock()
_clock = time.monotonic


def dependency_failed(*, dependency: str, use: str, error: BaseException) -> None:
    """Count a quiet failure of ``dependency`` (``"redis"``, ``"kafka"``...) in
    ``use`` (``"activity"``, ``"dashboard_cache"``, ``"push"``...) and log it,
    rate-limited. Never raises."""
    dependency_failures.labels(dependency=dependency, use=use).inc()
    now = _clock()
    with _lock:
        last = _last_logged.get((dependency, use))
        if last is not None and now - last < LOG_EVERY_SECONDS:
            return
        _last_logged[(dependency, use)] = now
    logger.warning(
        "%s unavailable for %s; carrying on without it (%s: %s)",
        dependency,
        use,
        type(error).__name__,
        error,
        exc_info=error,
    )


def dependency_wait(
    check: Callable[[], object],
    *,
    dependency: str,
    name: str,
    stop: Event,
    first_delay: float = 0.5,
    max_delay: float | None = None,
) -> bool:
    """Call ``check`` until it returns without raising. Between tries: count
    it (``dependency_failures_total{dependency, use="wait"}``), log ``waiting
    for <name>`` with the error and the delay, then wait (doubling
    from ``first_delay`` up to ``max_delay``, default the setting
    ``DEPENDENCY_WAIT_MAX_SECONDS``). True once ``check`` passed, False when
    ``stop`` was set meanwhile."""
    if max_delay is None:
        from django.conf import settings

        max_delay = float(settings.DEPENDENCY_WAIT_MAX_SECONDS)
    delay = first_delay
    waited = False
    while not stop.is_set():
        try:
            check()
        except Exception as error:  # noqa: BLE001 - any failure means "not there yet"
            dependency_failures.labels(dependency=dependency, use="wait").inc()
            logger.warning("waiting for %s: %s: %s; next try in %.1fs", name, type(error).__name__, error, delay)
            waited = True
            if stop.wait(delay):
                return False
            delay = min(max_delay, delay * 2)
            continue
        if waited:
            logger.info("%s is available again", name)
        return True
    return False


def forget_log_times() -> None:
    """Tests: log the next failure of every use again."""
    with _lock:
        _last_logged.clear()
