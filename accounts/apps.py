from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from accounts.selectors import user_profile
        from realtime.registry import register_initial_state

        register_initial_state("profile", user_profile)
