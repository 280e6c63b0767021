from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    name = "realtime"
    verbose_name = "Realtime and outbox"

    def ready(self) -> None:
        from realtime import metrics
        from realtime.socket_limits import install_daphne_limit

        metrics.register_collectors()
        install_daphne_limit()  # takes effect where this process serves sockets with daphne
