"""Standard Webhooks signing: what ``shop.webhooks.verify`` accepts and refuses."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.exceptions import ImproperlyConfigured

from shop.exceptions import WebhookRejected
from shop.webhooks import sign, signature_headers, verify

NEW_SECRET = "whsec_" + base64.b64encode(b"new-signing-key-0123456789abcdef").decode()
OLD_SECRET = "whsec_" + base64.b64encode(b"old-signing-key-0123456789abcdef").decode()
STRANGER_SECRET = "whsec_" + base64.b64encode(b"someone-else-key-0123456789abcde").decode()
TOLERANCE = 300
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
NOW_TS = int(NOW.timestamp())
BODY = b'{"type":"payment.succeeded","data":{"reference":"sbx_1","amount":1999}}'
MSG_ID = "msg_2f8a"


def _headers(
    *, secrets: list[str], timestamp: int = NOW_TS, body: bytes = BODY, msg_id: str = MSG_ID
) -> dict[str, str]:
    return signature_headers(secrets=secrets, msg_id=msg_id, timestamp=timestamp, body=body)


def _verify(headers: dict[str, str], *, secrets: list[str] | None = None, body: bytes = BODY) -> object:
    return verify(secrets=secrets or [NEW_SECRET], headers=headers, body=body, now=NOW, tolerance_seconds=TOLERANCE)


def _rejection_code(headers: dict[str, str], *, secrets: list[str] | None = None, body: bytes = BODY) -> str:
    with pytest.raises(WebhookRejected) as caught:
        _verify(headers, secrets=secrets, body=body)
    assert caught.value.status == 400
    return caught.value.code


def test_signed_delivery_verifies_and_returns_its_id_and_timestamp() -> None:
    # given a delivery signed with our secret
    headers = _headers(secrets=[NEW_SECRET])

    # when it is verified
    verified = _verify(headers)

    # then
    assert verified.msg_id == MSG_ID
    assert verified.timestamp == NOW_TS
    assert verified.sent_at == NOW


def test_signature_matches_the_standard_webhooks_reference_vector() -> None:
    # The test vector of the Standard Webhooks reference libraries: proof that a
    # real provider's signatures (and our sandbox's) are computed the same way.
    signature = sign(
        secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        msg_id="msg_p5jXN8AQM9LWM0D4loKWxJek",
        timestamp=1614265330,
        body=b'{"test": 2432232314}',
    )
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_header_names_match_case_insensitively() -> None:
    headers = {name.upper(): value for name, value in _headers(secrets=[NEW_SECRET]).items()}
    assert _verify(headers).msg_id == MSG_ID


def test_verify_uses_the_server_clock_when_now_is_not_given() -> None:
    headers = _headers(secrets=[NEW_SECRET])
    with time_machine.travel(NOW + timedelta(seconds=TOLERANCE), tick=False):
        assert verify(secrets=[NEW_SECRET], headers=headers, body=BODY, tolerance_seconds=TOLERANCE)
    with time_machine.travel(NOW + timedelta(seconds=TOLERANCE + 1), tick=False), pytest.raises(WebhookRejected):
        verify(secrets=[NEW_SECRET], headers=headers, body=BODY, tolerance_seconds=TOLERANCE)


def test_flipped_body_byte_is_rejected() -> None:
    headers = _headers(secrets=[NEW_SECRET])
    tampered = bytearray(BODY)
    tampered[BODY.index(b"1999")] ^= 0x01  # "1999" -> "0999"
    assert _rejection_code(headers, body=bytes(tampered)) == "webhook_signature_invalid"


def test_signature_by_an_unknown_key_is_rejected() -> None:
    assert _rejection_code(_headers(secrets=[STRANGER_SECRET])) == "webhook_signature_invalid"


def test_changing_the_id_or_timestamp_breaks_the_signature() -> None:
    # The old webhook signed only the body, so a replay could change them freely.
    headers = _headers(secrets=[NEW_SECRET])
    assert _rejection_code({**headers, "webhook-id": "msg_other"}) == "webhook_signature_invalid"
    assert _rejection_code({**headers, "webhook-timestamp": str(NOW_TS - 1)}) == "webhook_signature_invalid"


@pytest.mark.parametrize("offset", [-TOLERANCE - 1, TOLERANCE + 1], ids=["301s-old", "301s-in-future"])
def test_timestamp_beyond_tolerance_is_rejected(offset: int) -> None:
    headers = _headers(secrets=[NEW_SECRET], timestamp=NOW_TS + offset)
    assert _rejection_code(headers) == "webhook_timestamp_out_of_tolerance"


@pytest.mark.parametrize("offset", [-TOLERANCE, TOLERANCE], ids=["300s-old", "300s-in-future"])
def test_timestamp_at_the_tolerance_edge_is_accepted(offset: int) -> None:
    headers = _headers(secrets=[NEW_SECRET], timestamp=NOW_TS + offset)
    assert _verify(headers).timestamp == NOW_TS + offset


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_missing_header_is_rejected(missing: str) -> None:
    headers = _headers(secrets=[NEW_SECRET])
    del headers[missing]
    assert _rejection_code(headers) == "webhook_headers_missing"


FULL_WIDTH_DIGITS = "\uff11\uff17\uff10\uff10"


@pytest.mark.parametrize("timestamp", ["soon", "1.7e9", "-5", FULL_WIDTH_DIGITS])
def test_non_numeric_timestamp_is_rejected(timestamp: str) -> None:
    headers = {**_headers(secrets=[NEW_SECRET]), "webhook-timestamp": timestamp}
    assert _rejection_code(headers) == "webhook_timestamp_invalid"


@pytest.mark.parametrize("signed_with", [NEW_SECRET, OLD_SECRET], ids=["new", "old"])
def test_during_rotation_a_signature_by_either_secret_is_accepted(signed_with: str) -> None:
    headers = _headers(secrets=[signed_with])
    assert _verify(headers, secrets=[NEW_SECRET, OLD_SECRET]).msg_id == MSG_ID


def test_sender_signing_with_both_secrets_satisfies_a_receiver_knowing_either() -> None:
    headers = _headers(secrets=[NEW_SECRET, OLD_SECRET])
    assert len(headers["webhook-signature"].split()) == 2
    assert _verify(headers, secrets=[NEW_SECRET])
    assert _verify(headers, secrets=[OLD_SECRET])


def test_several_entries_where_only_the_second_matches_are_accepted() -> None:
    good = sign(secret=NEW_SECRET, msg_id=MSG_ID, timestamp=NOW_TS, body=BODY)
    bad = sign(secret=STRANGER_SECRET, msg_id=MSG_ID, timestamp=NOW_TS, body=BODY)
    headers = {**_headers(secrets=[NEW_SECRET]), "webhook-signature": f"{bad} {good}"}
    assert _verify(headers).msg_id == MSG_ID


def test_unknown_signature_versions_are_ignored() -> None:
    good = sign(secret=NEW_SECRET, msg_id=MSG_ID, timestamp=NOW_TS, body=BODY)
    same_value_other_version = "v1a," + good.removeprefix("v1,")
    headers = {**_headers(secrets=[NEW_SECRET]), "webhook-signature": f"{same_value_other_version} junk v1, {good}"}
    assert _verify(headers)
    # ...but a matching value under an unknown version alone does not pass.
    headers["webhook-signature"] = same_value_other_version
    assert _rejection_code(headers) == "webhook_signature_invalid"


def test_secret_without_prefix_is_used_as_raw_key() -> None:
    headers = _headers(secrets=["plain-shared-secret"])
    assert _verify(headers, secrets=["plain-shared-secret"])
    # the same bytes, given as whsec_<base64>, are the same key
    as_whsec = "whsec_" + base64.b64encode(b"plain-shared-secret").decode()
    assert _verify(headers, secrets=[as_whsec])


def test_malformed_whsec_secret_is_a_configuration_error() -> None:
    with pytest.raises(ImproperlyConfigured):
        _verify(_headers(secrets=[NEW_SECRET]), secrets=["whsec_not base64!"])
