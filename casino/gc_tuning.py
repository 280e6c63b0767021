"""The cyclic garbage collector in the long-running server processes.

A web worker starts with about 200,000 objects that live as long as it does
(modules, classes, functions, settings, URL patterns). Python's full
collection walks every one of them: ~100 ms on the benchmark's machine,
during which the worker answers nothing, so every request queued behind it
waits that long (a 100 ms stall in a 12 s stage is the p95 of an endpoint
with a dozen requests). :func:`gc_freeze_startup` moves them into the
permanent generation once the application is loaded; a full collection then
walks only what was created since (a few milliseconds). Nothing is leaked:
reference counting still frees a frozen object that loses its last reference;
only cycles among the frozen objects are never collected, and those live for
the whole process anyway.

Called by the web workers (``deploy/gunicorn.conf.py``, ``post_worker_init``:
after gunicorn loaded the application), the realtime server
(``casino/asgi.py``, once its application is built), the outbox relay and the
ClickHouse sink (their commands, before their loops) and each Celery pool
process (``casino/celery.py``, ``worker_process_init``). The young generations
keep CPython's thresholds: collecting them costs ~1 % of a request's CPU.
"""

from __future__ import annotations

import gc


def gc_freeze_startup() -> int:
    """Collect what start-up left behind, then freeze every object alive now;
    returns how many objects are frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
