"""How events/ reacts to other apps' domain events (mission and event progress advancing on
``game_round``, ``purchase_update``, ``streak_update``), registered with
realtime.registry.subscribe in apps.ready(). Handlers run inside the emitter's transaction and
call this app's services; they count each source event once. Empty until the events issue fills
it."""
