from django.db import models


class Currency(models.TextChoices):
    """Everything a wallet holds. XP and VIP points move through the ledger too."""

    GOLD = "gold", "Gold"
    GEMS = "gems", "Gems"
    XP = "xp", "Experience"
    VIP_POINTS = "vip_points", "VIP points"


class LedgerReason(models.TextChoices):
    SIGNUP_BONUS = "signup_bonus", "Sign-up bonus"
    STREAK_DAILY = "streak_daily", "Daily streak reward"
    VIP_DAILY = "vip_daily", "VIP daily points"
    PURCHASE = "purchase", "Purchase"
    PURCHASE_REFUND = "purchase_refund", "Purchase refund"
    DEBT_REPAYMENT = "debt_repayment", "Debt repayment"
    GAME_BET = "game_bet", "Game bet"
    GAME_WIN = "game_win", "Game win"
    EVENT_REWARD = "event_reward", "Event reward"
    MISSION_REWARD = "mission_reward", "Mission reward"
    ACHIEVEMENT = "achievement", "Achievement"
    ADMIN_ADJUST = "admin_adjust", "Staff adjustment"
    CAMPAIGN_REWARD = "campaign_reward", "Reward campaign"


class VipTier(models.TextChoices):
    STANDARD = "STANDARD", "Standard"
    PREMIUM = "PREMIUM", "Premium"
    VIP = "VIP", "VIP"


class StreakDayKind(models.TextChoices):
    CHECKIN = "checkin", "Check-in"
    PROTECTED = "protected", "Missed, saved by a protection token"
