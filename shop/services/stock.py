"""Limited-package stock: ``remaining_stock`` moves only by conditional
F() UPDATEs on the package row, never by a read-modify-write, so concurrent
buyers can never oversell and no lock on the package row is held."""

from __future__ import annotations

from datetime import datetime

from django.db.models import F

from shop.exceptions import OutOfWindow, SoldOut
from shop.models import LimitedPackage, Order


def stock_hold(*, package: LimitedPackage, quantity: int, now: datetime) -> None:
    """Take ``quantity`` units in one conditional UPDATE: it applies only while
    enough stock is left and the window is open."""
    taken = LimitedPackage.objects.filter(
        pk=package.pk, is_active=True, starts_at__lte=now, ends_at__gt=now, remaining_stock__gte=quantity
    ).update(remaining_stock=F("remaining_stock") - quantity)
    if not taken:
        package.refresh_from_db()
        if not package.is_active or not (package.starts_at <= now < package.ends_at):
            raise OutOfWindow()
        raise SoldOut(remaining_stock=package.remaining_stock)


def stock_release(*, order: Order) -> None:
    """Give back the units an open order held (the caller holds the order row
    lock and saves the order: ``stock_held`` is what makes this once only)."""
    if order.stock_held and order.package_id:
        LimitedPackage.objects.filter(pk=order.package_id).update(remaining_stock=F("remaining_stock") + order.quantity)
        order.stock_held = False


def stock_retake(*, order: Order) -> bool:
    """Take the units of an order again after it gave them back (paid after it
    expired or failed), if that many are left; returns whether it could. The
    sale window is not checked again: it was open when the order was made."""
    if order.package_id is None:
        return False
    taken = LimitedPackage.objects.filter(pk=order.package_id, remaining_stock__gte=order.quantity).update(
        remaining_stock=F("remaining_stock") - order.quantity
    )
    if taken:
        order.stock_held = True
    return bool(taken)
