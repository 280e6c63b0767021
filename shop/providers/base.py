"""What the order flow needs from a payment provider. Adding a provider means
adding an adapter that implements :class:`PaymentProvider` and registering it
in ``shop.providers.PROVIDERS``; the order flow does not change."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class PaymentState:
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REFUNDED = "refunded"
    CANCELED = "canceled"  # we canceled it before anyone paid (its order expired)


@dataclass(frozen=True)
class PaymentIntent:
    reference: str  # the provider's id for the payment
    checkout_url: str  # where the player pays


@dataclass(frozen=True)
class PaymentStatus:
    reference: str
    state: str  # a PaymentState value
    amount: int  # minor units
    currency: str  # ISO 4217
    merchant_reference: str = ""  # our receipt code, as the provider keeps it ("" if it does not say)


class PaymentProvider(Protocol):
    name: str

    def create_payment(self, *, merchant_reference: str, amount: int, currency: str, description: str) -> PaymentIntent:
        """Open a payment for an order; raises PaymentProviderError if unreachable."""

    def fetch_status(self, *, reference: str) -> PaymentStatus:
        """The payment's current state at the provider (used by settlement)."""

    def refund(self, *, reference: str, amount: int) -> PaymentStatus:
        """Refund ``amount`` of a succeeded payment."""

    def cancel(self, *, reference: str) -> PaymentStatus:
        """Cancel a payment nobody has paid yet (its order expired), so it can
        no longer be paid; idempotent. A payment paid meanwhile is left as it
        is: the answer's ``state`` then says ``succeeded``."""

    def webhook_secrets(self) -> list[str]:
        """Secrets that may sign this provider's webhooks (several during a rotation)."""
