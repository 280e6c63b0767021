"""What is measured about a money-order attempt, as plain numbers for the rules.

:func:`fraud_features` reads the player's recent activity (sliding windows in
Redis, from ``casino.ratelimit``, the one sliding-window implementation of the
project; the usual order amount from PostgreSQL). It never writes: the window
counts it returns already include the attempt being evaluated (``+1``), and
:func:`fraud_record_attempt` adds that attempt to the windows once the order
service has decided.
"""

from __future__ import annotations

import hashlib
import ipaddress
import statistics
from datetime import timedelta
from functools import partial

from django.db import connection
from django.utils import timezone

from accounts.models import User
from casino.db import column_name
from casino.ratelimit import WindowCount, WindowEvent, windows_count, windows_record
from shop.models import Order, OrderStatus, PriceType

FeatureValue = float | int | bool | None

ORDER_WINDOW = timedelta(hours=1)
INSTRUMENT_WINDOW = timedelta(hours=24)
NEW_PLAYER_AGE = timedelta(hours=24)
USUAL_AMOUNT_SAMPLE = 20  # the player's last N fulfilled money orders
USUAL_AMOUNT_MIN_ORDERS = 3  # fewer than this: no "usual" amount yet

# Every feature a rule may name, with its type ("number" or "bool").
FEATURE_TYPES: dict[str, str] = {
    "amount": "number",
    "amount_vs_usual": "number",
    "is_new_player_24h": "bool",
    "orders_per_player_1h": "number",
    "orders_per_ip_1h": "number",
    "orders_per_device_1h": "number",
    "distinct_instruments_per_player_24h": "number",
}


# --- Windows -------------------------------------------------------------------------


def _digest(value: str) -> str:
    # IPs, device ids and card fingerprints end up in Redis keys and members:
    # hashing bounds their length and keeps raw identifiers out of Redis.
    return hashlib.sha256(value.encode()).hexdigest()[:32]


def _ip_bucket(ip: str) -> str:
    """The unit an IP counter counts: the IPv4 address, or the IPv6 /64 —
    one subscriber usually holds a whole /64 and can rotate addresses in it
    at will, so counting single IPv6 addresses would be trivial to evade."""
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return ip.strip()
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def _player_orders_key(user_id: int) -> str:
    return f"fraud:orders:player:{user_id}"


def _ip_orders_key(ip: str) -> str:
    return f"fraud:orders:ip:{_digest(_ip_bucket(ip))}"


def _device_orders_key(device_id: str) -> str:
    return f"fraud:orders:device:{_digest(device_id)}"


def _player_instruments_key(user_id: int) -> str:
    return f"fraud:instruments:player:{user_id}"


# --- Features ------------------------------------------------------------------------


def _usual_amount(*, user_id: int, currency: str) -> float | None:
    """Median ``total`` of the player's last 20 fulfilled money orders in this
    currency (minor units), or None with fewer than 3 such orders. The median,
    not the mean, so one big past purchase does not make every later one look usual."""
    column = partial(column_name, Order)
    sql = (
        f"SELECT {column('total')} FROM {Order._meta.db_table}"  # noqa: S608 - names from the model
        f" WHERE {column('user')} = %s AND {column('price_type')} = %s AND {column('status')} = %s"
        f" AND {column('currency')} = %s ORDER BY {column('created_at')} DESC, {column('id')} DESC LIMIT %s"
    )
    with connection.cursor() as cursor:  # on every money buy: written out, not compiled each time
        cursor.execute(
            sql, [user_id, PriceType.MONEY.value, OrderStatus.FULFILLED.value, currency, USUAL_AMOUNT_SAMPLE]
        )
        totals = [int(total) for (total,) in cursor.fetchall()]
    if len(totals) < USUAL_AMOUNT_MIN_ORDERS:
        return None
    return float(statistics.median(totals))


def fraud_features(
    *, user: User, ip: str | None, device_id: str, payment_instrument: str, amount: int, currency: str
) -> dict[str, FeatureValue]:
    """The features of one money-order attempt. Reads only.

    Window counts include this attempt without recording it::

        orders_per_*_1h = attempts recorded in the last hour + 1
        distinct_instruments_per_player_24h = |instruments seen in 24 h, plus this one|

    Call :func:`fraud_record_attempt` once the attempt is decided so the next
    evaluation counts it. Two concurrent attempts of one player both see the
    count without the other (read, then record): a window of one request.

    Unknown inputs give ``None`` features (rules on them do not fire): no IP,
    an empty device id, a player with fewer than 3 fulfilled orders in this
    currency (or a usual amount of 0) for ``amount_vs_usual``. An empty
    payment instrument counts the instruments already seen without adding one.

    ``amount_vs_usual = amount / median(last 20 fulfilled money orders' total)``.
    """
    now = timezone.now()
    # The attempts per player, IP and device, and the player's instruments, in one round trip.
    keys = {"player": _player_orders_key(user.pk)}
    if ip:
        keys["ip"] = _ip_orders_key(ip)
    if device_id:
        keys["device"] = _device_orders_key(device_id)
    order_window = ORDER_WINDOW.total_seconds()
    *counts, distinct_instruments = windows_count(
        [
            *(WindowCount(key, order_window) for key in keys.values()),
            WindowCount(
                _player_instruments_key(user.pk),
                INSTRUMENT_WINDOW.total_seconds(),
                distinct=True,
                member=_digest(payment_instrument) if payment_instrument else None,
            ),
        ],
        now.timestamp(),
    )
    attempts = {name: count + 1 for name, count in zip(keys, counts, strict=True)}  # this attempt included

    usual = _usual_amount(user_id=user.pk, currency=currency)
    return {
        "amount": amount,
        "amount_vs_usual": amount / usual if usual else None,
        "is_new_player_24h": now - user.date_joined < NEW_PLAYER_AGE,
        "orders_per_player_1h": attempts["player"],
        "orders_per_ip_1h": attempts.get("ip"),
        "orders_per_device_1h": attempts.get("device"),
        "distinct_instruments_per_player_24h": distinct_instruments,
    }


def fraud_record_attempt(*, user_id: int, ip: str | None, device_id: str, payment_instrument: str) -> None:
    """Add one money-order attempt to every window :func:`fraud_features` reads.
    Call it once per attempt, after deciding (blocked attempts too: they are
    what velocity rules are for). Not transactional with the database: it is a
    counter, and an attempt whose order rolls back still was an attempt."""
    keys = [_player_orders_key(user_id)]
    if ip:
        keys.append(_ip_orders_key(ip))
    if device_id:
        keys.append(_device_orders_key(device_id))
    events = [WindowEvent(key, ORDER_WINDOW.total_seconds()) for key in keys]
    if payment_instrument:
        events.append(
            WindowEvent(
                _player_instruments_key(user_id), INSTRUMENT_WINDOW.total_seconds(), member=_digest(payment_instrument)
            )
        )
    windows_record(events, timezone.now().timestamp())  # one command
