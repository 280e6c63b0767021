"""URL patterns of events/'s API (mounted under /api/ in casino/urls.py, each at both slash forms)."""

from django.urls import URLPattern, URLResolver, path

from events.api import views

urlpatterns: list[URLPattern | URLResolver] = [
    # --- missions (before the events' /events/<id> routes) ---
    path("events/missions/daily", views.DailyMissionsView.as_view(), name="missions-daily"),
    path("events/missions/weekly", views.WeeklyMissionsView.as_view(), name="missions-weekly"),
    path("events/missions/all", views.AllMissionsView.as_view(), name="missions-all"),
    path("events/missions/claim/<int:mission_id>", views.MissionClaimView.as_view(), name="missions-claim"),
    path("events/missions/progress", views.MissionProgressView.as_view(), name="missions-progress"),
    # --- events ---
    path("events", views.EventListView.as_view(), name="events-list"),
    path("events/active", views.EventActiveListView.as_view(), name="events-active"),
    path("events/join", views.EventJoinView.as_view(), name="events-join"),
    path("events/claim/<int:event_id>", views.EventClaimView.as_view(), name="events-claim"),
    path("events/progress/<str:event_id>", views.EventProgressView.as_view(), name="events-progress"),
    path("events/<int:event_id>", views.EventDetailView.as_view(), name="events-detail"),
    path("public/events", views.PublicEventsView.as_view(), name="public-events"),
    # --- achievements (served by events/: the metric registry and the progress engine live here) ---
    path("games/achievements", views.AchievementCatalogueView.as_view(), name="achievements-list"),
    path("games/achievements/my", views.MyAchievementsView.as_view(), name="achievements-my"),
]
