"""Missions: claiming a player's reward for the current period, the back office's template
changes, and the pruning of old rows.

A mission's progress lives in the player's instance of the template for one period
(``MissionProgress``, keyed by ``(template, player, period_start)``: the UTC day, or the Monday
of the ISO week); ``events.services.progress`` writes it from domain events, never a client.

Claiming (:func:`mission_claim`) is once per period. Only the *current* period's instance can be
claimed: the period is computed from the server's clock, never taken from the request, so
yesterday's completed daily mission is gone at UTC midnight like the earlier product promised.
The protocol:

1. the instance row is locked by its unique key (``events.locks.mission_instance_lock``, one
   statement; then, inside the economy's posting, the wallet: the same order as every other
   claim);
2. a row already claimed is a 409 ``reward_already_claimed``; a row not complete is a 409
   ``not_completed``;
3. the reward is posted with the natural key ``mission:{user}:{template}:{period_start}``, so even
   a claim whose row update were lost could not pay twice; ``claimed_at`` is set and
   ``reward_granted`` + ``event_progress`` (kind ``mission``) are emitted in the same
   transaction (``claimed_at`` is written with its last statement, the outbox rows'). The
   template comes from the process's copy of the active ones (``events.definitions``), or
   from the database when it was switched off since the player earned it.

Of 100 parallel claims one pays; the 99 others wait for the lock and find ``claimed_at`` set.

Templates are changed by staff through :func:`mission_template_create`,
:func:`mission_template_update` and :func:`mission_template_set_active`: each checks its own
permission first, validates against the metric registry, and records who, before, after and why.
A template's code, period, metric and game are fixed once it exists: players' instances of the
running period count towards them (a different mission is a new template). A new target applies
from the next instance on (each instance keeps the target it started with).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.db.models import Model, QuerySet
from django.utils import timezone

import realtime
from accounts.models import User
from casino.db import row_get, row_update_later, service_transaction
from economy.enums import LedgerReason
from economy.services import LedgerResult, wallet_balances, wallet_get_or_open, wallet_grant
from events import metrics
from events.definitions import definitions
from events.enums import MissionPeriod
from events.exceptions import InvalidMissionTemplate, MissionNotFound, NotCompleted, RewardAlreadyClaimed
from events.locks import mission_instance_lock
from events.models import CountedSource, MissionProgress, MissionTemplate
from events.services._definitions import (
    Definition,
    definition_create,
    definition_errors,
    definition_set_active,
    definition_update,
)
from events.services.progress import period_reset_at, period_start

logger = logging.getLogger(__name__)

ADD_TEMPLATE = "events.add_missiontemplate"
CHANGE_TEMPLATE = "events.change_missiontemplate"

# What staff may set on a template, and what is fixed once it exists.
TEMPLATE_FIELDS = (
    "code",
    "title",
    "description",
    "period",
    "metric",
    "game",
    "target",
    "reward_gold",
    "reward_gems",
    "reward_xp",
    "reward_items",
    "category",
    "icon",
    "sort_order",
    "is_active",
)
FIXED_AFTER_CREATE = ("code", "period", "metric", "game")

MISSION_INSTANCE_RETENTION_DAYS = 35
COUNTED_SOURCE_RETENTION_DAYS = 8
PRUNE_BATCH_SIZE = 5000


# --- claim -------------------------------------------------------------------------------------


def mission_claim_key(user_id: int, template_id: int, start: date) -> str:
    return f"mission:{user_id}:{template_id}:{start.isoformat()}"


@dataclass(frozen=True)
class MissionClaimResult:
    progress: MissionProgress
    template: MissionTemplate
    rewards: dict[str, int]
    items: list[str]
    balances: dict[str, int]
    reset_at: datetime


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def mission_claim(*, user: User, mission_id: int) -> MissionClaimResult:
    """Claim the reward of the player's instance of template ``mission_id`` for the current
    period, once (the module docstring has the protocol)."""
    now = timezone.now()
    with metrics.claim_counted("mission"), service_transaction():
        # An active template from the process's copy (events.definitions; shared, not changed
        # here), one switched off since the player earned it from the database.
        template = next((t for t in definitions().templates if t.pk == mission_id), None)
        if template is None:
            template = row_get(MissionTemplate, pk=mission_id)
        if template is None:
            raise MissionNotFound()
        start = period_start(template.period, now.date())
        reset_at = period_reset_at(template.period, now.date())
        progress = mission_instance_lock(template_id=template.pk, user_id=user.pk, start=start)
        if progress is None:
            if not template.is_active:  # nothing earned in this period, and no longer offered
                raise MissionNotFound()
            raise NotCompleted(current_progress=0, target_value=template.target, reset_at=_iso(reset_at))
        if progress.claimed_at is not None:
            raise RewardAlreadyClaimed(claimed_at=_iso(progress.claimed_at), reset_at=_iso(reset_at))
        if progress.completed_at is None:
            raise NotCompleted(current_progress=progress.value, target_value=progress.target, reset_at=_iso(reset_at))
        bundle = template.reward_bundle
        items = [str(item) for item in template.reward_items]
        ledger: LedgerResult | None = None
        if bundle:
            ledger = wallet_grant(
                user=user,
                bundle=bundle,
                reason=LedgerReason.MISSION_REWARD,
                idempotency_key=mission_claim_key(user.pk, template.pk, start),
                reference=f"mission:{template.pk}:{start.isoformat()}",
                metadata={"mission": template.pk, "code": template.code, "period_start": start.isoformat()},
            )
            if not ledger.applied:  # the key was used although the row says unclaimed: refuse, pay nothing
                raise RewardAlreadyClaimed(reset_at=_iso(reset_at))
        progress.claimed_at = now
        progress.updated_at = now
        # With the transaction's last statement (its outbox rows): the row stays locked, and
        # nothing in the claim reads it back.
        row_update_later(progress, ["claimed_at", "updated_at"])
        realtime.emit_many(
            [
                (
                    "reward_granted",
                    user,
                    {
                        "source": LedgerReason.MISSION_REWARD.value,
                        "amounts": bundle,
                        "items": items,
                        "mission_id": template.pk,
                        "period_start": start.isoformat(),
                    },
                ),
                (
                    "event_progress",
                    user,
                    {
                        "kind": "mission",
                        "mission_id": template.pk,
                        "progress_id": progress.pk,
                        "current_progress": progress.value,
                        "target_value": progress.target,
                        "completed": True,
                        "claimed": True,
                        "reset_at": _iso(reset_at),
                    },
                ),
            ]
        )
        balances = ledger.balances if ledger is not None else wallet_balances(wallet_get_or_open(user_id=user.pk))
    return MissionClaimResult(
        progress=progress, template=template, rewards=bundle, items=items, balances=balances, reset_at=reset_at
    )


# --- templates (back office) -------------------------------------------------------------------


def mission_template_snapshot(template: MissionTemplate) -> dict[str, Any]:
    """The audited columns of a template, JSON-ready."""
    return TEMPLATE_DEFINITION.snapshot(template)


def mission_template_check(values: Mapping[str, Any]) -> None:
    """Refuse (400 ``invalid_mission_template`` with ``fields``) a template the progress engine
    could not count: an unknown metric, a game on a metric that is not per game, a target or a
    reward out of range, item codes that are not slugs."""
    errors = definition_errors(values, goal="target", item_example='["lucky-charm"]', periods=MissionPeriod.values)
    if errors:
        raise InvalidMissionTemplate(fields=errors)


TEMPLATE_DEFINITION = Definition(
    model=MissionTemplate,
    noun="template",
    article="a",
    action="mission_template",
    fields=TEMPLATE_FIELDS,
    fixed_after_create=FIXED_AFTER_CREATE,
    add_permission=ADD_TEMPLATE,
    change_permission=CHANGE_TEMPLATE,
    check=mission_template_check,
    invalid=InvalidMissionTemplate,
    not_found=MissionNotFound,
    defaults={"description": "", "game": "", "category": "", "icon": "", "reward_items": []},
)


def mission_template_create(*, actor: User, values: Mapping[str, Any], reason: str) -> MissionTemplate:
    """Staff create a template (``events.add_missiontemplate``; audited with its values)."""
    return definition_create(TEMPLATE_DEFINITION, actor=actor, values=values, reason=reason)


def mission_template_update(
    *, actor: User, template_id: int, changes: Mapping[str, Any], reason: str
) -> MissionTemplate:
    """Staff change a template's texts, target, rewards, placement or switch
    (``events.change_missiontemplate``; audited with the changed columns before and after). The
    code, period, metric and game are fixed (see the module docstring). Nothing changed: nothing
    written, nothing audited."""
    return definition_update(TEMPLATE_DEFINITION, actor=actor, pk=template_id, changes=changes, reason=reason)


def mission_template_set_active(*, actor: User, template_id: int, is_active: bool, reason: str) -> MissionTemplate:
    """Staff switch a template on or off (``events.change_missiontemplate``; audited). Switched
    off, it is no longer listed nor counted; a player who completed it in the running period may
    still claim it."""
    return definition_set_active(TEMPLATE_DEFINITION, actor=actor, pk=template_id, is_active=is_active, reason=reason)


# --- pruning (beat, daily) ---------------------------------------------------------------------


def _prune(queryset: QuerySet[Any], model: type[Model], what: str, batch_size: int) -> int:
    """Delete the rows of ``queryset`` a batch at a time (each batch its own short statement, so
    no long lock and no huge transaction); logs its progress."""
    deleted_total = 0
    while True:
        ids = list(queryset.values_list("pk", flat=True)[:batch_size])
        if not ids:
            break
        deleted, _ = model._default_manager.filter(pk__in=ids).delete()
        deleted_total += deleted
        logger.info("pruned %s %s so far", deleted_total, what)
    if deleted_total:
        logger.info("pruned %s %s in all", deleted_total, what)
    return deleted_total


def mission_instances_prune(
    *, older_than_days: int = MISSION_INSTANCE_RETENTION_DAYS, batch_size: int = PRUNE_BATCH_SIZE
) -> int:
    """Delete players' mission instances of periods that began more than ``older_than_days``
    days ago (UTC); returns how many went. Rewards stay in the ledger; a period that old can be
    neither listed nor claimed."""
    if older_than_days < 7:
        raise ValueError("keep at least the running week's instances")
    cutoff = timezone.now().date() - timedelta(days=older_than_days)
    old = MissionProgress.objects.filter(period_start__lt=cutoff).order_by("pk")
    return _prune(old, MissionProgress, "mission instances", batch_size)


def counted_sources_prune(
    *, older_than_days: int = COUNTED_SOURCE_RETENTION_DAYS, batch_size: int = PRUNE_BATCH_SIZE
) -> int:
    """Delete the record of domain events counted more than ``older_than_days`` days ago;
    returns how many went. Subscribers run in their event's transaction, so an event delivered
    twice arrives within seconds or minutes (a retried request, a replayed subscriber), never
    days later: the record only has to outlive any retry."""
    if older_than_days < 1:
        raise ValueError("keep at least a day of counted sources")
    cutoff = timezone.now() - timedelta(days=older_than_days)
    old = CountedSource.objects.filter(created_at__lt=cutoff).order_by("pk")
    return _prune(old, CountedSource, "counted sources", batch_size)
