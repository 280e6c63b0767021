"""VIP daily points and tier changes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from django.db import transaction

import realtime
from accounts.models import User
from casino.db import service_transaction
from casino.permissions import staff_permission_require
from casino.services import audit_record
from economy.enums import Currency, LedgerReason, VipTier
from economy.exceptions import AlreadyClaimed, InvalidVipTier
from economy.models import LedgerEntry, Wallet
from economy.services.ledger import user_id_of, wallet_get_or_open, wallet_grant
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


def vip_claim(*, user: User | int) -> VipClaimResult:
    """Today's VIP points for the player's tier, once per UTC day (key
    ``vip:{user}:{utc-date}``); a repeat is refused with ``already_claimed``
    carrying the first claim. An entry
    point: it owns the transaction."""
    user_id = user_id_of(user)
    today = utc_today()
    with service_transaction():
        tier = wallet_get_or_open(user_id=user_id).vip_tier
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
            realtime.emit("reward_granted", user_id, {"source": LedgerReason.VIP_DAILY.value, "amounts": ledger.deltas})
    result = _result(ledger.entries[0], tier, idempotent=not ledger.applied)
    if not ledger.applied:  # claimed earlier today: refuse, carrying the first claim
        raise AlreadyClaimed(
            "Today's VIP points are already claimed.",
            first_claim={
                "awarded_points": result.awarded_points,
                "new_vip_points": result.new_vip_points,
                "claimed_at": result.claimed_at.isoformat().replace("+00:00", "Z"),
                "vip_tier": result.vip_tier,
            },
        )
    return result


def _result(entry: LedgerEntry, tier: str, *, idempotent: bool) -> VipClaimResult:
    return VipClaimResult(
        awarded_points=entry.delta,
        new_vip_points=entry.balance_after,
        claimed_at=entry.created_at,
        vip_tier=str(entry.metadata.get("vip_tier", tier)),
        idempotent=idempotent,
    )


def vip_set_tier(*, actor: User | None, user: User | int, tier: str, reason: str) -> Wallet:
    """Staff change a player's VIP tier (audited; ``economy.set_vip_tier``,
    ``actor`` None: the system). An entry point: the admin action calls it
    once per wallet, each call its own transaction."""
    if actor is not None:
        staff_permission_require(actor=actor, permission="economy.set_vip_tier")
    if tier not in VipTier.values:
        raise InvalidVipTier(f"Unknown VIP tier {tier!r}.")
    user_id = user_id_of(user)
    with transaction.atomic(durable=True):
        wallet = Wallet.objects.select_for_update(of=("self",), no_key=True).get(pk=user_id)
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
