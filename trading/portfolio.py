"""Cash and long positions, changed only by fills, in exact Decimal (pure).

Accounting convention:

* A BUY costs ``quantity × price + fee``; the fee is part of the position's
  cost basis, so the average entry price includes it.
* A SELL brings ``quantity × price − fee`` and realises
  ``quantity × price − fee − (the share of the cost basis sold)``, that is
  ``quantity × (price − avg_entry) − fee``.
* Unrealised PnL of a position is ``quantity × mark − cost_basis``.

The cost basis is kept as a total, never as a rounded average: the only
division (the share of cost a partial sell releases) is rounded to 12 decimals
and subtracted from the total, so nothing is lost between realised and
unrealised PnL. Hence, exactly, after every sequence of fills:

    cash   == initial_cash − Σ buys (qty × price + fee) + Σ sells (qty × price − fee)
    equity == initial_cash + total_realized + unrealized_pnl

Every other operation runs in a context that raises rather than rounds.
Long only: selling more than is held, or buying more than the cash pays for,
raises :class:`PortfolioError` and changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import (
    ROUND_DOWN,
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
    getcontext,
    localcontext,
    setcontext,
)
from typing import Literal

ZERO = Decimal("0")
RELEASED_COST_PLACES = Decimal("1e-12")

# Sums and products of exchange amounts (≤ 8 decimals, ≤ 16 digits) fit in 60
# digits many times over; an operation that would round raises Inexact instead.
_EXACT = Context(prec=60, traps=[InvalidOperation, DivisionByZero, Overflow, Inexact])
_DIVIDE = Context(prec=60, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation, DivisionByZero, Overflow])
_MISSING = object()


class PortfolioError(ValueError):
    pass


@dataclass(slots=True, unsafe_hash=True)
class PositionState:
    """A long position in one symbol. Flat positions stay, with their history.

    Never changed in place: a fill replaces it with a new one (slotted rather
    than frozen only because a frozen dataclass is slow to build).
    """

    quantity: Decimal = ZERO
    cost_basis: Decimal = ZERO  # what the held quantity cost, buy fees included
    realized_pnl: Decimal = ZERO
    fees_paid: Decimal = ZERO  # buy and sell fees, in the quote asset
    opened_at: datetime | None = None

    @classmethod
    def from_average(
        cls,
        quantity: Decimal,
        avg_entry_price: Decimal,
        realized_pnl: Decimal = ZERO,
        fees_paid: Decimal = ZERO,
        opened_at: datetime | None = None,
    ) -> PositionState:
        """A position stored as quantity and average entry (as the positions table holds it)."""
        with localcontext(_EXACT):
            return cls(quantity, quantity * avg_entry_price, realized_pnl, fees_paid, opened_at)

    @property
    def avg_entry_price(self) -> Decimal:
        """Cost basis per unit, fees included (0 when flat). For display and
        storage only: the accounting uses the total cost basis."""
        if self.quantity == 0:
            return ZERO
        return self.cost_basis / self.quantity

    def market_value(self, mark: Decimal) -> Decimal:
        with localcontext(_EXACT):
            return self.quantity * mark

    def unrealized_pnl(self, mark: Decimal) -> Decimal:
        if self.quantity == 0:
            return ZERO
        with localcontext(_EXACT):
            return self.quantity * mark - self.cost_basis


@dataclass
class Portfolio:
    cash: Decimal
    positions: dict[str, PositionState] = field(default_factory=dict)

    def position(self, symbol: str) -> PositionState:
        held = self.positions.get(symbol, _MISSING)
        return PositionState() if held is _MISSING else held  # type: ignore[return-value]

    def apply_fill(
        self,
        symbol: str,
        side: Literal["BUY", "SELL"],
        quantity: Decimal,
        price: Decimal,
        fee: Decimal,
        at: datetime,
    ) -> Decimal:
        """Apply one fill (fee in the quote asset); returns the PnL it realised (0 for a BUY)."""
        if side not in ("BUY", "SELL"):
            raise PortfolioError(f"unknown side {side!r}")
        if not quantity.is_finite() or quantity <= ZERO:
            raise PortfolioError(f"quantity {quantity} must be positive")
        if not price.is_finite() or price <= ZERO:
            raise PortfolioError(f"price {price} must be positive")
        if not fee.is_finite() or fee < ZERO:
            raise PortfolioError(f"fee {fee} must be zero or more")
        held = self.position(symbol)
        try:
            if side == "BUY":
                cash, updated, realized = self._buy(held, quantity, price, fee, at)
            else:
                cash, updated, realized = self._sell(symbol, held, quantity, price, fee)
        except Inexact:
            raise PortfolioError(
                f"the fill {side} {quantity} {symbol} at {price} (fee {fee}) is too precise to book exactly"
            ) from None
        self.cash = cash
        self.positions[symbol] = updated
        return realized

    # A fill's arithmetic runs with _EXACT as the current context: the same
    # operations as under ``localcontext(_EXACT)``, which would copy the context
    # on every fill. (Only _EXACT's status flags change, and nothing reads them.)

    def _buy(
        self, held: PositionState, quantity: Decimal, price: Decimal, fee: Decimal, at: datetime
    ) -> tuple[Decimal, PositionState, Decimal]:
        outer = getcontext()
        setcontext(_EXACT)
        try:
            cost = quantity * price + fee
            cash = self.cash - cost
            if cash < ZERO:
                raise PortfolioError(f"buying for {cost} needs more than the cash {self.cash}")
            updated = held.__class__(
                held.quantity + quantity,
                held.cost_basis + cost,
                held.realized_pnl,
                held.fees_paid + fee,
                held.opened_at if held.quantity > ZERO else at,
            )
        finally:
            setcontext(outer)
        return cash, updated, ZERO

    def _sell(
        self, symbol: str, held: PositionState, quantity: Decimal, price: Decimal, fee: Decimal
    ) -> tuple[Decimal, PositionState, Decimal]:
        if quantity > held.quantity:
            raise PortfolioError(f"cannot sell {quantity} {symbol}: holding {held.quantity} (long only)")
        if quantity == held.quantity:
            released = held.cost_basis  # closing: the whole cost, no division
        else:
            with localcontext(_DIVIDE):
                share = held.cost_basis * quantity / held.quantity
                # down: never release more than the share sold, so a position
                # still held always keeps a positive cost basis
                released = share.quantize(RELEASED_COST_PLACES, rounding=ROUND_DOWN)
        outer = getcontext()
        setcontext(_EXACT)
        try:
            proceeds = quantity * price - fee
            realized = proceeds - released
            remaining = held.quantity - quantity
            updated = held.__class__(
                remaining,
                held.cost_basis - released,
                held.realized_pnl + realized,
                held.fees_paid + fee,
                held.opened_at if remaining > ZERO else None,
            )
            cash = self.cash + proceeds
        finally:
            setcontext(outer)
        return cash, updated, realized

    def market_value(self, marks: Mapping[str, Decimal]) -> Decimal:
        """What the held positions are worth at ``marks`` (one per held symbol)."""
        with localcontext(_EXACT):
            return sum((p.market_value(self._mark(marks, s)) for s, p in self._held()), ZERO)

    def equity(self, marks: Mapping[str, Decimal]) -> Decimal:
        with localcontext(_EXACT):
            return self.cash + self.market_value(marks)

    def unrealized_pnl(self, marks: Mapping[str, Decimal]) -> Decimal:
        with localcontext(_EXACT):
            return sum((p.unrealized_pnl(self._mark(marks, s)) for s, p in self._held()), ZERO)

    @property
    def total_fees(self) -> Decimal:
        with localcontext(_EXACT):
            return sum((p.fees_paid for p in self.positions.values()), ZERO)

    @property
    def total_realized(self) -> Decimal:
        with localcontext(_EXACT):
            return sum((p.realized_pnl for p in self.positions.values()), ZERO)

    def _held(self) -> list[tuple[str, PositionState]]:
        return [(s, p) for s, p in sorted(self.positions.items()) if p.quantity > 0]

    @staticmethod
    def _mark(marks: Mapping[str, Decimal], symbol: str) -> Decimal:
        try:
            return marks[symbol]
        except KeyError:
            raise PortfolioError(f"no mark price for {symbol}, which is held") from None
