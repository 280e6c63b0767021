"""``manage.py seed_events_demo``: the demo live events.

- **Model Index Challenge**: the earlier product's "model index" event (its ``seed/model-index``
  endpoint). Rewards 5,000 gold and 1,000 XP; 14 days; priority 50. The earlier event asked for
  1,000 ``model_index_points``, a number the client reported itself; here the points are the gold
  a player bets (metric ``amount_bet``, counted by the server from settled rounds), so the
  requirement is ``amount_bet ≥ 1,000``.
- **Weekend Spin Marathon**: 50 rounds of any game in 7 days, 2,500 gold and 20 gems.
- **Crash Course**: 3 rounds won at crash in 7 days, 1,500 gold and 500 XP.

Everything goes through ``events.services.event_save`` as the seeded ``admin`` (audited like an
event staff created). Idempotent: an event whose title exists already is left as it is, whatever
staff changed since. ``seed_demo`` (in accounts, which may not import events) calls this command by
name after it has created the staff account.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.models import User
from events.enums import EventType
from events.models import Event
from events.services import RequirementSpec, event_save

STAFF_SITE_ID = "admin"
REASON = "demo events (seed_events_demo)"


@dataclass(frozen=True)
class DemoEvent:
    title: str
    description: str
    event_type: str
    days: int
    priority: int
    requirements: tuple[RequirementSpec, ...]
    reward_gold: int = 0
    reward_gems: int = 0
    reward_xp: int = 0


DEMO_EVENTS = (
    DemoEvent(
        title="Model Index Challenge",
        description="Bet 1,000 gold in any game within 14 days: your model index points are the gold you bet.",
        event_type=EventType.CHALLENGE,
        days=14,
        priority=50,
        requirements=(RequirementSpec("amount_bet", "", 1000),),
        reward_gold=5000,
        reward_xp=1000,
    ),
    DemoEvent(
        title="Weekend Spin Marathon",
        description="Play 50 rounds of any game this week.",
        event_type=EventType.SPECIAL,
        days=7,
        priority=30,
        requirements=(RequirementSpec("rounds_played", "", 50),),
        reward_gold=2500,
        reward_gems=20,
    ),
    DemoEvent(
        title="Crash Course",
        description="Win 3 rounds of crash this week.",
        event_type=EventType.TOURNAMENT,
        days=7,
        priority=20,
        requirements=(RequirementSpec("rounds_won", "crash", 3),),
        reward_gold=1500,
        reward_xp=500,
    ),
)


class Command(BaseCommand):
    help = "Create the demo live events (idempotent), starting now: the Model Index Challenge and two more."

    def handle(self, *args: Any, **options: Any) -> None:
        actor = User.objects.filter(site_id__iexact=STAFF_SITE_ID, is_superuser=True).first()
        if actor is None:
            raise CommandError("the demo events are created as the seeded staff account: run manage.py seed_demo")
        now = timezone.now()
        created = []
        for demo in DEMO_EVENTS:
            if Event.objects.filter(title=demo.title).exists():
                continue
            event = Event(
                title=demo.title,
                description=demo.description,
                event_type=demo.event_type,
                starts_at=now,
                ends_at=now + timedelta(days=demo.days),
                priority=demo.priority,
                reward_gold=demo.reward_gold,
                reward_gems=demo.reward_gems,
                reward_xp=demo.reward_xp,
            )
            event_save(actor=actor, event=event, requirements=list(demo.requirements), reason=REASON)
            created.append(demo.title)
        self.stdout.write(
            f"demo events: {len(created)} created ({', '.join(created) or 'all existed'}), "
            f"{len(DEMO_EVENTS) - len(created)} left as they were"
        )
