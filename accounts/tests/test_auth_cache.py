"""Access-token authentication without a query per request (accounts.auth_cache).

A kept user is served with no database round trip; every write to a user moves
their generation in Redis when it commits, so each process (simulated here by
separate ``AuthUserCache`` instances, which the writer's own process cannot
reach) reads the row again on its next request. Redis down or flushed never
makes a kept row valid.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import redis
from django.contrib.auth.models import Group
from django.utils import timezone
from prometheus_client import REGISTRY
from rest_framework.request import Request
from rest_framework.test import APIClient, APIRequestFactory

import accounts.auth_cache as auth_cache
from accounts import services
from accounts.activity import record_activity
from accounts.auth_cache import (
    AuthUserCache,
    RedisGenerations,
    generation_key,
    generations_from_settings,
    shared_row_key,
)
from accounts.authentication import AccessTokenAuthentication, user_from_access_token
from accounts.exceptions import TokenAccountDisabled, TokenRevoked
from accounts.models import User
from accounts.services.password_links import password_set_tokens, password_set_with_link
from accounts.tests.factories import UserFactory
from accounts.tokens import tokens_issue
from casino.childprocess import free_port

pytestmark = pytest.mark.django_db

ME = "/api/auth/me"


def bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def authenticate(access: str) -> User:
    """What DRF does for a request carrying ``access`` (the activity mark included)."""
    request = Request(APIRequestFactory().get(ME, **bearer(access)))
    result = AccessTokenAuthentication().authenticate(request)
    assert result is not None
    return result[0]


def generation(user: Any) -> bytes | None:
    store = generations_from_settings()
    assert store is not None
    value: bytes | None = store.client.get(generation_key(user.pk))
    return value


def lookups(result: str) -> float:
    return REGISTRY.get_sample_value("auth_user_lookups_total", {"result": result}) or 0.0


def redis_failures() -> float:
    return REGISTRY.get_sample_value("dependency_failures_total", {"dependency": "redis", "use": "auth_cache"}) or 0.0


@pytest.fixture
def quiet_failure_log(monkeypatch: pytest.MonkeyPatch) -> None:
    """Failures are still counted; their warning (the development log format renders its
    traceback in seconds) counts as logged a moment ago."""
    from casino import degraded

    monkeypatch.setitem(degraded._last_logged, ("redis", "auth_cache"), degraded._clock())


def dead_redis() -> RedisGenerations:
    """A store whose Redis refuses connections (nothing listens on the port)."""
    return RedisGenerations(redis.Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.5))


# --- Served without a query ----------------------------------------------------------------------


def test_a_second_request_authenticates_with_no_query(user: Any, django_assert_num_queries: Any) -> None:
    access = tokens_issue(user=user).access
    with django_assert_num_queries(4):  # the row, and the day's first activity mark (3)
        assert authenticate(access).pk == user.pk

    with django_assert_num_queries(0):
        again = authenticate(access)

    assert again.pk == user.pk and again.nickname == user.nickname and again.is_active


def test_the_websocket_handshake_uses_the_same_cache(user: Any, django_assert_num_queries: Any) -> None:
    access = tokens_issue(user=user).access
    user_from_access_token(access)

    with django_assert_num_queries(0):
        assert user_from_access_token(access).pk == user.pk


def test_each_request_gets_its_own_instance(user: Any) -> None:
    access = tokens_issue(user=user).access
    first = authenticate(access)
    first.nickname = "Changed in memory only"  # a service changing the user it was given, then rolling back

    second = authenticate(access)

    assert second is not first
    assert second.nickname == user.nickname


def test_a_kept_row_still_refuses_on_time(user: Any, time_machine: Any) -> None:
    """The checks run on every request: a self-exclusion ends by itself, a token expires, on the kept row."""
    until = timezone.now() + timedelta(minutes=10)  # the token lives 30
    User.objects.filter(pk=user.pk).update(self_excluded_until=until)
    access = tokens_issue(user=User.objects.get(pk=user.pk)).access
    client = APIClient()
    assert client.get(ME, **bearer(access)).json()["error"] == "self_excluded"

    time_machine.move_to(until + timedelta(seconds=1))
    assert client.get(ME, **bearer(access)).status_code == 200

    time_machine.move_to(until + timedelta(minutes=30))
    assert client.get(ME, **bearer(access)).status_code == 401


# --- Every write to a user is seen by every process on its next request ----------------------------


def _staff() -> User:
    return UserFactory(is_staff=True, is_superuser=True)


def _nothing(user: User) -> None:
    return None


def _deactivate(user: User) -> None:
    User.objects.filter(pk=user.pk).update(is_active=False)


def _exclude_for_three_days(user: User) -> None:
    User.objects.filter(pk=user.pk).update(self_excluded_until=timezone.now() + timedelta(days=3))


def _ban(user: User) -> None:
    services.user_set_active(actor=_staff(), user=user, active=False, reason="chargeback")


def _unban(user: User) -> None:
    services.user_set_active(actor=_staff(), user=user, active=True, reason="cleared")


def _exclude(user: User) -> None:
    services.self_exclusion_set(user=user, until=timezone.now() + timedelta(days=30))


def _lift_exclusion(user: User) -> None:
    services.self_exclusion_lift(actor=_staff(), user=user, reason="support call")


def _change_password(user: User) -> None:
    user.set_password("Another-Horse-10")
    user.save()


def _set_password_with_link(user: User) -> None:
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    password_set_with_link(
        uidb64=urlsafe_base64_encode(force_bytes(user.pk)),
        token=password_set_tokens.make_token(user),
        password="Another-Horse-10",
    )


def _staff_edit(user: User) -> None:
    user.nickname = "EditedByStaff"
    services.user_update_by_staff(actor=_staff(), user=user, changed_fields=["nickname"], reason="rude name")


def _make_staff(user: User) -> None:
    user.is_staff = True
    services.user_update_by_staff(actor=_staff(), user=user, changed_fields=["is_staff"], reason="hired")


def _give_group(user: User) -> None:
    group = Group.objects.create(name="testers")
    services.user_privileges_set(actor=_staff(), user=user, groups=[group], reason="hired")


def _join_group_from_its_side(user: User) -> None:
    Group.objects.create(name="testers").user_set.add(user)


def _join_group(user: User) -> None:
    Group.objects.create(name="testers").user_set.add(user)


def _clear_group_from_its_side(user: User) -> None:
    Group.objects.get(name="testers").user_set.clear()


def _revoke_family(user: User) -> None:
    services.token_family_revoke(user=user, family=FAMILY)


def _revoke_sessions(user: User) -> None:
    services.user_sessions_revoke(actor=_staff(), user=user, reason="stolen phone")


def _log_in(user: User) -> None:
    services.user_login(identifier=user.site_id, password="Correct-Horse-9")


FAMILY = uuid.UUID("00000000-0000-4000-8000-000000000001")

# name: (what the player was before, the write, what the next request must see)
WRITES: dict[str, tuple[Callable[[User], None], Callable[[User], None], Callable[[User, User], bool]]] = {
    "ban": (_nothing, _ban, lambda before, after: not after.is_active),
    "unban": (_deactivate, _unban, lambda before, after: after.is_active),
    "logout_all": (
        _nothing,
        lambda user: services.token_logout_all(user=user),
        lambda before, after: after.token_version == before.token_version + 1,
    ),
    "self_exclusion": (_nothing, _exclude, lambda before, after: after.is_self_excluded),
    "self_exclusion_lift": (
        _exclude_for_three_days,
        _lift_exclusion,
        lambda before, after: after.self_excluded_until is None,
    ),
    "password_change": (_nothing, _change_password, lambda before, after: after.password != before.password),
    "password_set_link": (
        _nothing,
        _set_password_with_link,
        lambda before, after: after.password != before.password,
    ),
    "spend_limit": (
        _nothing,
        lambda user: services.daily_spend_limit_set(user=user, limit=500),
        lambda before, after: after.daily_spend_limit == 500,
    ),
    "profile": (
        _nothing,
        lambda user: services.user_update_profile(user=user, nickname="Renamed"),
        lambda before, after: after.nickname == "Renamed",
    ),
    "staff_edit": (_nothing, _staff_edit, lambda before, after: after.nickname == "EditedByStaff"),
    "staff_status": (_nothing, _make_staff, lambda before, after: after.is_staff),
    "groups": (_nothing, _give_group, lambda before, after: after.groups.filter(name="testers").exists()),
    "group_members": (_nothing, _join_group, lambda before, after: after.groups.exists()),
    "group_cleared": (_join_group, _clear_group_from_its_side, lambda before, after: not after.groups.exists()),
    "sessions_revoke": (
        _nothing,
        _revoke_sessions,
        lambda before, after: after.token_version == before.token_version + 1,
    ),
    "login": (_nothing, _log_in, lambda before, after: after.last_login is not None),
    "family_revoked": (_nothing, _revoke_family, lambda before, after: True),  # and found.family_revoked, below
}


@pytest.mark.parametrize("name", sorted(WRITES))
def test_every_write_to_a_user_moves_their_generation_on_commit(
    name: str, django_capture_on_commit_callbacks: Any, django_assert_num_queries: Any
) -> None:
    prepare, write, seen = WRITES[name]
    user = UserFactory()
    prepare(user)
    before = User.objects.get(pk=user.pk)
    other_process = AuthUserCache()
    assert other_process.load(user_id=user.pk, family=FAMILY) is not None  # kept, at the current generation
    kept_at = generation(user)
    assert kept_at is not None

    with django_capture_on_commit_callbacks(execute=True):
        write(User.objects.get(pk=user.pk))

    assert generation(user) != kept_at
    with django_assert_num_queries(1):  # read again: the kept row is of an older generation
        found = other_process.load(user_id=user.pk, family=FAMILY)
    assert found is not None
    assert seen(before, found.user), name
    assert found.family_revoked == (name == "family_revoked")
    with django_assert_num_queries(0):
        assert other_process.load(user_id=user.pk, family=FAMILY) is not None


def test_the_activity_mark_moves_no_generation(user: Any, django_capture_on_commit_callbacks: Any) -> None:
    other_process = AuthUserCache()
    other_process.load(user_id=user.pk)
    kept_at = generation(user)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert record_activity(user.pk) is True

    assert callbacks == []
    assert generation(user) == kept_at


def test_a_deleted_user_is_not_served(user: Any, django_capture_on_commit_callbacks: Any) -> None:
    other_process = AuthUserCache()
    other_process.load(user_id=user.pk)

    with django_capture_on_commit_callbacks(execute=True):
        User.objects.filter(pk=user.pk).delete()

    assert other_process.load(user_id=user.pk) is None


def test_nothing_moves_on_rollback(user: Any, django_capture_on_commit_callbacks: Any) -> None:
    from django.db import transaction

    AuthUserCache().load(user_id=user.pk)
    kept_at = generation(user)

    def write_then_fail() -> None:
        with transaction.atomic():
            User.objects.filter(pk=user.pk).update(nickname="Never")
            raise RuntimeError

    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(RuntimeError):
        write_then_fail()

    assert callbacks == []
    assert generation(user) == kept_at


# --- User updates: which rows, and at what cost ---------------------------------------------------


def test_an_update_by_primary_key_costs_no_extra_query(
    user: Any, django_assert_num_queries: Any, django_capture_on_commit_callbacks: Any
) -> None:
    AuthUserCache().load(user_id=user.pk)
    kept_at = generation(user)

    with django_capture_on_commit_callbacks(execute=True), django_assert_num_queries(1):
        User.objects.filter(pk=user.pk, is_active=True).update(nickname="Quick")

    assert generation(user) != kept_at


def test_an_update_by_another_filter_bumps_exactly_the_rows_it_changed(
    django_assert_num_queries: Any, django_capture_on_commit_callbacks: Any
) -> None:
    matched, untouched = UserFactory(phone_number="+19990001111"), UserFactory()
    for player in (matched, untouched):
        AuthUserCache().load(user_id=player.pk)
    kept = {player.pk: generation(player) for player in (matched, untouched)}

    with django_capture_on_commit_callbacks(execute=True), django_assert_num_queries(2):  # their keys, the update
        rows = User.objects.filter(phone_number="+19990001111").update(nickname="Found")

    assert rows == 1
    assert generation(matched) != kept[matched.pk]
    assert generation(untouched) == kept[untouched.pk]


def test_bulk_update_bumps_every_row(django_capture_on_commit_callbacks: Any) -> None:
    players = [UserFactory(), UserFactory()]
    for player in players:
        AuthUserCache().load(user_id=player.pk)
    kept = [generation(player) for player in players]
    for player in players:
        player.daily_spend_limit = 100

    with django_capture_on_commit_callbacks(execute=True):
        User.objects.bulk_update(players, ["daily_spend_limit"])

    assert all(generation(player) != before for player, before in zip(players, kept, strict=True))


def test_no_module_writes_the_user_table_around_the_orm() -> None:
    """Raw SQL, the base manager and ``_update`` send no signal and skip ``UserQuerySet.update``:
    a ban written that way would not reach the processes that keep the player's row."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    pattern = re.compile(r"UPDATE\s+\"?accounts_user\"?\s|User\._base_manager|User\.objects[^\n]*\._update\(", re.I)
    offenders = [
        str(path.relative_to(root))
        for app in ("accounts", "casino", "realtime", "economy", "games", "events", "shop")
        for path in (root / app).rglob("*.py")
        if "tests" not in path.parts and "migrations" not in path.parts and pattern.search(path.read_text())
    ]
    assert offenders == []


# --- Token families ----------------------------------------------------------------------------------


def test_a_kept_row_answers_for_the_families_it_has_seen(user: Any, django_assert_num_queries: Any) -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    cache = AuthUserCache()
    cache.load(user_id=user.pk, family=first)

    with django_assert_num_queries(1):  # another login's family: not seen yet
        assert cache.load(user_id=user.pk, family=second).family_revoked is False  # type: ignore[union-attr]
    with django_assert_num_queries(0):
        assert cache.load(user_id=user.pk, family=first).family_revoked is False  # type: ignore[union-attr]
        assert cache.load(user_id=user.pk, family=second).family_revoked is False  # type: ignore[union-attr]
        assert cache.load(user_id=user.pk).family_revoked is False  # type: ignore[union-attr]


def test_a_revoked_family_is_refused_on_the_next_request_and_the_others_go_on(user: Any, password: str) -> None:
    client = APIClient()
    reused = client.post("/api/auth/login", {"site_id": user.site_id, "password": password}, format="json").json()
    other = client.post("/api/auth/login", {"site_id": user.site_id, "password": password}, format="json").json()
    assert client.get(ME, **bearer(reused["access_token"])).status_code == 200
    assert client.get(ME, **bearer(other["access_token"])).status_code == 200
    client.post("/api/auth/refresh", {"refresh_token": reused["refresh_token"]}, format="json")

    client.post("/api/auth/refresh", {"refresh_token": reused["refresh_token"]}, format="json")  # reused

    refused = client.get(ME, **bearer(reused["access_token"]))
    assert (refused.status_code, refused.json()["error"]) == (401, "token_revoked")
    assert client.get(ME, **bearer(other["access_token"])).status_code == 200
    with pytest.raises(TokenRevoked):
        user_from_access_token(reused["access_token"])


# --- Two processes over HTTP --------------------------------------------------------------------------


def test_a_profile_change_is_visible_on_the_next_get_me_in_another_process(
    auth_client: APIClient, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    """The GETs are served by a cache the PATCH's process cannot touch: only Redis tells it."""
    other_process = AuthUserCache()
    monkeypatch.setattr("accounts.authentication.auth_users", other_process)
    assert auth_client.get(ME).json()["nickname"] == auth_client.user.nickname  # type: ignore[attr-defined]

    monkeypatch.setattr("accounts.authentication.auth_users", AuthUserCache())
    with django_capture_on_commit_callbacks(execute=True):
        assert auth_client.patch(ME, {"nickname": "Renamed"}, format="json").status_code == 200

    monkeypatch.setattr("accounts.authentication.auth_users", other_process)
    assert auth_client.get(ME).json()["nickname"] == "Renamed"


def test_a_ban_reaches_a_warm_process_without_touching_its_cache(
    user: Any, staff_user: Any, django_capture_on_commit_callbacks: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    access = tokens_issue(user=user).access
    first, second = AuthUserCache(), AuthUserCache()
    for process in (first, second):
        monkeypatch.setattr("accounts.authentication.auth_users", process)
        assert APIClient().get(ME, **bearer(access)).status_code == 200

    with django_capture_on_commit_callbacks(execute=True):
        services.user_set_active(actor=staff_user, user=user, active=False, reason="fraud")

    for process in (first, second, AuthUserCache()):  # ... and one started since, with nothing kept
        monkeypatch.setattr("accounts.authentication.auth_users", process)
        response = APIClient().get(ME, **bearer(access))
        assert (response.status_code, response.json()["error"]) == (401, "account_disabled")


# --- A process without the user: the row another process shared ------------------------------------


def test_a_fresh_process_authenticates_a_user_another_process_read_with_no_query(
    user: Any, django_assert_num_queries: Any
) -> None:
    family = uuid.uuid4()
    with django_assert_num_queries(1):
        AuthUserCache().load(user_id=user.pk, family=family)
    shared = lookups("shared")

    with django_assert_num_queries(0):  # a process started a moment ago: the reconnect after a deploy
        found = AuthUserCache().load(user_id=user.pk, family=family)

    assert lookups("shared") == shared + 1
    assert found is not None and found.family_revoked is False
    stored = User.objects.get(pk=user.pk)
    for name in ("site_id", "nickname", "is_active", "token_version", "date_joined", "self_excluded_until"):
        assert getattr(found.user, name) == getattr(stored, name), name  # dates to the microsecond


def test_a_shared_row_never_holds_the_password_hash_and_its_user_reads_it_when_asked(
    user: Any, password: str, django_assert_num_queries: Any
) -> None:
    AuthUserCache().load(user_id=user.pk)
    store = generations_from_settings()
    assert store is not None
    raw = store.client.get(shared_row_key(user.pk))
    assert raw is not None and user.password.encode() not in raw and b"pbkdf2" not in raw

    found = AuthUserCache().load(user_id=user.pk)

    assert found is not None
    with django_assert_num_queries(1):  # the deferred field, from the database
        assert found.user.check_password(password)


def test_a_family_the_shared_row_has_not_seen_is_read_from_the_database(
    user: Any, django_assert_num_queries: Any
) -> None:
    seen, other = uuid.uuid4(), uuid.uuid4()
    AuthUserCache().load(user_id=user.pk, family=seen)

    with django_assert_num_queries(1):
        assert AuthUserCache().load(user_id=user.pk, family=other) is not None
    with django_assert_num_queries(0):  # ... and shared again with both families
        assert AuthUserCache().load(user_id=user.pk, family=other) is not None
        assert AuthUserCache().load(user_id=user.pk, family=seen) is not None


def test_a_row_changed_in_an_open_transaction_is_neither_shared_nor_taken_from_a_shared_row(
    user: Any, django_assert_num_queries: Any, django_capture_on_commit_callbacks: Any
) -> None:
    """The writer's process (the module's cache, which the writes reach) reads its own change from
    the database, and shares nothing before the write's generation moves."""
    AuthUserCache().load(user_id=user.pk)  # another process shared the row
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        user.nickname = "Renamed"
        user.save(update_fields=["nickname"])

        with django_assert_num_queries(1):
            found = auth_cache.auth_users.load(user_id=user.pk)
        assert found is not None and found.user.nickname == "Renamed"
        with django_assert_num_queries(0):  # what other processes see until the commit: the row before
            before = AuthUserCache().load(user_id=user.pk)
        assert before is not None and before.user.nickname != "Renamed"

    for callback in callbacks:  # the commit: the generation moves
        callback()

    with django_assert_num_queries(1):
        after = AuthUserCache().load(user_id=user.pk)
    assert after is not None and after.user.nickname == "Renamed"


def test_a_shared_row_it_cannot_read_is_read_from_the_database(user: Any, django_assert_num_queries: Any) -> None:
    AuthUserCache().load(user_id=user.pk)
    store = generations_from_settings()
    assert store is not None
    store.client.set(shared_row_key(user.pk), b'{"generation": "another release"}')

    with django_assert_num_queries(1):
        assert AuthUserCache().load(user_id=user.pk) is not None


# --- Redis down, flushed, or not there -------------------------------------------------------------


def test_redis_down_reads_the_database_and_never_a_kept_row(
    user: Any, quiet_failure_log: None, django_assert_num_queries: Any, django_capture_on_commit_callbacks: Any
) -> None:
    store = RedisGenerations(generations_from_settings().client)  # type: ignore[union-attr]
    cache = AuthUserCache(generations=store)
    cache.load(user_id=user.pk)
    assert len(cache) == 1
    failures = redis_failures()
    store.client = dead_redis().client
    with django_capture_on_commit_callbacks(execute=True):
        User.objects.filter(pk=user.pk).update(is_active=False)

    with django_assert_num_queries(1):
        found = cache.load(user_id=user.pk)

    assert found is not None and found.user.is_active is False
    assert redis_failures() == failures + 1
    assert len(cache) == 0  # what it kept may have missed a bump: forgotten
    with django_assert_num_queries(1):  # resting: the database again, without waiting for Redis
        assert cache.load(user_id=user.pk) is not None
    assert redis_failures() == failures + 1
    assert len(cache) == 0


def test_redis_back_after_a_rest(
    user: Any, quiet_failure_log: None, monkeypatch: pytest.MonkeyPatch, django_assert_num_queries: Any
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(auth_cache, "_clock", lambda: clock[0])
    working = generations_from_settings().client  # type: ignore[union-attr]
    store = dead_redis()
    cache = AuthUserCache(generations=store)
    cache.load(user_id=user.pk)
    store.client = working

    clock[0] += auth_cache.REDIS_RETRY_SECONDS + 1
    cache.load(user_id=user.pk)

    with django_assert_num_queries(0):
        assert cache.load(user_id=user.pk) is not None


def test_a_bump_that_failed_is_sent_with_the_next_round_trip(
    user: Any, quiet_failure_log: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(auth_cache, "_clock", lambda: clock[0])
    working = generations_from_settings().client  # type: ignore[union-attr]
    AuthUserCache().load(user_id=user.pk)
    kept_at = generation(user)
    store = dead_redis()

    store.bump([user.pk])  # Redis did not answer: never raises
    assert store.pending() == {user.pk}
    store.client = working
    clock[0] += auth_cache.REDIS_RETRY_SECONDS + 1
    store.current(user_id=0)

    assert store.pending() == set()
    assert generation(user) not in (None, kept_at)


def test_a_bump_that_failed_also_goes_with_the_next_bump(user: Any, quiet_failure_log: None) -> None:
    """A process that never authenticates (a Celery worker) still delivers it."""
    other = UserFactory()
    store = dead_redis()
    store.bump([user.pk])
    store.client = generations_from_settings().client  # type: ignore[union-attr]

    store.bump([other.pk])

    assert store.pending() == set()
    assert generation(user) is not None and generation(other) is not None


def test_a_flushed_redis_never_revives_a_stale_row(user: Any, django_assert_num_queries: Any) -> None:
    cache = AuthUserCache()
    cache.load(user_id=user.pk)
    kept_at = generation(user)
    # A write whose bump was lost (around the ORM paths that send it): the kept row is stale.
    User._base_manager.filter(pk=user.pk).update(nickname="Sneaky")
    with django_assert_num_queries(0):
        assert cache.load(user_id=user.pk).user.nickname == user.nickname  # type: ignore[union-attr]

    generations_from_settings().client.flushdb()  # type: ignore[union-attr]

    with django_assert_num_queries(1):
        assert cache.load(user_id=user.pk).user.nickname == "Sneaky"  # type: ignore[union-attr]
    assert generation(user) not in (None, kept_at)  # a new random token, not a counter starting over


def test_no_row_is_kept_longer_than_its_maximum_age(
    user: Any, monkeypatch: pytest.MonkeyPatch, django_assert_num_queries: Any
) -> None:
    clock, wall = [1000.0], [1_800_000_000.0]
    monkeypatch.setattr(auth_cache, "_clock", lambda: clock[0])
    monkeypatch.setattr(auth_cache, "_wall_clock", lambda: wall[0])
    cache = AuthUserCache()
    cache.load(user_id=user.pk)

    clock[0] += auth_cache.ENTRY_MAX_AGE_SECONDS + 1
    wall[0] += auth_cache.ENTRY_MAX_AGE_SECONDS + 1

    with django_assert_num_queries(1):  # neither the kept row nor the one it shared, as old
        cache.load(user_id=user.pk)


def test_embedded_mode_keeps_nothing(user: Any, settings: Any, django_assert_num_queries: Any) -> None:
    settings.REDIS_URL = ""
    cache = AuthUserCache()

    for _ in range(2):
        with django_assert_num_queries(1):
            assert cache.load(user_id=user.pk) is not None
    assert len(cache) == 0


def test_the_cache_is_bounded_least_recently_used_first_out(django_assert_num_queries: Any) -> None:
    first, second, third = UserFactory(), UserFactory(), UserFactory()
    cache = AuthUserCache(size=2)
    cache.load(user_id=first.pk)
    cache.load(user_id=second.pk)
    cache.load(user_id=first.pk)  # used: second is now the oldest

    cache.load(user_id=third.pk)

    assert len(cache) == 2
    hits, shared = lookups("hit"), lookups("shared")
    with django_assert_num_queries(0):
        cache.load(user_id=first.pk)
        cache.load(user_id=third.pk)
    assert (lookups("hit"), lookups("shared")) == (hits + 2, shared)
    with django_assert_num_queries(0):  # out of this process's cache: the row it shared comes back
        cache.load(user_id=second.pk)
    assert (lookups("hit"), lookups("shared")) == (hits + 2, shared + 1)
    assert len(cache) == 2


def test_a_token_naming_no_user_is_refused(django_assert_num_queries: Any) -> None:
    cache = AuthUserCache()

    assert cache.load(user_id="not-a-number") is None
    with django_assert_num_queries(1):
        assert cache.load(user_id=2_000_000_000) is None
    assert len(cache) == 0


def test_a_ban_through_the_websocket_path(user: Any, staff_user: Any) -> None:
    access = tokens_issue(user=user).access
    user_from_access_token(access)

    services.user_set_active(actor=staff_user, user=user, active=False, reason="fraud")

    with pytest.raises(TokenAccountDisabled):
        user_from_access_token(access)
