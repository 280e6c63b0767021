"""casino.copies: content kept per process, reloaded when a watched row changes
(here or in another process) or when the copy is too old; the dashboard's
sections built on it show a change at once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.tokens import tokens_issue
from casino.copies import (
    ProcessCopy,
    _shared_version,
    _shared_version_set,
    copies_forget,
    copies_version_pinned,
)
from economy.tests.factories import player_with_wallet
from events.tests.factories import EventFactory
from shop.models import Product
from shop.tests.factories import GemPriceProductFactory

pytestmark = pytest.mark.django_db


class Loads:
    """A load function that counts its calls and returns the product SKUs it read."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> tuple[str, ...]:
        self.calls += 1
        return tuple(Product.objects.order_by("pk").values_list("sku", flat=True))


@pytest.fixture
def copy() -> Any:
    loads = Loads()
    kept = ProcessCopy("test.skus", loads)
    kept.loads = loads  # type: ignore[attr-defined]
    return kept


def test_a_copy_is_loaded_once_and_reused(copy: Any) -> None:
    first = GemPriceProductFactory()

    assert copy.get() == (first.sku,)
    assert copy.get() == (first.sku,)

    assert copy.loads.calls == 1


def test_saving_a_watched_row_reloads_the_copy_in_this_process_at_once(copy: Any) -> None:
    first = GemPriceProductFactory()
    assert copy.get() == (first.sku,)

    second = GemPriceProductFactory()  # a save in this process, its transaction not committed yet

    assert copy.get() == (first.sku, second.sku)
    assert copy.loads.calls == 2


def test_a_commit_gives_every_process_a_new_version(copy: Any, django_capture_on_commit_callbacks: Any) -> None:
    GemPriceProductFactory()
    copy.get()
    before = _shared_version()

    with django_capture_on_commit_callbacks(execute=True):
        product = GemPriceProductFactory()
    after = _shared_version()
    with django_capture_on_commit_callbacks(execute=True):
        product.delete()

    assert isinstance(after, str) and after != before
    assert _shared_version() not in (before, after)


def test_a_version_set_by_another_process_reloads_the_copy(copy: Any) -> None:
    first = GemPriceProductFactory()
    copy.get()
    # Another process changed a product around this one's signals (a queryset update), then bumped.
    Product.objects.filter(pk=first.pk).update(sku="renamed-elsewhere")
    assert copy.get() == (first.sku,)  # same version: the copy is kept

    _shared_version_set("set-by-another-process")

    assert copy.get() == ("renamed-elsewhere",)
    assert copy.loads.calls == 2


def test_a_copy_older_than_its_age_limit_is_reloaded() -> None:
    loads = Loads()
    kept = ProcessCopy("test.no-age", loads, max_age=0)

    kept.get()
    kept.get()

    assert loads.calls == 2


def test_the_version_is_read_once_within_a_pinned_scope(copy: Any) -> None:
    GemPriceProductFactory()
    copy.get()
    with copies_version_pinned():
        copy.get()
        _shared_version_set("changed-meanwhile")
        copy.get()  # the scope's version: no reload inside one request
        inside = copy.loads.calls
    copy.get()

    assert inside == 1
    assert copy.loads.calls == 2


def test_forgetting_drops_every_copy(copy: Any) -> None:
    GemPriceProductFactory()
    copy.get()

    copies_forget()
    copy.get()

    assert copy.loads.calls == 2


def dashboard_of(player: Any) -> dict[str, Any]:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_issue(user=player).access}")
    response = client.get("/api/dashboard")
    assert response.status_code == 200, response.content
    body: dict[str, Any] = response.json()
    return body


def test_the_dashboard_shows_an_event_and_a_highlight_saved_after_its_copies_were_loaded() -> None:
    player, other = player_with_wallet(gold=10), player_with_wallet(gold=10)
    assert dashboard_of(player)["events"] == [] and dashboard_of(player)["shop_highlights"] == []

    now = timezone.now()
    event = EventFactory(title="Night race", starts_at=now - timedelta(hours=1), ends_at=now + timedelta(hours=1))
    product = GemPriceProductFactory(is_highlighted=True)
    later = EventFactory(title="Tomorrow", starts_at=now + timedelta(days=1), ends_at=now + timedelta(days=2))

    body = dashboard_of(other)  # another player: no cached page of theirs
    assert [shown["id"] for shown in body["events"]] == [event.pk]  # not the one yet to start
    assert [shown["product_id"] for shown in body["shop_highlights"]] == [product.sku]
    assert later.pk not in [shown["id"] for shown in body["events"]]

    with time_machine.travel(now + timedelta(days=1, hours=1)):  # no save in between
        tomorrow = dashboard_of(player_with_wallet(gold=10))
    assert [shown["id"] for shown in tomorrow["events"]] == [later.pk]  # the window decided when shown


def test_an_authenticated_request_reads_the_version_in_its_authentications_round_trip(
    auth_client: APIClient, monkeypatch: Any
) -> None:
    import redis

    GemPriceProductFactory()
    assert auth_client.get("/api/shop/products").status_code == 200  # the user is kept in the process now
    sent: list[tuple[Any, ...]] = []
    original = redis.client.Redis.execute_command

    def spy(self: Any, *args: Any, **options: Any) -> Any:
        sent.append(args)
        return original(self, *args, **options)

    monkeypatch.setattr(redis.client.Redis, "execute_command", spy)
    response = auth_client.get("/api/shop/products")  # the catalog: a process copy

    assert response.status_code == 200
    reads = [args for args in sent if any(str(arg).endswith(":copies:version") for arg in args)]
    assert len(reads) == 1 and reads[0][0] == "MGET"
    assert any(":authgen:" in str(arg) for arg in reads[0])  # with the user's generation


def test_a_version_read_along_is_kept_for_the_scope_and_asked_for_only_once(copy: Any) -> None:
    from casino.copies import copies_version_read, copies_version_wanted

    GemPriceProductFactory()
    copy.get()
    assert copies_version_wanted() is None  # no request scope: nothing to read along
    with copies_version_pinned():
        assert copies_version_wanted() is not None
        copies_version_read(b"read-along-with-something-else")
        assert copies_version_wanted() is None  # the scope has its version now

        copy.get()  # compared with the version read along: another one, so reloaded
    copies_version_read(b"outside-any-scope")  # ignored

    assert copy.loads.calls == 2
