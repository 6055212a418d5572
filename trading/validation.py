"""The one place a bot configuration is validated before it becomes a version.

``bot_config_create`` calls :func:`validate_config` on the merged values of
every new version, whichever way it comes (API, admin, approval, rollback).
The shape is checked first, then the strategy's parameters against its
schema (``trading.strategies``) and the risk limits against their bounds
(``risk.limits``).
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Any

from django.conf import settings

from trading.models import Mode
from trading.timeframes import TIMEFRAME_SECONDS

SYMBOL_RE = re.compile(r"^[A-Z0-9]{2,20}$")
STRATEGY_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class InvalidInput(ValueError):
    """Input a service refuses; ``field_errors`` says why, per field (an API 400)."""

    def __init__(self, field_errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in field_errors.items()))
        self.field_errors = field_errors


class ConfigInvalid(InvalidInput):
    """A configuration that may not become a version."""


class Conflict(Exception):
    """A request that contradicts the current state of things (an API 409)."""

    def __init__(self, message: str, code: str = "conflict") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def _non_finite(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, Decimal):
        return not value.is_finite()
    if isinstance(value, dict):
        return any(_non_finite(item) for item in value.values())
    if isinstance(value, list):
        return any(_non_finite(item) for item in value)
    return False


def exact_numbers(value: Any) -> Any:
    """Fractional numbers as decimal strings (``0.05`` → ``"0.05"``), recursively.

    Limits and parameters are often money or ratios; a binary float would round
    them, so they are stored as the decimal text that was written.
    """
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return format(Decimal(repr(value)), "f")
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dict):
        return {key: exact_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [exact_numbers(item) for item in value]
    return value


def validate_config(values: dict[str, Any]) -> dict[str, Any]:
    """Check a complete configuration; return it (normalised) or raise :class:`ConfigInvalid`."""
    errors: dict[str, list[str]] = {}
    symbol = values.get("symbol")
    if not isinstance(symbol, str) or not SYMBOL_RE.match(symbol):
        errors["symbol"] = ["a Binance symbol: 2 to 20 upper-case letters or digits, e.g. BTCUSDT"]
    if values.get("timeframe") not in TIMEFRAME_SECONDS:
        errors["timeframe"] = [f"one of {', '.join(TIMEFRAME_SECONDS)}"]
    strategy = values.get("strategy")
    if not isinstance(strategy, str) or not STRATEGY_RE.match(strategy):
        errors["strategy"] = ["a strategy name: lower-case letters, digits and underscores"]
    for field in ("strategy_params", "risk_limits"):
        value = values.get(field, {})
        if not isinstance(value, dict):
            errors[field] = ["must be a JSON object"]
        elif _non_finite(value):
            errors[field] = ["numbers must be finite"]
    mode = values.get("mode", Mode.PAPER)
    if mode not in Mode.values:
        errors["mode"] = [f"one of {', '.join(Mode.values)}"]
    elif mode == Mode.LIVE and not settings.LIVE_TRADING_ENABLED:
        errors["mode"] = ["live mode needs LIVE_TRADING_ENABLED=true"]
    if errors:
        raise ConfigInvalid(errors)
    from risk.limits import RiskLimits
    from trading.strategies.registry import UnknownStrategy, get_strategy

    # Strategy parameters are plain numbers for the indicator maths, checked
    # against the strategy's own schema (defaults filled in, so every version
    # says exactly what it runs with); risk limits are money, kept as exact
    # decimal strings and checked against their bounds.
    params: dict[str, Any] = {}
    try:
        strategy_obj = get_strategy(strategy)
    except UnknownStrategy as exc:
        errors["strategy"] = [str(exc).strip("'\"")]
    else:
        try:
            params = strategy_obj.validate(values.get("strategy_params") or {})
        except ValueError as exc:
            for key, message in getattr(exc, "field_errors", {"": str(exc)}).items():
                errors[f"strategy_params.{key}".rstrip(".")] = [message]
    limits = exact_numbers(values.get("risk_limits") or {})
    try:
        RiskLimits.from_dict(limits)
    except ValueError as exc:
        for key, message in getattr(exc, "field_errors", {"": str(exc)}).items():
            errors[f"risk_limits.{key}".rstrip(".")] = [message]
    if errors:
        raise ConfigInvalid(errors)
    return {**values, "strategy_params": params, "risk_limits": limits}
