"""Binance's exchange-info filters as :class:`MarketRules` (pure, no client).

Kept apart from the adapter so that reading the bundled ``exchange_info.json``
(replay, backtests) does not import python-binance and its HTTP stacks.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from trading.adapters.errors import ExchangeUnavailable, SymbolNotTrading
from trading.market_rules import MarketRules


def rules_from_symbol_info(info: dict[str, Any]) -> MarketRules:
    """Binance's LOT_SIZE, PRICE_FILTER and MIN_NOTIONAL/NOTIONAL filters as Decimal rules.

    A filter that is absent leaves its rule at zero, which MarketRules reads as "no limit".
    A symbol whose status is not TRADING (halted, in a break, delisted) raises
    :class:`SymbolNotTrading`: there are no rules to trade it by.
    """
    status = info.get("status", "TRADING")
    if status != "TRADING":
        raise SymbolNotTrading(f"{info.get('symbol')} is not trading on Binance (status {status})")
    filters = {f.get("filterType"): f for f in info.get("filters", [])}
    lot = filters.get("LOT_SIZE", {})
    price = filters.get("PRICE_FILTER", {})
    notional = filters.get("NOTIONAL") or filters.get("MIN_NOTIONAL") or {}
    try:
        return MarketRules(
            symbol=info["symbol"],
            base_asset=info.get("baseAsset", ""),
            quote_asset=info.get("quoteAsset", ""),
            step_size=exchange_decimal(lot.get("stepSize", "0")),
            min_qty=exchange_decimal(lot.get("minQty", "0")),
            max_qty=exchange_decimal(lot.get("maxQty", "0")),
            tick_size=exchange_decimal(price.get("tickSize", "0")),
            min_price=exchange_decimal(price.get("minPrice", "0")),
            max_price=exchange_decimal(price.get("maxPrice", "0")),
            min_notional=exchange_decimal(notional.get("minNotional", "0")),
        )
    except (KeyError, InvalidOperation, TypeError) as exc:
        raise ExchangeUnavailable(f"malformed exchange info for {info.get('symbol')!r}: {exc!r}") from exc


def exchange_decimal(value: Any) -> Decimal:
    """A number as Binance sends it (usually a string) as an exact Decimal;
    ``InvalidOperation`` unless it is a finite number."""
    result = Decimal(str(value))
    if not result.is_finite():
        raise InvalidOperation(f"not a finite number: {value!r}")
    return result
