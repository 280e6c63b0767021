"""Entry-point services own their transaction: ``atomic(durable=True)`` makes
calling one inside somebody else's transaction an error instead of a silent
change of when (and whether) its writes commit."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from accounts import services
from accounts.models import User
from accounts.tests.factories import InviteCodeFactory
from accounts.tokens import tokens_issue

pytestmark = pytest.mark.django_db

ENTRY_POINTS: dict[str, Callable[[User, User], Any]] = {
    "user_signup": lambda user, staff: services.user_signup(
        site_id="nested01",
        nickname="Nested",
        phone_number="+15550000001",
        password="Correct-Horse-9",
        invite_code=InviteCodeFactory().code,
    ),
    "user_login": lambda user, staff: services.user_login(identifier=user.site_id, password="Correct-Horse-9"),
    "token_refresh": lambda user, staff: services.token_refresh(refresh_token=tokens_issue(user=user).refresh),
    "token_logout": lambda user, staff: services.token_logout(user=user, refresh_token=tokens_issue(user=user).refresh),
    "token_logout_all": lambda user, staff: services.token_logout_all(user=user),
    "user_update_profile": lambda user, staff: services.user_update_profile(user=user, nickname="Renamed"),
    "user_set_active": lambda user, staff: services.user_set_active(actor=staff, user=user, active=False, reason="r"),
    "self_exclusion_set": lambda user, staff: services.self_exclusion_set(
        user=user, until=timezone.now() + timedelta(days=1)
    ),
    "self_exclusion_lift": lambda user, staff: services.self_exclusion_lift(actor=staff, user=user, reason="r"),
    "daily_spend_limit_set": lambda user, staff: services.daily_spend_limit_set(user=user, limit=100),
    "invite_codes_generate": lambda user, staff: services.invite_codes_generate(
        actor=staff, count=1, max_uses=1, expires_in_days=None
    ),
    "invite_code_set_active": lambda user, staff: services.invite_code_set_active(
        actor=staff, invite=InviteCodeFactory(), active=False, reason="r"
    ),
}


@pytest.mark.parametrize("name", ENTRY_POINTS)
def test_an_entry_point_service_refuses_to_run_inside_an_outer_transaction(
    name: str, user: User, staff_user: User
) -> None:
    call = ENTRY_POINTS[name]

    with pytest.raises(RuntimeError, match="durable atomic block cannot be nested"), transaction.atomic():
        call(user, staff_user)


def test_the_same_service_runs_on_its_own(user: User, staff_user: User) -> None:
    # pytest-django's own test transaction is marked as the test case's, which durable blocks allow.
    services.user_set_active(actor=staff_user, user=user, active=False, reason="on its own")

    user.refresh_from_db()
    assert user.is_active is False
