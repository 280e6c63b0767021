"""Staff roles (design promise 7): support, finance, live-ops and admin are
Django groups created by a data migration from ``STAFF_ROLES``. Each role is
proven through the back office with a logged-in staff member: what it can see,
which actions it can run, where it gets 403."""

from __future__ import annotations

import importlib
import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.test import Client
from django.utils import timezone

from accounts.models import User
from accounts.services.staff import STAFF_ROLES, staff_roles_sync
from accounts.tests.factories import UserFactory
from casino.models import AuditLog
from economy.enums import Currency, VipTier
from economy.models import Wallet
from economy.tests.factories import player_with_wallet
from shop.models import Order, OrderStatus, PriceType, Product, ProductKind
from shop.services import shop_buy

pytestmark = pytest.mark.django_db

ROLES_MIGRATION = "accounts.migrations.0006_staff_roles"
# Later runs of staff_roles_sync, after the migrations of apps that came later (games, events).
ROLES_MIGRATIONS = (
    ROLES_MIGRATION,
    "accounts.migrations.0007_staff_roles_games",
    "accounts.migrations.0008_staff_roles_events",
)


def role_labels(name: str) -> set[str]:
    group = Group.objects.get(name=name)
    return {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")}


@pytest.fixture
def roles() -> None:
    """The groups synced from the code table before the test (the root conftest restores them after
    a transactional test; syncing here too keeps these tests about the table, whatever ran before)."""
    staff_roles_sync()


def member_of(role: str) -> tuple[Client, User]:
    staff = UserFactory(is_staff=True)
    staff.groups.add(Group.objects.get(name=role))
    client = Client()
    client.force_login(staff)
    return client, staff


def offered_actions(client: Client, url: str) -> set[str]:
    form = client.get(url).context["action_form"]
    return set() if form is None else {name for name, _ in form.fields["action"].choices if name}


def run_action(client: Client, url: str, action: str, objects: list[Any], **extra: Any) -> Any:
    data = {
        "action": action,
        "_selected_action": [obj.pk for obj in objects],
        "apply": "1",
        "reason": "ticket",
        **extra,
    }
    return client.post(url, data)


def fulfilled_gold_order() -> Order:
    product = Product.objects.create(
        sku="gems-for-gold",
        name="Gems for gold",
        kind=ProductKind.GEM_PACK,
        price_type=PriceType.GOLD,
        price_amount=1000,
        grants={Currency.GEMS: 50},
    )
    order = shop_buy(
        user=player_with_wallet(gold=5000), product_sku=product.sku, idempotency_key=str(uuid.uuid4())
    ).order
    assert order.status == OrderStatus.FULFILLED
    return order


def adjust(client: Client, player: Any) -> Any:
    return client.post(
        f"/admin/economy/wallet/{player.pk}/adjust/",
        {"currency": Currency.GOLD, "amount": "100", "reason": "goodwill", "nonce": str(uuid.uuid4())},
    )


def product_add(client: Client) -> Any:
    return client.post(
        "/admin/shop/product/add/",
        {
            "sku": "spring-gems",
            "name": "Spring gems",
            "description": "",
            "kind": ProductKind.GEM_PACK,
            "price_type": PriceType.MONEY,
            "price_amount": "499",
            "price_currency": "USD",
            "grants": '{"gems": 100}',
            "grant_items": "[]",
            "is_active": "on",
            "sort_order": "0",
            "min_vip_tier": "",
        },
    )


# --- the migration ---------------------------------------------------------------------------


def test_the_migration_creates_the_four_roles_with_missing_permissions_from_historical_models() -> None:
    # Given no roles and none of the custom permissions (as before post_migrate ever ran)
    Group.objects.filter(name__in=[role.name for role in STAFF_ROLES]).delete()
    Permission.objects.filter(codename__in=["ban_user", "adjust_balance", "refund_order", "retry_outbox"]).delete()
    migration = importlib.import_module(ROLES_MIGRATION)
    loader = MigrationLoader(connection)
    state = loader.project_state([tuple(dependency) for dependency in migration.Migration.dependencies])

    # When the migration's function runs with the historical models of its dependencies
    with connection.schema_editor() as schema_editor:
        migration.create_roles(state.apps, schema_editor)

    # Then the four groups exist with the permissions the code's table names
    assert sorted(Group.objects.values_list("name", flat=True)) == ["admin", "finance", "live-ops", "support"]
    assert {"accounts.ban_user", "accounts.revoke_sessions"} <= role_labels("support")
    assert {"economy.adjust_balance", "shop.refund_order"} <= role_labels("finance")
    assert "realtime.retry_outbox" in role_labels("admin")


def test_the_migration_depends_on_every_app_whose_permissions_the_roles_name() -> None:
    depended_on = {app for name in ROLES_MIGRATIONS for app, _ in importlib.import_module(name).Migration.dependencies}
    loader = MigrationLoader(connection)
    apps_with_migrations = {app for app, _ in loader.disk_migrations}
    named = {label.split(".", 1)[0] for role in STAFF_ROLES for label in role.permissions}
    named |= {app for role in STAFF_ROLES for app in role.all_of_apps}

    assert named & apps_with_migrations <= depended_on


def test_the_roles_in_the_database_are_exactly_the_code_table_and_syncing_again_changes_nothing(roles: None) -> None:
    # Given a member of "support", and a permission someone added to the group by hand
    agent = UserFactory(is_staff=True)
    support = Group.objects.get(name="support")
    support.user_set.add(agent)
    support.permissions.add(Permission.objects.get(codename="adjust_balance"))

    # When the roles are synced again (strict: every permission named must exist)
    synced = staff_roles_sync(strict=True)

    # Then every group holds exactly its table's permissions, and the member stays
    for role in STAFF_ROLES:
        assert role_labels(role.name) == set(synced[role.name])
        assert role.permissions <= set(synced[role.name])
    assert "economy.adjust_balance" not in role_labels("support")
    assert list(support.user_set.all()) == [agent]
    assert Group.objects.filter(name="support").count() == 1


def test_no_role_grants_privileges_or_holds_permissions_on_groups(roles: None) -> None:
    for role in STAFF_ROLES:
        labels = role_labels(role.name)
        assert "accounts.grant_privileges" not in labels
        assert not {"auth.add_group", "auth.change_group", "auth.delete_group"} & labels
    assert "accounts.lift_self_exclusion" in role_labels("admin")
    assert "accounts.lift_self_exclusion" not in role_labels("support") | role_labels("finance")


# --- support ---------------------------------------------------------------------------------


def test_support_looks_players_up_bans_and_ends_sessions_but_nothing_else(roles: None) -> None:
    client, agent = member_of("support")
    player = player_with_wallet(gold=500)
    excluded = UserFactory(self_excluded_until=timezone.now() + timedelta(days=30))
    order = fulfilled_gold_order()

    # Can see players, wallets, the ledger and orders
    for page in (
        "/admin/accounts/user/",
        "/admin/economy/wallet/",
        "/admin/economy/ledgerentry/",
        "/admin/shop/order/",
    ):
        assert client.get(page).status_code == 200, page
    # Can ban (with a reason, audited) and end sessions; cannot lift a self-exclusion
    assert offered_actions(client, "/admin/accounts/user/") == {"ban_users", "unban_users", "revoke_sessions"}
    assert run_action(client, "/admin/accounts/user/", "ban_users", [player]).status_code == 302
    assert User.objects.get(pk=player.pk).is_active is False
    assert AuditLog.objects.get(action="user_ban").actor == agent
    run_action(client, "/admin/accounts/user/", "lift_self_exclusion", [excluded])
    assert User.objects.get(pk=excluded.pk).self_excluded_until is not None
    # Gets 403 on money, the catalog and editing players; no order action is offered
    assert adjust(client, player).status_code == 403
    assert product_add(client).status_code == 403
    assert client.post(f"/admin/accounts/user/{player.pk}/change/", {"nickname": "x"}).status_code == 403
    assert offered_actions(client, "/admin/shop/order/") == set()
    run_action(client, "/admin/shop/order/", "refund_orders", [order])
    assert Order.objects.get(pk=order.pk).status == OrderStatus.FULFILLED
    assert Wallet.objects.get(pk=player.pk).gold == 500


# --- finance ---------------------------------------------------------------------------------


def test_finance_refunds_settles_reviews_and_adjusts_but_cannot_ban_or_touch_the_catalog(roles: None) -> None:
    client, clerk = member_of("finance")
    player = player_with_wallet(gold=500)
    order = fulfilled_gold_order()

    # Can see orders, wallets, the ledger and webhooks
    for page in (
        "/admin/shop/order/",
        "/admin/economy/wallet/",
        "/admin/economy/ledgerentry/",
        "/admin/shop/webhookevent/",
    ):
        assert client.get(page).status_code == 200, page
    # Can run every order action; refunds and adjusts (audited)
    assert offered_actions(client, "/admin/shop/order/") == {
        "settle_orders",
        "refund_orders",
        "approve_review",
        "reject_review",
    }
    assert run_action(client, "/admin/shop/order/", "refund_orders", [order]).status_code == 302
    assert Order.objects.get(pk=order.pk).status == OrderStatus.REFUNDED
    assert adjust(client, player).status_code == 302
    assert Wallet.objects.get(pk=player.pk).gold == 600
    assert {record.actor for record in AuditLog.objects.filter(action__in=["order_refund", "wallet_adjust"])} == {clerk}
    # Cannot ban players, change VIP tiers, or touch the catalog and invite codes
    assert offered_actions(client, "/admin/accounts/user/") == set()
    run_action(client, "/admin/accounts/user/", "ban_users", [player])
    assert User.objects.get(pk=player.pk).is_active is True
    assert offered_actions(client, "/admin/economy/wallet/") == set()
    run_action(client, "/admin/economy/wallet/", "change_vip_tier", [player], tier=VipTier.VIP)
    assert Wallet.objects.get(pk=player.pk).vip_tier == VipTier.STANDARD
    assert product_add(client).status_code == 403
    assert client.get("/admin/accounts/invitecode/").status_code == 403


# --- live-ops --------------------------------------------------------------------------------


def test_live_ops_runs_the_catalog_but_sees_no_players_orders_or_money(roles: None) -> None:
    client, _ = member_of("live-ops")
    player = player_with_wallet(gold=500)

    # Can manage products, limited packages and promo codes
    for page in ("/admin/shop/product/", "/admin/shop/limitedpackage/add/", "/admin/shop/promocode/add/"):
        assert client.get(page).status_code == 200, page
    assert product_add(client).status_code == 302
    assert Product.objects.filter(sku="spring-gems").exists()
    # Gets 403 on players, orders, wallets and adjustments; cannot delete products
    for page in (
        "/admin/accounts/user/",
        "/admin/shop/order/",
        "/admin/economy/wallet/",
        "/admin/economy/ledgerentry/",
    ):
        assert client.get(page).status_code == 403, page
    assert adjust(client, player).status_code == 403
    product = Product.objects.get(sku="spring-gems")
    assert client.post(f"/admin/shop/product/{product.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Product.objects.filter(pk=product.pk).exists()


# --- admin -----------------------------------------------------------------------------------


def test_admin_does_everything_but_grant_privileges(roles: None) -> None:
    client, chief = member_of("admin")
    excluded = UserFactory(self_excluded_until=timezone.now() + timedelta(days=30))
    player = player_with_wallet(gold=500)
    superuser = UserFactory(is_staff=True, is_superuser=True)

    # Can lift a self-exclusion and change a VIP tier (audited)
    assert run_action(client, "/admin/accounts/user/", "lift_self_exclusion", [excluded]).status_code == 302
    assert User.objects.get(pk=excluded.pk).self_excluded_until is None
    assert (
        run_action(client, "/admin/economy/wallet/", "change_vip_tier", [player], tier=VipTier.VIP).status_code == 302
    )
    assert Wallet.objects.get(pk=player.pk).vip_tier == VipTier.VIP
    assert {record.actor for record in AuditLog.objects.all()} == {chief}
    # Cannot make anyone superuser or staff, nor put anyone (themselves included) in a group
    admins = Group.objects.get(name="admin")
    for target in (player, chief):
        client.post(
            f"/admin/accounts/user/{target.pk}/change/",
            {
                "site_id": target.site_id,
                "nickname": target.nickname,
                "phone_number": target.phone_number,
                "is_staff": "on",
                "is_superuser": "on",
                "groups": [admins.pk],
            },
        )
    assert User.objects.get(pk=player.pk).is_staff is False
    assert list(User.objects.get(pk=player.pk).groups.all()) == []
    assert User.objects.get(pk=chief.pk).is_superuser is False
    # Cannot change a superuser's password, nor edit a group's permissions
    assert client.get(f"/admin/accounts/user/{superuser.pk}/password/").status_code == 403
    assert client.get(f"/admin/auth/group/{admins.pk}/change/").status_code == 200  # may look ...
    assert client.post(f"/admin/auth/group/{admins.pk}/change/", {"name": "admin"}).status_code == 403  # ... not change


def test_only_a_superuser_puts_staff_in_a_role(roles: None, staff_client: Any) -> None:
    newcomer = UserFactory()
    support = Group.objects.get(name="support")

    response = staff_client.post(
        f"/admin/accounts/user/{newcomer.pk}/change/",
        {
            "site_id": newcomer.site_id,
            "nickname": newcomer.nickname,
            "phone_number": newcomer.phone_number,
            "is_staff": "on",
            "groups": [support.pk],
        },
    )

    assert response.status_code == 302
    newcomer = User.objects.get(pk=newcomer.pk)
    assert newcomer.is_staff and newcomer.has_perm("accounts.ban_user")
    assert not newcomer.has_perm("accounts.lift_self_exclusion")
