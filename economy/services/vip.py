"""VIP daily points and tier changes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.db import transaction

import realtime
from casino.services import audit_record
from economy.enums import Currency, LedgerReason, VipTier
from economy.exceptions import InvalidBundle, WalletMissing
from economy.models import LedgerEntry, Wallet
from economy.selectors import wallet_for
from economy.services.ledger import wallet_grant
from economy.streaks import utc_today
from economy.vip import VIP_TIERS


def vip_claim_key(user_id: int, day: date) -> str:
    return f"vip:{user_id}:{day.isoformat()}"


@dataclass(frozen=True)
class VipClaimResult:
    awarded_points: int
    new_vip_points: int
    claimed_at: datetime
    vip_tier: str
    idempotent: bool


def vip_claim(*, user: Any) -> VipClaimResult:
    """Today's VIP points for the player's tier, once per UTC day (key
    ``vip:{user}:{utc-date}``); a repeat returns the first claim."""
    user_id = getattr(user, "pk", user)
    today = utc_today()
    with transaction.atomic():
        wallet = wallet_for(user_id)
        if wallet is None:
            raise WalletMissing()
        tier = wallet.vip_tier
        # Claimed earlier today (perhaps at another tier): the ledger returns
        # that first claim, and its answer stands.
        ledger = wallet_grant(
            user=user_id,
            bundle={Currency.VIP_POINTS: VIP_TIERS[tier].daily_points},
            reason=LedgerReason.VIP_DAILY,
            idempotency_key=vip_claim_key(user_id, today),
            reference=f"vip:{today.isoformat()}",
            metadata={"vip_tier": tier, "date": today.isoformat()},
            first_claim_stands=True,
        )
        if ledger.applied:
            realtime.emit("reward_granted", user_id, {"source": "vip_daily", "amounts": ledger.deltas})
    return _result(ledger.entries[0], tier, idempotent=not ledger.applied)


def _result(entry: LedgerEntry, tier: str, *, idempotent: bool) -> VipClaimResult:
    return VipClaimResult(
        awarded_points=entry.delta,
        new_vip_points=entry.balance_after,
        claimed_at=entry.created_at,
        vip_tier=str(entry.metadata.get("vip_tier", tier)),
        idempotent=idempotent,
    )


def vip_set_tier(*, actor: Any, user: Any, tier: str, reason: str) -> Wallet:
    """Staff change a player's VIP tier (audited)."""
    if tier not in VipTier.values:
        raise InvalidBundle(f"Unknown VIP tier {tier!r}.", code="invalid_vip_tier")
    user_id = getattr(user, "pk", user)
    with transaction.atomic():
        wallet = Wallet.objects.select_for_update().get(pk=user_id)
        previous = wallet.vip_tier
        wallet.vip_tier = tier
        wallet.save(update_fields=["vip_tier"])
        audit_record(
            actor=actor,
            action="vip_tier_change",
            target_type="accounts.user",
            target_id=user_id,
            reason=reason,
            data={"from": previous, "to": tier},
        )
        realtime.emit("profile_update", user_id, {"vip_tier": tier})
    return wallet
