from django.urls import path

from accounts.api import views

urlpatterns = [
    path("auth/signup", views.SignupView.as_view(), name="auth-signup"),
    path("auth/login", views.LoginView.as_view(), name="auth-login"),
    path("auth/refresh", views.RefreshView.as_view(), name="auth-refresh"),
    path("auth/logout", views.LogoutView.as_view(), name="auth-logout"),
    path("auth/logout-all", views.LogoutAllView.as_view(), name="auth-logout-all"),
    path("auth/me", views.MeView.as_view(), name="auth-me"),
    path("auth/profile", views.ProfileAliasView.as_view(), name="auth-profile"),
    path("auth/responsible-gaming", views.ResponsibleGamingView.as_view(), name="auth-responsible-gaming"),
    path("auth/responsible-gaming/spend-limit", views.SpendLimitView.as_view(), name="auth-spend-limit"),
    path("auth/responsible-gaming/self-exclusion", views.SelfExclusionView.as_view(), name="auth-self-exclusion"),
    path("invite/validate", views.InviteValidateView.as_view(), name="invite-validate"),
]
