"""Crash: a bet rides a multiplier that grows on the server clock until the round's crash point.

The crash point comes from the round's fair bytes with a 1% house edge
(``games.fairness.crash_point_hundredths``):

    n     = the first 52 bits of HMAC-SHA256(server_seed, "{client_seed}:{nonce}:0")
    crash = max(1, floor(99 / (1 - n / 2**52)) / 100)          P(crash >= t) = 0.99 / t

A cash-out at multiplier m pays floor(stake * m) — the whole stake times m, never only the
profit — iff m <= crash, else nothing. So the return to player is t * 0.99 / t = 99% at every
target t (``games.fairness.crash_rtp``). Two ways to play:

* **With an auto cash-out target** (1.01 ... 1000.00, two decimals) nothing is left for the player
  to decide, so the round settles inside the bet request and the response may show the crash
  point (``max_multiplier``).

* **Without a target** the round is *live*: the bet is taken, the round stays ``open``, and the
  multiplier grows on the server clock from the round's ``created_at`` (the ``started_at`` the
  player is given):

      multiplier(t) = floor(100 * e^(0.00006 * t_ms)) / 100,   t_ms = whole ms since started_at

  The round crashes at ``settle_due_at`` = the start + ``crash_time_ms(min(crash, cap))``, the
  first millisecond at which the curve reaches the crash point (``cap`` = 1000.00: a round that
  would run past it pays there by itself, which bounds both the payout and the round's length).
  ``crash_cashout`` is priced at the server's time of receipt: before ``settle_due_at`` it pays
  floor(stake * multiplier(t)) — and multiplier(t) < crash there, so the verifier agrees; at or
  after it the round is lost. Nothing the player is sent while the round is open carries the
  crash point or anything derived from it (the crash time included): the open round's
  ``outcome`` is stored empty and the point is recomputed from the seed when the round ends;
  ``settle_due_at`` is never serialised.

Settling exactly once. Every way a live round ends goes through
:func:`games.services.rounds.round_settle_open`, which locks the round row and settles it only if
it is still open (the first to lock wins, the others get the final state):

* the player's cash-out (``crash_cashout``);
* the Celery task ``games.tasks.crash_settle`` queued on commit of the bet with
  ``eta = settle_due_at`` — it does nothing if it runs early (embedded mode runs tasks eagerly,
  at once), so it can never end a round before its time;
* the beat sweeper ``games.tasks.crash_settle_due`` (every second): every open round whose
  ``settle_due_at`` has passed (the partial index ``round_open_due_idx``), each in its own
  transaction;
* any read of the round (``crash_round_read``) and the player's next crash bet settle a round
  whose time has passed before answering.

A round ended by the curve announces ``game_event {subtype: "crash_end"}`` (with the crash point,
now public); a cash-out ``crash_cashout``; a live bet ``crash_bet`` (no crash point).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from accounts.models import User
from casino.db import column_name, one_or_none
from casino.degraded import dependency_failed
from economy.selectors import wallet_balances
from games.enums import RoundStatus
from games.exceptions import InvalidAutoCashout, RoundNotFound
from games.fairness import (
    crash_multiplier_at,
    crash_payout,
    crash_point_hundredths,
    crash_time_ms,
    decimal_to_hundredths,
    hundredths_to_decimal,
)
from games.fairness.crash import GROWTH_PER_MS
from games.models import FairnessSeed, GameRound
from games.services.rounds import Decision, Draw, RoundPlay, round_play, round_settle_open

logger = logging.getLogger(__name__)

GAME = "crash"
MIN_TARGET_HUNDREDTHS = 101  # a target of 1.00 could never lose: refused
MAX_MULTIPLIER_HUNDREDTHS = 100_000  # 1000.00: the highest auto target, and where a live round pays by itself
MULTIPLIER_FORMULA = "multiplier(t) = floor(100 * e^(0.00006 * t_ms)) / 100, t_ms = whole milliseconds since started_at"

SUBTYPE_BET = "crash_bet"  # a live round started (no crash point)
SUBTYPE_CASHOUT = "crash_cashout"  # the player cashed out before the crash
SUBTYPE_END = "crash_end"  # the round ran to its end: crashed, reached its auto target, or the cap

# What the player is told about a round (``status`` of the responses).
RUNNING = "running"
# The client's words (it shows a win when the status is "auto_cashed"): cashed out by the auto
# target, or by hand / at the cap, before the crash.
AUTO_CASHED = "auto_cashed"
CASHED_OUT = "cashed_out"
LOST = "lost"  # crashed first

SWEEP_BATCH = 500


@dataclass(frozen=True)
class CrashPlay:
    """A crash round as it stands after the call, the player's balance in its currency, and the
    server time the answer was made at (``current_multiplier`` of a running round is priced there)."""

    round: GameRound
    balance: int
    replayed: bool
    server_time: datetime


def crash_target_parse(multiplier: object) -> int | None:
    """An auto cash-out target as hundredths (``Decimal("2.5")`` -> 250), None for none, or
    ``invalid_auto_cashout``: a finite Decimal with at most two decimals within 1.01 ... 1000.00."""
    if multiplier is None:
        return None
    if not isinstance(multiplier, Decimal) or not multiplier.is_finite():
        raise _invalid_target()
    try:
        hundredths = decimal_to_hundredths(multiplier)
    except ValueError:
        raise _invalid_target() from None
    if not MIN_TARGET_HUNDREDTHS <= hundredths <= MAX_MULTIPLIER_HUNDREDTHS:
        raise _invalid_target()
    return hundredths


def _invalid_target() -> InvalidAutoCashout:
    return InvalidAutoCashout(
        min_multiplier=_multiplier_text(MIN_TARGET_HUNDREDTHS),
        max_multiplier=_multiplier_text(MAX_MULTIPLIER_HUNDREDTHS),
    )


def _multiplier_text(hundredths: int | None) -> str | None:
    """The verifier's (and the client's) form of a multiplier: "2.31"."""
    return None if hundredths is None else str(hundredths_to_decimal(hundredths))


def _inputs(*, auto: int | None, cashout: int | None) -> dict[str, Any]:
    return {"auto_cashout_multiplier": _multiplier_text(auto), "cashout_multiplier": _multiplier_text(cashout)}


def _ended_event(*, point: int, auto: int | None, cashout: int | None) -> dict[str, Any]:
    """What ``game_event`` adds for a round that is over (the engine adds round_id, the amounts)."""
    return {
        "max_multiplier": _multiplier_text(point),
        "auto_cashout_multiplier": _multiplier_text(auto),
        "cashout_multiplier": _multiplier_text(cashout),
    }


def crash_decider(
    auto_cashout_hundredths: int | None,
    *,
    bet: int,
    cap_hundredths: int = MAX_MULTIPLIER_HUNDREDTHS,
    clock: Callable[[], datetime] = timezone.now,
) -> Callable[[Draw], Decision]:
    """The pure decision of a crash bet of ``bet`` (a validated whole number).

    With a target (hundredths, ``crash_target_parse``): the settled round — payout
    floor(bet * target / 100) if crash >= target, else 0. Without one: a live round, open until
    ``clock()`` + crash_time_ms(min(crash, cap)), nothing paid yet and nothing about the crash point
    in its outcome or event. No database access (``manage.py simulate_rtp`` calls it with
    throwaway seeds; it plays with a target)."""
    if auto_cashout_hundredths is not None and not (
        MIN_TARGET_HUNDREDTHS <= auto_cashout_hundredths <= MAX_MULTIPLIER_HUNDREDTHS
    ):
        raise ValueError(f"an auto cash-out target is 101..{MAX_MULTIPLIER_HUNDREDTHS} hundredths")

    def decide(draw: Draw) -> Decision:
        point = crash_point_hundredths(draw.server_seed, draw.client_seed, draw.nonce)
        if auto_cashout_hundredths is not None:
            return Decision(
                payout=crash_payout(bet, auto_cashout_hundredths, point),
                inputs=_inputs(auto=auto_cashout_hundredths, cashout=None),
                outcome={"crash_point": _multiplier_text(point)},
                subtype=SUBTYPE_END,
                event=_ended_event(point=point, auto=auto_cashout_hundredths, cashout=None),
            )
        ends_after = crash_time_ms(min(point, cap_hundredths))
        return Decision(
            payout=0,
            inputs=_inputs(auto=None, cashout=None),
            # Not the crash point: an open round's outcome stays empty (see the module docstring).
            outcome={"crash_point": None},
            subtype=SUBTYPE_BET,
            event={
                "growth_per_ms": GROWTH_PER_MS,
                "max_cashout_multiplier": _multiplier_text(cap_hundredths),
            },
            open_until=clock() + timedelta(milliseconds=ends_after),
        )

    return decide


def _fingerprint(bet_amount: object, target: int | None) -> str:
    canonical = json.dumps({"game": GAME, "bet_amount": bet_amount, "auto": target}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def crash_bet(
    *, user: User, bet_amount: object, auto_cashout_multiplier: Decimal | None, idempotency_key: str
) -> CrashPlay:
    """Bet on a crash round (the engine owns the transaction and the bet's refusals; the target's
    refusal, ``invalid_auto_cashout``, comes first). With a target the round is settled when this
    returns; without one it is running and a settle task is queued for its crash time. A retry
    with the same ``idempotency_key`` and request returns the first round as it stands now."""
    target = crash_target_parse(auto_cashout_multiplier)
    crash_settle_due(user_id=user.pk)  # a round of the player left past its time ends first

    def decide(draw: Draw) -> Decision:
        # round_play decides only after bet_check accepted the bet as a whole number.
        assert isinstance(bet_amount, int)
        return crash_decider(target, bet=bet_amount)(draw)

    played = round_play(
        user=user,
        game=GAME,
        bet_amount=bet_amount,
        idempotency_key=idempotency_key,
        fingerprint=_fingerprint(bet_amount, target),
        decide=decide,
        after=_queue_settle_on_commit,
    )
    now = timezone.now()
    if _is_due(played.round, now):
        # A crash point of 1.00 ends the round at once; a retry may come after the crash time.
        return _settle_by_time(played.round.pk, user_id=user.pk) or _as_play(played, now)
    return _as_play(played, now)


def _as_play(played: RoundPlay, server_time: datetime | None = None) -> CrashPlay:
    return CrashPlay(
        round=played.round,
        balance=played.balances.get(played.round.currency, 0),
        replayed=played.replayed,
        server_time=server_time or timezone.now(),
    )


def _queue_settle_on_commit(round_: GameRound, decision: Decision) -> None:
    if decision.open_until is None:
        return
    round_id, due = round_.pk, decision.open_until
    transaction.on_commit(lambda: _queue_settle(round_id, due), robust=True)


def _queue_settle(round_id: int, due: datetime) -> None:
    """After commit: never raises (a broker outage leaves the round to the sweeper and reads)."""
    from games.tasks import crash_settle  # the tasks call the services: imported late

    try:
        crash_settle.apply_async(args=(round_id,), eta=due)
    except Exception as error:  # noqa: BLE001 - after commit: fail quietly (promise 9)
        dependency_failed(dependency="celery_broker", use="crash_settle", error=error)


class _NotDue(Exception):
    """Raised inside the settling transaction to roll it back: the round has not crashed yet."""


def _round_crash_point(round_: GameRound) -> int:
    server_seed = FairnessSeed.objects.values_list("server_seed", flat=True).get(pk=round_.seed_id)
    return crash_point_hundredths(server_seed, round_.client_seed, round_.nonce)


def _elapsed_ms(start: datetime, at: datetime) -> int:
    return max(0, (at - start) // timedelta(milliseconds=1))


def _settle_live(round_: GameRound, *, at: datetime, cash_out: bool) -> Decision:
    """The end of a live round at server time ``at`` (the round row is locked).

    Before ``settle_due_at`` only a cash-out ends it: multiplier(at - start), which is below the
    crash point there (``settle_due_at`` is at most start + crash_time_ms(crash), the first ms the
    curve reaches it). From ``settle_due_at`` on it has ended: lost, or — for a crash point at or
    above the cap — paid at the cap."""
    due = round_.settle_due_at
    assert due is not None  # every open crash round has one (crash_decider)
    point = _round_crash_point(round_)
    if at < due:
        if not cash_out:
            raise _NotDue()
        multiplier = crash_multiplier_at(_elapsed_ms(round_.created_at, at))
        return Decision(
            payout=crash_payout(round_.bet_amount, multiplier, point),
            inputs=_inputs(auto=None, cashout=multiplier),
            outcome={"crash_point": _multiplier_text(point)},
            subtype=SUBTYPE_CASHOUT,
            event=_ended_event(point=point, auto=None, cashout=multiplier),
        )
    cashout = MAX_MULTIPLIER_HUNDREDTHS if point >= MAX_MULTIPLIER_HUNDREDTHS else None
    return Decision(
        payout=0 if cashout is None else crash_payout(round_.bet_amount, cashout, point),
        inputs=_inputs(auto=None, cashout=cashout),
        outcome={"crash_point": _multiplier_text(point)},
        subtype=SUBTYPE_END,
        event=_ended_event(point=point, auto=None, cashout=cashout),
    )


def _is_due(round_: GameRound, now: datetime) -> bool:
    return round_.status == RoundStatus.OPEN and round_.settle_due_at is not None and round_.settle_due_at <= now


def _settle_by_time(round_id: int, *, user_id: int | None = None) -> CrashPlay | None:
    """End a round whose crash time has passed (once); None if it was not due after all."""
    at = timezone.now()
    try:
        played = round_settle_open(
            round_id=round_id, user_id=user_id, settle=lambda round_: _settle_live(round_, at=at, cash_out=False)
        )
    except _NotDue:
        return None
    return _as_play(played, at)


def _own_round(user: User, round_id: int) -> GameRound:
    round_ = one_or_none(GameRound.objects.filter(pk=round_id, user_id=user.pk, game=GAME))
    if round_ is None:
        raise RoundNotFound()
    return round_


def crash_cashout(*, user: User, round_id: int) -> CrashPlay:
    """Cash out the player's live round, priced at the server's time of receipt: before the crash
    floor(stake * multiplier(t)), at or after it nothing (the round is lost). A round already
    over (cashed out, crashed, an auto round) answers its final state. Another player's round, or
    a round of another game, is ``round_not_found``."""
    received_at = timezone.now()
    _own_round(user, round_id)
    played = round_settle_open(
        round_id=round_id,
        user_id=user.pk,
        settle=lambda round_: _settle_live(round_, at=received_at, cash_out=True),
    )
    return _as_play(played)


def crash_round_read(*, user: User, round_id: int) -> CrashPlay:
    """The player's crash round now; one whose crash time has passed is settled first."""
    now = timezone.now()
    round_ = _own_round(user, round_id)
    if _is_due(round_, now):
        settled = _settle_by_time(round_id, user_id=user.pk)
        if settled is not None:
            return settled
    balance = wallet_balances(user_id=user.pk).get(round_.currency, 0)
    return CrashPlay(round=round_, balance=balance, replayed=True, server_time=now)


def crash_settle(*, round_id: int) -> bool:
    """End one live round if its crash time has passed (the settle task). True if this call
    settled it; False if it is not due yet (an early or eager task), or already over."""
    now = timezone.now()
    due = (
        GameRound.objects.filter(pk=round_id, game=GAME, status=RoundStatus.OPEN)
        .values_list("settle_due_at", flat=True)
        .first()
    )
    if due is None or due > now:
        return False
    settled = _settle_by_time(round_id)
    return settled is not None and not settled.replayed


def _rounds_due(*, user_id: int | None, now: datetime, limit: int) -> list[int]:
    """The open crash rounds whose crash time has passed (of one player, or all), oldest first.
    Written out: every crash bet looks first (the ORM compiled the query each time, a fifth of a
    bet's CPU); the same filter as the partial index on open rounds' ``settle_due_at``."""
    quote = connection.ops.quote_name
    status, game, due, user = (column_name(GameRound, name) for name in ("status", "game", "settle_due_at", "user"))
    tests = [f"{status} = %s", f"{game} = %s", f"{due} <= %s"]
    params: list[Any] = [
        RoundStatus.OPEN.value,
        GAME,
        GameRound._meta.get_field("settle_due_at").get_db_prep_value(now, connection),
    ]
    if user_id is not None:
        tests.append(f"{user} = %s")
        params.append(user_id)
    sql = (
        f"SELECT {column_name(GameRound, 'id')} FROM {quote(GameRound._meta.db_table)}"  # noqa: S608
        f" WHERE {' AND '.join(tests)} ORDER BY {due} LIMIT %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, limit])
        return [round_id for (round_id,) in cursor.fetchall()]


def crash_settle_due(*, user_id: int | None = None, limit: int = SWEEP_BATCH) -> int:
    """End every open crash round whose crash time has passed (of one player, or all), oldest
    first, each in its own transaction; how many this call settled. One failure does not stop
    the sweep (it is retried by the next)."""
    settled = 0
    for round_id in _rounds_due(user_id=user_id, now=timezone.now(), limit=limit):
        try:
            settled += crash_settle(round_id=round_id)
        except Exception:  # one bad round must not stop the others
            logger.exception("settling crash round %s failed", round_id)
    return settled


def crash_status(round_: GameRound) -> str:
    if round_.status == RoundStatus.OPEN:
        return RUNNING
    if round_.payout <= 0:
        return LOST
    return AUTO_CASHED if (round_.inputs or {}).get("auto_cashout_multiplier") else CASHED_OUT


def crash_public(play: CrashPlay) -> dict[str, Any]:
    """A crash round as the player's client reads it (``POST /api/games/crash/bet``, ``/cashout``
    and ``GET /api/games/crash/{game_id}``). While it runs: the start, the server time, the growth
    formula and the multiplier now — never the crash point (``max_multiplier``), nor the crash
    time. Once over: ``max_multiplier`` (the crash point) and ``cashout_multiplier``."""
    round_ = play.round
    inputs: dict[str, Any] = round_.inputs or {}
    body: dict[str, Any] = {
        "game_id": round_.pk,
        "status": crash_status(round_),
        "result": round_.result or None,
        "bet_amount": round_.bet_amount,
        "win_amount": round_.payout,
        "balance": play.balance,
        "currency": round_.currency,
        "auto_cashout_multiplier": inputs.get("auto_cashout_multiplier"),
        "cashout_multiplier": inputs.get("cashout_multiplier"),
        "started_at": round_.created_at,
        "server_time": play.server_time,
        "settled_at": round_.settled_at,
        "multiplier_formula": MULTIPLIER_FORMULA,
        "growth_per_ms": GROWTH_PER_MS,
        "max_cashout_multiplier": _multiplier_text(MAX_MULTIPLIER_HUNDREDTHS),
    }
    if round_.status == RoundStatus.OPEN:
        elapsed = _elapsed_ms(round_.created_at, play.server_time)
        body["elapsed_ms"] = elapsed
        body["current_multiplier"] = _multiplier_text(crash_multiplier_at(elapsed))
    else:
        outcome: dict[str, Any] = round_.outcome or {}
        body["max_multiplier"] = outcome.get("crash_point")
    return body
