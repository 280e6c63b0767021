"""Crash under real concurrency (PostgreSQL, threads) and the real WebSocket push: a live round
ends exactly once whoever races to end it (cash-outs, the sweeper, reads), and the pushes a player
receives name the crash point only once the round is over."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.utils import timezone

from accounts.tokens import tokens_issue
from casino.asgi import application
from economy.models import LedgerEntry, Wallet
from games.enums import RoundStatus
from games.fairness import crash_multiplier_at, crash_time_ms
from games.models import GameRound, PlayerGameStats
from games.services import crash_bet, crash_cashout, crash_round_read, crash_settle_due
from games.tests.test_crash import crash_fields, multiplier_text, player_with_crash_point
from realtime.models import OutboxEvent

pytestmark = pytest.mark.django_db(transaction=True)


def test_parallel_cash_outs_of_one_round_pay_once(user: Any, parallel: Any) -> None:
    # Given a running round of 1000 (crash point 3.00 or more) on a frozen clock, 4 s in
    player_with_crash_point(user, lambda p: p >= 300)
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        round_ = crash_bet(user=user, bet_amount=1000, auto_cashout_multiplier=None, idempotency_key="race").round
        balance_after_bet = Wallet.objects.get(pk=user.pk).gold
        clock.shift(timedelta(seconds=4))
        # When 8 cash-outs of it race
        results = parallel(8, lambda _: crash_cashout(user=user, round_id=round_.pk))
    # Then one settled it and paid 1000 x multiplier(4000 ms); the others got the same final state
    assert not [result for result in results if isinstance(result, BaseException)], results
    payout = 1000 * crash_multiplier_at(4000) // 100
    assert [result.replayed for result in results].count(False) == 1
    assert {(result.round.status, result.round.payout) for result in results} == {(RoundStatus.SETTLED, payout)}
    assert LedgerEntry.objects.filter(wallet_id=user.pk, reason="game_win").count() == 1
    assert Wallet.objects.get(pk=user.pk).gold == balance_after_bet + payout


def test_the_sweeper_reads_and_cash_outs_racing_after_the_crash_end_the_round_once(user: Any, parallel: Any) -> None:
    # Given a running round whose crash time has just passed
    point = player_with_crash_point(user, lambda p: 120 <= p <= 300)
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        round_ = crash_bet(user=user, bet_amount=100, auto_cashout_multiplier=None, idempotency_key="end").round
        clock.shift(timedelta(milliseconds=crash_time_ms(point)))

        # When the sweeper, reads and cash-outs race to end it
        def end(index: int) -> Any:
            if index % 3 == 0:
                return crash_settle_due()
            if index % 3 == 1:
                return crash_round_read(user=user, round_id=round_.pk).round.status
            return crash_cashout(user=user, round_id=round_.pk).round.payout

        results = parallel(9, end)
    # Then it ended once: lost, one game_round, one crash_end push, counted once, nothing paid
    assert not [result for result in results if isinstance(result, BaseException)], results
    settled = GameRound.objects.get(pk=round_.pk)
    assert (settled.status, settled.payout, settled.result) == (RoundStatus.SETTLED, 0, "lose")
    assert OutboxEvent.objects.filter(user_id=user.pk, type="game_round").count() == 1
    assert OutboxEvent.objects.filter(user_id=user.pk, type="game_event", data__subtype="crash_end").count() == 1
    assert PlayerGameStats.objects.get(user=user, game="crash").plays == 1
    assert not LedgerEntry.objects.filter(wallet_id=user.pk, reason="game_win").exists()


def test_the_players_socket_gets_no_crash_point_until_the_round_is_over(user: Any) -> None:
    # Given a player connected to the WebSocket, with a next crash point of 10.00 or more
    point = player_with_crash_point(user, lambda p: p >= 1000)
    access = tokens_issue(user=user).access

    async def receive_until(communicator: WebsocketCommunicator, subtype: str) -> list[dict[str, Any]]:
        received: list[dict[str, Any]] = []
        while True:
            envelope = json.loads(await communicator.receive_from(timeout=5))
            received.append(envelope)
            if envelope.get("type") == "game_event" and envelope["data"].get("subtype") == subtype:
                return received

    async def scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        communicator = WebsocketCommunicator(application, f"/api/realtime/sync?token={access}")
        connected, _ = await communicator.connect(timeout=5)
        assert connected
        await communicator.receive_from(timeout=5)  # sync_connected
        await communicator.receive_from(timeout=5)  # initial_state
        # When they start a live round, then cash out
        played = await sync_to_async(crash_bet)(
            user=user, bet_amount=100, auto_cashout_multiplier=None, idempotency_key="socket"
        )
        while_running = await receive_until(communicator, "crash_bet")
        await sync_to_async(crash_cashout)(user=user, round_id=played.round.pk)
        once_over = await receive_until(communicator, "crash_cashout")
        await communicator.disconnect()
        return while_running, once_over

    while_running, once_over = async_to_sync(scenario)()
    # Then nothing pushed while it ran named the crash point; the cash-out's push does
    point_text = multiplier_text(point)
    assert {envelope["type"] for envelope in while_running} >= {"balance_update", "game_event"}
    for envelope in while_running:
        assert crash_fields(envelope) == [] and f'"{point_text}"' not in json.dumps(envelope), envelope
    assert once_over[-1]["data"]["max_multiplier"] == point_text
