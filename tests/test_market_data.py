"""trading.market_data: the candle cache, the sources (fake Binance, replay), staleness."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest
from django.db import connection

from tests.fakes.binance import FakeBinance, Fault
from tests.fakes.fixtures import FAKE_BINANCE_CLOCK
from trading import market_data, timeframes
from trading.adapters.errors import BadSymbol, ExchangeError, MarketDataUnavailable
from trading.adapters.types import Kline
from trading.candles import load_csv
from trading.models import Candle

pytestmark = pytest.mark.django_db

MINUTE = timedelta(minutes=1)
NOW = FAKE_BINANCE_CLOCK  # 2025-08-18 12:00:30: 11:59 is the newest closed candle, 12:00 is forming
LAST_CLOSED = datetime(2025, 8, 18, 11, 59, tzinfo=UTC)
KLINES = "/api/v3/klines"
BTC_1M = load_csv(market_data.default_data_dir() / "binance" / "BTCUSDT-1m.csv.gz", "BTCUSDT", "1m")


def bundled(moment: datetime) -> dict:
    """The bundled 1m row that opens at ``moment``, with Decimal prices."""
    i = int(np.searchsorted(BTC_1M.open_time, timeframes.to_ms(moment)))
    assert BTC_1M.open_time[i] == timeframes.to_ms(moment)
    return BTC_1M.row(i)


def cached_times(symbol: str = "BTCUSDT", timeframe: str = "1m") -> list[datetime]:
    return list(
        Candle.objects.filter(symbol=symbol, timeframe=timeframe).order_by("open_time").values_list("open_time", flat=True)
    )


def minutes(first: datetime, last: datetime) -> list[datetime]:
    count = int((last - first) / MINUTE) + 1
    return [first + i * MINUTE for i in range(count)]


# --- refresh from Binance (the fake) ------------------------------------------------
def test_refresh_stores_the_last_closed_candles_and_never_the_forming_one(fake_binance: FakeBinance) -> None:
    report = market_data.refresh("BTCUSDT", "1m", now=NOW)
    times = cached_times()
    assert times == minutes(LAST_CLOSED - (market_data.DEFAULT_HISTORY - 1) * MINUTE, LAST_CLOSED)
    assert (report.fetched, report.inserted, report.newest_open_time, report.gaps) == (
        market_data.DEFAULT_HISTORY, market_data.DEFAULT_HISTORY, LAST_CLOSED, (),
    )
    assert report.source == "binance"
    stored = Candle.objects.get(symbol="BTCUSDT", timeframe="1m", open_time=LAST_CLOSED)
    expected = bundled(LAST_CLOSED)
    assert (stored.open, stored.high, stored.low, stored.close, stored.volume) == (
        expected["open"], expected["high"], expected["low"], expected["close"], expected["volume"],
    )
    assert stored.close_time == LAST_CLOSED + MINUTE
    assert stored.source == "binance"


def test_refresh_twice_stores_nothing_twice_and_asks_for_nothing_new(fake_binance: FakeBinance) -> None:
    market_data.refresh("BTCUSDT", "1m", now=NOW)
    requests_before = fake_binance.count(KLINES)
    again = market_data.refresh("BTCUSDT", "1m", now=NOW)
    assert (again.fetched, again.inserted) == (0, 0)
    assert fake_binance.count(KLINES) == requests_before
    assert Candle.objects.count() == market_data.DEFAULT_HISTORY


def test_refresh_later_fetches_only_what_closed_since(fake_binance: FakeBinance) -> None:
    market_data.refresh("BTCUSDT", "1m", now=NOW)
    fake_binance.advance(180)
    report = market_data.refresh("BTCUSDT", "1m", now=NOW + timedelta(seconds=180))
    assert (report.fetched, report.inserted) == (3, 3)
    assert report.newest_open_time == LAST_CLOSED + 3 * MINUTE
    assert Candle.objects.count() == market_data.DEFAULT_HISTORY + 3


def test_a_caller_clock_ahead_of_the_exchange_never_stores_the_forming_candle(fake_binance: FakeBinance) -> None:
    report = market_data.refresh("BTCUSDT", "1m", now=NOW + timedelta(minutes=10))
    assert report.newest_open_time == LAST_CLOSED
    assert not Candle.objects.filter(open_time__gt=LAST_CLOSED).exists()


def test_a_gap_in_the_source_is_reported_then_filled_once_the_source_has_it(fake_binance: FakeBinance) -> None:
    hole = (datetime(2025, 8, 18, 11, 30, tzinfo=UTC), datetime(2025, 8, 18, 11, 34, tzinfo=UTC))
    fake_binance.hide_candles("BTCUSDT", "1m", timeframes.to_ms(hole[0]), timeframes.to_ms(hole[1]))
    first = market_data.refresh("BTCUSDT", "1m", now=NOW)
    assert first.gaps == (hole,)
    assert not Candle.objects.filter(open_time__range=hole).exists()

    fake_binance.unhide_candles("BTCUSDT", "1m")
    second = market_data.refresh("BTCUSDT", "1m", now=NOW)
    assert (second.inserted, second.gaps) == (5, ())
    assert cached_times()[-60:] == minutes(LAST_CLOSED - 59 * MINUTE, LAST_CLOSED)


def test_refresh_with_since_backfills_before_the_oldest_cached_candle(fake_binance: FakeBinance) -> None:
    market_data.refresh("BTCUSDT", "1m", now=NOW)
    oldest = cached_times()[0]
    since = oldest - 30 * MINUTE
    report = market_data.refresh("BTCUSDT", "1m", now=NOW, since=since)
    assert report.inserted == 30
    assert cached_times()[0] == since


def test_a_failed_page_keeps_the_pages_stored_before_it(fake_binance: FakeBinance) -> None:
    since = LAST_CLOSED - 2499 * MINUTE
    fake_binance.inject(KLINES, Fault.passthrough(), *[Fault.server_error(502)] * 4)
    source = market_data.BinanceSource()
    source.adapter.sleep = lambda seconds: None
    with pytest.raises(ExchangeError):
        market_data.refresh("BTCUSDT", "1m", now=NOW, since=since, source=source)
    assert len(cached_times()) == 1000
    report = market_data.refresh("BTCUSDT", "1m", now=NOW, since=since, source=source)
    assert report.inserted == 1500
    assert cached_times() == minutes(since, LAST_CLOSED)


def test_binance_current_price_is_the_ticker_and_rules_come_from_exchange_info(fake_binance: FakeBinance) -> None:
    assert market_data.current_price("BTCUSDT", "1m", now=NOW) == fake_binance.current_price("BTCUSDT")
    assert market_data.market_rules("BTCUSDT").step_size == Decimal("0.00001")


# --- window -----------------------------------------------------------------------
def test_window_returns_the_last_n_closed_candles_oldest_first(fake_binance: FakeBinance) -> None:
    candles = market_data.window("BTCUSDT", "1m", 50, now=NOW)
    assert len(candles) == 50
    assert [timeframes.from_ms(int(t)) for t in candles.open_time] == minutes(LAST_CLOSED - 49 * MINUTE, LAST_CLOSED)
    assert candles.row(49) == bundled(LAST_CLOSED)


def test_window_served_from_a_complete_cache_makes_no_request(fake_binance: FakeBinance) -> None:
    market_data.refresh("BTCUSDT", "1m", now=NOW)
    seen = sum(fake_binance.hits.values())
    assert len(market_data.window("BTCUSDT", "1m", 200, now=NOW)) == 200
    assert sum(fake_binance.hits.values()) == seen


def test_window_fills_holes_in_the_cache_by_paging(fake_binance: FakeBinance) -> None:
    market_data.refresh("BTCUSDT", "1m", now=NOW)
    Candle.objects.filter(open_time__gte=LAST_CLOSED - 40 * MINUTE, open_time__lte=LAST_CLOSED - 20 * MINUTE).delete()
    Candle.objects.filter(open_time=LAST_CLOSED - 5 * MINUTE).delete()
    before = fake_binance.count(KLINES)
    candles = market_data.window("BTCUSDT", "1m", 100, now=NOW)
    assert [timeframes.from_ms(int(t)) for t in candles.open_time] == minutes(LAST_CLOSED - 99 * MINUTE, LAST_CLOSED)
    assert fake_binance.count(KLINES) == before + 2  # one page per hole


def test_window_past_an_exchange_outage_reaches_further_back(fake_binance: FakeBinance) -> None:
    outage = (LAST_CLOSED - 9 * MINUTE, LAST_CLOSED - 5 * MINUTE)
    fake_binance.hide_candles("BTCUSDT", "1m", *(timeframes.to_ms(t) for t in outage))
    market_data.refresh("BTCUSDT", "1m", now=NOW)
    candles = market_data.window("BTCUSDT", "1m", 20, now=NOW)
    times = [timeframes.from_ms(int(t)) for t in candles.open_time]
    assert len(times) == 20
    assert times[0] == LAST_CLOSED - 24 * MINUTE
    assert not set(times) & set(minutes(*outage))


def test_window_needs_at_least_one_candle() -> None:
    with pytest.raises(ValueError, match="at least one"):
        market_data.window("BTCUSDT", "1m", 0, now=NOW)


# --- freshness --------------------------------------------------------------------
def test_freshness_reports_a_series_older_than_two_timeframes_as_stale(fake_binance: FakeBinance) -> None:
    empty = market_data.freshness("BTCUSDT", "1m", now=NOW)
    assert empty.stale and "no closed" in empty.reason

    market_data.refresh("BTCUSDT", "1m", now=NOW)
    fresh = market_data.freshness("BTCUSDT", "1m", now=NOW)
    assert (fresh.stale, fresh.newest_open_time, fresh.age) == (False, LAST_CLOSED, timedelta(seconds=30))

    at_limit = market_data.freshness("BTCUSDT", "1m", now=LAST_CLOSED + 3 * MINUTE)
    assert not at_limit.stale  # closed exactly two timeframes ago
    stale = market_data.freshness("BTCUSDT", "1m", now=LAST_CLOSED + 3 * MINUTE + timedelta(seconds=1))
    assert stale.stale
    assert "11:59" not in stale.reason and "12:00" in stale.reason  # names the close time
    assert stale.as_dict()["stale"] is True


def test_freshness_ignores_candles_after_now() -> None:
    market_data.refresh("BTCUSDT", "1m", now=NOW, source=market_data.ReplaySource())
    earlier = NOW - timedelta(hours=1)
    assert not market_data.freshness("BTCUSDT", "1m", now=earlier).stale
    assert market_data.freshness("BTCUSDT", "1m", now=earlier).newest_open_time == LAST_CLOSED - 60 * MINUTE


# --- replay -----------------------------------------------------------------------
REPLAY_NOW = datetime(2025, 6, 1, 10, 0, 30, tzinfo=UTC)


def test_replay_shows_only_the_candles_closed_at_now(settings) -> None:
    settings.MARKET_DATA = "replay"
    candles = market_data.window("BTCUSDT", "1m", 5, now=REPLAY_NOW)
    last = datetime(2025, 6, 1, 9, 59, tzinfo=UTC)
    assert [timeframes.from_ms(int(t)) for t in candles.open_time] == minutes(last - 4 * MINUTE, last)
    assert candles.row(4) == bundled(last)
    assert not Candle.objects.filter(open_time__gt=last).exists()
    assert set(Candle.objects.values_list("source", flat=True)) == {"replay"}


def test_replay_current_price_is_the_open_of_the_candle_after_the_last_closed_one(settings) -> None:
    settings.MARKET_DATA = "replay"
    boundary = datetime(2025, 6, 1, 10, 0, tzinfo=UTC)  # candle 09:59 has just closed
    assert market_data.current_price("BTCUSDT", "1m", now=boundary) == bundled(boundary)["open"]
    assert market_data.current_price("BTCUSDT", "1m", now=REPLAY_NOW) == bundled(boundary)["open"]
    hour = market_data.current_price("BTCUSDT", "1h", now=datetime(2025, 6, 1, 10, 59, tzinfo=UTC))
    assert hour == bundled(boundary)["open"]


def test_replay_past_the_end_of_its_data_has_no_price() -> None:
    with pytest.raises(MarketDataUnavailable):
        market_data.ReplaySource().current_price("BTCUSDT", "1m", now=datetime(2026, 1, 1, tzinfo=UTC))


def test_replay_rules_come_from_the_bundled_exchange_info() -> None:
    source = market_data.ReplaySource()
    rules = source.market_rules("ETHUSDT")
    assert (rules.step_size, rules.min_qty, rules.tick_size, rules.min_notional) == (
        Decimal("0.0001"), Decimal("0.0001"), Decimal("0.01"), Decimal("5"),
    )
    with pytest.raises(BadSymbol):
        source.market_rules("DOGEUSDT")


def test_replay_builds_a_timeframe_without_a_file_from_complete_finer_candles() -> None:
    source = market_data.ReplaySource()
    five = source.series("BTCUSDT", "5m")
    start = timeframes.to_ms(datetime(2025, 6, 1, 10, 0, tzinfo=UTC))
    i = int(np.searchsorted(five.open_time, start))
    j = int(np.searchsorted(BTC_1M.open_time, start))
    minute = BTC_1M[j : j + 5]
    assert five.open_time[i] == start
    assert five.open[i] == minute.open[0] and five.close[i] == minute.close[4]
    assert five.high[i] == minute.high.max() and five.low[i] == minute.low.min()
    assert five.volume[i] == pytest.approx(minute.volume.sum())
    assert int(five.open_time[-1]) + 300_000 <= int(BTC_1M.open_time[-1]) + 60_000  # no partial bucket


def test_replay_completes_the_hourly_file_with_hours_built_from_minutes() -> None:
    series = market_data.ReplaySource().series("BTCUSDT", "1h")
    times = series.open_time
    assert (np.diff(times) > 0).all()
    assert timeframes.from_ms(int(times[0])) == datetime(2017, 8, 17, 4, tzinfo=UTC)  # the 1h file
    assert timeframes.from_ms(int(times[-1])) == datetime(2025, 8, 18, 17, tzinfo=UTC)  # built from 1m


def test_replay_serves_the_second_symbol_and_reports_the_real_gaps_of_the_hourly_file() -> None:
    source = market_data.ReplaySource()
    eth = market_data.window("ETHUSDT", "15m", 10, now=datetime(2025, 7, 1, 0, 7, tzinfo=UTC), source=source)
    assert timeframes.from_ms(int(eth.open_time[-1])) == datetime(2025, 6, 30, 23, 45, tzinfo=UTC)

    # Binance had no candles for 33 hours after 2018-02-08 00:00.
    report = market_data.refresh(
        "BTCUSDT", "1h", now=datetime(2018, 2, 12, tzinfo=UTC), since=datetime(2018, 2, 1, tzinfo=UTC), source=source
    )
    outage = (datetime(2018, 2, 8, 1, tzinfo=UTC), datetime(2018, 2, 9, 9, tzinfo=UTC))
    assert outage in report.gaps


def test_get_source_follows_the_setting(settings) -> None:
    settings.MARKET_DATA = "replay"
    assert isinstance(market_data.get_source(), market_data.ReplaySource)
    assert market_data.get_source() is market_data.get_source()
    settings.MARKET_DATA = "binance"
    assert isinstance(market_data.get_source(), market_data.BinanceSource)


# --- storing ----------------------------------------------------------------------
def kline(opened: datetime, price: str = "100") -> Kline:
    value = Decimal(price)
    ms = timeframes.to_ms(opened)
    return Kline(ms, value, value, value, value, Decimal("1"), ms + 59_999)


def test_store_refuses_an_unclosed_candle_and_writes_nothing() -> None:
    rows = [kline(LAST_CLOSED - MINUTE), kline(LAST_CLOSED), kline(LAST_CLOSED + MINUTE)]
    with pytest.raises(ValueError, match="has not closed"):
        market_data.store_candles(symbol="BTCUSDT", timeframe="1m", rows=rows, source="test", now=NOW)
    assert Candle.objects.count() == 0


def test_store_is_an_upsert_counting_only_new_rows() -> None:
    rows = [kline(LAST_CLOSED - MINUTE), kline(LAST_CLOSED)]
    assert market_data.store_candles(symbol="BTCUSDT", timeframe="1m", rows=rows, source="a", now=NOW) == 2
    rows = [kline(LAST_CLOSED - 2 * MINUTE), kline(LAST_CLOSED - MINUTE, "101"), kline(LAST_CLOSED)]
    assert market_data.store_candles(symbol="btcusdt", timeframe="1m", rows=rows, source="b", now=NOW) == 1
    assert Candle.objects.count() == 3
    assert Candle.objects.get(open_time=LAST_CLOSED - MINUTE).close == Decimal("101")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_upserts_of_the_same_candles_never_duplicate() -> None:
    rows = [kline(LAST_CLOSED - i * MINUTE) for i in range(300, 0, -1)]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def store() -> None:
        try:
            barrier.wait()
            market_data.store_candles(symbol="BTCUSDT", timeframe="1m", rows=rows, source="t", now=NOW, batch_size=50)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=store) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert Candle.objects.count() == 300
