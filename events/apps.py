from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "events"
    verbose_name = "Live operations"

    def ready(self) -> None:
        # The player's page (accounts.admin_story): events, missions and achievements.
        from events import player_story

        player_story.register()
        from events import subscribers
        from realtime.registry import subscribe

        subscribers.register_metrics()
        for event_type in subscribers.SOURCE_EVENT_TYPES:
            subscribe(event_type, subscribers.count_progress)

        # Missions: the home dashboard's events and missions sections, and its cached page dropped
        # whenever an event's or a mission's progress changes (joins, rounds, claims).
        from economy.selectors import register_dashboard_section
        from economy.subscribers import invalidate_dashboard
        from events import mission_selectors

        register_dashboard_section("events", mission_selectors.dashboard_events)
        register_dashboard_section("missions", mission_selectors.dashboard_missions)
        subscribe("event_progress", invalidate_dashboard)

        # Achievements: an unlock writes an inbox entry (the progress engine pushes achievement_progress).
        from events.services.achievements import achievement_unlocked_notification
        from realtime.notifications.builders import register_notification_builder

        register_notification_builder("achievement_progress", achievement_unlocked_notification)

        # The progress subscriber's definitions and the dashboard's events, kept per process
        # (casino.copies), are reloaded when one changes.
        from casino.copies import copies_watch
        from events.models import Achievement, Event, EventRequirement, MissionTemplate

        copies_watch(Event, EventRequirement, MissionTemplate, Achievement)
