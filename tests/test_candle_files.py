"""Pure cores behind market data: the candle file reader, exchange filters, replay paging."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trading import timeframes
from trading.adapters.binance import rules_from_symbol_info
from trading.adapters.errors import SymbolNotTrading
from trading.candle_files import CandleFileError, CandleRow, parse_candle_lines
from trading.market_data import ReplaySource

DATA = Path(__file__).resolve().parent.parent / "data"
HEADER = "open_time,open,high,low,close,volume"
T0 = 1_747_699_200_000
FAR_FUTURE_MS = 4_102_444_800_000

prices = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("999999.99"), places=2)
volumes = st.decimals(min_value=Decimal("0"), max_value=Decimal("99999.99999999"), places=8)


@st.composite
def candle_rows(draw: st.DrawFn) -> list[CandleRow]:
    count = draw(st.integers(min_value=1, max_value=30))
    steps = draw(st.lists(st.integers(min_value=1, max_value=5), min_size=count, max_size=count))
    rows, opened = [], T0
    for step in steps:
        opened += step * 60_000
        a, b, c, d = sorted(draw(st.lists(prices, min_size=4, max_size=4)))
        o, close = draw(st.permutations([b, c]))
        rows.append(CandleRow(opened, o, d, a, close, draw(volumes)))
    return rows


def as_lines(rows: list[CandleRow]) -> list[str]:
    return [HEADER] + [f"{r.open_time},{r.open},{r.high},{r.low},{r.close},{r.volume}" for r in rows]


@given(candle_rows())
@settings(max_examples=60, deadline=None)
def test_any_valid_series_reads_back_exactly(rows) -> None:
    assert list(parse_candle_lines(as_lines(rows), timeframe="1m", now_ms=FAR_FUTURE_MS)) == rows


CORRUPTIONS = {
    "high below close": lambda r: f"{r.open_time},{r.open},{r.close - Decimal('0.01')},{r.low},{r.close},{r.volume}",
    "low above open": lambda r: f"{r.open_time},{r.open},{r.high},{r.open + Decimal('0.01')},{r.close},{r.volume}",
    "negative volume": lambda r: f"{r.open_time},{r.open},{r.high},{r.low},{r.close},-{r.volume + 1}",
    "misaligned": lambda r: f"{r.open_time + 1},{r.open},{r.high},{r.low},{r.close},{r.volume}",
    "not a number": lambda r: f"{r.open_time},{r.open},x,{r.low},{r.close},{r.volume}",
}


@given(candle_rows(), st.data(), st.sampled_from(sorted(CORRUPTIONS)))
@settings(max_examples=80, deadline=None)
def test_one_bad_row_is_reported_at_its_own_line(rows, data, kind) -> None:
    index = data.draw(st.integers(min_value=0, max_value=len(rows) - 1))
    lines = as_lines(rows)
    lines[index + 1] = CORRUPTIONS[kind](rows[index])
    with pytest.raises(CandleFileError) as caught:
        list(parse_candle_lines(lines, timeframe="1m", now_ms=FAR_FUTURE_MS))
    assert caught.value.line == index + 2


def symbol_info(**overrides: object) -> dict:
    info = {
        "symbol": "XYZUSDT", "status": "TRADING", "baseAsset": "XYZ", "quoteAsset": "USDT",
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": "0.00010000", "maxPrice": "1000.00000000", "tickSize": "0.00010000"},
            {"filterType": "LOT_SIZE", "minQty": "1.00000000", "maxQty": "90000.00000000", "stepSize": "1.00000000"},
            {"filterType": "MIN_NOTIONAL", "minNotional": "10.00000000", "applyToMarket": True, "avgPriceMins": 5},
            {"filterType": "TRAILING_DELTA", "minTrailingAboveDelta": 10},
        ],
    }
    info.update(overrides)
    return info


def test_exchange_filters_become_exact_decimal_rules_including_the_legacy_min_notional() -> None:
    rules = rules_from_symbol_info(symbol_info())
    assert (rules.tick_size, rules.step_size, rules.min_qty, rules.max_qty, rules.min_notional) == (
        Decimal("0.0001"), Decimal("1"), Decimal("1"), Decimal("90000"), Decimal("10"),
    )
    assert rules.round_quantity(Decimal("12.9")) == Decimal("12")


def test_a_symbol_without_filters_has_no_limits_and_a_halted_one_has_no_rules() -> None:
    bare = rules_from_symbol_info(symbol_info(filters=[]))
    assert bare.step_size == bare.min_notional == Decimal(0)
    with pytest.raises(SymbolNotTrading):
        rules_from_symbol_info(symbol_info(status="BREAK"))


REPLAY = ReplaySource(DATA)
BTC_1M = REPLAY.series("BTCUSDT", "1m")
FIRST, LAST = int(BTC_1M.open_time[0]), int(BTC_1M.open_time[-1])


@given(
    st.integers(min_value=FIRST - 10 * 60_000, max_value=LAST),
    st.integers(min_value=0, max_value=3000),
    st.integers(min_value=0, max_value=3000 * 60_000),
)
@settings(max_examples=40, deadline=None)
def test_replay_pages_hold_exactly_the_candles_closed_at_now(start_ms, span, now_after_start_ms) -> None:
    start = timeframes.from_ms(start_ms)
    end = timeframes.from_ms(start_ms + span * 60_000)
    now = timeframes.from_ms(start_ms + now_after_start_ms)
    pages = list(REPLAY.closed_candles("BTCUSDT", "1m", start=start, end=end, now=now))
    got = [k.open_time for page in pages for k in page]
    times = BTC_1M.open_time
    expected = times[(times >= start_ms) & (times <= start_ms + span * 60_000) & (times + 60_000 <= start_ms + now_after_start_ms)]
    assert got == [int(t) for t in expected]
    assert all(len(page) <= 1000 for page in pages)


def test_replay_price_and_candles_are_the_files_decimals() -> None:
    now = datetime(2025, 5, 20, 0, 1, tzinfo=UTC)
    # 1747699200000,105573.73,105597.1,105554.31,105554.32,10.82647
    (first,) = [k for page in REPLAY.closed_candles("BTCUSDT", "1m", start=now.replace(minute=0), end=now, now=now)
                for k in page]
    assert (first.open, first.high, first.low, first.close, first.volume) == (
        Decimal("105573.73"), Decimal("105597.1"), Decimal("105554.31"), Decimal("105554.32"), Decimal("10.82647"),
    )
    assert REPLAY.current_price("BTCUSDT", "1m", now=now) == Decimal(str(BTC_1M.open[1]))
