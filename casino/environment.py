"""Reading the settings from the environment (12-factor), in one place.

Modelled on PostHog's ``get_from_env``: a variable that is unset or empty takes
its default; ``cast`` turns the text into the setting's type (django-environ's
parsers underneath, so ``yes``/``1`` are true, lists are comma-separated and
database URLs become Django's dict); a value production cannot do without
raises ``ImproperlyConfigured`` there when it is missing. Reading has no side
effects: no file, directory or process is touched.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import environ
from django.core.exceptions import ImproperlyConfigured

T = TypeVar("T")

APP_ENVS = ("development", "production")


def as_str(value: str) -> str:
    return value


def as_bool(value: str) -> bool:
    return bool(environ.Env.parse_value(value, bool))


def as_int(value: str) -> int:
    return int(value)


def as_float(value: str) -> float:
    return float(environ.Env.parse_value(value, float))


def as_list(value: str) -> list[str]:
    """Comma-separated; empty items dropped."""
    return [item for item in value.split(",") if item]


def as_path(value: str) -> Path:
    return Path(value)


def as_database(value: str) -> dict[str, Any]:
    """A database URL (``postgres://...``, ``sqlite:///path``) as a ``DATABASES`` entry."""
    return dict(environ.Env.db_url_config(value))


def _raw(key: str, source: Mapping[str, str] | None) -> str:
    return (os.environ if source is None else source).get(key, "")


def app_env(source: Mapping[str, str] | None = None) -> str:
    """``APP_ENV``: ``development`` (the default) or ``production``."""
    value = _raw("APP_ENV", source) or "development"
    if value not in APP_ENVS:
        raise ImproperlyConfigured(f"APP_ENV must be 'development' or 'production', not {value!r}")
    return value


def get_from_env(
    key: str,
    default: T,
    *,
    cast: Callable[[str], T],
    required_in_production: str = "",
    source: Mapping[str, str] | None = None,
) -> T:
    """The variable ``key`` as a ``T``, or ``default`` when it is unset or empty.

    ``required_in_production``: what the value must be, said when production
    starts without it (an empty string: not required). ``source`` replaces
    ``os.environ`` (tests).
    """
    value = _raw(key, source)
    required = bool(required_in_production) and app_env(source) == "production"
    if not value:
        if required:
            raise ImproperlyConfigured(f"production needs {key}: {required_in_production}")
        return default
    try:
        result = cast(value)
    except (TypeError, ValueError) as exc:
        raise ImproperlyConfigured(f"{key}={value!r} is not a valid value: {exc}") from exc
    if required and not result:  # set, but to nothing (ALLOWED_HOSTS=",")
        raise ImproperlyConfigured(f"production needs {key}: {required_in_production}")
    return result
