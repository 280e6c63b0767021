"""Slots (games/services/slots.py, POST /api/games/slot/spin, GET /api/games/slot/config): the
shipped table's exact RTP and hit frequency, the measured RTP of the pure decider, the spin's
contract fields and ledger postings, every refusal changing nothing, retries exactly once, the
statement budget of a spin, and spins the stand-alone verifier recomputes."""

from __future__ import annotations

import importlib.util
import math
import sys
from collections import Counter
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from rest_framework.test import APIClient

from economy.models import LedgerEntry, Wallet
from economy.services import wallet_grant
from games.defaults import SLOT_PAYTABLE, SLOT_REEL_WEIGHTS, SLOT_SYMBOLS
from games.fairness import PayRule, slot_evaluate, slot_payout, slot_rtp
from games.models import GameConfig, GameRound, PlayerGameStats, SlotPayRule, SlotReelWeight, SlotTableVersion
from games.services import Draw, slot_decider, slot_table_current
from games.tests.factories import game_config_change
from realtime.models import OutboxEvent

SPIN = "/api/games/slot/spin"
CONFIG = "/api/games/slot/config"
VERIFIER_PATH = Path(__file__).resolve().parents[2] / "tools" / "verify_round.py"
EMOJI = {code: emoji for code, _name, emoji, _order in SLOT_SYMBOLS}


def fund(user: Any, gold: int) -> None:
    wallet_grant(user=user, bundle={"gold": gold}, reason="admin_adjust", idempotency_key=f"fund:{user.pk}:{gold}")


def gold_of(user: Any) -> int:
    return Wallet.objects.get(pk=user.pk).gold


def spin(client: APIClient, body: Any, key: str | None = None) -> Any:
    headers: dict[str, Any] = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post(SPIN, body, format="json", **headers)


def shipped_tables() -> tuple[list[list[str]], list[PayRule]]:
    order = [code for code, _name, _emoji, _order in sorted(SLOT_SYMBOLS, key=lambda symbol: symbol[3])]
    strips = [[code for code in order for _ in range(SLOT_REEL_WEIGHTS[reel][code])] for reel in range(3)]
    paytable = [PayRule(symbol, count, multiplier, jackpot) for symbol, count, multiplier, jackpot in SLOT_PAYTABLE]
    return strips, paytable


def load_verifier() -> ModuleType:
    spec = importlib.util.spec_from_file_location("verify_round_for_slots", VERIFIER_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


# --- The shipped table's math (pure) -----------------------------------------------------------


def test_the_shipped_table_declares_an_rtp_of_96_07_percent_and_a_hit_on_29_5_percent_of_spins() -> None:
    # Given the shipped strips (32 stops per reel) and paytable
    strips, paytable = shipped_tables()
    # When its figures are computed exactly by enumeration
    figures = slot_rtp(strips, paytable)
    # Then the RTP is 3935/4096 = 96.0693% (within 96.0 +- 0.3, aimed at 96.0-96.1), a spin wins
    # 1207 times in 4096 (29.47%), and three sevens (the jackpot) come once in 4096 spins
    assert [len(strip) for strip in strips] == [32, 32, 32]
    assert figures.combinations == 32**3
    assert figures.rtp == Fraction(3935, 4096)
    assert Fraction(960, 1000) <= figures.rtp <= Fraction(961, 1000)
    assert figures.hit_frequency == Fraction(1207, 4096)
    assert figures.jackpot_probability == Fraction(1, 4096)


def test_every_shipped_hit_pays_more_than_the_bet_and_whole_coins_for_even_bets() -> None:
    # Given the shipped paytable
    _strips, paytable = shipped_tables()
    # Then no win is a loss in disguise (every multiplier is above 1), and every multiplier is a
    # multiple of 0.5, so the declared RTP holds exactly for every even bet (min bet 10)
    assert all(rule.multiplier > 1 for rule in paytable)
    assert all((rule.multiplier * 2) % 1 == 0 for rule in paytable)
    assert [rule for rule in paytable if rule.is_jackpot] == [PayRule("seven", 3, Decimal("250"), True)]


def test_the_rtp_by_enumeration_equals_a_brute_force_walk_of_every_stop_combination() -> None:
    # Given the shipped table
    strips, paytable = shipped_tables()
    # When every one of the 32,768 stop combinations is evaluated one by one
    total = Fraction(0)
    hits = 0
    for left in strips[0]:
        for middle in strips[1]:
            for right in strips[2]:
                win = slot_evaluate([left, middle, right], paytable)
                total += Fraction(win.multiplier)
                hits += win.multiplier > 0
    # Then it agrees with the declared figures
    figures = slot_rtp(strips, paytable)
    assert total / figures.combinations == figures.rtp
    assert Fraction(hits, figures.combinations) == figures.hit_frequency


@pytest.mark.django_db
def test_the_measured_rtp_over_100000_decider_spins_is_within_the_99_percent_interval() -> None:
    # Given the live version of the shipped table and its pure decider, for a bet of 10
    version = slot_table_current()
    bet = 10
    decide = slot_decider(version, bet=bet)
    config = GameConfig(game="slot")
    declared = float(slot_rtp(*shipped_tables()).rtp)
    rounds = 100_000
    # When 10^5 spins are decided with fresh seeds
    total = 0.0
    total_squares = 0.0
    hits = 0
    symbols: Counter[str] = Counter()
    seed = "a7" * 32
    for nonce in range(rounds):
        decision = decide(Draw(server_seed=seed, client_seed=f"rtp-{nonce // 1000}", nonce=nonce, config=config))
        ratio = decision.payout / bet
        total += ratio
        total_squares += ratio * ratio
        hits += decision.payout > 0
        symbols[decision.outcome["symbols"][0]] += 1
    # Then the mean return is within 2.576 standard errors (99%) of the declared RTP, the hit
    # rate within 3 sigma of 29.47%, and the left reel shows cherries on 8 of its 32 stops
    mean = total / rounds
    variance = (total_squares - rounds * mean * mean) / (rounds - 1)
    assert abs(mean - declared) < 2.576 * math.sqrt(variance / rounds)
    hit = 1207 / 4096
    assert abs(hits - rounds * hit) < 3 * math.sqrt(rounds * hit * (1 - hit))
    assert abs(symbols["cherry"] - rounds / 4) < 3 * math.sqrt(rounds * 0.25 * 0.75)


@pytest.mark.django_db
def test_the_decider_records_the_table_version_and_pays_the_floored_multiple_of_the_best_rule() -> None:
    # Given the live version and a bet that does not divide evenly
    version = slot_table_current()
    bet = 11
    decide = slot_decider(version, bet=bet)
    paytable = [PayRule.from_mapping(rule) for rule in version.paytable]
    # When a few hundred spins are decided
    for nonce in range(300):
        decision = decide(Draw(server_seed="0b" * 32, client_seed="pure", nonce=nonce, config=GameConfig(game="slot")))
        # Then each records its inputs and outcome as the verifier reads them
        assert decision.inputs == {"table_version": version.pk}
        outcome = decision.outcome
        assert set(outcome) == {"stops", "symbols", "multiplier", "is_jackpot"}
        assert outcome["symbols"] == [version.reel_strips[i][stop] for i, stop in enumerate(outcome["stops"])]
        win = slot_evaluate(outcome["symbols"], paytable)
        assert Decimal(outcome["multiplier"]) == win.multiplier
        assert decision.payout == slot_payout(bet, win.multiplier)
        assert decision.subtype == "slot_spin"
        assert decision.event["reels"] == [outcome["symbols"]]  # no emoji map given: the codes


# --- A spin through the API ---------------------------------------------------------------------


@pytest.mark.django_db
def test_a_spin_answers_the_contract_fields_and_moves_the_balance_by_its_net(auth_client: APIClient) -> None:
    # Given a player with 1,000 gold
    user = auth_client.user  # type: ignore[attr-defined]
    fund(user, 1000)
    # When they spin for 10 until one spin has won and one has lost
    seen: dict[bool, dict[str, Any]] = {}
    balance = 1000
    for index in range(60):
        response = spin(auth_client, {"bet_amount": 10}, key=f"s{index}")
        assert response.status_code == 200, response.json()
        body = response.json()
        balance += body["win_amount"] - 10
        # Then every spin carries the contract's fields, the balance after it, and its round
        assert body["success"] is True
        assert body["balance"] == balance == gold_of(user)
        assert body["net_change"] == body["win_amount"] - 10
        assert body["reels"] == [[EMOJI[symbol] for symbol in body["symbols"]]]
        assert len(body["symbols"]) == 3
        round_ = GameRound.objects.get(pk=body["round_id"])
        assert (round_.game, round_.bet_amount, round_.payout) == ("slot", 10, body["win_amount"])
        assert body["multiplier"] == float(Decimal(body["win_amount"]) / 10)
        assert body["table_version"] == round_.inputs["table_version"]
        seen.setdefault(body["win_amount"] > 0, body)
        if len(seen) == 2:
            break
    win, loss = seen[True], seen[False]
    # A win names its rule and pays it; a loss pays nothing and says so
    assert win["win_lines"] and win["win_lines"][0]["payout"] == win["win_amount"]
    line = win["win_lines"][0]
    assert win["symbols"][: line["count"]] == [line["symbol"]] * line["count"]
    assert win["win_amount"] == slot_payout(10, Decimal(line["multiplier"]))
    assert win["feedback"]["code"] in {"slot.win", "slot.jackpot"}
    assert win["feedback"]["severity"] == "success"
    assert (loss["win_lines"], loss["multiplier"], loss["is_jackpot"]) == ([], 0.0, False)
    assert loss["feedback"] == {
        "code": "slot.loss",
        "severity": "loss",
        "message": loss["message"],
    }
    # And the ledger holds the bet and the win under the round's natural keys
    keys = set(
        LedgerEntry.objects.filter(reference=f"round:{win['round_id']}").values_list("idempotency_key", flat=True)
    )
    assert keys == {f"round:{win['round_id']}:bet", f"round:{win['round_id']}:win"}
    assert PlayerGameStats.objects.get(user=user, game="slot").plays == GameRound.objects.filter(user=user).count()
    # And the player's screen got a slot_spin event with the reels
    event = OutboxEvent.objects.filter(type="game_event", user_id=user.pk).latest("id")
    assert event.data["subtype"] == "slot_spin"
    assert event.data["reels"] == [[EMOJI[symbol] for symbol in event.data["symbols"]]]


@pytest.mark.django_db
@pytest.mark.parametrize("bet", [-100, 0, 5, 10_001, 10.5, 10.0, "100", True, None, [10], {"a": 1}])
def test_a_bet_that_is_not_a_whole_number_within_the_limits_changes_nothing(
    auth_client: APIClient, bet: object
) -> None:
    # Given a funded player
    user = auth_client.user  # type: ignore[attr-defined]
    fund(user, 100_000)
    # When they spin with a negative, zero, too small, too large, float, string, boolean or null bet
    response = spin(auth_client, {"bet_amount": bet}, key="bad")
    # Then it is refused in the error envelope, and nothing changed
    assert response.status_code == 400
    assert response.json()["error"] in {"bet_out_of_range", "validation_error"}
    assert not GameRound.objects.filter(user=user).exists()
    assert gold_of(user) == 100_000
    assert LedgerEntry.objects.filter(wallet_id=user.pk).count() == 1


@pytest.mark.django_db
def test_a_missing_bet_and_a_body_that_is_not_json_are_refused(auth_client: APIClient) -> None:
    fund(auth_client.user, 1000)  # type: ignore[attr-defined]
    assert spin(auth_client, {}).json()["error"] == "validation_error"
    response = auth_client.post(SPIN, "bet_amount=10", content_type="text/plain")
    assert response.status_code in {400, 415}
    assert not GameRound.objects.exists()


@pytest.mark.django_db
def test_a_bet_above_the_balance_is_insufficient_funds_and_changes_nothing(auth_client: APIClient) -> None:
    # Given a player with 50 gold
    user = auth_client.user  # type: ignore[attr-defined]
    fund(user, 50)
    # When they bet 60
    response = spin(auth_client, {"bet_amount": 60})
    # Then it is a 409 and no round, nonce or ledger entry was written
    assert (response.status_code, response.json()["error"]) == (409, "insufficient_funds")
    assert not GameRound.objects.exists()
    assert gold_of(user) == 50
    assert LedgerEntry.objects.filter(wallet_id=user.pk).count() == 1


@pytest.mark.django_db
def test_a_switched_off_slot_machine_refuses_spins_at_once(auth_client: APIClient) -> None:
    fund(auth_client.user, 1000)  # type: ignore[attr-defined]
    game_config_change("slot", is_enabled=False)
    response = spin(auth_client, {"bet_amount": 10})
    assert (response.status_code, response.json()["error"]) == (403, "game_disabled")
    assert not GameRound.objects.exists()


@pytest.mark.django_db
def test_spinning_needs_a_login(api_client: APIClient) -> None:
    response = api_client.post(SPIN, {"bet_amount": 10}, format="json")
    assert response.status_code == 401
    assert api_client.get(CONFIG).status_code == 401


@pytest.mark.django_db
def test_a_retry_with_the_same_key_returns_the_same_spin_and_another_bet_with_it_is_refused(
    auth_client: APIClient,
) -> None:
    # Given a spin made with a key
    user = auth_client.user  # type: ignore[attr-defined]
    fund(user, 1000)
    first = spin(auth_client, {"bet_amount": 20}, key="same").json()
    balance = gold_of(user)
    # When the client retries it (its X-Idempotency-Key spelling included)
    again = auth_client.post(SPIN, {"bet_amount": 20}, format="json", HTTP_X_IDEMPOTENCY_KEY="same").json()
    # Then it gets the same spin back, and nothing moved a second time
    assert again["replayed"] is True
    for field in ("round_id", "reels", "symbols", "stops", "win_amount", "multiplier", "win_lines", "is_jackpot"):
        assert again[field] == first[field]
    assert again["balance"] == balance == gold_of(user)
    assert GameRound.objects.filter(user=user).count() == 1
    # And the same key with another bet is a conflict that changes nothing
    other = spin(auth_client, {"bet_amount": 30}, key="same")
    assert (other.status_code, other.json()["error"]) == (409, "idempotency_key_reused")
    assert GameRound.objects.filter(user=user).count() == 1
    assert gold_of(user) == balance


@pytest.mark.django_db
def test_a_spin_stays_within_its_statement_budget(auth_client: APIClient, django_assert_max_num_queries: Any) -> None:
    # Given a player who already spun once (their fairness seed exists, this process has the slot
    # table cached, this minute's activity mark is written)
    user = auth_client.user  # type: ignore[attr-defined]
    fund(user, 10_000)
    slot_table_current()  # creates the version row (inside the test's transaction: not cached yet)
    spin(auth_client, {"bet_amount": 10}, key="warm")
    outcomes = set()
    # When they spin (a loss posts the bet; a win posts the bet and the win in one exchange)
    for index in range(40):
        # The budget, statement by statement (docs/games.md "Slots"):
        #  1 the JWT's user
        #  in the round's transaction (here a savepoint pair, in production BEGIN/COMMIT: 1 commit):
        #  2 replay check  3 game config  4 daily limits  5 the nonce (UPDATE ... RETURNING, locks the seed)
        #  6 the round  +  the wallet posting in its savepoint pair: 7 wallet lock  8 earlier entries
        #  9 wallet update  10 entries  11 balance_update outbox  +  12 stats upsert
        #  13 game_round + game_event outbox (one INSERT)  and the subscribers of game_round:
        #  14 counted source  15 event progress  16 missions  17 achievements
        # 17 statements + 2 savepoint pairs; the slot table costs none (cached per process).
        with django_assert_max_num_queries(21):
            body = spin(auth_client, {"bet_amount": 10}, key=f"b{index}").json()
        outcomes.add(body["win_amount"] > 0)
        if outcomes == {True, False}:
            break
    # Then both a win and a loss were measured
    assert outcomes == {True, False}


@pytest.mark.django_db
def test_a_round_is_written_with_its_events_in_the_transactions_last_statement(auth_client: APIClient) -> None:
    from casino.tests.statements import statements_sent
    from realtime.models import OutboxEvent

    user = auth_client.user  # type: ignore[attr-defined]
    fund(user, 10_000)
    spin(auth_client, {"bet_amount": 10}, key="warm")  # the player's seed exists now
    with statements_sent() as sent:
        body = spin(auth_client, {"bet_amount": 10}, key="second").json()

    nonce = next(sql for sql in sent if "games_fairnessseed" in sql)
    assert "nextval" in nonce  # the round's key, with the nonce
    # ... and in the same statement the replay check and the wallet locked for the posting, after the seed
    assert "games_gameround" in nonce and nonce.index("games_fairnessseed") < nonce.index("economy_wallet")
    assert [sql for sql in sent if "economy_wallet" in sql and " FOR " in sql] == [nonce]
    assert not [sql for sql in sent if sql.startswith("SELECT") and "games_gameround" in sql]
    round_writes = [sql for sql in sent if 'INSERT INTO "games_gameround"' in sql]
    assert len(round_writes) == 1 and "realtime_outboxevent" in round_writes[0]
    round_ = GameRound.objects.get(user=user, idempotency_key="second")
    assert (round_.bet_amount, round_.nonce) == (10, 1)
    event = OutboxEvent.objects.filter(type="game_round", user_id=user.pk).latest("id")
    assert event.data["round_id"] == round_.pk == body["round_id"]
    assert spin(auth_client, {"bet_amount": 10}, key="second").json()["round_id"] == round_.pk  # a replay


@pytest.mark.django_db
def test_the_verifier_recomputes_spins_fetched_from_the_api_after_the_seed_is_rotated(
    auth_client: APIClient,
) -> None:
    # Given a few spins of different bets
    user = auth_client.user  # type: ignore[attr-defined]
    fund(user, 10_000)
    ids = [spin(auth_client, {"bet_amount": 10 + 7 * index}, key=f"v{index}").json()["round_id"] for index in range(8)]
    verifier = load_verifier()
    # When the seed is not revealed yet, the verifier cannot check them
    unrevealed = auth_client.get(f"/api/games/rounds/{ids[0]}").json()
    assert verifier.verify_round(unrevealed).status == verifier.UNVERIFIABLE
    # When the player rotates and fetches them
    assert auth_client.post("/api/games/fairness/rotate", {}, format="json").status_code == 200
    fetched = [auth_client.get(f"/api/games/rounds/{round_id}").json() for round_id in ids]
    # Then each carries the strips and the paytable of its version, and the verifier recomputes it
    version = SlotTableVersion.objects.get(pk=fetched[0]["inputs"]["table_version"])
    for round_data in fetched:
        assert round_data["game"] == "slot"
        assert round_data["inputs"]["reel_strips"] == version.reel_strips
        assert round_data["inputs"]["paytable"] == version.paytable
        report = verifier.verify_round(round_data)
        assert report.status == verifier.VERIFIED, report.render()
    # And a tampered payout or symbol is a mismatch
    tampered = dict(fetched[0], payout=fetched[0]["payout"] + 1)
    assert verifier.verify_round(tampered).status == verifier.MISMATCH
    symbols = list(fetched[0]["outcome"]["symbols"])
    symbols[0] = "seven" if symbols[0] != "seven" else "cherry"
    other_symbols = dict(fetched[0], outcome={**fetched[0]["outcome"], "symbols": symbols})
    assert verifier.verify_round(other_symbols).status == verifier.MISMATCH


# --- The config endpoint ------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_config_declares_the_exact_rtp_of_the_version_the_spins_use(auth_client: APIClient) -> None:
    # When the player reads the slot config
    body = auth_client.get(CONFIG).json()
    # Then its figures are slot_rtp of the version's strips and paytable...
    version = SlotTableVersion.objects.get(pk=body["table_version"])
    figures = slot_rtp(version.reel_strips, [PayRule.from_mapping(rule) for rule in version.paytable])
    assert Fraction(body["rtp_exact"]) == figures.rtp
    assert Decimal(body["rtp"]) == round(Decimal(figures.rtp.numerator) / figures.rtp.denominator * 100, 4)
    assert Fraction(body["hit_frequency_exact"]) == figures.hit_frequency
    assert Fraction(body["jackpot_probability"]) == figures.jackpot_probability
    # ...and that version is the one built from the rows in the database
    weights = {(row.reel, row.symbol.code): row.weight for row in SlotReelWeight.objects.select_related("symbol")}
    served = {(reel["reel"], code): weight for reel in body["reels"] for code, weight in reel["weights"].items()}
    assert served == {(reel, code): weights.get((reel, code), 0) for reel in range(3) for code in EMOJI}
    rows = {(rule.symbol.code, rule.count): rule for rule in SlotPayRule.objects.select_related("symbol")}
    assert {(rule["symbol"], rule["count"]): Decimal(rule["multiplier"]) for rule in body["paytable"]} == {
        key: rule.multiplier for key, rule in rows.items()
    }
    # And it shows what a player needs to decide
    assert (body["min_bet"], body["max_bet"], body["is_enabled"], body["currency"]) == (10, 10_000, True, "gold")
    assert [symbol["emoji"] for symbol in body["symbols"]] == ["🍒", "🍋", "🍊", "🍇", "💎", "7️⃣"]
    assert (body["rtp"], body["hit_frequency"]) == ("96.0693", "29.4678")
    assert sum(Fraction(rule["probability"]) for rule in body["paytable"]) == figures.hit_frequency
