"""Performance metrics of an equity curve and its trades (pure).

The equity-curve figures (return, drawdown, Sharpe, Sortino) are computed in
float64 with numpy; the trade figures in Decimal. Every output is a Decimal
quantized to 8 places (half-even), or None where the figure is undefined.

Definitions:

* ``total_return`` = last / first − 1.
* ``max_drawdown`` = the largest fall from a running peak, as a positive
  fraction of that peak (0 when equity never falls).
* Per-bar returns r_t = e_t / e_{t−1} − 1, annualised with
  sqrt(bars per year), bars per year = 365 × 86400 / timeframe_seconds; the
  risk-free rate is 0.
* ``sharpe`` = mean(r) / sample std(r) (ddof 1) × sqrt(bars per year); None
  with fewer than 2 returns or no variation.
* ``sortino`` = mean(r) / downside deviation × sqrt(bars per year), downside
  deviation = sqrt(mean(min(r, 0)²)) over all returns; None with fewer than
  2 returns or no losing bar.
* ``win_rate`` = trades with PnL > 0 / trades (a zero-PnL trade is not a win);
  ``profit_factor`` = gross profit / gross loss, None when no trade lost;
  ``avg_trade`` = mean PnL. All three None with no trades.
* ``exposure`` = bars_in_market / bars of the equity curve.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import numpy as np

PLACES = Decimal("0.00000001")
SECONDS_PER_YEAR = 365 * 86400
# Per-bar variation below this is float noise (e.g. a curve growing by the
# same factor every bar), not risk: the ratio would be a meaningless 1e15.
NOISE = 1e-12
_ZERO = Decimal("0")


@dataclass(frozen=True)
class TradeTally:
    """What the trade figures need from the PnLs of closed trades, kept as
    running sums so that a live bot need not re-read every trade it ever made.
    Sums are exact in Decimal, so the order the trades come in does not matter."""

    count: int = 0
    wins: int = 0
    gross_profit: Decimal = Decimal("0")
    gross_loss: Decimal = Decimal("0")  # positive
    total: Decimal = Decimal("0")

    @classmethod
    def of(cls, trade_pnls: Sequence[Decimal]) -> TradeTally:
        pnls = list(map(Decimal, trade_pnls))
        # Split once, then add up each list (in the trades' order, as ever):
        # comparing with a Decimal zero is cheaper than with the int 0.
        profits = [p for p in pnls if p > _ZERO]
        losses = [p for p in pnls if p < _ZERO]
        return cls(
            count=len(pnls),
            wins=len(profits),
            gross_profit=sum(profits, Decimal("0")),
            gross_loss=-sum(losses, Decimal("0")),
            total=sum(pnls, Decimal("0")),
        )

    def add(self, pnl: Decimal) -> TradeTally:
        return TradeTally(
            count=self.count + 1,
            wins=self.wins + (pnl > 0),
            gross_profit=self.gross_profit + pnl if pnl > 0 else self.gross_profit,
            gross_loss=self.gross_loss - pnl if pnl < 0 else self.gross_loss,
            total=self.total + pnl,
        )


@dataclass(frozen=True)
class Metrics:
    total_return: Decimal
    max_drawdown: Decimal
    sharpe: Decimal | None
    sortino: Decimal | None
    win_rate: Decimal | None
    profit_factor: Decimal | None
    avg_trade: Decimal | None
    exposure: Decimal
    trade_count: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: Decimals as strings, None kept."""
        return {k: str(v) if isinstance(v, Decimal) else v for k, v in asdict(self).items()}


def _quantize(value: Decimal) -> Decimal:
    return value.quantize(PLACES, rounding=ROUND_HALF_EVEN)


def _from_float(value: float) -> Decimal:
    return _quantize(Decimal(repr(float(value))))


def _ratio(value: float) -> Decimal | None:
    return _from_float(value) if math.isfinite(value) else None


def _max_drawdown(curve: np.ndarray) -> float:
    """``((peaks - curve) / peaks).max()``, ``peaks`` the running maximum of
    the (positive, non-empty) curve, bit for bit.

    The running maximum is a slow scalar loop in numpy, and past the curve's
    highest value it no longer changes: it is needed only up to there. Past
    it the peak is that value, and the deepest fall from it is at the lowest
    equity: with the peak fixed, a lower value never gives a smaller rounded
    (peak - value) / peak, so that one division is the largest of them all.
    """
    top = int(np.argmax(curve))  # the first of the highest values
    head = curve[:top]
    peaks = np.maximum.accumulate(head)
    rising = ((peaks - head) / peaks).max(initial=0.0)  # every fall is ≥ 0
    peak = curve[top]
    after = (peak - curve[top:].min()) / peak
    return float(max(rising, after))


def compute(
    equity: Sequence[Decimal] | np.ndarray,
    trade_pnls: Sequence[Decimal] | TradeTally,
    timeframe_seconds: int,
    bars_in_market: int,
) -> Metrics:
    """Metrics of an equity curve (one value per bar, oldest first) and of the
    PnL of each closed trade (or their :class:`TradeTally`)."""
    if timeframe_seconds <= 0:
        raise ValueError("timeframe_seconds must be positive")
    if isinstance(equity, np.ndarray):
        curve = equity.astype(np.float64, copy=False)
    else:
        curve = np.array([float(value) for value in equity], dtype=np.float64)
    bars = int(curve.shape[0])
    if not 0 <= bars_in_market <= bars:
        raise ValueError(f"bars_in_market must be between 0 and the {bars} bars of the curve")
    if bars and not (np.isfinite(curve).all() and (curve > 0).all()):
        raise ValueError("equity must be positive and finite at every bar")

    total_return = max_drawdown = 0.0
    sharpe = sortino = None
    if bars:
        total_return = curve[-1] / curve[0] - 1.0
        max_drawdown = _max_drawdown(curve)
        returns = curve[1:] / curve[:-1] - 1.0
        if returns.shape[0] >= 2:
            scale = math.sqrt(SECONDS_PER_YEAR / timeframe_seconds)
            mean = float(returns.mean())
            spread = float(returns.std(ddof=1))
            if spread > NOISE:
                sharpe = _ratio(mean / spread * scale)
            downside = math.sqrt(float(np.mean(np.minimum(returns, 0.0) ** 2)))
            if downside > NOISE:
                sortino = _ratio(mean / downside * scale)

    trades = trade_pnls if isinstance(trade_pnls, TradeTally) else TradeTally.of(trade_pnls)
    count = trades.count
    win_rate = profit_factor = avg_trade = None
    if count:
        win_rate = _quantize(Decimal(trades.wins) / count)
        profit_factor = _quantize(trades.gross_profit / trades.gross_loss) if trades.gross_loss > 0 else None
        avg_trade = _quantize(trades.total / count)

    return Metrics(
        total_return=_from_float(total_return),
        max_drawdown=_from_float(max_drawdown),
        sharpe=sharpe,
        sortino=sortino,
        win_rate=win_rate,
        profit_factor=profit_factor,
        avg_trade=avg_trade,
        exposure=_quantize(Decimal(bars_in_market) / bars if bars else Decimal("0")),
        trade_count=count,
    )
