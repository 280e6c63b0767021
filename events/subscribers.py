"""How events/ reacts to other apps' domain events: every metric of the registry
(``events.metric_registry``) is registered here, next to the source it is fed by, and one
subscriber (:func:`count_progress`) counts each source event once towards events, missions and
achievements, inside the emitter's transaction.

| metric | fed by | contribution | aggregation | per game |
|---|---|---|---|---|
| rounds_played | game_round | 1 per settled round | sum | yes |
| rounds_won | game_round | 1 per round paid more than its bet | sum | yes |
| amount_bet | game_round | the bet | sum | yes |
| amount_won | game_round | the payout | sum | yes |
| big_wins | game_round | 1 when the payout is at least 10x the bet | sum | yes |
| biggest_win | game_round | the payout of a won round | max | yes |
| win_streak | game_round | the player's consecutive wins in the game | max | yes |
| purchases | purchase_update | 1 per fulfilled order | sum | no |
| gems_bought | purchase_update | the gems a fulfilled order grants | sum | no |
| gold_bought | purchase_update | the gold a fulfilled order grants | sum | no |
| streak_days | streak_update | the streak's day count | max | no |
| logins | user_logged_in | 1 per password login | sum | no |
"""

from __future__ import annotations

from typing import Any

from events.enums import Aggregation
from events.metric_registry import Contribution, Metric, register_metric, register_source
from events.services.progress import progress_count
from realtime.registry import DomainEvent

SOURCE_EVENT_TYPES = ("game_round", "purchase_update", "streak_update", "user_logged_in")


def count_progress(event: DomainEvent) -> None:
    progress_count(event=event)


def _data(event: DomainEvent, name: str, default: Any = 0) -> Any:
    return event.data.get(name, default)


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _fulfilled(event: DomainEvent) -> bool:
    return _data(event, "state", "") == "fulfilled"


def _bought(currency: str) -> Contribution:
    """The amount of ``currency`` a fulfilled order grants (0 for any other order update)."""

    def contribution(event: DomainEvent) -> int:
        return _int(_data(event, "grants", {}).get(currency)) if _fulfilled(event) else 0

    return contribution


def register_metrics() -> None:
    # --- games: one settled round (games.services.rounds.round_event_data) ---
    register_source(
        "game_round",
        source_key=lambda e: f"round:{e.data['round_id']}" if e.data.get("round_id") else None,
        game_of=lambda e: str(_data(e, "game", "")),
    )
    round_metrics = [
        ("rounds_played", "Rounds played", "Settled rounds.", lambda e: 1, Aggregation.SUM),
        (
            "rounds_won",
            "Rounds won",
            "Rounds that paid more than the bet.",
            lambda e: int(_data(e, "result", "") == "win"),
            Aggregation.SUM,
        ),
        (
            "amount_bet",
            "Amount bet",
            "Gold bet in settled rounds.",
            lambda e: _int(_data(e, "bet_amount")),
            Aggregation.SUM,
        ),
        ("amount_won", "Amount won", "Gold paid out by rounds.", lambda e: _int(_data(e, "payout")), Aggregation.SUM),
        (
            "big_wins",
            "Big wins",
            "Rounds paying at least 10x the bet.",
            lambda e: int(bool(_data(e, "is_big_win", False))),
            Aggregation.SUM,
        ),
        (
            "win_streak",
            "Win streak",
            "Consecutive wins in one game (best reached).",
            lambda e: _int(_data(e, "win_streak")),
            Aggregation.MAX,
        ),
    ]
    for code, label, description, contribution, aggregation in round_metrics:
        register_metric(
            Metric(code, label, description, "game_round", contribution, aggregation=aggregation, per_game=True)
        )

    # --- shop: an order reaching "fulfilled" (shop.services.order_state) ---
    register_source(
        "purchase_update",
        source_key=lambda e: f"order:{e.data.get('receipt_code')}:fulfilled"
        if _fulfilled(e) and e.data.get("receipt_code")
        else None,
    )
    register_metric(
        Metric("purchases", "Purchases", "Fulfilled orders.", "purchase_update", lambda e: int(_fulfilled(e)))
    )
    for currency in ("gems", "gold"):
        register_metric(
            Metric(
                f"{currency}_bought",
                f"{currency.capitalize()} bought",
                f"The {currency} fulfilled orders grant.",
                "purchase_update",
                _bought(currency),
            )
        )

    # --- economy: the daily streak (economy.services.streak) ---
    register_source("streak_update", source_key=lambda e: f"streak:{e.user_id}:{_data(e, 'date', '')}")
    register_metric(
        Metric(
            "streak_days",
            "Streak days",
            "The daily streak's day count (best reached).",
            "streak_update",
            lambda e: _int(_data(e, "count")),
            aggregation=Aggregation.MAX,
        )
    )

    # --- accounts: a password login (accounts.services.auth.user_login) ---
    register_source("user_logged_in", source_key=lambda e: f"login:{e.event_id}")
    register_metric(Metric("logins", "Logins", "Password logins.", "user_logged_in", lambda e: 1))
