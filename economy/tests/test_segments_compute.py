"""The nightly computation (economy.services.segments.segments_compute) from PostgreSQL and
everything that runs it: the command, the Celery task, beat's entry, the back-office job and
its permission; the segment sizes chart; the demo seed."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from celery.schedules import crontab
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.tests.factories import players_in_bulk
from accounts.tests.staff import staff_with
from casino.beat import beat_schedule
from casino.dashboard import DashboardContext, dashboard_build, dashboard_for
from casino.jobs import job_launch
from casino.models import AdminJob, AuditLog
from casino.permissions import StaffPermissionRequired
from economy.models import PlayerSegment, RfmGroup, Segment, SegmentRun
from economy.segment_charts import dashboard_segment_sizes
from economy.services import segments as segments_service
from economy.services.segments import segments_compute
from economy.tasks import SEGMENTS_JOB_KIND
from economy.tasks import segments_compute as segments_compute_task
from economy.tests.factories import player_with_wallet
from economy.tests.test_segments_sources import play

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 12, 15, 0, tzinfo=UTC)


def groups() -> dict[str, str]:
    return dict(PlayerSegment.objects.values_list("user__site_id", "rfm_group"))


def test_every_player_gets_one_row_staff_none_and_a_run_records_sizes_and_timings(settings: Any) -> None:
    settings.CLICKHOUSE_URL = ""
    busy = player_with_wallet(gold=1_000, site_id="busy")
    play(busy, NOW - timedelta(days=1), 10)
    player_with_wallet(site_id="idle")
    banned = player_with_wallet(gold=1_000, site_id="banned", is_active=False)
    play(banned, NOW - timedelta(days=40))
    player_with_wallet(site_id="staff", is_staff=True)

    run = segments_compute(now=NOW)

    assert groups() == {"busy": RfmGroup.HIGH_VALUE, "idle": RfmGroup.AT_RISK, "banned": RfmGroup.AT_RISK}
    assert PlayerSegment.objects.get(user=banned).recency_days == 40
    assert (run.source, run.window_days, run.players) == ("postgresql", 30, 3)
    assert run.sizes == {"whale": 0, "high_value": 1, "medium_value": 0, "low_value": 0, "at_risk": 2}
    assert run.started_at == NOW and run.finished_at is not None
    assert set(run.timings) == {"read_seconds", "score_seconds", "write_seconds", "total_seconds"}


def test_a_later_run_replaces_each_row_and_drops_players_made_staff(settings: Any) -> None:
    settings.CLICKHOUSE_URL = ""
    player = player_with_wallet(gold=1_000, site_id="player")
    promoted = player_with_wallet(site_id="promoted")
    play(player, NOW - timedelta(days=1), 10)
    segments_compute(now=NOW)
    promoted.is_staff = True
    promoted.save(update_fields=["is_staff"])

    # Forty days on, the player has gone quiet.
    segments_compute(now=NOW + timedelta(days=40))

    row = PlayerSegment.objects.get()
    assert (row.user_id, row.rfm_group, row.recency_days, row.frequency) == (player.pk, RfmGroup.AT_RISK, 40, 0)
    assert row.computed_at == NOW + timedelta(days=40)
    assert SegmentRun.objects.count() == 2


def test_the_rows_are_written_in_chunks_not_one_query_per_player(settings: Any, monkeypatch: Any) -> None:
    settings.CLICKHOUSE_URL = ""
    monkeypatch.setattr(segments_service, "WRITE_CHUNK", 100)
    players_in_bulk(450, prefix="chunk")

    with CaptureQueriesContext(connection) as queries:
        run = segments_compute(now=NOW)

    upserts = [q["sql"] for q in queries.captured_queries if "INSERT INTO economy_playersegment" in q["sql"]]
    assert run.players == PlayerSegment.objects.count() == 450
    assert len(upserts) == 5 and all("ON CONFLICT" in sql for sql in upserts)
    assert len(queries.captured_queries) < 25


def test_the_window_and_the_thresholds_are_settings(settings: Any) -> None:
    settings.CLICKHOUSE_URL = ""
    settings.SEGMENT_WINDOW_DAYS = 7
    settings.SEGMENT_FREQUENCY_MEDIUM = 3
    player = player_with_wallet(gold=1_000, site_id="player")
    play(player, NOW - timedelta(days=10), 5)  # before a 7-day window
    play(player, NOW - timedelta(days=2), 3)

    run = segments_compute(now=NOW)

    row = PlayerSegment.objects.get()
    assert (run.window_days, row.frequency, row.frequency_score) == (7, 3, 3)


# --- The command, the task, beat -------------------------------------------------------------


def test_the_command_prints_its_progress_and_the_sizes(settings: Any, monkeypatch: Any) -> None:
    settings.CLICKHOUSE_URL = ""
    monkeypatch.setattr(segments_service, "WRITE_CHUNK", 2)
    for n in range(3):
        player_with_wallet(site_id=f"p{n}")
    out = io.StringIO()

    call_command("compute_segments", "--source", "postgresql", stdout=out)

    text = out.getvalue()
    run = SegmentRun.objects.get()
    assert "Read the activity of the last 30 days from postgresql" in text
    assert "2/3 players written (66%)" in text and "3/3 players written (100%)" in text
    assert f"Segment run #{run.pk}: 3 player(s) scored from postgresql" in text
    assert "At-Risk 3" in text
    assert f"OK: segment run #{run.pk}, 3 player(s)." in text


def test_the_command_refuses_clickhouse_when_it_is_not_configured(settings: Any) -> None:
    settings.CLICKHOUSE_URL = ""

    with pytest.raises(CommandError, match="CLICKHOUSE_URL is not set"):
        call_command("compute_segments", "--source", "clickhouse", stdout=io.StringIO())

    assert not SegmentRun.objects.exists()


def test_the_nightly_task_computes_the_segments(settings: Any, eager_tasks: None) -> None:
    settings.CLICKHOUSE_URL = ""
    player_with_wallet(site_id="player")

    result = segments_compute_task.delay().get()

    run = SegmentRun.objects.get()
    assert result == {"run_id": run.pk, "source": "postgresql", "players": 1, "sizes": run.sizes}
    assert groups() == {"player": RfmGroup.AT_RISK}


def test_beat_runs_it_nightly_at_the_configured_hour() -> None:
    entry = beat_schedule(relay_via_beat=False, segments_hour=4)["economy-segments-nightly"]

    assert entry["task"] == "economy.tasks.segments_compute"
    assert entry["schedule"] == crontab(minute=0, hour=4)


# --- "Recompute now": a back-office job ------------------------------------------------------


def test_recompute_now_runs_as_an_audited_job_for_staff_who_may(
    settings: Any, eager_tasks: None, django_capture_on_commit_callbacks: Any
) -> None:
    settings.CLICKHOUSE_URL = ""
    player_with_wallet(site_id="player")
    client, operator = staff_with("economy.view_segmentrun", "economy.compute_segments")

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("admin:economy_segmentrun_recompute"))

    # The job ran once the request committed (a worker, or embedded mode's eager Celery).
    job, run = AdminJob.objects.get(), SegmentRun.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:casino_adminjob_change", args=[job.pk])
    assert (job.kind, job.status, job.created_by, job.result["run_id"]) == (SEGMENTS_JOB_KIND, "done", operator, run.pk)
    assert job.total == job.done == 1
    assert "Segment run #" in job.report
    audit = AuditLog.objects.get(action="job_launch")
    assert (audit.actor, audit.data["kind"]) == (operator, SEGMENTS_JOB_KIND)
    assert audit.reason == "started from the segment runs list"
    page = client.get(reverse("admin:economy_segmentrun_change", args=[run.pk])).content.decode()
    assert "At-Risk" in page


def test_staff_without_the_permission_are_not_offered_recompute_and_start_nothing() -> None:
    client, viewer = staff_with("economy.view_segmentrun")

    listing = client.get(reverse("admin:economy_segmentrun_changelist")).content.decode()
    refused = client.post(reverse("admin:economy_segmentrun_recompute"))
    with pytest.raises(StaffPermissionRequired):
        job_launch(actor=viewer, kind=SEGMENTS_JOB_KIND, reason="testing")

    assert "Recompute now" not in listing
    assert refused.status_code == 403
    assert not AdminJob.objects.exists() and not SegmentRun.objects.exists() and not AuditLog.objects.exists()


def test_the_segment_runs_list_offers_recompute_to_who_may_and_get_is_refused() -> None:
    client, _ = staff_with("economy.view_segmentrun", "economy.compute_segments")

    assert "Recompute now" in client.get(reverse("admin:economy_segmentrun_changelist")).content.decode()
    assert client.get(reverse("admin:economy_segmentrun_recompute")).status_code == 405


# --- The staff dashboard's chart -------------------------------------------------------------


def run_at(at: datetime, **sizes: int) -> SegmentRun:
    return SegmentRun.objects.create(
        started_at=at, finished_at=at + timedelta(seconds=3), source="postgresql", window_days=30, sizes=sizes
    )


def test_the_chart_has_one_series_per_group_from_each_days_last_run() -> None:
    run_at(NOW - timedelta(days=2, hours=3), whale=1, at_risk=10)
    run_at(NOW - timedelta(days=2, hours=1), whale=2, at_risk=9)  # that day's last run
    run_at(NOW - timedelta(hours=1), whale=3, at_risk=8)
    SegmentRun.objects.create(started_at=NOW, source="postgresql", window_days=30, sizes={"whale": 99})  # unfinished

    series = dashboard_segment_sizes(DashboardContext(now=NOW))

    day_before_yesterday, today = NOW.date() - timedelta(days=2), NOW.date()
    assert set(series) == {"Whale", "High-Value", "Medium-Value", "Low-Value", "At-Risk"}
    assert series["Whale"] == {day_before_yesterday: 2, today: 3}
    assert series["At-Risk"] == {day_before_yesterday: 9, today: 8}
    assert series["High-Value"] == {day_before_yesterday: 0, today: 0}


def test_the_chart_is_on_the_dashboard_of_staff_who_see_segment_runs() -> None:
    run_at(NOW - timedelta(hours=1), whale=3)
    _, reader = staff_with("economy.view_segmentrun")
    _, other = staff_with("games.view_gameround")

    with time_machine.travel(NOW, tick=False):
        chart = dashboard_build(now=NOW).chart("segment_sizes")
    whale = next(series for series in chart.series if series.label == "Whale")

    assert chart.title == "Segment sizes over time"
    assert whale.values[-1] == 3
    assert "segment_sizes" in {shown.key for shown in dashboard_for(reader).charts}
    assert "segment_sizes" not in {shown.key for shown in dashboard_for(other).charts}


# --- The demo seed ---------------------------------------------------------------------------


def test_the_demo_seed_saves_a_segment_per_group_once_and_computes(settings: Any) -> None:
    settings.CLICKHOUSE_URL = ""
    player_with_wallet(site_id="player")

    call_command("seed_segments_demo", stdout=io.StringIO())
    call_command("seed_segments_demo", stdout=io.StringIO())

    assert sorted(Segment.objects.values_list("name", flat=True)) == sorted(f"RFM: {group.label}" for group in RfmGroup)
    assert Segment.objects.get(name="RFM: Whale").rfm_groups == ["whale"]
    assert SegmentRun.objects.count() == 2
    assert groups() == {"player": RfmGroup.AT_RISK}


@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_both_finish_and_leave_one_row_per_player(settings: Any, parallel: Any) -> None:
    # The nightly run and a "Recompute now" may overlap: each upserts in player order, so the
    # second waits for the first's rows instead of deadlocking, and neither fails.
    settings.CLICKHOUSE_URL = ""
    players_in_bulk(300, prefix="race")

    results = parallel(2, lambda _: segments_compute(now=NOW))

    assert all(isinstance(result, SegmentRun) for result in results), results
    assert PlayerSegment.objects.count() == 300
    assert sorted(run.players for run in SegmentRun.objects.all()) == [300, 300]
