"""The Redis cache backend: Django's, reusing its Redis client.

Django's ``RedisCacheClient`` builds a new ``redis.Redis`` on every cache call
(each with its two tables of ~80 response callbacks): the hot paths make
three to six cache calls a request (the session generation, the live-ops
definitions' version, the slot table's generation, the dashboard's version
bump...), and building those clients cost more CPU than the commands
themselves (bench: ``--cpu-profile slot_spin``). This client builds one
``redis.Redis`` per connection pool and reuses it: a ``redis.Redis`` is safe
to share between threads (each command takes a connection from the pool and
gives it back). Everything else -- pools, serializer, options -- is Django's.
"""

from __future__ import annotations

from typing import Any

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient as DjangoRedisCacheClient


class RedisCacheClient(DjangoRedisCacheClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        pool = self._get_connection_pool(write)  # type: ignore[attr-defined]
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)  # type: ignore[attr-defined]
        return client


class RedisCache(DjangoRedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = RedisCacheClient
