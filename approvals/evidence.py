"""Evidence for a proposal: the bot's recent candles backtested under the
configuration before and after the change, side by side for the approver.

Every proposal gets it, from an advisor or a person (``propose`` builds it
unless given). The window is the last ``ADVISOR_EVIDENCE_DAYS`` of the bot's
symbol and timeframe in the candle cache, ending at the newest candle closed by
now; both runs use the same candles, fees and slippage as the paper engine,
and the bot's initial cash.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import Max

from trading import clock, timeframes
from trading.backtest import BacktestResult, BacktestSettings, run
from trading.backtest_data import BacktestDataError, load_candles, market_rules_for
from trading.backtests import result_summary
from trading.candles import Candles
from trading.models import Bot, Candle

CURVE_POINTS = 100


@dataclass(frozen=True)
class EvidenceWindow:
    """The candles a proposal is judged on, or why there are none."""

    symbol: str
    timeframe: str
    days: int
    candles: Candles | None
    start: datetime | None = None
    end: datetime | None = None
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "timeframe": self.timeframe,
            "days": self.days,
            "candles": len(self.candles) if self.candles is not None else 0,
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
            "note": self.note,
        }


def window_for(
    *, symbol: str, timeframe: str, now: datetime | None = None, days: int | None = None
) -> EvidenceWindow:
    """The last ``days`` of cached candles closed by ``now`` (the clock's now by default)."""
    days = days or settings.ADVISOR_EVIDENCE_DAYS
    now = now or clock.now()
    last_closed = timeframes.last_closed_open_time(now, timeframe)
    newest = Candle.objects.filter(
        symbol=symbol, timeframe=timeframe, open_time__lte=last_closed
    ).aggregate(newest=Max("open_time"))["newest"]
    if newest is None:
        return EvidenceWindow(symbol, timeframe, days, None,
                              note=f"no {symbol} {timeframe} candles in the cache up to {now:%Y-%m-%d %H:%M} UTC")
    start = newest - timedelta(days=days) + timeframes.delta(timeframe)
    try:
        candles = load_candles(symbol, timeframe, start=start, end=newest)
    except BacktestDataError as exc:
        return EvidenceWindow(symbol, timeframe, days, None, note=str(exc))
    note = ""
    behind = last_closed - newest
    if behind > timeframes.delta(timeframe) * 2:
        note = f"the cache ends {_age(behind)} before now: the window is the newest {days} days it holds"
    return EvidenceWindow(symbol, timeframe, days, candles, start, newest, note)


def _age(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:.0f} h" if hours < 48 else f"{hours / 24:.0f} days"


def backtest_values(candles: Candles, values: dict[str, Any], *, initial_cash: Decimal) -> BacktestResult:
    """Backtest a whole configuration (strategy, params, limits, symbol) over ``candles``."""
    from risk.limits import RiskLimits

    rules, _ = market_rules_for(values["symbol"])
    return run(candles, BacktestSettings(
        strategy=values["strategy"],
        params=values.get("strategy_params") or {},
        limits=RiskLimits.from_dict(values.get("risk_limits") or {}),
        rules=rules,
        initial_cash=initial_cash,
        fee_bps=settings.PAPER_FEE_BPS,
        slippage_bps=settings.PAPER_SLIPPAGE_BPS,
    ))


def summarise(result: BacktestResult) -> dict[str, Any]:
    """What the approver compares: metrics, blocks, trade count, a short equity curve."""
    summary = result_summary(result)
    curve = summary["equity_curve"]
    if len(curve) > CURVE_POINTS:
        step = (len(curve) - 1) / (CURVE_POINTS - 1)
        curve = [curve[round(i * step)] for i in range(CURVE_POINTS)]
    return {
        "metrics": summary["metrics"],
        "blocks": summary["blocks"],
        "trade_count": len(result.trades),
        "equity_curve": curve,
        "halted_at": result.halted_at.isoformat() if result.halted_at else None,
    }


def _side(window: EvidenceWindow, values: dict[str, Any], initial_cash: Decimal) -> dict[str, Any]:
    assert window.candles is not None
    try:
        return summarise(backtest_values(window.candles, values, initial_cash=initial_cash))
    except ValueError as exc:  # e.g. a configuration the backtester refuses
        return {"error": str(exc)}


def _change(before: dict[str, Any], after: dict[str, Any], key: str) -> str | None:
    old, new = before.get("metrics", {}).get(key), after.get("metrics", {}).get(key)
    if old is None or new is None:
        return None
    return str(Decimal(new) - Decimal(old))


def build(
    bot: Bot, before: dict[str, Any], after: dict[str, Any], *, window: EvidenceWindow | None = None
) -> dict[str, Any]:
    """Backtest ``before`` and ``after`` (whole config values) on the bot's recent
    candles. ``window`` lets a caller that already loaded them pass them in.

    Without candles the evidence says why; the proposal still goes to a human.
    """
    if window is None:
        window = window_for(symbol=before["symbol"], timeframe=before["timeframe"])
    evidence: dict[str, Any] = {
        "window": window.as_dict(),
        "initial_cash": str(bot.initial_cash),
        "fee_bps": str(settings.PAPER_FEE_BPS),
        "slippage_bps": str(settings.PAPER_SLIPPAGE_BPS),
    }
    if window.candles is None or len(window.candles) == 0:
        evidence["available"] = False
        evidence["reason"] = window.note or "no candles to backtest on"
        return evidence
    old = _side(window, before, bot.initial_cash)
    new = _side(window, after, bot.initial_cash)
    evidence.update({
        "available": "error" not in old and "error" not in new,
        "before": old,
        "after": new,
        # after − before, for the figures an approver reads first
        "difference": {
            "total_return": _change(old, new, "total_return"),
            "max_drawdown": _change(old, new, "max_drawdown"),
            "sharpe": _change(old, new, "sharpe"),
            "trade_count": (new["trade_count"] - old["trade_count"])
            if "trade_count" in old and "trade_count" in new else None,
        },
    })
    return evidence
