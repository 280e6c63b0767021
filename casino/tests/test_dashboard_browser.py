"""The staff dashboard in a real browser (Playwright + Debian's Chromium against pytest-django's
live server): a member of the admin role logs in and lands on the dashboard — players, revenue,
orders and operations cards, the games' tables, 30-day charts drawn as inline SVG under the
Content-Security-Policy, the tables below — follows a card to its filtered list, and a support agent's dashboard
shows no revenue. The page is saved as ``var/artifacts/dashboard.png`` (git-ignored)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts.models import PlayerDay, User
from accounts.tests.factories import UserFactory
from conftest import admin_log_in
from economy.services import wallet_grant
from games.services.rps import rps_play
from shop.models import Order, OrderStatus
from shop.tests.factories import MoneyProductFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACT = Path(__file__).resolve().parents[2] / "var" / "artifacts" / "dashboard.png"


def a_month_of_business() -> None:
    """Sign-ups, active days, paid orders and rounds spread over the last 30 days: eight
    regulars play every day, the others one day in four since they joined."""
    now = timezone.now()
    product = MoneyProductFactory()
    players = [UserFactory(date_joined=now - timedelta(days=index % 30, hours=1)) for index in range(45)]
    for index, player in enumerate(players):
        active = [back for back in range(index % 30 + 1) if index < 8 or (index + back) % 4 == 0]
        PlayerDay.objects.bulk_create(
            PlayerDay(user=player, day=(now - timedelta(days=back)).date()) for back in active
        )
        if not active:
            continue  # joined, never came back
        User.objects.filter(pk=player.pk).update(last_seen_at=now - timedelta(days=min(active)))
    for index, buyer in enumerate(players[:20]):
        at = now - timedelta(days=index % 9, minutes=5)
        Order.objects.create(
            receipt_code=uuid.uuid4().hex[:20],
            user=buyer,
            product=product,
            quantity=1,
            status=OrderStatus.FULFILLED if index % 5 else OrderStatus.PENDING,
            price_type="money",
            currency="USD",
            unit_price=499 * (1 + index % 3),
            subtotal=499 * (1 + index % 3),
            total=499 * (1 + index % 3),
            idempotency_key=str(uuid.uuid4()),
            request_fingerprint="browser",
            created_at=at,
            updated_at=at,
            paid_at=at,
            fulfilled_at=at if index % 5 else None,
        )
    gambler = players[0]
    wallet_grant(user=gambler, bundle={"gold": 100_000}, reason="admin_adjust", idempotency_key="browser-fund")
    for back in (6, 3, 2, 1, 0):
        with time_machine.travel(now - timedelta(days=back), tick=False):
            for _ in range(back + 2):
                rps_play(user=gambler, choice="paper", bet_amount=100, idempotency_key=str(uuid.uuid4()))


def member_of(role: str, password: str, site_id: str) -> User:
    staff = UserFactory(site_id=site_id, password=password, is_staff=True)
    staff.groups.add(Group.objects.get(name=role))
    return staff


def test_staff_land_on_the_dashboard_follow_a_card_and_support_sees_no_revenue(
    page: Page, password: str, live_server: Any, settings: Any
) -> None:
    # --- Given embedded mode (no relay: the lag card says so, no analytics store), a month of
    # business, an admin
    settings.KAFKA_BOOTSTRAP_SERVERS = settings.CLICKHOUSE_URL = ""
    a_month_of_business()
    boss = member_of("admin", password, "boss01")

    # --- When they log into the back office
    admin_log_in(page, boss.site_id, password)

    # --- Then the front page is the dashboard: cards, the games' tables, 30-day charts, the tables below
    dashboard = page.locator("#staff-dashboard")
    expect(dashboard).to_be_visible()
    dau = page.locator("#figure-dau .card-value").inner_text()
    expect(page.locator("#chart-dau .card-note")).to_contain_text(f"today {dau} ")  # the card and the chart agree
    expect(page.locator("#figure-revenue_today .card-value")).to_contain_text("USD")
    expect(page.locator("#figure-orders_pending .card-value")).to_have_text("4")
    expect(page.locator("#figure-relay_lag")).to_contain_text("relay off")
    expect(page.locator("#figure-alerts_firing")).to_contain_text("not configured")
    for chart in ("signups", "dau", "revenue-usd", "rounds"):
        expect(page.locator(f"#chart-{chart} svg.chart rect.chart-bar")).to_have_count(30)
    rps = page.locator("#table-games tbody tr", has_text="Rock-paper-scissors")
    expect(rps).to_have_count(1)
    expect(rps.locator("td").nth(6)).to_have_text("22")  # rounds in the last 7 days: 8 + 5 + 4 + 3 + 2
    expect(page.locator("#table-big_wins")).to_be_visible()
    # Drawn, not blocked: the bars have a size and the stylesheet laid the cards out in a grid.
    box = page.locator("#chart-rounds svg.chart").bounding_box()
    assert box and box["width"] > 150 and box["height"] > 40
    assert page.locator(".dashboard-cards").first.evaluate("e => getComputedStyle(e).display") == "grid"
    numeric = page.locator("#table-games tbody td.numeric").first
    assert numeric.evaluate("e => getComputedStyle(e).textAlign") == "right"
    expect(page.locator("#dashboard-app-list")).to_contain_text("Shop and payments")
    ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACT), full_page=True)

    # --- And a card leads to the list it counts
    page.locator("#figure-orders_pending .card-value a").click()
    expect(page).to_have_url(f"{live_server.url}/admin/shop/order/?status__exact=pending")
    expect(page.locator("#result_list tbody tr")).to_have_count(4)

    # --- And a support agent's dashboard has players and orders but no revenue
    page.context.clear_cookies()
    agent = member_of("support", password, "agent01")
    admin_log_in(page, agent.site_id, password)
    expect(page.locator("#figure-dau")).to_be_visible()
    expect(page.locator("#figure-orders_pending")).to_be_visible()
    expect(page.locator("#figure-revenue_today")).to_have_count(0)
    expect(page.locator("#dashboard-group-revenue")).to_have_count(0)
    expect(page.locator("#chart-revenue-usd")).to_have_count(0)
    for chart in ("signups", "dau", "rounds"):
        expect(page.locator(f"#chart-{chart} svg.chart")).to_have_count(1)
    expect(page.locator("#table-games")).to_be_visible()  # support reads rounds
