"""A bot's risk limits: their schema, defaults and bounds (pure, no Django).

Stored as JSON on each config version (``BotConfig.risk_limits``) through
:meth:`RiskLimits.to_dict`, where Decimals are strings so no digit is lost, and
read back with :meth:`RiskLimits.from_dict`. Fractions are decimals: 0.05 is 5 %.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from decimal import Decimal, InvalidOperation
from typing import Any

SIZING_MODES = ("fraction", "fixed_quote")

# Inclusive bounds of every numeric limit (the advisor proposes within them).
LIMIT_BOUNDS: dict[str, tuple[Decimal | int, Decimal | int]] = {
    "fraction_of_equity": (Decimal("0.001"), Decimal("1")),
    "fixed_quote": (Decimal("1"), Decimal("1000000")),
    "atr_period": (2, 500),
    "risk_per_trade": (Decimal("0.0001"), Decimal("0.1")),
    "max_position_notional": (Decimal("1"), Decimal("10000000")),
    "max_position_pct_equity": (Decimal("0.001"), Decimal("1")),
    # Spot only: no leverage, so exposure never exceeds equity.
    "max_total_exposure_pct": (Decimal("0.001"), Decimal("1")),
    "daily_loss_limit_pct": (Decimal("0.001"), Decimal("1")),
    "max_drawdown_pct": (Decimal("0.001"), Decimal("1")),
    # 0 turns the cooldown off.
    "cooldown_after_losses": (0, 100),
    "cooldown_candles": (0, 100000),
    "max_order_notional": (Decimal("1"), Decimal("10000000")),
    "stale_after_timeframes": (1, 1000),
}


class LimitsError(ValueError):
    """Invalid risk limits; ``field_errors`` maps each bad field to why."""

    def __init__(self, field_errors: dict[str, str]) -> None:
        self.field_errors = dict(field_errors)
        super().__init__("; ".join(f"{k}: {v}" for k, v in sorted(self.field_errors.items())))


@dataclass(frozen=True)
class RiskLimits:
    # How a BUY is sized: a fraction of equity, or a fixed amount of the quote asset.
    sizing_mode: str = "fraction"
    fraction_of_equity: Decimal = Decimal("0.1")
    fixed_quote: Decimal = Decimal("1000")
    # With ATR scaling a BUY risks ``risk_per_trade`` of equity per ATR of price
    # move: quantity = equity * risk_per_trade / ATR (then capped like any size).
    atr_scaling: bool = False
    atr_period: int = 14
    risk_per_trade: Decimal = Decimal("0.01")
    # Caps: a BUY is shrunk to fit every one of them.
    max_position_notional: Decimal = Decimal("5000")
    max_position_pct_equity: Decimal = Decimal("0.5")
    max_total_exposure_pct: Decimal = Decimal("1.0")
    max_order_notional: Decimal = Decimal("5000")
    # Hard stops.
    daily_loss_limit_pct: Decimal = Decimal("0.05")
    max_drawdown_pct: Decimal = Decimal("0.2")
    cooldown_after_losses: int = 3
    cooldown_candles: int = 60
    stale_after_timeframes: int = 2

    def __post_init__(self) -> None:
        errors = _check({f.name: getattr(self, f.name) for f in fields(self)})
        if errors:
            raise LimitsError(errors)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> RiskLimits:
        """Limits from stored JSON: missing fields take their defaults; every
        bad field is reported at once. Decimals may be given as strings (as
        :meth:`to_dict` writes them), integers or floats (read by their repr)."""
        data = dict(data or {})
        errors: dict[str, str] = {}
        names = {f.name: f for f in fields(cls)}
        for key in data:
            if key not in names:
                errors[str(key)] = "unknown limit"
        values: dict[str, Any] = {}
        for name in names:
            if name not in data:
                continue
            value, error = _convert(name, data[name])
            if error is None:
                values[name] = value
            else:
                errors[name] = error
        errors.update({k: v for k, v in _check(values).items() if k not in errors})
        if errors:
            raise LimitsError(errors)
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return {
            f.name: str(value) if isinstance(value := getattr(self, f.name), Decimal) else value
            for f in fields(self)
        }


_DEFAULTS = {f.name: f.default for f in fields(RiskLimits)}


def _convert(name: str, value: Any) -> tuple[Any, str | None]:
    default = _DEFAULTS[name]
    if isinstance(default, bool):
        return (value, None) if isinstance(value, bool) else (None, "must be true or false")
    if isinstance(value, bool):
        return None, "must be a number, not true/false"
    if isinstance(default, int):
        return (value, None) if isinstance(value, int) else (None, "must be a whole number")
    if isinstance(default, Decimal):
        try:
            if isinstance(value, Decimal):
                number = value
            elif isinstance(value, str | int):
                number = Decimal(value.strip() if isinstance(value, str) else value)
            elif isinstance(value, float):
                number = Decimal(repr(value))
            else:
                return None, "must be a decimal number"
        except InvalidOperation:
            return None, "must be a decimal number"
        if not number.is_finite():
            return None, "must be a finite number"
        return number, None
    return (value, None) if isinstance(value, str) else (None, "must be text")


def _check(values: Mapping[str, Any]) -> dict[str, str]:
    """Type and bound errors of already-converted values."""
    errors: dict[str, str] = {}
    for name, value in values.items():
        default = _DEFAULTS[name]
        if isinstance(default, bool):
            if not isinstance(value, bool):
                errors[name] = "must be true or false"
            continue
        if isinstance(default, Decimal) and (not isinstance(value, Decimal) or not value.is_finite()):
            errors[name] = "must be a finite Decimal"
            continue
        if isinstance(default, int) and (isinstance(value, bool) or not isinstance(value, int)):
            errors[name] = "must be a whole number"
            continue
        if name == "sizing_mode" and value not in SIZING_MODES:
            errors[name] = f"must be one of {', '.join(SIZING_MODES)}"
        if name in LIMIT_BOUNDS:
            low, high = LIMIT_BOUNDS[name]
            if not low <= value <= high:
                errors[name] = f"must be between {low} and {high}, got {value}"
    return errors
