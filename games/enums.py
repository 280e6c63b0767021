"""TextChoices of games/: game kinds, round states, gacha rarities. Empty until the games issue
fills it."""
