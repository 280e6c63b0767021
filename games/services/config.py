"""Reading a game's configuration for a bet, and the checks every bet passes before anything
is written (design promise 4: a refused bet changes nothing).

The games' configurations and daily limits are kept per process (``casino.copies``: reloaded
when staff save one, in any process, or after a minute): a round reads neither table."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils import timezone

from accounts.exceptions import SelfExcluded
from accounts.models import User
from casino.copies import ProcessCopy
from casino.db import row_get
from games.defaults import GAME_CONFIGS
from games.exceptions import BetOutOfRange, GameDisabled
from games.models import GameConfig, GameDailyLimit


@dataclass(frozen=True)
class _GameSettings:
    configs: dict[str, GameConfig]
    daily_limits: dict[str, dict[str, int]]  # game -> VIP tier -> rounds (gacha: pulls) per UTC day


def _settings_load() -> _GameSettings:
    limits: dict[str, dict[str, int]] = {}
    for game, tier, limit in GameDailyLimit.objects.values_list("game", "vip_tier", "limit"):
        limits.setdefault(game, {})[tier] = limit
    return _GameSettings(configs={config.game: config for config in GameConfig.objects.all()}, daily_limits=limits)


# Watched in games/apps.py.
_settings = ProcessCopy("games.settings", _settings_load)


def game_daily_limits(game: str) -> dict[str, int]:
    """``game``'s daily limits by VIP tier (a tier without one has no limit). Shared: do not change it."""
    return _settings.get().daily_limits.get(game, {})


def game_config(game: str) -> GameConfig:
    """The game's configuration (created from the shipped defaults if a database lacks it).
    Shared: the caller must not change it."""
    config = _settings.get().configs.get(game) or row_get(GameConfig, pk=game)
    if config is None:
        config, _ = GameConfig.objects.get_or_create(
            game=game, defaults={**GAME_CONFIGS.get(game, {}), "updated_at": timezone.now()}
        )
    return config


def bet_check(*, user: User, config: GameConfig, amount: object) -> int:
    """The bet as an int, or the refusal: the game is off, the player excluded, the amount not a
    whole number within the game's limits (bools, floats, strings and negatives included)."""
    if not config.is_enabled:
        raise GameDisabled(game=config.game)
    if user.is_self_excluded and user.self_excluded_until is not None:
        raise SelfExcluded(self_excluded_until=user.self_excluded_until.isoformat().replace("+00:00", "Z"))
    if isinstance(amount, bool) or not isinstance(amount, int) or not config.min_bet <= amount <= config.max_bet:
        raise BetOutOfRange(min_bet=config.min_bet, max_bet=config.max_bet)
    return amount
