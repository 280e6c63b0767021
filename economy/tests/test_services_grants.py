"""A staff member grants a player a reward bundle from the player's page
(``economy.services.grants.reward_bundle_grant`` and its admin page): once per
form, audited, announced, and only by staff holding ``economy.adjust_balance``."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from django.urls import reverse

from accounts.models import User
from accounts.tests.factories import UserFactory
from accounts.tests.staff import staff_with
from casino.models import AuditLog
from casino.permissions import StaffPermissionRequired
from economy.exceptions import IdempotencyConflict, InvalidBundle, ReasonRequired
from economy.models import LedgerEntry, Wallet
from economy.services import reward_bundle_grant
from economy.tests.factories import player_with_wallet
from realtime.models import Notification, OutboxEvent

pytestmark = pytest.mark.django_db

BUNDLE = {"gold": 1_000, "gems": 50, "xp": 200}


def grant_page(player: User) -> str:
    return reverse("admin:economy_wallet_grant", args=[player.pk])


def form_token(html: str) -> str:
    found = re.search(r'name="grant_id" value="([0-9a-f-]{36})"', html)
    assert found, "the form carries its grant id"
    return found.group(1)


def test_a_grant_pays_the_bundle_once_with_an_audit_record_and_an_inbox_entry(staff_user: User) -> None:
    # Given a player with 10 gold
    player = player_with_wallet(gold=10)
    grant_id = uuid.uuid4()

    # When staff grant a bundle
    result = reward_bundle_grant(
        actor=staff_user, user=player, bundle=BUNDLE, reason="sorry for the outage", grant_id=grant_id
    )

    # Then the wallet holds it, through ledger entries under the grant's key
    wallet = Wallet.objects.get(pk=player.pk)
    assert (wallet.gold, wallet.gems, wallet.xp) == (1_010, 50, 200)
    assert result.applied
    entries = LedgerEntry.objects.filter(wallet_id=player.pk, idempotency_key=f"staff-grant:{grant_id}")
    assert sorted((entry.currency, entry.delta, entry.reason) for entry in entries) == [
        ("gems", 50, "admin_adjust"),
        ("gold", 1_000, "admin_adjust"),
        ("xp", 200, "admin_adjust"),
    ]
    # And one audit record with the reason, one reward_granted event, one inbox entry
    record = AuditLog.objects.get(action="reward_bundle_grant")
    assert (record.actor_id, record.target_type, record.target_id, record.reason) == (
        staff_user.pk,
        "economy.wallet",
        str(player.pk),
        "sorry for the outage",
    )
    assert record.data["bundle"] == BUNDLE
    granted = OutboxEvent.objects.get(type="reward_granted", user_id=player.pk)
    assert granted.data == {"source": "staff_grant", "amounts": BUNDLE, "by_staff": True}
    assert Notification.objects.filter(user=player, kind="staff_grant").count() == 1


def test_the_same_grant_submitted_twice_pays_once(staff_user: User) -> None:
    player = player_with_wallet()
    grant_id = uuid.uuid4()

    first = reward_bundle_grant(actor=staff_user, user=player, bundle=BUNDLE, reason="gift", grant_id=grant_id)
    second = reward_bundle_grant(actor=staff_user, user=player, bundle=BUNDLE, reason="gift", grant_id=grant_id)

    assert (first.applied, second.applied) == (True, False)
    assert Wallet.objects.get(pk=player.pk).gold == 1_000
    assert AuditLog.objects.filter(action="reward_bundle_grant").count() == 1
    assert OutboxEvent.objects.filter(type="reward_granted").count() == 1


def test_the_same_grant_id_with_another_bundle_is_a_conflict_and_changes_nothing(staff_user: User) -> None:
    player = player_with_wallet()
    grant_id = uuid.uuid4()
    reward_bundle_grant(actor=staff_user, user=player, bundle={"gold": 5}, reason="gift", grant_id=grant_id)

    with pytest.raises(IdempotencyConflict):
        reward_bundle_grant(actor=staff_user, user=player, bundle={"gold": 6}, reason="gift", grant_id=grant_id)

    assert Wallet.objects.get(pk=player.pk).gold == 5


@pytest.mark.parametrize(
    ("bundle", "reason", "refusal"),
    [
        ({"vip_points": 10}, "gift", InvalidBundle),  # gold, gems and XP only
        ({"gold": -5}, "gift", InvalidBundle),
        ({"gold": 0, "gems": 0}, "gift", InvalidBundle),
        ({"gold": 5}, "   ", ReasonRequired),
    ],
)
def test_a_bad_grant_is_refused_and_changes_nothing(
    staff_user: User, bundle: dict[str, int], reason: str, refusal: type[Exception]
) -> None:
    player = player_with_wallet()

    with pytest.raises(refusal):
        reward_bundle_grant(actor=staff_user, user=player, bundle=bundle, reason=reason, grant_id=uuid.uuid4())

    assert not LedgerEntry.objects.filter(wallet_id=player.pk).exists()
    assert not AuditLog.objects.exists()


def test_staff_without_the_adjust_permission_cannot_grant_whoever_calls(password: str) -> None:
    _, clerk = staff_with("accounts.view_user", "economy.view_wallet")
    player = player_with_wallet()

    with pytest.raises(StaffPermissionRequired):
        reward_bundle_grant(actor=clerk, user=player, bundle={"gold": 5}, reason="gift", grant_id=uuid.uuid4())

    assert Wallet.objects.get(pk=player.pk).gold == 0


def test_a_grant_to_an_account_without_a_wallet_opens_one(staff_user: User) -> None:
    player = UserFactory()

    reward_bundle_grant(actor=staff_user, user=player, bundle={"gems": 3}, reason="welcome back", grant_id=uuid.uuid4())

    assert Wallet.objects.get(pk=player.pk).gems == 3


# --- The admin page ---------------------------------------------------------------------------------


def test_the_grant_page_grants_once_even_when_the_form_is_posted_twice() -> None:
    # Given a finance clerk (economy.adjust_balance) and a player
    client, clerk = staff_with("accounts.view_user", "economy.view_wallet", "economy.adjust_balance")
    player = player_with_wallet()

    # When they open the grant form and post it twice (a double click)
    token = form_token(client.get(grant_page(player)).content.decode())
    form = {"gold": "500", "gems": "0", "xp": "0", "reason": "tournament prize", "grant_id": token}
    first = client.post(grant_page(player), form)
    second = client.post(grant_page(player), form, follow=True)

    # Then one grant was made, and the second post says so; both lead back to the player's page
    assert first.status_code == 302 and first["Location"] == reverse("admin:accounts_user_change", args=[player.pk])
    assert "already made" in second.content.decode()
    assert Wallet.objects.get(pk=player.pk).gold == 500
    assert AuditLog.objects.get(action="reward_bundle_grant").actor_id == clerk.pk


def test_the_grant_page_refuses_an_empty_bundle_and_a_missing_reason() -> None:
    client, _ = staff_with("accounts.view_user", "economy.adjust_balance")
    player = player_with_wallet()
    token = form_token(client.get(grant_page(player)).content.decode())

    empty = client.post(grant_page(player), {"gold": "0", "gems": "0", "xp": "0", "reason": "x", "grant_id": token})
    reasonless = client.post(grant_page(player), {"gold": "5", "gems": "0", "xp": "0", "reason": "", "grant_id": token})

    assert (empty.status_code, reasonless.status_code) == (200, 200)
    assert "Grant at least one" in empty.content.decode()
    assert reasonless.context["form"].errors["reason"]
    assert not LedgerEntry.objects.filter(wallet_id=player.pk).exists()


@pytest.mark.parametrize("method", ["get", "post"])
def test_the_grant_page_is_403_for_staff_without_the_adjust_permission(method: str) -> None:
    # Given a support agent (may see wallets, may not move balances)
    client, _ = staff_with("accounts.view_user", "economy.view_wallet", "accounts.ban_user")
    player = player_with_wallet()

    # When they reach the grant page anyway
    response = getattr(client, method)(
        grant_page(player), {"gold": "5", "gems": "0", "xp": "0", "reason": "x", "grant_id": str(uuid.uuid4())}
    )

    # Then it is refused and nothing was granted
    assert response.status_code == 403
    assert Wallet.objects.get(pk=player.pk).gold == 0


@pytest.mark.django_db(transaction=True)
def test_the_same_grant_posted_in_parallel_pays_exactly_once(parallel: Any) -> None:
    # Given a player and one grant form
    admin = UserFactory(is_staff=True, is_superuser=True)
    player = player_with_wallet()
    grant_id = uuid.uuid4()

    # When eight requests submit it at once
    def submit(_: int) -> bool:
        actor = User.objects.get(pk=admin.pk)
        return reward_bundle_grant(
            actor=actor, user=player.pk, bundle={"gems": 7}, reason="race", grant_id=grant_id
        ).applied

    results = parallel(8, submit)

    # Then exactly one applied and the others returned it
    assert sorted(results) == [False] * 7 + [True]
    assert Wallet.objects.get(pk=player.pk).gems == 7
    assert AuditLog.objects.filter(action="reward_bundle_grant").count() == 1
