"""The player's page (the user change page, ``accounts.admin_story``): every
app's section of the player's story, each within its query budget and shown
only to staff who may see it; the actions on the page, each offered by
permission, refused without it (403, nothing changed) and audited with a reason;
and the player links every admin list uses."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.admin_story import player_story, registered_sections
from accounts.models import RevokedTokenFamily, User
from accounts.services.sessions import sessions_active
from accounts.tests.factories import UserFactory
from accounts.tests.staff import staff_with
from accounts.tokens import tokens_issue
from casino.admin_tools import player_link
from casino.models import AuditLog
from economy.enums import LedgerReason
from economy.models import Wallet
from economy.services import wallet_adjust, wallet_grant
from economy.tests.factories import player_with_wallet
from events.models import AchievementProgress, EventParticipation
from events.tests.factories import AchievementFactory, EventFactory
from games.models import GameRound
from games.services import slot_spin
from realtime.models import Notification
from shop.models import Order
from shop.services import shop_buy
from shop.tests.factories import GemPriceProductFactory

pytestmark = pytest.mark.django_db

# Every section the apps register, by key (a new app's section is added here on purpose).
EVERY_SECTION = {
    "account",
    "responsible_gaming",
    "sessions",
    "balances",
    "ledger",
    "orders",
    "rounds",
    "events",
    "progress",
    "notifications",
    "audit",
}


def page_of(player: User) -> str:
    return reverse("admin:accounts_user_change", args=[player.pk])


def shown_sections(html: str) -> set[str]:
    return set(re.findall(r'data-section="([a-z_]+)"', html))


def player_with_history(rounds: int = 1, orders: int = 1, events: int = 1, nickname: str | None = None) -> User:
    """A player with ``rounds`` slot rounds, ``orders`` fulfilled gem orders, ``events``
    joined events with an unlocked achievement each, a staff gift (a notification) and a
    login (a session)."""
    fields = {"nickname": nickname} if nickname else {}
    player = player_with_wallet(gold=100_000, gems=10_000, **fields)
    for index in range(rounds):
        slot_spin(user=player, bet_amount=100, idempotency_key=f"spin-{index}")
    product = GemPriceProductFactory()
    for _ in range(orders):
        shop_buy(user=player, idempotency_key=str(uuid.uuid4()), product_sku=product.sku)
    now = timezone.now()
    for _ in range(events):
        EventParticipation.objects.create(event=EventFactory(), user=player, joined_at=now)
        AchievementProgress.objects.create(
            achievement=AchievementFactory(), user=player, target=3, value=3, unlocked_at=now, updated_at=now
        )
    wallet_adjust(actor=None, user=player, currency="gold", amount=5, reason="goodwill")
    tokens_issue(user=player)
    return player


@pytest.fixture
def superuser_client(staff_user: User) -> Client:
    client = Client()
    client.force_login(staff_user)
    return client


# --- The story ----------------------------------------------------------------------------------


def test_a_superuser_sees_the_players_whole_story_with_links_to_each_filtered_list(superuser_client: Client) -> None:
    # Given a player who played, bought, joined an event, got a gift and logged in
    player = player_with_history(nickname="LuckyLou")
    order = Order.objects.get(user=player)
    round_ = GameRound.objects.get(user=player)

    # When staff open the player's page
    response = superuser_client.get(page_of(player))

    # Then every section is there, in order, with the player's figures and rows
    assert response.status_code == 200
    html = response.content.decode()
    assert shown_sections(html) == EVERY_SECTION
    assert [key for key in re.findall(r'data-section="([a-z_]+)"', html)] == [
        section.key for section in registered_sections()
    ]
    wallet = Wallet.objects.get(pk=player.pk)
    assert f"{wallet.gold:,}" in html and f"{wallet.gems:,}" in html
    assert "LuckyLou" in html
    assert order.receipt_code in html and f"#{round_.pk}" in html
    assert EventParticipation.objects.get(user=player).event.title in html
    assert "A gift from the team" in html  # the notification of the staff grant
    assert "wallet_adjust" in html  # the audit trail about the player
    # And each section links to its changelist filtered by the player
    for url in (
        f"/admin/economy/ledgerentry/?wallet__exact={player.pk}",
        f"/admin/shop/order/?user__id__exact={player.pk}",
        f"/admin/games/gameround/?user__id__exact={player.pk}",
        f"/admin/events/eventparticipation/?user__id__exact={player.pk}",
        f"/admin/realtime/notification/?user__id__exact={player.pk}",
    ):
        assert f'href="{url}"' in html, url
        filtered = superuser_client.get(url)
        assert filtered.status_code == 200, url
        assert len(filtered.context["cl"].result_list) >= 1, url


def test_the_filtered_lists_show_only_that_players_rows(superuser_client: Client) -> None:
    # Given two players with history
    player, other = player_with_history(), player_with_history()

    # When staff follow the player's "all orders" and "all ledger entries" links
    orders = superuser_client.get(f"/admin/shop/order/?user__id__exact={player.pk}")
    ledger = superuser_client.get(f"/admin/economy/ledgerentry/?wallet__exact={player.pk}")

    # Then they list that player's rows only
    assert {order.user_id for order in orders.context["cl"].result_list} == {player.pk}
    assert {entry.wallet_id for entry in ledger.context["cl"].result_list} == {player.pk}
    assert other.pk not in {order.user_id for order in orders.context["cl"].result_list}


def test_each_section_reads_the_database_at_most_twice(rf: Any, staff_user: User) -> None:
    # Given a player with a long history and a staff member who may see everything
    player = player_with_history(rounds=3, orders=3, events=3)
    request = rf.get(page_of(player))
    request.user = User.objects.get(pk=staff_user.pk)
    request.user.get_all_permissions()  # the permission cache: not part of any section's budget

    # When each registered section is built
    for registered in registered_sections():
        with CaptureQueriesContext(connection) as queries:
            section = registered.provider(player, request)
        # Then it used at most two queries
        assert section is not None
        assert len(queries) <= 2, (registered.key, [query["sql"] for query in queries])


def test_the_page_costs_the_same_number_of_queries_however_long_the_history(superuser_client: Client) -> None:
    # Given a player with one of everything and a player with many of everything
    short, long = player_with_history(), player_with_history(rounds=12, orders=12, events=8)
    superuser_client.get(page_of(short))  # warm the session and content types

    # When staff open each page
    with CaptureQueriesContext(connection) as short_queries:
        assert superuser_client.get(page_of(short)).status_code == 200
    with CaptureQueriesContext(connection) as long_queries:
        assert superuser_client.get(page_of(long)).status_code == 200

    # Then the count is the same (no query per row) and stays within a small budget
    assert len(long_queries) == len(short_queries)
    # (23 today: the admin's own ~7 -- session, staff, object, the privilege widgets -- and the sections' 16)
    assert len(long_queries) <= 30, [query["sql"] for query in long_queries]


@pytest.mark.parametrize(
    ("role", "seen", "unseen"),
    [
        (
            "support",
            {"account", "responsible_gaming", "sessions", "balances", "ledger", "orders", "rounds"},
            {"events", "progress", "notifications", "audit"},
        ),
        (
            "finance",
            {"account", "responsible_gaming", "sessions", "balances", "ledger", "orders"},
            {"rounds", "events", "progress", "notifications", "audit"},
        ),
        ("admin", EVERY_SECTION, set()),
    ],
)
def test_a_role_sees_only_the_sections_it_may_view(role: str, seen: set[str], unseen: set[str]) -> None:
    # Given a staff member of the role and a player with history
    member = UserFactory(is_staff=True)
    member.groups.add(Group.objects.get(name=role))
    client = Client()
    client.force_login(member)
    player = player_with_history()

    # When they open the player's page
    response = client.get(page_of(player))

    # Then they see their sections and not the others
    assert response.status_code == 200
    assert shown_sections(response.content.decode()) == seen
    assert not seen & unseen


def test_a_support_agent_without_shop_access_sees_no_orders() -> None:
    # Given staff who may view users and wallets but not orders
    client, _ = staff_with("accounts.view_user", "economy.view_wallet")
    player = player_with_history()

    # When they open the player's page
    html = client.get(page_of(player)).content.decode()

    # Then the orders (and their receipt codes) are not on it
    assert "orders" not in shown_sections(html)
    assert Order.objects.get(user=player).receipt_code not in html
    assert "balances" in shown_sections(html)


def actions_on(html: str) -> set[str]:
    return set(re.findall(r'class="button player-action[^"]*">([^<]+)</a>', html))


@pytest.mark.parametrize(
    ("role", "offered", "refused"),
    [
        (
            "support",
            {"Ban", "Revoke all sessions", "Reset password (one-time link)"},
            {"Adjust balance", "Grant reward bundle", "Lift self-exclusion"},
        ),
        ("finance", {"Adjust balance", "Grant reward bundle"}, {"Ban", "Revoke all sessions", "Lift self-exclusion"}),
        (
            "admin",
            {
                "Ban",
                "Revoke all sessions",
                "Reset password (one-time link)",
                "Adjust balance",
                "Grant reward bundle",
                "Lift self-exclusion",
            },
            set(),
        ),
    ],
)
def test_each_role_is_offered_only_the_actions_it_may_take(role: str, offered: set[str], refused: set[str]) -> None:
    # Given a self-excluded player with a wallet, and a staff member of the role
    player = player_with_wallet(gold=10)
    User.objects.filter(pk=player.pk).update(self_excluded_until=timezone.now() + timedelta(days=30))
    member = UserFactory(is_staff=True)
    member.groups.add(Group.objects.get(name=role))
    client = Client()
    client.force_login(member)

    # When they open the player's page
    html = client.get(page_of(player)).content.decode()

    # Then the buttons are exactly the actions they hold
    assert actions_on(html) == offered
    assert not offered & refused


# --- The actions --------------------------------------------------------------------------------

ACTIONS = {
    # page: (permission, what it does to the player)
    "ban": ("accounts.ban_user", lambda player: not player.is_active),
    "unban": ("accounts.ban_user", lambda player: player.is_active),
    "revoke_sessions": ("accounts.revoke_sessions", lambda player: player.token_version == 1),
    "lift_exclusion": ("accounts.lift_self_exclusion", lambda player: player.self_excluded_until is None),
}
AUDITED_AS = {
    "ban": "user_ban",
    "unban": "user_unban",
    "revoke_sessions": "user_sessions_revoke",
    "lift_exclusion": "self_exclusion_lift",
}


def excluded_banned_player() -> User:
    player = UserFactory()
    User.objects.filter(pk=player.pk).update(self_excluded_until=timezone.now() + timedelta(days=30))
    return User.objects.get(pk=player.pk)


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_an_action_asks_for_a_reason_then_calls_its_service_and_is_audited(action: str) -> None:
    # Given a staff member holding the action's permission (and no other), and a player
    permission, done = ACTIONS[action]
    client, _ = staff_with("accounts.view_user", permission)
    player = excluded_banned_player()
    if action == "unban":
        User.objects.filter(pk=player.pk).update(is_active=False)
    url = reverse(f"admin:accounts_user_{action}", args=[player.pk])

    # When they open the page, then confirm without a reason, then with one
    assert client.get(url).status_code == 200
    without = client.post(url, {"reason": "  "})
    audited_without = AuditLog.objects.filter(action=AUDITED_AS[action]).exists()
    unchanged = User.objects.get(pk=player.pk)
    confirmed = client.post(url, {"reason": "asked by the player on chat #42"})

    # Then without a reason nothing happened; with one the service ran, was audited, and staff are back on the page
    assert without.status_code == 200 and without.context["form"].errors
    assert not audited_without
    assert not done(unchanged)
    assert confirmed.status_code == 302 and confirmed["Location"] == page_of(player)
    assert done(User.objects.get(pk=player.pk))
    record = AuditLog.objects.get(action=AUDITED_AS[action])
    assert (record.reason, record.target_id) == ("asked by the player on chat #42", str(player.pk))


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_an_action_is_refused_with_403_to_staff_without_its_permission_and_changes_nothing(action: str) -> None:
    # Given a staff member who may view and change users but lacks the action's permission
    client, _ = staff_with("accounts.view_user", "accounts.change_user")
    player = excluded_banned_player()
    before = User.objects.filter(pk=player.pk).values().get()
    url = reverse(f"admin:accounts_user_{action}", args=[player.pk])

    # When they open the page or post it anyway
    shown = client.get(url)
    posted = client.post(url, {"reason": "trying"})

    # Then both are 403 and the player is untouched, with nothing audited
    assert (shown.status_code, posted.status_code) == (403, 403)
    assert User.objects.filter(pk=player.pk).values().get() == before
    assert not AuditLog.objects.exists()


def test_revoking_every_session_makes_the_players_next_api_call_401(user: User) -> None:
    # Given a logged-in player and a support agent
    access = tokens_issue(user=user).access
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    assert api.get("/api/auth/me").status_code == 200
    client, _ = staff_with("accounts.view_user", "accounts.revoke_sessions")

    # When the agent revokes every session from the player's page
    client.post(reverse("admin:accounts_user_revoke_sessions", args=[user.pk]), {"reason": "account shared"})

    # Then the player's token no longer works
    assert api.get("/api/auth/me").status_code == 401


def test_revoking_one_session_ends_that_login_only(user: User) -> None:
    # Given a player logged in on a phone and a laptop, and a support agent
    phone, laptop = tokens_issue(user=user), tokens_issue(user=user)
    client, agent = staff_with("accounts.view_user", "accounts.revoke_sessions")
    sessions = sessions_active(user=user)
    assert len(sessions) == 2
    phone_session = next(s for s in sessions if s.token_id != max(x.token_id for x in sessions))

    # When the agent revokes the phone's session (the "revoke" link on the sessions section)
    page = client.get(page_of(user)).content.decode()
    link = reverse("admin:accounts_user_revoke_session", args=[user.pk, phone_session.family])
    assert f'href="{link}"' in page
    response = client.post(link, {"reason": "lost phone"})

    # Then that session is gone and its tokens refused, the laptop's still works, and it is audited
    assert response.status_code == 302
    assert [s.family for s in sessions_active(user=user)] != [phone_session.family]
    assert len(sessions_active(user=user)) == 1
    assert RevokedTokenFamily.objects.filter(family=phone_session.family, user=user).exists()
    results = {}
    for name, pair in (("phone", phone), ("laptop", laptop)):
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {pair.access}")
        results[name] = api.get("/api/auth/me").status_code
    assert results == {"phone": 401, "laptop": 200}
    record = AuditLog.objects.get(action="session_revoke")
    assert (record.actor_id, record.data["family"]) == (agent.pk, phone_session.family.hex)


def test_a_login_from_before_sessions_were_stored_is_listed_and_ended_with_every_session(user: User) -> None:
    # Given a refresh token stored the way the library stores it (without our claims: an older login)
    RefreshToken.for_user(user)
    client, _ = staff_with("accounts.view_user", "accounts.revoke_sessions")

    # When support looks at the player's sessions
    html = client.get(page_of(user)).content.decode()

    # Then it is listed, without a "revoke" link of its own; ending every session ends it
    assert [session.family for session in sessions_active(user=user)] == [None]
    assert "older login" in html and 'class="revoke-session"' not in html
    client.post(reverse("admin:accounts_user_revoke_sessions", args=[user.pk]), {"reason": "shared account"})
    assert sessions_active(user=user) == []


def test_revoking_a_session_the_player_does_not_have_is_refused_and_changes_nothing(user: User) -> None:
    client, _ = staff_with("accounts.view_user", "accounts.revoke_sessions")
    tokens_issue(user=user)

    response = client.post(
        reverse("admin:accounts_user_revoke_session", args=[user.pk, uuid.uuid4()]), {"reason": "typo"}
    )

    assert response.status_code == 200
    assert "no active session" in response.content.decode()
    assert not RevokedTokenFamily.objects.exists()
    assert not AuditLog.objects.exists()


# --- Player links -------------------------------------------------------------------------------


def test_a_player_link_names_the_player_and_leads_to_their_page() -> None:
    player = UserFactory(nickname="Ace<b>", site_id="ace01")

    assert player_link(player) == (
        f'<a href="/admin/accounts/user/{player.pk}/change/" class="player-link">Ace&lt;b&gt;</a> '
        '<span class="quiet">(ace01)</span>'
    )
    assert (
        player_link(player.pk, "Ace")
        == f'<a href="/admin/accounts/user/{player.pk}/change/" class="player-link">Ace</a>'
    )
    assert player_link(player.pk) == (
        f'<a href="/admin/accounts/user/{player.pk}/change/" class="player-link">player #{player.pk}</a>'
    )
    assert player_link(None) == "-"


@pytest.mark.parametrize(
    "changelist",
    [
        "/admin/economy/wallet/",
        "/admin/economy/ledgerentry/",
        "/admin/shop/order/",
        "/admin/games/gameround/",
        "/admin/games/playergamestats/",
        "/admin/events/eventparticipation/",
        "/admin/events/achievementprogress/",
        "/admin/realtime/notification/",
    ],
)
def test_every_list_naming_a_player_shows_the_nickname_linking_to_their_page(
    superuser_client: Client, changelist: str
) -> None:
    # Given a player with history
    player = player_with_history(nickname="Zed")

    # When staff open a list of things the player did
    html = superuser_client.get(changelist).content.decode()

    # Then the player is named by nickname, linking to the player's page
    assert f'<a href="{page_of(player)}" class="player-link">Zed</a>' in html


def test_the_outbox_names_a_player_by_id_linking_to_their_page(superuser_client: Client) -> None:
    # Given a player whose actions left outbox rows (realtime reads no user table, so no nickname)
    player = player_with_history(nickname="Zed")

    # When staff open the outbox
    html = superuser_client.get("/admin/realtime/outboxevent/").content.decode()

    # Then each row links to the player's page
    assert f'<a href="{page_of(player)}" class="player-link">player #{player.pk}</a>' in html


def test_a_wallet_is_titled_with_its_players_nickname_without_a_query_of_its_own(superuser_client: Client) -> None:
    player = player_with_wallet(nickname="Goldie")

    page = superuser_client.get(reverse("admin:economy_wallet_change", args=[player.pk])).content.decode()
    bare = Wallet.objects.get(pk=player.pk)
    with CaptureQueriesContext(connection) as queries:
        label = str(bare)

    assert "wallet of Goldie" in page
    assert (label, len(queries)) == (f"wallet of {player.pk}", 0)
    assert str(Wallet.objects.select_related("user").get(pk=player.pk)) == "wallet of Goldie"


def test_the_ledger_entry_page_names_the_wallet_by_its_players_nickname(superuser_client: Client) -> None:
    player = player_with_wallet(nickname="Ledgy")
    result = wallet_grant(user=player, bundle={"gold": 7}, reason=LedgerReason.EVENT_REWARD, idempotency_key="k1")

    page = superuser_client.get(reverse("admin:economy_ledgerentry_change", args=[result.entries[0].pk]))

    assert "wallet of Ledgy" in page.content.decode()


def test_the_story_of_a_player_without_a_wallet_offers_a_grant_that_opens_one(rf: Any, staff_user: User) -> None:
    # Given an account that never signed up (no wallet)
    player = UserFactory()
    request = rf.get("/")
    request.user = staff_user

    # When its story is built
    balances = next(shown for shown in player_story(player, request) if shown.key == "balances")

    # Then it says so, and offers the grant only (an adjustment needs a wallet)
    assert [figure.value for figure in balances.section.figures] == ["none yet"]
    assert [action.label for action in balances.section.actions] == ["Grant reward bundle"]
    assert not Notification.objects.exists()
