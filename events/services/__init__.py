"""Writes of events/: the only code that changes its state (joining an event, advancing progress
(once per source event), claiming rewards (idempotent: ``event-claim:{user}:{event}``)). One
module per noun, re-exported here; functions named <noun>_<verb> with keyword-only, fully typed
arguments (user: accounts.models.User). An entry point opens transaction.atomic(durable=True);
the helpers it composes open none. State changes call realtime.emit() inside the transaction.
Empty until the events issue fills it."""
