"""Changing the slot tables (games.services.slot_tables.slot_tables_publish and the admin's slot machine
page): validated, permission-checked, audited with before/after/why, picked up by the next spin
through the per-process table cache, and never making an earlier spin unverifiable."""

from __future__ import annotations

import importlib.util
import sys
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from django.contrib import admin
from rest_framework.test import APIClient

from accounts.tests.staff import staff_with
from casino.models import AuditLog
from casino.permissions import StaffPermissionRequired
from economy.exceptions import ReasonRequired
from economy.services import wallet_grant
from games.defaults import SLOT_PAYTABLE, SLOT_REEL_WEIGHTS
from games.exceptions import InvalidSlotTable
from games.fairness import PayRule, slot_rtp
from games.models import GameRound, SlotPayRule, SlotReelWeight, SlotSymbol, SlotTableVersion
from games.services import slot_table_current, slot_table_invalidate, slot_table_live, slot_tables_publish

pytestmark = pytest.mark.django_db

MACHINE = "/admin/games/slottableversion/machine/"
CONFIGURE = "games.configure_game"
VIEW = "games.view_slottableversion"
VERIFIER_PATH = Path(__file__).resolve().parents[2] / "tools" / "verify_round.py"


def shipped_weights() -> dict[int, dict[str, int]]:
    return {reel: dict(weights) for reel, weights in SLOT_REEL_WEIGHTS.items()}


def shipped_paytable() -> list[dict[str, Any]]:
    return [
        {"symbol": symbol, "count": count, "multiplier": str(multiplier), "is_jackpot": jackpot}
        for symbol, count, multiplier, jackpot in SLOT_PAYTABLE
    ]


def rows() -> tuple[dict[tuple[int, str], int], dict[tuple[str, int], tuple[Decimal, bool]]]:
    weights = {(row.reel, row.symbol.code): row.weight for row in SlotReelWeight.objects.select_related("symbol")}
    rules = {
        (rule.symbol.code, rule.count): (rule.multiplier, rule.is_jackpot)
        for rule in SlotPayRule.objects.select_related("symbol")
    }
    return weights, rules


def load_verifier() -> ModuleType:
    spec = importlib.util.spec_from_file_location("verify_round_for_slot_tables", VERIFIER_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


# --- The service --------------------------------------------------------------------------------


def test_publishing_writes_the_rows_makes_a_version_with_its_exact_rtp_and_audits_it(
    django_capture_on_commit_callbacks: Any,
) -> None:
    # Given a live-ops member and the shipped table in play
    _, staff = staff_with(CONFIGURE)
    before = slot_table_current()
    # When they make sevens rarer on the right reel and pay 300 for the jackpot
    weights = shipped_weights()
    weights[2]["seven"], weights[2]["lemon"] = 1, 9
    paytable = [{**rule, "multiplier": "300"} if rule["is_jackpot"] else rule for rule in shipped_paytable()]
    with django_capture_on_commit_callbacks(execute=True):
        version = slot_tables_publish(actor=staff, reason="rarer jackpot", weights=weights, paytable=paytable)
    # Then the rows say so, and the new version is the one in play, with its RTP computed exactly
    stored_weights, stored_rules = rows()
    assert (stored_weights[(2, "seven")], stored_weights[(2, "lemon")]) == (1, 9)
    assert stored_rules[("seven", 3)] == (Decimal("300"), True)
    assert version.pk != before.pk
    assert slot_table_current().pk == version.pk
    exact = slot_rtp(version.reel_strips, [PayRule.from_mapping(rule) for rule in version.paytable])
    assert version.rtp == round(Decimal(exact.rtp.numerator) / exact.rtp.denominator, 6)  # stored to 6 places
    assert version.reel_strips[2].count("seven") == 1
    # And the audit log says who, what, before, after and why
    entry = AuditLog.objects.get(action="slot_tables_publish")
    assert (entry.actor_id, entry.reason, entry.target_id) == (staff.pk, "rarer jackpot", str(version.pk))
    assert entry.data["before"]["table_version"] == before.pk
    assert entry.data["before"]["rtp"] == "96.0693"
    assert entry.data["before"]["weights"]["2"]["seven"] == 2
    assert entry.data["after"]["table_version"] == version.pk
    assert entry.data["after"]["weights"]["2"]["seven"] == 1
    assert {"symbol": "seven", "count": 3, "multiplier": "300", "is_jackpot": True} in entry.data["after"]["paytable"]


def test_publishing_only_the_paytable_keeps_the_weights() -> None:
    _, staff = staff_with(CONFIGURE)
    weights_before, _ = rows()
    paytable = [rule for rule in shipped_paytable() if rule["symbol"] != "diamond" or rule["count"] != 2]
    version = slot_tables_publish(actor=staff, reason="no diamond pairs", paytable=paytable)
    weights_after, rules_after = rows()
    assert weights_after == weights_before
    assert ("diamond", 2) not in rules_after
    assert version.rtp < Decimal("0.960693")


def test_a_staff_member_without_the_permission_changes_nothing() -> None:
    # Given a staff member who may only look at the tables
    _, clerk = staff_with(VIEW)
    before = rows()
    # When they try to publish
    with pytest.raises(StaffPermissionRequired):
        slot_tables_publish(actor=clerk, reason="why not", paytable=[{**shipped_paytable()[0], "multiplier": "5"}])
    # Then nothing changed and nothing was audited
    assert rows() == before
    assert not AuditLog.objects.filter(action="slot_tables_publish").exists()


def _weights_with(reel: int, **changes: Any) -> dict[Any, Any]:
    weights: dict[Any, Any] = shipped_weights()
    weights[reel] = {**weights[reel], **changes}
    return weights


@pytest.mark.parametrize(
    ("weights", "paytable", "problem"),
    [
        ({0: SLOT_REEL_WEIGHTS[0], 1: SLOT_REEL_WEIGHTS[1]}, None, "reel 2 is missing"),
        ({**SLOT_REEL_WEIGHTS, 3: SLOT_REEL_WEIGHTS[0]}, None, "unknown reel 3"),
        (_weights_with(1, seven=-1), None, "whole number >= 0"),
        (_weights_with(1, seven=1.5), None, "whole number >= 0"),
        (_weights_with(1, seven=True), None, "whole number >= 0"),
        (_weights_with(0, cherry=0, lemon=0, orange=0, grape=0, diamond=0, seven=0), None, "positive weight"),
        (_weights_with(0, cherry=5000), None, "at most 1000"),
        (_weights_with(0, banana=3), None, "unknown symbols banana"),
        ({0: {"cherry": 5}, 1: SLOT_REEL_WEIGHTS[1], 2: SLOT_REEL_WEIGHTS[2]}, None, "no weight for lemon"),
        (None, [], "non-empty list"),
        (None, [{"symbol": "cherry", "count": 1, "multiplier": "0"}], "multiplier must be"),
        (None, [{"symbol": "cherry", "count": 1, "multiplier": "-2"}], "multiplier must be"),
        (None, [{"symbol": "cherry", "count": 1, "multiplier": "1.555"}], "multiplier must be"),
        (None, [{"symbol": "cherry", "count": 1, "multiplier": 1.5}], "multiplier must be"),
        (None, [{"symbol": "cherry", "count": 1, "multiplier": "NaN"}], "multiplier must be"),
        (None, [{"symbol": "cherry", "count": 4, "multiplier": "2"}], "count must be 1, 2 or 3"),
        (None, [{"symbol": "plum", "count": 1, "multiplier": "2"}], "unknown symbol"),
        (None, [{"symbol": "cherry", "count": 1, "multiplier": "1.5"}] * 2, "given twice"),
        (None, [{"symbol": "cherry", "count": 1, "multiplier": "5"}], "must stay below 100"),
        (None, shipped_paytable(), "nothing changed"),
    ],
)
def test_tables_that_cannot_be_published_are_refused_with_their_problems_and_change_nothing(
    weights: Any, paytable: Any, problem: str
) -> None:
    # Given a live-ops member
    _, staff = staff_with(CONFIGURE)
    before = rows()
    versions = SlotTableVersion.objects.count()
    # When they publish a table with a mistake (or no change at all)
    with pytest.raises(InvalidSlotTable) as refused:
        slot_tables_publish(actor=staff, reason="try", weights=weights, paytable=paytable)
    # Then they are told what is wrong, and nothing changed
    problems = refused.value.details["problems"]
    assert any(problem in text for text in problems), problems
    assert refused.value.code == "invalid_slot_table"
    assert rows() == before
    assert SlotTableVersion.objects.count() <= versions + 1  # at most the in-play table's own version
    assert not AuditLog.objects.filter(action="slot_tables_publish").exists()


def test_a_publication_needs_a_reason() -> None:
    _, staff = staff_with(CONFIGURE)
    with pytest.raises(ReasonRequired):
        slot_tables_publish(actor=staff, reason="  ", paytable=shipped_paytable()[:-1])
    assert not AuditLog.objects.exists()


# --- The live table and its cache ----------------------------------------------------------------


def test_the_process_keeps_its_table_until_the_generation_changes() -> None:
    # Given this process has the table cached (its version row exists)
    slot_table_current()
    cached = slot_table_live()
    # When the rows are changed behind the service's back (a shell, a data migration)
    SlotReelWeight.objects.filter(reel=0, symbol__code="seven").update(weight=3)
    # Then the spins keep the cached table (no statement per spin)...
    assert slot_table_live() is cached
    # ...until the generation is bumped, as every publication does after its commit
    slot_table_invalidate()
    fresh = slot_table_live()
    assert fresh.version.pk != cached.version.pk
    assert fresh.version.reel_strips[0].count("seven") == 3


def test_a_table_whose_version_was_created_in_a_transaction_still_open_is_not_cached() -> None:
    # Given no version of the table exists yet, and a caller's transaction is open (the test's)
    assert not SlotTableVersion.objects.exists()
    # When the live table is read, creating its version inside that transaction
    first = slot_table_live()
    # Then it is not cached (the transaction could roll back); the next read finds it and caches it
    second = slot_table_live()
    assert second is not first and second.version.pk == first.version.pk
    assert slot_table_live() is second


def test_an_earlier_spin_stays_verifiable_after_the_tables_change(
    auth_client: APIClient, django_capture_on_commit_callbacks: Any
) -> None:
    # Given a spin on the shipped table
    user = auth_client.user  # type: ignore[attr-defined]
    wallet_grant(user=user, bundle={"gold": 1000}, reason="admin_adjust", idempotency_key="fund")
    old = auth_client.post("/api/games/slot/spin", {"bet_amount": 10}, format="json", HTTP_IDEMPOTENCY_KEY="old").json()
    # When staff publish a new table and the player spins again
    _, staff = staff_with(CONFIGURE)
    paytable = [{**rule, "multiplier": "9"} if rule["symbol"] == "lemon" else rule for rule in shipped_paytable()]
    with django_capture_on_commit_callbacks(execute=True):
        version = slot_tables_publish(actor=staff, reason="lemons pay 9", paytable=paytable)
    new = auth_client.post("/api/games/slot/spin", {"bet_amount": 10}, format="json").json()
    # Then the new spin used the new version, and both verify against the version they used
    assert new["table_version"] == version.pk != old["table_version"]
    # And a retry of the earlier spin still answers it as it was, rule included
    retried = auth_client.post("/api/games/slot/spin", {"bet_amount": 10}, format="json", HTTP_IDEMPOTENCY_KEY="old")
    assert {key: retried.json()[key] for key in ("round_id", "win_lines", "table_version")} == {
        key: old[key] for key in ("round_id", "win_lines", "table_version")
    }
    assert GameRound.objects.get(pk=old["round_id"]).inputs == {"table_version": old["table_version"]}
    auth_client.post("/api/games/fairness/rotate", {}, format="json")
    verifier = load_verifier()
    for spun in (old, new):
        round_data = auth_client.get(f"/api/games/rounds/{spun['round_id']}").json()
        assert verifier.verify_round(round_data).status == verifier.VERIFIED
    config = auth_client.get("/api/games/slot/config").json()
    assert config["table_version"] == version.pk
    assert (
        Fraction(config["rtp_exact"])
        == slot_rtp(version.reel_strips, [PayRule.from_mapping(rule) for rule in version.paytable]).rtp
    )


# --- The admin page --------------------------------------------------------------------------------


def form_data(**changes: Any) -> dict[str, Any]:
    """The slot machine form as the page submits it, for the shipped table plus ``changes``."""
    data: dict[str, Any] = {}
    for reel, weights in SLOT_REEL_WEIGHTS.items():
        for code, weight in weights.items():
            data[f"weight_{reel}_{code}"] = str(weight)
    for code in SLOT_REEL_WEIGHTS[0]:
        for count in (1, 2, 3):
            data[f"multiplier_{code}_{count}"] = ""
    for symbol, count, multiplier, jackpot in SLOT_PAYTABLE:
        data[f"multiplier_{symbol}_{count}"] = str(multiplier)
        if jackpot:
            data[f"jackpot_{symbol}_{count}"] = "on"
    data.update(changes)
    return data


def test_the_page_shows_the_table_in_play_with_its_figures_and_no_form_to_a_viewer() -> None:
    # Given a staff member who may view the slot tables but not change them
    client, _ = staff_with(VIEW)
    # When they open the slot machine page
    response = client.get(MACHINE)
    # Then they see the RTP, hit frequency and jackpot odds of the table in play, and no form
    assert response.status_code == 200
    page = response.content.decode()
    assert "96.0693%" in page and "29.4678%" in page and "1 in 4,096.00" in page
    assert 'name="_publish"' not in page and 'name="weight_0_cherry"' not in page
    # And a forged publication is refused and changes nothing
    before = rows()
    assert client.post(MACHINE, form_data(reason="sneaky", weight_0_seven="9", _publish="1")).status_code == 403
    assert rows() == before
    assert not AuditLog.objects.filter(action="slot_tables_publish").exists()


def test_the_page_is_refused_to_staff_without_the_view_permission() -> None:
    client, _ = staff_with("games.view_gameround")
    assert client.get(MACHINE).status_code == 403


def test_a_preview_shows_the_new_figures_and_publishes_nothing() -> None:
    client, _ = staff_with(VIEW, CONFIGURE)
    before = rows()
    response = client.post(MACHINE, form_data(multiplier_seven_3="300", _preview="1"))
    assert response.status_code == 200
    preview = response.context["preview"]
    assert preview is not None and preview["changed"] is True
    assert preview["rtp_exact"] == "3985/4096"  # 3935/4096 + 50 more x 1/4096
    assert preview["rtp"] == "97.2900"
    assert rows() == before


def test_a_live_ops_member_publishes_from_the_page_and_the_change_is_audited(
    django_capture_on_commit_callbacks: Any,
) -> None:
    # Given a live-ops member on the slot machine page
    client, staff = staff_with(VIEW, CONFIGURE)
    assert 'name="_publish"' in client.get(MACHINE).content.decode()
    # When they lower the grape triple's pay and publish with a reason
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(MACHINE, form_data(multiplier_grape_3="12", reason="grapes pay too much", _publish="1"))
    # Then the tables changed through the service, and the audit log has the why
    assert response.status_code == 302
    assert rows()[1][("grape", 3)] == (Decimal("12"), False)
    entry = AuditLog.objects.get(action="slot_tables_publish")
    assert (entry.actor_id, entry.reason) == (staff.pk, "grapes pay too much")
    assert slot_table_current().pk == int(entry.target_id)
    assert {rule["multiplier"] for rule in entry.data["before"]["paytable"] if rule["symbol"] == "grape"} == {"15"}


def test_a_publication_without_a_reason_or_with_a_mistake_is_shown_on_the_page() -> None:
    client, _ = staff_with(VIEW, CONFIGURE)
    before = rows()
    no_reason = client.post(MACHINE, form_data(multiplier_grape_3="12", _publish="1"))
    assert no_reason.status_code == 200 and no_reason.context["form"].errors["reason"]
    too_generous = client.post(MACHINE, form_data(multiplier_cherry_1="5", reason="party", _publish="1"))
    assert too_generous.status_code == 200
    assert any("below 100" in error for error in too_generous.context["form"].non_field_errors())
    assert rows() == before


def test_symbols_weights_and_pay_rules_cannot_be_edited_around_the_service() -> None:
    # Given a superuser (who holds every permission)
    client, _ = staff_with(is_superuser=True)
    symbol = SlotSymbol.objects.get(code="seven")
    # Then the symbols are read-only, and weights and rules have no admin pages of their own
    assert client.get(f"/admin/games/slotsymbol/{symbol.pk}/change/").status_code == 200
    response = client.post(f"/admin/games/slotsymbol/{symbol.pk}/change/", {"code": "seven", "name": "Bar"})
    assert response.status_code == 403
    assert SlotSymbol.objects.get(pk=symbol.pk).name == "Seven"
    assert SlotReelWeight not in admin.site._registry and SlotPayRule not in admin.site._registry
    versions = client.get("/admin/games/slottableversion/")
    assert versions.status_code == 200 and MACHINE in versions.content.decode()
    assert client.get("/admin/games/slottableversion/add/").status_code == 403
