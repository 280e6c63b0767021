"""Staff operations on wallets (design promise 7: audited, through the ledger)."""

from __future__ import annotations

import uuid

from django.db import transaction

from accounts.models import User
from casino.permissions import staff_permission_require
from casino.services import audit_record
from economy.enums import Currency, LedgerReason
from economy.exceptions import InvalidBundle, ReasonRequired
from economy.services.ledger import LedgerResult, user_id_of, wallet_grant, wallet_spend


def wallet_adjust_key(nonce: uuid.UUID | str | None = None) -> str:
    """``admin-adjust:{nonce}``. The admin form carries a nonce made when the
    form is rendered, so a form posted twice (double click, browser resubmit)
    is one operation: the ledger's idempotency key makes the second a no-op."""
    return f"admin-adjust:{nonce or uuid.uuid4()}"


def wallet_adjust(
    *,
    actor: User | None,
    user: User | int,
    currency: str,
    amount: int,
    reason: str,
    nonce: uuid.UUID | str | None = None,
) -> LedgerResult:
    """A staff correction of one balance: ``amount`` > 0 grants, < 0 spends.

    Goes through :func:`wallet_grant` / :func:`wallet_spend` with reason
    ``admin_adjust`` (so it is a ledger entry like any other and can never
    take a balance below zero: :class:`InsufficientFunds`), and writes the
    audit record in the same transaction. ``nonce`` (see
    :func:`wallet_adjust_key`) makes a repeated submission return the first
    result with ``applied=False`` and no second audit record; without it
    every call is a new operation. An entry point (the admin page): it owns
    the transaction. A staff ``actor`` needs ``economy.adjust_balance``
    (``None``: the system itself, e.g. a command).
    """
    if actor is not None:
        staff_permission_require(actor=actor, permission="economy.adjust_balance")
    note = (reason or "").strip()
    if not note:
        raise ReasonRequired("A staff adjustment needs a reason.")
    if currency not in Currency.values:
        raise InvalidBundle(f"Unknown currency {currency!r}.", currency=str(currency))
    if isinstance(amount, bool) or not isinstance(amount, int) or amount == 0:
        raise InvalidBundle("The amount must be a non-zero whole number.", currency=currency)
    user_id = user_id_of(user)
    staff_login = actor.get_username() if actor is not None else "system"
    key = wallet_adjust_key(nonce)
    move = wallet_grant if amount > 0 else wallet_spend
    with transaction.atomic(durable=True):
        result = move(
            user=user_id,
            bundle={currency: abs(amount)},
            reason=LedgerReason.ADMIN_ADJUST,
            idempotency_key=key,
            reference=f"staff:{staff_login}",
            metadata={"staff_id": getattr(actor, "pk", None), "staff": staff_login, "note": note},
        )
        if result.applied:
            audit_record(
                actor=actor,
                action="wallet_adjust",
                target_type="economy.wallet",
                target_id=user_id,
                reason=note,
                data={
                    "currency": currency,
                    "amount": amount,
                    "balance_after": result.balances[currency],
                    "idempotency_key": key,
                    "ledger_entry_ids": [entry.pk for entry in result.entries],
                },
            )
    return result
