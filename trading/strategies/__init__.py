"""Trading strategies: pure functions of candles and params (see base.py)."""

from trading.strategies.base import Action, ParamError, ParamSpec, Signal, SignalSeries, Strategy
from trading.strategies.registry import STRATEGIES, UnknownStrategy, get_strategy, list_strategies

__all__ = [
    "STRATEGIES",
    "Action",
    "ParamError",
    "ParamSpec",
    "Signal",
    "SignalSeries",
    "Strategy",
    "UnknownStrategy",
    "get_strategy",
    "list_strategies",
]
