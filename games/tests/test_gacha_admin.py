"""The gacha's back office: a banner is edited with its rarity table and items on one page, saved
by the audited service (who, before, after, why) and only by staff holding
games.configure_game; the page shows the odds computed from the saved rows; inventories are
read-only."""

from __future__ import annotations

from typing import Any

import pytest
from django import forms
from django.test import Client
from django.utils import timezone

from accounts.tests.staff import staff_with
from casino.models import AuditLog
from casino.permissions import StaffPermissionRequired
from economy.services import wallet_grant
from games.models import GachaBanner, GachaItem, GachaRarityWeight, InventoryItem
from games.services import gacha_banner_save, gacha_pull

BANNER = "casino-classics"
CONFIGURE = ("games.configure_game", "games.view_gachabanner")

pytestmark = pytest.mark.django_db


def banner() -> GachaBanner:
    return GachaBanner.objects.get(code=BANNER)


def change_url() -> str:
    return f"/admin/games/gachabanner/{banner().pk}/change/"


def _field_data(form: Any) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for bound in form:
        value = bound.value()
        if value is None or value is False:
            continue
        if isinstance(bound.field.widget, forms.SplitDateTimeWidget):
            local = timezone.localtime(value)
            data[f"{bound.html_name}_0"], data[f"{bound.html_name}_1"] = (
                local.strftime("%Y-%m-%d"),
                local.strftime("%H:%M:%S"),
            )
        else:
            data[bound.html_name] = "on" if value is True else value
    return data


def page_data(client: Client, url: str, **changes: Any) -> dict[str, Any]:
    """The POST a browser would send for the change page as rendered (banner form and both
    inlines), with ``changes`` (field names as posted, e.g. ``rarities-0-weight``)."""
    response = client.get(url)
    assert response.status_code == 200
    data = _field_data(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        data.update(_field_data(formset.management_form))
        for form in formset.forms:
            data.update(_field_data(form))
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def rarity_index(client: Client, rarity: str) -> int:
    formset = next(
        inline.formset
        for inline in client.get(change_url()).context["inline_admin_formsets"]
        if inline.formset.model is GachaRarityWeight
    )
    return next(index for index, form in enumerate(formset.forms) if form.instance.rarity == rarity)


def weights() -> dict[str, int]:
    return dict(GachaRarityWeight.objects.filter(banner__code=BANNER).values_list("rarity", "weight"))


def test_a_weight_change_with_a_reason_is_saved_and_audited() -> None:
    # Given a live-ops staff member holding games.configure_game
    client, staff = staff_with(*CONFIGURE)
    index = rarity_index(client, "legendary")
    # When they double the legendary weight and say why
    response = client.post(
        change_url(),
        page_data(client, change_url(), **{f"rarities-{index}-weight": "12", "change_reason": "Anniversary boost"}),
    )
    # Then it is saved, and the audit log keeps who, before, after and why
    assert response.status_code == 302, response.context and response.context["errors"]
    assert weights()["legendary"] == 12
    audit = AuditLog.objects.get(action="gacha_banner_update")
    assert (audit.actor_id, audit.reason, audit.target_id) == (staff.pk, "Anniversary boost", str(banner().pk))
    before = {row["rarity"]: row["weight"] for row in audit.data["before"]["rarities"]}
    after = {row["rarity"]: row["weight"] for row in audit.data["after"]["rarities"]}
    assert (before["legendary"], after["legendary"]) == (6, 12)
    # And the page shows the new odds, computed from the saved rows: 12 / 1006
    assert "1.1928%" in client.get(change_url()).content.decode()


def test_a_change_without_a_reason_changes_nothing() -> None:
    client, _ = staff_with(*CONFIGURE)
    index = rarity_index(client, "legendary")
    data = page_data(client, change_url(), **{f"rarities-{index}-weight": "12"})
    data.pop("change_reason", None)
    response = client.post(change_url(), data)
    assert response.status_code == 200 and "change_reason" in response.context["adminform"].form.errors
    assert weights()["legendary"] == 6 and not AuditLog.objects.exists()


def test_a_rarity_left_without_an_active_item_is_refused_on_the_page() -> None:
    # Given the change page, with both legendary items switched off
    client, _ = staff_with(*CONFIGURE)
    response = client.get(change_url())
    items = next(i.formset for i in response.context["inline_admin_formsets"] if i.formset.model is GachaItem)
    data = page_data(client, change_url(), change_reason="tidy up")
    for index, form in enumerate(items.forms):
        if form.instance.rarity == "legendary":
            data.pop(f"items-{index}-is_active", None)
    # When they save
    response = client.post(change_url(), data)
    # Then the page says why and nothing changed
    assert response.status_code == 200
    assert "legendary rarity has no active item" in response.content.decode()
    assert GachaItem.objects.filter(banner__code=BANNER, rarity="legendary", is_active=True).count() == 2
    assert not AuditLog.objects.exists()


@pytest.mark.parametrize(
    "permissions",
    [("games.view_gachabanner",), ("games.view_gachabanner", "games.change_gachabanner")],
)
def test_a_staff_member_without_configure_game_changes_nothing(permissions: tuple[str, ...]) -> None:
    # Given staff who may see banners but not configure games, and the form a configurer would post
    configurer, _ = staff_with(*CONFIGURE)
    index = rarity_index(configurer, "legendary")
    data = page_data(configurer, change_url(), **{f"rarities-{index}-weight": "500", "change_reason": "why not"})
    client, _ = staff_with(*permissions)
    # When they post it
    response = client.post(change_url(), data)
    # Then it is refused and nothing changed
    assert response.status_code == 403
    assert weights()["legendary"] == 6 and not AuditLog.objects.exists()
    # (they still see the banner, read-only)
    assert client.get(change_url()).status_code == 200


def test_the_service_refuses_an_actor_without_the_permission() -> None:
    _, staff = staff_with("games.view_gachabanner", "games.change_gachabanner")
    stored = banner()
    stored.cost_single = 1
    with pytest.raises(StaffPermissionRequired):
        gacha_banner_save(
            actor=staff,
            banner=stored,
            rarities=list(stored.rarities.all()),
            items=list(stored.items.all()),
            reason="cheap pulls",
        )
    assert banner().cost_single == 100 and not AuditLog.objects.exists()


def test_the_service_creates_a_banner_and_swaps_ranks_in_one_audited_change() -> None:
    _, staff = staff_with(*CONFIGURE)
    # Given a new banner with two rarities
    created = gacha_banner_save(
        actor=staff,
        banner=GachaBanner(code="duo", name="Duo", cost_single=50, cost_ten=450, pity_threshold=10),
        rarities=[
            GachaRarityWeight(rarity="epic", rank=0, weight=1, duplicate_value=5),
            GachaRarityWeight(rarity="common", rank=1, weight=9, duplicate_value=1),
        ],
        items=[
            GachaItem(code="star", name="Star", rarity="epic"),
            GachaItem(code="pebble", name="Pebble", rarity="common"),
        ],
        reason="New banner",
    )
    assert AuditLog.objects.get(action="gacha_banner_create").data["before"] == {}
    # When the ranks are swapped in one save
    rows = list(created.rarities.all())
    for row in rows:
        row.rank = 1 - row.rank
    gacha_banner_save(actor=staff, banner=created, rarities=rows, items=list(created.items.all()), reason="swap")
    # Then the table holds the new ranks
    assert dict(created.rarities.values_list("rarity", "rank")) == {"epic": 1, "common": 0}


def test_an_item_a_player_owns_cannot_be_deleted() -> None:
    _, staff = staff_with(*CONFIGURE)
    player = staff_with()[1]
    wallet_grant(user=player, bundle={"gold": 1000}, reason="admin_adjust", idempotency_key="fund-admin-test")
    gacha_pull(user=player, pull_count=1, banner_code=BANNER, idempotency_key="one")
    owned = InventoryItem.objects.get(user=player).item
    stored = banner()
    with pytest.raises(forms.ValidationError, match="deactivate"):
        gacha_banner_save(
            actor=staff,
            banner=stored,
            rarities=list(stored.rarities.all()),
            items=[item for item in stored.items.all() if item.pk != owned.pk],
            reason="drop it",
        )
    assert GachaItem.objects.filter(pk=owned.pk).exists()


def test_inventories_are_read_only_and_searchable_by_nickname() -> None:
    client, _ = staff_with("games.view_inventoryitem")
    player = staff_with()[1]
    wallet_grant(user=player, bundle={"gold": 1000}, reason="admin_adjust", idempotency_key="fund-admin-inv")
    gacha_pull(user=player, pull_count=10, banner_code=BANNER, idempotency_key="ten")
    listing = client.get("/admin/games/inventoryitem/", {"q": player.nickname})
    assert listing.status_code == 200
    assert len(listing.context["cl"].result_list) == InventoryItem.objects.filter(user=player).count() > 0
    assert client.get("/admin/games/inventoryitem/", {"item__rarity": "common"}).status_code == 200
    assert client.get("/admin/games/inventoryitem/add/").status_code == 403


def test_every_gacha_admin_page_opens_for_a_superuser(staff_client: Client) -> None:
    pages = [
        "/admin/games/gachabanner/",
        "/admin/games/gachabanner/add/",
        change_url(),
        "/admin/games/inventoryitem/",
        "/admin/games/gachapity/",
    ]
    for url in pages:
        response = staff_client.get(url)
        assert response.status_code == 200, url
    # the changelist shows the top odds and the expected pulls with pity
    listing = staff_client.get("/admin/games/gachabanner/").content.decode()
    assert "legendary 0.600%" in listing and "69.7" in listing
