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
import functools
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np

from risk.engine import PortfolioView, RiskSignal, evaluate
from risk.limits import RiskLimits
from trading import timeframes
from trading.candles import Candles, to_decimal, to_decimals
from trading.execution.paper import OrderRequest, PaperFillModel
from trading.market_rules import MarketRules
from trading.metrics import Metrics
from trading.metrics import compute as compute_metrics
from trading.portfolio import Portfolio
from trading.strategies.base import Action
from trading.strategies.registry import get_strategy

ZERO = Decimal("0")
DAY_MS = 86_400_000


@dataclass(slots=True, unsafe_hash=True)
class Trade:
    entry_time: datetime
    exit_time: datetime
    entry_price: Decimal
    exit_price: Decimal
    quantity: Decimal
    fees: Decimal
    pnl: Decimal
    # the candles whose signals opened and closed the trade (-1: end of backtest);
    # their reasons are worded on demand (``BacktestResult.reasons``)
    entry_index: int
    exit_index: int


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
    explain: Callable[[int], str] | None = None

    @property
    def final_equity(self) -> Decimal:
        return self.final_cash

    def reasons(self, trade: Trade) -> tuple[str, str]:
        """Why the trade was opened and closed, in the strategy's words."""
        def word(index: int) -> str:
            if index < 0:
                return "end of backtest"
            return self.explain(index) if self.explain else ""
        return word(trade.entry_index), word(trade.exit_index)


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

    def add(self, index: int, cash: Decimal, qty: Decimal, cash_f: float, qty_f: float) -> None:
        """``cash_f`` and ``qty_f``: ``float(cash)`` and ``float(qty)``, which the caller has."""
        self.indexes.append(index)
        self.exact.append((cash, qty))
        self.cash.append(cash_f)
        self.qty.append(qty_f)

    def equity_at(self, index: int, close: np.ndarray) -> Decimal:
        """The equity snapshot of candle ``index``, exactly as a live cycle wrote it."""
        k = bisect.bisect_right(self.indexes, index) - 1
        cash, qty = self.exact[k]
        return cash + qty * to_decimal(close[index])


# Within ±2^33 s of 1970 (years 1697–2242), ``datetime.fromtimestamp(ms / 1000)``
# rounds to the exact millisecond: the float's error is under half a microsecond.
_EXACT_MS = 2**33 * 1000


def _utc_times(ms: list[int]) -> list[datetime]:
    """``[_ms_to_dt(m) for m in ms]``: each time in range is the previous one
    plus a whole number of milliseconds (exact, and far cheaper), the steps
    made once per distinct length."""
    times: list[datetime] = []
    steps: dict[int, timedelta] = {}
    previous_ms, previous = 0, None
    for m in ms:
        if previous is not None and -_EXACT_MS < m < _EXACT_MS:
            step = steps.get(m - previous_ms)
            if step is None:
                step = steps[m - previous_ms] = timedelta(milliseconds=m - previous_ms)
            current = previous + step
        else:
            current = _ms_to_dt(m)
        times.append(current)
        previous_ms, previous = m, current if -_EXACT_MS < m < _EXACT_MS else None
    return times


_ACTIONS = {int(action): action for action in Action}


def _segment_extremes(
    candles: Candles, events: np.ndarray
) -> tuple[list[float], list[float]] | None:
    """For each event t (after the previous event p, or -1), the highest close
    of candles p+1 … t-1 and the lowest open of candles p+2 … t (−inf and
    +inf when there are none); None unless every price is finite and positive,
    where the maximum of a range is one unambiguous float."""
    close, open_ = candles.close, candles.open
    if not (np.isfinite(close).all() and np.isfinite(open_).all() and (close > 0).all() and (open_ > 0).all()):
        return None
    if events.size == 0:
        return [], []
    previous = np.concatenate(([-1], events[:-1]))
    top = _reduce_ranges(np.maximum, close, previous + 1, events, -np.inf)
    low = _reduce_ranges(np.minimum, open_, previous + 2, events + 1, np.inf)
    return top.tolist(), low.tolist()


def _reduce_ranges(
    ufunc: np.ufunc, values: np.ndarray, starts: np.ndarray, ends: np.ndarray, empty: float
) -> np.ndarray:
    """``ufunc`` over ``values[starts[k]:ends[k]]`` for each k (``empty`` where the range is)."""
    if starts.size == 0:
        return np.empty(0, dtype=np.float64)
    bounds = np.empty(2 * starts.size, dtype=np.intp)
    bounds[0::2] = starts
    bounds[1::2] = ends
    np.minimum(bounds, values.shape[0] - 1, out=bounds)
    reduced = ufunc.reduceat(values, bounds)[0::2]
    return np.where(starts < ends, reduced, empty)


def run(
    candles: Candles,
    settings: BacktestSettings,
    *,
    progress: Callable[[float], None] | None = None,
) -> BacktestResult:
    """Backtest ``settings`` over ``candles`` (closed candles, oldest first)."""
    strategy = get_strategy(settings.strategy)
    params = strategy.validate(settings.params)
    limits = settings.limits
    rules = settings.rules
    tf_seconds = timeframes.seconds(candles.timeframe)
    tf_ms = tf_seconds * 1000
    n = len(candles)
    model = PaperFillModel(fee_bps=settings.fee_bps, slippage_bps=settings.slippage_bps)
    cost_bps = settings.fee_bps + settings.slippage_bps
    portfolio = Portfolio(cash=settings.initial_cash, positions={})
    symbol = candles.symbol
    close_times = candles.open_time + tf_ms

    series = strategy.signals(candles, params)
    events_array = np.flatnonzero(series.actions[: max(n - 1, 0)])  # the last candle has no next open
    # Only the candles of events (and the ones after them) are read one by one:
    # Python lists of just those, since indexing numpy scalars is slow.
    events = events_array.tolist()
    # (Action(a) raises on a value that is no action, as the loop always did.)
    event_actions = [_ACTIONS[a] if a in _ACTIONS else Action(a) for a in series.actions[events_array].tolist()]
    event_open_ms = candles.open_time[events_array].tolist()
    event_opened = _utc_times(event_open_ms)
    event_close = candles.close[events_array].tolist()
    next_open_ms = candles.open_time[events_array + 1].tolist()
    next_open = candles.open[events_array + 1]
    prices = to_decimals(next_open)  # the price each event's order meets
    next_open = next_open.tolist()
    # The HOLD cycles between events hold their position: their marks need
    # only each range's highest close (and, for the drawdown stop, lowest open).
    extremes = _segment_extremes(candles, events_array)
    if extremes is None:
        close, open_ = candles.close.tolist(), candles.open.tolist()
    else:
        top_closes, low_opens = extremes
    tf_delta = timedelta(milliseconds=tf_ms)

    ledger = _Ledger(settings.initial_cash)
    block_counts: dict[str, int] = {}
    trades: list[Trade] = []
    peak = settings.initial_cash  # exact: the highest equity snapshot so far
    peak_f = float(peak)
    marked_until = -1  # candles whose snapshots are folded into ``peak``
    qty = ZERO
    cash_f = float(portfolio.cash)  # float(portfolio.cash), float(qty): kept along with them
    qty_f = 0.0
    avg_entry = ZERO  # of the position held: its cost basis / qty, worked out after each fill
    entry: tuple[datetime, Decimal, Decimal, int] | None = None  # time, price, fee, signal index
    consecutive_losses = 0
    last_loss_time: datetime | None = None
    halted_at_index: int | None = None
    day_cache: tuple[int, Decimal] = (-1, settings.initial_cash)
    report_every = max(len(events) // 20, 1)
    halt_limit = float(limits.max_drawdown_pct) * (1 - 1e-6)
    atr_scaling, atr_period = limits.atr_scaling, limits.atr_period
    fill_market = model.fill_market
    # A mark whose float is this far below the peak's is below the peak, exactly
    # (cash, holdings and prices all positive: each float is within 1e-15 of
    # its Decimal), so folding it in would leave the peak as it is.
    below_peak = 1 - 1e-9
    skip_low_marks = extremes is not None and settings.initial_cash > 0

    for count, t in enumerate(events):
        if progress is not None and count % report_every == 0:
            progress(count / max(len(events), 1))
        # The HOLD cycles since the last event: check each for a drawdown stop,
        # then fold their snapshots (holdings constant) into the peak.
        if marked_until < t - 1:
            a = marked_until + 1  # the previous event's candle when it traded nothing
            if extremes is None:
                top_close = max(close[a:t])
            elif count and a == events[count - 1]:
                top_close = max(top_closes[count], event_close[count - 1])
            else:
                top_close = top_closes[count]
            if halted_at_index is None and qty > ZERO:
                # cheap bound first: the deepest the equity can look against the highest peak
                peak_ub = max(peak_f, cash_f + qty_f * top_close)
                if extremes is None:
                    lowest = min(open_[a + 1 : t + 1])
                elif count and a == events[count - 1]:
                    lowest = min(low_opens[count], next_open[count - 1])
                else:
                    lowest = low_opens[count]
                low = cash_f + qty_f * lowest
                if (peak_ub - low) / peak_ub > halt_limit:
                    halted_at_index = _first_halt(
                        candles, a, t, portfolio, qty, peak, settings, rules, symbol, tf_seconds
                    )
            # qty ≥ 0, so the highest mark is at the highest close
            if not (skip_low_marks and cash_f + qty_f * top_close < peak_f * below_peak):
                mark = portfolio.cash + qty * to_decimal(top_close)
                if mark > peak:  # peak = max(peak, mark)
                    peak, peak_f = mark, float(mark)
            marked_until = t - 1

        open_ms = event_open_ms[count]
        now_ms = open_ms + tf_ms
        candle_open_time = event_opened[count]
        exact = open_ms > -_EXACT_MS and now_ms < _EXACT_MS
        now = candle_open_time + tf_delta if exact else _ms_to_dt(now_ms)
        price = prices[count]
        equity = portfolio.cash + qty * price
        midnight_ms = now_ms - now_ms % DAY_MS
        if day_cache[0] != midnight_ms:
            # equity of the last snapshot taken before the UTC day began
            last_before = int(np.searchsorted(close_times, midnight_ms, side="left")) - 1
            day_equity = (
                ledger.equity_at(last_before, candles.close) if last_before >= 0 else settings.initial_cash
            )
            day_cache = (midnight_ms, day_equity)
        system_state = "RUNNING" if halted_at_index is None or halted_at_index > t else "EMERGENCY_STOP"
        view = PortfolioView(
            portfolio.cash, qty, avg_entry, equity, equity if equity > peak else peak, day_cache[1], ZERO,
            consecutive_losses, last_loss_time,
        )
        signal = RiskSignal(
            event_actions[count],
            price,
            candle_open_time,
            tf_seconds,
            system_state,
            False,
            _atr_at(candles, t, atr_period) if atr_scaling else None,
        )
        decision = evaluate(signal, view, limits, rules, now, fee_bps=cost_bps)
        if decision.emergency_stop and halted_at_index is None:
            halted_at_index = t
        verdict = decision.verdict
        if verdict != "ALLOW":
            if verdict == "BLOCK":
                for reason in decision.reasons:
                    if reason.blocking:
                        block_counts[reason.code] = block_counts.get(reason.code, 0) + 1
            continue
        side = decision.side
        assert side is not None
        request = OrderRequest(f"bt-{open_ms // 1000}-{side[0]}", symbol, side, "MARKET", decision.quantity, None)
        result = fill_market(request, price=price, at=now, rules=rules)
        fill_ms = next_open_ms[count]
        fill_time = now if fill_ms == now_ms else _ms_to_dt(fill_ms)
        for fill in result.fills:
            realized = portfolio.apply_fill(symbol, side, fill.quantity, fill.price, fill.fee, fill.filled_at)
            if side == "BUY":
                qty += fill.quantity
                entry = (fill_time, fill.price, fill.fee, t)
            else:
                qty -= fill.quantity
                trades.append(_close_trade(entry, fill, realized, fill_time, t))
                entry = None
                if realized < ZERO:
                    consecutive_losses += 1
                    last_loss_time = candle_open_time
                else:
                    consecutive_losses = 0
        held = portfolio.positions.get(symbol)
        avg_entry = (held.cost_basis / qty) if held is not None and qty else ZERO
        cash_f, qty_f = float(portfolio.cash), float(qty)
        ledger.add(t, portfolio.cash, qty, cash_f, qty_f)
        # this candle's snapshot, with the holdings after its cycle
        close_t = event_close[count]
        if not (skip_low_marks and cash_f + qty_f * close_t < peak_f * below_peak):
            mark = portfolio.cash + qty * to_decimal(close_t)
            if mark > peak:  # peak = max(peak, mark)
                peak, peak_f = mark, float(mark)
        marked_until = t

    # Close what is still open at the last candle's close.
    if qty > 0 and n > 0:
        last = n - 1
        request = OrderRequest(
            client_order_id="bt-end", symbol=symbol, side="SELL", order_type="MARKET",
            quantity=qty, limit_price=None,
        )
        end_time = _ms_to_dt(int(candles.open_time[last]) + tf_ms)
        result = model.fill_market(request, price=to_decimal(candles.close[last]), at=end_time, rules=rules)
        for fill in result.fills:
            realized = portfolio.apply_fill(symbol, "SELL", fill.quantity, fill.price, fill.fee, fill.filled_at)
            trades.append(_close_trade(entry, fill, realized, end_time, -1))
            qty -= fill.quantity
        ledger.add(last, portfolio.cash, qty, float(portfolio.cash), float(qty))

    equity_curve = _equity_curve(ledger, candles.close)
    in_market = _bars_in_market(ledger, n)
    metrics = compute_metrics(equity_curve, [t.pnl for t in trades], tf_seconds, in_market)
    if progress is not None:
        progress(1.0)

    @functools.cache  # the report words each trade's reasons more than once
    def explain(index: int) -> str:
        return strategy.explain(candles, params, series, index).reason

    return BacktestResult(
        symbol=symbol,
        timeframe=candles.timeframe,
        strategy=settings.strategy,
        params=params,
        initial_cash=settings.initial_cash,
        final_cash=portfolio.cash,
        trades=trades,
        open_time=candles.open_time,
        equity=equity_curve,
        metrics=metrics,
        blocks=Counter(block_counts),
        halted_at=_ms_to_dt(int(candles.open_time[halted_at_index])) if halted_at_index is not None else None,
        explain=explain,
    )


def _close_trade(
    entry: tuple[datetime, Decimal, Decimal, int] | None, fill: Any, realized: Decimal, when: datetime,
    exit_index: int,
) -> Trade:
    entry_time, entry_price, entry_fee, entry_index = entry or (when, fill.price, ZERO, -1)
    return Trade(  # entry_time, exit_time, entry_price, exit_price, quantity, fees, pnl, entry_index, exit_index
        entry_time, when, entry_price, fill.price, fill.quantity, entry_fee + fill.fee, realized, entry_index, exit_index
    )


def _equity_curve(ledger: _Ledger, close: np.ndarray) -> np.ndarray:
    """Per-candle equity marks: holdings are constant between events."""
    n = len(close)
    cash = np.asarray(ledger.cash)
    qty = np.asarray(ledger.qty)
    # Each candle takes the ledger entry in force at it (the last event at or
    # before it; event indexes rise strictly), so entry k covers its candle up
    # to the next entry's.
    bounds = np.asarray([*ledger.indexes[1:], n], dtype=np.int64)
    bounds[bounds > n] = n
    counts = np.diff(bounds, prepend=0)
    which = np.repeat(np.arange(len(ledger.indexes)), counts)
    return cash[which] + qty[which] * close


def _bars_in_market(ledger: _Ledger, n: int) -> int:
    total = 0
    bounds = [*ledger.indexes[1:], n]
    for k, (start, qty) in enumerate(zip(ledger.indexes, ledger.qty, strict=True)):
        if qty > 0:
            total += bounds[k] - max(start, 0)
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
        if evaluate(signal, view, settings.limits, rules, now,
                    fee_bps=settings.fee_bps + settings.slippage_bps).emergency_stop:
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
