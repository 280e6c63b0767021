"""Celery entry points of games/ (settling live crash rounds on the server clock, periodic stats
roll-ups): ids in, call a service, nothing else."""

from __future__ import annotations

from celery import shared_task

from casino.jobs import JobKind, JobOutcome, JobRun, register_job_kind
from games.services import crash as crash_services
from games.services.leaderboards import BOARD_GAMES, METRICS, PERIODS, leaderboard_rebuild, leaderboards_in_redis

# --- crash ---


@shared_task(name="games.tasks.crash_settle", ignore_result=True)
def crash_settle(round_id: int) -> bool:
    """Queued on commit of a live crash bet with ``eta`` = its crash time. Does nothing if it runs
    early (embedded mode runs tasks eagerly, at once) or the round is already over."""
    return crash_services.crash_settle(round_id=round_id)


@shared_task(name="games.tasks.crash_settle_due", ignore_result=True)
def crash_settle_due() -> int:
    """Every second (casino/beat.py): end every live crash round whose crash time has passed."""
    return crash_services.crash_settle_due()


# --- back-office job (casino.jobs): rebuild the leaderboards from the jobs page ---


def leaderboard_rebuild_job(run: JobRun) -> JobOutcome:
    """``manage.py rebuild_leaderboards`` as a job: one progress step per board."""
    if not leaderboards_in_redis():
        return JobOutcome(result={"boards": 0}, report="No Redis (embedded mode): the boards are read from the rounds.")
    run.set_total(len(PERIODS) * len(BOARD_GAMES) * len(METRICS))
    lines: list[str] = []

    def step(line: str) -> None:
        lines.append(line)
        run.progress(len(lines))

    built = leaderboard_rebuild(periods=PERIODS, progress=step)
    return JobOutcome(result={"boards": len(built)}, report=f"{len(built)} boards rebuilt:\n" + "\n".join(lines))


def register_admin_jobs() -> None:
    """From ``GamesConfig.ready()``: the leaderboard rebuild on the jobs page (``games.configure_game``)."""
    register_job_kind(
        JobKind(
            name="leaderboard_rebuild",
            label="Rebuild the leaderboards",
            permission="games.configure_game",
            run=leaderboard_rebuild_job,
            startable=True,
            description="Every weekly and all-time board recomputed from the settled rounds.",
        )
    )
