"""The fairness endpoints: the hash before play, the seed after rotating, the client seed, and a
round's detail (the caller's own only; an open round's outcome withheld)."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.tests.factories import UserFactory
from accounts.tokens import tokens_issue
from economy.services import wallet_grant
from games.enums import RoundStatus
from games.models import FairnessSeed, GameRound
from games.services import Decision, Draw, round_play


def _play(user: Any, key: str, *, open_round: bool = False) -> GameRound:
    def decide(draw: Draw) -> Decision:
        from datetime import timedelta

        from django.utils import timezone

        return Decision(
            payout=0,
            inputs={"choice": "rock"},
            outcome={"secret": draw.floats(1)[0]},
            subtype="test",
            open_until=timezone.now() + timedelta(minutes=5) if open_round else None,
        )

    wallet_grant(user=user, bundle={"gold": 100}, reason="admin_adjust", idempotency_key=f"fund:{key}")
    return round_play(user=user, game="rps", bet_amount=10, idempotency_key=key, fingerprint="f", decide=decide).round


@pytest.mark.django_db
def test_a_new_player_sees_no_seed_until_the_first_round(auth_client: APIClient) -> None:
    body = auth_client.get("/api/games/fairness").json()
    assert body == {"server_seed_hash": None, "client_seed": None, "nonce": 0, "previous": None}


@pytest.mark.django_db
def test_the_hash_is_published_before_play_and_the_seed_after_rotating(auth_client: APIClient) -> None:
    # Given a player who played once
    user = auth_client.user  # type: ignore[attr-defined]
    round_ = _play(user, "one")
    before = auth_client.get("/api/games/fairness").json()
    assert before["nonce"] == 1 and len(before["server_seed_hash"]) == 64
    # When they rotate
    response = auth_client.post("/api/games/fairness/rotate", {"client_seed": "my-seed"}, format="json")
    # Then the old seed is revealed, it hashes to what was published, and a new hash is shown
    assert response.status_code == 200
    after = response.json()
    revealed = after["previous"]
    assert hashlib.sha256(revealed["server_seed"].encode()).hexdigest() == before["server_seed_hash"]
    assert revealed["last_nonce"] == 0
    assert after["server_seed_hash"] != before["server_seed_hash"]
    assert (after["client_seed"], after["nonce"]) == ("my-seed", 0)
    # And the round's detail now carries the server seed
    detail = auth_client.get(f"/api/games/rounds/{round_.pk}").json()
    assert detail["fairness"]["server_seed"] == revealed["server_seed"]


@pytest.mark.django_db
def test_a_round_detail_hides_the_seed_until_it_is_revealed(auth_client: APIClient) -> None:
    round_ = _play(auth_client.user, "one")  # type: ignore[attr-defined]
    detail = auth_client.get(f"/api/games/rounds/{round_.pk}/").json()
    assert detail["fairness"]["server_seed"] is None
    assert detail["fairness"]["nonce"] == 0 and detail["outcome"]["secret"] == round_.outcome["secret"]


@pytest.mark.django_db
def test_another_players_round_is_not_found(auth_client: APIClient) -> None:
    other = UserFactory()
    round_ = _play(other, "theirs")
    response = auth_client.get(f"/api/games/rounds/{round_.pk}")
    assert response.status_code == 404 and response.json()["error"] == "round_not_found"


@pytest.mark.django_db
def test_an_open_round_withholds_its_outcome_and_blocks_rotation(auth_client: APIClient) -> None:
    # Given a live round
    user = auth_client.user  # type: ignore[attr-defined]
    round_ = _play(user, "live", open_round=True)
    assert round_.status == RoundStatus.OPEN
    # Then its detail has no outcome, and the seed cannot be rotated (that would reveal it)
    assert auth_client.get(f"/api/games/rounds/{round_.pk}").json()["outcome"] is None
    response = auth_client.post("/api/games/fairness/rotate", {}, format="json")
    assert response.status_code == 409 and response.json()["error"] == "round_in_progress"
    assert FairnessSeed.objects.get(user=user).revealed_at is None


@pytest.mark.django_db
@pytest.mark.parametrize("client_seed", ["", "a" * 65, "with space", "colon:s", None])
def test_an_invalid_client_seed_is_refused(auth_client: APIClient, client_seed: object) -> None:
    response = auth_client.put("/api/games/fairness/client-seed", {"client_seed": client_seed}, format="json")
    assert response.status_code == 400
    assert not FairnessSeed.objects.exists()


@pytest.mark.django_db
def test_a_new_client_seed_applies_to_the_next_round(auth_client: APIClient) -> None:
    user = auth_client.user  # type: ignore[attr-defined]
    first = _play(user, "one")
    response = auth_client.put("/api/games/fairness/client-seed", {"client_seed": "lucky_7"}, format="json")
    assert response.status_code == 200 and response.json()["client_seed"] == "lucky_7"
    second = _play(user, "two")
    assert first.client_seed != "lucky_7" and second.client_seed == "lucky_7"
    assert second.nonce == first.nonce + 1


@pytest.mark.django_db
def test_fairness_needs_authentication() -> None:
    client = APIClient()
    assert client.get("/api/games/fairness").status_code == 401
    assert client.post("/api/games/fairness/rotate").status_code == 401


@pytest.mark.django_db(transaction=True)
def test_two_first_rounds_in_parallel_share_one_seed(parallel: Any) -> None:
    from django.db import connection

    user = UserFactory()
    tokens_issue(user=user)
    wallet_grant(user=user, bundle={"gold": 1000}, reason="admin_adjust", idempotency_key="fund")

    def first_round(index: int) -> int:
        try:
            return _play(user, f"first-{index}").nonce
        finally:
            connection.close()

    nonces = parallel(8, first_round)
    assert sorted(nonces) == list(range(8))
    assert FairnessSeed.objects.filter(user=user).count() == 1
