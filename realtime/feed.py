"""The live feed: big wins and jackpots pushed to every connected player.

Every socket of ``/api/realtime/sync`` joins the channel group :data:`FEED_GROUP` when it
connects (``realtime.consumers``) and receives each item as

    {"type": "live_feed", "data": {"kind": "big_win" | "jackpot", "game", "nickname",
                                   "amount", "multiplier", "at"}}

Items carry a nickname, never an id or contact details. A domain app decides what is worth
announcing (games does, from its rounds: ``games.subscribers``) and calls
:func:`broadcast_feed` after its commit; this module imports no domain app.

Each item is also counted per UTC day in the cache (``/api/metrics/global`` shows
``big_wins_today`` and ``jackpots_today``): in Redis in full mode, shared by every process; in
the process's memory in embedded mode. After a commit nothing here raises (design promise 9):
a cache or channel layer that is down is counted and logged (``casino.degraded``).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from django.core.cache import cache
from django.utils import timezone

from casino.degraded import dependency_failed
from realtime.services import send_to_group

FEED_GROUP = "live.feed"
BIG_WIN, JACKPOT = "big_win", "jackpot"
KINDS = (BIG_WIN, JACKPOT)
COUNTER_KEEP = timedelta(days=2)
_METRIC_NAMES = {BIG_WIN: "big_wins_today", JACKPOT: "jackpots_today"}


def _counter_key(kind: str, day: date) -> str:
    return f"live-feed:{kind}:{day.isoformat()}"


def broadcast_feed(item: dict[str, Any], *, now: datetime | None = None) -> None:
    """Count a feed item and push it to every connected player. Call it after the commit that
    made it true (``transaction.on_commit``); an unavailable cache or channel layer never makes
    it raise."""
    kind = str(item.get("kind"))
    if kind not in KINDS:
        raise ValueError(f"unknown live feed kind {kind!r}")
    _count(kind, (now or timezone.now()).date())
    send_to_group(FEED_GROUP, {"type": "live.feed", "data": item}, use="live_feed")


def _count(kind: str, day: date) -> None:
    key = _counter_key(kind, day)
    try:
        cache.add(key, 0, timeout=int(COUNTER_KEEP.total_seconds()))
        try:
            cache.incr(key)
        except ValueError:  # expired or evicted between add and incr
            cache.set(key, 1, timeout=int(COUNTER_KEEP.total_seconds()))
    except Exception as error:  # noqa: BLE001 - after commit: a lost count, never an error
        dependency_failed(dependency="redis", use="live_feed_count", error=error)


def feed_counts(*, now: datetime | None = None) -> dict[str, int]:
    """Today's (UTC) feed items by kind: ``{"big_wins_today": n, "jackpots_today": m}``; zeros
    when the cache does not answer (logged)."""
    day = (now or timezone.now()).date()
    keys = {kind: _counter_key(kind, day) for kind in KINDS}
    try:
        found = cache.get_many(list(keys.values()))
    except Exception as error:  # noqa: BLE001 - live figures are information: show zeros
        dependency_failed(dependency="redis", use="live_feed_count", error=error)
        found = {}
    return {_METRIC_NAMES[kind]: int(found.get(key) or 0) for kind, key in keys.items()}
