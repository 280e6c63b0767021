"""The accounts app's sections of the player's page (``accounts.admin_story``):
the account and its actions, responsible gaming, sessions, notifications and
the audit trail about the player."""

from __future__ import annotations

from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from accounts.admin_story import Figure, PlayerSection, StoryAction, register_player_section
from accounts.models import User
from accounts.services.sessions import sessions_active
from accounts.services.staff import BAN_USER, LIFT_SELF_EXCLUSION, RESET_PASSWORD, REVOKE_SESSIONS
from casino.admin_tools import request_holds
from casino.models import AuditLog
from realtime.notifications.selectors import notifications_for, notifications_unread_count

SHOWN_ROWS = 10
# Audit records name their target by type and id; these are the player themselves.
PLAYER_AUDIT_TARGETS = ("accounts.user", "economy.wallet")


def _action_url(name: str, user: User) -> str:
    return reverse(f"admin:accounts_user_{name}", args=[user.pk])


def account_section(user: User, request: HttpRequest) -> PlayerSection:
    """The account and the actions on it; no query (the page loaded the user)."""
    status = Figure("Status", "active", state="ok") if user.is_active else Figure("Status", "banned", state="danger")
    actions = [
        StoryAction("Unban", _action_url("unban", user), BAN_USER)
        if not user.is_active
        else StoryAction("Ban", _action_url("ban", user), BAN_USER, danger=True),
        StoryAction("Revoke all sessions", _action_url("revoke_sessions", user), REVOKE_SESSIONS, danger=True),
        StoryAction("Reset password (one-time link)", _action_url("password_link", user), RESET_PASSWORD),
    ]
    return PlayerSection(
        figures=(
            Figure("Nickname", user.nickname),
            Figure("Login id", user.site_id),
            status,
            Figure("Joined", timezone.localtime(user.date_joined).strftime("%Y-%m-%d %H:%M")),
            Figure("Last seen", timezone.localtime(user.last_seen_at).strftime("%Y-%m-%d %H:%M"))
            if user.last_seen_at
            else Figure("Last seen", "never"),
            Figure("Staff", "yes" if user.is_staff else "no"),
        ),
        actions=tuple(actions),
    )


def responsible_gaming_section(user: User, request: HttpRequest) -> PlayerSection:
    """Limits and exclusion; no query."""
    excluded = user.is_self_excluded
    until = user.self_excluded_until
    figures = [
        Figure("Self-excluded until", timezone.localtime(until).strftime("%Y-%m-%d %H:%M"), state="danger")
        if excluded and until
        else Figure("Self-exclusion", "none"),
        Figure("Daily spend limit", _minor(user.daily_spend_limit) if user.daily_spend_limit else "none"),
    ]
    if user.pending_limit_effective_at:
        pending = "removal" if user.pending_limit_clears else _minor(user.pending_daily_spend_limit)
        when = timezone.localtime(user.pending_limit_effective_at).strftime("%Y-%m-%d %H:%M")
        figures.append(Figure("Pending change", f"{pending} from {when}", state="warning"))
    actions = (
        (StoryAction("Lift self-exclusion", _action_url("lift_exclusion", user), LIFT_SELF_EXCLUSION, danger=True),)
        if excluded
        else ()
    )
    return PlayerSection(figures=tuple(figures), actions=actions)


def _minor(amount: int | None) -> str:
    return "-" if amount is None else f"{amount / 100:,.2f}"


def sessions_section(user: User, request: HttpRequest) -> PlayerSection:
    """The sessions that still work, each with "revoke"; two queries."""
    may_revoke = request_holds(request, REVOKE_SESSIONS)
    rows = []
    for session in sessions_active(user=user, limit=SHOWN_ROWS):
        revoke = (
            format_html(
                '<a href="{}" class="revoke-session">revoke</a>',
                reverse("admin:accounts_user_revoke_session", args=[user.pk, session.family]),
            )
            if may_revoke and session.family is not None
            else ""
        )
        rows.append(
            (
                session.family.hex[:12] if session.family is not None else "older login (revoke all to end it)",
                timezone.localtime(session.refreshed_at).strftime("%Y-%m-%d %H:%M") if session.refreshed_at else "-",
                timezone.localtime(session.expires_at).strftime("%Y-%m-%d %H:%M"),
                revoke,
            )
        )
    see_all = ""
    if request_holds(request, "token_blacklist.view_outstandingtoken"):
        see_all = reverse("admin:token_blacklist_outstandingtoken_changelist") + f"?user__id__exact={user.pk}"
    return PlayerSection(
        figures=(Figure("Active sessions", len(rows)),),
        columns=("Session", "Logged in or refreshed", "Expires", ""),
        rows=tuple(rows),
        see_all_url=see_all,
        see_all_label="All refresh tokens",
        empty="No active session: the player is logged out everywhere.",
    )


def notifications_section(user: User, request: HttpRequest) -> PlayerSection:
    """The latest inbox entries and the unread count; two queries."""
    latest = list(notifications_for(user=user)[:5])
    unread = notifications_unread_count(user=user) if latest else 0
    rows = [
        (
            timezone.localtime(notification.created_at).strftime("%Y-%m-%d %H:%M"),
            notification.kind,
            notification.title,
            "unread" if notification.read_at is None else "read",
        )
        for notification in latest
    ]
    return PlayerSection(
        figures=(Figure("Unread", unread),),
        columns=("When", "Kind", "Title", ""),
        rows=tuple(rows),
        see_all_url=reverse("admin:realtime_notification_changelist") + f"?user__id__exact={user.pk}",
        see_all_label="All notifications",
        empty="No notifications.",
    )


def audit_section(user: User, request: HttpRequest) -> PlayerSection:
    """What staff (and the system) did to this player; one query."""
    entries = list(
        AuditLog.objects.filter(target_type__in=PLAYER_AUDIT_TARGETS, target_id=str(user.pk)).order_by(
            "-created_at", "-id"
        )[:SHOWN_ROWS]
    )
    rows = [
        (
            timezone.localtime(entry.created_at).strftime("%Y-%m-%d %H:%M"),
            entry.actor_label,
            entry.action,
            entry.reason,
        )
        for entry in entries
    ]
    targets = ",".join(PLAYER_AUDIT_TARGETS)
    return PlayerSection(
        columns=("When", "Who", "What", "Why"),
        rows=tuple(rows),
        see_all_url=reverse("admin:casino_auditlog_changelist") + f"?target_id={user.pk}&target_type__in={targets}",
        see_all_label="Full audit trail",
        empty="No staff action about this player yet.",
    )


def register() -> None:
    """Called by ``AccountsConfig.ready``."""
    register_player_section("account", "Account", order=10, provider=account_section)
    register_player_section("responsible_gaming", "Responsible gaming", order=20, provider=responsible_gaming_section)
    register_player_section("sessions", "Sessions", order=30, provider=sessions_section)
    register_player_section(
        "notifications",
        "Notifications",
        order=85,
        provider=notifications_section,
        permission="realtime.view_notification",
    )
    register_player_section("audit", "Audit trail", order=90, provider=audit_section, permission="casino.view_auditlog")
