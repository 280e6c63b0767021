"""factory-boy factories and helpers for games/ (seeds, rounds and achievements), built through
services where state has invariants. Empty until the games issue fills it."""
