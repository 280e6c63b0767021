from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    name = "realtime"
    verbose_name = "Realtime and outbox"

    def ready(self) -> None:
        from realtime import metrics

        metrics.register_collectors()
