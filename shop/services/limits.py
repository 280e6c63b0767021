"""The limits a player's order must fit: the product's period limits, the
package's per-player limit and the player's daily spend limit.

They are checked when the order is made (``shop.services.purchase``, under the
buyer's row lock) and again when its payment arrives
(``shop.services.order_state``, under the same lock): an order may have
stopped counting meanwhile (it expired, so the player bought again) or the
day or the limit may have changed, and a payment that no longer fits is
refunded, never fulfilled. ``exclude_order_id`` leaves the order being
checked out of what the player already holds.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings

from accounts.models import User
from accounts.selectors import daily_spend_limit_effective
from shop.exceptions import DailySpendLimitReached, PurchaseLimitReached
from shop.models import LimitedPackage, Product
from shop.selectors import spent_today, units_held


def purchase_limits_check(
    *,
    product: Product,
    package: LimitedPackage | None,
    user_id: int,
    quantity: int,
    now: datetime,
    exclude_order_id: int | None = None,
) -> None:
    """Refuse (:class:`PurchaseLimitReached`) ``quantity`` more units than the
    product's period limits or the package's per-player limit leave (one statement for both,
    none when neither has a limit)."""
    held = units_held(
        user_id,
        products=[product],
        packages=[package] if package is not None else [],
        now=now,
        exclude_order_id=exclude_order_id,
    )
    left = held.product_left(product)
    if left.remaining is not None and quantity > left.remaining:
        raise PurchaseLimitReached(period=left.period, remaining=left.remaining)
    if package is not None:
        package_left = held.package_left(package)
        if quantity > package_left:
            raise PurchaseLimitReached(period="package", remaining=package_left)


def spend_limit_check(
    *, user: User, currency: str, total: int, now: datetime, exclude_order_id: int | None = None
) -> None:
    """Refuse (:class:`DailySpendLimitReached`) a real-money ``total`` that
    would take today's spending past the player's limit in force now."""
    if currency != settings.SHOP_CURRENCY:
        return
    limit = daily_spend_limit_effective(user=user, now=now)
    if limit is None:
        return
    already = spent_today(user.pk, currency=currency, now=now, exclude_order_id=exclude_order_id)
    if already + total > limit:
        raise DailySpendLimitReached(limit=limit, spent_today=already, remaining=max(0, limit - already))
