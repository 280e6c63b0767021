"""Shop: catalog, limited packages, promo codes, orders, payments, webhooks."""
