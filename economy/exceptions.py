"""The economy's refusals: one class per error code."""

from __future__ import annotations

from rest_framework import status

from casino.errors import ApplicationError

# One class per error code: the same key used for another operation is the
# platform's ``idempotency_key_reused`` whether the key came in a header or was
# derived by a service. The old name stays for the callers that catch it.
from casino.idempotency import IdempotencyKeyReused as IdempotencyConflict

__all__ = [
    "AlreadyClaimed",
    "CampaignInvalid",
    "CampaignNotCancellable",
    "CampaignNotSchedulable",
    "CampaignNothingToSend",
    "CampaignTooLarge",
    "CampaignWithoutPlayers",
    "IdempotencyConflict",
    "InsufficientFunds",
    "InvalidBundle",
    "InvalidVipTier",
    "ReasonRequired",
    "WalletMissing",
]

# What a ledger key reused for another operation says (the platform class's
# default message speaks of a request, which a derived key is not).
LEDGER_KEY_REUSED_MESSAGE = "This idempotency key was already used for a different operation."


class AlreadyClaimed(ApplicationError):
    """A once-per-day reward asked for again with a new request (design promise 2):
    409, carrying the first grant's answer. The web client matches the words
    "already claimed" in the message. A retry of the first request (same
    Idempotency-Key) replays the first 200 instead."""

    code = "already_claimed"
    message = "Today's reward is already claimed."
    status = status.HTTP_409_CONFLICT


class InsufficientFunds(ApplicationError):
    code = "insufficient_funds"
    message = "Not enough balance for this."
    status = status.HTTP_409_CONFLICT


class InvalidBundle(ApplicationError):
    code = "invalid_amount"
    message = "Amounts must be positive whole numbers of known currencies."
    status = status.HTTP_400_BAD_REQUEST


class InvalidVipTier(ApplicationError):
    code = "invalid_vip_tier"
    message = "Unknown VIP tier."
    status = status.HTTP_400_BAD_REQUEST


class ReasonRequired(ApplicationError):
    """A staff change must say why (it goes into the audit log)."""

    code = "reason_required"
    message = "Give a reason: it is kept in the audit log."
    status = status.HTTP_400_BAD_REQUEST


class WalletMissing(ApplicationError):
    code = "wallet_missing"
    message = "This player has no wallet."
    status = status.HTTP_404_NOT_FOUND


class CampaignWithoutPlayers(ApplicationError):
    """A campaign names no player (none selected, or every uploaded id unknown)."""

    code = "campaign_without_players"
    message = "A campaign needs at least one player."
    status = status.HTTP_400_BAD_REQUEST


class CampaignTooLarge(ApplicationError):
    """More players than one campaign's list takes (split the list)."""

    code = "campaign_too_large"
    message = "Too many players for one campaign: split the list."
    status = status.HTTP_400_BAD_REQUEST


class CampaignNothingToSend(ApplicationError):
    """A campaign with neither a channel nor a reward would reach nobody with anything."""

    code = "campaign_nothing_to_send"
    message = "Choose a channel (in-app, push, email) or a reward."
    status = status.HTTP_400_BAD_REQUEST


class CampaignInvalid(ApplicationError):
    """A campaign missing what its choices need (a message for its channels, a segment for a
    segment target, in-app for web push); ``field`` names the part."""

    code = "campaign_invalid"
    message = "This campaign is incomplete."
    status = status.HTTP_400_BAD_REQUEST


class CampaignNotCancellable(ApplicationError):
    """Only a draft or scheduled campaign can be cancelled: once sending, players have it."""

    code = "campaign_not_cancellable"
    message = "Only a draft or scheduled campaign can be cancelled."
    status = status.HTTP_409_CONFLICT


class CampaignNotSchedulable(ApplicationError):
    """Only a draft or scheduled campaign can be (re)scheduled."""

    code = "campaign_not_schedulable"
    message = "Only a draft or scheduled campaign can be scheduled."
    status = status.HTTP_409_CONFLICT
