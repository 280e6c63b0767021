"""Wallets, the immutable ledger, levels, daily streak, VIP (see the economy issue)."""
