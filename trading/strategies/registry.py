"""The strategies a bot can run, by name."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from trading.strategies.base import Strategy
from trading.strategies.donchian_breakout import DonchianBreakout
from trading.strategies.rsi_reversion import RsiReversion
from trading.strategies.sma_cross import SmaCross


class UnknownStrategy(KeyError):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name

    def __str__(self) -> str:
        return f"unknown strategy {self.name!r}: use one of {', '.join(sorted(STRATEGIES))}"


STRATEGIES: Mapping[str, Strategy] = MappingProxyType(
    {strategy.name: strategy for strategy in (SmaCross(), RsiReversion(), DonchianBreakout())}
)


def get_strategy(name: str) -> Strategy:
    try:
        return STRATEGIES[name]
    except KeyError:
        raise UnknownStrategy(name) from None


def list_strategies() -> list[Strategy]:
    return [STRATEGIES[name] for name in sorted(STRATEGIES)]
