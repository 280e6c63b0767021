"""The games' part of the players' RFM figures (``economy.rfm``): every settled round is an
activity. From ``GameRound`` (its settlement time) or from ClickHouse's ``game_round``
events (emitted when a round settles, so their time is the same moment)."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Max, Q

from economy.rfm import RfmFacts, RfmSpan, from_epoch_ms
from games.enums import RoundStatus
from games.models import GameRound

GAME_ROUND_EVENT = "game_round"


def rounds_postgres(span: RfmSpan) -> dict[int, RfmFacts]:
    rows = (
        GameRound.objects.filter(status=RoundStatus.SETTLED, settled_at__lt=span.until)
        .values("user_id")
        .annotate(last_at=Max("settled_at"), rounds=Count("id", filter=Q(settled_at__gte=span.since)))
        .order_by()
        .values_list("user_id", "last_at", "rounds")
    )
    return {user_id: RfmFacts(last_at=last_at, activities=rounds) for user_id, last_at, rounds in rows}


def rounds_clickhouse(ch: Any, span: RfmSpan) -> dict[int, RfmFacts]:
    from realtime import clickhouse

    # A constant table name; every value is a bound parameter. uniqExactIf: a redelivered
    # event may be there twice until ClickHouse merges it away.
    query = (
        "SELECT user_id, max(occurred_ms), uniqExactIf(event_id, occurred_ms >= %(since_ms)s) "  # noqa: S608
        f"FROM {clickhouse.TABLE} WHERE type = %(type)s AND user_id > 0 AND occurred_ms < %(until_ms)s "
        "GROUP BY user_id"
    )
    rows = ch.execute(query, {"type": GAME_ROUND_EVENT, "since_ms": span.since_ms, "until_ms": span.until_ms})
    return {
        int(user_id): RfmFacts(last_at=from_epoch_ms(last_ms), activities=int(rounds))
        for user_id, last_ms, rounds in rows
    }


def register() -> None:
    from economy.rfm import register_rfm_source

    register_rfm_source("games", postgres=rounds_postgres, clickhouse=rounds_clickhouse)
