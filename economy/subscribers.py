"""How the economy reacts to other domains' events (registered in apps.ready)."""

from __future__ import annotations

from django.conf import settings

from economy.dashboard_cache import dashboard_invalidate_on_commit
from economy.enums import Currency, LedgerReason
from economy.services import wallet_grant, wallet_open
from realtime.registry import DomainEvent


def open_wallet_on_signup(event: DomainEvent) -> None:
    """Every new player gets a wallet and the sign-up bonus, in the sign-up transaction."""
    user_id = event.user_id
    if user_id is None:
        raise ValueError("user_signed_up carries the new player's id")
    wallet_open(user=user_id)
    if settings.SIGNUP_BONUS_GOLD > 0:
        wallet_grant(
            user=user_id,
            bundle={Currency.GOLD: settings.SIGNUP_BONUS_GOLD},
            reason=LedgerReason.SIGNUP_BONUS,
            idempotency_key=f"signup_bonus:{event.user_id}",
        )


def invalidate_dashboard(event: DomainEvent) -> None:
    """Any change a player sees on the home screen drops its cached copy, on commit: once per
    player and transaction, however many of its events they see (a spin emits a dozen)."""
    if event.user_id is not None:
        dashboard_invalidate_on_commit(event.user_id)
