"""Every scheduled beat entry names a task the worker really has."""

from __future__ import annotations

from django.conf import settings

from casino.celery import app


def test_every_beat_schedule_entry_is_a_registered_task() -> None:
    app.loader.import_default_modules()

    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}

    assert "realtime.tasks.outbox_relay" in scheduled  # the relay pass, every second
    assert scheduled <= set(app.tasks), scheduled - set(app.tasks)


def test_beat_keeps_its_schedule_in_the_database() -> None:
    assert settings.CELERY_BEAT_SCHEDULER == "django_celery_beat.schedulers:DatabaseScheduler"
