"""Shop reads: the catalog as a player sees it, limits left, transactions."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from django.db.models import Q, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import User
from economy.enums import Currency, LedgerReason
from economy.models import LedgerEntry
from economy.selectors import ledger_entries_for_reference, wallet_balances
from shop.ledger_keys import order_ledger_reference
from shop.models import OPEN_STATUSES, LimitedPackage, Order, OrderStatus, PriceType, Product

if TYPE_CHECKING:
    from shop.services import PurchaseResult

# Orders that count against limits and stock: open and fulfilled ones. Not
# failed, expired or refunded ones, nor ``paid`` ones: an order is only ever
# left ``paid`` when it could not be fulfilled and is being refunded.
COUNTED_STATUSES = (*OPEN_STATUSES, OrderStatus.FULFILLED)


def _counted_orders(user_id: int, *, since: datetime | None, exclude_order_id: int | None) -> QuerySet[Order]:
    """The player's orders that count against limits, ``since`` a time: an
    order counts when it was paid, or (not paid yet) when it was made, so a
    payment arriving on another day than its order counts on the day it came."""
    orders = Order.objects.filter(user_id=user_id, status__in=COUNTED_STATUSES)
    if exclude_order_id is not None:
        orders = orders.exclude(pk=exclude_order_id)
    if since is not None:
        orders = orders.alias(counted_at=Coalesce("paid_at", "created_at")).filter(counted_at__gte=since)
    return orders


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())


def period_starts(now: datetime) -> dict[str, datetime | None]:
    """Start of each limit period (UTC): day, ISO week (Monday), month, lifetime."""
    today = now.date()
    return {
        "daily": _midnight(today),
        "weekly": _midnight(today - timedelta(days=today.weekday())),
        "monthly": _midnight(today.replace(day=1)),
        "lifetime": None,
    }


def units_bought(
    user_id: int,
    *,
    product_id: int | None = None,
    package_id: int | None = None,
    since: datetime | None = None,
    exclude_order_id: int | None = None,
) -> int:
    """Units the player holds or is buying (``exclude_order_id``: all but that order)."""
    orders = _counted_orders(user_id, since=since, exclude_order_id=exclude_order_id)
    if product_id is not None:
        orders = orders.filter(product_id=product_id)
    if package_id is not None:
        orders = orders.filter(package_id=package_id)
    return int(orders.aggregate(units=Sum("quantity"))["units"] or 0)


@dataclass(frozen=True)
class LimitLeft:
    remaining: int | None  # None: no limit
    period: str | None  # the binding period


def product_limit_left(
    product: Product, user_id: int, *, now: datetime | None = None, exclude_order_id: int | None = None
) -> LimitLeft:
    """Units the player may still buy now under the product's period limits
    (``exclude_order_id``: not counting that order, to check it again)."""
    now = now or timezone.now()
    starts = period_starts(now)
    best: LimitLeft = LimitLeft(None, None)
    for period, limit in (
        ("daily", product.limit_daily),
        ("weekly", product.limit_weekly),
        ("monthly", product.limit_monthly),
        ("lifetime", product.limit_lifetime),
    ):
        if limit is None:
            continue
        bought = units_bought(user_id, product_id=product.pk, since=starts[period], exclude_order_id=exclude_order_id)
        left = max(0, limit - bought)
        if best.remaining is None or left < best.remaining:
            best = LimitLeft(left, period)
    return best


def package_limit_left(package: LimitedPackage, user_id: int, *, exclude_order_id: int | None = None) -> int:
    bought = units_bought(user_id, package_id=package.pk, exclude_order_id=exclude_order_id)
    return max(0, package.per_player_limit - bought)


def active_products() -> QuerySet[Product]:
    """Products on general sale (those sold only as limited packages are listed there)."""
    return Product.objects.filter(is_active=True).exclude(packages__isnull=False).order_by("sort_order", "id")


def packages_on_sale(*, now: datetime | None = None) -> QuerySet[LimitedPackage]:
    now = now or timezone.now()
    return (
        LimitedPackage.objects.filter(is_active=True, product__is_active=True, starts_at__lte=now, ends_at__gt=now)
        .select_related("product")
        .order_by("ends_at", "id")
    )


def spent_today(
    user_id: int, *, currency: str, now: datetime | None = None, exclude_order_id: int | None = None
) -> int:
    """Real money committed today, minor units: orders paid today and open
    orders made today (``exclude_order_id``: all but that order)."""
    now = now or timezone.now()
    orders = _counted_orders(user_id, since=period_starts(now)["daily"], exclude_order_id=exclude_order_id)
    total = orders.filter(price_type=PriceType.MONEY, currency=currency).aggregate(total=Sum("total"))["total"]
    return int(total or 0)


def transactions_for(user_id: int) -> QuerySet[Order]:
    return Order.objects.filter(user_id=user_id).select_related("product").order_by("-created_at", "-id")


def order_for_viewer(*, receipt_code: str, viewer: User) -> Order | None:
    """The order with this receipt code, if ``viewer`` may see it: its owner, or
    staff holding ``shop.view_order`` (promise 7: least privilege in the API too)."""
    orders = Order.objects.select_related("product")
    if not (viewer.is_staff and viewer.has_perm("shop.view_order")):
        orders = orders.filter(user=viewer)
    return orders.filter(receipt_code=receipt_code).first()


# The game currencies a purchase answer reports as spent and granted.
PURCHASE_CURRENCIES = (Currency.GOLD, Currency.GEMS)


@dataclass(frozen=True)
class PurchaseAmounts:
    """Game currency an order moved (ledger entries with reason ``purchase``)
    and the player's balances now (``None`` without a wallet)."""

    spent: dict[str, int]
    granted: dict[str, int]
    gold_balance: int | None
    gems_balance: int | None


def purchase_amounts(result: PurchaseResult) -> PurchaseAmounts:
    """What a purchase answer reports. A purchase that just posted to the
    wallet answers from that posting (no query); a replay or a money order
    reads the ledger under the order's reference and the wallet; a new money
    order has posted nothing yet (paid at the provider later)."""
    order = result.order
    entries: Iterable[LedgerEntry]
    if result.ledger is not None:
        entries, balances = result.ledger.entries, result.ledger.balances
    else:
        if not result.replayed and order.price_type == PriceType.MONEY:
            entries = ()
        else:
            entries = ledger_entries_for_reference(user_id=order.user_id, reference=order_ledger_reference(order))
        balances = wallet_balances(user_id=order.user_id)
    spent = {currency.value: 0 for currency in PURCHASE_CURRENCIES}
    granted = {currency.value: 0 for currency in PURCHASE_CURRENCIES}
    for entry in entries:
        if entry.currency in spent and entry.reason == LedgerReason.PURCHASE:
            (granted if entry.delta > 0 else spent)[entry.currency] += abs(entry.delta)
    return PurchaseAmounts(
        spent=spent,
        granted=granted,
        gold_balance=balances.get(Currency.GOLD),
        gems_balance=balances.get(Currency.GEMS),
    )


def product_payload(product: Product, user_id: int | None, *, package: LimitedPackage | None = None) -> dict[str, Any]:
    limit = product_limit_left(product, user_id) if user_id else LimitLeft(None, None)
    payload: dict[str, Any] = {
        "id": product.pk,
        "product_id": product.sku,
        "name": product.name,
        "description": product.description,
        "kind": product.kind,
        "price": product.price_amount,
        "currency": product.currency_label,
        "price_type": product.price_type,
        "grants": product.grants,
        "grant_items": product.grant_items,
        "is_active": product.is_active,
        "min_vip_tier": product.min_vip_tier or None,
        "remaining_stock": None,
        "per_user_limit": None,
        "user_remaining": limit.remaining,
        "limit_period": limit.period,
    }
    if package is not None:
        left = package_limit_left(package, user_id) if user_id else package.per_player_limit
        payload.update(
            {
                "package_id": package.code,
                "remaining_stock": package.remaining_stock,
                "total_stock": package.total_stock,
                "per_user_limit": package.per_player_limit,
                "user_remaining": left if limit.remaining is None else min(left, limit.remaining),
                "starts_at": package.starts_at,
                "ends_at": package.ends_at,
            }
        )
    return payload


def shop_highlights(user: User) -> list[dict[str, Any]]:
    """The dashboard's shop section: highlighted products on sale."""
    products = active_products().filter(is_highlighted=True)[:4]
    return [
        {"product_id": p.sku, "name": p.name, "price": p.price_amount, "currency": p.currency_label} for p in products
    ]


def orders_awaiting_settlement(age: timedelta) -> QuerySet[Order]:
    """Orders to ask the provider about: pending ones older than ``age``, and
    paid ones whose refund (they could not be fulfilled) has not gone through
    for that long."""
    cutoff = timezone.now() - age
    return Order.objects.filter(
        Q(status=OrderStatus.PENDING, created_at__lt=cutoff) | Q(status=OrderStatus.PAID, updated_at__lt=cutoff)
    ).exclude(provider_reference="")


def package_code_for(client_id: str) -> str:
    """The package a client names by ``product_id`` on ``/api/shop/buy-limited``:
    a package's own code, or else the SKU of a product with a package on sale
    now (that package's code). Unknown ids come back unchanged (the buy then
    answers ``package_not_found``)."""
    if LimitedPackage.objects.filter(code=client_id).exists():
        return client_id
    package = packages_on_sale().filter(product__sku=client_id).first()
    return package.code if package is not None else client_id


def transactions_after(user_id: int, *, after_id: int) -> QuerySet[Order]:
    """The player's orders listed after order ``after_id`` (newest first, as
    ``transactions_for``): the cursor of ``GET /api/shop/transactions``. An id
    that is not one of the player's orders falls back to the ids below it."""
    orders = transactions_for(user_id)
    anchor = Order.objects.filter(user_id=user_id, pk=after_id).values_list("created_at", flat=True).first()
    if anchor is None:
        return orders.filter(pk__lt=after_id)
    return orders.filter(Q(created_at__lt=anchor) | Q(created_at=anchor, pk__lt=after_id))
