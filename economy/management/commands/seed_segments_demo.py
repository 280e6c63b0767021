"""``manage.py seed_segments_demo``: a saved segment per RFM group ("Whales", "At-Risk", ...),
ready to preview and to target, and one computation so the demo players have their groups.
Idempotent: an existing segment of the same name is left as staff last saved it."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from economy.models import RfmGroup, Segment
from economy.services.segments import segments_compute

DESCRIPTIONS = {
    RfmGroup.WHALE: "Recent, frequent and big spenders: every RFM score at the top.",
    RfmGroup.HIGH_VALUE: "Good all-round players (mean RFM score at least 3).",
    RfmGroup.MEDIUM_VALUE: "Average players (mean RFM score at least 2).",
    RfmGroup.LOW_VALUE: "Seen lately but playing and spending little.",
    RfmGroup.AT_RISK: "Little activity and not seen for over a month: win them back.",
}


def demo_segment_name(group: RfmGroup) -> str:
    return f"RFM: {group.label}"


class Command(BaseCommand):
    help = "Create a saved segment per RFM group (idempotent) and compute every player's segment."

    def handle(self, *args: Any, **options: Any) -> None:
        now = timezone.now()
        created = 0
        with transaction.atomic():
            for group in RfmGroup:
                _, was_created = Segment.objects.get_or_create(
                    name=demo_segment_name(group),
                    defaults={
                        "description": DESCRIPTIONS[group],
                        "rfm_groups": [group.value],
                        "created_at": now,
                        "updated_at": now,
                    },
                )
                created += was_created
        self.stdout.write(f"Segments: {created} created, {len(RfmGroup) - created} already there.")
        run = segments_compute(say=self.stdout.write)
        self.stdout.write(f"Segment run #{run.pk}: {run.players} player(s).")
