"""casino.cache: Django's Redis cache, with one Redis client per pool instead of one per call."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from django.core.cache import cache, caches

from casino.cache import RedisCache


def test_the_cache_is_redis_and_reuses_one_client_for_every_call() -> None:
    backend = caches["default"]
    assert isinstance(backend, RedisCache)
    get_client = backend._cache.get_client  # type: ignore[attr-defined]
    client = get_client("a")

    cache.set("cache-test:k", {"n": 1}, 30)

    assert cache.get("cache-test:k") == {"n": 1}
    assert get_client("b") is client
    assert get_client("c", write=True) is client


def test_the_shared_client_serves_threads_at_once() -> None:
    def work(index: int) -> object:
        cache.set(f"cache-test:t{index}", index, 30)
        cache.incr("cache-test:shared")
        return cache.get(f"cache-test:t{index}")

    cache.set("cache-test:shared", 0, 30)
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(work, range(200)))

    assert answers == list(range(200))  # every thread read its own value back
    assert cache.get("cache-test:shared") == 200
