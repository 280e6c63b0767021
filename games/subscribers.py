"""How games/ reacts to other apps' domain events (achievements advancing on ``game_round`` and
``purchase_update``), registered with realtime.registry.subscribe in apps.ready(). Handlers run
inside the emitter's transaction and call this app's services; they count each source event
once.

It also reacts to its own round events for what must wait for the commit: the leaderboards
(``game_round`` -> the Redis boards) and the live feed (``game_event`` -> big wins and jackpots
pushed to every connected player). Both wait for the commit (the boards in the transaction's
after-commit Redis pipeline, ``casino.redis_writes``; the feed in an ``on_commit`` hook), so a
rolled back round changes no board and announces nothing, and neither raises after the commit."""

from __future__ import annotations

import functools
from decimal import ROUND_DOWN, Decimal
from typing import Any

from django.conf import settings
from django.db import transaction

from accounts.models import User
from games.enums import RoundResult, RoundStatus
from games.services.leaderboards import counted_round_from_event, leaderboard_record_on_commit, leaderboards_in_redis
from realtime.feed import BIG_WIN, JACKPOT, broadcast_feed
from realtime.registry import DomainEvent

# --- leaderboards ---


def leaderboards_on_game_round(event: DomainEvent) -> None:
    """Apply a settled round to its Redis boards once the round commits (full mode only: in
    embedded mode the boards are read from the rounds). No statement of its own."""
    if not leaderboards_in_redis():
        return
    counted = counted_round_from_event(user_id=event.user_id, data=event.data)
    if counted is not None:
        leaderboard_record_on_commit(counted)


# --- live feed ---


def live_feed_item(event: DomainEvent) -> dict[str, Any] | None:
    """The feed item a settled round's ``game_event`` deserves, or None: a ``jackpot`` when the
    game says so (the slot machine's ``is_jackpot``), else a ``big_win`` for a won round paying
    at least ``BIG_WIN_THRESHOLD_GOLD``. One query (the nickname), only for those."""
    data = event.data
    if event.user_id is None or data.get("status") != RoundStatus.SETTLED:
        return None
    amount = int(data.get("win_amount") or 0)
    bet = int(data.get("bet_amount") or 0)
    if data.get("is_jackpot") is True:
        kind = JACKPOT
    elif data.get("result") == RoundResult.WIN and amount >= settings.BIG_WIN_THRESHOLD_GOLD:
        kind = BIG_WIN
    else:
        return None
    nickname = User.objects.filter(pk=event.user_id).values_list("nickname", flat=True).first()
    multiplier = (Decimal(amount) / bet).quantize(Decimal("0.01"), rounding=ROUND_DOWN) if bet else Decimal(0)
    return {
        "kind": kind,
        "game": data.get("game"),
        "nickname": nickname or "",
        "amount": amount,
        "multiplier": float(multiplier),
        "at": event.timestamp,
    }


def live_feed_on_game_event(event: DomainEvent) -> None:
    """Announce a big win or a jackpot to every connected player once the round commits."""
    item = live_feed_item(event)
    if item is not None:
        transaction.on_commit(functools.partial(broadcast_feed, item), robust=True)


# --- reward items: achievements', events' and missions' rewards naming gacha items ---


def inventory_on_reward_granted(event: DomainEvent) -> None:
    """Put the items a reward names (``reward_granted``'s ``items``) in the player's inventory,
    in the reward's transaction (games.services.inventory: unknown codes are logged and skipped,
    an item already owned counts as a duplicate and pays nothing)."""
    from games.services.inventory import inventory_reward_add

    items = event.data.get("items")
    if event.user_id is None or not items or not isinstance(items, list):
        return
    inventory_reward_add(user_id=event.user_id, item_codes=items, source=str(event.data.get("source") or ""))
