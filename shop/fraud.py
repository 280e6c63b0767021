"""Fraud rule engine for real-money orders.

Three steps, each its own function so the order service can log, store and
test them apart:

1. :func:`fraud_features` reads the player's recent activity (sliding windows
   in Redis, the usual order amount from PostgreSQL) and returns plain numbers.
   It never writes: the window counts it returns already include the attempt
   being evaluated (``+1``), and :func:`fraud_record_attempt` adds that attempt
   to the windows once the order service has decided.
2. :func:`fraud_evaluate` scores the features against the rules in
   ``settings.SHOP_FRAUD_RULES_PATH`` (YAML, hot reloaded) and returns a
   :class:`FraudVerdict`.
3. The order service stores a ``FraudDecision`` and acts on the verdict.

Rule conditions are a tiny language parsed here by a tokenizer and a
recursive-descent parser — never ``eval`` — so a rules file can only compare
known features with literals::

    condition  := or
    or         := and ("or" and)*
    and        := not ("and" not)*
    not        := "not" not | primary
    primary    := "(" condition ")" | FEATURE [OPERATOR literal]
    OPERATOR   := ">=" | ">" | "<=" | "<" | "==" | "!="
    literal    := NUMBER | "true" | "false"

A bare FEATURE must be a boolean feature (``is_new_player_24h``); a comparison
with a feature whose value is ``None`` (unknown) is false.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import os
import re
import statistics
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import yaml
from django.conf import settings
from django.utils import timezone

from casino.ratelimit import sliding_window_backend
from shop.models import FraudAction, Order, OrderStatus, PriceType

logger = logging.getLogger(__name__)

FeatureValue = float | int | bool | None

ORDER_WINDOW = timedelta(hours=1)
INSTRUMENT_WINDOW = timedelta(hours=24)
NEW_PLAYER_AGE = timedelta(hours=24)
USUAL_AMOUNT_SAMPLE = 20  # the player's last N fulfilled money orders
USUAL_AMOUNT_MIN_ORDERS = 3  # fewer than this: no "usual" amount yet
RULES_CHECK_INTERVAL_SECONDS = 1.0

# Every feature a rule may name, with its type ("number" or "bool").
FEATURE_TYPES: dict[str, str] = {
    "amount": "number",
    "amount_vs_usual": "number",
    "is_new_player_24h": "bool",
    "orders_per_player_1h": "number",
    "orders_per_ip_1h": "number",
    "orders_per_device_1h": "number",
    "distinct_instruments_per_player_24h": "number",
}


class FraudRulesError(ValueError):
    """The rules file (or one condition in it) is invalid; the message names the rule."""


# --- Windows -------------------------------------------------------------------------


def _digest(value: str) -> str:
    # IPs, device ids and card fingerprints end up in Redis keys and members:
    # hashing bounds their length and keeps raw identifiers out of Redis.
    return hashlib.sha256(value.encode()).hexdigest()[:32]


def _ip_bucket(ip: str) -> str:
    """The unit an IP counter counts: the IPv4 address, or the IPv6 /64 —
    one subscriber usually holds a whole /64 and can rotate addresses in it
    at will, so counting single IPv6 addresses would be trivial to evade."""
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return ip.strip()
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def _player_orders_key(user_id: int) -> str:
    return f"fraud:orders:player:{user_id}"


def _ip_orders_key(ip: str) -> str:
    return f"fraud:orders:ip:{_digest(_ip_bucket(ip))}"


def _device_orders_key(device_id: str) -> str:
    return f"fraud:orders:device:{_digest(device_id)}"


def _player_instruments_key(user_id: int) -> str:
    return f"fraud:instruments:player:{user_id}"


class DistinctSlidingWindow(Protocol):
    """Distinct members seen per key within a sliding window (a member seen
    again moves to the newer time)."""

    def add(self, key: str, member: str, now: float, window: float) -> int: ...
    def count_with(self, key: str, member: str, now: float, window: float) -> int: ...
    def count(self, key: str, now: float, window: float) -> int: ...


class RedisDistinctSlidingWindow:
    """One sorted set per key: member = the value, score = when last seen."""

    def __init__(self, url: str) -> None:
        import redis

        self.client = redis.Redis.from_url(url)

    def add(self, key: str, member: str, now: float, window: float) -> int:
        pipe = self.client.pipeline(transaction=True)
        pipe.zremrangebyscore(key, "-inf", now - window)
        pipe.zadd(key, {member: now})
        pipe.zcard(key)
        pipe.expire(key, int(window) + 60)
        return int(pipe.execute()[2])

    def count_with(self, key: str, member: str, now: float, window: float) -> int:
        """Distinct members in the window, counting ``member`` once even if unseen."""
        pipe = self.client.pipeline(transaction=False)
        pipe.zcount(key, f"({now - window}", "+inf")
        pipe.zscore(key, member)
        count, member_seen_at = pipe.execute()
        already_counted = member_seen_at is not None and float(member_seen_at) > now - window
        return int(count) + (0 if already_counted else 1)

    def count(self, key: str, now: float, window: float) -> int:
        return int(self.client.zcount(key, f"({now - window}", "+inf"))


class MemoryDistinctSlidingWindow:
    """Embedded mode (one process): the same semantics in a dict."""

    def __init__(self) -> None:
        self._seen: dict[str, dict[str, float]] = defaultdict(dict)
        self._lock = threading.Lock()

    def add(self, key: str, member: str, now: float, window: float) -> int:
        with self._lock:
            seen = {m: t for m, t in self._seen[key].items() if t > now - window}
            seen[member] = now
            self._seen[key] = seen
            return len(seen)

    def count_with(self, key: str, member: str, now: float, window: float) -> int:
        with self._lock:
            members = {m for m, t in self._seen.get(key, {}).items() if t > now - window}
            return len(members | {member})

    def count(self, key: str, now: float, window: float) -> int:
        with self._lock:
            return sum(1 for t in self._seen.get(key, {}).values() if t > now - window)


@lru_cache(maxsize=4)
def _distinct_backend_for(redis_url: str) -> DistinctSlidingWindow:
    if redis_url:
        return RedisDistinctSlidingWindow(redis_url)
    return MemoryDistinctSlidingWindow()


def distinct_window_backend() -> DistinctSlidingWindow:
    return _distinct_backend_for(settings.REDIS_URL)


# --- Features ------------------------------------------------------------------------


def _usual_amount(*, user_id: int, currency: str) -> float | None:
    """Median ``total`` of the player's last 20 fulfilled money orders in this
    currency (minor units), or None with fewer than 3 such orders. The median,
    not the mean, so one big past purchase does not make every later one look usual."""
    totals = list(
        Order.objects.filter(
            user_id=user_id, price_type=PriceType.MONEY, status=OrderStatus.FULFILLED, currency=currency
        )
        .order_by("-created_at", "-id")
        .values_list("total", flat=True)[:USUAL_AMOUNT_SAMPLE]
    )
    if len(totals) < USUAL_AMOUNT_MIN_ORDERS:
        return None
    return float(statistics.median(totals))


def fraud_features(
    *, user: Any, ip: str | None, device_id: str, payment_instrument: str, amount: int, currency: str
) -> dict[str, FeatureValue]:
    """The features of one money-order attempt. Reads only.

    Window counts include this attempt without recording it::

        orders_per_*_1h = attempts recorded in the last hour + 1
        distinct_instruments_per_player_24h = |instruments seen in 24 h, plus this one|

    Call :func:`fraud_record_attempt` once the attempt is decided so the next
    evaluation counts it. Two concurrent attempts of one player both see the
    count without the other (read, then record): a window of one request.

    Unknown inputs give ``None`` features (rules on them do not fire): no IP,
    an empty device id, a player with fewer than 3 fulfilled orders in this
    currency (or a usual amount of 0) for ``amount_vs_usual``. An empty
    payment instrument counts the instruments already seen without adding one.

    ``amount_vs_usual = amount / median(last 20 fulfilled money orders' total)``.
    """
    now = timezone.now()
    now_ts = now.timestamp()
    windows = sliding_window_backend()
    order_window = ORDER_WINDOW.total_seconds()

    def attempts_including_this(key: str) -> int:
        return len(windows.scores(key, now_ts, order_window)) + 1

    instruments = distinct_window_backend()
    instruments_key = _player_instruments_key(user.pk)
    instrument_window = INSTRUMENT_WINDOW.total_seconds()
    if payment_instrument:
        distinct_instruments = instruments.count_with(
            instruments_key, _digest(payment_instrument), now_ts, instrument_window
        )
    else:
        distinct_instruments = instruments.count(instruments_key, now_ts, instrument_window)

    usual = _usual_amount(user_id=user.pk, currency=currency)
    return {
        "amount": amount,
        "amount_vs_usual": amount / usual if usual else None,
        "is_new_player_24h": now - user.date_joined < NEW_PLAYER_AGE,
        "orders_per_player_1h": attempts_including_this(_player_orders_key(user.pk)),
        "orders_per_ip_1h": attempts_including_this(_ip_orders_key(ip)) if ip else None,
        "orders_per_device_1h": attempts_including_this(_device_orders_key(device_id)) if device_id else None,
        "distinct_instruments_per_player_24h": distinct_instruments,
    }


def fraud_record_attempt(*, user_id: int, ip: str | None, device_id: str, payment_instrument: str) -> None:
    """Add one money-order attempt to every window :func:`fraud_features` reads.
    Call it once per attempt, after deciding (blocked attempts too: they are
    what velocity rules are for). Not transactional with the database: it is a
    counter, and an attempt whose order rolls back still was an attempt."""
    now_ts = timezone.now().timestamp()
    windows = sliding_window_backend()
    order_window = ORDER_WINDOW.total_seconds()
    windows.add(_player_orders_key(user_id), now_ts, order_window)
    if ip:
        windows.add(_ip_orders_key(ip), now_ts, order_window)
    if device_id:
        windows.add(_device_orders_key(device_id), now_ts, order_window)
    if payment_instrument:
        distinct_window_backend().add(
            _player_instruments_key(user_id), _digest(payment_instrument), now_ts, INSTRUMENT_WINDOW.total_seconds()
        )


# --- Condition language --------------------------------------------------------------

_KEYWORDS = frozenset({"and", "or", "not", "true", "false"})
_COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    ">=": lambda left, right: left >= right,
    ">": lambda left, right: left > right,
    "<=": lambda left, right: left <= right,
    "<": lambda left, right: left < right,
    "==": lambda left, right: left == right,
    "!=": lambda left, right: left != right,
}
_TOKEN = re.compile(
    r"(?P<number>-?\d+(?:\.\d+)?(?![A-Za-z_\d.]))"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<operator>>=|<=|==|!=|>|<)"
    r"|(?P<paren>[()])"
)
_MAX_CONDITION_LENGTH = 500
_MAX_NESTING = 16


@dataclass(frozen=True)
class _Token:
    kind: str  # "number", "name", "keyword", "operator", "paren", "end"
    text: str
    column: int  # 1-based, for error messages


def _tokenize(source: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(source):
        if source[position].isspace():
            position += 1
            continue
        match = _TOKEN.match(source, position)
        if match is None:
            raise FraudRulesError(f"unexpected character {source[position]!r} at column {position + 1}")
        kind = match.lastgroup or ""
        text = match.group()
        if kind == "name" and text in _KEYWORDS:
            kind = "keyword"
        tokens.append(_Token(kind, text, position + 1))
        position = match.end()
    tokens.append(_Token("end", "", len(source) + 1))
    return tokens


class Condition(Protocol):
    def holds(self, features: Mapping[str, FeatureValue]) -> bool: ...


@dataclass(frozen=True)
class _Compare:
    feature: str
    operator: str
    value: float | bool

    def holds(self, features: Mapping[str, FeatureValue]) -> bool:
        actual = features.get(self.feature)
        if actual is None:
            return False
        return _COMPARISONS[self.operator](actual, self.value)


@dataclass(frozen=True)
class _Flag:
    feature: str

    def holds(self, features: Mapping[str, FeatureValue]) -> bool:
        return features.get(self.feature) is True


@dataclass(frozen=True)
class _Not:
    operand: Condition

    def holds(self, features: Mapping[str, FeatureValue]) -> bool:
        return not self.operand.holds(features)


@dataclass(frozen=True)
class _All:
    operands: tuple[Condition, ...]

    def holds(self, features: Mapping[str, FeatureValue]) -> bool:
        return all(operand.holds(features) for operand in self.operands)


@dataclass(frozen=True)
class _Any:
    operands: tuple[Condition, ...]

    def holds(self, features: Mapping[str, FeatureValue]) -> bool:
        return any(operand.holds(features) for operand in self.operands)


class _Parser:
    def __init__(self, source: str) -> None:
        self.tokens = _tokenize(source)
        self.index = 0
        self.depth = 0

    @property
    def current(self) -> _Token:
        return self.tokens[self.index]

    def _advance(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def _describe(self, token: _Token) -> str:
        return "end of condition" if token.kind == "end" else f"{token.text!r} at column {token.column}"

    def _at_keyword(self, word: str) -> bool:
        return self.current.kind == "keyword" and self.current.text == word

    def parse(self) -> Condition:
        if self.current.kind == "end":
            raise FraudRulesError("empty condition")
        condition = self._or()
        if self.current.kind != "end":
            raise FraudRulesError(f"unexpected {self._describe(self.current)}; expected 'and', 'or' or the end")
        return condition

    def _or(self) -> Condition:
        operands = [self._and()]
        while self._at_keyword("or"):
            self._advance()
            operands.append(self._and())
        return operands[0] if len(operands) == 1 else _Any(tuple(operands))

    def _and(self) -> Condition:
        operands = [self._not()]
        while self._at_keyword("and"):
            self._advance()
            operands.append(self._not())
        return operands[0] if len(operands) == 1 else _All(tuple(operands))

    def _not(self) -> Condition:
        if self._at_keyword("not"):
            self._advance()
            return _Not(self._nested(self._not))
        return self._primary()

    def _nested(self, parse: Callable[[], Condition]) -> Condition:
        self.depth += 1
        if self.depth > _MAX_NESTING:
            raise FraudRulesError(f"condition nested deeper than {_MAX_NESTING} levels")
        try:
            return parse()
        finally:
            self.depth -= 1

    def _primary(self) -> Condition:
        token = self._advance()
        if token.kind == "paren" and token.text == "(":
            condition = self._nested(self._or)
            closing = self._advance()
            if closing.text != ")":
                raise FraudRulesError(
                    f"expected ')' to close the '(' at column {token.column}, got {self._describe(closing)}"
                )
            return condition
        if token.kind != "name":
            raise FraudRulesError(f"expected a feature name, got {self._describe(token)}")
        feature = token.text
        feature_type = FEATURE_TYPES.get(feature)
        if feature_type is None:
            raise FraudRulesError(
                f"unknown feature {feature!r} at column {token.column} (known: {', '.join(sorted(FEATURE_TYPES))})"
            )
        if self.current.kind != "operator":
            if feature_type != "bool":
                raise FraudRulesError(f"{feature!r} is a number: compare it (e.g. '{feature} >= 5'), not use it alone")
            return _Flag(feature)
        operator = self._advance().text
        literal = self._advance()
        if feature_type == "bool":
            if literal.kind != "keyword" or literal.text not in {"true", "false"} or operator not in {"==", "!="}:
                raise FraudRulesError(f"{feature!r} is a boolean: use it alone, with 'not', or with == true/false")
            return _Compare(feature, operator, literal.text == "true")
        if literal.kind != "number":
            raise FraudRulesError(f"expected a number after '{feature} {operator}', got {self._describe(literal)}")
        number = float(literal.text) if "." in literal.text else int(literal.text)
        return _Compare(feature, operator, number)


def fraud_condition_parse(source: str) -> Condition:
    """Parse one ``when`` condition; raises :class:`FraudRulesError` on anything
    outside the grammar in this module's docstring (it never evaluates code)."""
    if len(source) > _MAX_CONDITION_LENGTH:
        raise FraudRulesError(f"condition longer than {_MAX_CONDITION_LENGTH} characters")
    return _Parser(source).parse()


# --- Rules file ----------------------------------------------------------------------


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


def _is_integer(value: object) -> bool:
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
    matched = [{"name": rule.name, "points": rule.points} for rule in rules.rules if rule.condition.holds(features)]
    score = sum(rule["points"] for rule in matched)
    if score >= rules.block_threshold:
        action = FraudAction.BLOCK
    elif score >= rules.review_threshold:
        action = FraudAction.REVIEW
    else:
        action = FraudAction.ALLOW
    return FraudVerdict(
        action=action, score=score, matched_rules=matched, features=dict(features), rules_version=rules.version
    )
