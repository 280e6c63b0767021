"""Taking a grant back (a refunded purchase): :func:`wallet_claw_back` takes what the
balances hold and records the rest as debt, which the next grants repay
(``economy.services.ledger``: a posting's ``debt_repayment`` entries). Never negative; once
per key."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from economy.exceptions import InvalidBundle
from economy.models import DebtEntry, LedgerEntry
from economy.services.ledger import (
    LedgerResult,
    balance_announce,
    bundle_normalized,
    user_id_of,
    wallet_balances,
    wallet_locked,
)


@dataclass(frozen=True)
class ClawBackResult:
    applied: bool
    taken: dict[str, int]  # what came out of the balances
    debt_added: dict[str, int]  # what the player now owes instead
    balances: dict[str, int]


def wallet_claw_back(
    *,
    user: User | int,
    bundle: Mapping[str, int],
    reason: str,
    idempotency_key: str,
    reference: str = "",
    metadata: dict[str, Any] | None = None,
) -> ClawBackResult:
    """Take back a grant (a refunded purchase): as much as the balances hold;
    the rest becomes debt, repaid from the next grants. Never negative; once
    per key.

    The debt is recorded in the currency of ``bundle``, so the caller asks for
    the currency the player actually owes. A grant the player exchanged for
    another currency (gold spent on gems in the shop) is not owed in the
    granted currency any more: the shop first reverses the purchases made
    with it (``shop.services.order_state.order_take_back``: each gives its
    price back into this balance and has its own grant clawed back here), so
    what stays unpaid is owed in the currency bought with it (gems), and only
    what was lost otherwise (bets) is owed in the granted currency."""
    amounts = bundle_normalized(bundle)
    user_id = user_id_of(user)
    with transaction.atomic():
        wallet = wallet_locked(user_id)
        taken_before = {
            e.currency: -e.delta for e in LedgerEntry.objects.filter(wallet_id=user_id, idempotency_key=idempotency_key)
        }
        owed_before = {
            d.currency: d.delta for d in DebtEntry.objects.filter(wallet_id=user_id, idempotency_key=idempotency_key)
        }
        if taken_before or owed_before:
            return ClawBackResult(False, taken_before, owed_before, wallet_balances(wallet))
        now = timezone.now()
        entries: list[LedgerEntry] = []
        taken: dict[str, int] = {}
        debt_added: dict[str, int] = {}
        changed: set[str] = set()
        for currency, amount in sorted(amounts.items()):
            take = min(wallet.balance(currency), amount)
            if take:
                setattr(wallet, currency, wallet.balance(currency) - take)
                taken[currency] = take
                changed.add(currency)
                entries.append(
                    LedgerEntry(
                        wallet_id=user_id,
                        currency=currency,
                        delta=-take,
                        balance_after=wallet.balance(currency),
                        reason=reason,
                        reference=reference,
                        idempotency_key=idempotency_key,
                        metadata={**(metadata or {}), "requested": amount},
                        created_at=now,
                    )
                )
            shortfall = amount - take
            if shortfall:
                if not hasattr(wallet, f"{currency}_debt"):
                    raise InvalidBundle(f"{currency} cannot be owed.", currency=currency)
                owed = wallet.debt(currency) + shortfall
                setattr(wallet, f"{currency}_debt", owed)
                debt_added[currency] = shortfall
                changed.add(f"{currency}_debt")
                DebtEntry.objects.create(
                    wallet_id=user_id,
                    currency=currency,
                    delta=shortfall,
                    debt_after=owed,
                    reason=reason,
                    reference=reference,
                    idempotency_key=idempotency_key,
                    created_at=now,
                )
        wallet.updated_at = now
        wallet.save(update_fields=[*sorted(changed), "updated_at"])
        LedgerEntry.objects.bulk_create(entries)
        result = ClawBackResult(True, taken, debt_added, wallet_balances(wallet))
        if entries:
            balance_announce(
                user_id,
                LedgerResult(applied=True, balances=result.balances, entries=tuple(entries)),
                reason=reason,
                reference=reference,
            )
    return result
