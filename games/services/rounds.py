"""Playing a round: the one path every game's bet takes (design promises 1, 2 and 6).

:func:`round_play` runs, in ONE transaction:

1. the nonce: one ``UPDATE … SET next_nonce = next_nonce + 1 … RETURNING`` on the player's seed
   row, which also locks it, so the player's rounds are serialised and each gets its own nonce;
   the unique (seed, nonce) constraint backs this even against a bypassed lock;
2. the replay check: a round with this player's idempotency key is returned as it is and the
   transaction rolls back, nonce included (the same key with another request is
   ``idempotency_key_reused``) — a retry never spins twice, even racing the first request. On
   PostgreSQL the nonce's statement also reads the check and locks the player's wallet after the
   seed, for step 6 (``games.locks.seed_take_nonce_and_lock_wallet``): one statement for all
   three. Its snapshot predates its wait for the seed lock, so a twin that commits during that
   wait is not seen there: the twin's round then refuses this one's by their unique key when
   this round is written (the transaction's last statement), and the twin's round is the
   answer; a refusal (funds the twin spent) is answered with the twin's round too when there is
   one. Elsewhere the check is a look of its own after the seed lock;
3. the refusals: game switched off, self-exclusion, a bet that is not a whole number within the
   game's limits (a refusal rolls the nonce back too);
4. the daily limit for the player's VIP tier (``games.services.limits``), counted atomically;
5. the game's decision from the fair bytes (``decide(draw)``, pure: no database access);
6. the round row, then the bet and the payout through the economy's posting under the wallet
   lock (taken in step 1 on PostgreSQL), keyed ``round:{id}:bet`` / ``round:{id}:win``
   (insufficient balance refuses here and the round and the nonce roll back with it);
7. the player's statistics (one upsert), and the domain events: ``game_round`` (what other apps
   subscribe to) once the round is settled, and ``game_event`` (what the player's client shows),
   plus the economy's ``balance_update``.

A live crash round is stored ``open`` (bet taken, no payout) and settled later by
:func:`round_settle_open`, which locks the round row and pays, counts and announces it once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import IntegrityError, connection
from django.utils import timezone

import realtime
from accounts.models import User
from casino.db import constraint_of, row_get, row_insert_keyed, service_transaction
from casino.errors import ApplicationError
from economy.enums import LedgerReason
from economy.exceptions import IdempotencyConflict
from economy.models import Wallet
from economy.selectors import wallet_balances
from economy.services import LedgerResult, wallet_exchange, wallet_grant, wallet_spend
from games import metrics
from games.enums import RoundResult, RoundStatus
from games.exceptions import RoundNotFound
from games.fairness import fair_floats
from games.locks import NonceTaken, round_lock, seed_take_nonce, seed_take_nonce_and_lock_wallet
from games.models import GameConfig, GameRound
from games.services.config import bet_check, game_config
from games.services.fairness import seed_ensure
from games.services.limits import daily_limit_take
from games.services.stats import stats_record_round

# A payout of at least this many times the bet is a "big win" (the events' big_wins metric).
BIG_WIN_MULTIPLE = 10


@dataclass(frozen=True)
class Draw:
    """What a game decides from: the fairness inputs of this round."""

    server_seed: str
    client_seed: str
    nonce: int
    config: GameConfig

    def floats(self, count: int) -> list[float]:
        return fair_floats(self.server_seed, self.client_seed, self.nonce, count)


@dataclass(frozen=True)
class Decision:
    """A game's decision for one round.

    ``payout`` is what the player gets back (0 on a loss, the bet on a draw). ``inputs`` is what
    the player asked for plus the configuration used (what a verifier needs besides the seeds);
    ``outcome`` what the fair bytes decided. ``event`` is merged into the ``game_event`` the
    player gets (public fields only). ``open_until``: a live round, settled later."""

    payout: int
    inputs: dict[str, Any]
    outcome: dict[str, Any]
    subtype: str
    event: dict[str, Any] = field(default_factory=dict)
    open_until: datetime | None = None


@dataclass(frozen=True)
class RoundPlay:
    round: GameRound
    replayed: bool
    balances: dict[str, int]


def result_of(*, bet: int, payout: int) -> str:
    if payout > bet:
        return RoundResult.WIN
    if payout == bet:
        return RoundResult.DRAW
    return RoundResult.LOSE


def round_play(
    *,
    user: User,
    game: str,
    bet_amount: object,
    idempotency_key: str,
    fingerprint: str,
    decide: Callable[[Draw], Decision],
    units: int = 1,
    after: Callable[[GameRound, Decision], None] | None = None,
) -> RoundPlay:
    """Play one round of ``game`` for ``bet_amount`` (see the module docstring). ``fingerprint``
    identifies the request (its game inputs) for the replay check; ``units`` is what the round
    counts against the daily limit (gacha: the pulls).

    ``decide`` runs with the player's seed row locked, so every round of the player waits for the
    one in progress: a game may read per-player state there (the gacha's pity counter) without a
    lock of its own. ``after(round, decision)`` runs once the round and its postings are written,
    in the same transaction, for a game's own rows (the gacha's pity counter and inventory)."""
    try:
        return _play(user, game, bet_amount, idempotency_key, fingerprint, decide, units, after)
    except _Replayed as replayed:  # the transaction rolled back: the nonce taken is not used
        return replayed.play
    except IntegrityError as error:
        # A twin committed while this request waited for the seed lock (its replay check reads the
        # snapshot taken before that wait): the round's unique key refused this one, and rolled it
        # all back. The twin's round is the answer.
        if constraint_of(error) != TWIN_CONSTRAINT:
            raise
        return _twin_or_raise(user, idempotency_key, fingerprint, error)
    except ApplicationError as error:
        # A refusal may come of such a twin too (its bet spent the funds, took the day's last round):
        # answer the twin's round if there is one.
        if isinstance(error, IdempotencyConflict):
            raise
        return _twin_or_raise(user, idempotency_key, fingerprint, error)


# The round's unique (player, idempotency key): what refuses a twin that its replay check missed.
TWIN_CONSTRAINT = "round_idempotency_key_once"


def _twin_or_raise(user: User, idempotency_key: str, fingerprint: str, error: Exception) -> RoundPlay:
    replay = _replay(user, idempotency_key, fingerprint)
    if replay is None:
        raise error
    return replay


class _Replayed(Exception):
    """A round with this key exists: leave the transaction (undoing the nonce taken) and answer it."""

    def __init__(self, play: RoundPlay) -> None:
        super().__init__("replayed")
        self.play = play


def _play(
    user: User,
    game: str,
    bet_amount: object,
    idempotency_key: str,
    fingerprint: str,
    decide: Callable[[Draw], Decision],
    units: int,
    after: Callable[[GameRound, Decision], None] | None,
) -> RoundPlay:
    with service_transaction():
        # The seed lock comes first: a parallel retry with the same key waits here for the
        # first request and then finds its committed round (READ COMMITTED reads it after the
        # wait), instead of passing the replay check and failing on the unique key.
        taken, wallet = _take_nonce(user, idempotency_key, fingerprint)
        config = game_config(game)
        bet = bet_check(user=user, config=config, amount=bet_amount)
        daily_limit_take(user_id=user.pk, game=game, units=units)
        decision = decide(
            Draw(server_seed=taken.server_seed, client_seed=taken.client_seed, nonce=taken.nonce, config=config)
        )
        now = timezone.now()
        is_open = decision.open_until is not None
        round_ = GameRound(
            user=user,
            game=game,
            status=RoundStatus.OPEN if is_open else RoundStatus.SETTLED,
            result="" if is_open else result_of(bet=bet, payout=decision.payout),
            currency=config.currency,
            bet_amount=bet,
            payout=0 if is_open else decision.payout,
            seed_id=taken.seed_id,
            nonce=taken.nonce,
            client_seed=taken.client_seed,
            inputs=decision.inputs,
            outcome=decision.outcome,
            idempotency_key=idempotency_key,
            request_fingerprint=fingerprint,
            created_at=now,
            settle_due_at=decision.open_until,
            settled_at=None if is_open else now,
        )
        # With the transaction's last statement when its key was drawn with the nonce (PostgreSQL: nothing
        # here reads the row back; the rows that refer to it, a pull's items, are checked at commit).
        round_.pk = taken.round_key
        row_insert_keyed(round_)
        ledger = _post_bet(round_, payout=0 if is_open else decision.payout, locked=wallet)
        if after is not None:
            after(round_, decision)
        streak = 0
        if not is_open:
            streak = stats_record_round(user_id=user.pk, game=game, bet=bet, payout=round_.payout, result=round_.result)
        _announce(round_, decision.subtype, decision.event, ledger.balances, win_streak=streak)
    # Committed (the transaction is durable): count it. A replay or a refusal never gets here.
    metrics.bet_placed(game=round_.game, currency=round_.currency, amount=round_.bet_amount)
    if not is_open:
        _count_settled(round_)
    return RoundPlay(round=round_, replayed=False, balances=ledger.balances)


def _count_settled(round_: GameRound) -> None:
    metrics.round_settled(
        game=round_.game,
        currency=round_.currency,
        result=round_.result,
        payout=round_.payout,
        big_win=round_.payout >= BIG_WIN_MULTIPLE * round_.bet_amount,
    )


def _replay(user: User, idempotency_key: str, fingerprint: str) -> RoundPlay | None:
    existing = row_get(GameRound, user=user.pk, idempotency_key=idempotency_key)
    if existing is None:
        return None
    if existing.request_fingerprint != fingerprint:
        raise IdempotencyConflict(idempotency_key=idempotency_key)
    return RoundPlay(round=existing, replayed=True, balances=wallet_balances(user_id=user.pk))


def _take_nonce(user: User, idempotency_key: str, fingerprint: str) -> tuple[NonceTaken, Wallet | None]:
    """Lock the player's seed and take its next nonce (creating the seed on the player's first
    round), then the replay check: a replay leaves the transaction (``_Replayed``), the same key
    for another request is ``IdempotencyConflict``. On PostgreSQL one statement also locks the
    player's wallet after the seed, for the posting (None: no wallet yet, the posting opens it)
    and reads the replay check (``games.locks.seed_take_nonce_and_lock_wallet``); elsewhere the
    check is a look of its own and the posting locks the wallet."""
    if connection.vendor != "postgresql":
        taken = seed_take_nonce(user_id=user.pk)
        if taken is None:  # the player's first round: create the seed, then take its first nonce
            seed_ensure(user_id=user.pk)
            taken = seed_take_nonce(user_id=user.pk)
            assert taken is not None
        _leave_if_replayed(user, idempotency_key, fingerprint)
        return taken, None
    found = seed_take_nonce_and_lock_wallet(user_id=user.pk, idempotency_key=idempotency_key)
    if found is None:  # the player's first round
        seed_ensure(user_id=user.pk)
        found = seed_take_nonce_and_lock_wallet(user_id=user.pk, idempotency_key=idempotency_key)
        assert found is not None
    if found.replay_fingerprint is not None:
        _leave_if_replayed(user, idempotency_key, fingerprint)
    return found.taken, found.wallet


def _leave_if_replayed(user: User, idempotency_key: str, fingerprint: str) -> None:
    replay = _replay(user, idempotency_key, fingerprint)
    if replay is not None:
        raise _Replayed(replay)


def round_ledger_keys(round_id: int) -> tuple[str, str]:
    """The natural idempotency keys of a round's bet and win postings."""
    return f"round:{round_id}:bet", f"round:{round_id}:win"


def _post_bet(round_: GameRound, *, payout: int, locked: Wallet | None) -> LedgerResult:
    bet_key, win_key = round_ledger_keys(round_.pk)
    common: dict[str, Any] = {
        "user": round_.user_id,
        "reference": f"round:{round_.pk}",
        "metadata": {"game": round_.game, "round": round_.pk},
        "locked": locked,
    }
    if payout:
        return wallet_exchange(
            spend={round_.currency: round_.bet_amount},
            grant={round_.currency: payout},
            reason=LedgerReason.GAME_BET,
            grant_reason=LedgerReason.GAME_WIN,
            spend_key=bet_key,
            grant_key=win_key,
            **common,
        )
    return wallet_spend(
        bundle={round_.currency: round_.bet_amount}, reason=LedgerReason.GAME_BET, idempotency_key=bet_key, **common
    )


def round_event_data(round_: GameRound, *, win_streak: int = 0) -> dict[str, Any]:
    """The ``game_round`` domain event: what missions, achievements and analytics count
    (``win_streak``: the player's consecutive wins in this game after the round; ``created_at``:
    when the bet was placed, the day the staff dashboard counts the round on, as it does from
    PostgreSQL)."""
    return {
        "round_id": round_.pk,
        "game": round_.game,
        "currency": round_.currency,
        "bet_amount": round_.bet_amount,
        "payout": round_.payout,
        "net": round_.payout - round_.bet_amount,
        "result": round_.result,
        "is_big_win": round_.payout >= BIG_WIN_MULTIPLE * round_.bet_amount,
        "win_streak": win_streak,
        "created_at": round_.created_at,
        "settled_at": round_.settled_at,
    }


def _announce(
    round_: GameRound, subtype: str, public: dict[str, Any], balances: dict[str, int], *, win_streak: int = 0
) -> None:
    player_event = {
        "subtype": subtype,
        "game": round_.game,
        "round_id": round_.pk,
        "status": round_.status,
        "bet_amount": round_.bet_amount,
        "win_amount": round_.payout,
        "result": round_.result or None,
        "balance": balances.get(round_.currency),
        **public,
    }
    events: list[tuple[str, Any, dict[str, Any]]] = [("game_event", round_.user_id, player_event)]
    if round_.status == RoundStatus.SETTLED:
        events.insert(0, ("game_round", round_.user_id, round_event_data(round_, win_streak=win_streak)))
    realtime.emit_many(events)


def round_settle_open(
    *,
    round_id: int,
    user_id: int | None = None,
    settle: Callable[[GameRound], Decision],
) -> RoundPlay:
    """Settle an open (live) round once: lock it, let the game decide the payout and the final
    outcome (``settle``; it may look at the clock), pay it keyed ``round:{id}:win``, count the
    stats and announce it. A round already settled is returned unchanged (``replayed``): the
    cash-out request and the settling task can race, and only the first one settles.
    ``user_id`` restricts the lookup to the player's own rounds (a player's request)."""
    with service_transaction():
        round_ = round_lock(round_id=round_id, user_id=user_id)
        if round_ is None:
            raise RoundNotFound()
        if round_.status != RoundStatus.OPEN:
            return RoundPlay(round=round_, replayed=True, balances=wallet_balances(user_id=round_.user_id))
        decision = settle(round_)
        round_.status = RoundStatus.SETTLED
        round_.payout = decision.payout
        round_.result = result_of(bet=round_.bet_amount, payout=decision.payout)
        round_.inputs = decision.inputs
        round_.outcome = decision.outcome
        round_.settled_at = timezone.now()
        round_.save(update_fields=["status", "payout", "result", "inputs", "outcome", "settled_at"])
        if decision.payout:
            _, win_key = round_ledger_keys(round_.pk)
            balances = wallet_grant(
                user=round_.user_id,
                bundle={round_.currency: decision.payout},
                reason=LedgerReason.GAME_WIN,
                idempotency_key=win_key,
                reference=f"round:{round_.pk}",
                metadata={"game": round_.game, "round": round_.pk},
            ).balances
        else:
            balances = wallet_balances(user_id=round_.user_id)
        streak = stats_record_round(
            user_id=round_.user_id,
            game=round_.game,
            bet=round_.bet_amount,
            payout=round_.payout,
            result=round_.result,
        )
        _announce(round_, decision.subtype, decision.event, balances, win_streak=streak)
    _count_settled(round_)  # committed; an already settled round returned above, uncounted
    return RoundPlay(round=round_, replayed=False, balances=balances)
