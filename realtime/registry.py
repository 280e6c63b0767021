"""The registered set of domain event types and their in-process subscribers.

Apps register the types they emit (with a description, for the docs) and the
functions that react to a type; ``emit`` refuses an unregistered type. A
subscriber runs inside the emitter's transaction: if it raises, the whole
state change rolls back.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Subscriber = Callable[["DomainEvent"], None]


@dataclass(frozen=True)
class DomainEvent:
    event_id: str
    type: str
    user: Any
    user_id: int | None
    data: dict[str, Any]
    timestamp: str


EVENT_TYPES: dict[str, str] = {}
_SUBSCRIBERS: dict[str, list[Subscriber]] = defaultdict(list)


class UnknownEventType(LookupError):
    pass


def register_event_type(name: str, description: str) -> None:
    existing = EVENT_TYPES.get(name)
    if existing is not None and existing != description:
        raise ValueError(f"event type {name!r} is already registered with another description")
    EVENT_TYPES[name] = description


def subscribe(event_type: str, subscriber: Subscriber) -> None:
    """Run ``subscriber(event)`` inside the transaction of every ``emit`` of ``event_type``."""
    if event_type not in EVENT_TYPES:
        raise UnknownEventType(f"cannot subscribe to unregistered event type {event_type!r}")
    if subscriber not in _SUBSCRIBERS[event_type]:
        _SUBSCRIBERS[event_type].append(subscriber)


def subscribers_for(event_type: str) -> list[Subscriber]:
    return list(_SUBSCRIBERS.get(event_type, ()))


# Core types every part of the product may emit. Apps add their own in ready().
for _name, _description in {
    "user_signed_up": "A player account was created (data: site_id, nickname, invite_code).",
    "profile_update": "A player's profile changed (data: the changed fields).",
    "balance_update": "A wallet balance changed (data: balances, deltas, reason, reference).",
    "purchase_update": "An order changed state (data: receipt_code, status, product).",
    "reward_granted": "A reward was paid (data: source, amounts).",
    "streak_update": "The daily streak changed (data: count, claimed_today).",
    "event_progress": "Progress in a live event or mission changed.",
    "achievement_progress": "Progress towards an achievement changed.",
    "stats_update": "A player's game statistics changed.",
    "game_event": "A game round finished (data: game, bet, win, round id).",
}.items():
    register_event_type(_name, _description)


# --- Initial state of a WebSocket connection ------------------------------------
# Apps contribute named sections (profile, balances, streak...) without the
# realtime app importing them; the consumer sends them as `initial_state`.
InitialStateProvider = Callable[[Any], Any]
_INITIAL_STATE: dict[str, InitialStateProvider] = {}


def register_initial_state(section: str, provider: InitialStateProvider) -> None:
    _INITIAL_STATE[section] = provider


def initial_state_for(user: Any) -> dict[str, Any]:
    return {section: provider(user) for section, provider in _INITIAL_STATE.items()}
