"""The keys the project writes to Redis itself live in the deployment's
namespace (CACHE_KEY_PREFIX): two deployments (or two test runs) sharing one
Redis database never count into each other's windows."""

from __future__ import annotations

import uuid
from copy import deepcopy
from typing import Any

from django.conf import settings as django_settings

from accounts.auth_cache import generation_key
from casino import ratelimit
from casino.redis_keys import redis_key
from games.services.leaderboards import board_key


def prefixed(settings: Any, prefix: str) -> None:
    caches = deepcopy(django_settings.CACHES)
    caches["default"]["KEY_PREFIX"] = prefix
    settings.CACHES = caches


def test_two_namespaces_on_one_redis_keep_their_own_windows(settings: Any) -> None:
    # Given fraud-style windows recorded by a deployment under prefix "one"
    key = f"fraud:orders:player:{uuid.uuid4().hex}"
    reads = [ratelimit.WindowCount(key, 600.0), ratelimit.WindowCount(f"{key}:cards", 600.0, distinct=True)]
    events = [ratelimit.WindowEvent(key, 600.0), ratelimit.WindowEvent(f"{key}:cards", 600.0, member="card-a")]
    prefixed(settings, f"one-{uuid.uuid4().hex[:8]}")
    ratelimit.windows_record(events, 1000.0)
    ratelimit.windows_record(events, 1001.0)
    ratelimit.sliding_window_backend().add(key, 1002.0, 600.0)
    assert ratelimit.windows_count(reads, 1010.0) == [3, 1]

    # When another deployment, prefix "two", reads the same names on the same Redis
    prefixed(settings, f"two-{uuid.uuid4().hex[:8]}")

    # Then it sees nothing of the first one's, and what it records stays its own
    assert ratelimit.windows_count(reads, 1010.0) == [0, 0]
    assert ratelimit.sliding_window_backend().scores(key, 1010.0, 600.0) == []
    ratelimit.windows_record(events, 1003.0)
    assert ratelimit.windows_count(reads, 1010.0) == [1, 1]


def test_generations_and_boards_are_named_in_the_namespace(settings: Any) -> None:
    prefixed(settings, "deploy-a")

    assert redis_key("x") == "deploy-a:x"
    assert generation_key(42) == "deploy-a:authgen:42"
    assert board_key("all", "rps", "total_won") == "deploy-a:leaderboard:all:rps:total_won"
