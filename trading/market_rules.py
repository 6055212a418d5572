"""A symbol's exchange filters as exact Decimal rules (pure, no Django).

Binance spot filters: LOT_SIZE (minQty, maxQty, stepSize), PRICE_FILTER
(minPrice, maxPrice, tickSize) and MIN_NOTIONAL / NOTIONAL (minNotional).
Rounding is done here with ``Decimal``; python-binance's float helper is never used.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal


@dataclass(frozen=True)
class MarketRules:
    symbol: str
    base_asset: str
    quote_asset: str
    step_size: Decimal
    min_qty: Decimal
    max_qty: Decimal
    tick_size: Decimal
    min_price: Decimal
    max_price: Decimal
    min_notional: Decimal

    def round_quantity(self, quantity: Decimal) -> Decimal:
        """Largest multiple of the step size not above ``quantity`` (never rounds up)."""
        if self.step_size <= 0:
            return quantity
        steps = (quantity / self.step_size).to_integral_value(rounding=ROUND_DOWN)
        return (steps * self.step_size).quantize(self.step_size)

    def round_price(self, price: Decimal) -> Decimal:
        """Nearest multiple of the tick size."""
        if self.tick_size <= 0:
            return price
        ticks = (price / self.tick_size).to_integral_value(rounding=ROUND_HALF_UP)
        return (ticks * self.tick_size).quantize(self.tick_size)

    def check(self, quantity: Decimal, price: Decimal) -> list[str]:
        """The filters that ``quantity`` at ``price`` fails, as stable codes."""
        problems = []
        if quantity < self.min_qty:
            problems.append("MIN_QTY")
        if self.max_qty > 0 and quantity > self.max_qty:
            problems.append("MAX_QTY")
        if self.step_size > 0 and quantity % self.step_size != 0:
            problems.append("STEP_SIZE")
        if quantity * price < self.min_notional:
            problems.append("MIN_NOTIONAL")
        return problems
