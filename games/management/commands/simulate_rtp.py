"""``manage.py simulate_rtp --game {slot,crash,rps,gacha} --rounds N``: the proof that a game
returns what it declares.

It plays N rounds through the game's own pure decider — the very function its service hands to
the round engine (``slot_decider``, ``crash_decider``, ``rps_decider``, ``gacha_decider``) — with
a throwaway server seed (``secrets``, or derived from ``--seed`` to reproduce a run) and nonces
0 .. N-1, and prints the measured RTP with its 99% confidence interval next to the declared one:

    x_i      = payout_i / bet                       (one round's return, as a multiple of the bet)
    measured = mean(x) = sum(payout) / sum(bet)
    99% CI   = measured +- 2.576 * s / sqrt(N)      s: the sample standard deviation of x

Declared RTP, exact, from the live configuration:
    slot   ``slot_rtp`` of the live table (enumeration of every stop combination)
    crash  ``crash_rtp(target)``: 0.99 at every auto cash-out target (the strategy "cash out at m"
           is the target m)
    rps    ``rps_rtp(win_multiplier, choice)`` of the live multiplier
    gacha  has no money RTP: it sells items. It reports each rarity's frequency per pull next to
           the published odds (without pity) and the long-run share with pity, and the
           **duplicate return**: the duplicates' conversion value per unit of cost, sum(value of
           duplicates) / sum(cost), for one simulated player starting with an empty collection,
           next to the steady state (collection complete, every pull a duplicate):
           sum_r P_longrun(r) * duplicate_value(r) * pull_count / cost.

The payout is floor(bet x multiplier), so the declared figure holds exactly for bets where
bet x multiplier is whole (the default bet 100 is: multipliers have at most two decimals).

``--through-database M`` also plays M rounds through the game's real public service (the round
engine, the ledger, the stats, the events) for a throwaway player, inside a transaction that is
rolled back at the end, so nothing persists (ids taken from sequences excepted). The services'
durable transactions run inside it the way Django's ``TestCase`` lets them (the outer block is
marked as a test case's); the game's daily limits are lifted inside the transaction (rolled back
too). Each of those rounds is also recomputed from its seed (``round_verify``).

A game plugs in with one entry of ``GAMES`` (a function that builds its :class:`Setup`).
"""

from __future__ import annotations

import hashlib
import math
import secrets
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from accounts.models import User
from casino.errors import ApplicationError
from economy.enums import LedgerReason
from economy.services import wallet_grant
from games.models import GameConfig, GameDailyLimit, GameRound
from games.services.back_office import round_verify
from games.services.config import game_config
from games.services.rounds import Decision, Draw

Z_99 = 2.576  # the two-sided 99% quantile of the normal distribution
DEFAULT_BET = 100
PROGRESS_FROM = 100_000  # runs at least this long print their progress every 10%


# --- one game's simulation ----------------------------------------------------------------------


@dataclass
class Setup:
    """What the command needs of a game.

    ``decider()`` gives the decide function of the next round (stateful games, the gacha's pity
    and collection, build one per round); ``observe`` sees every decision (extra tallies);
    ``value`` is what a round returns to the player (the payout; the gacha: its duplicates'
    value); ``play_service(player, key)`` plays one round through the public service."""

    game: str
    bet: int
    description: str
    declared_rtp: Fraction | None
    declared_text: str
    declared_hit: Fraction | None
    decider: Callable[[], Callable[[Draw], Decision]]
    play_service: Callable[[User, str], GameRound]
    value: Callable[[Decision], int] = lambda decision: decision.payout
    round_value: Callable[[GameRound], int] = lambda round_: round_.payout
    observe: Callable[[Decision], None] | None = None
    extra_lines: Callable[[int], list[str]] = lambda rounds: []
    rtp_label: str = "RTP"


def _pct(value: float | Fraction) -> str:
    return f"{float(value) * 100:.4f}%"


def _slot(options: dict[str, Any]) -> Setup:
    from games.fairness import PayRule, slot_rtp
    from games.services import slots

    bet = options["bet"] or DEFAULT_BET
    version = slots.slot_table_current()
    paytable = [PayRule.from_mapping(rule) for rule in version.paytable]
    math_ = slot_rtp(version.reel_strips, paytable)
    decide = slots.slot_decider(version, bet=bet)
    return Setup(
        game="slot",
        bet=bet,
        description=f"slot table v{version.pk}",
        declared_rtp=math_.rtp,
        declared_text=f"exact, slot table v{version.pk}: enumeration of {math_.combinations:,} stop combinations",
        declared_hit=math_.hit_frequency,
        decider=lambda: decide,
        play_service=lambda player, key: slots.slot_spin(user=player, bet_amount=bet, idempotency_key=key).round,
    )


def _crash(options: dict[str, Any]) -> Setup:
    from games.fairness import crash_rtp, crash_win_probability
    from games.services import crash

    bet = options["bet"] or DEFAULT_BET
    try:
        target_decimal = Decimal(options["target"] or "2.00")
    except InvalidOperation:
        raise CommandError("--target is a multiplier such as 2.00") from None
    try:
        target = crash.crash_target_parse(target_decimal)
    except ApplicationError as exc:  # the service's refusal (invalid_auto_cashout), as a command error
        raise CommandError(f"--target: {exc.message}") from None
    assert target is not None
    decide = crash.crash_decider(target, bet=bet)
    return Setup(
        game="crash",
        bet=bet,
        description=f"auto cash-out at {target_decimal}",
        declared_rtp=crash_rtp(target),
        declared_text=f"exact: P(crash >= {target_decimal}) x {target_decimal}, 1% house edge",
        declared_hit=crash_win_probability(target),
        decider=lambda: decide,
        play_service=lambda player, key: crash.crash_bet(
            user=player, bet_amount=bet, auto_cashout_multiplier=target_decimal, idempotency_key=key
        ).round,
    )


def _rps(options: dict[str, Any]) -> Setup:
    from games.fairness import RPS_MOVES, rps_move_probabilities, rps_rtp
    from games.fairness.rps import BEATS
    from games.services import rps

    bet = options["bet"] or DEFAULT_BET
    choice = (options["choice"] or "rock").lower()
    if choice not in RPS_MOVES:
        raise CommandError(f"--choice is one of {', '.join(RPS_MOVES)}")
    multiplier = game_config("rps").win_multiplier or rps.DEFAULT_WIN_MULTIPLIER
    decide = rps.rps_decider(choice, multiplier, bet=bet)
    moves = rps_move_probabilities()
    return Setup(
        game="rps",
        bet=bet,
        description=f"always {choice}, win multiplier {multiplier}",
        declared_rtp=rps_rtp(multiplier, choice),
        declared_text=f"exact: P(win) x {multiplier} + P(draw) for {choice}",
        declared_hit=moves[BEATS[choice]] + moves[choice],
        decider=lambda: decide,
        play_service=lambda player, key: rps.rps_play(
            user=player, choice=choice, bet_amount=bet, idempotency_key=key
        ).round,
    )


def gacha_longrun_shares(odds: dict[str, Fraction], top: str, expected_pulls_to_top: Fraction) -> dict[str, Fraction]:
    """Each rarity's long-run share of pulls with pity. A pull is forced (top rarity) with
    long-run probability f, else drawn with the published odds p, so P(top) = f + (1 - f) p_top =
    1 / E[pulls to top] (renewal) and P(r) = (1 - f) p_r for every other rarity."""
    top_share = 1 / expected_pulls_to_top
    forced = (top_share - odds[top]) / (1 - odds[top]) if odds[top] < 1 else Fraction(0)
    return {code: top_share if code == top else (1 - forced) * p for code, p in odds.items()}


def _gacha(options: dict[str, Any]) -> Setup:
    from games.gacha_selectors import gacha_banners_open
    from games.services import gacha

    banners = gacha_banners_open(code=options["banner"])
    if not banners:
        raise CommandError(f"no open gacha banner{' ' + options['banner'] if options['banner'] else ''}")
    banner = banners[0]
    pull_count = options["pull_count"]
    cost = banner.cost(pull_count)
    odds = banner.odds()
    top = banner.rarities[0].code
    shares = gacha_longrun_shares(odds, top, banner.expected_pulls_to_top())
    steady = sum(shares[r.code] * r.duplicate_value for r in banner.rarities) * pull_count / cost
    state: dict[str, Any] = {"pity": 0, "owned": set(), "max_run": 0}
    rarities: Counter[str] = Counter()

    def decider() -> Callable[[Draw], Decision]:
        return gacha.gacha_decider(
            banner=banner, pull_count=pull_count, pity_before=state["pity"], owned=frozenset(state["owned"])
        )

    def observe(decision: Decision) -> None:
        pulls = decision.outcome["pulls"]
        for pull in pulls:
            rarities[pull["rarity"]] += 1
            state["owned"].add(pull["item"])
        # The longest run without the top rarity: pity_before + the pulls before the first top one.
        run = state["pity"]
        for pull in pulls:
            run = 0 if pull["rarity"] == top else run + 1
            state["max_run"] = max(state["max_run"], run)
        state["pity"] = decision.outcome["pity_after"]

    def extra_lines(rounds: int) -> list[str]:
        pulls = rounds * pull_count
        lines = [f"rarity frequencies over {pulls:,} pulls (99% CI of each share):"]
        for rarity in banner.rarities:
            share = rarities[rarity.code] / pulls
            half = Z_99 * math.sqrt(share * (1 - share) / pulls)
            longrun = shares[rarity.code]
            inside = "yes" if abs(share - float(longrun)) <= half else "NO"
            lines.append(
                f"  {rarity.code:<10} measured {_pct(share)} +- {_pct(half)}; published {_pct(odds[rarity.code])} "
                f"without pity, {_pct(longrun)} long-run with pity; within: {inside}"
            )
        lines.append(
            f"pity: the longest run without {top} was {state['max_run']} pulls "
            f"(threshold {banner.pity_threshold}: never more than {banner.pity_threshold - 1})"
        )
        return lines

    def round_value(round_: GameRound) -> int:
        return int(round_.outcome.get("duplicate_total", 0))

    return Setup(
        game="gacha",
        bet=cost,
        description=f"banner {banner.code}, {pull_count}-pulls at {cost} {banner.currency}",
        declared_rtp=steady,
        declared_text="steady state, collection complete: sum of long-run share x duplicate value per cost",
        declared_hit=None,
        decider=decider,
        play_service=lambda player, key: gacha.gacha_pull(
            user=player, pull_count=pull_count, banner_code=banner.code, idempotency_key=key
        ).round,
        value=lambda decision: int(decision.outcome["duplicate_total"]),
        round_value=round_value,
        observe=observe,
        extra_lines=extra_lines,
        rtp_label="duplicate return",
    )


# One entry per game: a new game plugs in here.
GAMES: dict[str, Callable[[dict[str, Any]], Setup]] = {
    "slot": _slot,
    "crash": _crash,
    "rps": _rps,
    "gacha": _gacha,
}


# --- measuring ----------------------------------------------------------------------------------


@dataclass
class Tally:
    """Sums of the per-round returns x = value / bet, exact (integers) until the division."""

    bet: int
    rounds: int = 0
    paid: int = 0
    paid_squares: int = 0
    hits: int = 0  # value > 0
    wins: int = 0  # value > bet

    def add(self, value: int) -> None:
        self.rounds += 1
        self.paid += value
        self.paid_squares += value * value
        self.hits += value > 0
        self.wins += value > self.bet

    @property
    def mean(self) -> float:
        return self.paid / (self.rounds * self.bet)

    @property
    def half_width(self) -> float:
        """2.576 s / sqrt(N), s the sample standard deviation of x = value / bet."""
        n = self.rounds
        if n < 2:
            return math.inf
        variance = (self.paid_squares - self.paid * self.paid / n) / (n - 1) / (self.bet * self.bet)
        return Z_99 * math.sqrt(max(variance, 0.0)) / math.sqrt(n)


def _seeds(seed: str | None) -> tuple[str, str]:
    if seed is None:
        return secrets.token_hex(32), "simulate-rtp"
    return hashlib.sha256(f"simulate_rtp:{seed}".encode()).hexdigest(), "simulate-rtp"


@contextmanager
def _rolled_back() -> Iterator[None]:
    """A transaction that always rolls back, inside which the services' durable blocks may run:
    marked the way Django's TestCase marks its own (``Atomic._from_testcase``), which is what
    lets ``atomic(durable=True)`` nest in it. Nothing inside commits; on-commit hooks (pushes,
    tasks) are dropped with it."""
    outer = transaction.atomic()
    outer._from_testcase = True  # type: ignore[attr-defined]  # Django's own flag (django.test.TestCase)
    with outer:
        try:
            yield
        finally:
            transaction.set_rollback(True)


class Command(BaseCommand):
    help = (
        "Play N rounds of a game through its pure decider with throwaway seeds and print the measured "
        "RTP with a 99% confidence interval next to the declared one (--through-database M: also M "
        "rounds through the real service, rolled back)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--game", required=True, choices=sorted(GAMES))
        parser.add_argument("--rounds", type=int, default=100_000, help="Rounds through the pure decider.")
        parser.add_argument("--bet", type=int, help=f"The stake per round (default {DEFAULT_BET}; gacha: its price).")
        parser.add_argument("--target", help="crash: the auto cash-out multiplier (default 2.00).")
        parser.add_argument("--choice", help="rps: the player's move every round (default rock).")
        parser.add_argument("--banner", help="gacha: the banner's code (default: the first open banner).")
        parser.add_argument("--pull-count", type=int, choices=(1, 10), default=10, help="gacha: 1 or 10 pulls.")
        parser.add_argument("--seed", help="Derive the server seed from this text (a reproducible run).")
        parser.add_argument(
            "--through-database",
            type=int,
            default=0,
            metavar="M",
            help="Also play M rounds through the real service for a throwaway player, rolled back.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        rounds: int = options["rounds"]
        if rounds < 1:
            raise CommandError("--rounds must be at least 1")
        if options["bet"] is not None and options["bet"] < 1:
            raise CommandError("--bet must be a positive whole number")
        if options["through_database"] < 0:
            raise CommandError("--through-database must not be negative")
        setup = GAMES[options["game"]](options)
        config = game_config(setup.game)
        server_seed, client_seed = _seeds(options["seed"])
        self.stdout.write(
            f"simulate_rtp: game={setup.game} ({setup.description}) rounds={rounds:,} bet={setup.bet} "
            f"seed={'derived from --seed' if options['seed'] is not None else 'random'} "
            f"(sha256 {hashlib.sha256(server_seed.encode()).hexdigest()[:16]}...)"
        )
        if not config.is_enabled:
            self.stdout.write(f"note: {setup.game} is switched off; the simulation plays its decider all the same")
        tally = self._simulate(setup, config, server_seed, client_seed, rounds)
        self._report(setup, tally, "pure decider")
        for line in setup.extra_lines(rounds):
            self.stdout.write(line)
        if options["through_database"]:
            self._through_database(setup, options["through_database"])

    def _simulate(self, setup: Setup, config: GameConfig, server_seed: str, client_seed: str, rounds: int) -> Tally:
        tally = Tally(bet=setup.bet)
        step = max(1, rounds // 10) if rounds >= PROGRESS_FROM else 0
        started = time.monotonic()
        observe = setup.observe
        for nonce in range(rounds):
            decision = setup.decider()(
                Draw(server_seed=server_seed, client_seed=client_seed, nonce=nonce, config=config)
            )
            tally.add(setup.value(decision))
            if observe is not None:
                observe(decision)
            if step and (nonce + 1) % step == 0 and nonce + 1 < rounds:
                elapsed = time.monotonic() - started
                self.stdout.write(f"  {100 * (nonce + 1) // rounds}% ({nonce + 1:,} rounds, {elapsed:.1f} s)")
        seconds = time.monotonic() - started
        self.stdout.write(f"time: {seconds:.2f} s ({rounds / max(seconds, 1e-9):,.0f} rounds/s)")
        return tally

    def _report(self, setup: Setup, tally: Tally, how: str) -> None:
        mean, half = tally.mean, tally.half_width
        if setup.declared_rtp is not None:
            self.stdout.write(f"declared {setup.rtp_label}: {_pct(setup.declared_rtp)} ({setup.declared_text})")
        self.stdout.write(
            f"measured {setup.rtp_label} ({how}): {_pct(mean)} +- {_pct(half)} "
            f"(99% CI {_pct(mean - half)} .. {_pct(mean + half)}) over {tally.rounds:,} rounds"
        )
        if setup.declared_rtp is not None:
            inside = abs(mean - float(setup.declared_rtp)) <= half
            self.stdout.write(f"declared within the 99% interval: {'yes' if inside else 'NO'}")
        hit = tally.hits / tally.rounds
        declared_hit = f"; declared {_pct(setup.declared_hit)}" if setup.declared_hit is not None else ""
        self.stdout.write(f"hit frequency (pays anything): {_pct(hit)}{declared_hit}")
        self.stdout.write(f"wins (pays more than the bet): {_pct(tally.wins / tally.rounds)}")

    def _through_database(self, setup: Setup, rounds: int) -> None:
        self.stdout.write(
            f"through the database: {rounds:,} rounds by a throwaway player in a transaction rolled back at the end"
        )
        started = time.monotonic()
        tally = Tally(bet=setup.bet)
        mismatched: list[int] = []
        with _rolled_back():
            lifted = GameDailyLimit.objects.filter(game=setup.game).delete()[0]
            player = self._throwaway_player(setup, rounds)
            for index in range(rounds):
                try:
                    round_ = setup.play_service(player, f"simulate_rtp:{index}")
                except ApplicationError as exc:  # a refusal (game switched off, ...): nothing was kept
                    raise CommandError(f"round {index + 1} was refused: {exc.code}: {exc.message}") from None
                tally.add(setup.round_value(round_))
                if not round_verify(round_=GameRound.objects.select_related("seed").get(pk=round_.pk)).matches:
                    mismatched.append(round_.pk)
        seconds = time.monotonic() - started
        if lifted:
            self.stdout.write(f"  ({lifted} daily limit row(s) of {setup.game} lifted inside the transaction)")
        self._report(setup, tally, "through the service")
        verdict = "all" if not mismatched else f"NOT all ({len(mismatched)} mismatched)"
        self.stdout.write(f"verified against their seeds: {verdict} ({rounds - len(mismatched)}/{rounds})")
        self.stdout.write(f"time: {seconds:.2f} s ({rounds / max(seconds, 1e-9):,.0f} rounds/s); rolled back")

    @staticmethod
    def _throwaway_player(setup: Setup, rounds: int) -> User:
        tag = uuid.uuid4().hex[:12]
        player = User.objects.create_user(
            site_id=f"simrtp{tag}", nickname=f"SimRtp{tag}", phone_number=f"+1{int(tag, 16) % 10**14:014d}"
        )
        currency = game_config(setup.game).currency
        wallet_grant(
            user=player,
            bundle={currency: setup.bet * rounds},
            reason=LedgerReason.ADMIN_ADJUST,
            idempotency_key=f"simulate_rtp:{tag}",
        )
        return player
