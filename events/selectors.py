"""Reads of events/ shared by several callers (views, other apps, admin): the public event preview,
a player's events and missions with their progress. Typed, no writes. Empty until the events
issue fills it."""
