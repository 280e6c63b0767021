from __future__ import annotations

from typing import Any

from accounts.tests.factories import UserFactory
from economy.enums import Currency, LedgerReason
from economy.services import wallet_grant, wallet_open


def player_with_wallet(gold: int = 0, gems: int = 0, **user_fields: Any) -> Any:
    """A player with an open wallet holding ``gold``/``gems`` (granted through the ledger)."""
    user = UserFactory(**user_fields)
    wallet_open(user=user)
    bundle = {currency: amount for currency, amount in ((Currency.GOLD, gold), (Currency.GEMS, gems)) if amount}
    if bundle:
        from django.db import transaction

        with transaction.atomic():
            wallet_grant(user=user, bundle=bundle, reason=LedgerReason.EVENT_REWARD, idempotency_key=f"seed:{user.pk}")
    return user
