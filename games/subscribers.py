"""How games/ reacts to other apps' domain events (achievements advancing on ``game_round`` and
``purchase_update``), registered with realtime.registry.subscribe in apps.ready(). Handlers run
inside the emitter's transaction and call this app's services; they count each source event
once. Empty until the games issue fills it."""
