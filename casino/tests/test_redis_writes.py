"""casino.redis_writes: a transaction's after-commit Redis writes, one pipeline per server."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import caches
from django.db import transaction

from casino.redis_writes import RedisWriter, on_commit_redis, on_commit_redis_many, shared_client
from economy.dashboard_cache import VERSION_BUMPS, dashboard_version_key


class _Recording(RedisWriter):
    """A writer of test keys that records what it was told (``broken``: its queue raises)."""

    def __init__(self, *, broken: bool = False) -> None:
        self.broken = broken
        self.told: list[tuple[list[Any], list[Any]]] = []

    def client(self) -> Any | None:
        return shared_client()

    def queue(self, pipe: Any, items: list[Any]) -> None:
        if self.broken:
            pipe.incr("casino-test:half-queued")
            raise RuntimeError("cannot build its commands")
        for item in items:
            pipe.incr(f"casino-test:redis-writes:{item}")

    def replies(self, items: list[Any], replies: list[Any]) -> None:
        self.told.append((items, replies))

    def without_pipeline(self, items: list[Any]) -> None:  # pragma: no cover - Redis is configured here
        raise AssertionError("the tests run with the Redis cache")


def _version(user_id: int) -> int:
    client = shared_client()
    assert client is not None
    return int(client.get(caches["default"].make_and_validate_key(dashboard_version_key(user_id))) or 0)


@pytest.mark.django_db(transaction=True)
def test_every_writers_items_go_after_the_commit_each_once_in_order_and_a_rolled_back_savepoint_drops_its_own() -> None:
    client = shared_client()
    assert client is not None
    client.delete(*(f"casino-test:redis-writes:{item}" for item in ("a", "b", "c")))
    writer = _Recording()
    before = _version(987001)

    with transaction.atomic():
        on_commit_redis(writer, "a")
        on_commit_redis(VERSION_BUMPS, 987001)
        on_commit_redis(writer, "a")  # once per transaction
        try:
            with transaction.atomic():
                on_commit_redis(writer, "c")
                raise RuntimeError("roll the savepoint back")
        except RuntimeError:
            pass
        on_commit_redis(writer, "b")
        assert writer.told == []  # nothing before the commit

    # What came after the savepoint went in a pipeline of its own, after the first (the order holds)
    assert writer.told == [(["a"], [1]), (["b"], [1])]
    assert [client.get(f"casino-test:redis-writes:{item}") for item in ("a", "b", "c")] == [b"1", b"1", None]
    assert _version(987001) == before + 1


@pytest.mark.django_db(transaction=True)
def test_a_writer_that_cannot_queue_is_told_and_the_others_still_write() -> None:
    client = shared_client()
    assert client is not None
    client.delete("casino-test:half-queued")
    broken = _Recording(broken=True)
    before = _version(987002)

    with transaction.atomic():
        on_commit_redis(broken, "x")
        on_commit_redis(VERSION_BUMPS, 987002)

    [(items, replies)] = broken.told
    assert items == ["x"] and isinstance(replies[0], RuntimeError)
    assert client.get("casino-test:half-queued") is None  # what it had queued was taken back
    assert _version(987002) == before + 1


class _Listing(_Recording):
    """A writer that gets every item, in order (``distinct = False``), as the pushes' does."""

    distinct = False


@pytest.mark.django_db(transaction=True)
def test_a_writer_of_every_item_gets_each_in_the_order_given() -> None:
    client = shared_client()
    assert client is not None
    client.delete(*(f"casino-test:redis-writes:{item}" for item in ("p", "q")))
    writer = _Listing()

    with transaction.atomic():
        on_commit_redis_many(writer, ["p", "q"])
        on_commit_redis(writer, "p")

    assert writer.told == [(["p", "q", "p"], [1, 1, 2])]
