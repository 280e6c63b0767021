from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "events"
    verbose_name = "Live operations"

    def ready(self) -> None:
        from events import subscribers
        from realtime.registry import subscribe

        subscribers.register_metrics()
        for event_type in subscribers.SOURCE_EVENT_TYPES:
            subscribe(event_type, subscribers.count_progress)
