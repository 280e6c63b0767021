"""Event type -> notification builder: the one registry of what the inbox says.

Builders read an event's ``data`` as its emitter writes it (the keys are the
emitters' documented fields, as strings: realtime imports no domain app).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from realtime.registry import DomainEvent, subscribe


@dataclass(frozen=True)
class Draft:
    kind: str
    title: str
    body: str = ""
    data: dict[str, Any] = field(default_factory=dict)


Builder = Callable[[DomainEvent], Draft | None]
BUILDERS: dict[str, Builder] = {}


def register_notification_builder(event_type: str, builder: Builder) -> None:
    """Make ``event_type`` events notify their player through ``builder``
    (one builder per type; the type must be registered in ``realtime.registry``)."""
    from realtime.notifications.services import notification_from_event

    existing = BUILDERS.get(event_type)
    if existing is not None and existing is not builder:
        raise ValueError(f"a notification builder for {event_type!r} is already registered: {existing!r}")
    BUILDERS[event_type] = builder
    subscribe(event_type, notification_from_event)


def _amounts(amounts: Mapping[str, Any]) -> str:
    parts = [f"{value:,} {currency}" for currency, value in amounts.items() if isinstance(value, int) and value > 0]
    return ", ".join(parts)


def purchase_update(event: DomainEvent) -> Draft | None:
    """Fulfilled and refunded orders. The detailed order state is ``state``
    (``status`` is the client's four words); older emitters sent it as ``status``."""
    data = event.data
    state = data.get("state") or data.get("status")
    product = str(data.get("product_id") or "your order")
    quantity = data.get("quantity") or 1
    receipt = data.get("receipt_code")
    what = f"{product} x{quantity}" if quantity != 1 else product
    details = {"receipt_code": receipt, "product_id": data.get("product_id"), "state": state}
    if state == "fulfilled":
        return Draft("purchase_fulfilled", "Purchase complete", f"{what} is in your account.", details)
    if state == "refunded":
        return Draft("purchase_refunded", "Purchase refunded", f"Your payment for {what} was refunded.", details)
    return None


def staff_grant(event: DomainEvent) -> Draft | None:
    """A staff adjustment that gave the player something (economy's
    ``wallet_adjust`` emits ``balance_update`` with reason ``admin_adjust``;
    corrections that take something back are not announced as a gift)."""
    data = event.data
    if data.get("reason") != "admin_adjust":
        return None
    given = _amounts(data.get("deltas") or {})
    if not given:
        return None
    return Draft("staff_grant", "A gift from the team", f"You received {given}.", {"amounts": data.get("deltas")})


# reward_granted sources worth an inbox entry; the daily claims the player just made are not.
# Staff grants are announced from balance_update (above), so they are not listed here.
REWARD_TITLES = {
    "event_reward": "Event reward",
    "mission_reward": "Mission reward",
    "achievement": "Achievement reward",
}


def reward_granted(event: DomainEvent) -> Draft | None:
    source = str(event.data.get("source") or "")
    title = REWARD_TITLES.get(source)
    if title is None:
        return None
    amounts = event.data.get("amounts") or {}
    given = _amounts(amounts)
    body = f"You received {given}." if given else ""
    return Draft(f"reward_{source}", title, body, {"source": source, "amounts": amounts})


def register_default_builders() -> None:
    """The builders for the platform's core event types (``RealtimeConfig.ready``)."""
    register_notification_builder("purchase_update", purchase_update)
    register_notification_builder("balance_update", staff_grant)
    register_notification_builder("reward_granted", reward_granted)
