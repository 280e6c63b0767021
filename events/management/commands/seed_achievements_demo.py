"""``manage.py seed_achievements_demo``: the demo's achievements.

A sensible starting set: a first slot spin, 100 rounds, a first big win (10x the bet or more), a
secret "Jackpot!" for ten big wins, five wins in a row in one game, a first purchase, a 7-day
streak and 10 logins. Some rewards include gacha items of the shipped *Casino Classics* banner
(games/defaults.py), which land in the player's inventory. Each is created through
``achievement_create`` as the seeded ``admin`` staff account, so it is validated against the
metric registry and audited like one staff made.

Idempotent: an achievement whose code exists is left as it is, whatever staff changed since.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from accounts.models import User
from events.models import Achievement
from events.services import achievement_create

STAFF_SITE_ID = "admin"
REASON = "demo achievements (seed_achievements_demo)"


def _achievement(
    code: str,
    title: str,
    description: str,
    metric: str,
    threshold: int,
    *,
    gold: int = 0,
    gems: int = 0,
    xp: int = 0,
    items: tuple[str, ...] = (),
    game: str = "",
    icon: str,
    hidden: bool = False,
) -> dict[str, Any]:
    return {
        "code": code,
        "title": title,
        "description": description,
        "metric": metric,
        "game": game,
        "threshold": threshold,
        "reward_gold": gold,
        "reward_gems": gems,
        "reward_xp": xp,
        "reward_items": list(items),
        "icon": icon,
        "is_hidden": hidden,
        "is_active": True,
    }


ACHIEVEMENTS: list[dict[str, Any]] = [
    _achievement("first-spin", "First spin", "Spin the slot machine once.", "rounds_played", 1, game="slot",
                 gold=100, xp=10, icon="slot"),
    _achievement("rounds-100", "Regular", "Play 100 rounds of any game.", "rounds_played", 100, gold=1000,
                 xp=100, icon="dice"),
    _achievement("first-big-win", "Big winner", "Win at least 10x your bet in one round.", "big_wins", 1,
                 gems=10, xp=50, icon="trophy"),
    _achievement("jackpot-hunter", "Jackpot!", "Land 10 big wins (10x the bet or more).", "big_wins", 10,
                 gems=100, xp=500, items=("golden-dragon",), icon="crown", hidden=True),
    _achievement("win-streak-5", "On fire", "Win 5 rounds of one game in a row.", "win_streak", 5, gold=2000,
                 gems=20, xp=200, icon="fire"),
    _achievement("first-purchase", "Supporter", "Buy anything in the shop.", "purchases", 1, gems=50, xp=100,
                 items=("lucky-seven-trophy",), icon="gift"),
    _achievement("streak-7", "Week of luck", "Reach a 7-day daily streak.", "streak_days", 7, gold=1500,
                 xp=150, items=("lucky-horseshoe",), icon="calendar"),
    _achievement("logins-10", "Familiar face", "Log in 10 times.", "logins", 10, gold=500, xp=50,
                 items=("four-leaf-clover",), icon="door"),
]  # fmt: skip


class Command(BaseCommand):
    help = "Create the demo's achievements (idempotent; existing codes are left as they are)."

    def handle(self, *args: Any, **options: Any) -> None:
        actor = User.objects.filter(site_id__iexact=STAFF_SITE_ID, is_superuser=True).first()
        if actor is None:
            raise CommandError("the demo achievements are created as the seeded staff account: run manage.py seed_demo")
        codes = [achievement["code"] for achievement in ACHIEVEMENTS]
        existing = set(Achievement.objects.filter(code__in=codes).values_list("code", flat=True))
        created = []
        for sort_order, achievement in enumerate(ACHIEVEMENTS):
            if achievement["code"] in existing:
                continue
            achievement_create(actor=actor, values={**achievement, "sort_order": sort_order * 10}, reason=REASON)
            created.append(achievement["code"])
        self.stdout.write(
            f"Achievements: {len(created)} created ({', '.join(created) or 'none'}), {len(existing)} already there."
        )
