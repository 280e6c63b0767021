from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    name = "realtime"
    verbose_name = "Realtime and outbox"

    def ready(self) -> None:
        from realtime import (
            metrics,
            telemetry,  # noqa: F401 - registers the built-in client event names
        )
        from realtime.notifications import schema  # noqa: F401 - registers the cookie scheme with drf-spectacular
        from realtime.notifications.builders import register_default_builders
        from realtime.socket_limits import install_daphne_limit

        metrics.register_collectors()
        install_daphne_limit()  # takes effect where this process serves sockets with daphne
        register_default_builders()  # purchase_update, balance_update (staff grants), reward_granted -> the inbox

        # The staff dashboard's pipeline cards (casino.dashboard).
        from casino.dashboard import register_dashboard_figure
        from realtime import staff_dashboard

        for key, title, provider, order in (
            ("dead_outbox_rows", "Dead outbox rows", staff_dashboard.dashboard_dead_outbox_rows, 810),
            ("relay_lag", "Relay lag", staff_dashboard.dashboard_relay_lag, 820),
        ):
            register_dashboard_figure(
                key, title, provider, order=order, permission="realtime.view_outboxevent", group="Operations"
            )
