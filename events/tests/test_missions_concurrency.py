"""A mission's reward under parallel claims (design promise 2): of 100 claims at once exactly one
pays; the others are told it was already claimed."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from economy.models import LedgerEntry, Wallet
from economy.services import wallet_grant
from events.exceptions import RewardAlreadyClaimed
from events.models import MissionProgress
from events.services import mission_claim
from events.tests.factories import MissionTemplateFactory
from games.services import Decision, Draw, round_play
from realtime.models import OutboxEvent


@pytest.mark.django_db(transaction=True)
def test_100_parallel_claims_pay_a_mission_once(user: Any, parallel: Any) -> None:
    # Given a completed daily mission worth 250 gold
    wallet_grant(user=user, bundle={"gold": 100}, reason="admin_adjust", idempotency_key=f"fund:{user.pk}")
    template = MissionTemplateFactory(period="daily", target=1, reward_gold=250)

    def decide(draw: Draw) -> Decision:
        return Decision(payout=0, inputs={}, outcome={}, subtype="test")

    key = str(uuid.uuid4())
    round_play(user=user, game="rps", bet_amount=10, idempotency_key=key, fingerprint=key, decide=decide)
    assert MissionProgress.objects.get(user=user).completed_at is not None

    # When 100 claims run at once
    results = parallel(100, lambda index: mission_claim(user=user, mission_id=template.pk))

    # Then one paid and 99 were refused as already claimed
    paid = [result for result in results if not isinstance(result, Exception)]
    refused = [result for result in results if isinstance(result, RewardAlreadyClaimed)]
    assert (len(paid), len(refused)) == (1, 99), [r for r in results if isinstance(r, Exception)][:3]
    assert paid[0].balances["gold"] == 100 - 10 + 250
    # And the ledger, the wallet and the announcements agree: one grant
    assert LedgerEntry.objects.filter(wallet_id=user.pk, reason="mission_reward").count() == 1
    assert Wallet.objects.get(pk=user.pk).gold == 340
    assert OutboxEvent.objects.filter(type="reward_granted", user_id=user.pk).count() == 1
