"""``manage.py seed_missions_demo``: the demo's daily and weekly missions.

A sensible starting set for a new product: daily missions a player finishes in one session (play
10 rounds, bet 1,000 gold, win 3 rounds, spin the slots 5 times, claim the daily streak) and
weekly ones that take a few sessions (100 rounds, 25,000 gold bet, a big win, three wins in a
row, a crash run, a purchase). Each is created through ``mission_template_create`` as the seeded
``admin`` staff account, so it is validated against the metric registry and audited like one
staff made.

Idempotent: a template whose code exists is left as it is, whatever staff changed since.
``seed_demo`` (in accounts, which may not import events) calls this command by name.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from accounts.models import User
from events.models import MissionTemplate
from events.services import mission_template_create

STAFF_SITE_ID = "admin"
REASON = "demo missions (seed_missions_demo)"


def _mission(
    code: str,
    title: str,
    description: str,
    metric: str,
    target: int,
    *,
    gold: int = 0,
    gems: int = 0,
    xp: int = 0,
    game: str = "",
    category: str,
    icon: str,
) -> dict[str, Any]:
    return {
        "code": code,
        "title": title,
        "description": description,
        "period": code.split("-", 1)[0],  # daily-… / weekly-…
        "metric": metric,
        "game": game,
        "target": target,
        "reward_gold": gold,
        "reward_gems": gems,
        "reward_xp": xp,
        "category": category,
        "icon": icon,
        "is_active": True,
    }


MISSIONS: list[dict[str, Any]] = [
    _mission("daily-play-10", "Warm up", "Play 10 rounds of any game.", "rounds_played", 10, gold=200, xp=20,
             category="play", icon="dice"),
    _mission("daily-bet-1000", "High roller", "Bet 1,000 gold in total.", "amount_bet", 1000, gold=150, xp=15,
             category="play", icon="coins"),
    _mission("daily-win-3", "Lucky day", "Win 3 rounds.", "rounds_won", 3, gold=250, xp=25,
             category="win", icon="clover"),
    _mission("daily-slots-5", "Spin to win", "Spin the slots 5 times.", "rounds_played", 5, game="slot", gold=100,
             xp=10, category="play", icon="slot"),
    _mission("daily-streak", "Show up", "Claim today's daily reward.", "streak_days", 1, gold=50, xp=10,
             category="loyalty", icon="calendar"),
    _mission("weekly-play-100", "Regular", "Play 100 rounds this week.", "rounds_played", 100, gold=1500, xp=150,
             category="play", icon="dice"),
    _mission("weekly-bet-25000", "Big spender", "Bet 25,000 gold this week.", "amount_bet", 25000, gold=2000,
             xp=200, category="play", icon="coins"),
    _mission("weekly-big-win", "Jackpot hunter", "Win at least 10x your bet once this week.", "big_wins", 1,
             gems=10, xp=100, category="win", icon="trophy"),
    _mission("weekly-win-streak-3", "Hot streak", "Win 3 rounds of one game in a row.", "win_streak", 3, gold=500,
             gems=5, xp=50, category="win", icon="fire"),
    _mission("weekly-crash-20", "Rocket rider", "Play 20 crash rounds this week.", "rounds_played", 20,
             game="crash", gold=800, xp=80, category="play", icon="rocket"),
    _mission("weekly-purchase", "Supporter", "Buy anything in the shop this week.", "purchases", 1, gems=20, xp=50,
             category="shop", icon="gift"),
]  # fmt: skip


class Command(BaseCommand):
    help = "Create the demo's daily and weekly missions (idempotent; existing codes are left as they are)."

    def handle(self, *args: Any, **options: Any) -> None:
        actor = User.objects.filter(site_id__iexact=STAFF_SITE_ID, is_superuser=True).first()
        if actor is None:
            raise CommandError("the demo missions are created as the seeded staff account: run manage.py seed_demo")
        codes = [mission["code"] for mission in MISSIONS]
        existing = set(MissionTemplate.objects.filter(code__in=codes).values_list("code", flat=True))
        created = []
        for sort_order, mission in enumerate(MISSIONS):
            if mission["code"] in existing:
                continue
            mission_template_create(actor=actor, values={**mission, "sort_order": sort_order * 10}, reason=REASON)
            created.append(mission["code"])
        self.stdout.write(
            f"Missions: {len(created)} created ({', '.join(created) or 'none'}), {len(existing)} already there."
        )
