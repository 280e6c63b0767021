"""Who a saved segment holds (economy.segment_filters.segment_players): each criterion on its
own, at its edges, and together; only active players who are not staff, ever."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from accounts.tests.factories import UserFactory
from economy.levels import level_progress, total_xp_for_level
from economy.models import PlayerSegment, RfmGroup, Segment, Wallet
from economy.segment_filters import level_xp_range, parse_phone_prefixes, segment_players
from economy.tests.factories import player_with_wallet

pytestmark = pytest.mark.django_db


def segment(**criteria: Any) -> Segment:
    """An unsaved segment: the filter works on what the form holds, before any save."""
    return Segment(name="test", **criteria)


def members(saved: Segment) -> set[str]:
    return set(segment_players(saved).values_list("site_id", flat=True))


def player(site_id: str, **fields: Any) -> Any:
    return player_with_wallet(site_id=site_id, nickname=f"N{site_id}", **fields)


def scored(user: Any, group: str, *, total_spent: int = 0) -> None:
    PlayerSegment.objects.create(
        user=user,
        rfm_group=group,
        recency_score=1,
        frequency_score=1,
        monetary_score=1,
        frequency=0,
        monetary=0,
        total_spent=total_spent,
        source="postgresql",
        computed_at=timezone.now(),
    )


def test_an_empty_segment_holds_every_active_player_but_no_staff_and_no_banned_player() -> None:
    player("anna")
    player("bob")
    player("banned", is_active=False)
    player("staff", is_staff=True)

    assert members(segment()) == {"anna", "bob"}


def test_rfm_groups_match_any_of_the_ticked_groups_and_unscored_players_none() -> None:
    for site_id, group in (("whale", RfmGroup.WHALE), ("risk", RfmGroup.AT_RISK), ("mid", RfmGroup.MEDIUM_VALUE)):
        scored(player(site_id), group)
    player("unscored")

    assert members(segment(rfm_groups=[RfmGroup.WHALE, RfmGroup.AT_RISK])) == {"whale", "risk"}
    assert members(segment(rfm_groups=[RfmGroup.HIGH_VALUE])) == set()


def test_vip_tiers_match_the_wallets_tier() -> None:
    player("std")
    Wallet.objects.filter(user=player("vip")).update(vip_tier="VIP")
    Wallet.objects.filter(user=player("premium")).update(vip_tier="PREMIUM")

    assert members(segment(vip_tiers=["VIP", "PREMIUM"])) == {"vip", "premium"}
    assert members(segment(vip_tiers=["STANDARD"])) == {"std"}


def test_a_level_range_is_the_xp_range_of_those_levels_both_ends_included() -> None:
    low, high = level_xp_range(3, 5)
    assert (low, high) == (total_xp_for_level(3), total_xp_for_level(6))
    assert low is not None and high is not None
    for site_id, xp in (("l2", low - 1), ("l3", low), ("l5", high - 1), ("l6", high)):
        Wallet.objects.filter(user=player(site_id)).update(xp=xp)
    assert [level_progress(xp).level for xp in (low - 1, low, high - 1, high)] == [2, 3, 5, 6]
    UserFactory(site_id="nowallet")  # no wallet, no level: never in a level range

    assert members(segment(level_min=3, level_max=5)) == {"l3", "l5"}
    assert members(segment(level_min=6)) == {"l6"}
    assert members(segment(level_max=2)) == {"l2"}
    assert members(segment(level_min=1)) == {"l2", "l3", "l5", "l6"}


def test_seen_within_and_unseen_for_read_the_last_seen_time() -> None:
    now = timezone.now()
    player("today", last_seen_at=now - timedelta(hours=1))
    player("six_days", last_seen_at=now - timedelta(days=6, hours=23))
    player("eight_days", last_seen_at=now - timedelta(days=8))
    player("never")

    assert members(segment(seen_within_days=7)) == {"today", "six_days"}
    assert members(segment(unseen_for_days=7)) == {"eight_days", "never"}
    # Seen in the last 7 days but not in the last day.
    assert members(segment(seen_within_days=7, unseen_for_days=1)) == {"six_days"}


def test_total_spent_bounds_include_their_values_and_an_unscored_player_spent_nothing() -> None:
    for site_id, spent in (("zero", 0), ("999", 999), ("1000", 1000), ("5000", 5000)):
        scored(player(site_id), RfmGroup.LOW_VALUE, total_spent=spent)
    player("unscored")

    assert members(segment(total_spent_min=1000)) == {"1000", "5000"}
    assert members(segment(total_spent_max=999)) == {"zero", "999", "unscored"}
    assert members(segment(total_spent_min=999, total_spent_max=1000)) == {"999", "1000"}


def test_phone_prefixes_match_the_calling_code_in_either_international_spelling(settings: Any) -> None:
    settings.SEGMENT_NATIONAL_CALLING_CODE = ""
    player("kr", phone_number="+821012345678")
    player("kr00", phone_number="00821087654321")
    player("us", phone_number="+15550001111")
    player("uk", phone_number="+447700900123")
    player("national", phone_number="01011112222")

    assert members(segment(phone_prefixes="+82")) == {"kr", "kr00"}
    assert members(segment(phone_prefixes="+82, +1")) == {"kr", "kr00", "us"}
    assert members(segment(phone_prefixes="+44")) == {"uk"}


def test_a_national_number_belongs_to_the_configured_country(settings: Any) -> None:
    player("kr", phone_number="+821012345678")
    player("national", phone_number="01011112222")
    player("us", phone_number="+15550001111")

    settings.SEGMENT_NATIONAL_CALLING_CODE = "+82"
    assert members(segment(phone_prefixes="+82")) == {"kr", "national"}
    assert members(segment(phone_prefixes="+1")) == {"us"}


def test_calling_codes_are_parsed_strictly() -> None:
    assert parse_phone_prefixes(" +82 , 1,+82,, +44 ") == ["+82", "+1", "+44"]
    for bad in ("+0", "+1234", "82a", "+", "++82"):
        with pytest.raises(ValueError, match=r"."):
            parse_phone_prefixes(bad)


def test_a_stored_bad_prefix_narrows_the_segment_never_widens_it() -> None:
    player("kr", phone_number="+821012345678")

    assert members(segment(phone_prefixes="+82, junk")) == {"kr"}
    assert members(segment(phone_prefixes="junk")) == set()


def test_criteria_combine_with_and() -> None:
    now = timezone.now()
    target = player("target", phone_number="+821000000001", last_seen_at=now)
    scored(target, RfmGroup.WHALE, total_spent=20_000)
    Wallet.objects.filter(user=target).update(vip_tier="VIP", xp=total_xp_for_level(10))
    wrong_country = player("elsewhere", phone_number="+15550000001", last_seen_at=now)
    scored(wrong_country, RfmGroup.WHALE, total_spent=20_000)
    Wallet.objects.filter(user=wrong_country).update(vip_tier="VIP", xp=total_xp_for_level(10))
    lapsed = player("lapsed", phone_number="+821000000002", last_seen_at=now - timedelta(days=40))
    scored(lapsed, RfmGroup.WHALE, total_spent=20_000)
    Wallet.objects.filter(user=lapsed).update(vip_tier="VIP", xp=total_xp_for_level(10))

    saved = segment(
        rfm_groups=[RfmGroup.WHALE],
        vip_tiers=["VIP"],
        level_min=10,
        level_max=10,
        seen_within_days=30,
        total_spent_min=10_000,
        phone_prefixes="+82",
    )

    assert members(saved) == {"target"}
    assert segment_players(saved).count() == 1
