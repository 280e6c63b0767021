"""VIP tiers and their daily points: the one table."""

from __future__ import annotations

from dataclasses import dataclass

from economy.enums import VipTier


@dataclass(frozen=True)
class VipTierRule:
    order: int  # compare tiers by order, never by name
    daily_points: int


VIP_TIERS: dict[str, VipTierRule] = {
    VipTier.STANDARD: VipTierRule(order=1, daily_points=50),
    VipTier.PREMIUM: VipTierRule(order=2, daily_points=100),
    VipTier.VIP: VipTierRule(order=3, daily_points=200),
}


def tier_at_least(tier: str, minimum: str) -> bool:
    return VIP_TIERS[tier].order >= VIP_TIERS[minimum].order
