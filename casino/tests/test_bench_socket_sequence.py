"""bench/socket_sequence.py: how the benchmark's player sockets keep the player's numbered
events, answer a gap with a resync (as the app does, realtime/consumers.py) and count what
came back; bench/socket_stats.py sums the rows per stage."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bench.socket_sequence import SequenceBook

pytest.importorskip("numpy")  # socket_stats: a bench tool (requirements-bench.txt)

from bench import socket_stats


class Rows:
    """What the book records, as bench/recording.py's ``record_socket`` would write it."""

    def __init__(self) -> None:
        self.rows: list[tuple[float, str, str, float]] = []

    def __call__(self, kind: str, name: str, ms: float) -> None:
        self.rows.append((100.0 + len(self.rows) / 1000, kind, name, ms))

    def kinds(self) -> list[tuple[str, str, float]]:
        return [(kind, name, ms) for _at, kind, name, ms in self.rows if kind != "push"]


def _event(seq: int, kind: str = "balance_update") -> dict[str, Any]:
    return {"type": kind, "seq": seq, "timestamp": datetime.now(UTC).isoformat()}


def test_a_gap_asks_for_a_resync_from_the_last_event_held_and_the_replay_recovers_it() -> None:
    rows = Rows()
    book = SequenceBook(rows)
    book.state(10)  # the socket's initial state
    # Given events 11 and 12, then 15: 13 and 14 never arrived
    assert [book.event(_event(seq)) for seq in (11, 12)] == [("push", None), ("push", None)]
    assert book.event(_event(15, "event_progress")) == ("push", 12)  # resync since 12
    assert book.missing == {13, 14}
    # When the server replays 13..15 (15 again: it follows the gap) and a new event comes
    book.replay(3)
    outcomes = [book.event(_event(seq)) for seq in (13, 14, 15, 16)]
    assert outcomes == [("recovered", None), ("recovered", None), ("resent", None), ("push", None)]
    # Then the two missing came back, nothing counts as repeated, and 16 is an ordinary push
    assert book.missing == set() and book.last_seq == 16
    assert rows.kinds() == [
        ("gap", "event_progress", 2.0),
        ("resync", "replay", 3.0),
        ("recovered", "balance_update", 0.0),
        ("recovered", "balance_update", 0.0),
    ]
    summary = socket_stats.summary(rows.rows, 0.0, 200.0)
    assert (summary["pushes"], summary["lost"], summary["duplicated"]) == (4, 2, 0)  # lost stays lost: the target
    assert (summary["resyncs"], summary["recovered"], summary["covered_by_state"]) == (1, 2, 0)


def test_a_fresh_state_covers_what_the_server_no_longer_kept() -> None:
    rows = Rows()
    book = SequenceBook(rows)
    book.state(1)
    assert book.event(_event(2)) == ("push", None)
    assert book.event(_event(40)) == ("push", 2)  # 37 events missing, more than the server keeps
    # When the server answers the resync with a fresh state numbered 41
    book.state(41)
    # Then every missing event is covered by it, and 41 is where the socket stands
    assert book.missing == set() and book.last_seq == 41
    summary = socket_stats.summary(rows.rows, 0.0, 200.0)
    assert (summary["lost"], summary["resyncs"], summary["covered_by_state"]) == (37, 1, 37)


def test_an_event_numbered_at_or_below_the_last_outside_a_replay_is_a_repeat() -> None:
    rows = Rows()
    book = SequenceBook(rows)
    book.state(5)
    assert [book.event(_event(seq)) for seq in (6, 6, 4)] == [("push", None), ("dup", None), ("dup", None)]
    assert rows.kinds() == [("dup", "balance_update", 0.0), ("dup", "balance_update", 0.0)]
    assert socket_stats.summary(rows.rows, 0.0, 200.0)["duplicated"] == 2


def test_a_replay_counts_only_the_events_it_announced() -> None:
    rows = Rows()
    book = SequenceBook(rows)
    book.state(1)
    book.event(_event(3))  # 2 missing
    book.replay(2)  # 2 and 3
    book.event(_event(2))
    book.event(_event(3))  # the re-send of 3: not a repeat
    book.event(_event(3))  # after the replay: a repeat
    assert [row[:2] for row in rows.kinds()] == [
        ("gap", "balance_update"),
        ("resync", "replay"),
        ("recovered", "balance_update"),
        ("dup", "balance_update"),
    ]


@pytest.mark.django_db(transaction=True)
def test_the_book_s_resync_is_answered_by_the_real_socket_and_brings_the_missing_event_back() -> None:
    """The book against the app's socket (the real ASGI application, channel layer and Redis):
    an event withheld from the book (as if the network lost it) makes it ask for a resync
    in the server's terms, and the server's replay recovers it."""
    from asgiref.sync import async_to_sync, sync_to_async
    from django.db import transaction

    import realtime
    from accounts.tests.factories import UserFactory
    from accounts.tokens import tokens_issue
    from realtime.push import dispatcher
    from realtime.tests.socket_clients import open_all, require_project_layer

    require_project_layer()
    user = UserFactory()
    token = tokens_issue(user=user).access

    def push_three() -> None:
        for n in range(3):
            with transaction.atomic():
                realtime.emit("profile_update", user, {"n": n})
        assert dispatcher.wait_idle(10)

    rows = Rows()
    book = SequenceBook(rows)

    async def scenario() -> list[str]:
        (client,) = await open_all([token])
        book.state((await client.next_of("initial_state"))["seq"])
        await sync_to_async(push_three)()
        events = [await client.next_of("profile_update") for _ in range(3)]
        # Given the book never sees the second event
        outcomes = [book.event(events[0])[0]]
        outcome, since = book.event(events[2])
        outcomes.append(outcome)
        assert since == events[0]["seq"]
        # When it asks the server as the bench's sockets do
        await client.send({"type": "resync", "since": since})
        replay = await client.next_of("replay")
        book.replay(replay["count"])
        for _ in range(replay["count"]):
            outcomes.append(book.event(await client.next_of("profile_update"))[0])
        await client.close()
        return outcomes

    outcomes = async_to_sync(scenario)()

    # Then the replay brought the missing event back and re-sent the one after it, not a repeat
    assert outcomes == ["push", "push", "recovered", "resent"]
    assert book.missing == set()
    summary = socket_stats.summary(rows.rows, 0.0, 200.0)
    assert (summary["lost"], summary["recovered"], summary["duplicated"]) == (1, 1, 0)
