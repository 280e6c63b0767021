"""``manage.py seed_games_demo``: make sure the games' shipped configuration is installed (game
switches and limits, the slot tables, the default gacha banner — what migration 0002 installs;
a database whose rows were removed gets them back, nothing staff changed is overwritten) and
print what players will find. Run by ``seed_demo``; idempotent."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand

from games import defaults
from games.models import GachaBanner, GameConfig
from games.services.slots import slot_table_current


class Command(BaseCommand):
    help = "Install the games' shipped configuration where it is missing and print a summary."

    def handle(self, *args: Any, **options: Any) -> None:
        defaults.install(apps)
        for config in GameConfig.objects.order_by("game"):
            state = "on" if config.is_enabled else "off"
            limits = f"bets {config.min_bet}-{config.max_bet} {config.currency}"
            self.stdout.write(f"Game {config.game}: {state}, {limits}")
        version = slot_table_current()
        self.stdout.write(
            f"Slots: table v{version.pk}, RTP {version.rtp * 100:.2f}%, "
            f"hit frequency {version.hit_frequency * 100:.1f}%"
        )
        for banner in GachaBanner.objects.filter(is_active=True):
            self.stdout.write(
                f"Gacha banner {banner.code}: {banner.cost_single}/{banner.cost_ten} {banner.currency}, "
                f"pity {banner.pity_threshold}"
            )
