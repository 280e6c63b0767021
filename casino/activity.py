"""Player activity for "online now": every authenticated request (and each
WebSocket connection) marks the player as seen. The database row is written
at most once a minute per player; a cache key gates the writes."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.utils import timezone

SEEN_WRITE_INTERVAL_SECONDS = 60


def record_activity(user_id: int) -> bool:
    """Mark the player as active now; returns whether the row was written."""
    if not cache.add(f"seen:{user_id}", 1, timeout=SEEN_WRITE_INTERVAL_SECONDS):
        return False
    get_user_model().objects.filter(pk=user_id).update(last_seen_at=timezone.now())
    return True
