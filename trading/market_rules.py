"""A symbol's exchange filters as exact Decimal rules (pure, no Django).

Binance spot filters: LOT_SIZE (minQty, maxQty, stepSize), PRICE_FILTER
(minPrice, maxPrice, tickSize) and MIN_NOTIONAL / NOTIONAL (minNotional).
Rounding is done here with ``Decimal``; python-binance's float helper is never used.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Any

_ZERO = Decimal("0")


def _power_of_ten(size: Any) -> tuple[Decimal, bool] | None:
    """For a step or tick that is a power of ten (0.01, 0.00001000, 1): that
    power as ``1Ek``, and whether the size itself is written ``1Ek`` (same
    exponent). None for any other size."""
    if not isinstance(size, Decimal) or not size.is_finite() or size <= 0:
        return None
    _, digits, exponent = size.normalize().as_tuple()
    if digits != (1,):
        return None
    quantum = Decimal((0, (1,), exponent))
    return quantum, size.as_tuple().exponent == exponent


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

    def __post_init__(self) -> None:
        # Worked out once: the rounding below takes a shortcut for power-of-ten sizes.
        object.__setattr__(self, "_step_power", _power_of_ten(self.step_size))
        object.__setattr__(self, "_tick_power", _power_of_ten(self.tick_size))

    # Rounding to a step s is ``(x / s).to_integral_value() * s`` quantized to
    # s. When s is a power of ten and x holds no more digits than the context's
    # precision (``+x == x``: true of every result of arithmetic in it), x / s
    # is exact and the same value is ``x.quantize(s)``, rounded the same way;
    # a second quantize gives it s's exponent when s is written with trailing
    # zeros. Any other x takes the general path.

    def round_quantity(self, quantity: Decimal) -> Decimal:
        """Largest multiple of the step size not above ``quantity`` (never rounds up)."""
        power = self._step_power  # type: ignore[attr-defined]  (None unless the step is positive)
        if power is not None and +quantity == quantity:
            quantum, same_exponent = power
            if same_exponent:  # the quantum is the step itself
                return quantity.quantize(quantum, ROUND_DOWN)
            return quantity.quantize(quantum, ROUND_DOWN).quantize(self.step_size)
        if self.step_size <= _ZERO:
            return quantity
        steps = (quantity / self.step_size).to_integral_value(rounding=ROUND_DOWN)
        return (steps * self.step_size).quantize(self.step_size)

    def round_price(self, price: Decimal) -> Decimal:
        """Nearest multiple of the tick size."""
        power = self._tick_power  # type: ignore[attr-defined]  (None unless the tick is positive)
        if power is not None and +price == price:
            quantum, same_exponent = power
            if same_exponent:  # the quantum is the tick itself
                return price.quantize(quantum, ROUND_HALF_UP)
            return price.quantize(quantum, ROUND_HALF_UP).quantize(self.tick_size)
        if self.tick_size <= _ZERO:
            return price
        ticks = (price / self.tick_size).to_integral_value(rounding=ROUND_HALF_UP)
        return (ticks * self.tick_size).quantize(self.tick_size)

    def check(self, quantity: Decimal, price: Decimal) -> list[str]:
        """The filters that ``quantity`` at ``price`` fails, as stable codes."""
        problems = []
        if quantity < self.min_qty:
            problems.append("MIN_QTY")
        if self.max_qty > _ZERO and quantity > self.max_qty:
            problems.append("MAX_QTY")
        if self.step_size > _ZERO and quantity % self.step_size != _ZERO:
            problems.append("STEP_SIZE")
        if quantity * price < self.min_notional:
            problems.append("MIN_NOTIONAL")
        return problems
