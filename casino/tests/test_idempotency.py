from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.tokens import tokens_issue
from casino.models import AuditLog, IdempotencyRecord
from casino.services import idempotency_purge_expired
from casino.tests.commits import commits_counted

pytestmark = pytest.mark.urls("casino.tests.idempotency_urls")

GRANT = "/api/test/grant"


def executions() -> int:
    return AuditLog.objects.filter(action="test_execution").count()


@pytest.mark.django_db
def test_retry_returns_the_stored_response_byte_for_byte(auth_client: APIClient) -> None:
    first = auth_client.post(GRANT, {"amount": 5}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    retry = auth_client.post(GRANT, {"amount": 5}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")

    assert first.status_code == retry.status_code == 201
    assert retry.content == first.content
    assert retry["Idempotent-Replayed"] == "true"
    assert executions() == 1


@pytest.mark.django_db
def test_x_idempotency_key_is_the_same_key(auth_client: APIClient) -> None:
    first = auth_client.post(GRANT, {"amount": 5}, format="json", HTTP_X_IDEMPOTENCY_KEY="k-2")
    retry = auth_client.post(GRANT, {"amount": 5}, format="json", HTTP_IDEMPOTENCY_KEY="k-2")

    assert retry.content == first.content
    assert executions() == 1


@pytest.mark.django_db
def test_same_key_with_another_body_is_409_and_runs_nothing(auth_client: APIClient) -> None:
    auth_client.post(GRANT, {"amount": 5}, format="json", HTTP_IDEMPOTENCY_KEY="k-3")

    reused = auth_client.post(GRANT, {"amount": 500}, format="json", HTTP_IDEMPOTENCY_KEY="k-3")

    assert reused.status_code == 409
    assert reused.json()["error"] == "idempotency_key_reused"
    assert executions() == 1


@pytest.mark.django_db
def test_keys_are_scoped_per_user(auth_client: APIClient, staff_user: Any) -> None:
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_issue(user=staff_user).access}")

    mine = auth_client.post(GRANT, {"amount": 5}, format="json", HTTP_IDEMPOTENCY_KEY="shared")
    theirs = other.post(GRANT, {"amount": 5}, format="json", HTTP_IDEMPOTENCY_KEY="shared")

    assert mine.json()["execution"] != theirs.json()["execution"]
    assert executions() == 2


@pytest.mark.django_db
def test_refused_request_stores_nothing_so_the_key_can_be_retried(auth_client: APIClient) -> None:
    refused = auth_client.post(GRANT, {"amount": "refuse"}, format="json", HTTP_IDEMPOTENCY_KEY="k-4")
    assert refused.status_code == 400
    assert not IdempotencyRecord.objects.exists()

    retried = auth_client.post(GRANT, {"amount": "refuse"}, format="json", HTTP_IDEMPOTENCY_KEY="k-4")
    assert retried.status_code == 400
    assert retried.json()["error"] == "refused"


@pytest.mark.django_db
def test_required_key_missing_or_malformed_is_400(auth_client: APIClient) -> None:
    missing = auth_client.post(GRANT, {"amount": 1}, format="json")
    too_long = auth_client.post(GRANT, {"amount": 1}, format="json", HTTP_IDEMPOTENCY_KEY="x" * 256)

    assert missing.status_code == 400
    assert missing.json()["error"] == "idempotency_key_required"
    assert too_long.json()["error"] == "idempotency_key_invalid"
    assert executions() == 0


@pytest.mark.django_db
def test_optional_key_endpoint_runs_every_time_without_a_key(auth_client: APIClient) -> None:
    auth_client.post("/api/test/optional", {}, format="json")
    auth_client.post("/api/test/optional", {}, format="json")

    assert executions() == 2


@pytest.mark.django_db
def test_abandoned_in_progress_key_can_be_taken_over_after_the_lock_timeout(
    auth_client: APIClient, settings: Any
) -> None:
    now = timezone.now()
    IdempotencyRecord.objects.create(
        user=auth_client.user,
        key="k-dead",
        request_method="POST",
        request_path=GRANT,
        request_hash=_fingerprint_of(auth_client, {"amount": 7}),
        created_at=now,
        locked_until=now + settings.IDEMPOTENCY_LOCK_TIMEOUT,
        expires_at=now + timedelta(days=7),
    )

    busy = auth_client.post(GRANT, {"amount": 7}, format="json", HTTP_IDEMPOTENCY_KEY="k-dead")
    assert busy.status_code == 409
    assert busy.json()["error"] == "idempotency_key_in_use"

    with time_machine.travel(now + settings.IDEMPOTENCY_LOCK_TIMEOUT + timedelta(seconds=1)):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_issue(user=auth_client.user).access}")
        taken_over = client.post(GRANT, {"amount": 7}, format="json", HTTP_IDEMPOTENCY_KEY="k-dead")
    assert taken_over.status_code == 201
    assert executions() == 1


def _fingerprint_of(client: APIClient, body: dict[str, Any]) -> str:
    """The fingerprint a real request would get (computed by the same code)."""
    from rest_framework.parsers import JSONParser
    from rest_framework.request import Request
    from rest_framework.test import APIRequestFactory

    from casino.idempotency import request_fingerprint

    raw = APIRequestFactory().post(GRANT, body, format="json")
    return request_fingerprint(Request(raw, parsers=[JSONParser()]))


@pytest.mark.django_db
def test_expired_keys_are_purged_and_then_the_key_runs_again(auth_client: APIClient, settings: Any) -> None:
    auth_client.post(GRANT, {"amount": 1}, format="json", HTTP_IDEMPOTENCY_KEY="k-old")

    with time_machine.travel(timezone.now() + settings.IDEMPOTENCY_KEY_TTL + timedelta(minutes=1)):
        assert idempotency_purge_expired() == 1
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_issue(user=auth_client.user).access}")
        again = client.post(GRANT, {"amount": 1}, format="json", HTTP_IDEMPOTENCY_KEY="k-old")

    assert "Idempotent-Replayed" not in again
    assert executions() == 2


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_identical_requests_execute_once(parallel: Any, user: Any) -> None:
    access = tokens_issue(user=user).access

    def send(_index: int) -> tuple[int, bytes, str]:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
        response = client.post(GRANT, {"amount": 9, "slow": 0.3}, format="json", HTTP_IDEMPOTENCY_KEY="burst")
        return response.status_code, response.content, response.json().get("error", "")

    results = parallel(20, send)

    assert executions() == 1
    statuses = Counter(status for status, _, _ in results)
    assert statuses[201] >= 1
    assert set(statuses) <= {201, 409}
    assert {error for status, _, error in results if status == 409} <= {"idempotency_key_in_use"}
    assert len({content for status, content, _ in results if status == 201}) == 1


REFUSES = "/api/test/writes-then-refuses"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("answer", ["refuse", 503])
def test_in_the_request_transaction_a_refusal_or_5xx_undoes_the_views_writes(user: Any, answer: Any) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_issue(user=user).access}")

    first = client.post(REFUSES, {"answer": answer}, format="json", HTTP_IDEMPOTENCY_KEY="k-undo")
    again = client.post(REFUSES, {"answer": answer}, format="json", HTTP_IDEMPOTENCY_KEY="k-undo")

    assert first.status_code == again.status_code == (400 if answer == "refuse" else 503)
    assert "Idempotent-Replayed" not in again  # nothing stored: the key ran again
    assert executions() == 0  # and each run's audit row went with its transaction
    assert not IdempotencyRecord.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_around_the_view_a_refusal_keeps_what_the_view_committed(user: Any) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_issue(user=user).access}")

    refused = client.post(f"{REFUSES}?around=1", {}, format="json", HTTP_IDEMPOTENCY_KEY="k-keep")

    assert refused.status_code == 400
    assert executions() == 1  # e.g. a fraud decision: committed although the request was refused
    assert not IdempotencyRecord.objects.exists()  # the key may be sent again


@pytest.mark.django_db(transaction=True)
def test_the_record_the_effect_and_the_response_commit_together(user: Any) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_issue(user=user).access}")
    client.post(GRANT, {"amount": 1}, format="json", HTTP_IDEMPOTENCY_KEY="k-first")  # the day's activity mark
    with commits_counted() as commits:
        response = client.post(GRANT, {"amount": 3}, format="json", HTTP_IDEMPOTENCY_KEY="k-once")
    assert response.status_code == 201
    # One transaction (a new minute's activity mark, written in autocommit, is not the request's work).
    assert [commit for commit in commits if commit == "transaction"] == ["transaction"]
    record = IdempotencyRecord.objects.get(key="k-once")
    assert record.state == IdempotencyRecord.State.COMPLETED
    assert bytes(record.response_body) == response.content
