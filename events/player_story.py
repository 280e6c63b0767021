"""Live operations' sections of the player's page (``accounts.admin_story``):
the events the player joined, the missions they claimed and the achievements
they unlocked."""

from __future__ import annotations

from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from accounts.admin_story import Figure, PlayerSection, register_player_section
from accounts.models import User
from casino.admin_tools import request_holds
from events.models import AchievementProgress, EventParticipation, MissionProgress

SHOWN_ROWS = 5


def _when(moment: object) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M") if moment else "-"  # type: ignore[arg-type]


def events_section(user: User, request: HttpRequest) -> PlayerSection:
    """Two queries: the latest participations (with their event), the counts."""
    joined = list(
        EventParticipation.objects.filter(user=user).select_related("event").order_by("-joined_at", "-id")[:SHOWN_ROWS]
    )
    counts = (
        EventParticipation.objects.filter(user=user).aggregate(
            joined=Count("id"),
            completed=Count("id", filter=Q(completed_at__isnull=False)),
            claimed=Count("id", filter=Q(claimed_at__isnull=False)),
        )
        if joined
        else {"joined": 0, "completed": 0, "claimed": 0}
    )
    rows = [(p.event.title, _when(p.joined_at), _when(p.completed_at), _when(p.claimed_at)) for p in joined]
    return PlayerSection(
        figures=(
            Figure("Events joined", counts["joined"]),
            Figure("Completed", counts["completed"]),
            Figure("Rewards claimed", counts["claimed"]),
        ),
        columns=("Event", "Joined", "Completed", "Claimed"),
        rows=tuple(rows),
        see_all_url=reverse("admin:events_eventparticipation_changelist") + f"?user__id__exact={user.pk}",
        see_all_label="All participations",
        empty="Joined no event yet.",
    )


def _count_of(rows: QuerySet[MissionProgress] | QuerySet[AchievementProgress]) -> Coalesce:
    """A scalar subquery counting ``rows`` of the outer user."""
    counted = rows.filter(user=OuterRef("pk")).order_by().values("user").annotate(n=Count("id")).values("n")[:1]
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def progress_section(user: User, request: HttpRequest) -> PlayerSection:
    """Two queries: both counts in one, the latest unlocked achievements."""
    counts = (
        User.objects.filter(pk=user.pk)
        .values(
            missions=_count_of(MissionProgress.objects.filter(claimed_at__isnull=False)),
            achievements=_count_of(AchievementProgress.objects.filter(unlocked_at__isnull=False)),
        )
        .get()
    )
    unlocked = list(
        AchievementProgress.objects.filter(user=user, unlocked_at__isnull=False)
        .select_related("achievement")
        .order_by("-unlocked_at", "-id")[:SHOWN_ROWS]
    )
    figures = [Figure("Achievements unlocked", counts["achievements"])]
    if request_holds(request, "events.view_missionprogress"):
        missions_url = reverse("admin:events_missionprogress_changelist") + f"?user__id__exact={user.pk}"
        figures.append(Figure("Missions claimed", counts["missions"], url=missions_url))
    return PlayerSection(
        figures=tuple(figures),
        columns=("Achievement", "Unlocked"),
        rows=tuple((progress.achievement.title, _when(progress.unlocked_at)) for progress in unlocked),
        see_all_url=reverse("admin:events_achievementprogress_changelist") + f"?user__id__exact={user.pk}",
        see_all_label="All achievement progress",
        empty="No achievement unlocked yet.",
    )


def register() -> None:
    """Called by ``EventsConfig.ready``."""
    register_player_section(
        "events", "Live events", order=75, provider=events_section, permission="events.view_eventparticipation"
    )
    register_player_section(
        "progress",
        "Missions and achievements",
        order=78,
        provider=progress_section,
        permission="events.view_achievementprogress",
    )
