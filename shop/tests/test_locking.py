"""Row locks in the order flow take only the rows meant (PostgreSQL, real threads).

``SELECT ... FOR UPDATE`` over a join locks a row of every joined table unless
it names ``OF``: an order locked together with its product would also lock the
product, so every payment step of one product would queue behind the others and
the expiry sweep (``SKIP LOCKED``) would skip every order of a product someone
is paying for. Each test holds one transaction open at a known point and checks
what another one can still do meanwhile.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone

from casino.tests.race_condition import run_after
from economy.models import Wallet
from economy.tests.factories import player_with_wallet
from shop import services
from shop.models import Order, OrderStatus
from shop.tests.concurrency import WAIT_SECONDS, Background, paid_webhook
from shop.tests.factories import MoneyProductFactory

pytestmark = pytest.mark.django_db(transaction=True)

# Where a webhook applies a payment, inside its transaction with the order row locked.
APPLY_PAYMENT = "shop.services.webhooks.order_apply_payment"


@contextmanager
def held_open_after(target: str) -> Iterator[tuple[threading.Event, threading.Event]]:
    """The first call of ``target`` returns, then its caller waits (its transaction
    still open) until the test sets ``release``; ``entered`` says it got there."""
    entered, release = threading.Event(), threading.Event()

    def hold(*_args: Any, **_kwargs: Any) -> None:
        entered.set()
        release.wait(timeout=60)

    with run_after(target, hold):
        try:
            yield entered, release
        finally:
            release.set()


def pending_money_order(product: Any) -> Order:
    result = services.shop_buy(user=player_with_wallet(), idempotency_key=str(uuid.uuid4()), product_sku=product.sku)
    assert result.order.status == OrderStatus.PENDING
    return result.order


def test_webhooks_for_two_orders_of_one_product_do_not_wait_for_each_other() -> None:
    # Given two players' pending orders of the same product, each paid at the provider
    product = MoneyProductFactory(grants={"gems": 100})
    first, second = pending_money_order(product), pending_money_order(product)
    deliver_first, deliver_second = paid_webhook(first), paid_webhook(second)

    with held_open_after(APPLY_PAYMENT) as (entered, release):
        # When the first order's webhook is inside its transaction (order locked, not committed)
        slow = Background(deliver_first)
        assert entered.wait(WAIT_SECONDS), slow.error
        # And the second order's webhook arrives meanwhile
        fast = Background(deliver_second)

        # Then the second completes while the first is still open
        assert fast.finished_within(WAIT_SECONDS), "the second webhook waited for the first one's transaction"
        assert fast.error is None, fast.error
        assert Order.objects.get(pk=second.pk).status == OrderStatus.FULFILLED
        assert Order.objects.get(pk=first.pk).status == OrderStatus.PENDING  # not committed yet
        release.set()
        assert slow.finished_within(WAIT_SECONDS) and slow.error is None, slow.error

    # And both ended fulfilled, each player granted once
    assert set(Order.objects.values_list("status", flat=True)) == {OrderStatus.FULFILLED}
    assert [Wallet.objects.get(pk=order.user_id).gems for order in (first, second)] == [100, 100]


def test_expiry_sweep_during_a_long_webhook_expires_the_other_stale_orders_of_that_product() -> None:
    # Given a fresh order being paid and two orders of the same product left unpaid too long
    product = MoneyProductFactory()
    paying = pending_money_order(product)
    stale = [pending_money_order(product), pending_money_order(product)]
    long_ago = timezone.now() - settings.SHOP_PENDING_ORDER_TTL - timedelta(minutes=1)
    Order.objects.filter(pk__in=[order.pk for order in stale]).update(created_at=long_ago, updated_at=long_ago)

    with held_open_after(APPLY_PAYMENT) as (entered, release):
        # When the paying order's webhook holds its transaction open
        webhook = Background(paid_webhook(paying))
        assert entered.wait(WAIT_SECONDS), webhook.error

        # And the expiry sweep runs meanwhile
        expired = services.orders_expire_stale()

        # Then it expires both stale orders (it skips only rows someone holds)
        assert expired == 2
        release.set()
        assert webhook.finished_within(WAIT_SECONDS) and webhook.error is None, webhook.error

    assert {order.pk: order.status for order in Order.objects.all()} == {
        paying.pk: OrderStatus.FULFILLED,
        stale[0].pk: OrderStatus.EXPIRED,
        stale[1].pk: OrderStatus.EXPIRED,
    }
