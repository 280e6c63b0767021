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
