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


class InvalidGameConfig(ApplicationError):
    """A back-office change no game may run with (``fields``: what is wrong with which value)."""

    code = "invalid_game_config"
    message = "That game configuration is not valid."
    status = status.HTTP_400_BAD_REQUEST


# --- gacha, inventory ---


class BannerNotFound(ApplicationError):
    """No active gacha banner with that code (or none at all); carries ``banner``."""

    code = "banner_not_found"
    message = "No such gacha banner is open."
    status = status.HTTP_404_NOT_FOUND


# --- crash ---


class InvalidAutoCashout(ApplicationError):
    """A crash auto cash-out target that is not 1.01 ... 1000.00 with at most two decimals;
    carries ``min_multiplier`` and ``max_multiplier``."""

    code = "invalid_auto_cashout"
    message = "The auto cash-out multiplier must be between 1.01 and 1000.00, with at most two decimals."
    status = status.HTTP_400_BAD_REQUEST


class InvalidSlotTable(ApplicationError):
    """Staff asked for slot tables that cannot be published; ``problems`` lists what is wrong."""

    code = "invalid_slot_table"
    message = "These slot tables cannot be published."
    status = status.HTTP_400_BAD_REQUEST


class SlotTableUnavailable(ApplicationError):
    """The slot tables in the database describe no playable machine (a reel without stops or no
    pay rule); spins are refused until staff publish a valid table."""

    code = "slot_table_unavailable"
    message = "The slot machine is being serviced; try again later."
    status = status.HTTP_503_SERVICE_UNAVAILABLE
