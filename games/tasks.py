"""Celery entry points of games/ (settling live crash rounds on the server clock, periodic stats
roll-ups): ids in, call a service, nothing else. Empty until the games issue fills it."""
