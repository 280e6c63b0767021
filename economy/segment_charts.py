"""The staff dashboard's "Segment sizes over time" chart (``casino.dashboard``): one series
per RFM group, each day's value the sizes of that day's last finished run."""

from __future__ import annotations

from datetime import UTC, date

from casino.dashboard import DashboardContext
from economy.models import RfmGroup, SegmentRun

VIEW_RUNS = "economy.view_segmentrun"


def dashboard_segment_sizes(context: DashboardContext) -> dict[str, dict[date, int]]:
    start, end = context.chart_range()
    series: dict[str, dict[date, int]] = {str(group.label): {} for group in RfmGroup}
    runs = (
        SegmentRun.objects.filter(finished_at__isnull=False, started_at__gte=start, started_at__lt=end)
        .order_by("started_at", "id")
        .values_list("started_at", "sizes")
    )
    for started_at, sizes in runs:  # oldest first: a day's last run is written last
        day = started_at.astimezone(UTC).date()
        for group in RfmGroup:
            series[str(group.label)][day] = int((sizes or {}).get(group.value, 0))
    return series


def register() -> None:
    from casino.dashboard import register_dashboard_chart

    # A past day's runs are over: its last run's sizes are final.
    register_dashboard_chart(
        "segment_sizes",
        "Segment sizes over time",
        dashboard_segment_sizes,
        order=60,
        permission=VIEW_RUNS,
        past_days_final=True,
    )
