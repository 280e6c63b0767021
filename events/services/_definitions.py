"""What the back office's definitions of a goal share -- mission templates
(``events.services.missions``) and achievements (``events.services.achievements``): the checks
against the metric registry, and creating, changing and switching one.

Both are edited the same way, so both keep the same promises: each write checks its own
permission first (and again inside the service, whoever calls it), asks for a reason, validates
the whole definition as it would be saved, locks the row it changes, writes only the columns
that differ and records who, before, after and why. The columns that name what is counted are
fixed once the definition exists: players' progress counts towards them.

A kind of definition is described once by a :class:`Definition`; the modules above keep their
public services (names and signatures) and call these helpers, each of which opens the durable
transaction of the service calling it.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from django.db import transaction
from django.db.models import Model
from django.utils import timezone

from accounts.models import User
from casino.db import one_or_none
from casino.errors import ApplicationError
from casino.permissions import staff_permission_require
from casino.services import audit_record
from economy.exceptions import ReasonRequired
from events.metric_registry import METRICS

MAX_REWARD = 10**9  # a sanity bound on one definition's reward of one currency
MAX_GOAL = 10**15  # the largest target or threshold
SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")

D = TypeVar("D", bound=Model)


def _whole(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def definition_errors(
    values: Mapping[str, Any], *, goal: str, item_example: str, periods: Collection[str] | None = None
) -> dict[str, str]:
    """The field errors of a definition the progress engine could not count: an unknown metric,
    a game on a metric that is not per game, a period not in ``periods`` (when given), a code or
    item codes that are not slugs, a ``goal`` (the column holding the value to reach) or a
    reward out of range, no title. Listed in the order the back office's forms show them."""
    errors: dict[str, str] = {}
    metric = METRICS.get(str(values.get("metric", "")))
    if metric is None:
        errors["metric"] = "Choose a metric of the registry."
    game = values.get("game", "") or ""
    if game:
        if not isinstance(game, str) or not SLUG.match(game) or len(game) > 16:
            errors["game"] = "A game code (slot, crash, rps, gacha), or empty for any game."
        elif metric is not None and not metric.per_game:
            errors["game"] = f"{metric.label} is not counted per game: leave the game empty."
    if periods is not None and values.get("period") not in periods:
        errors["period"] = "Daily or weekly."
    code = values.get("code")
    if not isinstance(code, str) or not SLUG.match(code):
        errors["code"] = "Lower-case letters, digits, - and _ (at most 64)."
    if not _whole(values.get(goal), 1, MAX_GOAL):
        errors[goal] = "A whole number above 0."
    for name in ("reward_gold", "reward_gems", "reward_xp"):
        if not _whole(values.get(name, 0), 0, MAX_REWARD):
            errors[name] = f"A whole number from 0 to {MAX_REWARD:,}."
    items = values.get("reward_items", [])
    if not isinstance(items, list) or not all(isinstance(item, str) and SLUG.match(item) for item in items):
        errors["reward_items"] = f"A list of item codes, e.g. {item_example}."
    if not str(values.get("title", "")).strip():
        errors["title"] = "A title players see."
    return errors


@dataclass(frozen=True)
class Definition(Generic[D]):
    """One kind of definition staff edit: its table, the columns they may set (``fields``) and
    those fixed once it exists, the permissions, and its refusals."""

    model: type[D]
    noun: str  # in refusals: "template", "achievement"
    article: str  # "a" or "an", before the noun
    action: str  # the audit actions' prefix: "<action>_create", "_update", "_activate", "_deactivate"
    fields: tuple[str, ...]
    fixed_after_create: tuple[str, ...]
    add_permission: str
    change_permission: str
    check: Callable[[Mapping[str, Any]], None]  # raises ``invalid`` with ``fields``
    invalid: type[ApplicationError]
    not_found: type[ApplicationError]
    # The empty values of the optional columns, for a definition created without them.
    defaults: Mapping[str, Any] = field(default_factory=dict)
    # Called after a change is saved, in its transaction: what else it did, for the audit record.
    after_change: Callable[[D, Mapping[str, Any]], dict[str, Any]] | None = None

    def snapshot(self, definition: D) -> dict[str, Any]:
        return {name: getattr(definition, name) for name in self.fields}

    def known(self, values: Mapping[str, Any]) -> None:
        unknown = set(values) - set(self.fields)
        if unknown:
            raise ValueError(f"not {self.noun} fields: {sorted(unknown)}")

    def locked(self, pk: int) -> D:
        definition = one_or_none(self.model._default_manager.select_for_update(of=("self",)).filter(pk=pk))
        if definition is None:
            raise self.not_found()
        return definition


def reason_required(reason: str) -> str:
    if not isinstance(reason, str) or not reason.strip():
        raise ReasonRequired()
    return reason.strip()


def definition_create(kind: Definition[D], *, actor: User, values: Mapping[str, Any], reason: str) -> D:
    """Staff create a definition (``kind.add_permission``; audited with its values)."""
    staff_permission_require(actor=actor, permission=kind.add_permission)
    reason = reason_required(reason)
    kind.known(values)
    fields = {**copy.deepcopy(dict(kind.defaults)), **values}  # a fresh [] each time
    kind.check(fields)
    now = timezone.now()
    with transaction.atomic(durable=True):
        if kind.model._default_manager.filter(code=fields["code"]).exists():
            raise kind.invalid(fields={"code": f"{kind.article.capitalize()} {kind.noun} with this code exists."})
        definition = kind.model._default_manager.create(**fields, created_at=now, updated_at=now)
        audit_record(
            actor=actor,
            action=f"{kind.action}_create",
            target=definition,
            reason=reason,
            data={"before": None, "after": kind.snapshot(definition)},
        )
    return definition


def _write_changes(
    kind: Definition[D], actor: User, definition: D, changes: Mapping[str, Any], *, action: str, reason: str
) -> D:
    """Save the columns that differ and audit them (with what ``kind.after_change`` did);
    nothing differs: nothing written, nothing audited."""
    before = kind.snapshot(definition)
    changed = {name: value for name, value in changes.items() if before[name] != value}
    if not changed:
        return definition
    for name, value in changed.items():
        setattr(definition, name, value)
    kind.check(kind.snapshot(definition))
    definition.updated_at = timezone.now()  # type: ignore[attr-defined]  # every definition has it
    definition.save(update_fields=[*sorted(changed), "updated_at"])
    data: dict[str, Any] = {
        "before": {name: before[name] for name in sorted(changed)},
        "after": {name: changed[name] for name in sorted(changed)},
    }
    if kind.after_change is not None:
        data.update(kind.after_change(definition, changed))
    audit_record(actor=actor, action=action, target=definition, reason=reason, data=data)
    return definition


def definition_update(kind: Definition[D], *, actor: User, pk: int, changes: Mapping[str, Any], reason: str) -> D:
    """Staff change a definition (``kind.change_permission``; audited with the changed columns
    before and after). A change of a column fixed after creation is refused."""
    staff_permission_require(actor=actor, permission=kind.change_permission)
    reason = reason_required(reason)
    kind.known(changes)
    with transaction.atomic(durable=True):
        definition = kind.locked(pk)
        refused = {
            name: f"Fixed once the {kind.noun} exists: create a new {kind.noun} instead."
            for name in kind.fixed_after_create
            if name in changes and changes[name] != getattr(definition, name)
        }
        if refused:
            raise kind.invalid(fields=refused)
        return _write_changes(kind, actor, definition, changes, action=f"{kind.action}_update", reason=reason)


def definition_set_active(kind: Definition[D], *, actor: User, pk: int, is_active: bool, reason: str) -> D:
    """Staff switch a definition on or off (``kind.change_permission``; audited)."""
    staff_permission_require(actor=actor, permission=kind.change_permission)
    reason = reason_required(reason)
    with transaction.atomic(durable=True):
        definition = kind.locked(pk)
        action = f"{kind.action}_activate" if is_active else f"{kind.action}_deactivate"
        return _write_changes(kind, actor, definition, {"is_active": is_active}, action=action, reason=reason)
