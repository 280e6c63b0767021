"""Staff: who may grant privileges, the staff roles, and the account actions
that have no other home (revoking a player's sessions, a group's permissions).

Design promise 7, least privilege:

- Every staff action has its own permission, checked by the service that makes
  the change (``casino.permissions.staff_permission_require``) as well as by
  the admin page that offers it.
- Privileges are granted only by holders of ``accounts.grant_privileges``
  (superusers hold it implicitly; no role includes it), see
  :func:`privileges_change_check`.
- Staff roles are Django groups whose permissions are :data:`STAFF_ROLES`;
  :func:`staff_roles_sync` makes the groups match the table. A migration calls
  it (``accounts/migrations/0004_staff_roles.py``); when a later feature adds
  permissions, it adds them to the table and a migration that calls it again.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps as global_apps
from django.apps.registry import Apps
from django.contrib.auth.management import create_permissions
from django.contrib.auth.models import Group, Permission
from django.db import DEFAULT_DB_ALIAS, transaction
from django.db.models import QuerySet

from accounts.exceptions import PrivilegeChangeRefused
from accounts.models import User
from accounts.services.auth import tokens_revoke_all
from casino.permissions import staff_permission_require
from casino.services import audit_record

# --- Permissions (Meta.permissions of accounts.User) -------------------------------------

GRANT_PRIVILEGES = "accounts.grant_privileges"
BAN_USER = "accounts.ban_user"
LIFT_SELF_EXCLUSION = "accounts.lift_self_exclusion"
REVOKE_SESSIONS = "accounts.revoke_sessions"
RESET_PASSWORD = "accounts.reset_password"  # noqa: S105 - a permission label, not a password
IMPORT_PLAYERS = "accounts.import_players"


# --- Who may grant what --------------------------------------------------------------------


def _labels(permissions: QuerySet[Permission]) -> set[str]:
    return {f"{app}.{codename}" for app, codename in permissions.values_list("content_type__app_label", "codename")}


def privileges_change_check(
    *,
    actor: User,
    user: User | None,
    fields: Collection[str] = (),
    groups: Collection[Group] | None = None,
    permissions: Collection[Permission] | None = None,
) -> None:
    """Refuse (403 ``privilege_change_refused``) a change of ``user``'s
    privileges that ``actor`` may not make; ``user`` None is a new account,
    ``fields`` the privilege flags that change (``is_staff``, ``is_superuser``),
    ``groups``/``permissions`` the new sets (None: unchanged).

    - Superuser status, and any privilege of a superuser, only a superuser changes.
    - Staff status, groups and permissions need ``accounts.grant_privileges``.
    - A granter who is not a superuser only grants permissions they hold
      themselves (an added group counts as its permissions), so the permission
      is never a way to more power than its holder has.
    """
    if not fields and groups is None and permissions is None:
        return
    if actor.is_superuser and actor.is_active:
        return
    if "is_superuser" in fields or (user is not None and user.is_superuser):
        raise PrivilegeChangeRefused("Only a superuser changes superuser status or a superuser's privileges.")
    if not actor.is_active or not actor.is_staff or not actor.has_perm(GRANT_PRIVILEGES):
        raise PrivilegeChangeRefused()
    # What is added is granted (taking away needs only grant_privileges).
    granted: set[str] = set()
    if groups is not None:
        held = set(user.groups.values_list("pk", flat=True)) if user is not None and user.pk else set()
        added_groups = [group.pk for group in groups if group.pk not in held]
        granted |= _labels(Permission.objects.filter(group__in=added_groups))
    if permissions is not None:
        held = set(user.user_permissions.values_list("pk", flat=True)) if user is not None and user.pk else set()
        granted |= _labels(Permission.objects.filter(pk__in=[p.pk for p in permissions if p.pk not in held]))
    beyond = sorted(granted - actor.get_all_permissions())
    if beyond:
        raise PrivilegeChangeRefused("You may only grant permissions you hold yourself.", permissions=beyond)


def staff_account_change_check(*, actor: User, user: User) -> None:
    """Refuse an edit of another staff member's account (profile, password)
    unless ``actor`` may change their privileges too: taking over a staff
    account is a way to its privileges. Superusers' accounts: superusers only."""
    if user.pk == actor.pk:
        return
    flags = User.objects.filter(pk=user.pk).values("is_staff", "is_superuser").first()
    if flags is None or not (flags["is_staff"] or flags["is_superuser"]):
        return
    if flags["is_superuser"] and not actor.is_superuser:
        raise PrivilegeChangeRefused("Only a superuser changes a superuser's account.")
    if not actor.has_perm(GRANT_PRIVILEGES):
        raise PrivilegeChangeRefused("Changing another staff member's account needs the grant_privileges permission.")


# --- Staff actions on accounts -----------------------------------------------------------


def user_sessions_revoke(*, actor: User, user: User, reason: str) -> User:
    """Staff end every session of a player (audited; ``accounts.revoke_sessions``):
    every refresh token is blacklisted and every access token stops working.
    The player may log in again (a ban is :func:`user_set_active`). An entry point."""
    staff_permission_require(actor=actor, permission=REVOKE_SESSIONS)
    with transaction.atomic(durable=True):
        before = user.token_version
        tokens_revoke_all(user=user)
        audit_record(
            actor=actor,
            action="user_sessions_revoke",
            target=user,
            reason=reason,
            data={"token_version": [before, user.token_version]},
        )
    return user


def group_permissions_check(*, actor: User, group: Group, permissions: Collection[Permission]) -> None:
    """Refuse what :func:`group_permissions_set` would refuse (forms ask first):
    any change needs grant_privileges, and what is added must be the granter's own."""
    current = set(group.permissions.values_list("pk", flat=True)) if group.pk else set()
    privileges_change_check(
        actor=actor, user=None, permissions=[permission for permission in permissions if permission.pk not in current]
    )


def group_permissions_set(*, actor: User, group: Group, permissions: Collection[Permission], reason: str) -> Group:
    """Replace a group's permissions (audited with before and after). Granting
    through a group is granting: :func:`privileges_change_check`'s rules apply,
    so a staff member who may edit groups cannot widen a group they belong to.
    Runs inside the admin's form transaction (a savepoint there)."""
    group_permissions_check(actor=actor, group=group, permissions=permissions)
    with transaction.atomic():
        before = sorted(_labels(group.permissions.all()))
        group.permissions.set(permissions)
        after = sorted(_labels(group.permissions.all()))
        audit_record(
            actor=actor,
            action="group_permissions_set",
            target=group,
            reason=reason,
            data={"permissions": [before, after]},
        )
    return group


# --- Staff roles ---------------------------------------------------------------------------


@dataclass(frozen=True)
class StaffRole:
    """A staff role: a Django group holding ``permissions`` ("app_label.codename"),
    plus every permission of the apps in ``all_of_apps`` except ``excluded``."""

    name: str
    summary: str
    permissions: frozenset[str] = frozenset()
    all_of_apps: tuple[str, ...] = ()
    excluded: frozenset[str] = field(default_factory=frozenset)


# Live-ops runs the games: sees every games table (rounds, seeds and stats read-only), switches
# games on and off, and changes their bet limits, odds and paytables (each audited).
GAMES_LIVE_OPS = frozenset(
    {
        "games.switch_game",
        "games.configure_game",
        *(
            f"games.view_{model}"
            for model in (
                "gameconfig",
                "gamedailylimit",
                "playergameday",
                "fairnessseed",
                "gameround",
                "playergamestats",
                "slotsymbol",
                "slotreelweight",
                "slotpayrule",
                "slottableversion",
                "gachabanner",
                "gachararityweight",
                "gachaitem",
                "gachapity",
                "inventoryitem",
            )
        ),
    }
)

# Live-ops runs live events, missions and achievements: creates and edits them (each audited),
# sees players' progress (read-only) and may force-claim an event's reward for a player (audited,
# paid once through the ledger). No deletes: an event or template is switched off instead;
# an event's requirements may be removed only until someone joins.
EVENTS_LIVE_OPS = frozenset(
    {
        "events.view_event",
        "events.add_event",
        "events.change_event",
        "events.force_claim_event",
        "events.view_eventrequirement",
        "events.add_eventrequirement",
        "events.change_eventrequirement",
        "events.delete_eventrequirement",
        "events.view_eventparticipation",
        "events.view_eventprogress",
        "events.view_missiontemplate",
        "events.add_missiontemplate",
        "events.change_missiontemplate",
        "events.view_missionprogress",
        "events.view_achievement",
        "events.add_achievement",
        "events.change_achievement",
        "events.view_achievementprogress",
    }
)

# The back office's own apps (the admin role covers all of them).
BACK_OFFICE_APPS = ("casino", "realtime", "accounts", "economy", "games", "events", "shop")

STAFF_ROLES: tuple[StaffRole, ...] = (
    StaffRole(
        name="support",
        summary="Player support: look players up, ban and reinstate them, end their sessions.",
        permissions=frozenset(
            {
                "accounts.view_user",
                BAN_USER,
                REVOKE_SESSIONS,
                # "I cannot log in": a one-time link the agent reads out (audited, never logged).
                RESET_PASSWORD,
                "accounts.view_invitecode",
                "economy.view_wallet",
                "economy.view_ledgerentry",
                "economy.view_dailystreak",
                "economy.view_streakday",
                "shop.view_order",
                "shop.view_ordertransition",
                "shop.view_owneditem",
                "shop.view_promoredemption",
                # A player's games: what they played, the seeds (a server seed shows only once
                # the player has revealed it) and what they own.
                "games.view_gameround",
                "games.view_fairnessseed",
                "games.view_playergamestats",
                "games.view_inventoryitem",
            }
        ),
        # Not lift_self_exclusion: a player excluded themselves to be protected
        # from their own pressure; support is where that pressure arrives, so
        # lifting one is a separate, senior decision (the admin role).
    ),
    StaffRole(
        name="finance",
        summary="Payments and money: orders, refunds, settlement, fraud reviews, balance adjustments.",
        permissions=frozenset(
            {
                "accounts.view_user",
                "economy.view_wallet",
                "economy.view_ledgerentry",
                "economy.adjust_balance",
                "economy.view_ledgerauditrun",
                "economy.run_ledger_audit",
                "casino.view_adminjob",  # the back-office jobs page: an audit's progress and result
                "shop.view_order",
                "shop.view_ordertransition",
                "shop.settle_order",
                "shop.refund_order",
                "shop.review_order",
                "shop.view_frauddecision",
                "shop.view_webhookevent",
                "shop.reprocess_webhook",
                "shop.view_sandboxpayment",
                "shop.view_revenue",  # the staff dashboard's revenue, conversion and ARPPU
                "shop.view_owneditem",
                "shop.view_promoredemption",
            }
        ),
    ),
    StaffRole(
        name="live-ops",
        summary="The catalog, campaigns, segments and games: products, limited packages, promo codes; game switches, "
        "bet limits, odds and paytables (rounds read-only); events, missions and achievements (force-claim audited).",
        permissions=frozenset(
            {
                *GAMES_LIVE_OPS,
                *EVENTS_LIVE_OPS,
                "shop.view_product",
                "shop.add_product",
                "shop.change_product",
                "shop.view_limitedpackage",
                "shop.add_limitedpackage",
                "shop.change_limitedpackage",
                "shop.view_promocode",
                "shop.add_promocode",
                "shop.change_promocode",
                "shop.view_promoredemption",
                # Campaigns: a message and/or a reward bundle to a segment, an uploaded list or everyone,
                # watched on the jobs page; the segments they target (saved filters, previewed) and the
                # nightly RFM groups (recomputed on demand). No segment deletes: a campaign may name one.
                "economy.grant_campaign",
                "economy.send_campaign",
                "economy.view_campaign",
                "casino.view_adminjob",
                "economy.view_segment",
                "economy.add_segment",
                "economy.change_segment",
                "economy.preview_segment",
                "economy.compute_segments",
                "economy.view_playersegment",
                "economy.view_segmentrun",
            }
        ),
        # No deletes: a product or code is switched off (is_active), so orders keep what they point at.
    ),
    StaffRole(
        name="admin",
        summary="Everything in the back office's apps, except granting privileges (superusers only).",
        permissions=frozenset({"auth.view_group"}),
        all_of_apps=BACK_OFFICE_APPS,
        excluded=frozenset(
            {
                GRANT_PRIVILEGES,
                # Records nobody edits: the admin pages refuse anyway, the role says so too.
                "casino.change_auditlog",
                "casino.delete_auditlog",
                "economy.change_ledgerentry",
                "economy.delete_ledgerentry",
                # Written only by their services (casino.jobs, economy.services.campaigns).
                "casino.add_adminjob",
                "casino.change_adminjob",
                "casino.delete_adminjob",
                "economy.add_campaign",
                "economy.change_campaign",
                "economy.delete_campaign",
                "economy.add_campaigndelivery",
                "economy.change_campaigndelivery",
                "economy.delete_campaigndelivery",
                # Written only by the RFM computation (economy.services.segments).
                "economy.add_playersegment",
                "economy.change_playersegment",
                "economy.delete_playersegment",
                "economy.add_segmentrun",
                "economy.change_segmentrun",
                "economy.delete_segmentrun",
            }
        ),
    ),
)


def staff_roles_sync(
    *,
    roles: Iterable[StaffRole] = STAFF_ROLES,
    apps: Apps | None = None,
    using: str = DEFAULT_DB_ALIAS,
    strict: bool = True,
) -> dict[str, list[str]]:
    """Make each role's group hold exactly its permissions; returns each role's
    permission labels. Re-runnable: groups are created or corrected, never
    duplicated, and members stay.

    Creates the permissions that do not exist yet first (in a migration
    ``post_migrate`` has not run, so neither the custom ``Meta.permissions``
    nor a new model's defaults are in the table). ``apps`` is a migration's
    historical registry (default: the current one). A permission of a model
    that does not exist at that point is skipped when ``strict`` is false (a
    migration: a later one grants it) and refused otherwise.
    """
    registry: Any = apps or global_apps
    for app_config in registry.get_app_configs():
        stub = getattr(app_config, "models_module", None) is None  # a migration's app state has none
        if stub:
            app_config.models_module = True
        try:
            create_permissions(app_config, verbosity=0, using=using, apps=registry)
        finally:
            if stub:
                app_config.models_module = None
    group_model: Any = registry.get_model("auth", "Group")
    permission_model: Any = registry.get_model("auth", "Permission")
    every = {
        f"{app}.{codename}": pk
        for pk, app, codename in permission_model.objects.using(using).values_list(
            "pk", "content_type__app_label", "codename"
        )
    }
    synced: dict[str, list[str]] = {}
    with transaction.atomic(using=using):
        for role in roles:
            wanted = set(role.permissions) | {label for label in every if label.split(".", 1)[0] in role.all_of_apps}
            wanted -= role.excluded
            missing = sorted(wanted - every.keys())
            if missing and strict:
                raise LookupError(f"Role {role.name!r} names permissions that do not exist: {', '.join(missing)}")
            labels = sorted(wanted & every.keys())
            group, _ = group_model.objects.using(using).get_or_create(name=role.name)
            group.permissions.set([every[label] for label in labels])
            synced[role.name] = labels
    return synced
