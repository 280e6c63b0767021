"""Leaderboards (games/services/leaderboards/): the Redis boards the subscriber keeps on each
round's commit rank exactly as the SQL recomputation from the rounds does (after 10^4 random
rounds applied in a random order), the rebuild command reproduces them, ties go to who got
there first, the caller sees their own rank, weekly boards start over at the ISO week boundary,
and Redis failing never fails a round."""

from __future__ import annotations

import io
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone

from accounts.tests.factories import UserFactory
from casino.degraded import dependency_failures
from casino.redis_keys import redis_key
from economy.services import wallet_grant
from games.models import GameRound
from games.services import Decision, Draw, round_play
from games.services.fairness import seed_create
from games.services.leaderboards import (
    ALL_GAMES,
    ALL_TIME,
    BIGGEST_WIN,
    BOARD_GAMES,
    KEY_PREFIX,
    METRICS,
    PERIODS,
    ROUNDS_PLAYED,
    TOTAL_WON,
    WEEKLY,
    CountedRound,
    board_key,
    boards_redis,
    leaderboard_get,
    leaderboard_ranking,
    leaderboard_record,
    redis_ranking,
)


def fund(user: Any, gold: int = 10_000_000) -> None:
    wallet_grant(user=user, bundle={"gold": gold}, reason="admin_adjust", idempotency_key=f"fund:{user.pk}:{gold}")


def play(user: Any, key: str, *, payout: int, bet: int = 100, game: str = "rps") -> GameRound:
    def decide(draw: Draw) -> Decision:
        return Decision(payout=payout, inputs={}, outcome={}, subtype="test")

    return round_play(user=user, game=game, bet_amount=bet, idempotency_key=key, fingerprint=key, decide=decide).round


def standings(rows: list[Any]) -> list[tuple[int, int, int]]:
    return [(row.user_id, row.value, row.deciding_round) for row in rows]


def board_rows(board: Any) -> list[tuple[int, str, int]]:
    return [(entry.rank, entry.nickname, entry.value) for entry in board.entries]


def flush_boards() -> None:
    client = boards_redis().client
    keys = list(client.scan_iter(match=f"{redis_key(KEY_PREFIX)}:*", count=1000))
    if keys:
        client.delete(*keys)


# --- The Redis boards equal the SQL recomputation -------------------------------------------------


def random_rounds(players: list[Any], now: datetime, count: int, rng: random.Random) -> list[GameRound]:
    """``count`` rounds over the last three weeks with few distinct payouts (so ties are
    everywhere), some in gems and some still open (neither counts)."""
    seeds = {player.pk: seed_create(user_id=player.pk) for player in players}
    nonces = dict.fromkeys(seeds, 0)
    rows = []
    for index in range(count):
        player = rng.choice(players)
        nonces[player.pk] += 1
        bet = 10
        payout = rng.choice([0, 0, 0, 5, 10, 20, 30, 50, 100])
        settled_at = now - timedelta(seconds=rng.randrange(21 * 24 * 3600))
        is_open = rng.random() < 0.02
        rows.append(
            GameRound(
                user_id=player.pk,
                game=rng.choice(["slot", "crash", "rps", "gacha"]),
                status="open" if is_open else "settled",
                result="" if is_open else ("win" if payout > bet else "draw" if payout == bet else "lose"),
                currency="gems" if rng.random() < 0.03 else "gold",
                bet_amount=bet,
                payout=0 if is_open else payout,
                seed=seeds[player.pk],
                nonce=nonces[player.pk],
                client_seed="c",
                idempotency_key=f"bulk-{index}",
                created_at=settled_at,
                settled_at=None if is_open else settled_at,
            )
        )
    return GameRound.objects.bulk_create(rows, batch_size=2000)


@pytest.mark.django_db
def test_redis_boards_equal_a_sql_recomputation_after_ten_thousand_random_rounds() -> None:
    # Given 10^4 random rounds of 40 players over three weeks, inserted in bulk
    rng = random.Random(20250214)
    now = timezone.now()
    players = UserFactory.create_batch(40)
    with time_machine.travel(now, tick=False):
        rounds = random_rounds(players, now, 10_000, rng)
        # When the subscriber's update function applies the settled ones, in a random order
        # (processes commit out of order) and in batches
        settled = [
            CountedRound(
                round_id=row.pk,
                user_id=row.user_id,
                game=row.game,
                result=row.result,
                payout=row.payout,
                currency=row.currency,
                settled_at=row.settled_at or now,
            )
            for row in rounds
            if row.status == "settled"
        ]
        rng.shuffle(settled)
        for start in range(0, len(settled), 500):
            leaderboard_record(rounds=settled[start : start + 500])

        # Then every board, weekly and all-time, per game and overall, ranks exactly as SQL does
        def assert_every_board_equals_sql() -> int:
            compared = 0
            for period in PERIODS:
                for game in BOARD_GAMES:
                    for metric in METRICS:
                        expected = leaderboard_ranking(game=game, period=period, metric=metric, now=now)
                        actual = redis_ranking(game=game, period=period, metric=metric, now=now)
                        assert standings(actual) == standings(expected), (period, game, metric)
                        assert [row.rank for row in actual] == list(range(1, len(actual) + 1))
                        compared += len(expected)
            return compared

        compared = assert_every_board_equals_sql()
        assert compared > 1000
        # (ties are real: many players share a biggest win and a round count)
        everyone = leaderboard_ranking(game=ALL_GAMES, period=ALL_TIME, metric=BIGGEST_WIN, now=now)
        assert len({row.value for row in everyone}) < len(everyone)

        # When the boards are lost and the rebuild command runs
        flush_boards()
        output = io.StringIO()
        call_command("rebuild_leaderboards", stdout=output)
        # Then it reproduced every board, with a line per board
        assert assert_every_board_equals_sql() == compared
        assert "leaderboard:all:all:total_won: 40 players" in output.getvalue()
        assert output.getvalue().count("players") == len(PERIODS) * len(BOARD_GAMES) * len(METRICS)

        # And the caller's own rank read from Redis equals the SQL's, in and outside the top
        for player in players[:5]:
            for metric in METRICS:
                redis_board = leaderboard_get(game="rps", period=WEEKLY, metric=metric, limit=3, user_id=player.pk)
                sql = leaderboard_ranking(game="rps", period=WEEKLY, metric=metric, now=now, limit=3, user_id=player.pk)
                mine = next((row for row in sql if row.user_id == player.pk), None)
                assert redis_board.source == "redis"
                assert (redis_board.me_rank, redis_board.me_value) == ((mine.rank, mine.value) if mine else (None, 0))
                assert [entry.user_id for entry in redis_board.entries] == [row.user_id for row in sql if row.rank <= 3]


@pytest.mark.django_db
def test_rebuild_of_one_period_leaves_the_other_alone(django_capture_on_commit_callbacks: Any) -> None:
    # Given a player with a round on the boards
    user: Any = UserFactory()
    fund(user)
    with django_capture_on_commit_callbacks(execute=True):
        play(user, "r1", payout=500)
    client = boards_redis().client
    all_time = board_key("all", "all", TOTAL_WON)
    client.zadd(all_time, {"0000000000000000001:999999": -7})  # a stray entry only a rebuild removes
    # When only the weekly boards are rebuilt
    output = io.StringIO()
    call_command("rebuild_leaderboards", "--period", "weekly", stdout=output)
    # Then the all-time board is as it was, and the weekly boards keep a time to live
    assert client.zscore(all_time, "0000000000000000001:999999") == -7
    weekly = leaderboard_get(game="rps", period=WEEKLY, metric=TOTAL_WON, limit=10, user_id=user.pk)
    assert weekly.me_value == 500
    assert 0 < client.ttl(board_key(weekly.period_key, "rps", TOTAL_WON)) <= 21 * 24 * 3600
    assert client.ttl(all_time) == -1
    assert "all_time" not in output.getvalue().splitlines()[0]


# --- Ties, the caller's rank, the week boundary -----------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("mode", ["redis", "database"])
def test_ties_go_to_who_got_there_first(mode: str, settings: Any, django_capture_on_commit_callbacks: Any) -> None:
    if mode == "database":
        settings.REDIS_URL = ""
    alice, bob, carol = (UserFactory(nickname=name) for name in ("Alice", "Bob", "Carol"))
    for player in (alice, bob, carol):
        fund(player)

    def board(metric: str, user: Any = alice) -> list[tuple[int, str, int]]:
        result = leaderboard_get(game="rps", period=WEEKLY, metric=metric, limit=10, user_id=user.pk)
        assert result.source == mode
        return board_rows(result)

    # Given Alice wins 300, then Bob wins 300, then Carol wins 200 and 100, then Alice loses one
    with django_capture_on_commit_callbacks(execute=True):
        play(alice, "a1", payout=300)
        play(bob, "b1", payout=300)
        play(carol, "c1", payout=200)
        play(carol, "c2", payout=100)
        play(alice, "a2", payout=0)
    # Then the biggest win of 300 is first Alice's (she got there first), then Bob's
    assert board(BIGGEST_WIN) == [(1, "Alice", 300), (2, "Bob", 300), (3, "Carol", 200)]
    # And all three have won 300 in total: Alice reached it first, Carol last (her second win)
    assert board(TOTAL_WON) == [(1, "Alice", 300), (2, "Bob", 300), (3, "Carol", 300)]
    # And of the two players with two rounds, Carol got there first (Alice's loss came after)
    assert board(ROUNDS_PLAYED) == [(1, "Carol", 2), (2, "Alice", 2), (3, "Bob", 1)]

    # When Bob wins 300 again
    with django_capture_on_commit_callbacks(execute=True):
        play(bob, "b2", payout=300)
    # Then his biggest win still dates from his first 300 (Alice keeps first place) ...
    assert board(BIGGEST_WIN) == [(1, "Alice", 300), (2, "Bob", 300), (3, "Carol", 200)]
    # ... and he leads the total
    assert board(TOTAL_WON)[0] == (1, "Bob", 600)


@pytest.mark.django_db
@pytest.mark.parametrize("mode", ["redis", "database"])
def test_the_caller_sees_their_own_rank_outside_the_top(
    mode: str, auth_client: Any, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    if mode == "database":
        settings.REDIS_URL = ""
    # Given eleven players who won 1100, 1000, ... 100 and the caller who won 50
    me = auth_client.user
    fund(me)
    with django_capture_on_commit_callbacks(execute=True):
        for index in range(11):
            player = UserFactory(nickname=f"Winner{index:02d}")
            fund(player)
            play(player, f"w{index}", payout=1100 - 100 * index, bet=10)
        play(me, "mine", payout=50, bet=10)
    # When the caller asks for the top 3 of all games this week
    response = auth_client.get("/api/games/leaderboard?game=all&period=weekly&metric=total_won&limit=3")
    # Then they see the top 3 by nickname and their own 12th place
    assert response.status_code == 200
    body = response.json()
    assert body["entries"] == [
        {"rank": 1, "nickname": "Winner00", "value": 1100},
        {"rank": 2, "nickname": "Winner01", "value": 1000},
        {"rank": 3, "nickname": "Winner02", "value": 900},
    ]
    assert body["me"] == {"rank": 12, "value": 50}
    assert (body["game"], body["period"], body["metric"]) == ("all", "weekly", "total_won")
    assert body["period_key"].count("-W") == 1 and body["resets_at"].endswith("Z")
    # And nothing in it identifies a player beyond the nickname
    assert set(body) == {"game", "period", "metric", "period_key", "resets_at", "entries", "me"}
    assert me.site_id not in response.content.decode() and me.phone_number not in response.content.decode()

    # When a player who never played asks (defaults: all games, weekly, biggest win, 10 entries)
    newcomer: Any = UserFactory()
    from accounts.tokens import tokens_issue

    auth_client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_issue(user=newcomer).access}")
    response = auth_client.get("/api/games/leaderboard")
    # Then they are not on it
    assert response.status_code == 200
    assert response.json()["me"] == {"rank": None, "value": 0}
    assert response.json()["metric"] == "biggest_win" and len(response.json()["entries"]) == 10


@pytest.mark.django_db
@pytest.mark.parametrize("mode", ["redis", "database"])
def test_weekly_boards_start_over_at_the_iso_week_boundary(
    mode: str, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    if mode == "database":
        settings.REDIS_URL = ""
    user: Any = UserFactory(nickname="Weekender")
    fund(user)
    sunday_night = datetime(2030, 12, 29, 23, 59, 59, 999_000, tzinfo=UTC)  # ISO 2030-W52

    def weekly() -> Any:
        return leaderboard_get(game="slot", period=WEEKLY, metric=TOTAL_WON, limit=10, user_id=user.pk)

    def all_time() -> Any:
        return leaderboard_get(game="slot", period=ALL_TIME, metric=TOTAL_WON, limit=10, user_id=user.pk)

    # Given a win on the last millisecond of a week
    with time_machine.travel(sunday_night, tick=False) as clock:
        with django_capture_on_commit_callbacks(execute=True):
            play(user, "sunday", payout=400, game="slot")
        assert (weekly().period_key, weekly().me_value, weekly().me_rank) == ("2030-W52", 400, 1)
        assert weekly().resets_at == datetime(2030, 12, 30, tzinfo=UTC)
        # When the clock passes Monday 00:00 UTC (ISO week 1 of 2031, still December)
        clock.move_to(datetime(2030, 12, 30, 0, 0, tzinfo=UTC))
        # Then the weekly board is empty and the all-time board keeps the win
        assert (weekly().period_key, weekly().entries, weekly().me_rank) == ("2031-W01", [], None)
        assert board_rows(all_time()) == [(1, "Weekender", 400)]
        # And a win of the new week counts there alone
        with django_capture_on_commit_callbacks(execute=True):
            play(user, "monday", payout=250, game="slot")
        assert board_rows(weekly()) == [(1, "Weekender", 250)]
        assert board_rows(all_time()) == [(1, "Weekender", 650)]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query",
    [
        "game=poker",
        "period=daily",
        "metric=net",
        "limit=0",
        "limit=101",
        "limit=ten",
        "limit=2.5",
    ],
)
def test_invalid_parameters_are_a_validation_error(auth_client: Any, query: str) -> None:
    response = auth_client.get(f"/api/games/leaderboard?{query}")

    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
    assert query.split("=")[0] in response.json()["fields"]


@pytest.mark.django_db
def test_the_leaderboard_needs_a_logged_in_player(api_client: Any) -> None:
    response = api_client.get("/api/games/leaderboard")

    assert response.status_code == 401


# --- Failures and concurrency ------------------------------------------------------------------


@pytest.mark.django_db
def test_redis_down_after_commit_neither_fails_the_round_nor_hides_the_board(
    settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    # Given Redis does not answer
    user: Any = UserFactory(nickname="Unlucky")
    fund(user)
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    failures = dependency_failures.labels(dependency="redis", use="leaderboards")
    before = failures._value.get()
    # When a round commits
    with django_capture_on_commit_callbacks(execute=True):
        round_ = play(user, "down", payout=900)
    # Then the round stands, the failure is counted, and the board is read from the rounds
    assert GameRound.objects.filter(pk=round_.pk).exists()
    assert failures._value.get() >= before + 1
    board = leaderboard_get(game="rps", period=WEEKLY, metric=BIGGEST_WIN, limit=10, user_id=user.pk)
    assert board.source == "database"
    assert board_rows(board) == [(1, "Unlucky", 900)]


@pytest.mark.django_db
def test_a_refused_round_counts_nowhere(django_capture_on_commit_callbacks: Any) -> None:
    from economy.exceptions import InsufficientFunds

    user: Any = UserFactory()  # no gold at all
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(InsufficientFunds):
        play(user, "broke", payout=500)

    board = leaderboard_get(game="all", period=ALL_TIME, metric=ROUNDS_PLAYED, limit=10, user_id=user.pk)
    assert board.source == "redis" and board.entries == [] and board.me_rank is None


@pytest.mark.django_db
def test_a_round_and_a_board_page_are_one_round_trip_each(monkeypatch: pytest.MonkeyPatch) -> None:
    """A game's commit applies its round with one EVALSHA, and a page is read with one: a
    pipeline holding a script would add redis-py's SCRIPT EXISTS round trip before it."""
    import redis.connection

    user: Any = UserFactory()
    client = boards_redis().client
    client.ping()  # connected before counting
    sent: list[bytes] = []
    real = redis.connection.AbstractConnection.send_packed_command

    def counting(self: Any, command: Any, check_health: bool = True) -> None:
        sent.append(command)
        real(self, command, check_health)

    monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", counting)
    round_ = CountedRound(
        round_id=GameRound.objects.count() + 10**12,
        user_id=user.pk,
        game="slot",
        result="win",
        payout=300,
        currency="gold",
        settled_at=timezone.now(),
    )

    assert leaderboard_record(rounds=[round_]) == len(PERIODS) * 2 * len(METRICS)
    assert len(sent) == 1

    # And a board's page is read in one round trip too: its top and the caller's standing.
    sent.clear()
    board = leaderboard_get(game="slot", period=ALL_TIME, metric=BIGGEST_WIN, limit=10, user_id=user.pk)
    assert len(sent) == 1
    assert board.source == "redis" and board.me_rank is not None


def _sends_of_this_thread(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Every command (or pipeline) this thread sends to Redis from now on (the push thread's
    own sends are not this thread's)."""
    import threading

    import redis.connection

    me, sent = threading.get_ident(), []
    real = redis.connection.AbstractConnection.send_packed_command

    def counting(self: Any, command: Any, check_health: bool = True) -> None:
        if threading.get_ident() == me:
            sent.append(command)
        real(self, command, check_health)

    monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", counting)
    return sent


@pytest.mark.django_db
def test_a_rounds_commit_bumps_the_dashboard_updates_its_boards_and_pushes_its_events_in_one_round_trip(
    monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    from channels.layers import get_channel_layer
    from django.conf import settings
    from django.core.cache import caches

    from casino.redis_writes import shared_client
    from economy.dashboard_cache import dashboard_version_key

    # Given a player whose dashboard version is known, and clients already connected
    user: Any = UserFactory(nickname="OneTrip")
    fund(user)
    cache_client = shared_client()
    assert cache_client is not None  # full mode: the cache is Redis
    version_key = caches["default"].make_and_validate_key(dashboard_version_key(user.pk))
    before = int(cache_client.get(version_key) or 0)
    boards_redis().client.ping()
    # When a won round commits (its after-commit work run here, on this thread)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        play(user, "one-trip", payout=900)
    sent = _sends_of_this_thread(monkeypatch)
    for callback in callbacks:
        callback()
    # Then one round trip carried the version bump, the round's boards and its pushes (the push
    # script's call, with the round's game_event)
    assert len(sent) == 1
    pipeline = b"".join(part if isinstance(part, bytes) else bytes(part) for part in sent[0])
    push_sha = get_channel_layer()._sync_push_script(settings.REALTIME_PUSH_TIMEOUT_SECONDS).sha
    assert push_sha.encode() in pipeline and b"game_event" in pipeline
    assert b"game_round" not in pipeline  # stored for subscribers and analytics, not pushed
    assert int(cache_client.get(version_key)) == before + 1
    board = leaderboard_get(game="rps", period=WEEKLY, metric=BIGGEST_WIN, limit=10, user_id=user.pk)
    assert board.source == "redis" and board_rows(board) == [(1, "OneTrip", 900)]


@pytest.mark.django_db
def test_a_redis_that_lost_the_update_script_still_gets_the_rounds_boards(
    django_capture_on_commit_callbacks: Any,
) -> None:
    # Given a Redis restarted since this process loaded the script (SCRIPT FLUSH)
    user: Any = UserFactory(nickname="Reloaded")
    fund(user)
    boards_redis().client.script_flush()
    # When a round commits
    with django_capture_on_commit_callbacks(execute=True):
        play(user, "reload", payout=700)
    # Then its boards are updated all the same (the script loaded again)
    board = leaderboard_get(game="rps", period=WEEKLY, metric=BIGGEST_WIN, limit=10, user_id=user.pk)
    assert board.source == "redis" and board_rows(board) == [(1, "Reloaded", 700)]


def test_the_update_script_refuses_specs_that_do_not_match_its_boards_and_writes_nothing() -> None:
    """The script takes one word triple per board in a single argument: a count that does not
    match the boards is refused before any board is touched."""
    import redis

    redis_ = boards_redis()
    boards = [redis_key("leaderboard:test-spec:slot:rounds_played"), redis_key("leaderboard:test-spec:all:total_won")]
    redis_.client.delete(*boards, *(f"{board}:members" for board in boards))

    with pytest.raises(redis.ResponseError, match="1 board specs for 2 boards"):
        redis_.update(keys=boards, args=[7, f"{1:019d}", "sum 1 0"])
    assert redis_.client.exists(*boards, *(f"{board}:members" for board in boards)) == 0

    assert redis_.update(keys=boards, args=[7, f"{1:019d}", "sum 1 0 sum 300 60"]) == 2
    assert redis_.client.zrange(boards[1], 0, -1, withscores=True) == [(f"{1:019d}:7".encode(), -300.0)]
    assert 0 < redis_.client.ttl(boards[1]) <= 60 and redis_.client.ttl(boards[0]) == -1
    redis_.client.delete(*boards, *(f"{board}:members" for board in boards))


def test_parallel_updates_of_one_player_lose_nothing(parallel: Any) -> None:
    # Given 8 processes' worth of threads applying 40 rounds each of the same 3 players
    now = timezone.now()
    rng = random.Random(7)
    rounds = [
        CountedRound(
            round_id=index + 1,
            user_id=rng.choice([1, 2, 3]),
            game="crash",
            result="win",
            payout=rng.choice([10, 20, 40]),
            currency="gold",
            settled_at=now,
        )
        for index in range(320)
    ]
    flush_boards()
    # When they all run at once
    results = parallel(8, lambda worker: leaderboard_record(rounds=rounds[worker * 40 : (worker + 1) * 40]))
    # Then no update was lost: each board equals the one computed from the definitions
    assert all(not isinstance(result, Exception) for result in results), results
    for metric in METRICS:
        expected: dict[int, tuple[int, int]] = {}
        for round_ in rounds:
            value, deciding = expected.get(round_.user_id, (0, 0))
            if metric == BIGGEST_WIN:
                if round_.payout > value or (round_.payout == value and round_.round_id < deciding):
                    expected[round_.user_id] = (round_.payout, round_.round_id)
            else:
                amount = 1 if metric == ROUNDS_PLAYED else round_.payout
                expected[round_.user_id] = (value + amount, max(deciding, round_.round_id))
        ordered = sorted(expected.items(), key=lambda item: (-item[1][0], item[1][1]))
        actual = redis_ranking(game="crash", period=ALL_TIME, metric=metric, now=now)
        assert standings(actual) == [(user, value, deciding) for user, (value, deciding) in ordered]
