"""The plain values the risk engine reads and returns (pure, no Django).

They are built once per decision (thousands of times a second in a backtest),
so they are slotted dataclasses rather than frozen ones: a frozen dataclass
pays a generic ``object.__setattr__`` per field on construction. Nothing
changes them after construction; they stay comparable and hashable by value
as before.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from trading.strategies.base import Action

SystemStateName = Literal["RUNNING", "PAUSED", "EMERGENCY_STOP"]
Verdict = Literal["ALLOW", "BLOCK", "NONE"]
Side = Literal["BUY", "SELL"]


@dataclass(slots=True, unsafe_hash=True)
class RiskSignal:
    """A strategy's action on one closed candle, with what the cycle knows around it."""

    action: Action
    price: Decimal  # the price the order would meet (e.g. the last close or ticker)
    candle_open_time: datetime  # aware, UTC
    timeframe_seconds: int
    system_state: SystemStateName
    data_stale: bool  # the cycle's own staleness verdict (e.g. a gap in the candles)
    atr: Decimal | None  # in price units, needed only with ATR scaling


@dataclass(slots=True, unsafe_hash=True)
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


@dataclass(slots=True, eq=False)
class Reason:
    """Why the engine decided as it did. ``blocking`` reasons stop the order;
    the others are information (a size that was shrunk to fit a cap)."""

    code: str
    message: str
    blocking: bool = True

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Reason):
            return NotImplemented
        return (self.code, self.message, self.blocking) == (other.code, other.message, other.blocking)

    def __hash__(self) -> int:
        return hash((self.code, self.message, self.blocking))

    def __repr__(self) -> str:
        return f"Reason(code={self.code!r}, message={self.message!r}, blocking={self.blocking!r})"


class _WordedOnRead(Reason):
    """A :class:`Reason` whose message is worded the first time it is read.

    Most reasons are only counted by code (a backtest's blocks), so wording
    them (Decimal formatting, ISO times) on every decision is wasted work. The
    words and the values they show are captured when the reason is raised;
    ``message`` then reads exactly as an eagerly worded one would.
    """

    __slots__ = ("_word", "_values")

    def __getattr__(self, name: str) -> Any:
        # Only reached while the ``message`` slot is still empty.
        if name != "message":
            raise AttributeError(name)
        text = self._word(*self._values)
        self.message = text
        self._values = ()
        return text


_new_reason = object.__new__


def reason_on_read(code: str, blocking: bool, word: Callable[..., str], *values: Any) -> Reason:
    """A reason whose message is ``word(*values)``, worded when first read.

    ``values`` must be immutable (Decimals, strings, numbers, datetimes): they
    are what the message shows, captured now.
    """
    reason = _new_reason(_WordedOnRead)
    reason.code = code
    reason.blocking = blocking
    reason._word = word
    reason._values = values
    return reason


@dataclass(slots=True, unsafe_hash=True)
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
