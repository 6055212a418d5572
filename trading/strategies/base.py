"""What every strategy is: its parameters, its vectorised signals and their
explanation (pure: no Django, no clock, no network).

A strategy turns a :class:`~trading.candles.Candles` series into one action per
candle. The action at index ``i`` may use candles ``0..i`` only (never a later
one), so the backtester can compute the whole series at once and a live cycle
gets the same answer for its newest candle.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, ClassVar

import numpy as np

from trading.candles import Candles


class Action(IntEnum):
    SELL = -1
    HOLD = 0
    BUY = 1


class ParamError(ValueError):
    """Invalid strategy parameters; ``field_errors`` maps each bad field to why."""

    def __init__(self, field_errors: dict[str, str]) -> None:
        self.field_errors = dict(field_errors)
        super().__init__("; ".join(f"{k}: {v}" for k, v in sorted(self.field_errors.items())))


@dataclass(frozen=True)
class ParamSpec:
    name: str
    type: type  # int or float
    default: int | float
    minimum: int | float
    maximum: int | float
    description: str

    def __post_init__(self) -> None:
        if self.type not in (int, float):
            raise TypeError(f"parameter {self.name}: type must be int or float")
        if not self.minimum <= self.default <= self.maximum:
            raise ValueError(f"parameter {self.name}: default {self.default} outside its bounds")


CrossCheck = Callable[[dict[str, Any]], dict[str, str]]


def _check_value(spec: ParamSpec, value: Any) -> tuple[int | float | None, str | None]:
    # bool is a subclass of int in Python; a flag is never a valid number here.
    if isinstance(value, bool):
        return None, f"must be {'an integer' if spec.type is int else 'a number'}, not a boolean"
    if spec.type is int:
        if not isinstance(value, int):
            return None, f"must be an integer, got {type(value).__name__}"
        checked: int | float = value
    else:
        if not isinstance(value, int | float):
            return None, f"must be a number, got {type(value).__name__}"
        checked = float(value)
        if not math.isfinite(checked):
            return None, "must be a finite number"
    if not spec.minimum <= checked <= spec.maximum:
        return None, f"must be between {spec.minimum} and {spec.maximum}, got {value}"
    return checked, None


def validate_params(
    schema: tuple[ParamSpec, ...],
    params: Mapping[str, Any] | None,
    cross_check: CrossCheck | None = None,
) -> dict[str, Any]:
    """Params with defaults filled in, or :class:`ParamError` naming every bad field.

    Integers are accepted for float parameters (and returned as floats); floats
    are not accepted for integer parameters, nor booleans for either.
    ``cross_check`` runs only when every field is valid on its own.
    """
    params = dict(params or {})
    errors: dict[str, str] = {}
    known = {spec.name for spec in schema}
    for key in params:
        if key not in known:
            errors[str(key)] = "unknown parameter"
    clean: dict[str, Any] = {}
    for spec in schema:
        if spec.name not in params:
            clean[spec.name] = spec.default
            continue
        value, error = _check_value(spec, params[spec.name])
        if error is not None:
            errors[spec.name] = error
        else:
            clean[spec.name] = value
    if not errors and cross_check is not None:
        errors.update(cross_check(clean))
    if errors:
        raise ParamError(errors)
    return clean


@dataclass(frozen=True)
class SignalSeries:
    """One action per candle (int8: -1, 0, 1) and the indicators behind them
    (float64, NaN while warming up), each array as long as the candles."""

    actions: np.ndarray
    indicators: dict[str, np.ndarray]

    def __len__(self) -> int:
        return int(self.actions.shape[0])


@dataclass(frozen=True)
class Signal:
    """The action for one candle, why, and the indicator values (only those
    defined at that candle, plus its close)."""

    action: Action
    reason: str
    indicators: dict[str, float]
    candle_open_time: int  # epoch ms


def fmt_price(value: float) -> str:
    """A price for a reason string: ``105,612.31``, ``2.5123``, ``0.00031234``."""
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.2f}"
    if magnitude >= 1:
        return f"{value:,.4f}"
    return f"{value:.8g}"


_PLAIN = (int, float, bool, str, type(None))


def _params_key(params: Mapping[str, Any] | None) -> tuple[Any, ...] | None:
    """A key that tells params apart exactly (by type and repr, so that 1 is
    not 1.0 and -0.0 is not 0.0), or None for values other than plain numbers,
    strings and None."""
    if params is None:
        return ()
    if not isinstance(params, dict):
        return None
    key = []
    for name, value in params.items():
        if type(name) is not str or type(value) not in _PLAIN:
            return None
        key.append((name, type(value), repr(value)))
    return tuple(key)


class Strategy(ABC):
    """Base class of every strategy. Subclasses set ``name``, ``label`` and
    ``params_schema`` and implement ``warmup``, ``compute`` and ``explain``."""

    name: ClassVar[str]
    label: ClassVar[str]
    params_schema: ClassVar[tuple[ParamSpec, ...]]

    def cross_check(self, params: dict[str, Any]) -> dict[str, str]:
        """Rules between fields, on params that are each valid alone."""
        return {}

    def validate(self, params: Mapping[str, Any] | None) -> dict[str, Any]:
        key = _params_key(params)
        if key is None:
            return validate_params(self.params_schema, params, self.cross_check)
        # The same params validate the same way: remember the result (a copy
        # is returned each time, so callers may change theirs).
        known = self.__dict__.setdefault("_validated", {})
        clean = known.get(key)
        if clean is None:
            clean = validate_params(self.params_schema, params, self.cross_check)
            if len(known) < 256:
                known[key] = clean
        return dict(clean)

    def defaults(self) -> dict[str, Any]:
        return {spec.name: spec.default for spec in self.params_schema}

    @abstractmethod
    def warmup(self, params: Mapping[str, Any] | None) -> int:
        """The fewest candles a series must hold for its newest candle to be
        able to carry a signal. ``actions[: warmup - 1]`` are always HOLD."""

    def lookback(self, params: Mapping[str, Any] | None) -> int:
        """Candles a live cycle should load so that its newest signal equals
        the one a computation over the whole history gives. Equal to
        :meth:`warmup` unless an indicator depends on all past candles."""
        return self.warmup(params)

    def signals(self, candles: Candles, params: Mapping[str, Any] | None) -> SignalSeries:
        """Actions and indicators for every candle of ``candles`` (params are
        validated first; missing ones take their defaults)."""
        clean = self.validate(params)
        series = self.compute(candles, clean)
        n = len(candles)
        if series.actions.shape != (n,) or series.actions.dtype != np.int8:
            raise AssertionError(f"{self.name}: actions must be int8 of length {n}")
        for key, values in series.indicators.items():
            if values.shape != (n,) or values.dtype != np.float64:
                raise AssertionError(f"{self.name}: indicator {key} must be float64 of length {n}")
        return series

    @abstractmethod
    def compute(self, candles: Candles, params: dict[str, Any]) -> SignalSeries:
        """The vectorised work, on validated params."""

    def explain(
        self, candles: Candles, params: Mapping[str, Any] | None, series: SignalSeries, i: int
    ) -> Signal:
        """The signal at candle ``i`` of ``series`` (computed from ``candles``
        and ``params``) with a reason a person can read."""
        clean = self.validate(params)
        n = len(candles)
        if len(series) != n:
            raise ValueError("series and candles differ in length")
        index = i + n if i < 0 else i
        if not 0 <= index < n:
            raise IndexError(f"candle {i} out of range for {n} candles")
        values = {
            key: float(array[index])
            for key, array in series.indicators.items()
            if np.isfinite(array[index])
        }
        values["close"] = float(candles.close[index])
        action = Action(int(series.actions[index]))
        need = self.warmup(clean)
        if index + 1 < need:
            reason = f"warming up: {index + 1} of the {need} candles {self.label} needs before a signal"
        else:
            reason = self.describe(clean, action, values, series, index)
        return Signal(action, reason, values, int(candles.open_time[index]))

    @abstractmethod
    def describe(
        self,
        params: dict[str, Any],
        action: Action,
        values: dict[str, float],
        series: SignalSeries,
        i: int,
    ) -> str:
        """The reason for ``action`` at candle ``i`` (past the warm-up, so
        every indicator is defined there and at ``i - 1``)."""
