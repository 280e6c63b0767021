from celery import shared_task

from casino import services
from casino.jobs import job_run


@shared_task(name="casino.tasks.idempotency_purge_expired")
def idempotency_purge_expired() -> int:
    return services.idempotency_purge_expired()


@shared_task(name="casino.tasks.admin_job_run", ignore_result=True)
def admin_job_run(job_id: int) -> str:
    """Run a back-office job (casino.jobs): its kind's runner, its progress and outcome recorded."""
    return job_run(job_id=job_id)
