"""RSI mean reversion: BUY when Wilder's RSI climbs back above the oversold
level, SELL when it falls back below the overbought level (the signal is on
the candle of the crossing back, not while RSI stays beyond the level)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from trading.candles import Candles
from trading.strategies.base import Action, ParamSpec, SignalSeries, Strategy
from trading.strategies.indicators import rsi

# Wilder's RSI depends on every past candle, fading as ((period-1)/period)^n:
# after 20 periods the start of the series moves the value by less than 1e-6.
CONVERGENCE_PERIODS = 20


class RsiReversion(Strategy):
    name = "rsi_reversion"
    label = "RSI mean reversion"
    params_schema = (
        ParamSpec("period", int, 14, 2, 100, "Candles in Wilder's RSI"),
        ParamSpec("oversold", float, 30.0, 1.0, 50.0, "BUY when RSI climbs back above this level"),
        ParamSpec("overbought", float, 70.0, 50.0, 99.0, "SELL when RSI falls back below this level"),
    )

    def cross_check(self, params: dict[str, Any]) -> dict[str, str]:
        if params["oversold"] >= params["overbought"]:
            return {"oversold": f"must be less than overbought ({params['overbought']:g})"}
        return {}

    def warmup(self, params: Mapping[str, Any] | None) -> int:
        # RSI exists from index period; the crossing needs the one before it too.
        return self.validate(params)["period"] + 2

    def lookback(self, params: Mapping[str, Any] | None) -> int:
        return self.warmup(params) + CONVERGENCE_PERIODS * self.validate(params)["period"]

    def compute(self, candles: Candles, params: dict[str, Any]) -> SignalSeries:
        values = rsi(candles.close, params["period"])
        previous = np.full_like(values, np.nan)
        previous[1:] = values[:-1]
        # NaN compares False, so warm-up candles never signal.
        buy = (previous < params["oversold"]) & (values >= params["oversold"])
        sell = (previous > params["overbought"]) & (values <= params["overbought"])
        actions = np.zeros(len(candles), dtype=np.int8)
        actions[buy] = Action.BUY
        actions[sell] = Action.SELL
        return SignalSeries(actions, {"rsi": values})

    def describe(
        self,
        params: dict[str, Any],
        action: Action,
        values: dict[str, float],
        series: SignalSeries,
        i: int,
    ) -> str:
        name = f"RSI{params['period']}"
        low, high = f"{params['oversold']:g}", f"{params['overbought']:g}"
        now = values["rsi"]
        before = float(series.indicators["rsi"][i - 1])
        if action == Action.BUY:
            return f"{name} crossed back above {low} ({before:.2f} → {now:.2f})"
        if action == Action.SELL:
            return f"{name} crossed back below {high} ({before:.2f} → {now:.2f})"
        if now < params["oversold"]:
            return f"{name} {now:.2f} is below {low} (oversold): waiting for it to climb back"
        if now > params["overbought"]:
            return f"{name} {now:.2f} is above {high} (overbought): waiting for it to fall back"
        return f"{name} {now:.2f} between {low} and {high}: no crossing"
