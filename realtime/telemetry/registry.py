"""The registry of client event names and their property schemas.

A client may only send names registered here, with the properties the name's
schema allows. The schemas are deliberately small (a handful of keys, short
strings, flat values): telemetry says which screen, button or product, not
free-form payloads, and a schema that allows little cannot smuggle much.

A property is a JSON string (with a longest length), integer, number, boolean
or a flat object of such values (:func:`obj`); ``null`` is accepted for any
property. An event carries at most ``max_keys`` of its allowed properties.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

PropKind = Literal["string", "integer", "number", "boolean", "object"]

# JavaScript's safe integers: a larger value would not survive the client's own arithmetic.
MAX_SAFE_INTEGER = 2**53 - 1
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{1,63}$")


@dataclass(frozen=True)
class Prop:
    """One property an event may carry. ``max_length`` bounds a string (an object's
    string values too); ``max_keys`` bounds an object."""

    kind: PropKind
    max_length: int = 64
    max_keys: int = 10

    def problem(self, value: Any) -> str | None:
        """Why ``value`` does not fit, or None."""
        if value is None:
            return None
        if self.kind == "object":
            if not isinstance(value, dict):
                return "must be an object"
            if len(value) > self.max_keys:
                return f"has more than {self.max_keys} keys"
            for key, item in value.items():
                if isinstance(item, (dict, list)):
                    return f"{key}: must be a string, number, boolean or null"
                reason = _scalar_problem(item, self.max_length)
                if reason is not None:
                    return f"{key}: {reason}"
            return None
        return _kind_problem(self.kind, value, self.max_length)


def _scalar_problem(value: Any, max_length: int) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        return _kind_problem("string", value, max_length)
    return _kind_problem("number", value, max_length)


def _kind_problem(kind: PropKind, value: Any, max_length: int) -> str | None:
    if kind == "string":
        if not isinstance(value, str):
            return "must be a string"
        if len(value) > max_length:
            return f"is longer than {max_length} characters"
        return None
    if kind == "boolean":
        return None if isinstance(value, bool) else "must be true or false"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "must be an integer" if kind == "integer" else "must be a number"
    if kind == "integer" and not isinstance(value, int):
        return "must be an integer"
    # abs() first: an integer too large for a float would make isfinite() raise.
    if abs(value) > MAX_SAFE_INTEGER or not math.isfinite(value):
        return f"must be between -{MAX_SAFE_INTEGER} and {MAX_SAFE_INTEGER}"
    return None


def string(max_length: int = 64) -> Prop:
    return Prop("string", max_length=max_length)


def integer() -> Prop:
    return Prop("integer")


def number() -> Prop:
    return Prop("number")


def boolean() -> Prop:
    return Prop("boolean")


def obj(*, max_keys: int = 10, max_length: int = 64) -> Prop:
    """A flat object: up to ``max_keys`` strings (each at most ``max_length``), numbers, booleans or nulls."""
    return Prop("object", max_length=max_length, max_keys=max_keys)


@dataclass(frozen=True)
class TelemetrySchema:
    """The properties an event name allows, and how many of them one event may carry
    (all of them unless ``max_keys`` says fewer)."""

    properties: Mapping[str, Prop]
    max_keys: int | None = None
    description: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "properties", MappingProxyType(dict(self.properties)))

    @property
    def key_limit(self) -> int:
        return len(self.properties) if self.max_keys is None else self.max_keys

    def problem(self, properties: Mapping[str, Any]) -> tuple[str, str] | None:
        """``(property, reason)`` of the first property that breaks the schema
        (``("", reason)`` for the whole set), or None."""
        if len(properties) > self.key_limit:
            return "", f"has more than {self.key_limit} properties"
        for key, value in properties.items():
            prop = self.properties.get(key)
            if prop is None:
                return key, "is not a property of this event"
            reason = prop.problem(value)
            if reason is not None:
                return key, reason
        return None


_EVENTS: dict[str, TelemetrySchema] = {}


def register_telemetry_event(name: str, schema: TelemetrySchema | Mapping[str, Prop]) -> None:
    """Let clients send ``name`` with the properties of ``schema`` (an app calls this
    in its ``AppConfig.ready()``). Registering a name again with another schema is a
    mistake two apps would make about one name, so it raises."""
    if not NAME_PATTERN.match(name):
        raise ValueError(f"telemetry event names are snake_case, 2-64 characters: {name!r}")
    if not isinstance(schema, TelemetrySchema):
        schema = TelemetrySchema(schema)
    existing = _EVENTS.get(name)
    if existing is not None and existing != schema:
        raise ValueError(f"telemetry event {name!r} is already registered with another schema")
    _EVENTS[name] = schema


def telemetry_schema(name: str) -> TelemetrySchema | None:
    return _EVENTS.get(name)


def telemetry_events() -> dict[str, TelemetrySchema]:
    """Every registered name and its schema, by name."""
    return dict(sorted(_EVENTS.items()))
