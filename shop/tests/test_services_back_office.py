"""Back-office and catalog services called directly (not through the admin):
their rules hold for every caller, their changes are audited, their results
and errors are the stable values the API and the records keep."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from casino.models import AuditLog
from economy.exceptions import ReasonRequired
from economy.tests.factories import player_with_wallet
from shop import services
from shop.enums import OrderLedgerStep, PaymentOutcome
from shop.exceptions import InvalidQuantity, PackageNotFound, StockCanOnlyGrow
from shop.models import LimitedPackage, Order, PriceType, Product, ProductKind, PromoCode
from shop.tests.factories import GemPriceProductFactory, MoneyProductFactory, PackageFactory

pytestmark = pytest.mark.django_db


def window() -> dict[str, Any]:
    now = timezone.now()
    return {"starts_at": now - timedelta(hours=1), "ends_at": now + timedelta(days=1)}


# --- limited packages -----------------------------------------------------------------------


def test_package_create_starts_the_remaining_stock_at_the_total_and_is_audited(staff_user: Any) -> None:
    product = MoneyProductFactory()

    package = services.package_create(
        actor=staff_user,
        product=product,
        code="launch",
        total_stock=7,
        per_player_limit=2,
        reason="launch week",
        **window(),
    )

    package.refresh_from_db()
    assert (package.total_stock, package.remaining_stock, package.per_player_limit) == (7, 7, 2)
    log = AuditLog.objects.get(action="package_create")
    assert (log.actor, log.target_id, log.reason, log.data) == (
        staff_user,
        str(package.pk),
        "launch week",
        {"product": product.sku, "total_stock": 7},
    )


def test_package_create_refuses_an_empty_stock_and_a_window_that_ends_before_it_starts(staff_user: Any) -> None:
    now = timezone.now()

    with pytest.raises(ValidationError) as refused:
        services.package_create(
            actor=staff_user,
            product=MoneyProductFactory(),
            code="backwards",
            starts_at=now,
            ends_at=now - timedelta(days=1),
            total_stock=0,
            per_player_limit=1,
        )

    assert set(refused.value.message_dict) == {"total_stock", "ends_at"}
    assert not LimitedPackage.objects.exists()
    assert not AuditLog.objects.exists()


def test_package_update_writes_only_the_fields_named_and_keeps_units_sold_meanwhile(staff_user: Any) -> None:
    # Given a package loaded by staff, then one unit sold
    package = PackageFactory(total_stock=5, remaining_stock=5, per_player_limit=1)
    LimitedPackage.objects.filter(pk=package.pk).update(remaining_stock=4)

    # When staff change its per-player limit from the copy they loaded
    package.per_player_limit = 3
    services.package_update(actor=staff_user, package=package, fields=["per_player_limit", "remaining_stock"])

    # Then the limit changed and the sale made meanwhile is kept
    package.refresh_from_db()
    assert (package.per_player_limit, package.remaining_stock) == (3, 4)
    assert AuditLog.objects.get(action="package_update").data == {"per_player_limit": "3"}


def test_package_stock_raise_refuses_a_lower_total_and_a_raise_without_a_reason(staff_user: Any) -> None:
    package = PackageFactory(total_stock=5, remaining_stock=5)

    package.total_stock = 4
    with pytest.raises(StockCanOnlyGrow) as lowered:
        services.package_stock_raise(actor=staff_user, package=package, previous_total=5, reason="fewer")
    package.total_stock = 6
    with pytest.raises(ReasonRequired):
        services.package_stock_raise(actor=staff_user, package=package, previous_total=5, reason=" ")

    assert (lowered.value.code, lowered.value.status, lowered.value.message) == (
        "stock_can_only_grow",
        409,
        "Stock can only be raised.",
    )
    assert LimitedPackage.objects.get(pk=package.pk).total_stock == 5
    assert not AuditLog.objects.exists()


# --- catalog --------------------------------------------------------------------------------


def test_product_save_refuses_a_money_price_without_a_currency_whoever_calls_it() -> None:
    product = Product(
        sku="gems", name="Gems", kind=ProductKind.GEM_PACK, price_type=PriceType.MONEY, price_amount=499, grants={}
    )

    with pytest.raises(ValidationError) as refused:
        services.product_save(product=product)

    assert refused.value.message_dict == {
        "price_currency": ["A real-money price needs an ISO 4217 currency code, e.g. USD."],
        "__all__": ["The product grants nothing: give it currencies (grants) or items."],
    }
    assert not Product.objects.exists()


def test_product_save_stores_the_currency_upper_case_and_item_codes_stripped() -> None:
    product = Product(
        sku="frame",
        name="Frame",
        kind=ProductKind.ITEM,
        price_type=PriceType.MONEY,
        price_amount=199,
        price_currency=" eur ",
        grant_items=[" avatar_frame "],
    )

    services.product_save(product=product)

    stored = Product.objects.get(sku="frame")
    assert (stored.price_currency, stored.grants, stored.grant_items) == ("EUR", {}, ["avatar_frame"])


def test_a_unit_grant_above_what_the_ledger_can_post_for_a_full_order_is_refused() -> None:
    too_much = services.MAX_GRANT_PER_UNIT + 1

    with pytest.raises(ValidationError) as refused:
        services.product_terms_validate(
            price_type=PriceType.GEMS, price_amount=1, price_currency="", grants={"gold": too_much}, grant_items=[]
        )

    assert refused.value.message_dict["grants"] == [f"gold: at most {services.MAX_GRANT_PER_UNIT} per unit."]


def test_promo_code_save_never_writes_the_uses_counted_by_purchases() -> None:
    promo = PromoCode.objects.create(code="HALF", discount_type="percent", discount_value=50)
    PromoCode.objects.filter(pk=promo.pk).update(uses=2)

    promo.discount_value, promo.uses = 40, 0  # a stale copy
    services.promo_code_save(promo=promo, fields=["discount_value", "uses"])

    promo.refresh_from_db()
    assert (promo.discount_value, promo.uses) == (40, 2)


# --- results and errors ---------------------------------------------------------------------


def test_order_ledger_keys_keep_the_strings_existing_ledger_rows_use() -> None:
    order = Order(receipt_code="R250310ABCDE12345")

    assert services.order_ledger_reference(order) == "order:R250310ABCDE12345"
    assert [services.order_ledger_key(order, step) for step in OrderLedgerStep] == [
        "order:R250310ABCDE12345:pay",
        "order:R250310ABCDE12345:grant",
        "order:R250310ABCDE12345:refund",
        "order:R250310ABCDE12345:repay",
    ]


def test_settling_a_game_currency_order_has_nothing_to_settle() -> None:
    product = GemPriceProductFactory()
    order = services.shop_buy(user=player_with_wallet(gems=500), idempotency_key="k", product_sku=product.sku).order

    result = services.order_settle(order=order)

    assert result == PaymentOutcome.NOTHING_TO_SETTLE
    assert (result.value, result.label) == ("nothing_to_settle", "nothing to settle")


def test_buying_an_unknown_package_or_an_impossible_quantity_is_refused_with_its_own_code() -> None:
    player = player_with_wallet()

    with pytest.raises(PackageNotFound) as unknown:
        services.shop_buy(user=player, idempotency_key="a", package_code="no-such-package")
    with pytest.raises(InvalidQuantity) as impossible:
        services.shop_buy(user=player, idempotency_key="b", product_sku="any", quantity=services.MAX_QUANTITY + 1)

    assert unknown.value.as_body() == {"error": "package_not_found", "message": "No such package."}
    assert unknown.value.status == 404
    assert impossible.value.as_body() == {"error": "invalid_quantity", "message": "Quantity must be 1-100."}
    assert impossible.value.status == 409
