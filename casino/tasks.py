from celery import shared_task

from casino import services


@shared_task(name="casino.tasks.idempotency_purge_expired")
def idempotency_purge_expired() -> int:
    return services.idempotency_purge_expired()
