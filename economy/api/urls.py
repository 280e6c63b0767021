from django.urls import path

from economy.api import views

urlpatterns = [
    path("users/balance", views.BalanceView.as_view(), name="users-balance"),
    path("actions/recent/<str:user_id>", views.RecentActionsView.as_view(), name="actions-recent"),
    path("wallet/ledger", views.LedgerView.as_view(), name="wallet-ledger"),
    path("streak/status", views.StreakStatusView.as_view(), name="streak-status"),
    path("streak/preview", views.StreakPreviewView.as_view(), name="streak-preview"),
    path("streak/tick", views.StreakTickView.as_view(), name="streak-tick"),
    path("streak/claim", views.StreakClaimView.as_view(), name="streak-claim"),
    path("streak/history", views.StreakHistoryView.as_view(), name="streak-history"),
    path("vip/status", views.VipStatusView.as_view(), name="vip-status"),
    path("vip/claim", views.VipClaimView.as_view(), name="vip-claim"),
    path("dashboard", views.DashboardView.as_view(), name="dashboard"),
]
