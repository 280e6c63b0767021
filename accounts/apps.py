from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from django.contrib import admin

        from accounts import schema  # noqa: F401  (registers the OpenAPI authentication scheme)
        from accounts.admin_login import LockoutAdminAuthenticationForm
        from accounts.auth_cache import connect_signals
        from accounts.authentication import socket_user_from_access_token
        from accounts.selectors import user_profile, users_online_count
        from realtime.registry import (
            register_initial_state,
            register_online_players_source,
            register_socket_authenticator,
        )

        # Every write to a user moves their generation: access-token authentication's cache.
        connect_signals()

        register_initial_state("profile", user_profile)
        register_socket_authenticator(socket_user_from_access_token)
        register_online_players_source(users_online_count)
        # /admin/login/ shares the API login's lockout (accounts.admin_login).
        admin.site.login_form = LockoutAdminAuthenticationForm

        # The staff dashboard's players cards and charts (casino.dashboard).
        from accounts import staff_dashboard
        from casino.dashboard import register_dashboard_chart, register_dashboard_figure

        for key, title, provider, order in (
            ("players_online", "Players online", staff_dashboard.dashboard_online, 10),
            ("dau", "Daily active (DAU)", staff_dashboard.dashboard_daily_active, 20),
            ("wau", "Weekly active (WAU)", staff_dashboard.dashboard_weekly_active, 21),
            ("mau", "Monthly active (MAU)", staff_dashboard.dashboard_monthly_active, 22),
            ("new_players_today", "New players today", staff_dashboard.dashboard_new_today, 30),
        ):
            register_dashboard_figure(
                key, title, provider, order=order, group="Players", permission="accounts.view_user"
            )
        for key, title, series, order in (
            ("signups", "Sign-ups", staff_dashboard.dashboard_signups_per_day, 10),
            ("dau", "Daily active players", staff_dashboard.dashboard_active_per_day, 20),
        ):
            # A past day's sign-ups and actives never change: each is counted once.
            register_dashboard_chart(
                key, title, series, order=order, permission="accounts.view_user", past_days_final=True
            )

        # The player's page: accounts' own sections (other apps add theirs from their ready()).
        from accounts import player_story

        player_story.register()
