"""The shop back office in a real browser (Playwright + Debian's Chromium
against pytest-django's live server): staff put a limited package on sale
through the admin forms, a player buys it through the API and pays at the
sandbox provider, whose signed webhook fulfils the order, and staff see the
result in the admin."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts.models import User
from accounts.tests.factories import UserFactory
from accounts.tokens import tokens_issue
from casino.celery import app as celery_app
from casino.models import AuditLog
from conftest import admin_log_in
from economy.models import Wallet
from economy.services import wallet_open
from shop.models import LimitedPackage, Order, OrderStatus, Product, WebhookEvent, WebhookStatus
from shop.providers.sandbox import sandbox_decide

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def sandbox_delivers_to_live_server(settings: Any, live_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The sandbox posts its signed webhook to PUBLIC_BASE_URL; Celery runs
    the delivery inline (as in embedded mode), so it has happened by the time
    ``sandbox_decide`` returns. The Celery app read its settings already, so
    its own config is patched as well."""
    settings.PUBLIC_BASE_URL = live_server.url
    settings.CELERY_TASK_ALWAYS_EAGER = True
    monkeypatch.setattr(celery_app.conf, "task_always_eager", True)
    monkeypatch.setattr(celery_app.conf, "task_eager_propagates", True)


def log_in(page: Page, user: User, password: str) -> None:
    admin_log_in(page, user.site_id, password)


def fill_datetime(page: Page, field: str, when: Any) -> None:
    local = timezone.localtime(when)
    page.fill(f"#id_{field}_0", local.strftime("%Y-%m-%d"))
    page.fill(f"#id_{field}_1", local.strftime("%H:%M:%S"))


def test_staff_put_a_limited_package_on_sale_a_player_buys_and_pays_and_staff_see_it_fulfilled(
    page: Page, staff_user: User, password: str, live_server: Any, sandbox_delivers_to_live_server: None
) -> None:
    log_in(page, staff_user, password)

    # --- staff create the money-priced product through the admin form
    page.goto("/admin/shop/product/add/")
    page.fill("#id_sku", "launch-gems")
    page.fill("#id_name", "Launch gems")
    page.select_option("#id_kind", "gem_pack")
    page.select_option("#id_price_type", "money")
    page.fill("#id_price_amount", "1299")
    page.fill("#id_price_currency", "usd")
    page.fill("#id_grants", '{"gems": 500}')
    page.click("input[name=_save]")
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")
    expect(page.locator("#result_list")).to_contain_text("12.99 USD")
    product = Product.objects.get(sku="launch-gems")
    assert (product.price_type, product.price_amount, product.price_currency, product.grants) == (
        "money",
        1299,
        "USD",
        {"gems": 500},
    )

    # --- then the limited package: 5 units, on sale from an hour ago until tomorrow
    now = timezone.now()
    page.goto("/admin/shop/limitedpackage/add/")
    page.select_option("#id_product", label=str(product))
    page.fill("#id_code", "launch-week")
    fill_datetime(page, "starts_at", now - timedelta(hours=1))
    fill_datetime(page, "ends_at", now + timedelta(days=1))
    page.fill("#id_total_stock", "5")
    page.fill("#id_per_player_limit", "1")
    page.fill("#id_stock_change_reason", "launch week offer")
    page.click("input[name=_save]")
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")
    launch_row = page.locator("#result_list tbody tr", has_text="launch-week")
    expect(launch_row).to_contain_text("5/5")
    expect(launch_row).to_contain_text("on sale")
    package = LimitedPackage.objects.get(code="launch-week")
    assert (package.product, package.total_stock, package.remaining_stock) == (product, 5, 5)
    assert AuditLog.objects.get(action="package_create").reason == "launch week offer"

    # --- a player buys it through the API
    player = UserFactory(site_id="buyer01")
    wallet_open(user=player)
    access = tokens_issue(user=player).access
    response = httpx.post(
        f"{live_server.url}/api/shop/buy-limited",
        json={"package_id": "launch-week"},
        headers={"Authorization": f"Bearer {access}", "Idempotency-Key": str(uuid.uuid4())},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["status"], body["amount"], body["currency"], body["package_id"]) == (
        "pending",
        1299,
        "USD",
        "launch-week",
    )
    assert body["checkout_url"].startswith(live_server.url)
    order = Order.objects.get(receipt_code=body["receipt_code"])
    assert LimitedPackage.objects.get(pk=package.pk).remaining_stock == 4  # held for the payment

    # --- and pays at the sandbox; its signed webhook reaches our server and fulfils the order
    sandbox_decide(reference=order.provider_reference, approve=True)
    order.refresh_from_db()
    assert order.status == OrderStatus.FULFILLED
    assert Wallet.objects.get(pk=player.pk).gems == 500
    webhook = WebhookEvent.objects.get(order=order)
    assert (webhook.signature_valid, webhook.status, webhook.event_type) == (
        True,
        WebhookStatus.PROCESSED,
        "payment.succeeded",
    )

    # --- staff find the order among the fulfilled ones in the order list
    page.goto("/admin/shop/order/")
    page.locator("#changelist-filter").get_by_role("link", name="Fulfilled", exact=True).click()
    expect(page).to_have_url(re.compile(r"/admin/shop/order/\?status__exact=fulfilled$"))
    # The URL changes before the filtered page has rendered: wait for what only
    # the new page shows (its filter selected), then let the row assertions retry.
    expect(page.locator("#changelist-filter li.selected", has_text="Fulfilled")).to_be_visible()
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(1)
    for text in (order.receipt_code, "buyer01", "Fulfilled", "12.99 USD"):
        expect(rows.first).to_contain_text(text)

    # --- and the package page shows 4 of 5 left, 1 sold
    page.goto("/admin/shop/limitedpackage/")
    page.get_by_role("link", name="launch-week", exact=True).click()
    expect(page.locator(".field-remaining_stock .readonly")).to_have_text("4")
    expect(page.locator(".field-sold .readonly")).to_have_text("1")
    expect(page.locator("#id_total_stock")).to_have_value("5")
