"""The Celery app. Beat schedules live in the database (django-celery-beat);
``CELERY_BEAT_SCHEDULE`` in settings seeds them."""

import os
from typing import Any

from celery import Celery
from celery.signals import worker_process_init

from casino.gc_tuning import gc_freeze_startup

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "casino.settings")

app = Celery("casino")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def _freeze_startup(**kwargs: Any) -> None:
    """A pool process has loaded the tasks: full garbage collections skip what start-up
    created (casino.gc_tuning), as in the web workers and the realtime server."""
    gc_freeze_startup()
