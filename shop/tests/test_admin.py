"""The shop back office: changelists, catalog forms, limited-package stock,
order actions (settle, refund, fraud review) and webhook re-processing."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from django import forms
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.tests.factories import UserFactory
from casino.models import AuditLog
from economy.enums import Currency
from economy.models import Wallet
from economy.tests.factories import player_with_wallet
from shop import fraud
from shop.admin import price_label
from shop.models import (
    DiscountType,
    FraudAction,
    FraudDecision,
    LimitedPackage,
    Order,
    OrderStatus,
    OwnedItem,
    PriceType,
    Product,
    ProductKind,
    PromoCode,
    PromoRedemption,
    SandboxPayment,
    SandboxPaymentStatus,
    WebhookEvent,
    WebhookStatus,
)
from shop.providers.sandbox import sandbox_decide
from shop.services import shop_buy

pytestmark = pytest.mark.django_db

GOLD, GEMS = Currency.GOLD, Currency.GEMS


def messages_of(response: Any) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def listed(response: Any) -> list[Any]:
    return list(response.context["cl"].result_list)


def run_action(client: APIClient, model: str, action: str, objects: list[Any], **extra: Any) -> Any:
    """Tick ``objects`` on the changelist, choose ``action`` and, with ``extra``
    (e.g. apply + reason for an action that asks for a reason), submit."""
    data = {"action": action, "_selected_action": [obj.pk for obj in objects], **extra}
    return client.post(reverse(f"admin:shop_{model}_changelist"), data, follow=True)


def gold_product(**fields: Any) -> Product:
    defaults: dict[str, Any] = {
        "sku": "gems-for-gold",
        "name": "Gems for gold",
        "kind": ProductKind.GEM_PACK,
        "price_type": PriceType.GOLD,
        "price_amount": 1000,
        "grants": {GEMS: 50},
        "grant_items": ["avatar_frame"],
    }
    return Product.objects.create(**{**defaults, **fields})


def money_product(**fields: Any) -> Product:
    defaults: dict[str, Any] = {
        "sku": "starter-gems",
        "name": "Starter gems",
        "kind": ProductKind.GEM_PACK,
        "price_type": PriceType.MONEY,
        "price_amount": 1299,
        "price_currency": "USD",
        "grants": {GEMS: 500},
    }
    return Product.objects.create(**{**defaults, **fields})


def package_for(product: Product, *, code: str = "launch-week", stock: int = 5, **fields: Any) -> LimitedPackage:
    now = timezone.now()
    defaults: dict[str, Any] = {
        "starts_at": now - timedelta(hours=1),
        "ends_at": now + timedelta(days=1),
        "total_stock": stock,
        "remaining_stock": stock,
        "per_player_limit": 3,
    }
    return LimitedPackage.objects.create(product=product, code=code, **{**defaults, **fields})


def buy(player: Any, **kwargs: Any) -> Order:
    result = shop_buy(user=player, idempotency_key=str(uuid.uuid4()), **kwargs)
    return result.order


@pytest.fixture
def player() -> Any:
    return player_with_wallet(gold=10_000)


@pytest.fixture
def fulfilled_gold_order(player: Any) -> Order:
    order = buy(player, product_sku=gold_product().sku)
    assert order.status == OrderStatus.FULFILLED
    return order


@pytest.fixture
def pending_money_order(player: Any) -> Order:
    order = buy(player, product_sku=money_product().sku, ip="203.0.113.7", device_id="device-1")
    assert order.status == OrderStatus.PENDING and order.provider_reference
    return order


def form_data(form: Any, **changes: Any) -> dict[str, Any]:
    """The POST a browser would send for ``form`` as rendered, with ``changes``."""
    data: dict[str, Any] = {}
    for bound in form:
        value = bound.value()  # already prepared for the widget
        if value is None or value is False:
            continue
        if isinstance(bound.field.widget, forms.SplitDateTimeWidget):
            if isinstance(value, list):  # a bound form re-shown: [date, time] as posted
                date_text, time_text = value
            else:
                local = timezone.localtime(value)
                date_text, time_text = local.strftime("%Y-%m-%d"), local.strftime("%H:%M:%S")
            data[f"{bound.html_name}_0"], data[f"{bound.html_name}_1"] = date_text, time_text
        else:
            data[bound.html_name] = "on" if value is True else value
    data.update(changes)
    return data


# --- changelists ----------------------------------------------------------------------------


def test_price_label_reads_money_in_major_units_and_game_currency_as_a_count() -> None:
    assert price_label(1299, PriceType.MONEY, "USD") == "12.99 USD"
    assert price_label(1500, PriceType.MONEY, "krw") == "1,500 KRW"
    assert price_label(500, PriceType.GEMS, "gems") == "500 gems"
    assert price_label(5000, PriceType.GOLD, "gold") == "5,000 gold"


@pytest.mark.parametrize(
    ("model", "query"),
    [
        ("product", {"kind__exact": "gem_pack", "price_type__exact": "gold", "is_active__exact": "1", "q": "gems"}),
        ("product", {"is_highlighted__exact": "0", "q": "gems-for"}),
        ("limitedpackage", {"is_active__exact": "1", "sale": "on_sale", "q": "launch"}),
        ("limitedpackage", {"sale": "upcoming"}),
        ("limitedpackage", {"sale": "ended", "q": "starter"}),
        ("limitedpackage", {"sale": "paused"}),
        ("promocode", {"is_active__exact": "1", "discount_type__exact": "percent", "q": "spring"}),
        ("order", {"status__exact": "fulfilled", "provider": "wallet", "price_type__exact": "gold", "q": "player"}),
        ("order", {"created_at__gte": "2000-01-01 00:00:00+00:00", "q": "R"}),
        ("webhookevent", {"status__exact": "failed", "provider": "sandbox", "signature_valid__exact": "1", "q": "msg"}),
        ("webhookevent", {"error_code": "webhook_unknown_order"}),
        ("frauddecision", {"action__exact": "allow", "q": "player"}),
        ("sandboxpayment", {"status__exact": "created", "q": "sbx"}),
        ("owneditem", {"q": "avatar"}),
        ("promoredemption", {"q": "SPRING"}),
    ],
)
def test_every_shop_changelist_loads_with_filters_and_search(
    staff_client: APIClient,
    fulfilled_gold_order: Order,
    pending_money_order: Order,
    model: str,
    query: dict[str, str],
) -> None:
    # Given one of everything the shop records
    package_for(pending_money_order.product)
    promo = PromoCode.objects.create(code="SPRING10", discount_type=DiscountType.PERCENT, discount_value=10)
    PromoRedemption.objects.create(
        promo=promo, user=fulfilled_gold_order.user, order=fulfilled_gold_order, created_at=timezone.now()
    )
    WebhookEvent.objects.create(
        provider="sandbox",
        external_id="msg_failed",
        event_type="payment.succeeded",
        status=WebhookStatus.FAILED,
        error_code="webhook_unknown_order",
        signature_valid=True,
        payload={"type": "payment.succeeded", "data": {"reference": "nope"}},
        received_at=timezone.now(),
    )

    # When staff open the list with its filters and a search
    response = staff_client.get(reverse(f"admin:shop_{model}_changelist"), query)

    # Then it renders (no unknown filter parameter, no broken column)
    assert response.status_code == 200, response.content[:500]
    assert "cl" in response.context
    # And every row's page opens too
    for obj in response.context["cl"].queryset[:5]:
        page = staff_client.get(reverse(f"admin:shop_{model}_change", args=[obj.pk]))
        assert page.status_code == 200


def test_order_list_shows_the_total_with_its_currency_and_finds_orders_by_player(
    staff_client: APIClient, fulfilled_gold_order: Order, pending_money_order: Order
) -> None:
    other = player_with_wallet(gold=5_000, site_id="someone-else")
    buy(other, product_sku="gems-for-gold")

    response = staff_client.get(reverse("admin:shop_order_changelist"), {"q": fulfilled_gold_order.user.site_id})

    assert set(listed(response)) == {fulfilled_gold_order, pending_money_order}
    content = response.content.decode()
    assert '<td class="field-total_display">1,000 gold</td>' in content
    assert '<td class="field-total_display">12.99 USD</td>' in content
    by_reference = staff_client.get(
        reverse("admin:shop_order_changelist"), {"q": pending_money_order.provider_reference}
    )
    assert listed(by_reference) == [pending_money_order]


def test_order_page_is_read_only_with_its_transitions(staff_client: APIClient, fulfilled_gold_order: Order) -> None:
    url = reverse("admin:shop_order_change", args=[fulfilled_gold_order.pk])

    response = staff_client.get(url)
    posted = staff_client.post(url, {"total": 1, "status": "refunded"})

    content = response.content.decode()
    assert response.status_code == 200
    assert 'name="total"' not in content and 'name="_save"' not in content
    assert "paid with gold" in content and "granted" in content  # the transitions inline
    assert posted.status_code == 403
    fulfilled_gold_order.refresh_from_db()
    assert (fulfilled_gold_order.status, fulfilled_gold_order.total) == (OrderStatus.FULFILLED, 1000)
    assert staff_client.get(reverse("admin:shop_order_add")).status_code == 403


# --- order actions --------------------------------------------------------------------------


def test_refund_action_asks_for_a_reason_then_refunds_a_fulfilled_gold_order_and_writes_an_audit_log(
    staff_client: APIClient, staff_user: Any, player: Any, fulfilled_gold_order: Order
) -> None:
    # Given a fulfilled gold order: 1000 gold paid, 50 gems and an item granted
    assert Wallet.objects.get(pk=player.pk).gold == 9_000
    assert Wallet.objects.get(pk=player.pk).gems == 50

    # When staff choose "Refund" for it
    asked = run_action(staff_client, "order", "refund_orders", [fulfilled_gold_order])

    # Then they are asked for a reason first, and nothing happened yet
    assert asked.status_code == 200
    assert "Refund: 1 selected." in asked.content.decode()
    assert Order.objects.get(pk=fulfilled_gold_order.pk).status == OrderStatus.FULFILLED

    # When they give one and confirm
    done = run_action(
        staff_client, "order", "refund_orders", [fulfilled_gold_order], apply="1", reason="bought by mistake"
    )

    # Then the order is refunded: the price comes back, the grants are taken back
    order = Order.objects.get(pk=fulfilled_gold_order.pk)
    assert order.status == OrderStatus.REFUNDED and order.refunded_at is not None
    wallet = Wallet.objects.get(pk=player.pk)
    assert (wallet.gold, wallet.gems) == (10_000, 0)
    assert OwnedItem.objects.get(user=player, item_code="avatar_frame").quantity == 0
    assert order.transitions.last().actor == staff_user
    # And the staff member, the reason and the order are in the audit log
    log = AuditLog.objects.get(action="order_refund")
    assert (log.actor, log.target_type, log.target_id, log.reason) == (
        staff_user,
        "shop.order",
        str(order.pk),
        "bought by mistake",
    )
    # And the page reports the row and the count
    reported = messages_of(done)
    assert f"{order.receipt_code}: refunded 1,000 gold" in reported
    assert "Refunded 1 order(s)." in reported


def test_refund_action_reports_an_order_that_cannot_be_refunded_and_changes_nothing(
    staff_client: APIClient, pending_money_order: Order
) -> None:
    done = run_action(staff_client, "order", "refund_orders", [pending_money_order], apply="1", reason="asked")

    assert Order.objects.get(pk=pending_money_order.pk).status == OrderStatus.PENDING
    assert any("not in a state that allows this" in message for message in messages_of(done))
    assert not any(message.startswith("Refunded") for message in messages_of(done))
    assert not AuditLog.objects.exists()


def test_settle_action_asks_the_provider_and_fulfils_a_paid_order(
    staff_client: APIClient, staff_user: Any, player: Any, pending_money_order: Order
) -> None:
    # Given the player paid at the provider but its webhook never arrived
    sandbox_decide(reference=pending_money_order.provider_reference, approve=True)

    done = run_action(staff_client, "order", "settle_orders", [pending_money_order], apply="1", reason="webhook lost")

    order = Order.objects.get(pk=pending_money_order.pk)
    assert order.status == OrderStatus.FULFILLED
    assert Wallet.objects.get(pk=player.pk).gems == 500
    assert f"{order.receipt_code}: settlement: fulfilled (status fulfilled)" in messages_of(done)
    assert AuditLog.objects.get(action="order_settle").actor == staff_user


def test_review_actions_approve_one_held_order_and_reject_another(
    staff_client: APIClient, staff_user: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given two orders the fraud rules held for review, one of them on a limited package
    real_evaluate = fraud.fraud_evaluate

    def review_everything(*, features: Any) -> Any:
        verdict = real_evaluate(features=features)
        return type(verdict)(
            action=FraudAction.REVIEW,
            score=40,
            matched_rules=[{"name": "test_review", "points": 40}],
            features=verdict.features,
            rules_version=verdict.rules_version,
        )

    monkeypatch.setattr(fraud, "fraud_evaluate", review_everything)
    product = money_product()
    package = package_for(money_product(sku="limited-gems", name="Limited gems"), stock=2)
    first = buy(player_with_wallet(), product_sku=product.sku)
    second = buy(player_with_wallet(), package_code=package.code)
    assert first.status == second.status == OrderStatus.PENDING_REVIEW
    assert LimitedPackage.objects.get(pk=package.pk).remaining_stock == 1

    # When staff approve the first and reject the second
    approved = run_action(staff_client, "order", "approve_review", [first], apply="1", reason="known player")
    rejected = run_action(staff_client, "order", "reject_review", [second], apply="1", reason="stolen card")

    # Then the first goes to payment, the second fails and returns its stock
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == OrderStatus.PENDING and first.provider_reference
    assert (second.status, second.failure_reason) == (OrderStatus.FAILED, "fraud_review_rejected")
    assert LimitedPackage.objects.get(pk=package.pk).remaining_stock == 2
    assert f"{first.receipt_code}: review approved, now pending payment" in messages_of(approved)
    assert f"{second.receipt_code}: review rejected, now failed" in messages_of(rejected)
    assert AuditLog.objects.get(action="order_review_approve").reason == "known player"
    assert AuditLog.objects.get(action="order_review_reject").reason == "stolen card"
    # And the fraud decision page shows the rule and the features
    decision = FraudDecision.objects.get(order=first)
    page = staff_client.get(reverse("admin:shop_frauddecision_change", args=[decision.pk])).content.decode()
    assert "<td>test_review</td><td>40</td>" in page
    assert "<td>is_new_player_24h</td><td>True</td>" in page


def test_order_actions_are_offered_only_to_staff_who_may_change_orders(
    staff_client: APIClient, fulfilled_gold_order: Order
) -> None:
    viewer = UserFactory(is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_order"))
    viewer_client = APIClient()
    viewer_client.force_login(viewer)

    as_viewer = viewer_client.get(reverse("admin:shop_order_changelist"))
    as_staff = staff_client.get(reverse("admin:shop_order_changelist"))
    refused = run_action(viewer_client, "order", "refund_orders", [fulfilled_gold_order], apply="1", reason="x")

    assert as_viewer.status_code == 200 and as_viewer.context["action_form"] is None
    actions = dict(as_staff.context["action_form"].fields["action"].choices)
    assert {"settle_orders", "refund_orders", "approve_review", "reject_review"} <= set(actions)
    assert refused.status_code == 200
    assert Order.objects.get(pk=fulfilled_gold_order.pk).status == OrderStatus.FULFILLED


# --- products -------------------------------------------------------------------------------


def product_post(**changes: Any) -> dict[str, Any]:
    data = {
        "sku": "starter-gems",
        "name": "Starter gems",
        "description": "",
        "kind": ProductKind.GEM_PACK,
        "price_type": PriceType.MONEY,
        "price_amount": "1299",
        "price_currency": "usd",
        "grants": '{"gems": 500}',
        "grant_items": "[]",
        "is_active": "on",
        "sort_order": "0",
        "min_vip_tier": "",
    }
    data.update(changes)
    return data


def test_product_form_refuses_a_money_price_without_a_currency(staff_client: APIClient) -> None:
    response = staff_client.post(reverse("admin:shop_product_add"), product_post(price_currency=""))

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["price_currency"] == ["A real-money price needs an ISO 4217 currency code, e.g. USD."]
    assert not Product.objects.exists()


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"price_currency": "US"}, "price_currency", "three-letter ISO 4217"),
        ({"price_type": PriceType.GEMS, "price_currency": "USD"}, "price_currency", "has no currency"),
        ({"price_amount": "0"}, "price_amount", "at least 1"),
        ({"grants": '{"diamonds": 5}'}, "grants", "unknown currency 'diamonds'"),
        ({"grants": '{"gems": -5}'}, "grants", "positive whole number"),
        ({"grants": '{"gems": 2.5}'}, "grants", "positive whole number"),
        ({"grants": '{"gems": true}'}, "grants", "positive whole number"),
        ({"grants": "[500]"}, "grants", "JSON object"),
        ({"grant_items": '[""]'}, "grant_items", "item codes"),
        ({"grants": "{}", "grant_items": "[]"}, "__all__", "grants nothing"),
    ],
)
def test_product_form_refuses_inconsistent_prices_and_grants(
    staff_client: APIClient, changes: dict[str, str], field: str, message: str
) -> None:
    response = staff_client.post(reverse("admin:shop_product_add"), product_post(**changes))

    errors = response.context["adminform"].form.errors
    assert message in " ".join(errors.get(field, [])), errors
    assert not Product.objects.exists()


def test_product_form_creates_a_money_product_with_an_upper_case_currency(staff_client: APIClient) -> None:
    response = staff_client.post(
        reverse("admin:shop_product_add"),
        product_post(grants='{"gems": 500, "vip_points": 20}', grant_items='["avatar_frame"]'),
    )

    assert response.status_code == 302
    product = Product.objects.get(sku="starter-gems")
    assert (product.price_currency, product.grants, product.grant_items) == (
        "USD",
        {"gems": 500, "vip_points": 20},
        ["avatar_frame"],
    )
    listing = staff_client.get(reverse("admin:shop_product_changelist")).content.decode()
    assert '<td class="field-price">12.99 USD</td>' in listing


def test_product_list_edits_active_and_sort_order_in_place(staff_client: APIClient) -> None:
    product = gold_product()

    response = staff_client.post(
        reverse("admin:shop_product_changelist"),
        {
            "form-TOTAL_FORMS": "1",
            "form-INITIAL_FORMS": "1",
            "form-0-id": str(product.pk),
            "form-0-sort_order": "7",
            "_save": "Save",
        },
    )

    assert response.status_code == 302
    product.refresh_from_db()
    assert (product.is_active, product.sort_order) == (False, 7)


# --- limited packages -----------------------------------------------------------------------


def package_post(product: Product, **changes: Any) -> dict[str, Any]:
    now = timezone.now()
    data = {
        "product": str(product.pk),
        "code": "launch-week",
        "is_active": "on",
        "starts_at_0": (now - timedelta(hours=1)).strftime("%Y-%m-%d"),
        "starts_at_1": (now - timedelta(hours=1)).strftime("%H:%M:%S"),
        "ends_at_0": (now + timedelta(days=2)).strftime("%Y-%m-%d"),
        "ends_at_1": (now + timedelta(days=2)).strftime("%H:%M:%S"),
        "total_stock": "5",
        "per_player_limit": "2",
        "stock_change_reason": "",
    }
    data.update(changes)
    return data


def test_creating_a_package_sets_the_remaining_stock_to_the_total(staff_client: APIClient, staff_user: Any) -> None:
    product = money_product()

    response = staff_client.post(reverse("admin:shop_limitedpackage_add"), package_post(product, remaining_stock="99"))

    assert response.status_code == 302, response.context["adminform"].form.errors
    package = LimitedPackage.objects.get(code="launch-week")
    assert (package.total_stock, package.remaining_stock, package.per_player_limit) == (5, 5, 2)
    log = AuditLog.objects.get(action="package_create")
    assert (log.actor, log.target_id, log.data["total_stock"]) == (staff_user, str(package.pk), 5)


def test_package_form_refuses_a_window_that_ends_before_it_starts(staff_client: APIClient) -> None:
    now = timezone.now()
    response = staff_client.post(
        reverse("admin:shop_limitedpackage_add"),
        package_post(money_product(), ends_at_0=(now - timedelta(days=1)).strftime("%Y-%m-%d")),
    )

    assert response.context["adminform"].form.errors["ends_at"] == ["The sale must end after it starts."]
    assert not LimitedPackage.objects.exists()


def test_raising_package_stock_adds_the_difference_to_what_is_left_and_is_audited(
    staff_client: APIClient, staff_user: Any
) -> None:
    # Given a package of 5 of which 2 were bought
    package = package_for(gold_product(), stock=5)
    buyer = player_with_wallet(gold=10_000)
    buy(buyer, package_code=package.code, quantity=2)
    assert LimitedPackage.objects.get(pk=package.pk).remaining_stock == 3
    url = reverse("admin:shop_limitedpackage_change", args=[package.pk])
    page = staff_client.get(url)
    assert '<div class="readonly">3</div>' in page.content.decode()  # remaining stock
    form = page.context["adminform"].form

    # When staff raise the total to 8, giving a reason
    response = staff_client.post(url, form_data(form, total_stock="8", stock_change_reason="restock for the weekend"))

    # Then the 3 units added are added to what is left
    assert response.status_code == 302, response.context and response.context["adminform"].form.errors
    package.refresh_from_db()
    assert (package.total_stock, package.remaining_stock) == (8, 6)
    log = AuditLog.objects.get(action="package_stock_raise")
    assert (log.actor, log.target_type, log.target_id, log.reason) == (
        staff_user,
        "shop.limitedpackage",
        str(package.pk),
        "restock for the weekend",
    )
    assert log.data == {"added": 3, "total_stock_before": 5, "total_stock": 8, "remaining_stock": 6}


def test_package_stock_is_never_lowered_nor_raised_without_a_reason(staff_client: APIClient) -> None:
    package = package_for(gold_product(), stock=5)
    url = reverse("admin:shop_limitedpackage_change", args=[package.pk])
    form = staff_client.get(url).context["adminform"].form

    lowered = staff_client.post(url, form_data(form, total_stock="4", stock_change_reason="too many"))
    unexplained = staff_client.post(url, form_data(form, total_stock="6"))

    assert "can only be raised" in lowered.context["adminform"].form.errors["total_stock"][0]
    assert "Say why" in unexplained.context["adminform"].form.errors["stock_change_reason"][0]
    package.refresh_from_db()
    assert (package.total_stock, package.remaining_stock) == (5, 5)
    assert not AuditLog.objects.filter(action="package_stock_raise").exists()


def test_a_raise_from_a_stale_page_is_sent_back_with_the_current_figures(
    staff_client: APIClient, staff_user: Any
) -> None:
    # Given two staff members opened the same package page at total 5, and the first raised it to 10
    package = package_for(gold_product(), stock=5)
    url = reverse("admin:shop_limitedpackage_change", args=[package.pk])
    form = staff_client.get(url).context["adminform"].form
    first = staff_client.post(url, form_data(form, total_stock="10", stock_change_reason="first"))
    assert first.status_code == 302

    # When the second submits 12 from the page built at 5
    second = staff_client.post(url, form_data(form, total_stock="12", stock_change_reason="second"))

    # Then it is sent back with the current figures, and nothing changed
    shown = second.context["adminform"].form
    assert "changed while you were editing: the total is now 10 (10 left)" in shown.errors["total_stock"][0]
    assert 'name="expected_total_stock" value="10"' in second.content.decode()
    package.refresh_from_db()
    assert (package.total_stock, package.remaining_stock) == (10, 10)
    # When they submit the re-shown page as it is
    again = staff_client.post(url, form_data(shown))
    # Then it is judged against the current total
    assert again.status_code == 302
    package.refresh_from_db()
    assert (package.total_stock, package.remaining_stock) == (12, 12)
    assert [log.data["added"] for log in AuditLog.objects.filter(action="package_stock_raise").order_by("id")] == [5, 2]


def test_editing_a_package_keeps_purchases_made_while_the_page_was_open(staff_client: APIClient) -> None:
    package = package_for(gold_product(), stock=5)
    url = reverse("admin:shop_limitedpackage_change", args=[package.pk])
    form = staff_client.get(url).context["adminform"].form
    buy(player_with_wallet(gold=5_000), package_code=package.code)  # 4 left now

    response = staff_client.post(url, form_data(form, per_player_limit="1"))

    assert response.status_code == 302
    package.refresh_from_db()
    assert (package.per_player_limit, package.remaining_stock, package.total_stock) == (1, 4, 5)


def test_package_sale_filter_splits_on_sale_upcoming_and_ended(staff_client: APIClient) -> None:
    product = gold_product()
    now = timezone.now()
    on_sale = package_for(product, code="now")
    upcoming = package_for(product, code="soon", starts_at=now + timedelta(days=1), ends_at=now + timedelta(days=2))
    ended = package_for(product, code="gone", starts_at=now - timedelta(days=2), ends_at=now - timedelta(days=1))
    paused = package_for(product, code="paused", is_active=False)
    url = reverse("admin:shop_limitedpackage_changelist")

    assert listed(staff_client.get(url, {"sale": "on_sale"})) == [on_sale]
    assert listed(staff_client.get(url, {"sale": "upcoming"})) == [upcoming]
    assert listed(staff_client.get(url, {"sale": "ended"})) == [ended]
    assert listed(staff_client.get(url, {"sale": "paused"})) == [paused]
    content = staff_client.get(url, {"q": "now"}).content.decode()
    assert '<td class="field-stock">5/5</td>' in content and '<td class="field-sale_status">on sale</td>' in content


# --- promo codes ----------------------------------------------------------------------------


def test_promo_code_is_stored_upper_case_and_shows_its_usage(
    staff_client: APIClient, fulfilled_gold_order: Order
) -> None:
    response = staff_client.post(
        reverse("admin:shop_promocode_add"),
        {
            "code": "  spring10 ",
            "discount_type": DiscountType.PERCENT,
            "discount_value": "10",
            "max_total_uses": "100",
            "max_uses_per_player": "1",
            "is_active": "on",
            "redemptions-TOTAL_FORMS": "0",
            "redemptions-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    promo = PromoCode.objects.get()
    assert promo.code == "SPRING10"
    PromoRedemption.objects.create(
        promo=promo, user=fulfilled_gold_order.user, order=fulfilled_gold_order, created_at=timezone.now()
    )
    PromoCode.objects.filter(pk=promo.pk).update(uses=1)
    listing = staff_client.get(reverse("admin:shop_promocode_changelist"), {"q": "spring"}).content.decode()
    assert '<td class="field-usage">1 / 100</td>' in listing and '<td class="field-discount">10%</td>' in listing
    page = staff_client.get(reverse("admin:shop_promocode_change", args=[promo.pk])).content.decode()
    assert fulfilled_gold_order.receipt_code in page  # the redemptions inline
    assert 'name="redemptions-0-user"' not in page  # read-only


def test_promo_code_form_refuses_a_percentage_over_100_and_a_cap_below_the_uses(staff_client: APIClient) -> None:
    promo = PromoCode.objects.create(code="HALF", discount_type=DiscountType.FIXED, discount_value=50, uses=3)
    url = reverse("admin:shop_promocode_change", args=[promo.pk])
    form = staff_client.get(url).context["adminform"].form
    inline = {"redemptions-TOTAL_FORMS": "0", "redemptions-INITIAL_FORMS": "0"}

    response = staff_client.post(
        url, {**form_data(form, discount_type="percent", discount_value="150", max_total_uses="2"), **inline}
    )

    errors = response.context["adminform"].form.errors
    assert errors["discount_value"] == ["A percentage is at most 100."]
    assert errors["max_total_uses"] == ["The code was already used 3 time(s)."]


def test_editing_a_promo_code_keeps_uses_counted_while_the_page_was_open(staff_client: APIClient) -> None:
    promo = PromoCode.objects.create(code="HALF", discount_type=DiscountType.PERCENT, discount_value=50)
    url = reverse("admin:shop_promocode_change", args=[promo.pk])
    form = staff_client.get(url).context["adminform"].form
    PromoCode.objects.filter(pk=promo.pk).update(uses=2)  # two redemptions meanwhile
    inline = {"redemptions-TOTAL_FORMS": "0", "redemptions-INITIAL_FORMS": "0"}

    response = staff_client.post(url, {**form_data(form, discount_value="40"), **inline})

    assert response.status_code == 302
    promo.refresh_from_db()
    assert (promo.discount_value, promo.uses) == (40, 2)


# --- webhooks -------------------------------------------------------------------------------


def stored_webhook(
    order: Order, *, external_id: str = "msg_1", amount: int | None = None, **fields: Any
) -> WebhookEvent:
    payload = {
        "type": "payment.succeeded",
        "data": {
            "reference": order.provider_reference,
            "merchant_reference": order.receipt_code,
            "amount": order.total if amount is None else amount,
            "currency": order.currency,
        },
    }
    defaults: dict[str, Any] = {
        "provider": "sandbox",
        "event_type": "payment.succeeded",
        "status": WebhookStatus.FAILED,
        "error_code": "webhook_unknown_order",
        "signature_valid": True,
        "payload": payload,
        "received_at": timezone.now(),
    }
    return WebhookEvent.objects.create(external_id=external_id, **{**defaults, **fields})


def test_reprocess_applies_a_failed_verified_webhook_and_is_audited(
    staff_client: APIClient, staff_user: Any, player: Any, pending_money_order: Order
) -> None:
    # Given a verified payment webhook that failed (say, it arrived before the order had its reference)
    SandboxPayment.objects.filter(reference=pending_money_order.provider_reference).update(
        status=SandboxPaymentStatus.APPROVED
    )
    event = stored_webhook(pending_money_order)

    # When staff re-process it
    done = run_action(staff_client, "webhookevent", "reprocess", [event])

    # Then the order is paid and fulfilled, the event processed, the action audited
    order = Order.objects.get(pk=pending_money_order.pk)
    assert order.status == OrderStatus.FULFILLED
    assert Wallet.objects.get(pk=player.pk).gems == 500
    event.refresh_from_db()
    assert (event.status, event.error_code, event.order) == (WebhookStatus.PROCESSED, "", order)
    log = AuditLog.objects.get(action="webhook_reprocess")
    assert (log.actor, log.target_id, log.data) == (staff_user, str(event.pk), {"result": "fulfilled"})
    assert "msg_1: fulfilled." in messages_of(done) and "Re-processed 1 webhook(s)." in messages_of(done)
    # And the order page links to its webhook deliveries
    order_page = staff_client.get(reverse("admin:shop_order_change", args=[order.pk])).content.decode()
    link = reverse("admin:shop_webhookevent_changelist") + f"?order__id__exact={order.pk}"
    assert f'<a href="{link}">1 delivery(ies)</a>' in order_page
    assert listed(staff_client.get(link)) == [event]


def test_reprocess_reports_a_rejected_webhook_and_skips_unverified_or_settled_ones(
    staff_client: APIClient, pending_money_order: Order
) -> None:
    mismatched = stored_webhook(pending_money_order, external_id="msg_cheap", amount=1)
    forged = stored_webhook(pending_money_order, external_id="msg_forged", signature_valid=False, payload={})
    settled = stored_webhook(pending_money_order, external_id="msg_done", status=WebhookStatus.PROCESSED)

    done = run_action(staff_client, "webhookevent", "reprocess", [mismatched, forged, settled])

    reported = messages_of(done)
    assert any(m.startswith("msg_cheap: refused (webhook_amount_mismatch)") for m in reported), reported
    assert any("msg_forged" in m and "signature was not verified" in m for m in reported)
    assert any("msg_done" in m and "it is processed" in m for m in reported)
    assert not any(m.startswith("Re-processed") for m in reported)
    mismatched.refresh_from_db()
    assert (mismatched.status, mismatched.error_code) == (WebhookStatus.FAILED, "webhook_amount_mismatch")
    assert Order.objects.get(pk=pending_money_order.pk).status == OrderStatus.PENDING
    assert not AuditLog.objects.exists()


def test_webhook_page_shows_the_payload(staff_client: APIClient, pending_money_order: Order) -> None:
    event = stored_webhook(pending_money_order)

    page = staff_client.get(reverse("admin:shop_webhookevent_change", args=[event.pk])).content.decode()

    assert f"&quot;reference&quot;: &quot;{pending_money_order.provider_reference}&quot;" in page
    assert 'name="_save"' not in page
