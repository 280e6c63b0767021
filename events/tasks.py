"""Celery entry points of events/: ids in, call a service, nothing else. Missions need no reset
task (a new period is a new row); beat prunes old mission instances and the record of counted
domain events once a day (``casino/beat.py``)."""

from celery import shared_task

from events import services

# --- missions: pruning old rows (beat, daily) ----------------------------------------------------


@shared_task(name="events.tasks.mission_instances_prune")
def mission_instances_prune() -> int:
    return services.mission_instances_prune()


@shared_task(name="events.tasks.counted_sources_prune")
def counted_sources_prune() -> int:
    return services.counted_sources_prune()
