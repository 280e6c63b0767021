"""``manage.py seed_events_demo``: the earlier product's Model Index Challenge and two more demo
events, created through the audited service, once."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from accounts.tests.factories import UserFactory
from casino.models import AuditLog
from events.models import Event

pytestmark = pytest.mark.django_db


def test_seeding_creates_the_model_index_challenge_and_is_idempotent() -> None:
    # Given the seeded staff account
    admin = UserFactory(site_id="admin", is_staff=True, is_superuser=True)

    # When the command runs twice
    call_command("seed_events_demo", stdout=StringIO())
    second = StringIO()
    call_command("seed_events_demo", stdout=second)

    # Then the three demo events exist once, the model index one as the earlier product had it
    assert Event.objects.count() == 3
    model_index = Event.objects.get(title="Model Index Challenge")
    assert (model_index.reward_gold, model_index.reward_xp, model_index.priority) == (5000, 1000, 50)
    assert round((model_index.ends_at - model_index.starts_at).total_seconds() / 86400) == 14
    assert list(model_index.requirements.values_list("metric", "game", "target")) == [("amount_bet", "", 1000)]
    assert "0 created" in second.getvalue()
    # And each was created as staff would, audited
    assert set(AuditLog.objects.filter(action="event_create").values_list("actor", flat=True)) == {admin.pk}
    assert AuditLog.objects.filter(action="event_create").count() == 3


def test_seeding_needs_the_staff_account() -> None:
    with pytest.raises(CommandError):
        call_command("seed_events_demo", stdout=StringIO())
    assert not Event.objects.exists()
