from __future__ import annotations

from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction

from accounts.services import user_signup
from accounts.tests.factories import InviteCodeFactory, UserFactory
from casino.idempotency import IdempotencyKeyReused
from economy.enums import Currency, LedgerReason
from economy.exceptions import IdempotencyConflict, InsufficientFunds, InvalidBundle, WalletMissing
from economy.models import ImmutableLedger, LedgerEntry, Wallet
from economy.services import wallet_exchange, wallet_get_or_open, wallet_grant, wallet_spend
from economy.tests.factories import player_with_wallet
from realtime.models import OutboxEvent

pytestmark = pytest.mark.django_db

GOLD, GEMS, XP = Currency.GOLD, Currency.GEMS, Currency.XP


def test_signup_opens_a_wallet_with_the_bonus_through_the_ledger(settings: Any) -> None:
    InviteCodeFactory(code="HELLO")

    result = user_signup(
        site_id="fresh", nickname="Fresh", phone_number="+15550009999", password="Correct-Horse-9", invite_code="HELLO"
    )

    wallet = Wallet.objects.get(pk=result.user.pk)
    assert wallet.gold == settings.SIGNUP_BONUS_GOLD == 1000
    entry = LedgerEntry.objects.get(wallet=wallet)
    assert (entry.reason, entry.delta, entry.balance_after) == (LedgerReason.SIGNUP_BONUS, 1000, 1000)
    types = list(OutboxEvent.objects.filter(user_id=result.user.pk).values_list("type", flat=True))
    assert types == ["user_signed_up", "balance_update"]


def test_grant_moves_several_currencies_atomically_and_emits_one_event() -> None:
    user = player_with_wallet()

    result = wallet_grant(
        user=user,
        bundle={GOLD: 500, XP: 40},
        reason=LedgerReason.EVENT_REWARD,
        idempotency_key="g1",
        reference="event:7",
    )

    assert result.applied
    assert result.balances[GOLD] == 500 and result.balances[XP] == 40
    assert result.deltas == {GOLD: 500, XP: 40}
    assert {(e.currency, e.balance_after, e.reference) for e in LedgerEntry.objects.filter(idempotency_key="g1")} == {
        (GOLD, 500, "event:7"),
        (XP, 40, "event:7"),
    }
    event = OutboxEvent.objects.get(type="balance_update", user_id=user.pk)
    assert event.data["deltas"] == {"gold": 500, "xp": 40}
    assert event.data["balances"]["gold"] == 500


def test_replayed_grant_returns_the_original_result_and_changes_nothing() -> None:
    user = player_with_wallet()
    first = wallet_grant(user=user, bundle={GOLD: 100}, reason=LedgerReason.EVENT_REWARD, idempotency_key="once")

    again = wallet_grant(user=user, bundle={GOLD: 100}, reason=LedgerReason.EVENT_REWARD, idempotency_key="once")

    assert first.applied and not again.applied
    assert again.entries[0].pk == first.entries[0].pk
    assert again.balances_after == first.balances_after == {GOLD: 100}
    assert Wallet.objects.get(pk=user.pk).gold == 100
    assert OutboxEvent.objects.filter(type="balance_update", user_id=user.pk).count() == 1


@pytest.mark.parametrize(
    ("bundle", "reason"),
    [
        ({GOLD: 101}, LedgerReason.EVENT_REWARD),
        ({GOLD: 100, XP: 1}, LedgerReason.EVENT_REWARD),
        ({GOLD: 100}, LedgerReason.ACHIEVEMENT),
    ],
)
def test_same_key_with_another_bundle_or_reason_is_a_conflict(bundle: dict[str, int], reason: str) -> None:
    user = player_with_wallet()
    wallet_grant(user=user, bundle={GOLD: 100}, reason=LedgerReason.EVENT_REWARD, idempotency_key="k")

    with pytest.raises(IdempotencyConflict):
        wallet_grant(user=user, bundle=bundle, reason=reason, idempotency_key="k")

    assert Wallet.objects.get(pk=user.pk).gold == 100


def test_spend_with_a_grant_key_is_a_conflict_not_a_replay() -> None:
    user = player_with_wallet(gold=500)
    wallet_grant(user=user, bundle={GOLD: 100}, reason=LedgerReason.GAME_WIN, idempotency_key="round:1")

    with pytest.raises(IdempotencyConflict):
        wallet_spend(user=user, bundle={GOLD: 100}, reason=LedgerReason.GAME_WIN, idempotency_key="round:1")


def test_spend_more_than_the_balance_is_refused_and_changes_nothing() -> None:
    user = player_with_wallet(gold=100, gems=5)

    with pytest.raises(InsufficientFunds) as refused:
        wallet_spend(user=user, bundle={GOLD: 50, GEMS: 6}, reason=LedgerReason.PURCHASE, idempotency_key="buy")

    assert refused.value.details == {"currency": "gems", "balance": 5, "required": 6}
    wallet = Wallet.objects.get(pk=user.pk)
    assert (wallet.gold, wallet.gems) == (100, 5)
    assert not LedgerEntry.objects.filter(idempotency_key="buy").exists()


def test_spend_replay_returns_the_first_result() -> None:
    user = player_with_wallet(gold=100)
    first = wallet_spend(user=user, bundle={GOLD: 60}, reason=LedgerReason.PURCHASE, idempotency_key="s")

    again = wallet_spend(user=user, bundle={GOLD: 60}, reason=LedgerReason.PURCHASE, idempotency_key="s")

    assert not again.applied
    assert again.balances_after == first.balances_after == {GOLD: 40}
    assert Wallet.objects.get(pk=user.pk).gold == 40


@pytest.mark.parametrize(
    "bundle", [{GOLD: -5}, {GOLD: 0}, {}, {"diamonds": 5}, {GOLD: 1.5}, {GOLD: True}, {GOLD: 10**16}]
)
def test_bad_bundles_are_refused(bundle: dict[str, Any]) -> None:
    user = player_with_wallet()

    with pytest.raises(InvalidBundle):
        wallet_grant(user=user, bundle=bundle, reason=LedgerReason.EVENT_REWARD, idempotency_key="bad")


def test_ledger_rows_refuse_update_and_delete_in_the_orm() -> None:
    user = player_with_wallet(gold=10)
    entry = LedgerEntry.objects.get(wallet_id=user.pk)

    entry.delta = 1_000_000
    with pytest.raises(ImmutableLedger):
        entry.save()
    with pytest.raises(ImmutableLedger):
        entry.delete()
    with pytest.raises(ImmutableLedger):
        LedgerEntry.objects.filter(pk=entry.pk).update(delta=5)
    with pytest.raises(ImmutableLedger):
        LedgerEntry.objects.filter(pk=entry.pk).delete()


@pytest.mark.parametrize("statement", ["UPDATE economy_ledgerentry SET delta = 999", "DELETE FROM economy_ledgerentry"])
def test_database_trigger_refuses_raw_update_and_delete(statement: str) -> None:
    user = player_with_wallet(gold=10)

    with pytest.raises(IntegrityError, match="immutable"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement)

    assert LedgerEntry.objects.get(wallet_id=user.pk).delta == 10


def test_database_refuses_a_negative_balance_even_from_raw_sql() -> None:
    user = player_with_wallet(gold=10)

    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE economy_wallet SET gold = -1 WHERE user_id = %s", [user.pk])


def exchange(user: Any, *, gems: int = 500, gold: int = 10_000, key: str = "order:1") -> Any:
    return wallet_exchange(
        user=user,
        spend={GEMS: gems},
        grant={GOLD: gold},
        reason=LedgerReason.PURCHASE,
        spend_key=f"{key}:pay",
        grant_key=f"{key}:grant",
        reference=key,
    )


def test_exchange_spends_and_grants_under_one_lock_with_one_event(django_assert_num_queries: Any) -> None:
    user = player_with_wallet(gems=600)
    OutboxEvent.objects.all().delete()

    # inside the test's transaction, no savepoint: lock, one statement inserting both entries (with
    # the key lookup) and updating the wallet, outbox
    with django_assert_num_queries(3):
        result = exchange(user)

    assert result.applied
    assert result.deltas == {GEMS: -500, GOLD: 10_000}
    assert (result.balances[GEMS], result.balances[GOLD]) == (100, 10_000)
    entries = LedgerEntry.objects.filter(reference="order:1").order_by("pk")
    assert [(e.idempotency_key, e.currency, e.delta, e.balance_after) for e in entries] == [
        ("order:1:pay", GEMS, -500, 100),
        ("order:1:grant", GOLD, 10_000, 10_000),
    ]
    wallet = Wallet.objects.get(pk=user.pk)
    assert (wallet.gems, wallet.gold) == (100, 10_000)  # the UPDATE inside the entries' statement
    event = OutboxEvent.objects.get()
    assert (event.type, event.data["deltas"]) == ("balance_update", {"gems": -500, "gold": 10_000})


def test_exchange_without_the_price_moves_nothing() -> None:
    user = player_with_wallet(gems=499)

    with pytest.raises(InsufficientFunds):
        exchange(user)

    wallet = Wallet.objects.get(pk=user.pk)
    assert (wallet.gems, wallet.gold) == (499, 0)
    assert not LedgerEntry.objects.filter(reference="order:1").exists()


def test_exchange_replays_and_refuses_another_exchange_under_the_same_keys() -> None:
    user = player_with_wallet(gems=2000)
    first = exchange(user)

    again = exchange(user)

    assert not again.applied
    assert {(e.currency, e.delta) for e in again.entries} == {(GEMS, -500), (GOLD, 10_000)}
    assert Wallet.objects.get(pk=user.pk).gems == first.balances[GEMS] == 1500
    with pytest.raises(IdempotencyConflict):
        exchange(user, gold=20_000)
    with pytest.raises(IdempotencyConflict):  # half of the pair used before is a conflict too
        wallet_exchange(
            user=user,
            spend={GEMS: 500},
            grant={GOLD: 10_000},
            reason=LedgerReason.PURCHASE,
            spend_key="order:1:pay",
            grant_key="order:2:grant",
        )
    assert Wallet.objects.get(pk=user.pk).gems == 1500


def test_first_claim_stands_returns_the_first_grant_for_another_amount() -> None:
    user = player_with_wallet()
    first = wallet_grant(
        user=user, bundle={XP: 50}, reason=LedgerReason.VIP_DAILY, idempotency_key="day", first_claim_stands=True
    )

    later = wallet_grant(
        user=user, bundle={XP: 80}, reason=LedgerReason.VIP_DAILY, idempotency_key="day", first_claim_stands=True
    )

    assert (first.applied, later.applied) == (True, False)
    assert later.deltas == {XP: 50}
    assert Wallet.objects.get(pk=user.pk).xp == 50
    with pytest.raises(IdempotencyConflict):  # another reason is still a conflict
        wallet_grant(
            user=user, bundle={XP: 50}, reason=LedgerReason.EVENT_REWARD, idempotency_key="day", first_claim_stands=True
        )


# --- Wallets open on the first write -------------------------------------------------


def test_the_first_grant_opens_the_wallet_of_an_account_created_without_signing_up() -> None:
    staff = UserFactory(is_staff=True)
    assert not Wallet.objects.filter(pk=staff.pk).exists()

    result = wallet_grant(user=staff.pk, bundle={GOLD: 30}, reason=LedgerReason.EVENT_REWARD, idempotency_key="first")

    assert result.applied and result.balances[GOLD] == 30
    assert Wallet.objects.get(pk=staff.pk).gold == 30


def test_wallet_get_or_open_opens_once_and_refuses_an_id_that_is_no_account() -> None:
    staff = UserFactory(is_staff=True)

    opened = wallet_get_or_open(user_id=staff.pk)
    again = wallet_get_or_open(user_id=staff.pk)

    assert opened.pk == again.pk == staff.pk
    assert Wallet.objects.filter(pk=staff.pk).count() == 1
    with pytest.raises(WalletMissing):
        wallet_get_or_open(user_id=staff.pk + 10_000)
    assert not Wallet.objects.filter(pk=staff.pk + 10_000).exists()


def test_a_ledger_key_reused_for_another_operation_is_the_platform_conflict_with_the_ledger_message() -> None:
    user = player_with_wallet()
    wallet_grant(user=user, bundle={GOLD: 5}, reason=LedgerReason.EVENT_REWARD, idempotency_key="k")

    with pytest.raises(IdempotencyKeyReused) as refused:
        wallet_grant(user=user, bundle={GOLD: 6}, reason=LedgerReason.EVENT_REWARD, idempotency_key="k")

    assert IdempotencyConflict is IdempotencyKeyReused
    assert refused.value.as_body() == {
        "error": "idempotency_key_reused",
        "message": "This idempotency key was already used for a different operation.",
        "idempotency_key": "k",
    }
    assert refused.value.status == 409


def test_a_wallet_locked_with_its_owner_is_posted_to_without_a_lock_of_its_own(
    django_assert_num_queries: Any,
) -> None:
    from economy.services import wallet_and_owner_lock

    user = player_with_wallet(gems=600)
    # The owner's row and the wallet's in one statement, the owner's first
    with django_assert_num_queries(1) as captured:
        found = wallet_and_owner_lock(user_id=user.pk, reading="%s + 1", params=[41])
    assert found is not None
    locked, values = found
    assert (locked.pk, locked.gems, values) == (user.pk, 600, (42,))  # the caller's reading, read with it
    if connection.vendor == "postgresql":
        assert captured.captured_queries[0]["sql"].endswith("FOR NO KEY UPDATE OF u, w")
    # The posting takes it as locked: the entries and the wallet's UPDATE, then the outbox row
    with django_assert_num_queries(2):
        result = wallet_spend(
            user=user, bundle={GEMS: 100}, reason=LedgerReason.PURCHASE, idempotency_key="held:1", locked=locked
        )
    assert result.balances[GEMS] == 500 == Wallet.objects.get(pk=user.pk).gems


def test_a_wallet_handed_to_a_posting_must_be_the_players_and_locked_in_its_transaction() -> None:
    from economy.services import wallet_and_owner_lock

    user, other = player_with_wallet(gems=600), player_with_wallet(gems=600)
    found = wallet_and_owner_lock(user_id=other.pk)
    assert found is not None
    with pytest.raises(ValueError, match="locked in the caller's transaction"):
        wallet_spend(
            user=user, bundle={GEMS: 100}, reason=LedgerReason.PURCHASE, idempotency_key="held:2", locked=found[0]
        )
    assert Wallet.objects.get(pk=user.pk).gems == 600 == Wallet.objects.get(pk=other.pk).gems
    # A player without a wallet: nothing locked, None (the caller locks the owner its usual way)
    assert wallet_and_owner_lock(user_id=UserFactory().pk) is None
