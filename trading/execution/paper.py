"""Paper execution: fills simulated from market prices and candles (pure).

The fill model behind paper trading and the backtester. It decides fills only;
it holds no orders and no balances (the cycle stores orders, the portfolio
applies fills). Money is ``Decimal`` throughout.

Market orders fill at the given price moved against the taker by the slippage
(BUY pays more, SELL gets less). Limit orders fill only when a candle's range
reaches the limit, at the limit or at the candle's open when that is better
(a gap through the limit). Fees are charged in the quote asset, rounded to 8
decimals half-up. With ``max_volume_fraction`` a fill takes at most that share
of the candle's volume; the rest of a market order is not filled, the rest of
a limit order stays open.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Any, Literal, Protocol

from trading.market_rules import MarketRules

OrderSide = Literal["BUY", "SELL"]
OrderType = Literal["MARKET", "LIMIT"]
ExecutionStatus = Literal["FILLED", "PARTIALLY_FILLED", "OPEN", "REJECTED"]

BPS = Decimal("10000")
EIGHT_PLACES = Decimal("0.00000001")  # Binance's (and the models') precision
_ZERO = Decimal("0")

# Requests, fills and results are slotted dataclasses rather than frozen ones
# (a frozen dataclass is slow to build, and one of each is built per order);
# nothing changes them after construction.


@dataclass(slots=True, unsafe_hash=True)
class OrderRequest:
    client_order_id: str
    symbol: str
    side: OrderSide
    order_type: OrderType
    quantity: Decimal
    limit_price: Decimal | None = None


@dataclass(slots=True, eq=False, repr=False)
class FillResult:
    trade_id: str
    price: Decimal
    quantity: Decimal
    quote_quantity: Decimal  # price × quantity, exact
    fee: Decimal
    fee_asset: str
    filled_at: datetime

    def _values(self) -> tuple[Any, ...]:
        return (self.trade_id, self.price, self.quantity, self.quote_quantity, self.fee, self.fee_asset,
                self.filled_at)

    def __eq__(self, other: object) -> bool:
        return self._values() == other._values() if isinstance(other, FillResult) else NotImplemented

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        return (
            f"FillResult(trade_id={self.trade_id!r}, price={self.price!r}, quantity={self.quantity!r}, "
            f"quote_quantity={self.quote_quantity!r}, fee={self.fee!r}, fee_asset={self.fee_asset!r}, "
            f"filled_at={self.filled_at!r})"
        )


@dataclass(slots=True, eq=False, repr=False)
class ExecutionResult:
    status: ExecutionStatus
    fills: tuple[FillResult, ...] = ()
    reason: str = ""

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ExecutionResult):
            return NotImplemented
        return (self.status, self.fills, self.reason) == (other.status, other.fills, other.reason)

    def __hash__(self) -> int:
        return hash((self.status, self.fills, self.reason))

    def __repr__(self) -> str:
        return f"ExecutionResult(status={self.status!r}, fills={self.fills!r}, reason={self.reason!r})"

    @property
    def filled_quantity(self) -> Decimal:
        return sum((fill.quantity for fill in self.fills), Decimal("0"))

    @property
    def fee_total(self) -> Decimal:
        return sum((fill.fee for fill in self.fills), Decimal("0"))


# A paper fill's trade id and a filled order's reason are worded when first
# read (the backtester never reads them): the values they show are captured
# when the fill is made, and read exactly as if worded then.


class _PaperFill(FillResult):
    __slots__ = ("_client_order_id",)

    def __getattr__(self, name: str) -> Any:
        if name != "trade_id":  # only reached while the trade_id slot is empty
            raise AttributeError(name)
        self.trade_id = trade_id_for(self._client_order_id, self.filled_at)
        return self.trade_id


class _Filled(ExecutionResult):
    __slots__ = ("_quantity", "_price")

    def __getattr__(self, name: str) -> Any:
        if name != "reason":  # only reached while the reason slot is empty
            raise AttributeError(name)
        self.reason = f"filled {self._quantity} at {self._price}"
        return self.reason


_new = object.__new__


class ExecutionEngine(Protocol):
    """What the cycle submits orders to: the paper engine now, live execution later.

    ``market`` carries what a simulated fill needs (``price``, ``at``, candle
    prices, ``available_volume``, ``rules``); a live engine ignores it.
    """

    def submit(self, request: OrderRequest, **market: Any) -> ExecutionResult: ...

    def cancel(self, client_order_id: str) -> bool: ...


def trade_id_for(client_order_id: str, at: datetime) -> str:
    """A fill's id, the same every time for the same order and moment."""
    return f"paper-{client_order_id}-{int(at.timestamp() * 1000)}"


@dataclass(frozen=True)
class PaperFillModel:
    fee_bps: Decimal = Decimal("10")
    slippage_bps: Decimal = Decimal("0")
    max_volume_fraction: Decimal | None = None
    # The fee asset when no MarketRules are given (with rules: their quote asset).
    quote_asset: str = "USDT"

    def __post_init__(self) -> None:
        if not (self.fee_bps.is_finite() and self.fee_bps >= 0):
            raise ValueError("fee_bps must be a finite Decimal >= 0")
        if not (self.slippage_bps.is_finite() and 0 <= self.slippage_bps < BPS):
            raise ValueError("slippage_bps must be >= 0 and below 10000")
        fraction = self.max_volume_fraction
        if fraction is not None and not (fraction.is_finite() and 0 < fraction <= 1):
            raise ValueError("max_volume_fraction must be in (0, 1]")

    def fill_market(
        self,
        request: OrderRequest,
        *,
        price: Decimal,
        at: datetime,
        available_volume: Decimal | None = None,
        rules: MarketRules | None = None,
    ) -> ExecutionResult:
        """Fill a MARKET order at ``price`` moved by the slippage (to the tick with ``rules``)."""
        problem = _basic_problem(request, "MARKET", rules)
        if problem is None and not (price.is_finite() and price > _ZERO):
            problem = f"no valid market price ({price})"
        if problem is None and rules is not None and (failed := rules.check(request.quantity, price)):
            problem = f"fails the exchange filters: {', '.join(failed)}"
        if problem is not None:
            return ExecutionResult("REJECTED", (), problem)
        slippage = self.slippage_bps
        if not slippage:
            moved = price  # moved by 0 bps: the price itself (and no rounding of a long one on the way)
        elif request.side == "BUY":
            moved = price * (BPS + slippage) / BPS
        else:
            moved = price * (BPS - slippage) / BPS
        fill_price = _to_price(moved, rules)
        if self.max_volume_fraction is None or available_volume is None:
            quantity, capped = request.quantity, ""  # no volume cap
        else:
            quantity, capped = self._fillable(request.quantity, available_volume, rules)
        if quantity <= _ZERO:
            return ExecutionResult("REJECTED", (), f"no volume to fill against ({capped})")
        fill = self._fill(request, fill_price, quantity, at, rules)
        if quantity < request.quantity:
            return ExecutionResult(
                "PARTIALLY_FILLED",
                (fill,),
                f"filled {quantity} of {request.quantity} at {fill_price} ({capped}); "
                "the rest of the market order is not filled",
            )
        if type(quantity) is Decimal and type(fill_price) is Decimal:
            filled = _new(_Filled)
            filled.status, filled.fills, filled._quantity, filled._price = "FILLED", (fill,), quantity, fill_price
            return filled
        return ExecutionResult("FILLED", (fill,), f"filled {quantity} at {fill_price}")

    def fill_limit(
        self,
        request: OrderRequest,
        *,
        candle_open: Decimal,
        candle_high: Decimal,
        candle_low: Decimal,
        at: datetime,
        available_volume: Decimal | None = None,
        rules: MarketRules | None = None,
    ) -> ExecutionResult:
        """Fill a LIMIT order against one candle that opened after it was placed.

        BUY fills when the low reaches the limit, at min(open, limit); SELL when
        the high reaches it, at max(open, limit). Otherwise the order stays OPEN.
        """
        problem = _basic_problem(request, "LIMIT", rules)
        limit = request.limit_price
        if limit is None or not limit.is_finite() or limit <= 0:
            problem = problem or f"a LIMIT order needs a positive limit price (got {limit})"
            return ExecutionResult("REJECTED", (), problem)
        if problem is None and rules is not None:
            failed = rules.check(request.quantity, limit)
            if rules.tick_size > 0 and limit % rules.tick_size != 0:
                failed.append("PRICE_FILTER")
            if limit < rules.min_price or (rules.max_price > 0 and limit > rules.max_price):
                failed.append("PRICE_FILTER")
            if failed:
                problem = f"fails the exchange filters: {', '.join(dict.fromkeys(failed))}"
        if problem is not None:
            return ExecutionResult("REJECTED", (), problem)
        if request.side == "BUY":
            if candle_low > limit:
                return ExecutionResult("OPEN", (), f"limit {limit} not reached (candle low {candle_low})")
            fill_price = min(candle_open, limit)
        else:
            if candle_high < limit:
                return ExecutionResult("OPEN", (), f"limit {limit} not reached (candle high {candle_high})")
            fill_price = max(candle_open, limit)
        quantity, capped = self._fillable(request.quantity, available_volume, rules)
        if quantity <= 0:
            return ExecutionResult("OPEN", (), f"limit reached but no volume to fill against ({capped})")
        fill = self._fill(request, fill_price, quantity, at, rules)
        if quantity < request.quantity:
            return ExecutionResult(
                "PARTIALLY_FILLED",
                (fill,),
                f"filled {quantity} of {request.quantity} at {fill_price} ({capped}); the rest stays open",
            )
        return ExecutionResult("FILLED", (fill,), f"filled {quantity} at {fill_price}")

    def _fillable(
        self, quantity: Decimal, available_volume: Decimal | None, rules: MarketRules | None
    ) -> tuple[Decimal, str]:
        """The quantity this candle's volume allows, and why it is capped."""
        if self.max_volume_fraction is None or available_volume is None:
            return quantity, ""
        cap = self.max_volume_fraction * max(available_volume, Decimal("0"))
        if cap >= quantity:
            return quantity, ""
        if rules is not None:
            capped = rules.round_quantity(cap)
        else:
            capped = cap.quantize(EIGHT_PLACES, rounding=ROUND_DOWN)
        why = f"volume cap {self.max_volume_fraction} × {available_volume} available"
        return capped, why

    def _fill(
        self,
        request: OrderRequest,
        price: Decimal,
        quantity: Decimal,
        at: datetime,
        rules: MarketRules | None,
    ) -> FillResult:
        quote = price * quantity
        fee = (quote * self.fee_bps / BPS).quantize(EIGHT_PLACES, ROUND_HALF_UP)
        fee_asset = rules.quote_asset if rules is not None else self.quote_asset
        order_id = request.client_order_id
        if type(order_id) is str and isinstance(at, datetime) and at.tzinfo is not None:
            # an aware time's timestamp() cannot fail: the id can wait until read
            fill = _new(_PaperFill)
            fill.price, fill.quantity, fill.quote_quantity, fill.fee = price, quantity, quote, fee
            fill.fee_asset, fill.filled_at, fill._client_order_id = fee_asset, at, order_id
            return fill
        return FillResult(trade_id_for(order_id, at), price, quantity, quote, fee, fee_asset, at)


def _basic_problem(request: OrderRequest, order_type: str, rules: MarketRules | None) -> str | None:
    if request.order_type != order_type:
        return f"a {request.order_type} order cannot be filled as {order_type}"
    if request.side not in ("BUY", "SELL"):
        return f"unknown side {request.side!r}"
    if not (request.quantity.is_finite() and request.quantity > _ZERO):
        return f"quantity {request.quantity} is not positive"
    if not request.client_order_id:
        return "the order has no client order id"
    if rules is not None and rules.symbol != request.symbol:
        return f"the order is for {request.symbol} but the rules are for {rules.symbol}"
    return None


def _to_price(value: Decimal, rules: MarketRules | None) -> Decimal:
    if rules is not None:
        return rules.round_price(value)
    return value.quantize(EIGHT_PLACES, ROUND_HALF_UP)


class PaperExecutionEngine:
    """The :class:`ExecutionEngine` of paper trading: each submit is filled on
    the spot by the fill model. It keeps no orders of its own (the orders
    table does), so there is never anything here to cancel."""

    def __init__(self, model: PaperFillModel | None = None) -> None:
        self.model = model or PaperFillModel()

    def submit(self, request: OrderRequest, **market: Any) -> ExecutionResult:
        if request.order_type == "MARKET":
            return self.model.fill_market(request, **market)
        if request.order_type == "LIMIT":
            return self.model.fill_limit(request, **market)
        return ExecutionResult("REJECTED", (), f"unknown order type {request.order_type!r}")

    def cancel(self, client_order_id: str) -> bool:
        return True
