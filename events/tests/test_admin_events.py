"""The events back office: live-ops create and edit events with their requirements (audited),
switch them on and off, force-claim for a player (paid once, audited); staff without the
permission change nothing; the preview counts the players the requirements would already match."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client
from django.utils import timezone

from accounts.services.staff import staff_roles_sync
from accounts.tests.factories import UserFactory
from casino.models import AuditLog
from economy.enums import LedgerReason
from economy.models import LedgerEntry, Wallet
from economy.services import wallet_grant
from events.exceptions import EventRequirementsLocked
from events.models import Event, EventParticipation, EventProgress, EventRequirement
from events.selectors import event_requirements_preview
from events.services import RequirementSpec, event_join, event_save
from events.tests.factories import event_with
from games.services import Decision, Draw, round_play
from realtime import clickhouse
from realtime.tests.conftest import clickhouse_db  # noqa: F401 - the fixture, for the ClickHouse preview

pytestmark = pytest.mark.django_db

EVENTS = "/admin/events/event/"
PARTICIPATIONS = "/admin/events/eventparticipation/"


@pytest.fixture
def roles() -> None:
    staff_roles_sync()


def member_of(role: str) -> tuple[Client, Any]:
    staff = UserFactory(is_staff=True)
    staff.groups.add(Group.objects.get(name=role))
    client = Client()
    client.force_login(staff)
    return client, staff


def staff_with(*codenames: str) -> tuple[Client, Any]:
    staff = UserFactory(is_staff=True)
    staff.user_permissions.add(*Permission.objects.filter(content_type__app_label="events", codename__in=codenames))
    client = Client()
    client.force_login(staff)
    return client, staff


def fund(user: Any, gold: int = 100_000) -> None:
    wallet_grant(user=user, bundle={"gold": gold}, reason="admin_adjust", idempotency_key=f"fund:{user.pk}:{gold}")


def play(user: Any, *, game: str = "rps", bet: int = 10, payout: int = 0) -> Any:
    def decide(draw: Draw) -> Decision:
        return Decision(payout=payout, inputs={}, outcome={}, subtype="test")

    return round_play(
        user=user, game=game, bet_amount=bet, idempotency_key=str(uuid.uuid4()), fingerprint="f", decide=decide
    )


def event_form(
    *, requirements: list[tuple[str, str, int]], existing: list[EventRequirement] | None = None, **overrides: Any
) -> dict[str, Any]:
    """The admin's add/change form as a browser posts it (split date and time, the inline's
    management form; existing rows first, then the new ones)."""
    now = timezone.now()
    starts_at, ends_at = (
        overrides.pop("starts_at", now - timedelta(hours=1)),
        overrides.pop("ends_at", now + timedelta(days=7)),
    )
    data: dict[str, Any] = {
        "title": "Bet big week",
        "description": "Bet 1,000 gold.",
        "event_type": "challenge",
        "image_url": "",
        "priority": "10",
        "is_active": "on",
        "starts_at_0": starts_at.strftime("%Y-%m-%d"),
        "starts_at_1": starts_at.strftime("%H:%M:%S"),
        "ends_at_0": ends_at.strftime("%Y-%m-%d"),
        "ends_at_1": ends_at.strftime("%H:%M:%S"),
        "reward_gold": "5000",
        "reward_gems": "0",
        "reward_xp": "1000",
        "reward_items": "[]",
        "reason": "spring campaign",
        "requirements-INITIAL_FORMS": str(len(existing or [])),
        "requirements-MIN_NUM_FORMS": "0",
        "requirements-MAX_NUM_FORMS": "1000",
        **overrides,
    }
    rows = [(r.pk, r.metric, r.game, r.target) for r in existing or []]
    rows += [(None, metric, game, target) for metric, game, target in requirements]
    data["requirements-TOTAL_FORMS"] = str(len(rows))
    for index, (pk, metric, game, target) in enumerate(rows):
        data[f"requirements-{index}-id"] = pk or ""
        data[f"requirements-{index}-metric"] = metric
        data[f"requirements-{index}-game"] = game
        data[f"requirements-{index}-target"] = str(target)
    data.update({name: value for name, value in overrides.items() if name.startswith("requirements-")})
    return data


def run_action(client: Client, url: str, action: str, objects: list[Any], reason: str = "ticket 42") -> Any:
    return client.post(
        url,
        {"action": action, "_selected_action": [o.pk for o in objects], "apply": "1", "reason": reason},
        follow=True,
    )


# --- creating and editing -----------------------------------------------------------------------


def test_live_ops_create_an_event_with_a_requirement_and_the_creation_is_audited(roles: None) -> None:
    # Given a live-ops member
    client, staff = member_of("live-ops")
    assert client.get(f"{EVENTS}add/").status_code == 200

    # When they create an event requiring 1,000 gold bet
    response = client.post(f"{EVENTS}add/", event_form(requirements=[("amount_bet", "", 1000)]))

    # Then the event and its requirement exist, and the audit says who, what and why
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else response
    event = Event.objects.get(title="Bet big week")
    assert (event.reward_gold, event.reward_xp, event.priority, event.is_active) == (5000, 1000, 10, True)
    assert list(event.requirements.values_list("metric", "game", "target")) == [("amount_bet", "", 1000)]
    audit = AuditLog.objects.get(action="event_create")
    assert (audit.actor, audit.reason, audit.target_id) == (staff, "spring campaign", str(event.pk))
    assert audit.data["before"] is None
    assert audit.data["after"]["requirements"] == [["amount_bet", "", 1000]]


@pytest.mark.parametrize(
    ("requirement", "message"),
    [
        (("logins", "rps", 3), "counts every game"),
        (("rounds_played", "", 0), "at least"),
    ],
)
def test_a_requirement_that_cannot_be_counted_is_a_form_error_and_nothing_is_created(
    roles: None, requirement: tuple[str, str, int], message: str
) -> None:
    client, _ = member_of("live-ops")
    response = client.post(f"{EVENTS}add/", event_form(requirements=[requirement]))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Event.objects.exists() and not AuditLog.objects.exists()


def test_an_event_needs_a_reason_and_a_positive_window(roles: None) -> None:
    client, _ = member_of("live-ops")
    now = timezone.now()
    no_reason = client.post(f"{EVENTS}add/", event_form(requirements=[("rounds_played", "", 3)], reason=""))
    backwards = client.post(
        f"{EVENTS}add/",
        event_form(requirements=[("rounds_played", "", 3)], starts_at=now, ends_at=now - timedelta(days=1)),
    )
    assert no_reason.status_code == backwards.status_code == 200
    assert "must end after it starts" in backwards.content.decode()
    assert not Event.objects.exists()


def test_requirements_change_freely_until_someone_joins_then_only_the_window_moves(roles: None) -> None:
    # Given an event nobody joined
    client, staff = member_of("live-ops")
    event = event_with({"rounds_played": 3})
    requirement = event.requirements.get()

    # When live-ops change its target, it changes (audited with before and after)
    changed = client.post(
        f"{EVENTS}{event.pk}/change/",
        event_form(requirements=[], existing=[requirement], **{"requirements-0-target": "5", "reason": "easier"}),
    )
    assert changed.status_code == 302
    assert list(event.requirements.values_list("metric", "target")) == [("rounds_played", 5)]
    audit = AuditLog.objects.get(action="event_update")
    assert audit.data["before"]["requirements"] == [["rounds_played", "", 3]]
    assert audit.data["after"]["requirements"] == [["rounds_played", "", 5]]

    # Given a player joined
    player = UserFactory()
    event_join(user=player, event_id=event.pk)
    requirement = event.requirements.get()

    # Then the requirements are shown read-only, a posted change is ignored, and the service refuses one
    page = client.get(f"{EVENTS}{event.pk}/change/").content.decode()
    assert 'name="requirements-0-target"' not in page
    ignored = client.post(
        f"{EVENTS}{event.pk}/change/",
        event_form(requirements=[], existing=[requirement], **{"requirements-0-target": "1"}),
    )
    assert ignored.status_code == 302
    assert list(event.requirements.values_list("target", flat=True)) == [5]
    with pytest.raises(EventRequirementsLocked):
        event_save(actor=staff, event=event, requirements=[RequirementSpec("rounds_played", "", 1)], reason="x")
    assert list(event.requirements.values_list("target", flat=True)) == [5]

    # But moving the end of the window works, and the player's progress rows follow it
    later = timezone.now() + timedelta(days=30)
    moved = client.post(
        f"{EVENTS}{event.pk}/change/", event_form(requirements=[], existing=[requirement], ends_at=later)
    )
    assert moved.status_code == 302
    event.refresh_from_db()
    assert abs((event.ends_at - later).total_seconds()) < 1
    assert list(EventProgress.objects.filter(participation__event=event).values_list("ends_at", flat=True)) == [
        event.ends_at
    ]
    assert AuditLog.objects.filter(action="event_update", actor=staff).count() == 3  # the ignored post saved too


def test_switching_events_off_and_on_asks_why_and_is_audited(roles: None) -> None:
    client, staff = member_of("live-ops")
    event = event_with({"rounds_played": 3})

    off = run_action(client, EVENTS, "deactivate_events", [event], reason="bug in the rules")
    assert off.status_code == 200
    event.refresh_from_db()
    assert event.is_active is False
    audit = AuditLog.objects.get(action="event_deactivate")
    assert (audit.actor, audit.reason, audit.data) == (staff, "bug in the rules", {"is_active": [True, False]})

    run_action(client, EVENTS, "activate_events", [event], reason="fixed")
    event.refresh_from_db()
    assert event.is_active is True
    assert AuditLog.objects.filter(action="event_activate").count() == 1


def test_staff_who_may_only_look_change_no_event(roles: None) -> None:
    # Given a staff member who may only view events
    client, _ = staff_with("view_event", "view_eventrequirement")
    event = event_with({"rounds_played": 3}, title="Keep me")

    # When they post an edit, a new event and the switch-off action
    edit = client.post(
        f"{EVENTS}{event.pk}/change/", event_form(requirements=[], existing=list(event.requirements.all()))
    )
    add = client.post(f"{EVENTS}add/", event_form(requirements=[("rounds_played", "", 1)]))
    switch = run_action(client, EVENTS, "deactivate_events", [event])

    # Then every one is refused and nothing changed
    assert (edit.status_code, add.status_code) == (403, 403)
    assert switch.status_code in (200, 403)  # not offered: Django answers "no action selected"
    event.refresh_from_db()
    assert (event.title, event.is_active, Event.objects.count()) == ("Keep me", True, 1)
    assert not AuditLog.objects.exists()


# --- participations and force-claim -------------------------------------------------------------


def test_participations_are_listed_filtered_and_searched_by_player(roles: None) -> None:
    client, _ = member_of("live-ops")
    event = event_with({"rounds_played": 1}, title="Sprint")
    done, waiting = UserFactory(site_id="doneplayer", nickname="Finisher"), UserFactory(site_id="waiting01")
    for player in (done, waiting):
        fund(player)
        event_join(user=player, event_id=event.pk)
    play(done)

    def listed(query: str) -> set[str]:
        response = client.get(f"{PARTICIPATIONS}?{query}")
        assert response.status_code == 200
        return {participation.user.site_id for participation in response.context["cl"].result_list}

    assert listed("") == {"doneplayer", "waiting01"}
    assert listed("completed=yes") == {"doneplayer"}
    assert listed("completed=no") == {"waiting01"}
    assert listed("claimed=yes") == set()
    assert listed("q=Finisher") == {"doneplayer"}
    assert listed("q=waiting01") == {"waiting01"}
    assert listed(f"event__id__exact={event.pk}&completed=yes") == {"doneplayer"}
    page = client.get(PARTICIPATIONS).content.decode()
    assert f"/admin/accounts/user/{done.pk}/change/" in page  # a link to the player
    assert "rounds_played 1/1" in page


def test_force_claim_pays_once_is_audited_and_says_when_it_was_already_claimed(roles: None) -> None:
    # Given a player who joined but did not complete an event
    client, staff = member_of("live-ops")
    player = UserFactory()
    fund(player, 1000)
    event = event_with({"rounds_played": 50}, reward_gold=500)
    event_join(user=player, event_id=event.pk)
    participation = EventParticipation.objects.get(event=event, user=player)

    # When live-ops force-claim it with a reason
    first = run_action(client, PARTICIPATIONS, "force_claim", [participation], reason="ticket 7: lost rounds")

    # Then the reward is paid once, the participation is complete and claimed, and it is audited
    assert "paid 500 gold" in first.content.decode()
    participation.refresh_from_db()
    assert participation.completed_at is not None and participation.claimed_at is not None
    assert Wallet.objects.get(pk=player.pk).gold == 1500
    audit = AuditLog.objects.get(action="event_force_claim")
    assert (audit.actor, audit.reason, audit.data["rewards"]) == (staff, "ticket 7: lost rounds", {"gold": 500})

    # When it is force-claimed again, nothing more is paid and the message says so
    second = run_action(client, PARTICIPATIONS, "force_claim", [participation], reason="again")
    assert "already claimed" in second.content.decode()
    assert Wallet.objects.get(pk=player.pk).gold == 1500
    assert LedgerEntry.objects.filter(wallet_id=player.pk, reason=LedgerReason.EVENT_REWARD).count() == 1
    assert AuditLog.objects.filter(action="event_force_claim").count() == 1


def test_staff_without_the_force_claim_permission_are_not_offered_it_and_pay_nothing(roles: None) -> None:
    # Given staff who can see participations but not force-claim
    client, _ = staff_with("view_event", "view_eventparticipation", "view_eventprogress")
    player = UserFactory()
    fund(player, 1000)
    event = event_with({"rounds_played": 50}, reward_gold=500)
    event_join(user=player, event_id=event.pk)
    participation = EventParticipation.objects.get(event=event)

    # When they look, then post the action anyway
    page = client.get(PARTICIPATIONS)
    forced = client.post(
        PARTICIPATIONS,
        {"action": "force_claim", "_selected_action": [participation.pk], "apply": "1", "reason": "sneaky"},
    )

    # Then it is not offered, the post is refused, and nothing was paid
    assert page.status_code == 200
    assert page.context["action_form"] is None or "force_claim" not in dict(
        page.context["action_form"].fields["action"].choices
    )
    assert forced.status_code in (200, 403)  # not offered: Django answers "no action selected"
    participation.refresh_from_db()
    assert participation.claimed_at is None
    assert Wallet.objects.get(pk=player.pk).gold == 1000
    assert not AuditLog.objects.exists()


def test_live_ops_see_events_but_no_wallets_or_players(roles: None) -> None:
    client, _ = member_of("live-ops")
    for page in (EVENTS, PARTICIPATIONS, "/admin/events/missiontemplate/"):
        assert client.get(page).status_code == 200, page
    for page in ("/admin/economy/wallet/", "/admin/accounts/user/", "/admin/economy/ledgerentry/"):
        assert client.get(page).status_code == 403, page


# --- the preview --------------------------------------------------------------------------------


def test_the_preview_counts_players_meeting_every_requirement_from_the_outbox(roles: None, settings: Any) -> None:
    # Given (PostgreSQL path) three players' rounds: one bet 1,000 in rps and won 3 slot rounds,
    # one bet 1,000 but only in rps, one bet little
    settings.CLICKHOUSE_URL = ""
    both, bets_only, small = UserFactory(), UserFactory(), UserFactory()
    for player in (both, bets_only, small):
        fund(player)
    for _ in range(2):
        play(both, bet=500)
        play(bets_only, bet=500)
    for _ in range(3):
        play(both, game="slot", bet=10, payout=20)
    play(small, bet=100)

    # When the preview replays the last day for "bet 1,000" and "win 3 slot rounds"
    preview = event_requirements_preview(requirements=[("amount_bet", "", 1000), ("rounds_won", "slot", 3)], days=1)

    # Then one player meets both; two meet the first; all three did something counted
    assert preview.source == "postgresql"
    assert preview.players_matching == 1
    assert [r.players_meeting for r in preview.requirements] == [2, 1]
    assert preview.players_seen == 3
    assert preview.truncated is False

    # And the admin page shows it, for an event with these requirements
    client, _ = member_of("live-ops")
    event = event_with(
        [("amount_bet", "", 1000), ("rounds_won", "slot", 3)], ends_at=timezone.now() + timedelta(hours=2)
    )
    page = client.get(f"{EVENTS}{event.pk}/preview/")
    assert page.status_code == 200
    assert '<strong id="players-matching">1</strong>' in page.content.decode()
    assert client.get(f"{EVENTS}{event.pk}/change/").content.decode().count("preview-link") == 1


def test_the_preview_reads_clickhouse_and_counts_a_redelivered_event_once(clickhouse_db: str, user: Any) -> None:  # noqa: F811
    # Given ClickHouse holding two rounds of one player (one delivered twice) and one of another
    now = timezone.now()

    def envelope(round_id: int, user_id: int, bet: int) -> dict[str, Any]:
        return {
            "event_id": str(uuid.uuid4()),
            "type": "game_round",
            "user_id": user_id,
            "data": {"round_id": round_id, "game": "rps", "bet_amount": bet, "payout": 0, "result": "loss"},
            "timestamp": (now - timedelta(hours=1)).isoformat().replace("+00:00", "Z"),
        }

    envelopes = [envelope(1, 7, 600), envelope(2, 7, 600), envelope(3, 8, 600)]
    ch = clickhouse.client()
    try:
        rows = clickhouse.rows_from_envelopes(envelopes, ingested=now)
        clickhouse.insert_rows(ch, rows)
        clickhouse.insert_rows(ch, rows[:1])  # the relay's at-least-once: a duplicate before any merge
    finally:
        ch.disconnect()

    # When the preview asks for 1,000 gold bet (and, separately, 1,200)
    enough = event_requirements_preview(requirements=[("amount_bet", "", 1000)], days=1)
    too_much = event_requirements_preview(requirements=[("amount_bet", "", 1201)], days=1)

    # Then it read ClickHouse, counted the duplicate once: player 7 bet 1,200, player 8 600
    assert enough.source == "clickhouse"
    assert enough.events_read == 3
    assert (enough.players_matching, enough.players_seen) == (1, 2)
    assert too_much.players_matching == 0
