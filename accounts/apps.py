from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from django.contrib import admin

        from accounts import schema  # noqa: F401  (registers the OpenAPI authentication scheme)
        from accounts.admin_login import LockoutAdminAuthenticationForm
        from accounts.authentication import socket_user_from_access_token
        from accounts.selectors import user_profile, users_online_count
        from realtime.registry import (
            register_initial_state,
            register_online_players_source,
            register_socket_authenticator,
        )

        register_initial_state("profile", user_profile)
        register_socket_authenticator(socket_user_from_access_token)
        register_online_players_source(users_online_count)
        # /admin/login/ shares the API login's lockout (accounts.admin_login).
        admin.site.login_form = LockoutAdminAuthenticationForm
