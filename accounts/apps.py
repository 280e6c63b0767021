from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from accounts import schema  # noqa: F401  (registers the OpenAPI authentication scheme)
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
