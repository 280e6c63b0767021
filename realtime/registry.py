"""Where domain apps plug into the realtime app, so that it imports none of them.

* Event types and their in-process subscribers: apps register the types they
  emit (with a description, for the docs) and the functions that react to a
  type; ``emit`` refuses an unregistered type. A subscriber runs inside the
  emitter's transaction: if it raises, the whole state change rolls back.
  A type registered with ``pushed=False`` is stored and shipped like any
  other but never sent to the player's sockets (what the client reported
  itself: echoing it back would only cost the socket a message per event; a
  grouped row, whose parts are pushed each as its own event; a settled round,
  which the client sees as its ``game_event``). A type registered with
  ``stored=False`` is pushed and handed to its subscribers but writes no
  outbox row: the live view of a change whose durable record is a row of its
  own (a notification: its inbox row, which the transaction's last statement
  writes before the event can carry the row's key).
* The initial state of a WebSocket connection (named sections).
* The WebSocket authenticator and the "online players" source (one each).

Registration happens in each app's ``AppConfig.ready()`` (see ``economy/apps.py``
and ``accounts/apps.py``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from django.contrib.auth.base_user import AbstractBaseUser

from casino.reads import shared_reads

PlugIn = TypeVar("PlugIn")
Subscriber = Callable[["DomainEvent"], None]
# Who an event is about: the user object when the emitter has it (subscribers
# then need not reload it), else the id; None for events about nobody.
UserRef = AbstractBaseUser | int | None


@dataclass(frozen=True)
class DomainEvent:
    event_id: str
    type: str
    user: AbstractBaseUser | None
    user_id: int | None
    data: dict[str, Any]
    timestamp: str


EVENT_TYPES: dict[str, str] = {}
_NOT_PUSHED: set[str] = set()
_NOT_STORED: set[str] = set()
_SUBSCRIBERS: dict[str, list[Subscriber]] = defaultdict(list)


class UnknownEventType(LookupError):
    pass


def register_event_type(name: str, description: str, *, pushed: bool = True, stored: bool = True) -> None:
    if not pushed and not stored:
        raise ValueError(f"event type {name!r} would be neither pushed nor stored")
    existing = EVENT_TYPES.get(name)
    if existing is not None and (existing != description or is_pushed(name) != pushed or is_stored(name) != stored):
        raise ValueError(
            f"event type {name!r} is already registered with another description, push setting or store setting"
        )
    EVENT_TYPES[name] = description
    if not pushed:
        _NOT_PUSHED.add(name)
    if not stored:
        _NOT_STORED.add(name)


def is_pushed(event_type: str) -> bool:
    """Whether ``emit`` sends events of this type to the player's sockets after commit."""
    return event_type not in _NOT_PUSHED


def is_stored(event_type: str) -> bool:
    """Whether ``emit`` writes an outbox row for events of this type (shipped to Kafka and ClickHouse)."""
    return event_type not in _NOT_STORED


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
    "user_logged_in": "A player logged in with their password (data: method, day).",
    "profile_update": "A player's profile changed (data: the changed fields).",
    "balance_update": "A wallet balance changed (data: balances, deltas, reason, reference).",
    "purchase_update": "An order changed state (data: receipt_code, status, product).",
    "reward_granted": "A reward was paid (data: source, amounts).",
    "streak_update": "The daily streak changed (data: count, claimed_today).",
    "event_progress": "Progress in a live event or mission changed.",
    "achievement_progress": "Progress towards an achievement changed.",
    "stats_update": "A player's game statistics changed.",
    "game_event": "What the player's game screen shows of a round (data: subtype such as slot_spin, game, "
    "round_id, status, bet_amount, win_amount, result, balance).",
}.items():
    register_event_type(_name, _description)

# Changes that come by the dozen in one transaction (a round's progress in every mission, event
# and achievement it counts towards): one outbox row, Kafka message and ClickHouse row for all of
# them (``realtime.services.emit_grouped``); each change is still an event of its own type for the
# subscribers and the player's sockets.
register_event_type(
    "progress_update",
    "A transaction's progress in live events, missions and achievements, stored as one row (data: changes, "
    "each {type: event_progress or achievement_progress, data}); each change is pushed as an event of its type.",
    pushed=False,
)

# What a player's client says it showed or did (realtime.telemetry). A claim, not a
# fact: kept for analytics only, never pushed back, and nothing may subscribe to it.
register_event_type(
    "client_telemetry",
    "Client-reported telemetry, for analytics only (data: name, client_ts, properties, client_reported: true).",
    pushed=False,
)


# --- Initial state of a WebSocket connection ------------------------------------
# Apps contribute named sections (profile, balances, streak...) without the
# realtime app importing them; the consumer sends them as `initial_state`.
InitialStateProvider = Callable[[Any], Any]
_INITIAL_STATE: dict[str, InitialStateProvider] = {}


def register_initial_state(section: str, provider: InitialStateProvider) -> None:
    _INITIAL_STATE[section] = provider


def initial_state_for(user: Any) -> dict[str, Any]:
    """Every section; reads the sections have in common are done once (``casino.reads``)."""
    with shared_reads():
        return {section: provider(user) for section, provider in _INITIAL_STATE.items()}


# --- Plug-ins the realtime app needs but must not import ---------------------------
# The WebSocket needs someone to turn an access token into a player, and the
# live metrics need a count of players online; both belong to the accounts app,
# which registers them in its AppConfig.ready().


class SocketUser(Protocol):
    """What the socket needs of a player: an id (the initial-state providers get the object)."""

    pk: Any


SocketAuthenticator = Callable[[str], SocketUser]
"""Raw access token -> the player. Raises ``casino.errors.ApplicationError`` to
refuse (the socket is closed with 4401); records the connection as activity."""

OnlinePlayersSource = Callable[[datetime], int]
"""How many active players were seen at or after the given moment."""


class NotRegistered(LookupError):
    """A plug-in the realtime app needs was never registered."""


class _Slot(Generic[PlugIn]):
    """One plug-in, registered once at start-up."""

    def __init__(self, what: str, register_with: str) -> None:
        self.what = what
        self.register_with = register_with
        self.plug_in: PlugIn | None = None

    def register(self, plug_in: PlugIn) -> None:
        if self.plug_in is not None and self.plug_in != plug_in:
            raise ValueError(f"another {self.what} is already registered: {self.plug_in!r}")
        self.plug_in = plug_in

    def get(self) -> PlugIn:
        if self.plug_in is None:
            raise NotRegistered(
                f"no {self.what} is registered: an installed app must call "
                f"realtime.registry.{self.register_with}() in its AppConfig.ready() (the accounts app does)"
            )
        return self.plug_in


_socket_authenticator: _Slot[SocketAuthenticator] = _Slot("WebSocket authenticator", "register_socket_authenticator")
_online_players_source: _Slot[OnlinePlayersSource] = _Slot("online players source", "register_online_players_source")


def register_socket_authenticator(authenticator: SocketAuthenticator) -> None:
    _socket_authenticator.register(authenticator)


def socket_authenticator() -> SocketAuthenticator:
    """The registered authenticator; :class:`NotRegistered` if there is none."""
    return _socket_authenticator.get()


def register_online_players_source(source: OnlinePlayersSource) -> None:
    _online_players_source.register(source)


def online_players_source() -> OnlinePlayersSource:
    """The registered source; :class:`NotRegistered` if there is none."""
    return _online_players_source.get()
