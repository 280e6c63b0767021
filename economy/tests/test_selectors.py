"""Economy reads: they never write, and the dashboard is built once per version."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache
from django.db import transaction

from accounts.tests.factories import UserFactory
from economy import selectors
from economy.dashboard_cache import dashboard_invalidate, dashboard_version_key
from economy.enums import Currency, LedgerReason, VipTier
from economy.models import Wallet
from economy.services import wallet_grant
from economy.tests.factories import player_with_wallet

pytestmark = pytest.mark.django_db


def test_reads_of_a_player_without_a_wallet_answer_zeros_and_open_nothing() -> None:
    staff = UserFactory(is_staff=True)

    found = selectors.wallet_for(staff.pk)
    empty = selectors.wallet_or_empty(user_id=staff.pk)
    summary = selectors.balance_summary(staff)
    vip = selectors.vip_status(staff.pk)
    home = selectors.dashboard(staff)

    assert found is None
    assert empty._state.adding  # an unsaved read model, not a row
    assert (empty.gold, empty.gems, empty.xp, empty.vip_points, empty.vip_tier) == (0, 0, 0, 0, VipTier.STANDARD)
    assert (summary["gold_balance"], summary["level"], summary["user_id"]) == (0, 1, staff.pk)
    assert (vip["vip_tier"], vip["vip_points"], vip["daily_points"]) == (VipTier.STANDARD, 0, 50)
    assert home["balances"] == {
        "cyber_token_balance": 0,
        "gold_balance": 0,
        "gold": 0,
        "gems_balance": 0,
        "gems": 0,
        "vip_points": 0,
    }
    assert selectors.wallet_balances(user_id=staff.pk) == {}
    assert not Wallet.objects.filter(pk=staff.pk).exists()


def test_wallet_balances_reads_gold_and_gems_by_currency() -> None:
    player = player_with_wallet(gold=12, gems=3)

    assert selectors.wallet_balances(user_id=player.pk) == {Currency.GOLD: 12, Currency.GEMS: 3}


def test_wallet_vip_tier_is_the_wallets_or_standard_without_one() -> None:
    vip = player_with_wallet()
    Wallet.objects.filter(pk=vip.pk).update(vip_tier=VipTier.VIP)
    staff = UserFactory(is_staff=True)

    assert selectors.wallet_vip_tier(user_id=vip.pk) == VipTier.VIP
    assert selectors.wallet_vip_tier(user_id=staff.pk) == VipTier.STANDARD
    assert not Wallet.objects.filter(pk=staff.pk).exists()


def test_dashboard_cached_builds_once_per_version_and_again_after_a_change() -> None:
    player = player_with_wallet(gold=10)
    cache.delete(dashboard_version_key(player.pk))
    built: list[dict[str, Any]] = []

    def render(payload: dict[str, Any]) -> bytes:
        built.append(payload)
        return f"gold={payload['balances']['gold_balance']}".encode()

    first = selectors.dashboard_cached(player, render=render)
    second = selectors.dashboard_cached(player, render=render)
    wallet_grant(user=player, bundle={Currency.GOLD: 5}, reason=LedgerReason.EVENT_REWARD, idempotency_key="more")
    dashboard_invalidate(player.pk)
    third = selectors.dashboard_cached(player, render=render)

    assert len(built) == 2
    assert first == second
    assert (first.body, third.body) == (b"gold=10", b"gold=15")
    assert first.etag.startswith('"') and first.etag != third.etag


@pytest.mark.django_db(transaction=True)
def test_a_transaction_drops_each_players_cached_dashboard_once_however_many_events_they_see() -> None:
    import realtime

    first, second = player_with_wallet(gold=1), player_with_wallet(gold=1)
    keys = [dashboard_version_key(first.pk), dashboard_version_key(second.pk)]
    cache.set_many({key: 10 for key in keys}, timeout=None)

    with transaction.atomic():
        realtime.emit_many(
            [
                ("balance_update", first.pk, {"gold": 2}),
                ("event_progress", first.pk, {"kind": "mission", "mission_id": 1}),
                ("event_progress", first.pk, {"kind": "mission", "mission_id": 2}),
                ("profile_update", second.pk, {"nickname": "x"}),
            ]
        )
        realtime.emit("streak_update", first, {"count": 1})
        assert cache.get_many(keys) == {keys[0]: 10, keys[1]: 10}  # not before the commit

    assert cache.get_many(keys) == {keys[0]: 11, keys[1]: 11}
