"""URL patterns of games/'s API (mounted under /api/ in casino/urls.py, each at both slash forms)."""

from django.urls import URLPattern, URLResolver, path

from games.api import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("games/fairness", views.FairnessView.as_view(), name="games-fairness"),
    path("games/fairness/rotate", views.FairnessRotateView.as_view(), name="games-fairness-rotate"),
    path("games/fairness/client-seed", views.ClientSeedView.as_view(), name="games-client-seed"),
    path("games/rounds/<int:round_id>", views.RoundDetailView.as_view(), name="games-round"),
    # --- slots ---
    # --- crash ---
    # --- rps, history, stats ---
    # --- gacha, inventory ---
]
