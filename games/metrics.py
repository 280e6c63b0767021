"""Prometheus metrics of games/: rounds played, amounts bet and won, crash rounds in flight. Empty
until the games issue fills it."""
