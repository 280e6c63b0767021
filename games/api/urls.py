"""URL patterns of games/'s API (mounted under /api/ in casino/urls.py, each at both slash forms)."""

from django.urls import URLPattern, URLResolver, path

from games.api import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("games/fairness", views.FairnessView.as_view(), name="games-fairness"),
    path("games/fairness/rotate", views.FairnessRotateView.as_view(), name="games-fairness-rotate"),
    path("games/fairness/client-seed", views.ClientSeedView.as_view(), name="games-client-seed"),
    path("games/rounds/<int:round_id>", views.RoundDetailView.as_view(), name="games-round"),
    # --- slots ---
    path("games/slot/spin", views.SlotSpinView.as_view(), name="games-slot-spin"),
    path("games/slot/config", views.SlotConfigView.as_view(), name="games-slot-config"),
    # --- crash ---
    path("games/crash/bet", views.CrashBetView.as_view(), name="games-crash-bet"),
    path("games/crash/cashout", views.CrashCashoutView.as_view(), name="games-crash-cashout"),
    path("games/crash/<int:game_id>", views.CrashRoundView.as_view(), name="games-crash-round"),
    # --- rps, history, stats ---
    path("games/rps/play", views.RpsPlayView.as_view(), name="games-rps-play"),
    path("games/history", views.GameHistoryView.as_view(), name="games-history"),
    path("games/stats/me", views.GameStatsMeView.as_view(), name="games-stats-me"),
    # --- gacha, inventory ---
    path("games/gacha/config", views.GachaConfigView.as_view(), name="games-gacha-config"),
    path("games/gacha/pull", views.GachaPullView.as_view(), name="games-gacha-pull"),
    path("games/inventory", views.InventoryView.as_view(), name="games-inventory"),
    # --- leaderboards ---
    path("games/leaderboard", views.LeaderboardView.as_view(), name="games-leaderboard"),
]
