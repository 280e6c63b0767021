from __future__ import annotations

from rest_framework import status

from casino.errors import ApplicationError


class InsufficientFunds(ApplicationError):
    code = "insufficient_funds"
    message = "Not enough balance for this."
    status = status.HTTP_409_CONFLICT


class IdempotencyConflict(ApplicationError):
    """The same idempotency key was used for a different operation."""

    code = "idempotency_key_reused"
    message = "This idempotency key was already used for a different operation."
    status = status.HTTP_409_CONFLICT


class InvalidBundle(ApplicationError):
    code = "invalid_amount"
    message = "Amounts must be positive whole numbers of known currencies."
    status = status.HTTP_400_BAD_REQUEST


class WalletMissing(ApplicationError):
    code = "wallet_missing"
    message = "This player has no wallet."
    status = status.HTTP_404_NOT_FOUND
