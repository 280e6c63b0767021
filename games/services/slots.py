"""Slots: a spin through the round engine, the live slot table, and the audited publication of
new reel weights and paytables.

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
    own for the table). :func:`slot_tables_publish` sets a new version after its commit
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
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from accounts.models import User
from casino.copies import ProcessCopy, copies_version_bump
from casino.db import one_or_none
from casino.permissions import staff_permission_require
from casino.services import audit_record
from economy.exceptions import ReasonRequired
from games.exceptions import InvalidSlotTable, SlotTableUnavailable
from games.fairness import PayRule, SlotMath, slot_evaluate, slot_payout, slot_rtp, slot_stops
from games.models import GameRound, SlotPayRule, SlotReelWeight, SlotSymbol, SlotTableVersion
from games.services.config import game_config
from games.services.rounds import Decision, Draw, round_play

GAME = "slot"
SUBTYPE = "slot_spin"
REELS = 3
CONFIGURE_GAME = "games.configure_game"

CACHE_MAX_AGE_SECONDS = 60.0

# Bounds of what staff may publish: a strip is stored as JSON with every stop written out, and a
# multiplier fits SlotPayRule.multiplier (10 digits, 2 decimals). A table must keep the house
# edge: its exact RTP below 100% (the earlier system's 400%-RTP roulette must not come back).
MAX_STOPS_PER_REEL = 1000
MAX_MULTIPLIER = Decimal("99999999.99")
MAX_RTP = Fraction(1)

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


def _version_for(reel_strips: list[list[str]], paytable: list[dict[str, Any]]) -> tuple[SlotTableVersion, SlotMath]:
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


def _read_rows(*, lock: bool) -> tuple[list[SlotSymbolInfo], dict[int, dict[str, int]], list[PayRule]]:
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
        symbols, weights, rules = _read_rows(lock=True)
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


# --- staff: publishing new tables ----------------------------------------------------------------


def _parse_weights(raw: object, codes: Sequence[str], problems: list[str]) -> dict[int, dict[str, int]]:
    if not isinstance(raw, Mapping):
        problems.append("weights must map each reel (0, 1, 2) to {symbol: weight}")
        return {}
    weights: dict[int, dict[str, int]] = {}
    for key, reel_weights in raw.items():
        reel = int(key) if isinstance(key, str) and key.isdigit() else key
        if isinstance(reel, bool) or not isinstance(reel, int) or not 0 <= reel < REELS:
            problems.append(f"unknown reel {key!r}: the reels are 0, 1 and 2")
            continue
        if reel in weights:
            problems.append(f"reel {reel} is given twice")
            continue
        if not isinstance(reel_weights, Mapping):
            problems.append(f"reel {reel}: weights must map each symbol to a whole number")
            continue
        unknown = sorted(str(code) for code in reel_weights if code not in codes)
        missing = [code for code in codes if code not in reel_weights]
        if unknown:
            problems.append(f"reel {reel}: unknown symbols {', '.join(unknown)}")
        if missing:
            problems.append(f"reel {reel}: no weight for {', '.join(missing)}")
        parsed: dict[str, int] = {}
        for code in codes:
            weight = reel_weights.get(code, 0)
            if isinstance(weight, bool) or not isinstance(weight, int) or weight < 0:
                problems.append(f"reel {reel}: the weight of {code} must be a whole number >= 0, got {weight!r}")
                continue
            parsed[code] = weight
        total = sum(parsed.values())
        if total <= 0:
            problems.append(f"reel {reel}: at least one symbol needs a positive weight")
        elif total > MAX_STOPS_PER_REEL:
            problems.append(f"reel {reel}: {total} stops; at most {MAX_STOPS_PER_REEL}")
        weights[reel] = parsed
    for reel in range(REELS):
        if reel not in weights and not any(f"reel {reel}" in problem for problem in problems):
            problems.append(f"reel {reel} is missing: give the weights of all 3 reels")
    return weights


def _parse_multiplier(value: object) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        return None  # floats are refused: 1.1 is not 1.1 in binary
    try:
        multiplier = Decimal(str(value).strip()) if not isinstance(value, Decimal) else value
    except InvalidOperation:
        return None
    if not multiplier.is_finite() or multiplier <= 0 or multiplier > MAX_MULTIPLIER:
        return None
    if multiplier != multiplier.quantize(Decimal("0.01")):
        return None
    return multiplier


def _parse_paytable(raw: object, codes: Sequence[str], problems: list[str]) -> list[PayRule]:
    if isinstance(raw, str | bytes) or not isinstance(raw, Sequence) or not raw:
        problems.append("the paytable is a non-empty list of rules {symbol, count, multiplier, is_jackpot}")
        return []
    rules: list[PayRule] = []
    seen: set[tuple[str, int]] = set()
    for index, item in enumerate(raw, start=1):
        if not isinstance(item, Mapping):
            problems.append(f"rule {index}: not a rule")
            continue
        symbol, count = item.get("symbol"), item.get("count")
        multiplier = _parse_multiplier(item.get("multiplier"))
        is_jackpot = item.get("is_jackpot", False)
        bad = []
        if symbol not in codes:
            bad.append(f"unknown symbol {symbol!r}")
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= REELS:
            bad.append(f"count must be 1, 2 or 3, got {count!r}")
        if multiplier is None:
            bad.append(
                f"multiplier must be a decimal > 0 with at most 2 decimals (at most {MAX_MULTIPLIER}), "
                f"got {item.get('multiplier')!r}"
            )
        if not isinstance(is_jackpot, bool):
            bad.append("is_jackpot must be true or false")
        if bad:
            problems.append(f"rule {index}: {'; '.join(bad)}")
            continue
        assert isinstance(symbol, str)
        assert isinstance(count, int)
        assert multiplier is not None
        if (symbol, count) in seen:
            problems.append(f"rule {index}: {count} x {symbol} is given twice")
            continue
        seen.add((symbol, count))
        rules.append(PayRule(symbol=symbol, count=count, multiplier=multiplier, is_jackpot=bool(is_jackpot)))
    return rules


def _snapshot(version: SlotTableVersion, math: SlotMath, weights: Mapping[int, Mapping[str, int]]) -> dict[str, Any]:
    return {
        "table_version": version.pk,
        "digest": version.digest,
        "rtp": percent_text(math.rtp),
        "hit_frequency": percent_text(math.hit_frequency),
        "jackpot_probability": str(math.jackpot_probability),
        "weights": {str(reel): dict(weights[reel]) for reel in range(REELS)},
        "paytable": version.paytable,
    }


@dataclass(frozen=True)
class SlotTableDraft:
    """Tables staff asked for, validated, with their exact figures (nothing written)."""

    weights: dict[int, dict[str, int]]
    rules: list[PayRule]
    reel_strips: list[list[str]]
    paytable: list[dict[str, Any]]
    math: SlotMath
    digest: str
    changed: bool


def _draft(
    symbols: Sequence[SlotSymbolInfo],
    current_weights: dict[int, dict[str, int]],
    current_rules: list[PayRule],
    weights: Mapping[int, Mapping[str, int]] | None,
    paytable: Sequence[Mapping[str, Any]] | None,
) -> SlotTableDraft:
    codes = [symbol.code for symbol in symbols]
    problems: list[str] = []
    new_weights = current_weights if weights is None else _parse_weights(weights, codes, problems)
    new_rules = current_rules if paytable is None else _parse_paytable(paytable, codes, problems)
    if problems:
        raise InvalidSlotTable(problems=problems)
    strips = table_strips(symbols, new_weights)
    paytable_json = table_paytable_json(symbols, new_rules)
    math = slot_rtp(strips, [PayRule.from_mapping(rule) for rule in paytable_json])
    if math.rtp >= MAX_RTP:
        raise InvalidSlotTable(
            problems=[f"the RTP would be {percent_text(math.rtp)}%: it must stay below {percent_text(MAX_RTP)}%"]
        )
    digest = table_digest(strips, paytable_json)
    current_digest = table_digest(table_strips(symbols, current_weights), table_paytable_json(symbols, current_rules))
    return SlotTableDraft(
        weights=new_weights,
        rules=new_rules,
        reel_strips=strips,
        paytable=paytable_json,
        math=math,
        digest=digest,
        changed=digest != current_digest,
    )


def slot_tables_check(
    *,
    weights: Mapping[int, Mapping[str, int]] | None = None,
    paytable: Sequence[Mapping[str, Any]] | None = None,
) -> SlotTableDraft:
    """Validate tables as :func:`slot_tables_publish` would and compute their exact figures,
    writing nothing (the admin's preview). Raises ``invalid_slot_table``."""
    with transaction.atomic():
        symbols, current_weights, current_rules = _read_rows(lock=False)
    return _draft(symbols, current_weights, current_rules, weights, paytable)


def slot_tables_publish(
    *,
    actor: User,
    reason: str,
    weights: Mapping[int, Mapping[str, int]] | None = None,
    paytable: Sequence[Mapping[str, Any]] | None = None,
) -> SlotTableVersion:
    """Replace the reel weights (``{reel: {symbol: weight}}``, every reel and every symbol, 0 for a
    symbol off that reel) and/or the paytable (``[{symbol, count, multiplier, is_jackpot}]``, the
    whole list) — None keeps the current one — and return the new live version with its exact
    RTP. Refused (``invalid_slot_table``, with ``problems``) unless: 3 reels, weights whole and
    >= 0 with a positive total of at most ``MAX_STOPS_PER_REEL`` per reel, multipliers > 0 with
    2 decimals at most, at least one rule, each (symbol, count) once, the RTP below 100%, and
    something changed. Needs ``games.configure_game``; audited (before, after, why) in the
    same transaction, under the slot tables' lock; every process picks the new table up at its
    next spin (the generation is bumped after commit)."""
    staff_permission_require(actor=actor, permission=CONFIGURE_GAME)
    if not reason or not reason.strip():
        raise ReasonRequired()
    with transaction.atomic(durable=True):
        symbols, current_weights, current_rules = _read_rows(lock=True)
        draft = _draft(symbols, current_weights, current_rules, weights, paytable)
        if not draft.changed:
            raise InvalidSlotTable(problems=["nothing changed: these are the tables in play"])
        before_strips = table_strips(symbols, current_weights)
        before_paytable = table_paytable_json(symbols, current_rules)
        before: dict[str, Any]
        if current_rules and all(before_strips):
            before_version, before_math = _version_for(before_strips, before_paytable)
            before = _snapshot(before_version, before_math, current_weights)
        else:  # the rows described no playable table
            before = {"weights": {str(r): dict(current_weights[r]) for r in range(REELS)}, "paytable": before_paytable}

        symbol_ids = dict(SlotSymbol.objects.values_list("code", "pk"))
        SlotReelWeight.objects.all().delete()
        SlotReelWeight.objects.bulk_create(
            SlotReelWeight(reel=reel, symbol_id=symbol_ids[code], weight=weight)
            for reel in range(REELS)
            for code, weight in draft.weights[reel].items()
        )
        SlotPayRule.objects.all().delete()
        SlotPayRule.objects.bulk_create(
            SlotPayRule(
                symbol_id=symbol_ids[rule.symbol],
                count=rule.count,
                multiplier=rule.multiplier,
                is_jackpot=rule.is_jackpot,
            )
            for rule in draft.rules
        )
        version, math = _version_for(draft.reel_strips, draft.paytable)
        audit_record(
            actor=actor,
            action="slot_tables_publish",
            target=version,
            reason=reason,
            data={"before": before, "after": _snapshot(version, math, draft.weights)},
        )
        transaction.on_commit(slot_table_invalidate)
    return version
