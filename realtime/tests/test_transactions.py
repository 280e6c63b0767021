"""The relay's entry points own their transaction (``atomic(durable=True)``)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction

from realtime import relay

pytestmark = pytest.mark.django_db


def test_the_relays_entry_points_refuse_to_run_inside_an_outer_transaction(staff_user: Any) -> None:
    with pytest.raises(RuntimeError, match="durable"), transaction.atomic():
        relay.outbox_relay_pass(producer=None)
    with pytest.raises(RuntimeError, match="durable"), transaction.atomic():
        relay.outbox_retry_dead(actor=staff_user, event_ids=[], reason="r")
