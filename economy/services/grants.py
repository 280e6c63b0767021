"""A staff member grants one player a reward bundle (gold, gems, XP) from the
player's page: a gift or a goodwill gesture, as opposed to an adjustment that
corrects a balance (:func:`economy.services.wallet_adjust`).

Exactly once per form: the page renders the form with a fresh ``grant_id``
(a UUID in a hidden field), and the grant is posted under the ledger key
``staff-grant:{grant_id}``. A form submitted twice (a double click, a
browser resubmit, two tabs of the same page) is one grant: the second call
finds the entries of the first under the wallet lock and returns them with
``applied=False`` (no second audit record, no second event); the unique key of
the ledger backs that even under concurrency. The same ``grant_id`` with
another bundle is :class:`IdempotencyConflict`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from django.db import transaction

import realtime
from accounts.models import User
from casino.permissions import staff_permission_require
from casino.services import audit_record
from economy.enums import Currency, LedgerReason
from economy.exceptions import InvalidBundle, ReasonRequired
from economy.services.ledger import LedgerResult, user_id_of, wallet_grant

# Reuses the adjustment's permission: a grant moves balances the same way (finance and admin hold it).
GRANT_PERMISSION = "economy.adjust_balance"
GRANT_CURRENCIES: tuple[str, ...] = (Currency.GOLD.value, Currency.GEMS.value, Currency.XP.value)
# reward_granted's ``source`` for these grants (the player's inbox announces them from balance_update).
GRANT_SOURCE = "staff_grant"


def reward_bundle_key(grant_id: uuid.UUID | str) -> str:
    return f"staff-grant:{grant_id}"


def reward_bundle_grant(
    *,
    actor: User,
    user: User | int,
    bundle: Mapping[str, int],
    reason: str,
    grant_id: uuid.UUID | str,
) -> LedgerResult:
    """Grant ``bundle`` (gold/gems/xp, zero amounts ignored) to the player, once
    per ``grant_id``; audited with the reason; emits ``reward_granted`` (source
    ``staff_grant``) next to the ledger's ``balance_update``. Needs
    ``economy.adjust_balance``. An entry point: it owns the transaction."""
    staff_permission_require(actor=actor, permission=GRANT_PERMISSION)
    note = (reason or "").strip()
    if not note:
        raise ReasonRequired("A reward grant needs a reason.")
    unknown = sorted(set(bundle) - set(GRANT_CURRENCIES))
    if unknown:
        raise InvalidBundle(f"A reward bundle holds gold, gems and XP only, not {unknown[0]!r}.", currency=unknown[0])
    amounts = {currency: amount for currency, amount in bundle.items() if amount != 0}
    user_id = user_id_of(user)
    key = reward_bundle_key(grant_id)
    staff_login = actor.get_username()
    with transaction.atomic(durable=True):
        # wallet_grant refuses a negative, fractional or oversized amount, and an empty bundle.
        result = wallet_grant(
            user=user_id,
            bundle=amounts,
            reason=LedgerReason.ADMIN_ADJUST,
            idempotency_key=key,
            reference=f"staff:{staff_login}",
            metadata={"staff_id": actor.pk, "staff": staff_login, "note": note, "kind": "reward_bundle"},
        )
        if result.applied:
            realtime.emit("reward_granted", user_id, {"source": GRANT_SOURCE, "amounts": amounts, "by_staff": True})
            audit_record(
                actor=actor,
                action="reward_bundle_grant",
                target_type="economy.wallet",
                target_id=user_id,
                reason=note,
                data={
                    "bundle": amounts,
                    "balances_after": {currency: result.balances[currency] for currency in amounts},
                    "idempotency_key": key,
                    "ledger_entry_ids": [entry.pk for entry in result.entries],
                },
            )
    return result
