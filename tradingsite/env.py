"""Fail-loud parsing of settings from the environment.

Every helper raises ``ImproperlyConfigured`` naming the variable and the bad
value, so a typo in a deployment stops the process at start-up instead of
silently falling back to a default.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}

ROLES = ("viewer", "operator", "admin")


def _raw(name: str, environ: Mapping[str, str] | None) -> str | None:
    value = (environ if environ is not None else os.environ).get(name)
    if value is None or value.strip() == "":
        return None
    return value.strip()


def env_str(name: str, default: str = "", environ: Mapping[str, str] | None = None) -> str:
    value = _raw(name, environ)
    return default if value is None else value


def env_bool(name: str, default: bool, environ: Mapping[str, str] | None = None) -> bool:
    value = _raw(name, environ)
    if value is None:
        return default
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(
        f"{name}={value!r} is not a boolean: use one of true/false, 1/0, yes/no, on/off"
    )


def env_int(
    name: str,
    default: int,
    environ: Mapping[str, str] | None = None,
    *,
    minimum: int | None = None,
) -> int:
    value = _raw(name, environ)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not a whole number") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name}={number} must be at least {minimum}")
    return number


def env_list(name: str, default: list[str], environ: Mapping[str, str] | None = None) -> list[str]:
    value = _raw(name, environ)
    if value is None:
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


def env_url(
    name: str,
    default: str,
    environ: Mapping[str, str] | None = None,
    *,
    schemes: tuple[str, ...],
) -> str:
    """A URL whose scheme is one of ``schemes`` and which names a host where it needs one."""
    value = _raw(name, environ)
    if value is None:
        return default
    parts = urlsplit(value)
    scheme = parts.scheme.lower()
    if scheme not in schemes:
        allowed = ", ".join(f"{s}://" for s in schemes)
        raise ImproperlyConfigured(f"{name}={value!r} is not a valid URL: it must start with {allowed}")
    needs_host = scheme not in {"sqlite", "sqla+sqlite", "filesystem", "memory"}
    if needs_host and not parts.hostname:
        raise ImproperlyConfigured(f"{name}={value!r} is not a valid URL: it names no host")
    try:
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not a valid URL: bad port") from None
    return value


def env_choice(
    name: str, default: str, choices: tuple[str, ...], environ: Mapping[str, str] | None = None
) -> str:
    value = _raw(name, environ)
    if value is None:
        return default
    if value.lower() not in choices:
        raise ImproperlyConfigured(f"{name}={value!r} must be one of: {', '.join(choices)}")
    return value.lower()


def env_chat_roles(name: str, environ: Mapping[str, str] | None = None) -> dict[int, str]:
    """``123:operator,-1001:viewer`` → ``{123: "operator", -1001: "viewer"}``."""
    value = _raw(name, environ)
    if value is None:
        return {}
    result: dict[int, str] = {}
    for pair in value.split(","):
        pair = pair.strip()
        if not pair:
            continue
        chat, sep, role = pair.rpartition(":")
        if not sep:
            raise ImproperlyConfigured(f"{name}: {pair!r} is not an id:role pair")
        try:
            chat_id = int(chat)
        except ValueError:
            raise ImproperlyConfigured(f"{name}: {chat!r} in {pair!r} is not a numeric id") from None
        if role not in ROLES:
            raise ImproperlyConfigured(
                f"{name}: role {role!r} in {pair!r} must be one of {', '.join(ROLES)}"
            )
        result[chat_id] = role
    return result


def env_decimal(
    name: str,
    default: str,
    environ: Mapping[str, str] | None = None,
    *,
    minimum: str | None = None,
    maximum: str | None = None,
) -> Decimal:
    value = _raw(name, environ) or default
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise ImproperlyConfigured(f"{name}={value!r} is not a decimal number") from None
    if not number.is_finite():
        raise ImproperlyConfigured(f"{name}={value!r} is not a finite number")
    if minimum is not None and number < Decimal(minimum):
        raise ImproperlyConfigured(f"{name}={value} must be at least {minimum}")
    if maximum is not None and number > Decimal(maximum):
        raise ImproperlyConfigured(f"{name}={value} must be at most {maximum}")
    return number
