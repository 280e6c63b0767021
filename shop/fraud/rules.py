"""The rules in force: parsed and validated from ``settings.SHOP_FRAUD_RULES_PATH``
(YAML, hot reloaded), and the verdict they give on a set of features."""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard

import yaml
from django.conf import settings

from shop.fraud.conditions import Condition, FraudRulesError, fraud_condition_parse
from shop.fraud.features import FeatureValue
from shop.models import FraudAction

logger = logging.getLogger(__name__)

RULES_CHECK_INTERVAL_SECONDS = 1.0


@dataclass(frozen=True)
class FraudRule:
    name: str
    when: str
    condition: Condition
    points: int


@dataclass(frozen=True)
class FraudRuleSet:
    rules: tuple[FraudRule, ...]
    review_threshold: int
    block_threshold: int
    version: str  # sha256 of the file content, first 16 hex digits


def _is_integer(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def fraud_rules_parse(content: bytes, *, source: str = "<rules>") -> FraudRuleSet:
    """Parse and validate a rules document; every error names the file and the rule.

    Format::

        thresholds: {review: 40, block: 80}   # score >= block: block; >= review: review
        rules:
          - name: player_velocity_1h
            when: orders_per_player_1h >= 5
            points: 30                           # an integer; negative points lower the score
    """

    def fail(message: str) -> FraudRulesError:
        return FraudRulesError(f"fraud rules {source}: {message}")

    try:
        document = yaml.safe_load(content)
    except yaml.YAMLError as exc:
        raise fail(f"not valid YAML: {exc}") from exc
    if not isinstance(document, dict):
        raise fail("expected a mapping with 'thresholds' and 'rules'")
    unknown_keys = set(document) - {"thresholds", "rules"}
    if unknown_keys:
        raise fail(f"unknown top-level key(s): {', '.join(sorted(map(str, unknown_keys)))}")

    thresholds = document.get("thresholds")
    if not isinstance(thresholds, dict) or set(thresholds) != {"review", "block"}:
        raise fail("'thresholds' must be a mapping with exactly 'review' and 'block'")
    review, block = thresholds["review"], thresholds["block"]
    for label, value in (("review", review), ("block", block)):
        if not _is_integer(value) or value < 1:
            raise fail(f"thresholds.{label} must be a positive integer, not {value!r}")
    if review > block:
        raise fail(f"thresholds.review ({review}) must not exceed thresholds.block ({block})")

    raw_rules = document.get("rules")
    if not isinstance(raw_rules, list):
        raise fail("'rules' must be a list")
    rules: list[FraudRule] = []
    names: set[str] = set()
    for position, raw in enumerate(raw_rules, start=1):
        if not isinstance(raw, dict):
            raise fail(f"rule #{position} must be a mapping with name, when, points")
        name = raw.get("name")
        if not isinstance(name, str) or not name.strip():
            raise fail(f"rule #{position} needs a non-empty 'name'")
        label = f"rule {name!r}"
        unknown = set(raw) - {"name", "when", "points"}
        if unknown:
            raise fail(f"{label}: unknown key(s) {', '.join(sorted(map(str, unknown)))} (expected name, when, points)")
        if name in names:
            raise fail(f"{label}: duplicate rule name")
        names.add(name)
        when = raw.get("when")
        if not isinstance(when, str):
            raise fail(f"{label}: 'when' must be a condition string, not {when!r}")
        points = raw.get("points")
        if not _is_integer(points):
            raise fail(f"{label}: 'points' must be an integer, not {points!r}")
        try:
            condition = fraud_condition_parse(when)
        except FraudRulesError as exc:
            raise fail(f"{label}: bad condition {when!r}: {exc}") from exc
        rules.append(FraudRule(name=name, when=when, condition=condition, points=points))

    return FraudRuleSet(
        rules=tuple(rules),
        review_threshold=review,
        block_threshold=block,
        version=hashlib.sha256(content).hexdigest()[:16],
    )


class FraudRulesStore:
    """The rules in force, re-read when the file changes.

    At most once per ``check_interval_seconds`` (per process) it stats the file;
    a new (path, mtime, size) triggers a reload. A file that fails to load
    keeps the last good rules and logs an error once per change; only the very
    first load (nothing to fall back on) raises. Deploy new rules by writing a
    temporary file and renaming it over the old one, so a reader never sees a
    half-written file.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        check_interval_seconds: float = RULES_CHECK_INTERVAL_SECONDS,
    ) -> None:
        self._clock = clock
        self._check_interval = check_interval_seconds
        self._lock = threading.Lock()
        self._rules: FraudRuleSet | None = None
        self._signature: tuple[str, int, int] | None = None
        self._checked_at = 0.0

    def current(self) -> FraudRuleSet:
        path = os.fspath(settings.SHOP_FRAUD_RULES_PATH)
        with self._lock:
            now = self._clock()
            if (
                self._rules is not None
                and self._signature is not None
                and self._signature[0] == path
                and now - self._checked_at < self._check_interval
            ):
                return self._rules
            self._checked_at = now
            return self._reload_if_changed(path)

    def _reload_if_changed(self, path: str) -> FraudRuleSet:
        try:
            stat = os.stat(path)
            signature = (path, stat.st_mtime_ns, stat.st_size)
            if self._rules is not None and signature == self._signature:
                return self._rules
            self._signature = signature  # remembered even if bad: log once per change
            rules = fraud_rules_parse(Path(path).read_bytes(), source=path)
        except (OSError, FraudRulesError) as exc:
            if self._rules is None:
                self._signature = None
                if isinstance(exc, FraudRulesError):
                    raise
                raise FraudRulesError(f"fraud rules {path}: cannot read: {exc}") from exc
            logger.error("fraud rules: reload failed, keeping version %s: %s", self._rules.version, exc)
            return self._rules
        if self._rules is not None and rules.version != self._rules.version:
            logger.info("fraud rules %s: reloaded, version %s -> %s", path, self._rules.version, rules.version)
        self._rules = rules
        return rules


_rules_store = FraudRulesStore()


def fraud_rules_current() -> FraudRuleSet:
    return _rules_store.current()


# --- Verdict -------------------------------------------------------------------------


@dataclass(frozen=True)
class FraudVerdict:
    action: FraudAction
    score: int
    matched_rules: list[dict[str, Any]]  # [{"name": ..., "points": ...}] in file order
    features: dict[str, FeatureValue]
    rules_version: str


def fraud_evaluate(*, features: Mapping[str, FeatureValue]) -> FraudVerdict:
    """Score = sum of the points of every matching rule;
    ``score >= block`` → block, ``score >= review`` → review, else allow.
    A feature missing from ``features`` counts as unknown (None)."""
    rules = fraud_rules_current()
    matching = [rule for rule in rules.rules if rule.condition.holds(features)]
    matched: list[dict[str, Any]] = [{"name": rule.name, "points": rule.points} for rule in matching]
    score = sum(rule.points for rule in matching)
    if score >= rules.block_threshold:
        action = FraudAction.BLOCK
    elif score >= rules.review_threshold:
        action = FraudAction.REVIEW
    else:
        action = FraudAction.ALLOW
    return FraudVerdict(
        action=action, score=score, matched_rules=matched, features=dict(features), rules_version=rules.version
    )
