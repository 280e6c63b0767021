"""The events back office in a real browser (Playwright + Debian's Chromium against pytest-django's
live server): a live-ops staff member creates an event with a requirement and a daily mission
through the admin forms, a player joins the event and plays rock-paper-scissors through the API
until both are complete and claims the rewards, and the staff member sees the participation
complete and claimed, and the mission's instance claimed, in the admin."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from django.contrib.auth.models import Group
from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts.models import User
from accounts.tests.factories import UserFactory
from accounts.tokens import tokens_issue
from casino.models import AuditLog
from conftest import admin_log_in
from economy.models import Wallet
from economy.services import wallet_grant
from events.models import Event, EventParticipation, MissionProgress, MissionTemplate

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROUNDS = 3


def fill_datetime(page: Page, field: str, when: Any) -> None:
    local = timezone.localtime(when)
    page.fill(f"#id_{field}_0", local.strftime("%Y-%m-%d"))
    page.fill(f"#id_{field}_1", local.strftime("%H:%M:%S"))


def test_live_ops_create_an_event_a_player_completes_and_claims_it_and_staff_see_it_claimed(
    page: Page, password: str, live_server: Any
) -> None:
    # --- a live-ops staff member (the role's group, nothing else) logs into the back office
    staff = UserFactory(site_id="liveops01", password=password, is_staff=True)
    staff.groups.add(Group.objects.get(name="live-ops"))
    admin_log_in(page, staff.site_id, password)

    # --- and creates an event: play 3 rounds of rock-paper-scissors, 750 gold
    now = timezone.now()
    page.goto("/admin/events/event/add/")
    page.fill("#id_title", "RPS sprint")
    page.fill("#id_description", "Play three rounds of rock-paper-scissors.")
    page.select_option("#id_event_type", "challenge")
    page.fill("#id_priority", "40")
    fill_datetime(page, "starts_at", now - timedelta(minutes=5))
    fill_datetime(page, "ends_at", now + timedelta(days=7))
    page.fill("#id_reward_gold", "750")
    page.select_option("#id_requirements-0-metric", "rounds_played")
    page.fill("#id_requirements-0-game", "rps")
    page.fill("#id_requirements-0-target", str(ROUNDS))
    page.fill("#id_reason", "spring sprint, ticket LO-12")
    page.click("input[name=_save]")
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")
    row = page.locator("#result_list tbody tr", has_text="RPS sprint")
    expect(row).to_contain_text("Rounds played (rps) ≥ 3")
    expect(row).to_contain_text("running")
    event = Event.objects.get(title="RPS sprint")
    assert list(event.requirements.values_list("metric", "game", "target")) == [("rounds_played", "rps", ROUNDS)]
    assert AuditLog.objects.get(action="event_create").actor_id == staff.pk

    # --- and a daily mission: the same rounds, 120 gold
    page.goto("/admin/events/missiontemplate/add/")
    page.fill("#id_code", "daily-rps-3")
    page.fill("#id_title", "Three throws")
    page.select_option("#id_period", "daily")
    page.select_option("#id_metric", "rounds_played")
    page.fill("#id_game", "rps")
    page.fill("#id_target", str(ROUNDS))
    page.fill("#id_reward_gold", "120")
    page.fill("#id_reason", "daily habit, ticket LO-13")
    page.click("input[name=_save]")
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")
    expect(page.locator("#result_list tbody tr", has_text="Three throws")).to_be_visible()
    mission = MissionTemplate.objects.get(code="daily-rps-3")
    assert AuditLog.objects.filter(action="mission_template_create", actor_id=staff.pk).count() == 1

    # --- a player joins through the API and plays until the event is complete
    player = UserFactory(site_id="sprinter1", nickname="Sprinter")
    wallet_grant(user=player, bundle={"gold": 1000}, reason="admin_adjust", idempotency_key=f"fund:{player.pk}")
    api = httpx.Client(
        base_url=f"{live_server.url}/api",
        headers={"Authorization": f"Bearer {tokens_issue(user=player).access}"},
        timeout=30,
    )
    with api:
        joined = api.post("/events/join", json={"event_id": event.pk}, headers={"X-Idempotency-Key": str(uuid.uuid4())})
        assert joined.status_code == 201, joined.text
        for played in range(1, ROUNDS + 1):
            spin = api.post(
                "/games/rps/play",
                json={"choice": "rock", "bet_amount": 10},
                headers={"X-Idempotency-Key": str(uuid.uuid4())},
            )
            assert spin.status_code == 200, spin.text
            mine = api.get(f"/events/{event.pk}").json()["user_participation"]
            assert mine["progress"] == {"rounds_played:rps": played}
            assert mine["completed"] is (played == ROUNDS)
        balance_before_claim = Wallet.objects.get(pk=player.pk).gold

        daily = api.get("/events/missions/daily").json()
        row = next(item for item in daily if item["mission"]["id"] == mission.pk)
        assert (row["current_progress"], row["completed"]) == (ROUNDS, True)

        # --- and claims both rewards
        claim = api.post(f"/events/claim/{event.pk}", headers={"X-Idempotency-Key": str(uuid.uuid4())})
        assert claim.status_code == 200, claim.text
        assert (claim.json()["awarded_gold"], claim.json()["new_balance"]) == (750, balance_before_claim + 750)
        mission_claim = api.post(
            f"/events/missions/claim/{mission.pk}", headers={"X-Idempotency-Key": str(uuid.uuid4())}
        )
        assert mission_claim.status_code == 200, mission_claim.text
        assert mission_claim.json()["new_balance"] == balance_before_claim + 750 + 120

    # --- the staff member finds the participation complete and claimed
    page.goto("/admin/events/event/")
    row = page.locator("#result_list tbody tr", has_text="RPS sprint")
    expect(row.locator("td.field-participants")).to_have_text("1")
    expect(row.locator("td.field-claimed_count")).to_have_text("1")
    page.goto(f"/admin/events/event/{event.pk}/change/")
    page.click("#participations-link")
    expect(page.locator("#changelist-filter")).to_be_visible()
    page.locator('#changelist-filter details[data-filter-title="claimed"]').get_by_role("link", name="Yes").click()
    expect(page).to_have_url(
        re.compile(rf"event__id__exact={event.pk}.*claimed=yes|claimed=yes.*event__id__exact={event.pk}")
    )
    # The URL changes before the filtered page has rendered: wait for what only the new page shows.
    expect(page.locator('#changelist-filter details[data-filter-title="claimed"] li.selected')).to_have_text("Yes")
    participation_row = page.locator("#result_list tbody tr", has_text="Sprinter")
    expect(participation_row).to_contain_text("rounds_played:rps 3/3")
    expect(participation_row.locator("td.field-completed img")).to_have_attribute("alt", "True")
    expect(participation_row.locator("td.field-claimed img")).to_have_attribute("alt", "True")
    page.goto(f"/admin/events/missionprogress/?q={player.site_id}")
    mission_row = page.locator("#result_list tbody tr", has_text="Three throws")
    expect(mission_row).to_be_visible()
    assert MissionProgress.objects.get(template=mission, user=player).claimed_at is not None
    participation = EventParticipation.objects.get(event=event, user=player)
    assert participation.completed_at is not None and participation.claimed_at is not None
    assert User.objects.get(pk=player.pk).nickname == "Sprinter"
