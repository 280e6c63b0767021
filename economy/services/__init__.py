"""Economy writes. Import from here: ``from economy.services import wallet_grant``."""

from economy.services.admin_ops import wallet_adjust
from economy.services.audit import ledger_audit_run
from economy.services.clawback import ClawBackResult, wallet_claw_back
from economy.services.grants import reward_bundle_grant
from economy.services.ledger import (
    LedgerResult,
    wallet_and_owner_lock,
    wallet_balances,
    wallet_exchange,
    wallet_get_or_open,
    wallet_grant,
    wallet_lock_after,
    wallet_open,
    wallet_spend,
)
from economy.services.streak import StreakClaimResult, streak_claim, streak_repair, streak_tick
from economy.services.vip import VipClaimResult, vip_claim, vip_set_tier

__all__ = [
    "ClawBackResult",
    "LedgerResult",
    "StreakClaimResult",
    "VipClaimResult",
    "ledger_audit_run",
    "reward_bundle_grant",
    "streak_claim",
    "streak_repair",
    "streak_tick",
    "vip_claim",
    "vip_set_tier",
    "wallet_adjust",
    "wallet_and_owner_lock",
    "wallet_balances",
    "wallet_claw_back",
    "wallet_exchange",
    "wallet_get_or_open",
    "wallet_grant",
    "wallet_lock_after",
    "wallet_open",
    "wallet_spend",
]
