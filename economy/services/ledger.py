"""The functions that move money (design promises 1 and 2): :func:`wallet_grant`,
:func:`wallet_spend` and their combination :func:`wallet_exchange` (a purchase
with game currency), all through one posting routine, :func:`_post`. Taking a
grant back, as balance and debt, is ``economy.services.clawback``.

How a call stays exactly-once under concurrency:

1. lock the wallet row (``SELECT ... FOR NO KEY UPDATE``; one row per player, so
   contention is per player, never global) -- or take it as the caller's
   transaction locked it with a lock of its own (``locked=``:
   :func:`wallet_and_owner_lock`, :func:`wallet_lock_after`);
2. compute the new balances in memory and refuse with ``InsufficientFunds``
   if any would go below zero -- unless the operation's idempotency key(s)
   were used already: then it is a retry, answered below, not refused;
3. with the lock held, insert one immutable entry per currency unless an
   entry already carries one of the operation's keys (one statement: the
   test is part of the INSERT): a twin request that committed first is seen
   there (READ COMMITTED takes the statement's snapshot after the lock wait),
   nothing is written, and the twin's result is returned with
   ``applied=False``; the same key with another bundle or reason is
   ``IdempotencyConflict``. Otherwise update the wallet, all in the caller's
   transaction. The unique constraint on (wallet, key, currency) backs step
   3 even if the lock were bypassed.

Transactions: these are helpers that other services (streak and VIP claims,
shop orders, staff adjustments) compose inside *their* transaction, so they
are never durable. A posting checks everything that can refuse it
(``InsufficientFunds``, ``IdempotencyConflict``) before its first write, so
inside a caller's transaction it needs no savepoint: a refusal leaves the
transaction as it was. Called on its own (a test, a seed script) it opens
the whole transaction itself.

The shortest path: a posting is the hottest write of the product, so its
statements are written out (``economy.services.ledger_sql``: lock the wallet and read
it, insert the entries unless their keys were used, update the balances)
instead of compiled by the ORM on every call -- two statements on PostgreSQL,
each one round trip (the entries' INSERT and the balances' UPDATE are one
statement, the UPDATE made only when the INSERT wrote the entries), three on
SQLite. The replay test is part of a
statement issued after the lock (the INSERT's): under READ COMMITTED it then
sees a twin that committed while this one waited.

A wallet is opened on first use by the posting itself
(:func:`wallet_get_or_open`), for accounts created without signing up (staff,
createsuperuser); reading never opens one.

Every applied change emits ``balance_update`` from :func:`balance_announce`,
the only call site (here and in ``economy.services.clawback``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

import realtime
from accounts.models import User
from casino.db import row_get
from economy.enums import Currency, LedgerReason
from economy.exceptions import (
    LEDGER_KEY_REUSED_MESSAGE,
    IdempotencyConflict,
    InsufficientFunds,
    InvalidBundle,
    WalletMissing,
)
from economy.models import BALANCE_FIELDS, DebtEntry, LedgerEntry, Wallet
from economy.services.ledger_sql import WALLET_FIELDS, LedgerStatements

MAX_AMOUNT = 10**15


@dataclass(frozen=True)
class LedgerResult:
    applied: bool  # False when the key was seen before and nothing changed now
    balances: dict[str, int]  # every balance of the wallet now
    entries: tuple[LedgerEntry, ...] = field(default_factory=tuple)

    @property
    def deltas(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for entry in self.entries:
            totals[entry.currency] = totals.get(entry.currency, 0) + entry.delta
        return totals

    @property
    def balances_after(self) -> dict[str, int]:
        """Balances right after the original operation (same on every replay)."""
        return {entry.currency: entry.balance_after for entry in self.entries}


def wallet_balances(wallet: Wallet) -> dict[str, int]:
    return {name: int(getattr(wallet, name)) for name in BALANCE_FIELDS}


def bundle_normalized(bundle: Mapping[str, int]) -> dict[str, int]:
    amounts: dict[str, int] = {}
    for currency, amount in bundle.items():
        if currency not in Currency.values:
            raise InvalidBundle(f"Unknown currency {currency!r}.", currency=str(currency))
        if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0 or amount > MAX_AMOUNT:
            raise InvalidBundle(currency=currency)
        if amount:
            amounts[currency] = amount
    if not amounts:
        raise InvalidBundle("Nothing to move: every amount is zero.")
    return amounts


def user_id_of(user: User | int) -> int:
    """Services take the player as a ``User`` or, from callers that hold only
    the id (an order, a domain event), as the id itself."""
    return user if isinstance(user, int) else int(user.pk)


def wallet_open(*, user: User | int) -> Wallet:
    """Create the player's wallet (idempotent). Sign-up calls it for an account
    it has just created; other write paths use :func:`wallet_get_or_open`."""
    now = timezone.now()
    wallet, _ = Wallet.objects.get_or_create(pk=user_id_of(user), defaults={"created_at": now, "updated_at": now})
    return wallet


def wallet_get_or_open(*, user_id: int) -> Wallet:
    """The player's wallet, opened now if the account has none yet (accounts
    created without signing up: staff, createsuperuser). For write paths, in
    the caller's transaction; reads use ``economy.selectors.wallet_or_empty``,
    which never creates one. An id that is no account is :class:`WalletMissing`."""
    wallet = row_get(Wallet, pk=user_id)
    if wallet is not None:
        return wallet
    if not User.objects.filter(pk=user_id).exists():
        raise WalletMissing()
    return wallet_open(user=user_id)


def wallet_and_owner_lock(
    *, user_id: int, reading: str = "", params: Sequence[Any] = ()
) -> tuple[Wallet, tuple[Any, ...]] | None:
    """Lock the player's user row, then their wallet row, with one statement, and
    return the wallet as locked -- for a caller that serialises its work on the
    user row (the shop's purchase lock) and then posts to the wallet: the posting
    takes that wallet (``locked=``) instead of locking it again, one round trip
    less. The user row first, as every path that takes both locks them.
    ``reading``: SQL expressions of the caller's (comma-separated, with ``params``)
    read in the same statement, whose values come back with the wallet -- in the
    statement's snapshot, taken before it waits for the locks.

    None when the player has no wallet yet (or there is no such player): then
    nothing is locked or read, and the caller locks the user row its usual way
    and lets the posting open the wallet."""
    return LedgerStatements.lock_owner_and_wallet(user_id, reading, params)


def wallet_lock_after(
    *, user_id: int, statement: str, params: Sequence[Any]
) -> tuple[tuple[Any, ...], Wallet | None] | None:
    """Run the caller's ``statement`` (returning at most one row; an ``UPDATE ...
    RETURNING`` that locks a row of the caller's: a round's seed) and lock the
    player's wallet after it, for a posting of this transaction (``locked=``), in
    one statement: the caller's statement is a ``WITH`` query that a nested loop
    reads before its lateral subquery locks the wallet, so the caller's lock is
    taken first, as every path takes them. ``(the caller's row, the wallet)`` --
    the wallet None when the player has none yet (the posting opens it) -- or None
    when the caller's statement returned no row (the wallet is not locked then).
    PostgreSQL only (a data-modifying ``WITH``); elsewhere the caller sends its
    statement and lets the posting lock the wallet."""
    return LedgerStatements.lock_wallet_after(user_id, statement, params)


def wallet_locked(user_id: int) -> Wallet:
    """Lock the player's wallet row, opening it first if there is none yet."""
    wallet = LedgerStatements.lock_wallet(user_id)
    if wallet is None:
        wallet_get_or_open(user_id=user_id)
        wallet = LedgerStatements.lock_wallet(user_id)
        if wallet is None:  # pragma: no cover - opened just above, in this transaction
            raise WalletMissing()
    return wallet


@dataclass(frozen=True)
class _Move:
    """One keyed operation of a ledger posting: signed amounts per currency."""

    key: str
    reason: str
    deltas: dict[str, int]
    metadata: dict[str, Any]


def _move(bundle: Mapping[str, int], sign: int, reason: str, key: str, metadata: dict[str, Any] | None) -> _Move:
    if not key or len(key) > 255:
        raise ValueError("a ledger operation needs an idempotency key of 1-255 characters")
    deltas = {currency: sign * amount for currency, amount in bundle_normalized(bundle).items()}
    return _Move(key=key, reason=reason, deltas=deltas, metadata=metadata or {})


def wallet_grant(
    *,
    user: User | int,
    bundle: Mapping[str, int],
    reason: str,
    idempotency_key: str,
    reference: str = "",
    metadata: dict[str, Any] | None = None,
    first_claim_stands: bool = False,
) -> LedgerResult:
    """Add every amount of ``bundle`` to the player's wallet, once per key.

    ``first_claim_stands``: the same key with another bundle returns the
    first grant (``applied=False``) instead of raising
    :class:`IdempotencyConflict` -- for once-a-day rewards whose amount may
    change during the day (a VIP tier change)."""
    move = _move(bundle, 1, reason, idempotency_key, metadata)
    return _post(user, (move,), reference, first_claim_stands=first_claim_stands)


def wallet_spend(
    *,
    user: User | int,
    bundle: Mapping[str, int],
    reason: str,
    idempotency_key: str,
    reference: str = "",
    metadata: dict[str, Any] | None = None,
    locked: Wallet | None = None,
) -> LedgerResult:
    """Take every amount of ``bundle`` from the wallet, all or nothing, once per key.
    ``locked``: see :func:`wallet_exchange`."""
    return _post(user, (_move(bundle, -1, reason, idempotency_key, metadata),), reference, locked=locked)


def wallet_exchange(
    *,
    user: User | int,
    spend: Mapping[str, int],
    grant: Mapping[str, int],
    reason: str,
    spend_key: str,
    grant_key: str,
    reference: str = "",
    metadata: dict[str, Any] | None = None,
    grant_reason: str | None = None,
    locked: Wallet | None = None,
) -> LedgerResult:
    """Spend ``spend`` and grant ``grant`` as one operation (a purchase with
    game currency, a bet and its win): one wallet lock, the spend checked
    first, both or neither applied, once per pair of keys. Equivalent to
    ``wallet_spend`` followed by ``wallet_grant`` in one transaction, at half
    the round trips, with one ``balance_update``. The grant's entries carry
    ``grant_reason`` when given (a game's win), else ``reason``.

    ``locked``: the player's wallet as this transaction locked it
    (:func:`wallet_and_owner_lock`) with nothing written to it since -- the
    posting then takes no lock of its own; by default it locks the wallet."""
    moves = (
        _move(spend, -1, reason, spend_key, metadata),
        _move(grant, 1, grant_reason or reason, grant_key, metadata),
    )
    return _post(user, moves, reference, locked=locked)


def _post(
    user: User | int,
    moves: tuple[_Move, ...],
    reference: str,
    *,
    first_claim_stands: bool = False,
    locked: Wallet | None = None,
) -> LedgerResult:
    """Apply ``moves`` to one wallet under one lock (see the module docstring):
    in the caller's transaction when there is one (everything that can refuse
    is checked before the first write), else in a transaction of its own.
    ``locked``: the wallet as the caller's transaction locked it (``wallet_exchange``)."""
    user_id = user_id_of(user)
    if locked is not None:
        if not connection.in_atomic_block or locked.pk != user_id:
            raise ValueError("a wallet handed to a posting is the player's, locked in the caller's transaction")
        return _post_locked(user_id, moves, reference, first_claim_stands=first_claim_stands, locked=locked)
    if connection.in_atomic_block:
        return _post_locked(user_id, moves, reference, first_claim_stands=first_claim_stands)
    with transaction.atomic():
        return _post_locked(user_id, moves, reference, first_claim_stands=first_claim_stands)


def _post_locked(
    user_id: int,
    moves: tuple[_Move, ...],
    reference: str,
    *,
    first_claim_stands: bool,
    locked: Wallet | None = None,
) -> LedgerResult:
    keys = [move.key for move in moves]
    wallet = locked if locked is not None else wallet_locked(user_id)
    as_locked = {name: getattr(wallet, name) for name in WALLET_FIELDS}
    try:
        entries, debts, changed = _entries_for(wallet, moves, reference, timezone.now())
    except InsufficientFunds:
        if LedgerStatements.keys_used(user_id, keys):  # a retry of a posting made earlier is answered, not refused
            return _replay(wallet, as_locked, moves, keys, first_claim_stands=first_claim_stands)
        raise
    # Nothing is written before this statement, and it writes nothing when the keys were used: every
    # refusal (a replay's conflict too) leaves the caller's transaction untouched.
    if not LedgerStatements.post_unless_keyed(wallet, keys, entries, [*sorted(changed), "updated_at"]):
        return _replay(wallet, as_locked, moves, keys, first_claim_stands=first_claim_stands)
    if debts:
        DebtEntry.objects.bulk_create(debts)
    result = LedgerResult(
        applied=True,
        balances=wallet_balances(wallet),
        entries=tuple(entry for entry in entries if entry.idempotency_key in keys),
    )
    balance_announce(user_id, result, reason=moves[0].reason, reference=reference)
    return result


def _replay(
    wallet: Wallet, as_locked: dict[str, Any], moves: tuple[_Move, ...], keys: list[str], *, first_claim_stands: bool
) -> LedgerResult:
    """The keys were used: the wallet as it was locked, and the entries written under them."""
    for name, value in as_locked.items():
        setattr(wallet, name, value)
    previous = list(LedgerEntry.objects.filter(wallet_id=wallet.pk, idempotency_key__in=keys).order_by("pk"))
    return _replayed(wallet, moves, previous, first_claim_stands=first_claim_stands)


def _entries_for(
    wallet: Wallet, moves: tuple[_Move, ...], reference: str, now: datetime
) -> tuple[list[LedgerEntry], list[DebtEntry], set[str]]:
    """The posting's entries, debt entries and changed wallet fields, applied to
    ``wallet`` in memory (nothing written); ``InsufficientFunds`` if a balance
    would go below zero."""
    entries: list[LedgerEntry] = []
    debts: list[DebtEntry] = []
    changed: set[str] = set()
    for move in moves:
        for currency, delta in sorted(move.deltas.items()):
            new_balance = wallet.balance(currency) + delta
            if new_balance < 0:
                raise InsufficientFunds(currency=currency, balance=wallet.balance(currency), required=-delta)
            setattr(wallet, currency, new_balance)
            changed.add(currency)
            entries.append(
                LedgerEntry(
                    wallet_id=wallet.pk,
                    currency=currency,
                    delta=delta,
                    balance_after=new_balance,
                    reason=move.reason,
                    reference=reference,
                    idempotency_key=move.key,
                    metadata=move.metadata,
                    created_at=now,
                )
            )
        granted = {currency: delta for currency, delta in move.deltas.items() if delta > 0}
        if granted:
            changed |= _repay_debts(wallet, granted, move.key, reference, now, entries, debts)
    wallet.updated_at = now
    return entries, debts, changed


def _replayed(
    wallet: Wallet, moves: tuple[_Move, ...], previous: list[LedgerEntry], *, first_claim_stands: bool
) -> LedgerResult:
    """The keys were used before: the same operation is a replay, another one a conflict."""
    for move in moves:
        done = [entry for entry in previous if entry.idempotency_key == move.key]
        same_reason = bool(done) and {entry.reason for entry in done} == {move.reason}
        same_amounts = {entry.currency: entry.delta for entry in done} == move.deltas
        if not same_reason or not (same_amounts or first_claim_stands):
            raise IdempotencyConflict(LEDGER_KEY_REUSED_MESSAGE, idempotency_key=move.key)
    return LedgerResult(applied=False, balances=wallet_balances(wallet), entries=tuple(previous))


def _repay_debts(
    wallet: Wallet,
    granted: dict[str, int],
    key: str,
    reference: str,
    now: datetime,
    entries: list[LedgerEntry],
    debts: list[DebtEntry],
) -> set[str]:
    """Take what the player owes (from a refund of spent currency) out of this
    grant: one ``debt_repayment`` entry after the grant's entry, and a
    ``DebtEntry`` lowering the debt (added to ``debts``, written by the
    caller). Returns the wallet fields it changed."""
    changed: set[str] = set()
    for currency, amount in sorted(granted.items()):
        owed = wallet.debt(currency)
        if owed <= 0:
            continue
        repaid = min(owed, amount)
        new_balance = wallet.balance(currency) - repaid
        setattr(wallet, currency, new_balance)
        setattr(wallet, f"{currency}_debt", owed - repaid)
        changed |= {currency, f"{currency}_debt"}
        entries.append(
            LedgerEntry(
                wallet_id=wallet.pk,
                currency=currency,
                delta=-repaid,
                balance_after=new_balance,
                reason=LedgerReason.DEBT_REPAYMENT,
                reference=reference,
                idempotency_key=f"{key}:debt",
                metadata={"debt_after": owed - repaid},
                created_at=now,
            )
        )
        debts.append(
            DebtEntry(
                wallet_id=wallet.pk,
                currency=currency,
                delta=-repaid,
                debt_after=owed - repaid,
                reason=LedgerReason.DEBT_REPAYMENT,
                reference=reference,
                idempotency_key=f"{key}:debt",
                created_at=now,
            )
        )
    return changed


def balance_announce(user_id: int, result: LedgerResult, *, reason: str, reference: str) -> None:
    realtime.emit(
        "balance_update",
        user_id,
        {"balances": result.balances, "deltas": result.deltas, "reason": reason, "reference": reference},
    )
