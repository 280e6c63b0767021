"""Helpers for games/ tests that change what staff change, the way staff change it."""

from __future__ import annotations

from typing import Any

from games.models import GameConfig


def game_config_change(game: str, **fields: Any) -> GameConfig:
    """Change ``game``'s configuration as staff do (a save: the processes' copies follow it)."""
    config = GameConfig.objects.get(pk=game)
    for name, value in fields.items():
        setattr(config, name, value)
    config.save()
    return config
