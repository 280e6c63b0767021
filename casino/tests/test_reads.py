"""casino.reads: reads shared within one scope, plain reads outside one."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from casino.reads import shared, shared_reads


def test_inside_a_scope_each_key_is_read_once_and_outside_every_time() -> None:
    calls: list[str] = []

    def read(name: str) -> str:
        calls.append(name)
        return name.upper()

    with shared_reads():
        inside = [
            shared(("k", 1), lambda: read("a")),
            shared(("k", 1), lambda: read("b")),
            shared("x", lambda: read("x")),
        ]
    outside = [shared(("k", 1), lambda: read("c")), shared(("k", 1), lambda: read("d"))]

    assert inside == ["A", "A", "X"] and outside == ["C", "D"]
    assert calls == ["a", "x", "c", "d"]


def test_scopes_do_not_leak_into_each_other() -> None:
    with shared_reads():
        first = shared("k", lambda: 1)
    with shared_reads():
        second = shared("k", lambda: 2)

    assert (first, second) == (1, 2)


@pytest.mark.django_db
def test_a_sockets_initial_state_reads_the_wallet_streak_and_totals_once(user: Any) -> None:
    from economy.services import streak_claim
    from realtime.registry import initial_state_for

    streak_claim(user=user)

    with CaptureQueriesContext(connection) as queries:
        state = initial_state_for(user)

    sql = [query["sql"] for query in queries.captured_queries]
    assert sum('FROM "economy_wallet"' in q for q in sql) == 1
    assert sum('FROM "economy_dailystreak"' in q for q in sql) == 1
    assert sum('SUM("delta") FROM economy_ledgerentry' in q for q in sql) == 1  # the gold spent (profile and stats)
    assert state["streak"] == state["streaks"]["DAILY_LOGIN"] and state["streak"]["claimed_today"] is True
    assert state["balances"]["gold"] == state["profile"]["gold"] > 0  # the claim's gold, in both sections
    assert state["profile"]["total_spent"] == state["stats"]["total_spent"] == 0
