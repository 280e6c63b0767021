"""Staff publishing new slot tables (reel weights and paytables): checked, previewed with their
exact RTP (``slot_tables_check``), published audited in one transaction
(``slot_tables_publish``: who, before, after, why) and made live in every process at once
(``games.services.slots.slot_table_invalidate``). ``games.services.slots`` explains the table."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

from django.db import transaction

from accounts.models import User
from casino.permissions import staff_permission_require
from casino.services import audit_record
from economy.exceptions import ReasonRequired
from games.exceptions import InvalidSlotTable
from games.fairness import PayRule, SlotMath, slot_rtp
from games.models import SlotPayRule, SlotReelWeight, SlotSymbol, SlotTableVersion
from games.services.slots import (
    REELS,
    SlotSymbolInfo,
    percent_text,
    slot_rows_read,
    slot_table_invalidate,
    slot_version_for,
    table_digest,
    table_paytable_json,
    table_strips,
)

CONFIGURE_GAME = "games.configure_game"

# Bounds of what staff may publish: a strip is stored as JSON with every stop written out, and a
# multiplier fits SlotPayRule.multiplier (10 digits, 2 decimals). A table must keep the house
# edge: its exact RTP below 100% (the earlier system's 400%-RTP roulette must not come back).
MAX_STOPS_PER_REEL = 1000
MAX_MULTIPLIER = Decimal("99999999.99")
MAX_RTP = Fraction(1)


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
        symbols, current_weights, current_rules = slot_rows_read(lock=False)
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
        symbols, current_weights, current_rules = slot_rows_read(lock=True)
        draft = _draft(symbols, current_weights, current_rules, weights, paytable)
        if not draft.changed:
            raise InvalidSlotTable(problems=["nothing changed: these are the tables in play"])
        before_strips = table_strips(symbols, current_weights)
        before_paytable = table_paytable_json(symbols, current_rules)
        before: dict[str, Any]
        if current_rules and all(before_strips):
            before_version, before_math = slot_version_for(before_strips, before_paytable)
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
        version, math = slot_version_for(draft.reel_strips, draft.paytable)
        audit_record(
            actor=actor,
            action="slot_tables_publish",
            target=version,
            reason=reason,
            data={"before": before, "after": _snapshot(version, math, draft.weights)},
        )
        transaction.on_commit(slot_table_invalidate)
    return version
