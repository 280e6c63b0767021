"""Tables of events/: events, missions, a player's participation and progress, claimed rewards.
Fields, constraints (CHECKs, unique idempotency keys), indexes and tiny properties only; no
business logic, none in save(). Empty until the events issue fills it."""
