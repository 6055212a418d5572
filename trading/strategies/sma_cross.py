"""SMA crossover: BUY on the candle where the fast simple moving average of
closes crosses above the slow one, SELL on the candle where it crosses below."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from trading.candles import Candles
from trading.strategies.base import Action, ParamSpec, SignalSeries, Strategy, fmt_price
from trading.strategies.indicators import crossing_indices, sma


class SmaCross(Strategy):
    name = "sma_cross"
    label = "SMA crossover"
    params_schema = (
        ParamSpec("fast", int, 10, 2, 200, "Candles in the fast moving average"),
        ParamSpec("slow", int, 30, 3, 500, "Candles in the slow moving average"),
    )

    def cross_check(self, params: dict[str, Any]) -> dict[str, str]:
        if params["fast"] >= params["slow"]:
            return {"fast": f"must be less than slow ({params['slow']})"}
        return {}

    def warmup(self, params: Mapping[str, Any] | None) -> int:
        # The slow SMA exists from index slow-1; a crossing also needs the one before.
        return self.validate(params)["slow"] + 1

    def compute(self, candles: Candles, params: dict[str, Any]) -> SignalSeries:
        fast = sma(candles.close, params["fast"])
        slow = sma(candles.close, params["slow"])
        # indices rather than boolean masks: setting a few thousand actions by
        # index is much cheaper than two passes of masks over every candle
        up, down = crossing_indices(fast, slow)
        actions = np.zeros(len(candles), dtype=np.int8)
        actions[up] = Action.BUY
        actions[down] = Action.SELL
        return SignalSeries(actions, {"sma_fast": fast, "sma_slow": slow})

    def describe(
        self,
        params: dict[str, Any],
        action: Action,
        values: dict[str, float],
        series: SignalSeries,
        i: int,
    ) -> str:
        fast_name, slow_name = f"SMA{params['fast']}", f"SMA{params['slow']}"
        fast, slow = values["sma_fast"], values["sma_slow"]
        sign = ">" if fast > slow else "<" if fast < slow else "="
        numbers = f"({fmt_price(fast)} {sign} {fmt_price(slow)})"
        if action == Action.BUY:
            return f"{fast_name} crossed above {slow_name} {numbers}"
        if action == Action.SELL:
            return f"{fast_name} crossed below {slow_name} {numbers}"
        side = "above" if fast > slow else "below" if fast < slow else "level with"
        return f"no crossing: {fast_name} {side} {slow_name} {numbers}"
