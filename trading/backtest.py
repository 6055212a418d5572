"""The backtester: the live strategy, risk engine and paper fill model over
historical candles, in memory (pure: no Django, no clock, no network).

Semantics are those of live cycles, so that a replay through ``run_cycle``
gives identical trades (a test proves it):

- a signal on the closed candle t is decided at t's close with the price the
  order would meet (the open of candle t+1) and filled there, plus slippage;
- fees on each side; one position per bot; long only on spot;
- equity snapshots are marked at each candle's close with the holdings after
  that candle's cycle; the peak and the UTC day's starting equity come from them;
- a drawdown beyond the limit stops the system (as the live cycle does through
  the state service): no more trades;
- an open position is closed at the last candle's close at the end.

Signals are computed vectorised over the whole series; the loop runs only on
candles with a BUY or SELL signal, and equity between them is vectorised.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import numpy as np

from risk.engine import PortfolioView, RiskSignal, evaluate
from risk.limits import RiskLimits
from trading import timeframes
from trading.candles import Candles, to_decimal
from trading.execution.paper import OrderRequest, PaperFillModel
from trading.market_rules import MarketRules
from trading.metrics import Metrics
from trading.metrics import compute as compute_metrics
from trading.portfolio import Portfolio
from trading.strategies.base import Action, validate_params
from trading.strategies.registry import get_strategy

ZERO = Decimal("0")
DAY_MS = 86_400_000


@dataclass(frozen=True)
class Trade:
    entry_time: datetime
    exit_time: datetime
    entry_price: Decimal
    exit_price: Decimal
    quantity: Decimal
    fees: Decimal
    pnl: Decimal
    entry_reason: str
    exit_reason: str


@dataclass
class BacktestResult:
    symbol: str
    timeframe: str
    strategy: str
    params: dict[str, Any]
    initial_cash: Decimal
    final_cash: Decimal
    trades: list[Trade]
    open_time: np.ndarray  # int64 ms, one per candle
    equity: np.ndarray  # float64 marks, one per candle (a chart series, not money)
    metrics: Metrics
    blocks: Counter[str] = field(default_factory=Counter)
    halted_at: datetime | None = None

    @property
    def final_equity(self) -> Decimal:
        return self.final_cash


@dataclass(frozen=True)
class BacktestSettings:
    strategy: str
    params: dict[str, Any]
    limits: RiskLimits
    rules: MarketRules
    initial_cash: Decimal = Decimal("10000")
    fee_bps: Decimal = Decimal("10")
    slippage_bps: Decimal = Decimal("0")


def _ms_to_dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


class _Ledger:
    """Cash and holdings after each event, for equity look-ups at past candles."""

    def __init__(self, cash: Decimal) -> None:
        self.indexes: list[int] = [-1]
        self.exact: list[tuple[Decimal, Decimal]] = [(cash, ZERO)]
        self.cash: list[float] = [float(cash)]
        self.qty: list[float] = [0.0]

    def add(self, index: int, cash: Decimal, qty: Decimal) -> None:
        self.indexes.append(index)
        self.exact.append((cash, qty))
        self.cash.append(float(cash))
        self.qty.append(float(qty))

    def equity_at(self, index: int, close: np.ndarray) -> Decimal:
        """The equity snapshot of candle ``index``, exactly as a live cycle wrote it."""
        k = bisect.bisect_right(self.indexes, index) - 1
        cash, qty = self.exact[k]
        return cash + qty * to_decimal(close[index])


def run(
    candles: Candles,
    settings: BacktestSettings,
    *,
    progress: Callable[[float], None] | None = None,
) -> BacktestResult:
    """Backtest ``settings`` over ``candles`` (closed candles, oldest first)."""
    strategy = get_strategy(settings.strategy)
    params = validate_params(strategy.params_schema, settings.params)
    limits = settings.limits
    rules = settings.rules
    tf_seconds = timeframes.seconds(candles.timeframe)
    tf_ms = tf_seconds * 1000
    n = len(candles)
    model = PaperFillModel(fee_bps=settings.fee_bps, slippage_bps=settings.slippage_bps)
    portfolio = Portfolio(cash=settings.initial_cash, positions={})
    symbol = candles.symbol
    close = candles.close
    open_ = candles.open
    open_time = candles.open_time

    series = strategy.signals(candles, params)
    events = np.flatnonzero(series.actions[: max(n - 1, 0)])  # the last candle has no next open
    ledger = _Ledger(settings.initial_cash)
    blocks: Counter[str] = Counter()
    trades: list[Trade] = []
    peak = settings.initial_cash  # exact: the highest equity snapshot so far
    marked_until = -1  # candles whose snapshots are folded into ``peak``
    qty = ZERO
    entry: dict[str, Any] | None = None
    consecutive_losses = 0
    last_loss_time: datetime | None = None
    halted_at_index: int | None = None
    day_cache: tuple[int, Decimal] | None = None
    report_every = max(len(events) // 20, 1)

    for count, t in enumerate(events):
        t = int(t)
        if progress is not None and count % report_every == 0:
            progress(count / max(len(events), 1))
        # The HOLD cycles since the last event: check each for a drawdown stop,
        # then fold their snapshots (holdings constant, so vectorised) into the peak.
        if marked_until < t - 1:
            a = marked_until + 1
            if halted_at_index is None and qty > 0:
                halted_at_index = _first_halt(
                    candles, a, t, portfolio, qty, peak, settings, rules, symbol, tf_seconds
                )
            # qty ≥ 0, so the highest mark is at the highest close
            peak = max(peak, portfolio.cash + qty * to_decimal(close[a:t].max()))
            marked_until = t - 1

        now_ms = int(open_time[t]) + tf_ms
        now = _ms_to_dt(now_ms)
        price = to_decimal(open_[t + 1])
        equity = portfolio.cash + qty * price
        midnight_ms = now_ms - now_ms % DAY_MS
        if day_cache is None or day_cache[0] != midnight_ms:
            # equity of the last snapshot taken before the UTC day began
            last_before = int(np.searchsorted(open_time + tf_ms, midnight_ms, side="left")) - 1
            day_equity = (
                ledger.equity_at(last_before, close) if last_before >= 0 else settings.initial_cash
            )
            day_cache = (midnight_ms, day_equity)
        system_state = "RUNNING" if halted_at_index is None or halted_at_index > t else "EMERGENCY_STOP"
        held = portfolio.positions.get(symbol)
        view = PortfolioView(
            cash=portfolio.cash,
            position_qty=qty,
            avg_entry_price=(held.cost_basis / qty) if held is not None and qty else ZERO,
            equity=equity,
            peak_equity=max(peak, equity),
            day_start_equity=day_cache[1],
            other_exposure=ZERO,
            consecutive_losses=consecutive_losses,
            last_loss_candle_time=last_loss_time,
        )
        action = Action(int(series.actions[t]))
        signal = RiskSignal(
            action=action,
            price=price,
            candle_open_time=_ms_to_dt(int(open_time[t])),
            timeframe_seconds=tf_seconds,
            system_state=system_state,
            data_stale=False,
            atr=_atr_at(candles, t, limits.atr_period) if limits.atr_scaling else None,
        )
        decision = evaluate(signal, view, limits, rules, now)
        if decision.emergency_stop and halted_at_index is None:
            halted_at_index = t
        if decision.verdict == "BLOCK":
            blocks.update(r.code for r in decision.reasons)
            continue
        if decision.verdict != "ALLOW":
            continue
        side = decision.side
        assert side is not None
        request = OrderRequest(
            client_order_id=f"bt-{int(open_time[t]) // 1000}-{side[0]}",
            symbol=symbol, side=side, order_type="MARKET", quantity=decision.quantity,
            limit_price=None,
        )
        result = model.fill_market(request, price=price, at=now, rules=rules)
        for fill in result.fills:
            realized = portfolio.apply_fill(symbol, side, fill.quantity, fill.price, fill.fee, fill.filled_at)
            if side == "BUY":
                qty += fill.quantity
                entry = {
                    "time": _ms_to_dt(int(open_time[t + 1])), "price": fill.price,
                    "fee": fill.fee, "reason": strategy.explain(candles, params, series, t).reason,
                }
            else:
                qty -= fill.quantity
                trades.append(_close_trade(entry, fill, realized, _ms_to_dt(int(open_time[t + 1])),
                                           strategy.explain(candles, params, series, t).reason))
                entry = None
                if realized < 0:
                    consecutive_losses += 1
                    last_loss_time = _ms_to_dt(int(open_time[t]))
                else:
                    consecutive_losses = 0
        ledger.add(t, portfolio.cash, qty)
        # this candle's snapshot, with the holdings after its cycle
        peak = max(peak, portfolio.cash + qty * to_decimal(close[t]))
        marked_until = t

    # Close what is still open at the last candle's close.
    if qty > 0 and n > 0:
        last = n - 1
        request = OrderRequest(
            client_order_id="bt-end", symbol=symbol, side="SELL", order_type="MARKET",
            quantity=qty, limit_price=None,
        )
        end_time = _ms_to_dt(int(open_time[last]) + tf_ms)
        result = model.fill_market(request, price=to_decimal(close[last]), at=end_time, rules=rules)
        for fill in result.fills:
            realized = portfolio.apply_fill(symbol, "SELL", fill.quantity, fill.price, fill.fee, fill.filled_at)
            trades.append(_close_trade(entry, fill, realized, end_time, "end of backtest"))
            qty -= fill.quantity
        ledger.add(last, portfolio.cash, qty)

    equity_curve = _equity_curve(ledger, close)
    in_market = _bars_in_market(ledger, n)
    metrics = compute_metrics(equity_curve, [t.pnl for t in trades], tf_seconds, in_market)
    if progress is not None:
        progress(1.0)
    return BacktestResult(
        symbol=symbol,
        timeframe=candles.timeframe,
        strategy=settings.strategy,
        params=params,
        initial_cash=settings.initial_cash,
        final_cash=portfolio.cash,
        trades=trades,
        open_time=open_time,
        equity=equity_curve,
        metrics=metrics,
        blocks=blocks,
        halted_at=_ms_to_dt(int(open_time[halted_at_index])) if halted_at_index is not None else None,
    )


def _close_trade(entry: dict[str, Any] | None, fill: Any, realized: Decimal, when: datetime, reason: str) -> Trade:
    entry = entry or {"time": when, "price": fill.price, "fee": ZERO, "reason": ""}
    return Trade(
        entry_time=entry["time"], exit_time=when, entry_price=entry["price"], exit_price=fill.price,
        quantity=fill.quantity, fees=entry["fee"] + fill.fee, pnl=realized,
        entry_reason=entry["reason"], exit_reason=reason,
    )


def _equity_curve(ledger: _Ledger, close: np.ndarray) -> np.ndarray:
    """Per-candle equity marks: holdings are constant between events."""
    n = len(close)
    starts = np.asarray(ledger.indexes, dtype=np.int64)
    starts[0] = 0
    cash = np.asarray(ledger.cash)
    qty = np.asarray(ledger.qty)
    # Each candle takes the ledger entry in force at it (event index ≤ candle).
    which = np.searchsorted(np.asarray(ledger.indexes[1:], dtype=np.int64), np.arange(n), side="right")
    return cash[which] + qty[which] * close


def _bars_in_market(ledger: _Ledger, n: int) -> int:
    total = 0
    bounds = [*ledger.indexes[1:], n]
    for k in range(len(ledger.indexes)):
        if ledger.qty[k] > 0:
            start = max(ledger.indexes[k], 0)
            total += bounds[k] - start
    return total


def _first_halt(
    candles: Candles, a: int, b: int, portfolio: Portfolio, qty: Decimal, peak: Decimal,
    settings: BacktestSettings, rules: MarketRules, symbol: str, tf_seconds: int,
) -> int | None:
    """The first HOLD cycle in [a, b) at which the risk engine stops the system.

    Floats find the candidates (equity near or beyond the drawdown limit); the
    risk engine itself decides each, exactly, as a live cycle would.
    """
    cash_f, qty_f = float(portfolio.cash), float(qty)
    close, open_ = candles.close, candles.open
    # the equity a cycle at candle j sees: holdings marked at the next open
    seen = cash_f + qty_f * open_[a + 1 : b + 1]
    # the peak it knows: earlier snapshots, marked at each candle's close
    marks = cash_f + qty_f * close[a:b]
    earlier = np.maximum.accumulate(np.concatenate(([float(peak)], marks[:-1])))
    peaks = np.maximum(earlier, seen)
    ratio = (peaks - seen) / peaks
    limit = float(settings.limits.max_drawdown_pct)
    candidates = np.flatnonzero(ratio > limit * (1 - 1e-9))
    if candidates.size == 0:
        return None
    held = portfolio.positions.get(symbol)
    avg_entry = (held.cost_basis / qty) if held is not None and qty else ZERO
    tf_ms = tf_seconds * 1000
    for k in candidates:
        j = a + int(k)
        price = to_decimal(open_[j + 1])
        equity = portfolio.cash + qty * price
        known = peak if j == a else max(peak, portfolio.cash + qty * to_decimal(close[a:j].max()))
        view = PortfolioView(
            cash=portfolio.cash, position_qty=qty, avg_entry_price=avg_entry, equity=equity,
            peak_equity=max(known, equity),
            day_start_equity=equity, other_exposure=ZERO, consecutive_losses=0,
            last_loss_candle_time=None,
        )
        signal = RiskSignal(
            action=Action.HOLD, price=price, candle_open_time=_ms_to_dt(int(candles.open_time[j])),
            timeframe_seconds=tf_seconds, system_state="RUNNING", data_stale=False, atr=None,
        )
        now = _ms_to_dt(int(candles.open_time[j]) + tf_ms)
        if evaluate(signal, view, settings.limits, rules, now).emergency_stop:
            return j
    return None


def _atr_at(candles: Candles, t: int, period: int) -> Decimal | None:
    if t < period:
        return None
    high = candles.high[t - period + 1 : t + 1]
    low = candles.low[t - period + 1 : t + 1]
    prev = candles.close[t - period : t]
    tr = np.maximum.reduce([high - low, np.abs(high - prev), np.abs(low - prev)])
    return to_decimal(float(tr.mean()))
