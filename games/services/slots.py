"""Slots: a spin through the round engine and the live slot table (the audited publication of
new reel weights and paytables is ``games.services.slot_tables``).

The table
    Rows: ``SlotSymbol`` (order of the symbols on every strip), ``SlotReelWeight`` (how many stops
    of reel r show a symbol) and ``SlotPayRule`` ("the first `count` reels from the left show
    `symbol`" pays bet x `multiplier`). Reel r's strip is the symbols in ``sort_order``, each
    repeated ``weight`` times; the paytable is ``[{symbol, count, multiplier (a decimal string),
    is_jackpot}]`` in symbol order, then count. Their canonical JSON
    (``json.dumps({"reel_strips", "paytable"}, sort_keys=True, separators=(",", ":"))``) hashed
    with SHA-256 is the ``digest`` of a ``SlotTableVersion``, an immutable snapshot with its
    exact RTP and hit frequency (``games.fairness.slot_rtp``, enumeration of every stop
    combination). A round records the version it was spun with (``inputs.table_version``), so
    it stays verifiable after the tables change.

The live table, cached per process
    Reading the rows costs a transaction and three statements, so a spin reads them only when
    its process has no table cached under the current shared version of the process copies (it
    is a ``casino.copies.ProcessCopy``: one Redis GET a request, which the request's other
    copies -- game configuration, daily limits -- share, so a warm spin pays nothing of its
    own for the table). :func:`~games.services.slot_tables.slot_tables_publish` sets a new version after its commit
    (:func:`slot_table_invalidate`). The version is read *before* the rows, so a table read
    while a publication commits is cached under the old version and dropped at the next spin.
    As with every process copy, a cached table is also dropped after ``CACHE_MAX_AGE_SECONDS``:
    a version bump lost while Redis was down, or rows changed by other means than the service
    (a shell, a data migration), are picked up within a minute, or at once after
    :func:`slot_table_invalidate`.

    The rows are read in one transaction that first locks the symbol rows, as the publication
    does, so a table is never assembled from the weights before a publication and the paytable
    after it (READ COMMITTED gives each statement its own snapshot). A table whose version row
    was created inside a caller's transaction is not cached (that transaction may roll back).

A spin
    ``decide`` (pure, :func:`slot_decider`): floats 0..2 of the round -> stops
    ``stop_i = floor(f_i * len(strip_i))`` -> the payline ``strip_i[stop_i]`` -> the best
    matching rule -> payout ``floor(bet * multiplier)``. Everything else (the bet, the nonce,
    the ledger, the events) is the engine's (``games.services.rounds``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from accounts.models import User
from casino.copies import ProcessCopy, copies_version_bump
from casino.db import one_or_none
from games.exceptions import SlotTableUnavailable
from games.fairness import PayRule, SlotMath, slot_evaluate, slot_payout, slot_rtp, slot_stops
from games.models import GameRound, SlotPayRule, SlotReelWeight, SlotSymbol, SlotTableVersion
from games.services.config import game_config
from games.services.rounds import Decision, Draw, round_play

GAME = "slot"
SUBTYPE = "slot_spin"
REELS = 3

CACHE_MAX_AGE_SECONDS = 60.0

FEEDBACK: dict[str, dict[str, str]] = {
    "jackpot": {"code": "slot.jackpot", "severity": "success", "message": "Jackpot! Three sevens!"},
    "win": {"code": "slot.win", "severity": "success", "message": "You win!"},
    "partial": {"code": "slot.win", "severity": "info", "message": "Part of your bet comes back."},
    "loss": {"code": "slot.loss", "severity": "loss", "message": "No win this time. Better luck next spin!"},
}


# --- the table ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SlotSymbolInfo:
    code: str
    name: str
    emoji: str


@dataclass(frozen=True)
class SlotTable:
    """The live table: its version row, the symbols, the weights per reel (every symbol, zeros
    included), the paytable and its exact figures."""

    version: SlotTableVersion
    symbols: tuple[SlotSymbolInfo, ...]
    weights: dict[int, dict[str, int]]
    paytable: tuple[PayRule, ...]
    math: SlotMath

    def emoji(self, code: str) -> str:
        for symbol in self.symbols:
            if symbol.code == code:
                return symbol.emoji or symbol.code
        return code


def multiplier_text(multiplier: Decimal) -> str:
    """A multiplier as the paytable JSON writes it: "1.5", "10", "250" (no exponent, no padding)."""
    return format(multiplier.normalize(), "f")


def fraction_decimal(value: Fraction, places: int = 6) -> Decimal:
    """``value`` rounded half-even to ``places`` decimals (SlotTableVersion's rtp/hit_frequency)."""
    exponent = Decimal(1).scaleb(-places)
    return (Decimal(value.numerator) / Decimal(value.denominator)).quantize(exponent, rounding=ROUND_HALF_EVEN)


def table_strips(symbols: Sequence[SlotSymbolInfo], weights: Mapping[int, Mapping[str, int]]) -> list[list[str]]:
    return [
        [symbol.code for symbol in symbols for _ in range(weights[reel].get(symbol.code, 0))] for reel in range(REELS)
    ]


def table_paytable_json(symbols: Sequence[SlotSymbolInfo], rules: Sequence[PayRule]) -> list[dict[str, Any]]:
    """The paytable in a canonical order (symbol order, then count)."""
    order = {symbol.code: index for index, symbol in enumerate(symbols)}
    ordered = sorted(rules, key=lambda rule: (order.get(rule.symbol, len(order)), rule.symbol, rule.count))
    return [
        {
            "symbol": rule.symbol,
            "count": rule.count,
            "multiplier": multiplier_text(rule.multiplier),
            "is_jackpot": rule.is_jackpot,
        }
        for rule in ordered
    ]


def table_digest(reel_strips: list[list[str]], paytable: list[dict[str, Any]]) -> str:
    canonical = json.dumps({"paytable": paytable, "reel_strips": reel_strips}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def slot_version_for(reel_strips: list[list[str]], paytable: list[dict[str, Any]]) -> tuple[SlotTableVersion, SlotMath]:
    """The version of these strips and paytable, created (with its exact RTP) if new. A helper:
    runs inside the caller's transaction."""
    version, math, _ = _version_get_or_create(reel_strips, paytable)
    return version, math


def _version_get_or_create(
    reel_strips: list[list[str]], paytable: list[dict[str, Any]]
) -> tuple[SlotTableVersion, SlotMath, bool]:
    rules = [PayRule.from_mapping(rule) for rule in paytable]
    math = slot_rtp(reel_strips, rules)
    version, created = SlotTableVersion.objects.get_or_create(
        digest=table_digest(reel_strips, paytable),
        defaults={
            "reel_strips": reel_strips,
            "paytable": paytable,
            "rtp": fraction_decimal(math.rtp),
            "hit_frequency": fraction_decimal(math.hit_frequency),
            "created_at": timezone.now(),
        },
    )
    return version, math, created


def _symbols(*, lock: bool) -> list[SlotSymbolInfo]:
    # The slot tables' one lock: the symbol rows, in primary-key order (publication and a reader
    # of the rows both take it first, so neither sees half of the other's change).
    query = SlotSymbol.objects.order_by("pk")
    rows = list(query.select_for_update(of=("self",)) if lock else query)
    rows.sort(key=lambda row: (row.sort_order, row.pk))
    return [SlotSymbolInfo(code=row.code, name=row.name, emoji=row.emoji) for row in rows]


def slot_rows_read(*, lock: bool) -> tuple[list[SlotSymbolInfo], dict[int, dict[str, int]], list[PayRule]]:
    """The symbols, the weights (every reel and symbol, 0 where no row) and the pay rules. A helper:
    runs in the caller's transaction; ``lock`` takes the slot tables' lock first."""
    symbols = _symbols(lock=lock)
    weights: dict[int, dict[str, int]] = {reel: {symbol.code: 0 for symbol in symbols} for reel in range(REELS)}
    for reel, code, weight in SlotReelWeight.objects.values_list("reel", "symbol__code", "weight"):
        if reel in weights:
            weights[reel][code] = weight
    rules = [
        PayRule(symbol=code, count=count, multiplier=multiplier, is_jackpot=is_jackpot)
        for code, count, multiplier, is_jackpot in SlotPayRule.objects.values_list(
            "symbol__code", "count", "multiplier", "is_jackpot"
        )
    ]
    return symbols, weights, rules


def _table_from_rows() -> tuple[SlotTable, bool]:
    """The table of the rows, and whether it may be cached: not when its version row was just
    created inside a caller's transaction, which may still roll back (a process must never hand
    out a version id that does not exist: its rounds could not be verified)."""
    uncommitted = connection.in_atomic_block
    with transaction.atomic():
        symbols, weights, rules = slot_rows_read(lock=True)
        strips = table_strips(symbols, weights)
        if not rules or any(not strip for strip in strips):
            raise SlotTableUnavailable()
        version, math, created = _version_get_or_create(strips, table_paytable_json(symbols, rules))
    paytable = tuple(PayRule.from_mapping(rule) for rule in version.paytable)
    table = SlotTable(
        version=version,
        symbols=tuple(symbols),
        weights=weights,
        paytable=paytable,
        math=math,
    )
    return table, not (created and uncommitted)


# The table with whether it may be kept (see _table_from_rows), as a process copy.
_live: ProcessCopy[tuple[SlotTable, bool]] = ProcessCopy(
    "slot table", _table_from_rows, max_age=CACHE_MAX_AGE_SECONDS, keep=lambda loaded: loaded[1]
)


def slot_table_live() -> SlotTable:
    """The table spins use now (see the module docstring for the cache)."""
    return _live.get()[0]


def slot_table_current() -> SlotTableVersion:
    """The ``SlotTableVersion`` of the current rows (created with its RTP if new)."""
    return slot_table_live().version


def slot_table_invalidate() -> None:
    """Make every process read the rows again at its next spin (a new shared version of the
    process copies). Runs after commit: a cache that is down is counted and logged, never raised."""
    copies_version_bump()


# --- a spin -------------------------------------------------------------------------------------


def payout_multiple(*, bet: int, payout: int) -> Decimal:
    """What the client shows as ``multiplier``: payout / bet, to 2 decimals (rounded down)."""
    if bet <= 0:
        return Decimal("0.00")
    return (Decimal(payout) / Decimal(bet)).quantize(Decimal("0.01"), rounding=ROUND_DOWN)


def slot_feedback(*, bet: int, payout: int, is_jackpot: bool) -> dict[str, str]:
    if is_jackpot:
        return dict(FEEDBACK["jackpot"])
    if payout > bet:
        return dict(FEEDBACK["win"])
    if payout > 0:
        return dict(FEEDBACK["partial"])
    return dict(FEEDBACK["loss"])


def slot_decider(
    version: SlotTableVersion,
    *,
    bet: int,
    emoji: Callable[[str], str] | None = None,
    paytable: Sequence[PayRule] | None = None,
) -> Callable[[Draw], Decision]:
    """The pure decision of a spin of ``bet`` (a validated whole number) on ``version``'s strips
    and paytable: no database access (``manage.py simulate_rtp`` calls it with throwaway seeds).
    ``emoji`` maps a symbol code to what the player's screen shows (default: the code).
    ``paytable``: the version's paytable already parsed (the live table keeps it), else parsed
    here from the version's JSON."""
    strips: list[list[str]] = [list(strip) for strip in version.reel_strips]
    if paytable is None:
        paytable = [PayRule.from_mapping(rule) for rule in version.paytable]
    lengths = [len(strip) for strip in strips]
    show = emoji or (lambda code: code)
    version_id = version.pk

    def decide(draw: Draw) -> Decision:
        stops = slot_stops(draw.floats(len(strips)), lengths)
        symbols = [strip[stop] for strip, stop in zip(strips, stops, strict=True)]
        win = slot_evaluate(symbols, paytable)
        payout = slot_payout(bet, win.multiplier)
        return Decision(
            payout=payout,
            inputs={"table_version": version_id},
            outcome={
                "stops": stops,
                "symbols": symbols,
                "multiplier": multiplier_text(win.multiplier),
                "is_jackpot": win.is_jackpot,
            },
            subtype=SUBTYPE,
            event={
                "reels": [[show(symbol) for symbol in symbols]],
                "symbols": symbols,
                "multiplier": float(payout_multiple(bet=bet, payout=payout)),
                "is_jackpot": win.is_jackpot,
            },
        )

    return decide


@dataclass(frozen=True)
class SlotSpinResult:
    """A spin (or its replay) as the player's screen needs it."""

    round: GameRound
    symbols: list[str]
    reels: list[list[str]]
    stops: list[int]
    win_amount: int
    multiplier: Decimal  # payout / bet, 2 decimals
    is_jackpot: bool
    win_lines: list[dict[str, Any]]
    balance: int
    feedback: dict[str, str]
    replayed: bool


def _fingerprint(bet_amount: object) -> str:
    canonical = json.dumps({"game": GAME, "bet_amount": bet_amount}, sort_keys=True, default=repr)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _win_lines(table: SlotTable, round_: GameRound, symbols: list[str]) -> list[dict[str, Any]]:
    """The winning rule of the round's table version as the client lists it (empty on a loss)."""
    version_id = round_.inputs.get("table_version")
    if version_id == table.version.pk:
        paytable: Sequence[PayRule] = table.paytable
    else:  # a replay of a spin on an older table
        version = one_or_none(SlotTableVersion.objects.filter(pk=version_id))
        if version is None:
            return []
        paytable = [PayRule.from_mapping(rule) for rule in version.paytable]
    win = slot_evaluate(symbols, paytable)
    if win.rule is None:
        return []
    return [
        {
            "symbol": win.rule.symbol,
            "emoji": table.emoji(win.rule.symbol),
            "count": win.rule.count,
            "positions": list(range(win.rule.count)),
            "multiplier": multiplier_text(win.rule.multiplier),
            "payout": round_.payout,
            "is_jackpot": win.rule.is_jackpot,
        }
    ]


def slot_spin(*, user: User, bet_amount: object, idempotency_key: str) -> SlotSpinResult:
    """Spin once for ``bet_amount`` (the engine owns the transaction and every refusal). A retry
    with the same ``idempotency_key`` and bet returns the first spin."""
    table = slot_table_live()

    def decide(draw: Draw) -> Decision:
        # round_play decides only after bet_check accepted the bet as a whole number.
        assert isinstance(bet_amount, int)
        return slot_decider(table.version, bet=bet_amount, emoji=table.emoji, paytable=table.paytable)(draw)

    played = round_play(
        user=user,
        game=GAME,
        bet_amount=bet_amount,
        idempotency_key=idempotency_key,
        fingerprint=_fingerprint(bet_amount),
        decide=decide,
    )
    round_ = played.round
    outcome: dict[str, Any] = round_.outcome
    symbols = [str(symbol) for symbol in outcome["symbols"]]
    is_jackpot = bool(outcome["is_jackpot"])
    return SlotSpinResult(
        round=round_,
        symbols=symbols,
        reels=[[table.emoji(symbol) for symbol in symbols]],
        stops=[int(stop) for stop in outcome["stops"]],
        win_amount=round_.payout,
        multiplier=payout_multiple(bet=round_.bet_amount, payout=round_.payout),
        is_jackpot=is_jackpot,
        win_lines=_win_lines(table, round_, symbols),
        balance=played.balances.get(round_.currency, 0),
        feedback=slot_feedback(bet=round_.bet_amount, payout=round_.payout, is_jackpot=is_jackpot),
        replayed=played.replayed,
    )


# --- what the players and the staff see of the table -------------------------------------------


def percent_text(value: Fraction, places: int = 4) -> str:
    return str(fraction_decimal(value * 100, places))


def slot_table_summary(table: SlotTable) -> dict[str, Any]:
    """The table's figures, exact: RTP and hit frequency as percentages (4 decimals) and as
    fractions, the jackpot's probability and each rule's probability and RTP share."""
    math = table.math
    jackpot = math.jackpot_probability
    return {
        "table_version": table.version.pk,
        "digest": table.version.digest,
        "rtp": percent_text(math.rtp),
        "rtp_exact": str(math.rtp),
        "hit_frequency": percent_text(math.hit_frequency),
        "hit_frequency_exact": str(math.hit_frequency),
        "jackpot_probability": str(jackpot),
        "jackpot_odds": f"1 in {float(1 / jackpot):,.2f}" if jackpot else None,
        "combinations": math.combinations,
        "symbols": [{"code": s.code, "name": s.name, "emoji": s.emoji} for s in table.symbols],
        "reels": [
            {
                "reel": reel,
                "stops": sum(table.weights[reel].values()),
                "weights": dict(table.weights[reel]),
            }
            for reel in range(REELS)
        ],
        "paytable": [
            {
                "symbol": stats.rule.symbol,
                "emoji": table.emoji(stats.rule.symbol),
                "count": stats.rule.count,
                "multiplier": multiplier_text(stats.rule.multiplier),
                "is_jackpot": stats.rule.is_jackpot,
                "probability": str(stats.probability),
                "rtp_share": percent_text(stats.rtp_contribution),
            }
            for stats in math.rules
        ],
    }


def slot_config_public() -> dict[str, Any]:
    """``GET /api/games/slot/config``: the live table with its exact figures and the bet limits."""
    table = slot_table_live()
    config = game_config(GAME)
    return {
        "game": GAME,
        "is_enabled": config.is_enabled,
        "min_bet": config.min_bet,
        "max_bet": config.max_bet,
        "currency": config.currency,
        **slot_table_summary(table),
    }
