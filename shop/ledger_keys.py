"""How an order names its ledger postings: the only place these strings are built.

Every posting of an order carries ``reference = "order:<receipt code>"`` (the
player's ledger groups by it) and ``idempotency_key = "order:<receipt code>:<step>"``
(the ledger's exactly-once guard). Ledger rows already written and their
readers depend on these exact strings: never change them.
"""

from __future__ import annotations

from shop.enums import OrderLedgerStep
from shop.models import Order


def order_ledger_reference(order: Order) -> str:
    return f"order:{order.receipt_code}"


def order_ledger_key(order: Order, step: OrderLedgerStep) -> str:
    return f"{order_ledger_reference(order)}:{step.value}"
