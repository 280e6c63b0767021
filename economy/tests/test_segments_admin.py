"""The back office of player segments (economy.admin_segments): the saved segments' form,
its validation and its preview, audited create/change/delete, staff without the permission
changing nothing, and the read-only lists of runs and players' groups."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.tests.staff import staff_with
from casino.models import AuditLog
from economy.models import PlayerSegment, RfmGroup, Segment, SegmentRun
from economy.tests.factories import player_with_wallet

pytestmark = pytest.mark.django_db

ADD = reverse("admin:economy_segment_add")
LIST = reverse("admin:economy_segment_changelist")
EDITOR = ("economy.view_segment", "economy.add_segment", "economy.change_segment", "economy.delete_segment")


def form(**overrides: Any) -> dict[str, Any]:
    """The segment form as a browser posts it."""
    data: dict[str, Any] = {
        "name": "Korean whales",
        "description": "",
        "rfm_groups": ["whale"],
        "vip_tiers": [],
        "level_min": "",
        "level_max": "",
        "seen_within_days": "",
        "unseen_for_days": "",
        "total_spent_min": "",
        "total_spent_max": "",
        "phone_prefixes": "+82",
    }
    data.update(overrides)
    return data


def change_url(segment: Segment) -> str:
    return reverse("admin:economy_segment_change", args=[segment.pk])


def saved(**fields: Any) -> Segment:
    now = timezone.now()
    return Segment.objects.create(
        **{"name": "Whales", "rfm_groups": ["whale"], "created_at": now, "updated_at": now, **fields}
    )


def scored(user: Any, group: str) -> None:
    PlayerSegment.objects.create(
        user=user,
        rfm_group=group,
        recency_score=5,
        frequency_score=5,
        monetary_score=5,
        recency_days=1,
        frequency=60,
        monetary=20_000,
        total_spent=20_000,
        source="postgresql",
        computed_at=timezone.now(),
    )


# --- Create, change, delete: audited -----------------------------------------------------------


def test_live_ops_create_a_segment_and_the_creation_is_audited() -> None:
    client, editor = staff_with(*EDITOR)

    response = client.post(ADD, form(phone_prefixes=" 82, +1 ,+82", vip_tiers=["VIP", "PREMIUM"], level_min="5"))

    assert response.status_code == 302
    segment = Segment.objects.get()
    assert (segment.rfm_groups, segment.vip_tiers, segment.level_min) == (["whale"], ["VIP", "PREMIUM"], 5)
    assert segment.phone_prefixes == "+82, +1"  # normalised: duplicates gone, "+" added
    assert segment.created_by == editor
    audit = AuditLog.objects.get()
    assert (audit.action, audit.actor, audit.target_id) == ("segment_create", editor, str(segment.pk))
    assert audit.data["phone_prefixes"] == "+82, +1"


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"level_min": "9", "level_max": "3"}, "level_max", "The highest level is below the lowest."),
        ({"total_spent_min": "500", "total_spent_max": "499"}, "total_spent_max", "The highest money spent"),
        ({"phone_prefixes": "+82, +0"}, "phone_prefixes", "+0 is not a country calling code"),
        ({"phone_prefixes": "Korea"}, "phone_prefixes", "Korea is not a country calling code"),
        ({"seen_within_days": "7", "unseen_for_days": "7"}, "unseen_for_days", "No player can be seen"),
        ({"level_min": "0"}, "level_min", "Levels start at 1."),
        ({"seen_within_days": "0"}, "seen_within_days", "At least 1 day."),
        ({"rfm_groups": ["kraken"]}, "rfm_groups", "Select a valid choice."),
        ({"vip_tiers": ["GOLD"]}, "vip_tiers", "Select a valid choice."),
        ({"total_spent_min": "-1"}, "total_spent_min", "greater than or equal to 0"),
    ],
)
def test_the_form_refuses_criteria_no_player_or_nothing_could_match(
    overrides: dict[str, Any], field: str, message: str
) -> None:
    client, _ = staff_with(*EDITOR, "economy.preview_segment")

    for submit in ({}, {"_preview": "Preview"}):
        response = client.post(ADD, form(**overrides, **submit))

        assert response.status_code == 200
        errors = response.context["adminform"].form.errors
        assert any(message in error for error in errors[field]), errors
    assert not Segment.objects.exists() and not AuditLog.objects.exists()


def test_a_change_is_audited_with_each_field_before_and_after() -> None:
    client, editor = staff_with(*EDITOR)
    segment = saved()

    response = client.post(change_url(segment), form(name="Whales", rfm_groups=["whale", "high_value"], level_max="20"))

    assert response.status_code == 302
    segment.refresh_from_db()
    assert segment.rfm_groups == ["whale", "high_value"]
    audit = AuditLog.objects.get()
    assert (audit.action, audit.actor) == ("segment_update", editor)
    assert audit.data["changes"]["rfm_groups"] == [["whale"], ["whale", "high_value"]]
    assert audit.data["changes"]["level_max"] == [None, 20]
    assert audit.data["changes"]["phone_prefixes"] == ["", "+82"]
    assert "name" not in audit.data["changes"]


def test_a_deletion_is_audited_from_the_page_and_from_the_list() -> None:
    client, editor = staff_with(*EDITOR)
    one, two, three = saved(name="One"), saved(name="Two"), saved(name="Three")

    client.post(reverse("admin:economy_segment_delete", args=[one.pk]), {"post": "yes"})
    client.post(LIST, {"action": "delete_selected", "_selected_action": [two.pk, three.pk], "post": "yes"})

    assert not Segment.objects.exists()
    assert sorted(AuditLog.objects.filter(action="segment_delete").values_list("target_label", flat=True)) == [
        "One",
        "Three",
        "Two",
    ]
    assert set(AuditLog.objects.values_list("actor", flat=True)) == {editor.pk}


def test_staff_who_may_only_look_change_nothing() -> None:
    client, _ = staff_with("economy.view_segment", "economy.preview_segment")
    segment = saved()

    added = client.post(ADD, form(name="New"))
    changed = client.post(change_url(segment), form(name="Renamed"))
    deleted = client.post(reverse("admin:economy_segment_delete", args=[segment.pk]), {"post": "yes"})
    listed = client.post(LIST, {"action": "delete_selected", "_selected_action": [segment.pk], "post": "yes"})

    assert added.status_code == changed.status_code == deleted.status_code == 403
    assert listed.status_code in (200, 302)
    segment.refresh_from_db()
    assert Segment.objects.count() == 1 and segment.name == "Whales"
    assert not AuditLog.objects.exists()


# --- Preview ---------------------------------------------------------------------------------


def test_preview_counts_the_players_as_typed_shows_the_first_twenty_and_saves_nothing() -> None:
    client, _ = staff_with(*EDITOR, "economy.preview_segment")
    players = [player_with_wallet(site_id=f"kr{n:02d}", phone_number=f"+8210000000{n:02d}") for n in range(23)]
    for player in players:
        scored(player, RfmGroup.WHALE)
    player_with_wallet(site_id="us", phone_number="+15550001111")

    response = client.post(ADD, form(_preview="Preview"))

    assert response.status_code == 200
    page = response.content.decode()
    assert response.context["segment_preview"].count == 23
    assert "Preview: 23 players match as typed" in page
    assert page.count('class="player-link"') == 20
    assert reverse("admin:accounts_user_change", args=[players[0].pk]) in page
    assert reverse("admin:accounts_user_change", args=[players[20].pk]) not in page
    assert 'value="Korean whales"' in page  # the form keeps what was typed
    assert not Segment.objects.exists() and not AuditLog.objects.exists()


def test_preview_on_a_saved_segment_uses_the_typed_criteria_and_leaves_it_unchanged() -> None:
    client, _ = staff_with(*EDITOR, "economy.preview_segment")
    segment = saved(rfm_groups=["whale"])
    scored(player_with_wallet(site_id="whale"), RfmGroup.WHALE)
    scored(player_with_wallet(site_id="risk"), RfmGroup.AT_RISK)

    response = client.post(change_url(segment), form(name="Whales", rfm_groups=["at_risk"], phone_prefixes=""))

    # Not a preview: that saved it. Now preview other criteria without saving.
    segment.refresh_from_db()
    assert response.status_code == 302 and segment.rfm_groups == ["at_risk"]
    preview = client.post(
        change_url(segment), form(name="Whales", rfm_groups=["whale", "at_risk"], phone_prefixes="", _preview="1")
    )

    assert preview.context["segment_preview"].count == 2
    segment.refresh_from_db()
    assert segment.rfm_groups == ["at_risk"]
    assert AuditLog.objects.filter(action="segment_update").count() == 1


def test_staff_who_may_only_view_a_segment_can_preview_it_as_saved() -> None:
    client, _ = staff_with("economy.view_segment", "economy.preview_segment")
    segment = saved(rfm_groups=["whale"])
    scored(player_with_wallet(site_id="whale"), RfmGroup.WHALE)

    page = client.get(change_url(segment)).content.decode()
    preview = client.post(change_url(segment), {"_preview": "1", "rfm_groups": ["at_risk"]})

    assert 'name="_preview"' in page
    assert preview.context["segment_preview"].count == 1  # the saved criteria: the form is read-only
    assert not AuditLog.objects.exists()


def test_preview_needs_its_permission() -> None:
    client, _ = staff_with(*EDITOR)
    segment = saved()

    page = client.get(change_url(segment)).content.decode()
    refused = client.post(change_url(segment), form(_preview="1"))

    assert 'name="_preview"' not in page
    assert refused.status_code == 403


# --- Lists -----------------------------------------------------------------------------------


def test_the_segment_list_is_searched_and_filtered_by_rfm_group() -> None:
    client, _ = staff_with("economy.view_segment")
    saved(name="Whales of Korea", description="big spenders", rfm_groups=["whale"], phone_prefixes="+82")
    saved(name="Lapsed", rfm_groups=["at_risk", "low_value"], unseen_for_days=30)

    def listed(query: str) -> list[str]:
        return [str(row) for row in client.get(f"{LIST}?{query}").context["cl"].result_list]

    assert listed("q=spenders") == ["Whales of Korea"]
    assert listed("rfm_group=low_value") == ["Lapsed"]
    page = client.get(LIST).content.decode()
    assert "RFM Whale; phone +82" in page and "RFM At-Risk/Low-Value; unseen for 30 d" in page


def test_player_segments_are_filtered_by_group_and_searched_by_player() -> None:
    client, _ = staff_with("economy.view_playersegment")
    scored(player_with_wallet(site_id="moby", nickname="Moby"), RfmGroup.WHALE)
    scored(player_with_wallet(site_id="quiet", nickname="Quiet"), RfmGroup.AT_RISK)
    url = reverse("admin:economy_playersegment_changelist")

    def listed(query: str) -> list[str]:
        return [row.user.site_id for row in client.get(f"{url}?{query}").context["cl"].result_list]

    assert listed("rfm_group__exact=whale") == ["moby"]
    assert listed("q=quiet") == ["quiet"]
    assert client.post(url, {}).status_code in (200, 302)
    assert 'class="player-link"' in client.get(url).content.decode()


def test_a_segment_run_shows_its_sizes_and_timings_read_only() -> None:
    client, _ = staff_with("economy.view_segmentrun")
    now = timezone.now()
    run = SegmentRun.objects.create(
        started_at=now,
        finished_at=now,
        source="clickhouse",
        window_days=30,
        players=12,
        sizes={"whale": 2, "at_risk": 10},
        timings={"read_seconds": 0.5, "total_seconds": 1.25},
    )

    listing = client.get(reverse("admin:economy_segmentrun_changelist")).content.decode()
    page = client.get(reverse("admin:economy_segmentrun_change", args=[run.pk])).content.decode()

    assert "1.25 s" in listing
    assert "<td>Whale</td><td>2</td>" in page and "<td>At-Risk</td><td>10</td>" in page
    assert "read 0.500 s, total 1.250 s" in page
    assert 'name="_save"' not in page
