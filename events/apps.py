from django.apps import AppConfig


class EventsConfig(AppConfig):
    """ready() is where events/ will register its subscribers (subscribers.py) and registry entries."""

    name = "events"
