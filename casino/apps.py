from django.apps import AppConfig


class CasinoConfig(AppConfig):
    name = "casino"
    verbose_name = "Platform (idempotency, audit log)"

    def ready(self) -> None:
        from casino import checks, schema  # noqa: F401  (registers system checks, schema extensions)
