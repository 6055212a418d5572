"""The cycle's cheap reads give what the ORM queries and the full refresh they
stand in for give: the candle window, the refresh that only counts what came
after a known complete range, and the positions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db.models import Q

from tests.factories import BotFactory, PositionFactory
from trading import cycle, market_data, timeframes
from trading.adapters.types import Kline
from trading.market_data import ReplaySource
from trading.models import Candle, Position

pytestmark = pytest.mark.django_db

MINUTE = timedelta(minutes=1)
START = datetime(2025, 6, 1, tzinfo=UTC)


def kline(opened: datetime, price: str, volume: str) -> Kline:
    ms = timeframes.to_ms(opened)
    return Kline(ms, Decimal(price), Decimal(price), Decimal(price), Decimal(price), Decimal(volume), ms + 59_999)


def store(first: datetime, count: int, **prices: str) -> None:
    rows = [kline(first + i * MINUTE, prices.get("price", "100.5"), prices.get("volume", "1.25"))
            for i in range(count)]
    market_data.store_candles(symbol="BTCUSDT", timeframe="1m", rows=rows, source="test", now=START + 10 * 24 * 60 * MINUTE)


def test_newest_cached_is_what_values_list_gives() -> None:
    # Awkward values too: 16 significant digits, 8 places, tiny and whole numbers.
    store(START, 5, price="0.00000001", volume="12345678.12345678")
    store(START + 5 * MINUTE, 5, price="105812.74", volume="3")
    store(START + 10 * MINUTE, 5, price="99999999.99999999", volume="0.1")
    last = START + 14 * MINUTE
    for n, before in ((15, last), (4, last), (7, last - 3 * MINUTE), (30, last)):
        orm = list(
            Candle.objects.filter(symbol="BTCUSDT", timeframe="1m", open_time__lte=before).order_by("-open_time")
            .values_list(*market_data.WINDOW_COLUMNS)[:n]
        )
        orm.reverse()
        got = market_data.newest_cached("BTCUSDT", "1m", last_closed=before, n=n)
        assert got == orm
        assert [tuple(map(type, row)) for row in got] == [tuple(map(type, row)) for row in orm]


def test_a_cached_window_is_the_window_when_nothing_would_be_fetched() -> None:
    store(START, 1200)
    now = START + 1100 * MINUTE + timedelta(seconds=5)
    report = market_data.refresh("BTCUSDT", "1m", now=now)
    assert report.complete == (START + 99 * MINUTE, START + 1099 * MINUTE) and report.fetched == 0
    later = now + 3 * MINUTE
    found = market_data.cached_window("BTCUSDT", "1m", 32, now=later, complete=report.complete)
    assert found is not None
    candles, complete = found
    expected = market_data.window("BTCUSDT", "1m", 32, now=later)
    assert complete == (START + 99 * MINUTE, START + 1102 * MINUTE)
    for column in ("open_time", "open", "high", "low", "close", "volume"):
        assert getattr(candles, column).tolist() == getattr(expected, column).tolist()
    # Not when the known range ends before the window, nor when a candle is missing.
    assert market_data.cached_window("BTCUSDT", "1m", 2, now=later, complete=report.complete) is None
    Candle.objects.filter(open_time=START + 1102 * MINUTE).delete()
    assert market_data.cached_window("BTCUSDT", "1m", 32, now=later, complete=report.complete) is None


def test_a_young_series_that_got_older_candles_takes_the_long_way() -> None:
    store(START + 100 * MINUTE, 200)
    now = START + 300 * MINUTE + timedelta(seconds=5)
    report = market_data.refresh("BTCUSDT", "1m", now=now)
    assert report.complete == (START + 100 * MINUTE, START + 299 * MINUTE)
    assert market_data.cached_window("BTCUSDT", "1m", 32, now=now, complete=report.complete) is not None
    store(START, 50)  # imported since, with a hole before the young series' first candle
    assert market_data.cached_window("BTCUSDT", "1m", 32, now=now, complete=report.complete) is None
    # The long way, as a refresh without the range: it fills the hole.
    again = market_data.refresh("BTCUSDT", "1m", now=now, complete=report.complete, source=ReplaySource())
    assert again.fetched == 50 and again.complete == (START, START + 299 * MINUTE)


def test_refresh_with_a_known_range_counts_only_what_came_after_it() -> None:
    store(START, 1200)
    now = START + 1100 * MINUTE + timedelta(seconds=5)
    first = market_data.refresh("BTCUSDT", "1m", now=now)
    later = now + 5 * MINUTE
    fast = market_data.refresh("BTCUSDT", "1m", now=later, complete=first.complete)
    plain = market_data.refresh("BTCUSDT", "1m", now=later)
    assert (fast.fetched, fast.inserted, fast.newest_open_time, fast.gaps) == (
        plain.fetched, plain.inserted, plain.newest_open_time, plain.gaps) == (0, 0, START + 1104 * MINUTE, ())
    assert fast.complete == (START + 99 * MINUTE, START + 1104 * MINUTE)
    # A missing candle after the range: the long way, which fetches it.
    Candle.objects.filter(open_time=START + 1103 * MINUTE).delete()
    assert market_data._still_complete("BTCUSDT", "1m", first.complete, START + 1104 * MINUTE) is None


def test_the_positions_read_is_what_the_orm_gives() -> None:
    bot = BotFactory(name="middle")
    PositionFactory(bot=bot, symbol="ETHUSDT", quantity=Decimal("0"), last_price=None)
    PositionFactory(bot=bot, symbol="BTCUSDT", quantity=Decimal("0.12345678"), last_price=Decimal("105812.74"))
    PositionFactory(bot=BotFactory(name="zed"), symbol="BTCUSDT", quantity=Decimal("2"))
    PositionFactory(bot=BotFactory(name="alpha"), symbol="XRPETH", quantity=Decimal("12345678.12345678"))
    PositionFactory(bot=BotFactory(name="flat"), symbol="BTCUSDT", quantity=Decimal("0"))
    fields = [f.attname for f in Position._meta.concrete_fields]
    orm = [[getattr(p, f) for f in fields] for p in Position.objects.filter(Q(bot=bot) | Q(quantity__gt=0))]
    got = [[getattr(p, f) for f in fields] for p in cycle._positions(bot)]
    assert got == orm and len(got) == 4


@pytest.mark.postgres
def test_newest_cached_is_what_values_list_gives_on_postgresql() -> None:
    test_newest_cached_is_what_values_list_gives()


@pytest.mark.postgres
def test_the_positions_read_is_what_the_orm_gives_on_postgresql() -> None:
    test_the_positions_read_is_what_the_orm_gives()


@pytest.mark.postgres
def test_a_young_series_that_got_older_candles_takes_the_long_way_on_postgresql() -> None:
    test_a_young_series_that_got_older_candles_takes_the_long_way()
