"""Account writes, one module per noun: ``signup``, ``auth`` (login, tokens),
``lockout``, ``users`` (profile, bans, the back office's user forms),
``responsible_gaming`` and ``invite_codes``. Callers import from here.

Entry points (what a view, admin action or command calls) open
``transaction.atomic(durable=True)``; the helpers they compose do not. The
back office's form services are the exception, documented where they are.
"""

from accounts.selectors import daily_spend_limit_effective
from accounts.services._shared import AuthResult
from accounts.services.auth import (
    credentials_check,
    sessions_end_after_password_change,
    token_family_revoke,
    token_logout,
    token_logout_all,
    token_refresh,
    tokens_revoke_all,
    user_login,
)
from accounts.services.invite_codes import (
    INVITE_CODE_ALPHABET,
    invite_code_create,
    invite_code_delete,
    invite_code_set_active,
    invite_code_update,
    invite_codes_generate,
)
from accounts.services.responsible_gaming import (
    MAX_SELF_EXCLUSION,
    SPEND_LIMIT_COOLING_OFF,
    daily_spend_limit_set,
    self_exclusion_lift,
    self_exclusion_set,
)
from accounts.services.signup import user_signup
from accounts.services.staff import group_permissions_set, staff_roles_sync, user_sessions_revoke
from accounts.services.users import (
    user_create_by_staff,
    user_privileges_set,
    user_set_active,
    user_update_by_staff,
    user_update_profile,
)

__all__ = [
    "INVITE_CODE_ALPHABET",
    "MAX_SELF_EXCLUSION",
    "SPEND_LIMIT_COOLING_OFF",
    "AuthResult",
    "credentials_check",
    "daily_spend_limit_effective",  # a read (accounts.selectors); kept here for callers that import it from services
    "daily_spend_limit_set",
    "group_permissions_set",
    "invite_code_create",
    "invite_code_delete",
    "invite_code_set_active",
    "invite_code_update",
    "invite_codes_generate",
    "self_exclusion_lift",
    "self_exclusion_set",
    "sessions_end_after_password_change",
    "staff_roles_sync",
    "token_family_revoke",
    "token_logout",
    "token_logout_all",
    "token_refresh",
    "tokens_revoke_all",
    "user_create_by_staff",
    "user_login",
    "user_privileges_set",
    "user_sessions_revoke",
    "user_set_active",
    "user_signup",
    "user_update_by_staff",
    "user_update_profile",
]
