"""factory-boy factories and helpers for events/ (events, missions and participations), built
through services where state has invariants. Empty until the events issue fills it."""
