"""The games' back office in the admin (games/admin.py, first section): game switches and limits
through the audited services, daily limits, rounds read-only with a "verify" view, fairness seeds
whose secret never shows, per-player stats; least privilege per role; and no games page that
answers 500 to staff."""

from __future__ import annotations

import re
import uuid
from decimal import Decimal
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.test import Client

from accounts.models import User
from accounts.tests.factories import UserFactory
from accounts.tests.staff import offered_actions, staff_with
from casino.models import AuditLog
from economy.services import wallet_grant
from games.enums import RoundStatus
from games.models import FairnessSeed, GameConfig, GameDailyLimit, GameRound
from games.services import fairness_rotate
from games.services.back_office import round_verify
from games.services.crash import crash_bet
from games.services.gacha import gacha_pull
from games.services.rps import rps_play
from games.services.slots import slot_spin
from games.tests.test_crash import player_with_crash_point

pytestmark = pytest.mark.django_db

CONFIGS = "/admin/games/gameconfig/"
LIMITS = "/admin/games/gamedailylimit/"
ROUNDS = "/admin/games/gameround/"
SEEDS = "/admin/games/fairnessseed/"


def funded_player(gold: int = 100_000) -> User:
    player = UserFactory()
    wallet_grant(user=player, bundle={"gold": gold}, reason="admin_adjust", idempotency_key=f"fund:{uuid.uuid4()}")
    return player


def key() -> str:
    return str(uuid.uuid4())


def rps_round(player: User) -> GameRound:
    return rps_play(user=player, choice="rock", bet_amount=100, idempotency_key=key()).round


def member_of(role: str) -> tuple[Client, User]:
    staff = UserFactory(is_staff=True)
    staff.groups.add(Group.objects.get(name=role))
    client = Client()
    client.force_login(staff)
    return client, User.objects.get(pk=staff.pk)


def config_form(config: GameConfig, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "is_enabled": "on" if config.is_enabled else "",
        "min_bet": str(config.min_bet),
        "max_bet": str(config.max_bet),
        "win_multiplier": "" if config.win_multiplier is None else str(config.win_multiplier),
        "reason": "",
    }
    data.update(changes)
    return {name: value for name, value in data.items() if value != "" or name in ("reason", "win_multiplier")}


# --- no 500 anywhere --------------------------------------------------------------------------------


def every_kind_of_round() -> list[GameRound]:
    """A round of every game and state: rps, crash settled in the request and crash still running,
    a gacha 10-pull and a slot spin."""
    player = funded_player()
    rounds = [
        rps_round(player),
        crash_bet(user=player, bet_amount=100, auto_cashout_multiplier=Decimal("2.00"), idempotency_key=key()).round,
        gacha_pull(user=player, pull_count=10, banner_code=None, idempotency_key=key()).round,
        slot_spin(user=player, bet_amount=100, idempotency_key=key()).round,
    ]
    other = UserFactory()
    player_with_crash_point(other, lambda point: point >= 200)  # still running after the request (1.00 would end it)
    rounds.append(crash_bet(user=other, bet_amount=100, auto_cashout_multiplier=None, idempotency_key=key()).round)
    return rounds


def test_no_games_changelist_change_or_add_page_answers_500_to_staff(staff_client: Any) -> None:
    # Given rounds of every game (so every table has rows) and a superuser
    every_kind_of_round()
    games_admins = [
        (model, model_admin) for model, model_admin in admin.site._registry.items() if model._meta.app_label == "games"
    ]
    assert {model.__name__ for model, _ in games_admins} >= {
        "GameConfig",
        "GameDailyLimit",
        "GameRound",
        "FairnessSeed",
        "PlayerGameStats",
    }

    # When staff open every changelist, every add page and the change page of every row shown
    visited = []
    for model, _ in games_admins:
        base = f"/admin/games/{model._meta.model_name}/"
        pages = [base, f"{base}add/"]
        pages += [f"{base}{pk}/change/" for pk in model._default_manager.values_list("pk", flat=True)[:2]]
        for page in pages:
            response = staff_client.get(page)
            visited.append(page)
            # Then none fails (403: an add page of a table nobody adds to by hand)
            assert response.status_code in (200, 403), (page, response.status_code)
    # And every round of every game verifies as a match against its seed
    for round_ in GameRound.objects.select_related("seed"):
        page = staff_client.get(f"{ROUNDS}{round_.pk}/verify/")
        assert page.status_code == 200
        verification = round_verify(round_=round_)
        assert verification.matches, (round_.game, round_.status, verification)
        assert 'data-verdict="match"' in page.content.decode()
    assert len(visited) >= 20


# --- game configuration -----------------------------------------------------------------------------


def test_live_ops_changes_a_game_through_the_form_with_a_reason_and_it_is_audited() -> None:
    client, operator = member_of("live-ops")
    config = GameConfig.objects.get(pk="rps")

    # Without a reason the form says so and nothing changes
    refused = client.post(f"{CONFIGS}rps/change/", config_form(config, max_bet="2000"))
    assert refused.status_code == 200
    assert "Give a reason" in refused.content.decode()
    assert GameConfig.objects.get(pk="rps").max_bet == config.max_bet

    # An RTP over 100% is refused on its field
    greedy = client.post(f"{CONFIGS}rps/change/", config_form(config, win_multiplier="2.5", reason="promo"))
    assert greedy.status_code == 200
    assert "return to player must stay below 100%" in greedy.content.decode()

    # With a reason it is saved through the service and audited
    done = client.post(f"{CONFIGS}rps/change/", config_form(config, max_bet="2000", reason="smaller stakes"))
    assert done.status_code == 302
    assert GameConfig.objects.get(pk="rps").max_bet == 2000
    record = AuditLog.objects.get(action="game_config_update")
    assert (record.actor, record.reason, record.data["changed"]) == (operator, "smaller stakes", ["max_bet"])


def test_switch_off_action_asks_a_reason_and_the_next_bet_is_refused(auth_client: Any) -> None:
    client, operator = member_of("live-ops")
    wallet_grant(user=auth_client.user, bundle={"gold": 1000}, reason="admin_adjust", idempotency_key=key())

    assert {"switch_on", "switch_off"} <= offered_actions(client, CONFIGS)
    asked = client.post(CONFIGS, {"action": "switch_off", "_selected_action": ["rps"]})
    assert asked.status_code == 200 and "reason" in asked.content.decode()
    done = client.post(CONFIGS, {"action": "switch_off", "_selected_action": ["rps"], "apply": "1", "reason": "bug"})

    assert done.status_code == 302
    assert GameConfig.objects.get(pk="rps").is_enabled is False
    assert AuditLog.objects.get(action="game_config_update").actor == operator
    bet = auth_client.post(
        "/api/games/rps/play", {"choice": "rock", "bet_amount": 100}, format="json", HTTP_IDEMPOTENCY_KEY=key()
    )
    assert (bet.status_code, bet.json()["error"]) == (403, "game_disabled")


def test_staff_who_may_only_view_the_games_change_nothing() -> None:
    # Given a staff member with view permissions only
    viewer, _ = staff_with("games.view_gameconfig", "games.view_gamedailylimit")
    config = GameConfig.objects.get(pk="rps")

    # Then they see the pages but no action, and every write is refused
    assert viewer.get(CONFIGS).status_code == 200
    assert offered_actions(viewer, CONFIGS) == set()
    forged = viewer.post(CONFIGS, {"action": "switch_off", "_selected_action": ["rps"], "apply": "1", "reason": "x"})
    assert forged.status_code in (200, 302)
    assert viewer.post(f"{CONFIGS}rps/change/", config_form(config, max_bet="7", reason="x")).status_code == 403
    assert (
        viewer.post(f"{LIMITS}add/", {"game": "rps", "vip_tier": "STANDARD", "limit": "1", "reason": "x"}).status_code
        == 403
    )
    assert GameConfig.objects.get(pk="rps").is_enabled is True
    assert GameConfig.objects.get(pk="rps").max_bet == config.max_bet
    assert not GameDailyLimit.objects.filter(game="rps").exists()
    assert not AuditLog.objects.exists()


def test_a_switch_only_operator_sees_the_limits_read_only() -> None:
    client, _ = staff_with("games.view_gameconfig", "games.switch_game")
    config = GameConfig.objects.get(pk="rps")

    page = client.get(f"{CONFIGS}rps/change/").content.decode()
    assert 'name="is_enabled"' in page
    assert 'name="max_bet"' not in page
    client.post(f"{CONFIGS}rps/change/", config_form(config, is_enabled="", max_bet="7", reason="night"))

    config = GameConfig.objects.get(pk="rps")
    assert (config.is_enabled, config.max_bet) == (False, GameConfig.objects.get(pk="rps").max_bet)
    assert config.max_bet != 7


def test_daily_limits_are_added_changed_and_removed_in_the_admin_with_reasons() -> None:
    client, operator = member_of("live-ops")

    added = client.post(f"{LIMITS}add/", {"game": "rps", "vip_tier": "STANDARD", "limit": "50", "reason": "trial"})
    assert added.status_code == 302
    row = GameDailyLimit.objects.get(game="rps", vip_tier="STANDARD")
    assert client.post(f"{LIMITS}{row.pk}/change/", {"limit": "80", "reason": "more"}).status_code == 302
    assert GameDailyLimit.objects.get(pk=row.pk).limit == 80
    removed = client.post(
        LIMITS, {"action": "remove_limits", "_selected_action": [row.pk], "apply": "1", "reason": "end"}
    )
    assert removed.status_code == 302
    assert not GameDailyLimit.objects.filter(game="rps").exists()
    assert [(r.data["after"], r.reason) for r in AuditLog.objects.order_by("id")] == [
        (50, "trial"),
        (80, "more"),
        (None, "end"),
    ]
    assert {r.actor for r in AuditLog.objects.all()} == {operator}


# --- rounds, verify, seeds ------------------------------------------------------------------------------


def test_the_verify_view_shows_a_match_without_the_secret_seed_until_the_player_rotates() -> None:
    # Given a round played with a seed the player has not revealed
    player = funded_player()
    round_ = rps_round(player)
    secret = FairnessSeed.objects.get(pk=round_.seed_id).server_seed
    client, _ = member_of("support")

    # When support verifies it
    page = client.get(f"{ROUNDS}{round_.pk}/verify/").content.decode()

    # Then it matches, and the server seed appears nowhere (neither on the verify page nor elsewhere)
    assert 'data-verdict="match"' in page
    assert secret not in page
    assert 'id="seed-secret"' in page
    for other in (f"{ROUNDS}{round_.pk}/change/", f"{SEEDS}{round_.seed_id}/change/", SEEDS, ROUNDS):
        assert secret not in client.get(other).content.decode(), other

    # And once the player rotates, the seed and the recomputation are shown
    fairness_rotate(user=player)
    revealed = client.get(f"{ROUNDS}{round_.pk}/verify/").content.decode()
    assert 'data-verdict="match"' in revealed
    assert secret in revealed
    assert 'id="recomputed"' in revealed


def test_a_tampered_round_shows_a_mismatch_naming_what_differs() -> None:
    player = funded_player()
    round_ = rps_round(player)
    other = {"rock": "paper", "paper": "scissors", "scissors": "rock"}[round_.outcome["computer_choice"]]
    GameRound.objects.filter(pk=round_.pk).update(outcome={**round_.outcome, "computer_choice": other})
    client, _ = staff_with("games.view_gameround")

    page = client.get(f"{ROUNDS}{round_.pk}/verify/").content.decode()

    assert 'data-verdict="mismatch"' in page
    assert "computer_choice" in re.search(r"MISMATCH:</strong>(.*?)</p>", page, re.S).group(1)  # type: ignore[union-attr]

    # And a payout changed by hand is caught too, also by the "verify selected" action
    GameRound.objects.filter(pk=round_.pk).update(outcome=round_.outcome, payout=round_.payout + 1000)
    assert 'data-verdict="mismatch"' in client.get(f"{ROUNDS}{round_.pk}/verify/").content.decode()
    listed = client.post(ROUNDS, {"action": "verify_rounds", "_selected_action": [round_.pk]}, follow=True)
    assert f"do NOT match their recomputation: #{round_.pk}" in listed.content.decode()


def test_a_running_crash_round_shows_no_crash_point_anywhere_in_the_admin(staff_client: Any) -> None:
    player = UserFactory()
    player_with_crash_point(player, lambda point: point >= 200)  # a crash point of 1.00 would end the round at once
    running = crash_bet(user=player, bet_amount=100, auto_cashout_multiplier=None, idempotency_key=key()).round
    running.refresh_from_db()
    assert running.status == RoundStatus.OPEN
    point = str(GameRound.objects.get(pk=running.pk).outcome.get("crash_point"))

    change = staff_client.get(f"{ROUNDS}{running.pk}/change/").content.decode()
    verify = staff_client.get(f"{ROUNDS}{running.pk}/verify/").content.decode()

    assert "withheld while the round is running" in change
    assert 'data-verdict="match"' in verify
    if point != "None":  # the crash helper may keep it out of the row while the round runs
        assert f'"crash_point": "{point}"' not in change + verify


@pytest.mark.parametrize(
    ("page", "lookup"),
    [
        (SEEDS, "server_seed__startswith=a"),
        (SEEDS, "server_seed__gt=8"),
        (ROUNDS, "seed__server_seed__startswith=a"),
        (ROUNDS, "outcome__crash_point__gt=2"),
        (ROUNDS, "outcome__icontains=2"),
    ],
)
def test_the_changelists_cannot_be_filtered_on_a_secret(staff_client: Any, page: str, lookup: str) -> None:
    rps_round(funded_player())

    response = staff_client.get(f"{page}?{lookup}")

    assert response.status_code == 400  # Django's refusal of a lookup the admin does not allow


def test_rounds_are_found_by_id_nickname_or_site_id_and_link_to_the_player(staff_client: Any) -> None:
    player = funded_player()
    mine = rps_round(player)
    rps_round(funded_player())

    for term in (str(mine.pk), player.nickname, player.site_id):
        rows = staff_client.get(ROUNDS, {"q": term}).context["cl"].result_list
        assert mine in list(rows), term
    listing = staff_client.get(ROUNDS, {"q": player.site_id}).content.decode()
    assert f'href="/admin/accounts/user/{player.pk}/change/"' in listing


def test_support_sees_rounds_seeds_and_stats_but_no_configuration_and_cannot_edit_rounds() -> None:
    client, _ = member_of("support")
    round_ = rps_round(funded_player())

    for page in (ROUNDS, SEEDS, "/admin/games/playergamestats/", f"{ROUNDS}{round_.pk}/change/"):
        assert client.get(page).status_code == 200, page
    assert client.get(CONFIGS).status_code == 403
    assert offered_actions(client, ROUNDS) == {"verify_rounds"}
    assert client.post(f"{ROUNDS}{round_.pk}/change/", {"payout": "0"}).status_code == 403
    assert client.post(f"{ROUNDS}{round_.pk}/delete/", {"post": "yes"}).status_code == 403
    assert GameRound.objects.filter(pk=round_.pk, payout=round_.payout).exists()
