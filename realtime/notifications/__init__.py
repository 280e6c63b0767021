"""The notification inbox and Web Push.

Domain events become notifications through **one registry**,
:data:`realtime.notifications.builders.BUILDERS`: event type -> builder. A
builder reads the event's data (never a domain model: realtime imports no
domain app) and returns a :class:`~realtime.notifications.builders.Draft`, or
``None`` for events that tell the player nothing new. The subscriber
(:func:`realtime.notifications.services.notification_from_event`) then, inside
the emitter's transaction, writes the :class:`~realtime.models.Notification`,
emits a ``notification`` event (pushed live on the socket) and, on commit,
queues the Web Push delivery (``realtime.tasks.notification_web_push_fanout``).

A new app adds its own notifications in its ``AppConfig.ready()``::

    from realtime.notifications.builders import Draft, register_notification_builder

    register_notification_builder("achievement_unlocked", lambda event: Draft(
        kind="achievement", title="Achievement unlocked", body=event.data["name"]))

(the event type must be registered first, ``realtime.registry.register_event_type``).
"""
