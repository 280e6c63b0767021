"""Crash (games/services/crash.py): the 1%-edge crash point, the auto cash-out settled in the bet
request, the live round on the server clock (cash-out priced at the time of receipt, lost at the
crash), the crash point kept out of every response and push until the round is over, the settle
task, refusals, retries, and the verifier recomputing rounds fetched from the API."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.tests.factories import UserFactory
from accounts.tokens import tokens_issue
from economy.models import LedgerEntry, Wallet
from economy.services import wallet_grant
from games.enums import RoundStatus
from games.exceptions import InvalidAutoCashout
from games.fairness import crash_multiplier_at, crash_point_hundredths, crash_rtp, crash_time_ms, seed_hash
from games.models import FairnessSeed, GameConfig, GameRound, PlayerGameStats
from games.services import Draw, crash_bet, crash_decider, crash_settle, crash_settle_due
from games.services.crash import MAX_MULTIPLIER_HUNDREDTHS, crash_target_parse
from games.tests.factories import game_config_change
from realtime.models import OutboxEvent

CLIENT_SEED = "crash-tests"
LEAKY_KEYS = {"crash_point", "max_multiplier", "settle_due_at", "crash_time", "crash_time_ms"}
VERIFIER_PATH = Path(__file__).resolve().parents[2] / "tools" / "verify_round.py"


# --- helpers -------------------------------------------------------------------------------------


def fund(user: Any, gold: int = 100_000) -> None:
    wallet_grant(user=user, bundle={"gold": gold}, reason="admin_adjust", idempotency_key=f"fund:{user.pk}:{gold}")


def server_seed_where(predicate: Any, *, nonces: int = 1) -> str:
    """A server seed whose first ``nonces`` crash points (client seed CLIENT_SEED) satisfy
    ``predicate(list_of_points)``: lets a test know what the fair bytes will decide."""
    for index in range(200_000):
        server_seed = hashlib.sha256(f"crash-test-seed-{index}".encode()).hexdigest()
        points = [crash_point_hundredths(server_seed, CLIENT_SEED, nonce) for nonce in range(nonces)]
        if predicate(points):
            return server_seed
    raise AssertionError("no such seed")


def give_seed(user: Any, server_seed: str) -> None:
    """The player's active seed is ``server_seed`` (as the first round would have created it)."""
    FairnessSeed.objects.create(
        user=user,
        server_seed=server_seed,
        server_seed_hash=seed_hash(server_seed),
        client_seed=CLIENT_SEED,
        created_at=timezone.now(),
    )


def player_with_crash_point(user: Any, predicate: Any) -> int:
    """Fund ``user`` and give them a seed whose next round's crash point satisfies ``predicate``."""
    fund(user)
    server_seed = server_seed_where(lambda points: predicate(points[0]))
    give_seed(user, server_seed)
    return crash_point_hundredths(server_seed, CLIENT_SEED, 0)


def multiplier_text(hundredths: int) -> str:
    """How the API writes a multiplier: 1230 -> "12.30"."""
    return f"{hundredths // 100}.{hundredths % 100:02d}"


def gold(user: Any) -> int:
    return int(Wallet.objects.get(pk=user.pk).gold)


def bet(client: APIClient, body: dict[str, Any], key: str | None = None) -> Any:
    headers: dict[str, Any] = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post("/api/games/crash/bet", body, format="json", **headers)


def cashout(client: APIClient, game_id: object) -> Any:
    return client.post("/api/games/crash/cashout", {"game_id": game_id}, format="json")


def verifier() -> Any:
    spec = importlib.util.spec_from_file_location("verify_round_for_crash", VERIFIER_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def crash_fields(value: Any) -> list[str]:
    """Every key anywhere in ``value`` that would carry the crash point or the crash time."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key in LEAKY_KEYS and item is not None:
                found.append(key)
            found.extend(crash_fields(item))
    elif isinstance(value, list):
        for item in value:
            found.extend(crash_fields(item))
    return found


# --- the math, on the pure decider ---------------------------------------------------------------


def test_the_declared_rtp_is_99_percent_at_every_target() -> None:
    # Given targets across the whole allowed range, when the exact RTP is computed from the formula
    for target in (101, 150, 200, 250, 333, 1000, 5000, 100_000):
        rtp = crash_rtp(target)
        # Then it is 99%, short by less than target * 2**-52
        assert Decimal("0.99") - Decimal(rtp.numerator) / Decimal(rtp.denominator) < Decimal(target) / 100 / 2**52
        assert rtp <= Decimal("0.99")


def test_over_100000_decider_rounds_the_crash_reaches_2_with_p_0_495_and_the_rtp_is_99_percent() -> None:
    # Given 10^5 rounds decided by the crash decider (auto target 2.00, bet 100, one seed)
    rounds = 100_000
    server_seed = hashlib.sha256(b"crash-statistics").hexdigest()
    decide = crash_decider(200, bet=100)
    config = GameConfig(game="crash", min_bet=10, max_bet=10_000)
    points: list[int] = []
    paid_at_two = 0
    for nonce in range(rounds):
        decision = decide(Draw(server_seed=server_seed, client_seed="stats", nonce=nonce, config=config))
        points.append(int(Decimal(decision.outcome["crash_point"]) * 100))
        paid_at_two += decision.payout
    # Then P(crash >= 2) is within 3 sigma of 0.495
    p = 0.495
    reached = sum(point >= 200 for point in points) / rounds
    assert abs(reached - p) <= 3 * math.sqrt(p * (1 - p) / rounds), reached
    # And the measured RTP at several targets is within 3 sigma of 99% (sigma from the exact variance)
    for target in (101, 150, 200, 500, 1000):
        t = target / 100
        win = 0.99 / t
        paid = sum(100 * target // 100 for point in points if point >= target)
        measured = paid / (100 * rounds)
        sigma = t * math.sqrt(win * (1 - win) / rounds)
        assert abs(measured - 0.99) <= 3 * sigma, (target, measured)
    assert paid_at_two == sum(200 for point in points if point >= 200)


def test_a_live_decision_carries_no_crash_point_and_ends_at_the_crash_time() -> None:
    # Given a seed whose first crash point is 3.00 or more, and a fixed clock
    server_seed = server_seed_where(lambda points: points[0] >= 300)
    point = crash_point_hundredths(server_seed, CLIENT_SEED, 0)
    start = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    # When the decider decides a live round
    decision = crash_decider(None, bet=100, clock=lambda: start)(
        Draw(server_seed=server_seed, client_seed=CLIENT_SEED, nonce=0, config=GameConfig(game="crash"))
    )
    # Then nothing is paid yet, neither outcome nor event names the point, and it stays open until
    # the first ms at which the curve reaches the point
    assert decision.payout == 0 and decision.subtype == "crash_bet"
    assert decision.outcome == {"crash_point": None}
    assert crash_fields(decision.event) == [] and crash_fields(decision.inputs) == []
    assert decision.open_until == start + timedelta(milliseconds=crash_time_ms(min(point, MAX_MULTIPLIER_HUNDREDTHS)))


@pytest.mark.parametrize(
    ("value", "hundredths"),
    [(None, None), (Decimal("1.01"), 101), (Decimal("2.5"), 250), (Decimal("1000.00"), 100_000), (Decimal(3), 300)],
)
def test_an_auto_target_within_1_01_and_1000_is_read_as_hundredths(value: Any, hundredths: int | None) -> None:
    assert crash_target_parse(value) == hundredths


@pytest.mark.parametrize(
    "value",
    [Decimal("1.00"), Decimal("1"), Decimal("0"), Decimal("-2"), Decimal("1000.01"), Decimal("2.345"), Decimal("NaN"),
     Decimal("Infinity"), 2.5, "2.00", True],
)  # fmt: skip
def test_any_other_auto_target_is_refused(value: Any) -> None:
    with pytest.raises(InvalidAutoCashout):
        crash_target_parse(value)


# --- the auto cash-out: settled in the bet request -----------------------------------------------


@pytest.mark.django_db
def test_an_auto_target_the_crash_reaches_pays_stake_times_target_in_the_bet_request(auth_client: APIClient) -> None:
    # Given a player whose next crash point is 2.00 or more
    user = auth_client.user  # type: ignore[attr-defined]
    point = player_with_crash_point(user, lambda p: p >= 200)
    before = gold(user)
    # When they bet 150 with an auto cash-out at 2.00
    response = bet(auth_client, {"bet_amount": 150, "auto_cashout_multiplier": 2.0})
    # Then the round is over in the same request: paid 150 x 2, the crash point shown
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["status"], body["result"], body["win_amount"]) == ("auto_cashed", "win", 300)
    assert body["max_multiplier"] == multiplier_text(point)
    assert (body["auto_cashout_multiplier"], body["cashout_multiplier"]) == ("2.00", None)
    assert body["balance"] == before - 150 + 300 == gold(user)
    round_ = GameRound.objects.get(pk=body["game_id"])
    assert round_.status == RoundStatus.SETTLED and round_.payout == 300
    assert OutboxEvent.objects.filter(user_id=user.pk, type="game_round").count() == 1
    end = OutboxEvent.objects.get(user_id=user.pk, type="game_event")
    assert end.data["subtype"] == "crash_end" and end.data["max_multiplier"] == body["max_multiplier"]


@pytest.mark.django_db
def test_an_auto_target_above_the_crash_point_loses_the_stake(auth_client: APIClient) -> None:
    # Given a player whose next crash point is below 1.50
    user = auth_client.user  # type: ignore[attr-defined]
    point = player_with_crash_point(user, lambda p: p < 150)
    before = gold(user)
    # When they bet with an auto cash-out at 1.50
    body = bet(auth_client, {"bet_amount": 100, "auto_cashout_multiplier": "1.50"}).json()
    # Then the stake is lost and the crash point shown
    assert (body["status"], body["result"], body["win_amount"]) == ("lost", "lose", 0)
    assert body["max_multiplier"] == multiplier_text(point)
    assert gold(user) == before - 100 == body["balance"]
    assert PlayerGameStats.objects.get(user=user, game="crash").losses == 1


# --- the live round on the server clock ----------------------------------------------------------


@pytest.mark.django_db
def test_a_live_cash_out_before_the_crash_pays_stake_times_the_multiplier_at_the_server_time(
    auth_client: APIClient,
) -> None:
    # Given a player whose next crash point is 3.00 or more, on a frozen server clock
    user = auth_client.user  # type: ignore[attr-defined]
    player_with_crash_point(user, lambda p: p >= 300)
    before = gold(user)
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        # When they bet 1000 without a target
        placed = bet(auth_client, {"bet_amount": 1000}).json()
        # Then the round runs: the start and the formula, no crash point
        assert (placed["status"], placed["win_amount"], placed["current_multiplier"]) == ("running", 0, "1.00")
        assert "max_multiplier" not in placed and placed["cashout_multiplier"] is None
        assert placed["balance"] == before - 1000
        assert "e^(0.00006" in placed["multiplier_formula"]
        # When they cash out 10 s later (the client's multiplier is ignored)
        clock.shift(timedelta(seconds=10))
        response = auth_client.post(
            "/api/games/crash/cashout", {"game_id": placed["game_id"], "multiplier": 50}, format="json"
        )
    # Then it pays floor(1000 x multiplier(10 000 ms)) = 1000 x 1.82, the whole stake times m
    assert crash_multiplier_at(10_000) == 182
    body = response.json()
    assert response.status_code == 200, body
    assert (body["status"], body["result"], body["win_amount"], body["cashout_multiplier"]) == (
        "cashed_out",
        "win",
        1820,
        "1.82",
    )
    assert Decimal(body["max_multiplier"]) >= Decimal("3.00")
    assert gold(user) == before - 1000 + 1820 == body["balance"]
    cashed = OutboxEvent.objects.filter(user_id=user.pk, type="game_event").order_by("id").last()
    assert cashed is not None and cashed.data["subtype"] == "crash_cashout"


@pytest.mark.django_db
def test_a_live_cash_out_at_or_after_the_crash_loses(auth_client: APIClient) -> None:
    # Given a running round whose crash point is between 1.50 and 5.00
    user = auth_client.user  # type: ignore[attr-defined]
    point = player_with_crash_point(user, lambda p: 150 <= p <= 500)
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        placed = bet(auth_client, {"bet_amount": 500}).json()
        # When the cash-out arrives exactly at the crash time
        clock.shift(timedelta(milliseconds=crash_time_ms(point)))
        body = cashout(auth_client, placed["game_id"]).json()
    # Then the round is lost, and now that it is over the crash point is shown
    assert (body["status"], body["result"], body["win_amount"], body["cashout_multiplier"]) == ("lost", "lose", 0, None)
    assert body["max_multiplier"] == multiplier_text(point)
    assert not LedgerEntry.objects.filter(wallet_id=user.pk, reason="game_win").exists()
    end = OutboxEvent.objects.filter(user_id=user.pk, type="game_event").order_by("id").last()
    assert end is not None and end.data["subtype"] == "crash_end"


@pytest.mark.django_db
def test_a_cash_out_one_millisecond_before_the_crash_still_pays_below_the_crash_point(auth_client: APIClient) -> None:
    user = auth_client.user  # type: ignore[attr-defined]
    point = player_with_crash_point(user, lambda p: 150 <= p <= 500)
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        placed = bet(auth_client, {"bet_amount": 100}).json()
        clock.shift(timedelta(milliseconds=crash_time_ms(point) - 1))
        body = cashout(auth_client, placed["game_id"]).json()
    multiplier = crash_multiplier_at(crash_time_ms(point) - 1)
    assert multiplier < point
    assert (body["status"], body["win_amount"]) == ("cashed_out", 100 * multiplier // 100)


@pytest.mark.django_db
def test_a_live_round_whose_crash_point_is_1_00_is_lost_at_once(auth_client: APIClient) -> None:
    # Given a player whose next crash point is 1.00 (about 2% of rounds)
    user = auth_client.user  # type: ignore[attr-defined]
    player_with_crash_point(user, lambda p: p == 100)
    # When they start a live round
    body = bet(auth_client, {"bet_amount": 100}).json()
    # Then it crashed at its start: the bet response already has the final state
    assert (body["status"], body["win_amount"], body["max_multiplier"]) == ("lost", 0, "1.00")
    assert GameRound.objects.get(pk=body["game_id"]).status == RoundStatus.SETTLED


@pytest.mark.django_db
def test_a_cash_out_of_a_round_already_over_answers_its_final_state_and_pays_once(auth_client: APIClient) -> None:
    user = auth_client.user  # type: ignore[attr-defined]
    player_with_crash_point(user, lambda p: p >= 300)
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        placed = bet(auth_client, {"bet_amount": 100}).json()
        clock.shift(timedelta(seconds=5))
        first = cashout(auth_client, placed["game_id"]).json()
        clock.shift(timedelta(seconds=5))
        second = cashout(auth_client, placed["game_id"])
    assert second.status_code == 200
    assert {k: v for k, v in second.json().items() if k != "server_time"} == {
        k: v for k, v in first.items() if k != "server_time"
    }
    assert LedgerEntry.objects.filter(wallet_id=user.pk, reason="game_win").count() == 1


@pytest.mark.django_db
def test_reading_a_running_round_shows_the_multiplier_now_and_reading_it_after_the_crash_settles_it(
    auth_client: APIClient,
) -> None:
    # Given a running round with a crash point between 2.00 and 5.00
    user = auth_client.user  # type: ignore[attr-defined]
    point = player_with_crash_point(user, lambda p: 200 <= p <= 500)
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        placed = bet(auth_client, {"bet_amount": 100}).json()
        # When it is read 5 s in
        clock.shift(timedelta(seconds=5))
        running = auth_client.get(f"/api/games/crash/{placed['game_id']}").json()
        # Then it is running at multiplier(5000 ms), with no crash point
        assert (running["status"], running["elapsed_ms"]) == ("running", 5000)
        assert running["current_multiplier"] == multiplier_text(crash_multiplier_at(5000))
        assert crash_fields(running) == []
        # When it is read after its crash time (no task has run)
        clock.shift(timedelta(milliseconds=crash_time_ms(point)))
        over = auth_client.get(f"/api/games/crash/{placed['game_id']}/").json()
    # Then the read settled it: lost, the crash point shown, crash_end pushed
    assert (over["status"], over["max_multiplier"]) == ("lost", multiplier_text(point))
    assert GameRound.objects.get(pk=placed["game_id"]).status == RoundStatus.SETTLED
    subtypes = list(
        OutboxEvent.objects.filter(user_id=user.pk, type="game_event").order_by("id").values_list("data", flat=True)
    )
    assert [data["subtype"] for data in subtypes] == ["crash_bet", "crash_end"]


@pytest.mark.django_db
def test_the_crash_point_is_in_no_response_and_no_push_until_the_round_is_over(auth_client: APIClient) -> None:
    # Given a player with a running round (crash point 2.00 or more)
    user = auth_client.user  # type: ignore[attr-defined]
    point = player_with_crash_point(user, lambda p: p >= 200)
    point_text = multiplier_text(point)
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        placed = bet(auth_client, {"bet_amount": 100})
        clock.shift(timedelta(seconds=1))
        game_id = placed.json()["game_id"]
        # When every read a player can make is made while it runs
        responses = [
            placed,
            auth_client.get(f"/api/games/crash/{game_id}"),
            auth_client.get(f"/api/games/rounds/{game_id}"),
            auth_client.get("/api/games/history"),
            auth_client.get("/api/games/stats/me"),
            auth_client.get("/api/games/fairness"),
            auth_client.post("/api/games/fairness/rotate", {}, format="json"),
        ]
        pushed = list(OutboxEvent.objects.filter(user_id=user.pk).values_list("data", flat=True))
    # Then no response and no pushed event (game_event, balance_update, ...) names the crash point
    # or the crash time, and the seed that would reveal it stays secret (rotation refused)
    assert responses[-1].status_code == 409 and responses[-1].json()["error"] == "round_in_progress"
    detail = responses[2].json()
    assert detail["outcome"] is None and detail["fairness"]["server_seed"] is None
    for response in responses:
        text = json.dumps(response.json())
        assert crash_fields(response.json()) == [], (response.request["PATH_INFO"], text)
        assert f'"{point_text}"' not in text
    for data in pushed:
        assert crash_fields(data) == [] and f'"{point_text}"' not in json.dumps(data), data
    assert {data["subtype"] for data in pushed if "subtype" in data} == {"crash_bet"}


@pytest.mark.django_db
def test_a_live_round_still_running_at_1000x_pays_there_by_itself(user: Any) -> None:
    # Given a player whose next crash point is at least the 1000.00 cap
    point = player_with_crash_point(user, lambda p: p >= MAX_MULTIPLIER_HUNDREDTHS)
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        played = crash_bet(user=user, bet_amount=10, auto_cashout_multiplier=None, idempotency_key="cap")
        # When the sweeper runs once the curve has reached 1000.00
        clock.shift(timedelta(milliseconds=crash_time_ms(MAX_MULTIPLIER_HUNDREDTHS)))
        assert crash_settle_due() == 1
    # Then it paid 10 x 1000 at the cap, and the verifier's rule (m <= crash point) holds
    round_ = GameRound.objects.get(pk=played.round.pk)
    assert (round_.payout, round_.inputs["cashout_multiplier"]) == (10_000, "1000.00")
    assert round_.outcome["crash_point"] == multiplier_text(point)


# --- the settle task -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_settle_task_queued_on_commit_does_nothing_before_the_crash_time_and_settles_after(
    user: Any, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    # Given Celery running tasks eagerly (embedded mode: a task's eta is ignored, it runs at once)
    from casino.celery import app as celery_app

    settings.CELERY_TASK_ALWAYS_EAGER = True
    assert celery_app.conf.task_always_eager
    point = player_with_crash_point(user, lambda p: 200 <= p <= 500)
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        # When a live bet commits and its on-commit work runs (the push, and the settle task)
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            played = crash_bet(user=user, bet_amount=100, auto_cashout_multiplier=None, idempotency_key="eager")
        # Then the task ran before the crash time and did nothing: the round is still open
        assert GameRound.objects.get(pk=played.round.pk).status == RoundStatus.OPEN
        # And the same queued work, run again after the crash time, settles it (it is the settle task)
        clock.shift(timedelta(milliseconds=crash_time_ms(point)))
        for callback in callbacks:
            callback()
    assert GameRound.objects.get(pk=played.round.pk).status == RoundStatus.SETTLED
    assert crash_settle(round_id=played.round.pk) is False  # already over: nothing more


@pytest.mark.django_db
def test_the_sweeper_settles_every_due_round_once_and_pushes_crash_end(user: Any) -> None:
    # Given two players' running rounds, one due (crash point < 2) and one not (crash point >= 10)
    other: Any = UserFactory()
    due_point = player_with_crash_point(user, lambda p: 110 <= p < 200)
    player_with_crash_point(other, lambda p: p >= 1000)
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        due = crash_bet(user=user, bet_amount=100, auto_cashout_multiplier=None, idempotency_key="a").round
        running = crash_bet(user=other, bet_amount=100, auto_cashout_multiplier=None, idempotency_key="b").round
        # When the sweeper runs after the first round's crash time, twice
        clock.shift(timedelta(milliseconds=crash_time_ms(due_point)))
        settled = [crash_settle_due(), crash_settle_due(), crash_settle(round_id=due.pk)]
    # Then the due round was settled once (lost, crash_end pushed once, counted once); the other runs on
    assert settled == [1, 0, False]
    assert GameRound.objects.get(pk=due.pk).status == RoundStatus.SETTLED
    assert GameRound.objects.get(pk=running.pk).status == RoundStatus.OPEN
    ends = OutboxEvent.objects.filter(user_id=user.pk, type="game_event", data__subtype="crash_end")
    assert ends.count() == 1 and ends.get().data["max_multiplier"] == multiplier_text(due_point)
    assert OutboxEvent.objects.filter(user_id=user.pk, type="game_round").count() == 1
    assert PlayerGameStats.objects.get(user=user, game="crash").plays == 1


@pytest.mark.django_db
def test_a_players_own_sweep_ends_only_their_rounds_due_by_now(user: Any) -> None:
    # Given two players' running rounds, the other's due no later than the first's, and a third's not due
    other: Any = UserFactory()
    late: Any = UserFactory()
    point = player_with_crash_point(user, lambda p: 110 <= p < 200)
    player_with_crash_point(other, lambda p: 101 <= p <= point)
    player_with_crash_point(late, lambda p: p >= 1000)
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        mine = crash_bet(user=user, bet_amount=100, auto_cashout_multiplier=None, idempotency_key="a").round
        theirs = crash_bet(user=other, bet_amount=100, auto_cashout_multiplier=None, idempotency_key="b").round
        crash_bet(user=late, bet_amount=100, auto_cashout_multiplier=None, idempotency_key="c")
        # When the first player's sweep runs a millisecond early, then exactly at the crash time
        clock.shift(timedelta(milliseconds=crash_time_ms(point) - 1))
        early = crash_settle_due(user_id=user.pk)
        clock.shift(timedelta(milliseconds=1))
        on_time = [crash_settle_due(user_id=user.pk), crash_settle_due(user_id=late.pk)]
    # Then nothing was due early; on time only their own round ended (due at <= now)
    assert (early, on_time) == (0, [1, 0])
    statuses = dict(GameRound.objects.filter(pk__in=[mine.pk, theirs.pk]).values_list("pk", "status"))
    assert statuses == {mine.pk: RoundStatus.SETTLED, theirs.pk: RoundStatus.OPEN}


# --- refusals and retries ------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"bet_amount": -100}, "bet_out_of_range"),
        ({"bet_amount": 0}, "bet_out_of_range"),
        ({"bet_amount": 10_001}, "bet_out_of_range"),
        ({"bet_amount": 9}, "bet_out_of_range"),
        ({"bet_amount": 100.0}, "validation_error"),
        ({"bet_amount": 1.5}, "validation_error"),
        ({"bet_amount": "100"}, "validation_error"),
        ({"bet_amount": True}, "validation_error"),
        ({}, "validation_error"),
        ({"bet_amount": 100, "auto_cashout_multiplier": 1.0}, "invalid_auto_cashout"),
        ({"bet_amount": 100, "auto_cashout_multiplier": "1.00"}, "invalid_auto_cashout"),
        ({"bet_amount": 100, "auto_cashout_multiplier": -2}, "invalid_auto_cashout"),
        ({"bet_amount": 100, "auto_cashout_multiplier": 1000.01}, "invalid_auto_cashout"),
        ({"bet_amount": 100, "auto_cashout_multiplier": 2.345}, "invalid_auto_cashout"),
        ({"bet_amount": 100, "auto_cashout_multiplier": "NaN"}, "validation_error"),
        ({"bet_amount": 100, "auto_cashout_multiplier": "two"}, "validation_error"),
        ({"bet_amount": 100, "auto_cashout_multiplier": True}, "validation_error"),
        ({"bet_amount": 100, "auto_cashout_multiplier": [2]}, "validation_error"),
    ],
)
def test_a_refused_bet_changes_nothing(auth_client: APIClient, body: dict[str, Any], error: str) -> None:
    # Given a funded player
    user = auth_client.user  # type: ignore[attr-defined]
    fund(user, 50_000)
    entries = LedgerEntry.objects.filter(wallet_id=user.pk).count()
    # When the bet is refused
    response = bet(auth_client, body)
    # Then a 400 with the code, and no round, no ledger entry, no nonce used
    assert response.status_code == 400 and response.json()["error"] == error, response.json()
    assert not GameRound.objects.filter(user=user).exists()
    assert LedgerEntry.objects.filter(wallet_id=user.pk).count() == entries and gold(user) == 50_000
    assert not FairnessSeed.objects.filter(user=user, next_nonce__gt=0).exists()


@pytest.mark.django_db
def test_a_bet_over_the_balance_is_refused_and_changes_nothing(auth_client: APIClient) -> None:
    user = auth_client.user  # type: ignore[attr-defined]
    fund(user, 50)
    response = bet(auth_client, {"bet_amount": 100})
    assert response.status_code == 409 and response.json()["error"] == "insufficient_funds"
    assert not GameRound.objects.filter(user=user).exists() and gold(user) == 50


@pytest.mark.django_db
def test_a_switched_off_crash_refuses_bets(auth_client: APIClient) -> None:
    fund(auth_client.user)  # type: ignore[attr-defined]
    game_config_change("crash", is_enabled=False)
    response = bet(auth_client, {"bet_amount": 100})
    assert response.status_code == 403 and response.json()["error"] == "game_disabled"
    assert not GameRound.objects.exists()


@pytest.mark.django_db
def test_a_retried_bet_with_the_same_key_returns_the_same_round(auth_client: APIClient) -> None:
    # Given a player who bet once with an Idempotency-Key
    user = auth_client.user  # type: ignore[attr-defined]
    fund(user)
    first = bet(auth_client, {"bet_amount": 100, "auto_cashout_multiplier": "2.00"}, key="crash-retry").json()
    # When the same request comes again with the key (and once with another body)
    again = bet(auth_client, {"bet_amount": 100, "auto_cashout_multiplier": 2}, key="crash-retry").json()
    other = bet(auth_client, {"bet_amount": 200, "auto_cashout_multiplier": "2.00"}, key="crash-retry")
    # Then the retry is the same round, nothing played twice; the other body is a conflict
    assert again["game_id"] == first["game_id"] and again["win_amount"] == first["win_amount"]
    assert GameRound.objects.filter(user=user).count() == 1
    assert LedgerEntry.objects.filter(wallet_id=user.pk, reason="game_bet").count() == 1
    assert other.status_code == 409 and other.json()["error"] == "idempotency_key_reused"


@pytest.mark.django_db
def test_a_retried_live_bet_after_its_crash_time_answers_the_settled_round(auth_client: APIClient) -> None:
    user = auth_client.user  # type: ignore[attr-defined]
    point = player_with_crash_point(user, lambda p: 150 <= p < 300)
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        first = bet(auth_client, {"bet_amount": 100}, key="live-retry").json()
        clock.shift(timedelta(milliseconds=crash_time_ms(point) + 1))
        again = bet(auth_client, {"bet_amount": 100}, key="live-retry").json()
    assert first["status"] == "running" and "max_multiplier" not in first
    assert (again["game_id"], again["status"]) == (first["game_id"], "lost")
    assert GameRound.objects.filter(user=user).count() == 1


@pytest.mark.django_db
def test_cashing_out_or_reading_a_round_that_is_not_your_crash_round_is_not_found(auth_client: APIClient) -> None:
    # Given another player's running round, and the caller's own rps round
    other: Any = UserFactory()
    player_with_crash_point(other, lambda p: p >= 200)
    theirs = crash_bet(user=other, bet_amount=100, auto_cashout_multiplier=None, idempotency_key="theirs").round
    user = auth_client.user  # type: ignore[attr-defined]
    fund(user)
    rps = auth_client.post("/api/games/rps/play", {"choice": "rock", "bet_amount": 10}, format="json").json()
    # Then neither can be cashed out or read as the caller's crash round
    for game_id in (theirs.pk, rps["round_id"], 10**12):
        assert cashout(auth_client, game_id).status_code == 404
        response = auth_client.get(f"/api/games/crash/{game_id}")
        assert response.status_code == 404 and response.json()["error"] == "round_not_found"
    assert cashout(auth_client, "crash").status_code == 400  # what the old client sent
    assert GameRound.objects.get(pk=theirs.pk).status == RoundStatus.OPEN


# --- provable fairness ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_verifier_recomputes_crash_rounds_fetched_from_the_api_after_rotating(auth_client: APIClient) -> None:
    # Given three rounds: an auto round, a live round cashed out, a live round that crashed
    user = auth_client.user  # type: ignore[attr-defined]
    fund(user)
    server_seed = server_seed_where(lambda p: p[1] >= 300 and 150 <= p[2] <= 500, nonces=3)
    give_seed(user, server_seed)
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        ids = [bet(auth_client, {"bet_amount": 100, "auto_cashout_multiplier": "1.80"}).json()["game_id"]]
        ids.append(bet(auth_client, {"bet_amount": 100}).json()["game_id"])
        clock.shift(timedelta(seconds=3))
        assert cashout(auth_client, ids[-1]).json()["status"] == "cashed_out"
        ids.append(bet(auth_client, {"bet_amount": 100}).json()["game_id"])
        clock.shift(timedelta(milliseconds=crash_time_ms(crash_point_hundredths(server_seed, CLIENT_SEED, 2))))
        assert auth_client.get(f"/api/games/crash/{ids[-1]}").json()["status"] == "lost"
        # When the player rotates the seed and fetches the rounds
        assert auth_client.post("/api/games/fairness/rotate", {}, format="json").status_code == 200
    rounds = [auth_client.get(f"/api/games/rounds/{game_id}").json() for game_id in ids]
    # Then the independent verifier recomputes every one of them
    module = verifier()
    for round_data in rounds:
        report = module.verify_round(round_data)
        assert report.status == module.VERIFIED, report.render()
    # And a tampered payout is caught
    tampered = {**rounds[1], "payout": rounds[1]["payout"] + 1}
    assert module.verify_round(tampered).status == module.MISMATCH


@pytest.mark.django_db
def test_a_second_player_cannot_use_another_players_token_to_cash_out(api_client: APIClient) -> None:
    owner: Any = UserFactory()
    player_with_crash_point(owner, lambda p: p >= 200)
    round_ = crash_bet(user=owner, bet_amount=100, auto_cashout_multiplier=None, idempotency_key="own").round
    intruder: Any = UserFactory()
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_issue(user=intruder).access}")
    assert cashout(api_client, round_.pk).status_code == 404
    api_client.credentials()
    assert cashout(api_client, round_.pk).status_code == 401
