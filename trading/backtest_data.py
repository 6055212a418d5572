"""Where a backtest's candles and exchange rules come from: a CSV file or the
candle cache, and the symbol's filters (bundled or from the market data source)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path

import numpy as np

from trading.candles import Candles, load_csv
from trading.market_rules import MarketRules
from trading.timeframes import to_ms


class BacktestDataError(ValueError):
    """Candles that cannot be had: a missing or malformed file, an empty cache."""


def load_candles(
    symbol: str, timeframe: str, *, data: str | None = None,
    start: datetime | None = None, end: datetime | None = None,
) -> Candles:
    if data:
        path = Path(data)
        if not path.is_file():
            raise BacktestDataError(f"--data {data}: no such file")
        try:
            candles = load_csv(path, symbol, timeframe)
        except (ValueError, OSError, EOFError) as exc:
            raise BacktestDataError(f"--data {data}: not a candle CSV ({exc})") from None
    else:
        candles = _from_cache(symbol, timeframe, start, end)
        if len(candles) == 0:
            raise BacktestDataError(
                f"no {symbol} {timeframe} candles cached in that range: import some with "
                f"`manage.py import_candles FILE --symbol {symbol} --timeframe {timeframe}` or use --data"
            )
        return candles
    return _between(candles, start, end)


def _between(candles: Candles, start: datetime | None, end: datetime | None) -> Candles:
    lo = int(np.searchsorted(candles.open_time, to_ms(start), "left")) if start else 0
    hi = int(np.searchsorted(candles.open_time, to_ms(end), "right")) if end else len(candles)
    return candles[lo:hi]


def _from_cache(symbol: str, timeframe: str, start: datetime | None, end: datetime | None) -> Candles:
    from django.db.models import FloatField
    from django.db.models.functions import Cast

    from trading.models import Candle

    rows = Candle.objects.filter(symbol=symbol, timeframe=timeframe)
    if start:
        rows = rows.filter(open_time__gte=start)
    if end:
        rows = rows.filter(open_time__lte=end)
    # Cast in the query: the candles become float64 anyway, and Django's Decimal
    # conversion of five columns per row was most of the time of a month of 1m.
    prices = {name[0]: Cast(name, FloatField()) for name in ("open", "high", "low", "close")}
    values = rows.order_by("open_time").annotate(**prices, v=Cast("volume", FloatField())).values_list(
        "open_time", "o", "h", "l", "c", "v"
    )
    return Candles.from_rows(symbol, timeframe, ((to_ms(r[0]), *r[1:]) for r in values.iterator(chunk_size=5000)))


# Permissive rules for a symbol whose filters we do not know (a CSV of another
# market): nothing is refused for size, prices are kept to 8 decimals.
def generic_rules(symbol: str) -> MarketRules:
    tiny = Decimal("0.00000001")
    return MarketRules(
        symbol=symbol, base_asset=symbol, quote_asset="", step_size=tiny, min_qty=tiny,
        max_qty=Decimal("0"), tick_size=tiny, min_price=Decimal("0"), max_price=Decimal("0"),
        min_notional=Decimal("0"),
    )


def market_rules_for(symbol: str) -> tuple[MarketRules, str]:
    """The symbol's exchange filters, or generic ones with a note saying so."""
    from trading.adapters.errors import BadSymbol
    from trading.market_data import ReplaySource

    try:
        return ReplaySource().market_rules(symbol), ""
    except BadSymbol:  # unknown to the bundled exchange info: say so and go on
        return generic_rules(symbol), (
            f"note: no exchange filters known for {symbol}; using 8-decimal steps and no minimums"
        )
