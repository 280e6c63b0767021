"""The ClickHouse sink's JSON: envelopes read from Kafka by orjson, with the json module for
what orjson refuses, and each row's data written back as compact JSON that reads as it came."""

from __future__ import annotations

import json
import uuid

import pytest
from django.utils import timezone

from realtime import clickhouse
from realtime.sink import envelope_decode

DATA = {
    "parts": [{"type": "event_progress", "data": {"event_id": 3, "progress": {"rounds": 12}, "completed": False}}],
    "title": "Crème brûlée — 7日目",
    "ratio": 0.125,
    "none": None,
}


def envelope(data: object) -> dict[str, object]:
    return {
        "event_id": str(uuid.uuid4()),
        "type": "progress_update",
        "user_id": 42,
        "data": data,
        "timestamp": "2026-12-05T07:00:00.123456Z",
    }


def test_an_envelope_decodes_as_the_json_module_reads_it() -> None:
    value = json.dumps(envelope(DATA)).encode()
    assert envelope_decode(value) == json.loads(value)


def test_an_integer_beyond_64_bits_still_decodes() -> None:
    value = json.dumps(envelope({"amount": 2**70})).encode()
    assert envelope_decode(value)["data"]["amount"] == 2**70


@pytest.mark.parametrize("value", [b"not json", b'{"type": ', b"\xff\xfe"])
def test_what_is_not_json_is_refused_with_a_value_error(value: bytes) -> None:
    # (the sink skips such a message, counted and logged)
    with pytest.raises(ValueError):
        envelope_decode(value)


@pytest.mark.parametrize("data", [DATA, {"amount": 2**70}, {}])
def test_a_rows_data_is_compact_json_that_reads_back_as_it_came(data: dict[str, object]) -> None:
    (row,) = clickhouse.rows_from_envelopes([envelope(data)], ingested=timezone.now())
    assert row[3] == json.dumps(data, separators=(",", ":"), ensure_ascii=False)
