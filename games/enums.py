"""TextChoices of games/: the games, round states, round results and gacha rarities."""

from __future__ import annotations

from django.db import models


class Game(models.TextChoices):
    SLOT = "slot", "Slots"
    CRASH = "crash", "Crash"
    RPS = "rps", "Rock-paper-scissors"
    GACHA = "gacha", "Gacha"


class RoundStatus(models.TextChoices):
    # A live crash round: the bet is taken, the player may still cash out.
    OPEN = "open", "Open"
    SETTLED = "settled", "Settled"


class RoundResult(models.TextChoices):
    """How a settled round ended for the player (the stats count these)."""

    WIN = "win", "Win"  # paid more than the bet
    LOSE = "lose", "Lose"  # paid less than the bet
    DRAW = "draw", "Draw"  # paid the bet back


class GachaRarity(models.TextChoices):
    """The rarities of a banner; a banner ranks its own (rank 0 = the top one)."""

    LEGENDARY = "legendary", "Legendary"
    EPIC = "epic", "Epic"
    RARE = "rare", "Rare"
    COMMON = "common", "Common"


class RpsChoice(models.TextChoices):
    ROCK = "rock", "Rock"
    PAPER = "paper", "Paper"
    SCISSORS = "scissors", "Scissors"
