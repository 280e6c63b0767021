"""Gacha pulls through the API and the service: the price is the bet, items go to the inventory,
duplicates convert, the pity counter persists and moves in the pull's transaction, the daily pull
limit of the VIP tier holds (also under parallel pulls), refusals change nothing, a retry returns
the same pull, the config's odds are the draw's, and the verifier recomputes a pull."""

from __future__ import annotations

import importlib.util
import sys
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps as django_apps
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from economy.exceptions import InsufficientFunds
from economy.models import LedgerEntry, Wallet
from economy.services import wallet_grant
from games import defaults
from games.exceptions import DailyLimitReached
from games.fairness import gacha_odds
from games.gacha_selectors import gacha_banner_spec, gacha_codes_owned
from games.models import GachaBanner, GachaItem, GachaPity, GameConfig, GameRound, InventoryItem, PlayerGameStats
from games.services import gacha_pull
from realtime.models import OutboxEvent

BANNER = "casino-classics"
PULL = "/api/games/gacha/pull"
CONFIG = "/api/games/gacha/config"
INVENTORY = "/api/games/inventory"


def fund(user: Any, gold: int, key: str = "fund") -> None:
    wallet_grant(user=user, bundle={"gold": gold}, reason="admin_adjust", idempotency_key=f"{key}:{user.pk}:{gold}")


def gold_of(user: Any) -> int:
    return Wallet.objects.get(pk=user.pk).gold


def pity_of(user: Any) -> GachaPity | None:
    return GachaPity.objects.filter(user=user, banner__code=BANNER).first()


def install_defaults() -> None:
    """The shipped banner and daily limits, for a transactional test: the flush after an earlier
    transactional test removes what migration 0002 installed (installing is idempotent)."""
    defaults.install(django_apps)


def pull(client: APIClient, body: Any, key: str | None = None) -> Any:
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post(PULL, body, format="json", **headers)


def load_verifier() -> Any:
    path = Path(__file__).resolve().parents[2] / "tools" / "verify_round.py"
    spec = importlib.util.spec_from_file_location("verify_round_for_gacha", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


# --- a pull ----------------------------------------------------------------------------------


def banner_change(**fields: Any) -> None:
    """Change the banner as staff do (a save: the processes' copies of the banners follow it)."""
    banner = GachaBanner.objects.get(code=BANNER)
    for name, value in fields.items():
        setattr(banner, name, value)
    banner.save()


@pytest.mark.django_db
def test_a_single_pull_costs_the_single_price_and_fills_the_inventory(auth_client: APIClient) -> None:
    # Given a player with 1,000 gold (the sign-up bonus)
    user = auth_client.user  # type: ignore[attr-defined]
    fund(user, 1000)
    # When they pull once
    response = pull(auth_client, {"pull_count": 1})
    # Then the pull cost 100, the item is new and in the inventory, the pity counter moved
    assert response.status_code == 200, response.json()
    body = response.json()
    (item,) = body["items"]
    assert {"name", "rarity", "code", "is_new", "duplicate_value"} <= set(item)
    assert item["is_new"] and item["duplicate_value"] == 0
    assert (body["cost"], body["win_amount"], body["balance"]) == (100, 0, 900)
    assert body["animation_type"] in {"normal", "epic", "legendary"}
    assert body["feedback"]["code"].startswith("gacha.pull.")
    assert gold_of(user) == 900
    owned = InventoryItem.objects.get(user=user)
    assert (owned.item.code, owned.round_id, owned.duplicates) == (item["code"], body["round_id"], 0)
    pity = pity_of(user)
    assert pity is not None and pity.total_pulls == 1
    assert pity.pulls_since_top == body["pity_counter"] == (0 if item["rarity"] == "legendary" else 1)
    round_ = GameRound.objects.get(pk=body["round_id"])
    assert (round_.game, round_.bet_amount, round_.payout) == ("gacha", 100, 0)
    assert LedgerEntry.objects.filter(idempotency_key=f"round:{round_.pk}:bet", delta=-100).exists()
    assert PlayerGameStats.objects.get(user=user, game="gacha").plays == 1
    event = OutboxEvent.objects.filter(user_id=user.pk, type="game_event").latest("id")
    assert event.data["subtype"] == "gacha_pull" and event.data["items"][0]["code"] == item["code"]


@pytest.mark.django_db
def test_a_ten_pull_costs_the_ten_price_and_counts_ten_pulls(auth_client: APIClient) -> None:
    user = auth_client.user  # type: ignore[attr-defined]
    fund(user, 1000)
    body = pull(auth_client, {"pull_count": 10, "banner": BANNER}).json()
    assert len(body["items"]) == 10 and body["cost"] == 900
    assert gold_of(user) == 100 + body["win_amount"]
    # every distinct item is owned once; repeats within the batch are duplicates
    codes = [item["code"] for item in body["items"]]
    assert InventoryItem.objects.filter(user=user).count() == len(set(codes))
    assert sum(item["is_new"] for item in body["items"]) == len(set(codes))
    pity = pity_of(user)
    assert pity is not None and pity.total_pulls == 10 and pity.pulls_since_top == body["pity_counter"]


@pytest.mark.django_db
def test_the_pity_counter_persists_and_guarantees_the_top_rarity(auth_client: APIClient) -> None:
    # Given a player 89 pulls past their last legendary
    user = auth_client.user  # type: ignore[attr-defined]
    fund(user, 1000)
    pull(auth_client, {"pull_count": 1})
    GachaPity.objects.filter(user=user).update(pulls_since_top=89)
    # When they pull once more
    body = pull(auth_client, {"pull_count": 1}).json()
    # Then it is a legendary forced by pity, the counter resets, and the round records the counter it used
    (item,) = body["items"]
    assert (item["rarity"], item["pity"], body["animation_type"]) == ("legendary", True, "pity")
    assert body["pity_counter"] == 0 and pity_of(user).pulls_since_top == 0  # type: ignore[union-attr]
    assert GameRound.objects.get(pk=body["round_id"]).inputs["pity_before"] == 89


@pytest.mark.django_db
def test_each_pull_starts_from_the_counter_the_previous_one_left(auth_client: APIClient) -> None:
    user = auth_client.user  # type: ignore[attr-defined]
    fund(user, 5000)
    for _ in range(3):  # the STANDARD tier's 30 pulls a day
        assert pull(auth_client, {"pull_count": 10}).status_code == 200
    rounds = list(GameRound.objects.filter(user=user).order_by("nonce"))
    assert rounds[0].inputs["pity_before"] == 0
    for previous, current in pairwise(rounds):
        assert current.inputs["pity_before"] == previous.outcome["pity_after"]
    assert pity_of(user).pulls_since_top == rounds[-1].outcome["pity_after"]  # type: ignore[union-attr]


def own_every_item(user: Any) -> GameRound:
    """Give the player every item of the banner they do not own yet, as won by their first pull (returned)."""
    first = GameRound.objects.filter(user=user).earliest("pk")
    owned = set(InventoryItem.objects.filter(user=user).values_list("item_id", flat=True))
    InventoryItem.objects.bulk_create(
        InventoryItem(user=user, item=item, round=first, acquired_at=first.created_at)
        for item in GachaItem.objects.filter(banner__code=BANNER).exclude(pk__in=owned)
    )
    return first


@pytest.mark.django_db
def test_duplicates_convert_to_gold_as_the_round_payout(auth_client: APIClient) -> None:
    # Given a player who already owns every item of the banner
    user = auth_client.user  # type: ignore[attr-defined]
    fund(user, 1000)
    pull(auth_client, {"pull_count": 1})
    own_every_item(user)
    before = gold_of(user)
    # When they 10-pull
    body = pull(auth_client, {"pull_count": 10}).json()
    # Then every item converts to its rarity's value, paid as the round's payout
    spec = gacha_banner_spec(GachaBanner.objects.get(code=BANNER))
    expected = sum(spec.duplicate_value(item["rarity"]) for item in body["items"])
    assert not any(item["is_new"] for item in body["items"])
    assert body["win_amount"] == body["duplicate_total"] == expected > 0
    assert gold_of(user) == before - 900 + expected == body["balance"]
    assert LedgerEntry.objects.filter(idempotency_key=f"round:{body['round_id']}:win", delta=expected).exists()
    drawn = {item["code"]: 0 for item in body["items"]}
    for item in body["items"]:
        drawn[item["code"]] += 1
    for code, count in drawn.items():
        assert InventoryItem.objects.get(user=user, item__code=code).duplicates == count


@pytest.mark.django_db
def test_a_pull_reads_the_players_own_items_of_the_banner_it_can_draw(user: Any) -> None:
    from accounts.tests.factories import UserFactory

    banner = GachaBanner.objects.get(code=BANNER)
    first, second, retired = GachaItem.objects.filter(banner=banner).order_by("pk")[:3]
    GachaItem.objects.filter(pk=retired.pk).update(is_active=False)
    other_banner = GachaBanner.objects.create(
        code="elsewhere", name="Elsewhere", cost_single=100, cost_ten=900, updated_at=timezone.now()
    )
    elsewhere = GachaItem.objects.create(banner=other_banner, rarity=first.rarity, code="twin", name="Twin")
    someone = UserFactory()
    now = timezone.now()
    InventoryItem.objects.bulk_create(
        [
            *(
                InventoryItem(user=user, item=item, source="reward", acquired_at=now)
                for item in (first, retired, elsewhere)
            ),
            InventoryItem(user=someone, item=second, source="reward", acquired_at=now),
        ]
    )
    spec = gacha_banner_spec(GachaBanner.objects.get(code=BANNER))

    # Only the player's, only this banner's, only what a pull can draw (the retired item is not)
    assert gacha_codes_owned(user_id=user.pk, banner=spec) == {first.code}
    assert gacha_codes_owned(user_id=someone.pk, banner=spec) == {second.code}
    assert gacha_codes_owned(user_id=UserFactory().pk, banner=spec) == set()


@pytest.mark.django_db
def test_duplicates_in_another_currency_are_granted_apart(auth_client: APIClient) -> None:
    # Given a banner whose duplicates convert to gems, and a player owning all its items
    banner_change(duplicate_currency="gems")
    user = auth_client.user  # type: ignore[attr-defined]
    fund(user, 1000)
    pull(auth_client, {"pull_count": 1})
    first = GameRound.objects.get(user=user)
    InventoryItem.objects.bulk_create(
        InventoryItem(user=user, item=item, round=first, acquired_at=first.created_at)
        for item in GachaItem.objects.filter(banner__code=BANNER).exclude(
            pk__in=InventoryItem.objects.filter(user=user).values("item_id")
        )
    )
    # When they pull
    body = pull(auth_client, {"pull_count": 1}).json()
    # Then the round pays nothing in gold and the gems come as their own grant
    assert body["win_amount"] == 0 and body["duplicate_currency"] == "gems"
    assert body["balance"] == gold_of(user) == 800
    grant = LedgerEntry.objects.get(idempotency_key=f"round:{body['round_id']}:dup")
    assert (grant.currency, grant.delta) == ("gems", body["duplicate_total"])
    assert Wallet.objects.get(pk=user.pk).gems == body["duplicate_total"] > 0


# --- refusals, retries, limits ---------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"pull_count": 0}, 400, "invalid_choice"),
        ({"pull_count": 2}, 400, "invalid_choice"),
        ({"pull_count": 11}, 400, "invalid_choice"),
        ({"pull_count": -10}, 400, "invalid_choice"),
        ({"pull_count": "10"}, 400, "validation_error"),
        ({"pull_count": 10.0}, 400, "validation_error"),
        ({"pull_count": True}, 400, "validation_error"),
        ({"pull_count": None}, 400, "validation_error"),
        ({"pull_count": 1, "banner": "no-such-banner"}, 404, "banner_not_found"),
        ({"pull_count": 1, "banner": "not a code!"}, 400, "validation_error"),
    ],
)
def test_a_refused_pull_changes_nothing(auth_client: APIClient, body: Any, status: int, code: str) -> None:
    user = auth_client.user  # type: ignore[attr-defined]
    fund(user, 1000)
    response = pull(auth_client, body)
    assert (response.status_code, response.json()["error"]) == (status, code)
    assert gold_of(user) == 1000
    assert not GameRound.objects.filter(user=user).exists()
    assert not InventoryItem.objects.filter(user=user).exists() and pity_of(user) is None


@pytest.mark.django_db
def test_an_inactive_or_closed_banner_is_not_found(auth_client: APIClient) -> None:
    user = auth_client.user  # type: ignore[attr-defined]
    fund(user, 1000)
    banner_change(is_active=False)
    assert pull(auth_client, {"pull_count": 1, "banner": BANNER}).json()["error"] == "banner_not_found"
    assert pull(auth_client, {"pull_count": 1}).json()["error"] == "banner_not_found"
    config = auth_client.get(CONFIG).json()
    assert config["banners"] == [] and config["cost_single"] is None
    assert gold_of(user) == 1000


@pytest.mark.django_db
def test_a_pull_the_player_cannot_afford_changes_nothing(auth_client: APIClient) -> None:
    user = auth_client.user  # type: ignore[attr-defined]
    fund(user, 899)
    response = pull(auth_client, {"pull_count": 10})
    assert (response.status_code, response.json()["error"]) == (409, "insufficient_funds")
    assert gold_of(user) == 899 and not GameRound.objects.filter(user=user).exists() and pity_of(user) is None
    assert auth_client.get(CONFIG).json()["pulls_today"] == 0


@pytest.mark.django_db
def test_a_switched_off_gacha_refuses_pulls(auth_client: APIClient) -> None:
    fund(auth_client.user, 1000)  # type: ignore[attr-defined]
    GameConfig.objects.filter(pk="gacha").update(is_enabled=False)
    response = pull(auth_client, {"pull_count": 1})
    assert (response.status_code, response.json()["error"]) == (403, "game_disabled")


@pytest.mark.django_db
def test_a_retry_with_the_same_key_returns_the_same_pull(auth_client: APIClient) -> None:
    user = auth_client.user  # type: ignore[attr-defined]
    fund(user, 1000)
    first = pull(auth_client, {"pull_count": 10}, key="pull-1").json()
    again = pull(auth_client, {"pull_count": 10}, key="pull-1").json()
    assert again["round_id"] == first["round_id"] and again["items"] == first["items"]
    assert again["replayed"] and not first["replayed"]
    assert gold_of(user) == 100 + first["win_amount"]
    assert GameRound.objects.filter(user=user).count() == 1 and pity_of(user).total_pulls == 10  # type: ignore[union-attr]
    other = pull(auth_client, {"pull_count": 1}, key="pull-1")
    assert (other.status_code, other.json()["error"]) == (409, "idempotency_key_reused")
    # a retry still answers the first pull once the banner has closed; a new pull is refused
    banner_change(is_active=False)
    late = pull(auth_client, {"pull_count": 10}, key="pull-1").json()
    assert (late["round_id"], late["items"], late["replayed"]) == (first["round_id"], first["items"], True)
    assert pull(auth_client, {"pull_count": 10}, key="pull-2").json()["error"] == "banner_not_found"


@pytest.mark.django_db
@pytest.mark.parametrize(("tier", "limit"), [("STANDARD", 30), ("PREMIUM", 60), ("VIP", 100)])
def test_the_daily_pull_limit_follows_the_vip_tier(auth_client: APIClient, tier: str, limit: int) -> None:
    # Given a player of the tier with gold for more than their limit
    user = auth_client.user  # type: ignore[attr-defined]
    fund(user, 100_000)
    Wallet.objects.filter(pk=user.pk).update(vip_tier=tier)
    assert auth_client.get(CONFIG).json()["pulls_left_today"] == limit
    # When they 10-pull up to the limit, then once more
    for _ in range(limit // 10):
        assert pull(auth_client, {"pull_count": 10}).status_code == 200
    refused = pull(auth_client, {"pull_count": 1})
    # Then the extra pull is refused and charged nothing
    assert (refused.status_code, refused.json()["error"]) == (429, "daily_limit_reached")
    assert GameRound.objects.filter(user=user).count() == limit // 10
    assert gold_of(user) == 100_000 - 900 * (limit // 10) + sum(
        GameRound.objects.filter(user=user).values_list("payout", flat=True)
    )
    assert auth_client.get(CONFIG).json()["pulls_left_today"] == 0


@pytest.mark.django_db
def test_the_count_reads_the_tier_itself_and_counts_only_for_a_tier_with_a_limit(auth_client: APIClient) -> None:
    from casino.tests.statements import statements_sent
    from games.models import GameDailyLimit, PlayerGameDay

    # Given limits for two tiers only (a VIP player has none)
    user = auth_client.user  # type: ignore[attr-defined]
    fund(user, 10_000)
    GameDailyLimit.objects.filter(game="gacha", vip_tier="VIP").delete()
    Wallet.objects.filter(pk=user.pk).update(vip_tier="PREMIUM")
    assert pull(auth_client, {"pull_count": 1}).status_code == 200  # the process's copies are warm now

    # When a PREMIUM player pulls, then the same player as VIP
    with statements_sent() as sent:
        assert pull(auth_client, {"pull_count": 10}).status_code == 200
    Wallet.objects.filter(pk=user.pk).update(vip_tier="VIP")
    assert pull(auth_client, {"pull_count": 10}).status_code == 200

    # Then the tier was read in the count's own statement, and only the limited tier's pulls count
    wallet_reads = [sql for sql in sent if "economy_wallet" in sql and not sql.startswith("WITH inserted")]
    # The posting's lock (with the nonce's statement, after the seed lock), then the count
    assert len(wallet_reads) == 2 and "games_playergameday" in wallet_reads[1]
    assert "games_fairnessseed" in wallet_reads[0] and "FOR NO KEY UPDATE" in wallet_reads[0]
    assert PlayerGameDay.objects.get(user=user, game="gacha").units == 11
    assert auth_client.get(CONFIG).json()["pulls_left_today"] is None


@pytest.mark.django_db
def test_a_pulls_new_items_are_written_with_its_events_in_one_statement(auth_client: APIClient) -> None:
    from casino.tests.statements import statements_sent

    user = auth_client.user  # type: ignore[attr-defined]
    fund(user, 10_000)
    with statements_sent() as sent:
        response = pull(auth_client, {"pull_count": 10})

    assert response.status_code == 200
    inventory_writes = [sql for sql in sent if 'INSERT INTO "games_inventoryitem"' in sql]
    assert len(inventory_writes) == 1 and "realtime_outboxevent" in inventory_writes[0]
    round_ = GameRound.objects.get(user=user)
    codes = {pulled["item"] for pulled in round_.outcome["pulls"]}
    owned = InventoryItem.objects.filter(user=user)
    assert {item.item.code for item in owned} == codes
    assert {item.round_id for item in owned} == {round_.pk}


@pytest.mark.django_db
def test_a_pull_locks_its_pity_counter_and_reads_the_items_owned_in_one_statement(auth_client: APIClient) -> None:
    from casino.tests.statements import statements_sent

    # Given a player whose first pull made their counter's row, and who owns every item of the banner
    user = auth_client.user  # type: ignore[attr-defined]
    fund(user, 10_000)
    pull(auth_client, {"pull_count": 10})
    first = own_every_item(user)

    # When they pull again
    with statements_sent() as sent:
        second = pull(auth_client, {"pull_count": 10}).json()

    # Then one statement locked the counter and read the items owned
    [read] = [sql for sql in sent if "games_gachapity" in sql and "FOR NO KEY UPDATE" in sql]
    assert "games_inventoryitem" in read
    assert not [sql for sql in sent if sql.startswith("SELECT") and "games_inventoryitem" in sql and sql != read]
    # and what it read decided the pull: the counter went on from the first pull's, every item is a duplicate
    again = GameRound.objects.filter(user=user).latest("pk")
    assert again.inputs["pity_before"] == first.outcome["pity_after"]
    assert second["items"] and not any(item["is_new"] for item in second["items"])


# --- parallel pulls ----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_parallel_pulls_never_overdraw_and_keep_pity_and_inventory_consistent(user: Any, parallel: Any) -> None:
    # Given a player who can afford 6 of 10 parallel single pulls
    install_defaults()
    fund(user, 600)

    def one(index: int) -> str:
        try:
            gacha_pull(user=user, pull_count=1, banner_code=None, idempotency_key=f"p{index}")
            return "pulled"
        except InsufficientFunds:
            return "refused"
        finally:
            connection.close()

    # When they race (duplicates paid back in gold may afford one more)
    outcomes = parallel(10, one)
    # Then the balance never went negative and it adds up; each pull used its own nonce and the
    # counter the previous one left; the pity row counted every pull; the inventory is the items drawn
    rounds = list(GameRound.objects.filter(user=user).order_by("nonce"))
    assert outcomes.count("pulled") == len(rounds) >= 6
    assert [round_.nonce for round_ in rounds] == list(range(len(rounds)))
    assert gold_of(user) == 600 - 100 * len(rounds) + sum(round_.payout for round_ in rounds) >= 0
    pity_before = 0
    for round_ in rounds:
        assert round_.inputs["pity_before"] == pity_before
        pity_before = round_.outcome["pity_after"]
    pity = pity_of(user)
    assert pity is not None and (pity.total_pulls, pity.pulls_since_top) == (len(rounds), pity_before)
    drawn = [pull_["item"] for round_ in rounds for pull_ in round_.outcome["pulls"]]
    owned = InventoryItem.objects.filter(user=user)
    assert sorted(owned.values_list("item__code", flat=True)) == sorted(set(drawn))
    assert sum(owned.values_list("duplicates", flat=True)) == len(drawn) - len(set(drawn))


@pytest.mark.django_db(transaction=True)
def test_parallel_ten_pulls_never_pass_the_daily_limit(user: Any, parallel: Any) -> None:
    # Given a STANDARD player (30 pulls a day) with gold for six 10-pulls
    install_defaults()
    fund(user, 5400)

    def ten(index: int) -> str:
        try:
            gacha_pull(user=user, pull_count=10, banner_code=None, idempotency_key=f"t{index}")
            return "pulled"
        except DailyLimitReached:
            return "limited"
        finally:
            connection.close()

    # When six race
    outcomes = parallel(6, ten)
    # Then exactly three went through and only they were charged
    assert sorted(outcomes) == ["limited"] * 3 + ["pulled"] * 3
    payouts = sum(GameRound.objects.filter(user=user).values_list("payout", flat=True))
    assert gold_of(user) == 5400 - 3 * 900 + payouts
    assert pity_of(user).total_pulls == 30  # type: ignore[union-attr]


# --- config, inventory, verification ---------------------------------------------------------


@pytest.mark.django_db
def test_the_config_publishes_the_odds_the_draw_uses(auth_client: APIClient) -> None:
    # Given the banner's rows as the draw reads them
    banner = GachaBanner.objects.get(code=BANNER)
    spec = gacha_banner_spec(banner)
    odds = gacha_odds(spec.draw_rarities())
    # When the player reads the config
    body = auth_client.get(CONFIG).json()
    # Then every published probability is the draw's, for the banner and the contract's table
    (published,) = body["banners"]
    assert {rarity["rarity"]: rarity["odds"] for rarity in published["rarities"]} == {
        code: float(p) for code, p in odds.items()
    }
    assert {rarity["rarity"]: rarity["odds_exact"] for rarity in published["rarities"]} == {
        code: str(p) for code, p in odds.items()
    }
    assert body["rarity_table"] == [[code, float(p)] for code, p in odds.items()]
    assert [rarity["items"] for rarity in published["rarities"]] == [
        [{"code": code, "name": spec.items[code].name, "image_url": ""} for code in rarity.items]
        for rarity in spec.rarities
    ]
    assert (body["cost_single"], body["cost_ten"], body["currency"]) == (100, 900, "gold")
    assert (body["pity_threshold"], body["pity_counter"], body["default_banner"]) == (90, 0, BANNER)
    assert (body["daily_limit"], body["pulls_left_today"]) == (30, 30)
    # And a change of the rows changes the published odds
    legendary = banner.rarities.get(rarity="legendary")
    legendary.weight = 12
    legendary.save()  # saved, as the back office does: the processes' copies follow it
    changed = auth_client.get(CONFIG).json()["banners"][0]["rarities"][0]
    assert (changed["rarity"], changed["odds_exact"]) == ("legendary", "6/503")  # 12 / 1006


@pytest.mark.django_db
def test_the_inventory_lists_the_players_items_newest_first(auth_client: APIClient) -> None:
    user = auth_client.user  # type: ignore[attr-defined]
    fund(user, 2000)
    pull(auth_client, {"pull_count": 10})
    body = auth_client.get(INVENTORY, {"limit": 3}).json()
    owned = InventoryItem.objects.filter(user=user).count()
    assert body["total"] == owned and len(body["items"]) == min(3, owned)
    first = body["items"][0]
    assert {"code", "name", "rarity", "banner", "duplicates", "acquired_at"} <= set(first)
    assert first["banner"] == BANNER
    legendary = auth_client.get(INVENTORY, {"rarity": "legendary"}).json()
    assert all(item["rarity"] == "legendary" for item in legendary["items"])
    assert auth_client.get(INVENTORY, {"rarity": "mythic"}).json()["error"] == "validation_error"


@pytest.mark.django_db
def test_the_verifier_recomputes_a_pull_after_the_seed_is_rotated(auth_client: APIClient) -> None:
    # Given a 10-pull, then a rotation that reveals the seed
    fund(auth_client.user, 1000)  # type: ignore[attr-defined]
    body = pull(auth_client, {"pull_count": 10}).json()
    assert auth_client.post("/api/games/fairness/rotate", {}, format="json").status_code == 200
    round_data = auth_client.get(f"/api/games/rounds/{body['round_id']}").json()
    verifier = load_verifier()
    # When the stand-alone verifier checks it
    report = verifier.verify_round(round_data)
    # Then it matches; a tampered item is a mismatch
    assert report.status == verifier.VERIFIED, report.render()
    other = next(code for code in round_data["inputs"]["rarities"][-1]["items"])
    round_data["outcome"]["pulls"][0]["item"] = other if round_data["outcome"]["pulls"][0]["item"] != other else "x"
    assert verifier.verify_round(round_data).status == verifier.MISMATCH
