"""What the accounts' back office modules share: the acting staff member, and the fixed reasons
of the audit records the form pages write (they give no reason box)."""

from __future__ import annotations

from django.http import HttpRequest

from accounts.models import User

ADDED_REASON = "added in the back office (add form)"
CHANGED_REASON = "changed in the back office (change form)"
DELETED_REASON = "deleted in the back office"


def staff_actor(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # the admin site lets only authenticated staff in
    return user
