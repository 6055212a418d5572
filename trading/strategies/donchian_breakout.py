"""Donchian breakout: BUY when a candle closes above the highest high of the
previous N candles, SELL when one closes below the lowest low of the previous
M candles. The channels exclude the current candle. A signal is given on the
first candle of a breakout, not again while the close stays beyond the channel."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from trading.candles import Candles
from trading.strategies.base import Action, ParamSpec, SignalSeries, Strategy, fmt_price
from trading.strategies.indicators import previous_max, previous_min


class DonchianBreakout(Strategy):
    name = "donchian_breakout"
    label = "Donchian breakout"
    params_schema = (
        ParamSpec("entry_period", int, 20, 2, 500, "BUY above the highest high of this many previous candles"),
        ParamSpec("exit_period", int, 10, 2, 500, "SELL below the lowest low of this many previous candles"),
    )

    def warmup(self, params: Mapping[str, Any] | None) -> int:
        # Both channels exist from index max(N, M); "first candle of a breakout"
        # needs the candle before it to have channels too.
        p = self.validate(params)
        return max(p["entry_period"], p["exit_period"]) + 2

    def compute(self, candles: Candles, params: dict[str, Any]) -> SignalSeries:
        upper = previous_max(candles.high, params["entry_period"])
        lower = previous_min(candles.low, params["exit_period"])
        ready = ~(np.isnan(upper) | np.isnan(lower))
        above = ready & (candles.close > upper)
        below = ready & (candles.close < lower)
        ready_before = np.zeros_like(ready)
        ready_before[1:] = ready[:-1]
        above_before = np.zeros_like(above)
        above_before[1:] = above[:-1]
        below_before = np.zeros_like(below)
        below_before[1:] = below[:-1]
        actions = np.zeros(len(candles), dtype=np.int8)
        actions[above & ready_before & ~above_before] = Action.BUY
        actions[below & ready_before & ~below_before] = Action.SELL
        return SignalSeries(actions, {"donchian_high": upper, "donchian_low": lower})

    def describe(
        self,
        params: dict[str, Any],
        action: Action,
        values: dict[str, float],
        series: SignalSeries,
        i: int,
    ) -> str:
        n, m = params["entry_period"], params["exit_period"]
        close, high, low = values["close"], values["donchian_high"], values["donchian_low"]
        if action == Action.BUY:
            return f"close {fmt_price(close)} broke above the {n}-candle high {fmt_price(high)}"
        if action == Action.SELL:
            return f"close {fmt_price(close)} broke below the {m}-candle low {fmt_price(low)}"
        if close > high:
            return f"close {fmt_price(close)} still above the {n}-candle high {fmt_price(high)}: breakout already signalled"
        if close < low:
            return f"close {fmt_price(close)} still below the {m}-candle low {fmt_price(low)}: breakdown already signalled"
        return (
            f"close {fmt_price(close)} inside the channel "
            f"({n}-candle high {fmt_price(high)}, {m}-candle low {fmt_price(low)})"
        )
