"""The player's page in a real browser (Playwright + Debian's Chromium against
pytest-django's live server), as staff use it every day:

- a support agent finds a player by nickname, reads their story (balances,
  ledger, orders, rounds), cannot adjust a balance, and revokes the player's
  sessions: the player's next API call is 401 and their open WebSocket (on a
  real ASGI server sharing the database and the Redis channel layer) closes
  with 4401;
- a finance clerk follows the player's orders to the order list and refunds
  one, and cannot ban the player.

The support agent's view of the page is saved as ``var/artifacts/player-page.png``
(git-ignored)."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from playwright.sync_api import Page, expect
from rest_framework.test import APIClient
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from accounts.models import User
from accounts.tests.factories import UserFactory
from accounts.tokens import tokens_issue
from casino.models import AuditLog
from conftest import admin_log_in, require_service
from economy.models import Wallet
from economy.tests.factories import player_with_wallet
from games.models import GameRound
from games.services import slot_spin
from realtime.services import CLOSE_SESSION_REVOKED
from realtime.tests.processes import Process, ProcessGroup, free_port, start_asgi_server, wait_healthy
from shop.models import Order, OrderStatus
from shop.services import shop_buy
from shop.tests.factories import GemPriceProductFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACT = Path(__file__).resolve().parents[2] / "var" / "artifacts" / "player-page.png"


@pytest.fixture(scope="module")
def asgi_port(django_db_setup: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    require_service("Redis channel layer", "Redis" in settings.CHANNEL_LAYERS["default"]["BACKEND"])
    group = ProcessGroup(Path(tmp_path_factory.mktemp("asgi-player-page")))
    try:
        port = free_port()
        process: Process = start_asgi_server(group, port, name=f"uvicorn-{port}")
        wait_healthy(process, port)
        yield port
    finally:
        group.stop_all()


def staff_member(role: str, password: str) -> User:
    member = UserFactory(is_staff=True, password=password)
    member.groups.add(Group.objects.get(name=role))
    return member


def player_with_story(nickname: str) -> tuple[User, Order, GameRound]:
    player = player_with_wallet(gold=50_000, gems=5_000, nickname=nickname)
    round_ = slot_spin(user=player, bet_amount=100, idempotency_key="browser-spin").round
    order = shop_buy(user=player, idempotency_key=str(uuid.uuid4()), product_sku=GemPriceProductFactory().sku).order
    assert order.status == OrderStatus.FULFILLED
    return player, order, round_


def open_greeted_socket(port: int, access: str) -> ClientConnection:
    ws = connect(
        f"ws://127.0.0.1:{port}/api/realtime/sync?token={access}", open_timeout=10, close_timeout=2, proxy=None
    )
    assert json.loads(ws.recv(timeout=10))["type"] == "sync_connected"
    assert json.loads(ws.recv(timeout=10))["type"] == "initial_state"
    return ws


def close_code_within(ws: ClientConnection, seconds: float) -> int:
    deadline = time.monotonic() + seconds
    with pytest.raises(ConnectionClosed) as closed:  # noqa: PT012 - the loop is what may raise
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                pytest.fail(f"the socket was still open {seconds}s after the revocation")
            try:
                ws.recv(timeout=remaining)
            except TimeoutError:
                continue
    assert closed.value.rcvd is not None, "the connection dropped without a close frame"
    return int(closed.value.rcvd.code)


def section(page: Page, key: str) -> Any:
    return page.locator(f"#player-section-{key}")


@pytest.mark.timeout(120)
def test_a_support_agent_finds_a_player_reads_their_story_and_revokes_their_sessions(
    page: Page, password: str, asgi_port: int
) -> None:
    # Given a player with a story, logged in with the app open (a WebSocket), and a support agent
    player, order, round_ = player_with_story("LuckyLou")
    access = tokens_issue(user=player).access
    socket = open_greeted_socket(asgi_port, access)
    agent = staff_member("support", password)
    admin_log_in(page, agent.site_id, password)

    # When the agent searches the users for the nickname and opens the player
    page.goto("/admin/accounts/user/")
    page.fill("#searchbar", "LuckyLou")
    page.press("#searchbar", "Enter")
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(1)
    rows.first.get_by_role("link", name=player.site_id).click()

    # Then the page tells the player's story: balances, ledger, orders and rounds, each linking on
    expect(page.locator("#player-story")).to_be_visible()
    gold = Wallet.objects.get(pk=player.pk).gold
    expect(section(page, "balances")).to_contain_text(f"{gold:,}")
    expect(section(page, "ledger")).to_contain_text("Purchase")
    expect(section(page, "orders")).to_contain_text(order.receipt_code)
    expect(section(page, "rounds")).to_contain_text(f"#{round_.pk}")
    expect(section(page, "sessions")).to_contain_text("Active sessions")
    # And what support may not do or see is not offered
    expect(page.get_by_role("link", name="Adjust balance")).to_have_count(0)
    expect(page.get_by_role("link", name="Lift self-exclusion")).to_have_count(0)
    expect(section(page, "audit")).to_have_count(0)
    ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACT), full_page=True)
    refused = page.goto(f"/admin/economy/wallet/{player.pk}/adjust/")
    assert refused is not None and refused.status == 403
    page.go_back()

    # When the agent revokes every session, giving a reason
    section(page, "account").get_by_role("link", name="Revoke all sessions").click()
    page.fill("textarea[name=reason]", "player reports a stolen phone")
    page.get_by_role("button", name="Revoke every session").click()

    # Then the page says so, the player's socket closes with 4401 and their next API call is 401
    expect(page.locator(".messagelist")).to_contain_text("Ended every session of LuckyLou")
    assert close_code_within(socket, 2.0) == CLOSE_SESSION_REVOKED
    assert APIClient().get("/api/auth/me", HTTP_AUTHORIZATION=f"Bearer {access}").status_code == 401
    record = AuditLog.objects.get(action="user_sessions_revoke")
    assert (record.actor_id, record.target_id, record.reason) == (
        agent.pk,
        str(player.pk),
        "player reports a stolen phone",
    )
    expect(section(page, "sessions")).to_contain_text("No active session")
    expect(section(page, "sessions")).to_contain_text(re.compile(r"Active sessions\s*0"))


@pytest.mark.timeout(120)
def test_a_finance_clerk_refunds_an_order_from_the_player_page_and_cannot_ban(page: Page, password: str) -> None:
    # Given a player who bought gold with gems, and a finance clerk
    player, order, _ = player_with_story("RefundRita")
    gems_after_purchase = Wallet.objects.get(pk=player.pk).gems
    clerk = staff_member("finance", password)
    admin_log_in(page, clerk.site_id, password)

    # When the clerk opens the player's page: money actions are offered, account actions are not
    page.goto(f"/admin/accounts/user/{player.pk}/change/")
    expect(section(page, "orders")).to_contain_text(order.receipt_code)
    expect(page.get_by_role("link", name="Adjust balance")).to_be_visible()
    expect(page.get_by_role("link", name="Ban", exact=True)).to_have_count(0)
    expect(page.get_by_role("link", name="Revoke all sessions")).to_have_count(0)

    # And follows the orders to the player's order list and refunds the order, giving a reason
    section(page, "orders").get_by_role("link", name=re.compile("All orders")).click()
    expect(page).to_have_url(re.compile(rf"/admin/shop/order/\?user__id__exact={player.pk}$"))
    row = page.locator("#result_list tbody tr", has_text=order.receipt_code)
    expect(row).to_have_count(1)
    row.locator("input.action-select").check()
    page.select_option("select[name=action]", "refund_orders")
    page.locator("button[name=index]").click()
    page.fill("textarea[name=reason]", "bought by mistake, asked within the hour")
    page.locator("input[name=apply]").click()

    # Then the order is refunded (the gems are back) and the player's page shows it
    expect(page.locator(".messagelist")).to_contain_text("Refunded 1 order(s).")
    order.refresh_from_db()
    assert order.status == OrderStatus.REFUNDED
    assert Wallet.objects.get(pk=player.pk).gems == gems_after_purchase + order.total
    page.goto(f"/admin/accounts/user/{player.pk}/change/")
    expect(section(page, "orders")).to_contain_text("Refunded")

    # And banning is refused to finance, even by URL, and the player stays active
    refused = page.goto(f"/admin/accounts/user/{player.pk}/ban/")
    assert refused is not None and refused.status == 403
    assert User.objects.get(pk=player.pk).is_active
