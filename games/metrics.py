"""Prometheus metrics of games/: bets, settled rounds, amounts staked and paid, big wins, gacha
pulls, and the live crash rounds in flight.

Counted once per round, after its transaction committed (the engine's entry points own a durable
transaction, so "after the ``with`` block" is "on commit"; a replayed request or a refusal counts
nothing). Labels are bounded: game (4), result (3), currency (2), rarity (a banner's few); never a
player or a round.

* ``games_bets_total{game}``, ``games_bet_amount_total{game,currency}``: counted when the stake is
  taken (the bet), so every round counts in the process that took it — web, for every game.
* ``games_rounds_total{game,result}``, ``games_paid_amount_total{game,currency}``,
  ``games_big_wins_total{game}``: counted when the round is settled. A live crash round that ends
  on the clock is settled by whoever gets there first: the player's next read or bet (web) or the
  Celery settle task / sweeper (a worker, whose registry Prometheus does not scrape: the compose
  stack watches Celery through Flower only). Such a round is lost (pays 0) unless its crash point
  reached the 1000x cap, so the paid counter misses at most those rare capped payouts and the
  measured crash RTP errs low, never high; the crash rounds/s by result misses the losses a
  worker settled (bets/s is complete).
* RTP is left to PromQL: ``increase(games_paid_amount_total[1h]) / increase(games_bet_amount_total[1h])``
  (dashboard "Casino Club games", alert GameRTPOutOfRange). A gacha round's "payout" is the duplicates'
  conversion, not a return on the stake: no RTP for it.
* ``games_open_rounds{game}`` and ``games_open_round_overdue_seconds{game}``: read from the
  database at scrape time (:class:`OpenRoundsCollector`). One grouped query over the open rounds
  only (the partial index ``round_open_due_idx`` holds just those: the live crash rounds in
  flight), so its cost follows the players in a round right now, not the history.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from prometheus_client import REGISTRY, Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from games.enums import Game

bets = Counter("games_bets", "Bets placed (rounds started), by game.", ["game"])
bet_amount = Counter(
    "games_bet_amount", "Amount staked, counted at the bet, by game and currency.", ["game", "currency"]
)
rounds_settled = Counter("games_rounds", "Rounds settled, by game and result (win, lose, draw).", ["game", "result"])
paid_amount = Counter(
    "games_paid_amount", "Amount paid back to players by settled rounds, by game and currency.", ["game", "currency"]
)
big_wins = Counter(
    "games_big_wins", "Settled rounds paying at least 10x the bet (the live feed's big win), by game.", ["game"]
)
gacha_pulls = Counter("gacha_pulls", "Gacha pulls (a 10-pull counts 10), by rarity drawn.", ["rarity"])
gacha_pity_pulls = Counter("gacha_pity_pulls", "Gacha pulls whose top rarity the pity counter forced.")


def bet_placed(*, game: str, currency: str, amount: int) -> None:
    """A round started and its stake was taken (call after the commit)."""
    bets.labels(game=game).inc()
    bet_amount.labels(game=game, currency=currency).inc(amount)


def round_settled(*, game: str, currency: str, result: str, payout: int, big_win: bool) -> None:
    """A round was settled (call after the commit); ``big_win`` as the engine decides it
    (``games.services.rounds.BIG_WIN_MULTIPLE``)."""
    rounds_settled.labels(game=game, result=result).inc()
    if payout:
        paid_amount.labels(game=game, currency=currency).inc(payout)
    if big_win:
        big_wins.labels(game=game).inc()


def gacha_pulled(pulls: Iterable[Mapping[str, Any]]) -> None:
    """The pulls of one committed batch (the round's ``outcome["pulls"]``: rarity, pity)."""
    for pull in pulls:
        gacha_pulls.labels(rarity=str(pull["rarity"])).inc()
        if pull.get("pity"):
            gacha_pity_pulls.inc()


OPEN_ROUNDS = "games_open_rounds"
OVERDUE = "games_open_round_overdue_seconds"


class OpenRoundsCollector(Collector):
    """games_open_rounds{game}: rounds open now; games_open_round_overdue_seconds{game}: how long
    past its settle time the most overdue one is (0 when none is). Every game gets a sample, so
    "no round open" reads 0, not an absent series. A live crash round is settled within a second
    or two of its crash time (the task queued for it, the sweeper every second), so an overdue
    round means the settling is not running (alert CrashRoundsNotSettling)."""

    def describe(self) -> Iterator[GaugeMetricFamily]:
        # Names only: registering must not query the database (apps may not be ready).
        yield GaugeMetricFamily(OPEN_ROUNDS, OPEN_ROUNDS, labels=["game"])
        yield GaugeMetricFamily(OVERDUE, OVERDUE, labels=["game"])

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from django.db import DatabaseError
        from django.db.models import Count, Min
        from django.utils import timezone

        from games.enums import RoundStatus
        from games.models import GameRound

        try:
            rows = list(
                GameRound.objects.filter(status=RoundStatus.OPEN)
                .values("game")
                .annotate(open=Count("id"), oldest_due=Min("settle_due_at"))
                .values_list("game", "open", "oldest_due")
            )
        except DatabaseError:
            return
        now = timezone.now()
        by_game = {game: (count, oldest_due) for game, count, oldest_due in rows}
        open_rounds = GaugeMetricFamily(OPEN_ROUNDS, "Rounds open now (live crash rounds in flight).", labels=["game"])
        overdue = GaugeMetricFamily(
            OVERDUE, "Seconds the most overdue open round is past its settle time (0: none).", labels=["game"]
        )
        for game in sorted({*Game.values, *by_game}):
            count, oldest_due = by_game.get(game, (0, None))
            late = max(0.0, (now - oldest_due).total_seconds()) if oldest_due is not None else 0.0
            open_rounds.add_metric([game], count)
            overdue.add_metric([game], late)
        yield open_rounds
        yield overdue


_registered = False


def register_collectors() -> None:
    global _registered
    if not _registered:
        REGISTRY.register(OpenRoundsCollector())
        _registered = True
