"""The games' back office: game switches and limits, the slot tables with their computed RTP,
gacha banners with their odds and pity, rounds (read-only, with a "verify" view) and inventories.
Every change of odds, paytables or limits goes through an audited service (who, before, after,
why)."""

from __future__ import annotations

from django.contrib import admin  # noqa: F401

# --- game configuration, daily limits, rounds, inventories, stats (back office) ------------------


# --- slots ---------------------------------------------------------------------------------------


# --- gacha ---------------------------------------------------------------------------------------
