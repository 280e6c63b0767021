"""The games' audited back-office services (games/services/back_office.py): switching a game on
and off, its bet limits and multiplier, and the daily limits per VIP tier. Each change checks the
staff member's own permission, is refused with a clear error when it would break a game, and
leaves an audit record with before, after and why; a game switched off refuses the next bet."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest

from accounts.tests.staff import staff_with
from casino.models import AuditLog
from casino.permissions import StaffPermissionRequired
from economy.exceptions import ReasonRequired
from economy.models import LedgerEntry
from economy.services import wallet_grant
from games.exceptions import DailyLimitReached, InvalidGameConfig
from games.models import GameConfig, GameDailyLimit, GameRound
from games.services import Decision, Draw, round_play
from games.services.back_office import game_config_update, game_daily_limit_set

pytestmark = pytest.mark.django_db

SWITCH = "games.switch_game"
CONFIGURE = "games.configure_game"


def fund(user: Any, gold: int = 10_000) -> None:
    wallet_grant(user=user, bundle={"gold": gold}, reason="admin_adjust", idempotency_key=f"fund:{uuid.uuid4()}")


def play_rps(auth_client: Any, bet: object = 100) -> Any:
    return auth_client.post(
        "/api/games/rps/play",
        {"choice": "rock", "bet_amount": bet},
        format="json",
        HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
    )


def returns_the_bet(draw: Draw) -> Decision:
    return Decision(payout=0, inputs={}, outcome={"f": draw.floats(1)[0]}, subtype="test_play")


# --- switching ------------------------------------------------------------------------------------


def test_switching_a_game_off_refuses_the_next_bet_at_once_and_on_again_accepts_it(auth_client: Any) -> None:
    # Given a funded player who just played, and a staff member who may switch games
    fund(auth_client.user)
    assert play_rps(auth_client).status_code == 200
    _, operator = staff_with(SWITCH)

    # When the game is switched off
    game_config_update(actor=operator, game="rps", is_enabled=False, reason="incident 42: odd results")

    # Then the very next bet is refused with game_disabled and changes nothing
    balance_before = LedgerEntry.objects.filter(wallet_id=auth_client.user.pk).count()
    refused = play_rps(auth_client)
    assert refused.status_code == 403
    assert refused.json()["error"] == "game_disabled"
    assert GameRound.objects.filter(user=auth_client.user).count() == 1
    assert LedgerEntry.objects.filter(wallet_id=auth_client.user.pk).count() == balance_before

    # And switched on again, bets are accepted
    game_config_update(actor=operator, game="rps", is_enabled=True, reason="incident 42 resolved")
    assert play_rps(auth_client).status_code == 200


def test_a_change_is_audited_with_who_before_after_and_why() -> None:
    _, operator = staff_with(SWITCH, CONFIGURE)
    before = GameConfig.objects.get(pk="rps")

    game_config_update(
        actor=operator, game="rps", min_bet=20, max_bet=2_000, win_multiplier=Decimal("1.9"), reason="spring tuning"
    )

    record = AuditLog.objects.get(action="game_config_update")
    assert record.actor == operator
    assert record.reason == "spring tuning"
    assert (record.target_type, record.target_id) == ("games.gameconfig", "rps")
    assert record.data["before"] == {
        "is_enabled": True,
        "min_bet": before.min_bet,
        "max_bet": before.max_bet,
        "win_multiplier": str(before.win_multiplier),
    }
    assert record.data["after"] == {"is_enabled": True, "min_bet": 20, "max_bet": 2_000, "win_multiplier": "1.9"}
    assert record.data["changed"] == ["max_bet", "min_bet", "win_multiplier"]
    config = GameConfig.objects.get(pk="rps")
    assert (config.min_bet, config.max_bet, config.win_multiplier) == (20, 2_000, Decimal("1.9"))


def test_a_change_that_changes_nothing_writes_no_audit_record() -> None:
    _, operator = staff_with(SWITCH)

    game_config_update(actor=operator, game="slot", is_enabled=True, reason="just checking")

    assert not AuditLog.objects.exists()


def test_new_bet_limits_apply_to_the_next_bet(auth_client: Any) -> None:
    fund(auth_client.user)
    _, operator = staff_with(CONFIGURE)

    game_config_update(actor=operator, game="rps", min_bet=500, reason="high rollers table")

    refused = play_rps(auth_client, bet=100)
    assert refused.status_code == 400
    assert refused.json()["error"] == "bet_out_of_range"
    assert refused.json()["min_bet"] == 500
    assert play_rps(auth_client, bet=500).status_code == 200


# --- permissions ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("held", "change"),
    [
        ((), {"is_enabled": False}),
        ((CONFIGURE,), {"is_enabled": False}),  # limits and odds are not the switch
        ((SWITCH,), {"max_bet": 50_000}),  # the switch is not the limits
        ((SWITCH,), {"is_enabled": False, "win_multiplier": Decimal("1.5")}),  # both need both
        (("games.view_gameconfig",), {"min_bet": 1}),
    ],
)
def test_a_staff_member_without_the_permission_changes_nothing(held: tuple[str, ...], change: dict[str, Any]) -> None:
    _, clerk = staff_with(*held)
    before = GameConfig.objects.get(pk="rps")

    with pytest.raises(StaffPermissionRequired):
        game_config_update(actor=clerk, game="rps", reason="trying", **change)

    after = GameConfig.objects.get(pk="rps")
    assert (after.is_enabled, after.min_bet, after.max_bet, after.win_multiplier) == (
        before.is_enabled,
        before.min_bet,
        before.max_bet,
        before.win_multiplier,
    )
    assert not AuditLog.objects.exists()


# --- refusals -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("game", "change", "field"),
    [
        ("rps", {"min_bet": 0}, "min_bet"),
        ("rps", {"min_bet": -10}, "min_bet"),
        ("rps", {"min_bet": True}, "min_bet"),
        ("rps", {"min_bet": 10.5}, "min_bet"),
        ("rps", {"max_bet": "100"}, "max_bet"),
        ("rps", {"min_bet": 600, "max_bet": 500}, "max_bet"),
        ("rps", {"max_bet": 5}, "max_bet"),  # below the current minimum of 10
        # (m + 1) / 3 >= 1: the earlier system's over-100% game must not come back
        ("rps", {"win_multiplier": Decimal("2")}, "win_multiplier"),
        ("rps", {"win_multiplier": Decimal("3.5")}, "win_multiplier"),
        ("rps", {"win_multiplier": Decimal("1")}, "win_multiplier"),  # a "win" paying only the bet back
        ("rps", {"win_multiplier": Decimal("1.91234")}, "win_multiplier"),  # more places than stored
        ("rps", {"win_multiplier": Decimal("NaN")}, "win_multiplier"),
        ("slot", {"win_multiplier": Decimal("1.5")}, "win_multiplier"),  # the slot's odds are its tables
        ("roulette", {"min_bet": 10}, "game"),
    ],
)
def test_a_configuration_no_game_may_run_with_is_refused_and_changes_nothing(
    game: str, change: dict[str, Any], field: str
) -> None:
    _, operator = staff_with(SWITCH, CONFIGURE)
    before = list(GameConfig.objects.order_by("game").values())

    with pytest.raises(InvalidGameConfig) as refused:
        game_config_update(actor=operator, game=game, reason="tuning", **change)

    assert refused.value.status == 400
    assert field in refused.value.details["fields"]
    assert list(GameConfig.objects.order_by("game").values()) == before
    assert not AuditLog.objects.exists()


@pytest.mark.parametrize("reason", ["", "   "])
def test_a_change_without_a_reason_is_refused(reason: str) -> None:
    _, operator = staff_with(SWITCH)

    with pytest.raises(ReasonRequired):
        game_config_update(actor=operator, game="rps", is_enabled=False, reason=reason)

    assert GameConfig.objects.get(pk="rps").is_enabled is True


# --- daily limits ---------------------------------------------------------------------------------


def test_a_daily_limit_is_set_changed_and_removed_each_time_audited_and_enforced_at_once(user: Any) -> None:
    # Given a funded player and an operator
    fund(user)
    _, operator = staff_with(CONFIGURE)

    def play(key: str) -> Any:
        return round_play(
            user=user, game="crash", bet_amount=10, idempotency_key=key, fingerprint="f", decide=returns_the_bet
        )

    # When standard players get 2 crash rounds a day
    game_daily_limit_set(actor=operator, game="crash", vip_tier="STANDARD", limit=2, reason="cool-down trial")
    play("a")
    play("b")

    # Then the third round today is refused
    with pytest.raises(DailyLimitReached):
        play("c")

    # And raising the limit, then removing it, lets the player go on; every change is audited
    game_daily_limit_set(actor=operator, game="crash", vip_tier="STANDARD", limit=3, reason="trial extended")
    play("c")
    assert (
        game_daily_limit_set(actor=operator, game="crash", vip_tier="STANDARD", limit=None, reason="trial over") is None
    )
    play("d")
    assert not GameDailyLimit.objects.filter(game="crash").exists()
    records = list(AuditLog.objects.filter(action="game_daily_limit_set").order_by("id"))
    assert [(r.data["before"], r.data["after"], r.reason) for r in records] == [
        (None, 2, "cool-down trial"),
        (2, 3, "trial extended"),
        (3, None, "trial over"),
    ]
    assert {r.actor for r in records} == {operator}


@pytest.mark.parametrize(
    ("game", "tier", "limit", "field"),
    [
        ("crash", "STANDARD", -1, "limit"),
        ("crash", "STANDARD", 1.5, "limit"),
        ("crash", "GOLD", 5, "vip_tier"),
        ("poker", "STANDARD", 5, "game"),
    ],
)
def test_an_invalid_daily_limit_is_refused(game: str, tier: str, limit: Any, field: str) -> None:
    _, operator = staff_with(CONFIGURE)

    with pytest.raises(InvalidGameConfig) as refused:
        game_daily_limit_set(actor=operator, game=game, vip_tier=tier, limit=limit, reason="x")

    assert field in refused.value.details["fields"]
    assert not GameDailyLimit.objects.filter(game=game, vip_tier=tier).exists()


def test_a_daily_limit_needs_the_configure_permission() -> None:
    _, clerk = staff_with(SWITCH, "games.view_gamedailylimit")

    with pytest.raises(StaffPermissionRequired):
        game_daily_limit_set(actor=clerk, game="rps", vip_tier="STANDARD", limit=5, reason="x")

    assert not GameDailyLimit.objects.filter(game="rps").exists()
