from django.apps import AppConfig


class CasinoConfig(AppConfig):
    name = "casino"
    verbose_name = "Platform (idempotency, audit log)"

    def ready(self) -> None:
        from casino import checks  # noqa: F401  (registers system checks)
