"""The shop's back office, one module per area (importing them registers the
model admins):

- ``catalog``: products, limited packages, promo codes and their redemptions;
- ``orders``: orders and their transitions, fraud decisions, owned items;
- ``payments``: payment webhook deliveries, the sandbox provider's books;
- ``common`` and ``forms``: what they share, the catalog's forms.

What staff may change, and how (design promise 7): every write goes through
``shop.services``, which validates it (the forms ask the same functions first)
and audits what touches stock or orders; orders, webhooks, fraud decisions,
redemptions, owned items and the sandbox payments are records to read, acted
on only through actions that call a service once per selected row.
"""

from shop.admin import catalog, orders, payments
from shop.admin.common import price_label

__all__ = ["catalog", "orders", "payments", "price_label"]
