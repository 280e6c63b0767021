"""Test kit for the back office: staff members holding exactly the permissions
a test names, and the admin's action list as they see it. Shared by every app's
``test_admin_permissions.py``."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Permission
from django.db.models import Q
from django.test import Client

from accounts.models import User
from accounts.tests.factories import UserFactory


def permissions(*labels: str) -> list[Permission]:
    """The permissions named ``app_label.codename``; fails if one does not exist."""
    query = Q()
    for label in labels:
        app_label, codename = label.split(".")
        query |= Q(content_type__app_label=app_label, codename=codename)
    found = list(Permission.objects.filter(query)) if labels else []
    assert len(found) == len(labels), f"missing permissions among {labels}"
    return found


def staff_with(*labels: str, **fields: Any) -> tuple[Client, User]:
    """A logged-in staff member holding exactly these permissions (and a fresh
    ``User`` object, so its permission cache is empty)."""
    staff = UserFactory(is_staff=True, **fields)
    staff.user_permissions.set(permissions(*labels))
    client = Client()
    client.force_login(staff)
    return client, User.objects.get(pk=staff.pk)


def offered_actions(client: Client, url: str) -> set[str]:
    """The admin actions the changelist at ``url`` offers this client."""
    form = client.get(url).context["action_form"]
    return set() if form is None else {name for name, _ in form.fields["action"].choices if name}
