"""Back office for the economy: audited balance adjustments, VIP tiers, the
read-only ledger and the ledger audit on the wallet list."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.db.models import F
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.tests.factories import UserFactory
from casino.errors import ApplicationError
from casino.models import AuditLog
from economy.enums import Currency, LedgerReason, VipTier
from economy.exceptions import IdempotencyConflict, InsufficientFunds, InvalidBundle, InvalidVipTier, ReasonRequired
from economy.models import DailyStreak, LedgerAuditRun, LedgerEntry, StreakDay, StreakRepairReport, Wallet
from economy.services import streak_claim, wallet_grant
from economy.services.admin_ops import wallet_adjust
from economy.services.audit import ledger_audit_run
from economy.services.vip import vip_set_tier
from economy.tests.factories import player_with_wallet

pytestmark = pytest.mark.django_db

GOLD, GEMS, XP = Currency.GOLD, Currency.GEMS, Currency.XP


def messages_of(response: Any) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def admin_adjust_entries(user: Any) -> list[LedgerEntry]:
    """Entries made by wallet_adjust (the factory's seed grant also uses reason admin_adjust)."""
    return list(
        LedgerEntry.objects.filter(
            wallet_id=user.pk, reason=LedgerReason.ADMIN_ADJUST, idempotency_key__startswith="admin-adjust:"
        )
    )


@pytest.fixture
def player() -> Any:
    return player_with_wallet(gold=1000, gems=10)


@pytest.fixture
def viewer_client(db: Any) -> APIClient:
    """Staff who may look at wallets but not move money."""
    viewer = UserFactory(is_staff=True)
    viewer.user_permissions.add(*Permission.objects.filter(codename__in=["view_wallet", "view_ledgerentry"]))
    client = APIClient()
    client.force_login(viewer)
    return client


# --- wallet_adjust (the service behind the admin page) ---------------------------------


def test_wallet_adjust_grants_through_the_ledger_naming_the_staff_and_writes_an_audit_log(
    player: Any, staff_user: Any
) -> None:
    result = wallet_adjust(actor=staff_user, user=player, currency=GOLD, amount=250, reason="  goodwill after outage  ")

    assert result.applied and result.balances[GOLD] == 1250
    assert Wallet.objects.get(pk=player.pk).gold == 1250
    (entry,) = admin_adjust_entries(player)
    assert (entry.currency, entry.delta, entry.balance_after) == (GOLD, 250, 1250)
    assert entry.metadata == {"staff_id": staff_user.pk, "staff": staff_user.site_id, "note": "goodwill after outage"}
    assert entry.idempotency_key.startswith("admin-adjust:")
    log = AuditLog.objects.get(action="wallet_adjust")
    assert (log.actor, log.target_type, log.target_id, log.reason) == (
        staff_user,
        "economy.wallet",
        str(player.pk),
        "goodwill after outage",
    )
    assert (
        log.data["amount"] == 250 and log.data["balance_after"] == 1250 and log.data["ledger_entry_ids"] == [entry.pk]
    )


def test_wallet_adjust_with_a_negative_amount_spends(player: Any, staff_user: Any) -> None:
    result = wallet_adjust(actor=staff_user, user=player, currency=GEMS, amount=-4, reason="duplicate reward")

    assert result.balances[GEMS] == 6
    (entry,) = admin_adjust_entries(player)
    assert (entry.currency, entry.delta, entry.balance_after) == (GEMS, -4, 6)
    assert AuditLog.objects.get(action="wallet_adjust").data["amount"] == -4


def test_wallet_adjust_below_zero_is_refused_and_changes_nothing(player: Any, staff_user: Any) -> None:
    with pytest.raises(InsufficientFunds) as refused:
        wallet_adjust(actor=staff_user, user=player, currency=GOLD, amount=-1001, reason="clawback")

    assert refused.value.code == "insufficient_funds"
    assert Wallet.objects.get(pk=player.pk).gold == 1000
    assert admin_adjust_entries(player) == []
    assert not AuditLog.objects.exists()


def test_wallet_adjust_with_the_same_nonce_applies_once(player: Any, staff_user: Any) -> None:
    nonce = uuid.uuid4()

    first = wallet_adjust(actor=staff_user, user=player, currency=GOLD, amount=250, reason="bonus", nonce=nonce)
    again = wallet_adjust(actor=staff_user, user=player, currency=GOLD, amount=250, reason="bonus", nonce=nonce)

    assert first.applied and not again.applied
    assert again.balances[GOLD] == 1250 == Wallet.objects.get(pk=player.pk).gold
    assert len(admin_adjust_entries(player)) == 1
    assert AuditLog.objects.filter(action="wallet_adjust").count() == 1
    with pytest.raises(IdempotencyConflict):
        wallet_adjust(actor=staff_user, user=player, currency=GOLD, amount=999, reason="bonus", nonce=nonce)


@pytest.mark.parametrize(
    ("currency", "amount", "reason", "refusal", "code"),
    [
        (GOLD, 10, "   ", ReasonRequired, "reason_required"),
        (GOLD, 0, "typo", InvalidBundle, "invalid_amount"),
        ("diamonds", 5, "typo", InvalidBundle, "invalid_amount"),
    ],
)
def test_wallet_adjust_needs_a_reason_a_known_currency_and_a_non_zero_amount(
    player: Any, staff_user: Any, currency: str, amount: int, reason: str, refusal: type[ApplicationError], code: str
) -> None:
    with pytest.raises(refusal) as refused:
        wallet_adjust(actor=staff_user, user=player, currency=currency, amount=amount, reason=reason)

    assert refused.value.code == code
    assert admin_adjust_entries(player) == [] and not AuditLog.objects.exists()


# --- wallet list: columns, search, the last ledger audit ------------------------------------


def test_wallet_list_shows_balances_level_and_finds_players_by_nickname_and_phone(staff_client: APIClient) -> None:
    rich = player_with_wallet(gold=777, nickname="Goldfinger", phone_number="+15550001111")
    wallet_grant(user=rich, bundle={XP: 2500}, reason=LedgerReason.GAME_WIN, idempotency_key="xp")
    player_with_wallet(gold=5, nickname="Pauper")
    url = reverse("admin:economy_wallet_changelist")

    by_nickname = staff_client.get(url, {"q": "goldfinger"})
    by_phone = staff_client.get(url, {"q": "+15550001111"})

    content = by_nickname.content.decode()
    assert by_nickname.status_code == 200
    assert rich.site_id in content and "Pauper" not in content
    assert '<td class="field-gold">777</td>' in content
    assert '<td class="field-level">3</td>' in content  # 2500 XP: level 3 starts at 2100
    assert rich.site_id in by_phone.content.decode() and "Pauper" not in by_phone.content.decode()


def test_wallet_list_says_when_no_audit_has_run(staff_client: APIClient) -> None:
    response = staff_client.get(reverse("admin:economy_wallet_changelist"))

    assert "none has run yet" in response.content.decode()


def test_wallet_list_shows_the_last_audit_and_its_violations(staff_client: APIClient, player: Any) -> None:
    ledger_audit_run()  # clean, older
    Wallet.objects.filter(pk=player.pk).update(gold=F("gold") + 7)
    last = ledger_audit_run()

    response = staff_client.get(reverse("admin:economy_wallet_changelist"))

    content = response.content.decode()
    assert response.context["last_audit"] == last
    assert "2 violation(s)" in content
    assert f"wallet {player.pk} ({player.site_id}) gold: balance_mismatch expected 1000, actual 1007" in content
    assert reverse("admin:economy_ledgerauditrun_change", args=[last.pk]) in content


def test_wallet_list_shows_a_clean_last_audit_as_ok(staff_client: APIClient, player: Any) -> None:
    ledger_audit_run()

    content = staff_client.get(reverse("admin:economy_wallet_changelist")).content.decode()

    assert '<strong class="audit-ok">OK</strong>: 1 wallets and 2 entries agree.' in content


@pytest.mark.django_db(transaction=True)  # the audit runs as a job, on commit (eager Celery: at once)
def test_run_ledger_audit_now_button_records_a_run_and_reports_it(
    staff_client: APIClient, player: Any, eager_tasks: None
) -> None:
    Wallet.objects.filter(pk=player.pk).update(gems=F("gems") + 1)

    response = staff_client.post(reverse("admin:economy_wallet_audit"), follow=True)

    run = LedgerAuditRun.objects.get()
    assert run.ok is False
    assert any(f"Ledger audit #{run.pk}: 2 violation(s)" in message for message in messages_of(response))
    assert response.context["last_audit"] == run


def test_run_ledger_audit_now_refuses_get(staff_client: APIClient) -> None:
    response = staff_client.get(reverse("admin:economy_wallet_audit"))

    assert response.status_code == 405
    assert not LedgerAuditRun.objects.exists()


# --- wallet page: read-only balances, "Adjust balance" ------------------------------------


def test_wallet_change_page_is_read_only_and_links_to_adjust(staff_client: APIClient, player: Any) -> None:
    url = reverse("admin:economy_wallet_change", args=[player.pk])

    page = staff_client.get(url)
    posted = staff_client.post(url, {"gold": 999_999, "vip_tier": VipTier.VIP})

    assert page.status_code == 200
    assert reverse("admin:economy_wallet_adjust", args=[player.pk]) in page.content.decode()
    assert 'name="gold"' not in page.content.decode()
    assert posted.status_code == 403
    wallet = Wallet.objects.get(pk=player.pk)
    assert (wallet.gold, wallet.vip_tier) == (1000, VipTier.STANDARD)


def test_adjust_page_applies_once_per_rendered_form(staff_client: APIClient, staff_user: Any, player: Any) -> None:
    url = reverse("admin:economy_wallet_adjust", args=[player.pk])
    page = staff_client.get(url)
    nonce = page.context["form"].initial["nonce"]
    assert f'value="{nonce}"' in page.content.decode()
    form = {"currency": GOLD, "amount": "250", "reason": "compensation #42", "nonce": str(nonce)}

    first = staff_client.post(url, form, follow=True)
    second = staff_client.post(url, form, follow=True)  # the browser re-sent the same form

    assert first.redirect_chain[-1][0] == reverse("admin:economy_wallet_change", args=[player.pk])
    assert f"Granted 250 gold to {player.site_id}: gold balance is now 1250." in messages_of(first)
    assert any("already applied" in message for message in messages_of(second))
    assert Wallet.objects.get(pk=player.pk).gold == 1250
    (entry,) = admin_adjust_entries(player)
    assert entry.idempotency_key == f"admin-adjust:{nonce}"
    assert entry.metadata["staff"] == staff_user.site_id
    assert AuditLog.objects.filter(action="wallet_adjust", actor=staff_user).count() == 1


def test_adjust_page_shows_insufficient_funds_and_changes_nothing(staff_client: APIClient, player: Any) -> None:
    url = reverse("admin:economy_wallet_adjust", args=[player.pk])

    response = staff_client.post(
        url, {"currency": GOLD, "amount": "-5000", "reason": "clawback", "nonce": str(uuid.uuid4())}
    )

    assert response.status_code == 200
    assert "Not enough balance" in response.content.decode()
    assert Wallet.objects.get(pk=player.pk).gold == 1000
    assert admin_adjust_entries(player) == [] and not AuditLog.objects.exists()


def test_adjust_page_needs_a_reason_and_a_non_zero_amount(staff_client: APIClient, player: Any) -> None:
    url = reverse("admin:economy_wallet_adjust", args=[player.pk])

    response = staff_client.post(url, {"currency": GOLD, "amount": "0", "reason": "", "nonce": str(uuid.uuid4())})

    assert response.status_code == 200
    assert set(response.context["form"].errors) == {"amount", "reason"}
    assert admin_adjust_entries(player) == []


def test_adjust_page_with_a_reused_form_and_other_values_offers_a_fresh_form(
    staff_client: APIClient, player: Any
) -> None:
    url = reverse("admin:economy_wallet_adjust", args=[player.pk])
    nonce = str(uuid.uuid4())
    staff_client.post(url, {"currency": GOLD, "amount": "100", "reason": "bonus", "nonce": nonce})

    response = staff_client.post(url, {"currency": GOLD, "amount": "300", "reason": "bonus", "nonce": nonce})

    assert response.status_code == 200
    assert "already submitted with other values" in response.content.decode()
    assert response.context["form"].data["nonce"] != nonce
    assert Wallet.objects.get(pk=player.pk).gold == 1100


def test_staff_without_the_change_permission_cannot_adjust(viewer_client: APIClient, player: Any) -> None:
    page = viewer_client.get(reverse("admin:economy_wallet_change", args=[player.pk]))
    adjust_url = reverse("admin:economy_wallet_adjust", args=[player.pk])

    refused = viewer_client.post(
        adjust_url, {"currency": GOLD, "amount": "250", "reason": "x", "nonce": str(uuid.uuid4())}
    )

    assert page.status_code == 200 and adjust_url not in page.content.decode()
    assert viewer_client.get(adjust_url).status_code == 403
    assert refused.status_code == 403
    assert Wallet.objects.get(pk=player.pk).gold == 1000


# --- VIP tier action ----------------------------------------------------------------------


def test_change_vip_tier_action_asks_for_tier_and_reason_then_calls_the_service(
    staff_client: APIClient, staff_user: Any, player: Any
) -> None:
    other = player_with_wallet()
    url = reverse("admin:economy_wallet_changelist")
    selection = {"action": "change_vip_tier", "_selected_action": [player.pk, other.pk]}

    asked = staff_client.post(url, selection)
    without_reason = staff_client.post(url, {**selection, "apply": "1", "tier": VipTier.VIP, "reason": ""})
    done = staff_client.post(url, {**selection, "apply": "1", "tier": VipTier.VIP, "reason": "whale"}, follow=True)

    assert asked.status_code == 200 and 'name="tier"' in asked.content.decode()
    assert without_reason.status_code == 200 and "reason" in without_reason.context["form"].errors
    assert "Changed the VIP tier of 2 wallet(s) to VIP." in messages_of(done)
    assert set(Wallet.objects.filter(pk__in=[player.pk, other.pk]).values_list("vip_tier", flat=True)) == {VipTier.VIP}
    logs = AuditLog.objects.filter(action="vip_tier_change", actor=staff_user)
    assert sorted(logs.values_list("target_id", flat=True)) == sorted([str(player.pk), str(other.pk)])
    assert {log.reason for log in logs} == {"whale"}


def test_vip_set_tier_refuses_an_unknown_tier_and_changes_nothing(player: Any, staff_user: Any) -> None:
    with pytest.raises(InvalidVipTier) as refused:
        vip_set_tier(actor=staff_user, user=player, tier="PLATINUM", reason="typo")

    assert (refused.value.code, refused.value.status) == ("invalid_vip_tier", 400)
    assert Wallet.objects.get(pk=player.pk).vip_tier == VipTier.STANDARD
    assert not AuditLog.objects.filter(action="vip_tier_change").exists()


def test_change_vip_tier_action_is_not_offered_without_the_change_permission(
    viewer_client: APIClient, player: Any
) -> None:
    url = reverse("admin:economy_wallet_changelist")

    listing = viewer_client.get(url)
    viewer_client.post(
        url,
        {
            "action": "change_vip_tier",
            "_selected_action": [player.pk],
            "apply": "1",
            "tier": VipTier.VIP,
            "reason": "x",
        },
    )

    assert listing.status_code == 200 and "change_vip_tier" not in listing.content.decode()
    assert Wallet.objects.get(pk=player.pk).vip_tier == VipTier.STANDARD
    assert not AuditLog.objects.exists()


# --- the ledger is read-only, in the admin too --------------------------------------------


def test_ledger_list_filters_by_reason_and_searches_by_player(
    staff_client: APIClient, staff_user: Any, player: Any
) -> None:
    wallet_adjust(actor=staff_user, user=player, currency=GOLD, amount=5, reason="fix")
    other = player_with_wallet(gold=3)
    url = reverse("admin:economy_ledgerentry_changelist")

    adjusted = staff_client.get(url, {"reason__exact": LedgerReason.ADMIN_ADJUST, "q": player.site_id})

    shown = [entry.pk for entry in adjusted.context["cl"].result_list]
    expected = LedgerEntry.objects.filter(wallet_id=player.pk, reason=LedgerReason.ADMIN_ADJUST).values_list(
        "pk", flat=True
    )
    assert sorted(shown) == sorted(expected) and len(shown) == 1  # the fix, not the seeded reward
    assert other.site_id not in adjusted.content.decode()


def test_ledger_entry_cannot_be_changed_through_the_admin(staff_client: APIClient, player: Any) -> None:
    entry = LedgerEntry.objects.filter(wallet_id=player.pk, currency=GOLD).get()
    url = reverse("admin:economy_ledgerentry_change", args=[entry.pk])

    page = staff_client.get(url)
    posted = staff_client.post(url, {"delta": 1_000_000, "balance_after": 1_000_000, "reason": LedgerReason.GAME_WIN})

    assert page.status_code == 200 and 'name="delta"' not in page.content.decode()
    assert posted.status_code == 403
    entry.refresh_from_db()
    assert (entry.delta, entry.balance_after) == (1000, 1000)


def test_ledger_entries_cannot_be_deleted_or_added_through_the_admin(staff_client: APIClient, player: Any) -> None:
    entry = LedgerEntry.objects.filter(wallet_id=player.pk, currency=GOLD).get()
    delete_url = reverse("admin:economy_ledgerentry_delete", args=[entry.pk])
    changelist = reverse("admin:economy_ledgerentry_changelist")

    assert staff_client.get(delete_url).status_code == 403
    assert staff_client.post(delete_url, {"post": "yes"}).status_code == 403
    bulk = staff_client.post(
        changelist, {"action": "delete_selected", "_selected_action": [entry.pk], "post": "yes"}, follow=True
    )
    assert staff_client.get(reverse("admin:economy_ledgerentry_add")).status_code == 403

    assert "delete_selected" not in staff_client.get(changelist).content.decode()
    assert bulk.status_code == 200
    assert LedgerEntry.objects.filter(pk=entry.pk).exists()
    assert LedgerEntry.objects.filter(wallet_id=player.pk).count() == 2


# --- streaks and reports: read-only lists ---------------------------------------------------


def test_streak_and_report_admins_list_records_and_refuse_edits(staff_client: APIClient, player: Any) -> None:
    streak_claim(user=player)
    ledger_audit_run()
    from economy.services import streak_repair

    streak_repair()
    pages = {
        DailyStreak: player.site_id,
        StreakDay: player.site_id,
        StreakRepairReport: "streak repair",
        LedgerAuditRun: "ledger audit",
    }

    for model, expected in pages.items():
        info = (model._meta.app_label, model._meta.model_name)
        listing = staff_client.get(reverse("admin:{}_{}_changelist".format(*info)))
        obj = model.objects.get()
        change_url = reverse("admin:{}_{}_change".format(*info), args=[obj.pk])

        assert listing.status_code == 200, model
        assert expected in listing.content.decode(), model
        assert staff_client.get(change_url).status_code == 200, model
        assert staff_client.post(change_url, {}).status_code == 403, model
        assert staff_client.get(reverse("admin:{}_{}_add".format(*info))).status_code == 403, model


def test_daily_streak_list_shows_protection_tokens_and_finds_by_player(staff_client: APIClient, player: Any) -> None:
    streak_claim(user=player)
    DailyStreak.objects.filter(pk=player.pk).update(protection_tokens=2)
    stranger = player_with_wallet()
    streak_claim(user=stranger)

    response = staff_client.get(reverse("admin:economy_dailystreak_changelist"), {"q": player.site_id})

    content = response.content.decode()
    assert [row.pk for row in response.context["cl"].result_list] == [player.pk]
    assert '<td class="field-protection_tokens">2</td>' in content
    assert '<td class="field-current_count">1</td>' in content


def test_audit_run_page_lists_every_stored_violation(staff_client: APIClient, player: Any) -> None:
    Wallet.objects.filter(pk=player.pk).update(gold=F("gold") + 7)
    run = ledger_audit_run()

    content = staff_client.get(reverse("admin:economy_ledgerauditrun_change", args=[run.pk])).content.decode()

    assert f"wallet {player.pk} ({player.site_id}) gold: balance_mismatch expected 1000, actual 1007" in content
    assert "latest_mismatch" in content
