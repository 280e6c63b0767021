from django.apps import AppConfig


class GamesConfig(AppConfig):
    """ready() is where games/ will register its subscribers (subscribers.py) and registry entries."""

    name = "games"
