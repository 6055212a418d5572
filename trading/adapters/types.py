"""Plain values that adapters return (pure, no Django). Money is ``Decimal``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class Kline:
    """One candle as the exchange sent it. ``open_time``/``close_time`` are epoch ms;
    Binance's ``close_time`` is the last millisecond of the candle (open + tf - 1)."""

    open_time: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    close_time: int


@dataclass(frozen=True)
class OrderFill:
    price: Decimal
    quantity: Decimal
    commission: Decimal
    commission_asset: str
    trade_id: str
    # When the trade happened: given by the trade list, not by an order reply's fills.
    time: datetime | None = None


@dataclass(frozen=True)
class OrderResult:
    """An order as the exchange reports it (after place, query or cancel)."""

    symbol: str
    order_id: int
    client_order_id: str
    side: str
    order_type: str
    status: str
    price: Decimal
    orig_qty: Decimal
    executed_qty: Decimal
    cumulative_quote_qty: Decimal
    fills: tuple[OrderFill, ...] = ()
    transact_time: datetime | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def avg_price(self) -> Decimal | None:
        if not self.executed_qty:
            return None
        return self.cumulative_quote_qty / self.executed_qty


@dataclass(frozen=True)
class Balance:
    asset: str
    free: Decimal
    locked: Decimal

    @property
    def total(self) -> Decimal:
        return self.free + self.locked
