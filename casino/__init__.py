"""Casino Club project package: settings, URLs, ASGI/WSGI, Celery and the
plumbing that belongs to no domain (errors, idempotency, audit log, health)."""

from casino.celery import app as celery_app

__all__ = ["celery_app"]
