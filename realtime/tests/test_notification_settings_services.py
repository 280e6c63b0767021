"""The player's notification channels: defaults without a row, upserts that keep
the switches not given, and the one-query audience filter campaigns use."""

from __future__ import annotations

from typing import Any

import pytest

from accounts.tests.factories import UserFactory, players_in_bulk
from realtime.models import NotificationSettings
from realtime.notifications import preferences
from realtime.notifications.preferences import (
    notification_settings_get,
    notification_settings_update,
    players_accepting,
)

pytestmark = pytest.mark.django_db


def switches(settings_row: NotificationSettings) -> tuple[bool, bool, bool]:
    return settings_row.in_app, settings_row.push, settings_row.email


def test_a_player_who_never_chose_gets_every_channel_on_and_no_row_is_written() -> None:
    player = UserFactory()

    current = notification_settings_get(user=player)

    assert switches(current) == (True, True, True)
    assert current.user_id == player.pk
    assert current._state.adding
    assert not NotificationSettings.objects.exists()


def test_an_update_creates_the_row_with_the_others_on_and_a_later_one_keeps_them() -> None:
    player = UserFactory()

    first = notification_settings_update(user=player, email=False)
    assert switches(first) == (True, True, False)
    assert first.updated_at is not None

    second = notification_settings_update(user=player, push=False)
    assert switches(second) == (True, False, False)
    assert switches(notification_settings_get(user=player)) == (True, False, False)
    assert NotificationSettings.objects.count() == 1

    turned_back = notification_settings_update(user=player, email=True, in_app=False)
    assert switches(turned_back) == (False, False, True)


def test_an_update_with_nothing_to_change_writes_nothing() -> None:
    player = UserFactory()

    current = notification_settings_update(user=player)

    assert switches(current) == (True, True, True)
    assert not NotificationSettings.objects.exists()


def test_an_update_touches_only_that_player() -> None:
    player, other = UserFactory(), UserFactory()
    notification_settings_update(user=other, in_app=False)

    notification_settings_update(user=player, push=False)

    assert switches(notification_settings_get(user=other)) == (False, True, True)
    assert switches(notification_settings_get(user=player)) == (True, False, True)


def test_players_accepting_keeps_those_without_a_row_and_drops_each_channels_refusals(
    django_assert_num_queries: Any,
) -> None:
    untouched, no_email, no_push, all_off = UserFactory(), UserFactory(), UserFactory(), UserFactory()
    notification_settings_update(user=no_email, email=False)
    notification_settings_update(user=no_push, push=False, email=True)
    notification_settings_update(user=all_off, in_app=False, push=False, email=False)
    everyone = [untouched.pk, no_email.pk, no_push.pk, all_off.pk]

    with django_assert_num_queries(1):
        by_email = players_accepting(user_ids=everyone, channel="email")

    assert by_email == {untouched.pk, no_push.pk}
    assert players_accepting(user_ids=everyone, channel="push") == {untouched.pk, no_email.pk}
    assert players_accepting(user_ids=everyone, channel="in_app") == {untouched.pk, no_email.pk, no_push.pk}


def test_players_accepting_answers_only_for_the_ids_given() -> None:
    asked, refusing, not_asked = UserFactory(), UserFactory(), UserFactory()
    notification_settings_update(user=refusing, email=False)

    accepted = players_accepting(user_ids=iter([asked.pk, refusing.pk, asked.pk]), channel="email")

    assert accepted == {asked.pk}
    assert not_asked.pk not in accepted
    assert players_accepting(user_ids=[], channel="email") == set()


def test_players_accepting_splits_a_huge_audience_into_chunks(
    monkeypatch: pytest.MonkeyPatch, django_assert_num_queries: Any
) -> None:
    monkeypatch.setattr(preferences, "_CHUNK", 4)
    players = players_in_bulk(10, prefix="chunk")
    for refusing in players[::3]:
        notification_settings_update(user=refusing, push=False)

    with django_assert_num_queries(3):
        accepted = players_accepting(user_ids=[player.pk for player in players], channel="push")

    assert accepted == {player.pk for index, player in enumerate(players) if index % 3}


def test_an_unknown_channel_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="sms"):
        players_accepting(user_ids=[1], channel="sms")


@pytest.mark.django_db(transaction=True)
def test_parallel_first_changes_of_one_player_make_one_row_keeping_both(parallel: Any) -> None:
    player = UserFactory()
    changes: list[dict[str, bool]] = [{"email": False}, {"push": False}, {"in_app": False}, {"email": False}]

    results = parallel(len(changes), lambda index: notification_settings_update(user=player, **changes[index]))

    assert not [result for result in results if isinstance(result, BaseException)], results
    assert NotificationSettings.objects.filter(user_id=player.pk).count() == 1
    assert switches(notification_settings_get(user=player)) == (False, False, False)
