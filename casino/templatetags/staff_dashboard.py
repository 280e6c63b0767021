"""``{% staff_dashboard %}``: the admin index's dashboard for the staff member viewing it
(``casino.dashboard``: the cached build, filtered by their permissions)."""

from __future__ import annotations

from typing import Any

from django import template
from django.contrib.auth.base_user import AbstractBaseUser

from casino.dashboard import dashboard_for

register = template.Library()


@register.inclusion_tag("admin/dashboard/dashboard.html", takes_context=True)
def staff_dashboard(context: template.Context) -> dict[str, Any]:
    user = context["request"].user
    if not isinstance(user, AbstractBaseUser):
        return {"dashboard": None}
    return {"dashboard": dashboard_for(user)}
