"""The plain values the risk engine reads and returns (pure, no Django)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Literal

from trading.strategies.base import Action

SystemStateName = Literal["RUNNING", "PAUSED", "EMERGENCY_STOP"]
Verdict = Literal["ALLOW", "BLOCK", "NONE"]
Side = Literal["BUY", "SELL"]


@dataclass(frozen=True)
class RiskSignal:
    """A strategy's action on one closed candle, with what the cycle knows around it."""

    action: Action
    price: Decimal  # the price the order would meet (e.g. the last close or ticker)
    candle_open_time: datetime  # aware, UTC
    timeframe_seconds: int
    system_state: SystemStateName
    data_stale: bool  # the cycle's own staleness verdict (e.g. a gap in the candles)
    atr: Decimal | None  # in price units, needed only with ATR scaling


@dataclass(frozen=True)
class PortfolioView:
    """One bot's account as the engine needs it. Money in the quote asset."""

    cash: Decimal
    position_qty: Decimal
    avg_entry_price: Decimal
    equity: Decimal
    peak_equity: Decimal
    day_start_equity: Decimal  # equity at 00:00 UTC of the current day
    other_exposure: Decimal  # notional held by the other bots
    consecutive_losses: int
    last_loss_candle_time: datetime | None
    # Lowest equity seen since 00:00 UTC (None: only the current equity is
    # known). Lets a daily-loss breach hold for the rest of the day even if an
    # open position recovers.
    day_low_equity: Decimal | None = None


@dataclass(frozen=True)
class Reason:
    """Why the engine decided as it did. ``blocking`` reasons stop the order;
    the others are information (a size that was shrunk to fit a cap)."""

    code: str
    message: str
    blocking: bool = True


@dataclass(frozen=True)
class Decision:
    """ALLOW (trade ``quantity`` on ``side``), BLOCK (trade nothing; every
    blocking reason is listed) or NONE (the signal was HOLD)."""

    verdict: Verdict
    side: Side | None
    quantity: Decimal  # rounded to the step; 0 unless ALLOW
    reasons: tuple[Reason, ...] = field(default=())
    # The max drawdown is breached: the cycle must enter EMERGENCY_STOP.
    emergency_stop: bool = False

    @property
    def allowed(self) -> bool:
        return self.verdict == "ALLOW"

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(reason.code for reason in self.reasons)

    @property
    def blocking_codes(self) -> tuple[str, ...]:
        return tuple(reason.code for reason in self.reasons if reason.blocking)
