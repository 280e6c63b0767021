"""The admin index's event-pipeline panel: in embedded mode (no Kafka, so no
relay) outbox rows stay pending by design, and the panel says so instead of
showing a lag that grows forever like an alarm."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

import realtime

pytestmark = pytest.mark.django_db


def _panel(staff_client: Any) -> str:
    index = staff_client.get("/admin/").content.decode()
    match = re.search(r'<div class="module" id="pipeline-health">.*?</div>', index, re.DOTALL)
    assert match, "the pipeline panel is on the admin index"
    return match.group(0)


def _an_hour_old_pending_row(user: Any) -> None:
    with time_machine.travel(timezone.now() - timedelta(hours=1)), transaction.atomic():
        realtime.emit("stats_update", user, {})


@override_settings(KAFKA_BOOTSTRAP_SERVERS="", CLICKHOUSE_URL="")
def test_embedded_mode_says_the_relay_is_off_and_shows_no_lag(staff_client: Any, user: Any) -> None:
    # Given embedded mode and an outbox row pending for an hour (nothing ships it)
    _an_hour_old_pending_row(user)

    # When staff open the admin index
    panel = _panel(staff_client)

    # Then the panel says the relay is off and why, counts the kept rows, and shows no lag
    assert "Relay" in panel and "embedded mode" in panel and "KAFKA_BOOTSTRAP_SERVERS" in panel
    assert "1 row" in panel
    assert "lag" not in panel.replace("no lag to watch", "")
    assert "CLICKHOUSE_URL" in panel


@override_settings(KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:19092", CLICKHOUSE_URL="clickhouse://default:@127.0.0.1:9000/x")
def test_with_a_broker_the_lag_of_the_oldest_pending_row_is_shown(staff_client: Any, user: Any) -> None:
    # Given the full stack and an outbox row pending for an hour
    _an_hour_old_pending_row(user)

    # When staff open the admin index
    panel = _panel(staff_client)

    # Then the lag is shown (an hour: the relay is behind) and nothing says the relay is off
    lag = re.search(r"Oldest pending \(lag\)</th><td>([\d.]+) s", panel)
    assert lag and float(lag.group(1)) >= 3600
    assert "embedded mode" not in panel
