"""Refusals of games/: one class per error code, none with an effect (a refused bet changes
nothing: no round, no nonce used, no ledger entry). ``insufficient_funds`` is the economy's and
``self_excluded`` the accounts'; the games raise those classes."""

from __future__ import annotations

from rest_framework import status

from casino.errors import ApplicationError


class BetOutOfRange(ApplicationError):
    code = "bet_out_of_range"
    message = "The bet must be a whole number within the game's limits."
    status = status.HTTP_400_BAD_REQUEST


class InvalidChoice(ApplicationError):
    code = "invalid_choice"
    message = "That is not a valid choice for this game."
    status = status.HTTP_400_BAD_REQUEST


class GameDisabled(ApplicationError):
    code = "game_disabled"
    message = "This game is switched off for now."
    status = status.HTTP_403_FORBIDDEN


class DailyLimitReached(ApplicationError):
    code = "daily_limit_reached"
    message = "You have reached today's limit for this game; it resets at midnight UTC."
    status = status.HTTP_429_TOO_MANY_REQUESTS


class RoundNotFound(ApplicationError):
    code = "round_not_found"
    message = "No such round."
    status = status.HTTP_404_NOT_FOUND


class RoundInProgress(ApplicationError):
    """Rotating the seed would reveal the outcome of a round the player can still act on."""

    code = "round_in_progress"
    message = "Finish your open round before rotating the seed."
    status = status.HTTP_409_CONFLICT


class InvalidClientSeed(ApplicationError):
    code = "invalid_client_seed"
    message = "The client seed must be 1-64 letters, digits, '-' or '_'."
    status = status.HTTP_400_BAD_REQUEST
