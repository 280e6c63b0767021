from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    name = "realtime"
    verbose_name = "Realtime and outbox"

    def ready(self) -> None:
        from realtime import metrics
        from realtime.notifications import schema  # noqa: F401 - registers the cookie scheme with drf-spectacular
        from realtime.notifications.builders import register_default_builders
        from realtime.socket_limits import install_daphne_limit

        metrics.register_collectors()
        install_daphne_limit()  # takes effect where this process serves sockets with daphne
        register_default_builders()  # purchase_update, balance_update (staff grants), reward_granted -> the inbox
