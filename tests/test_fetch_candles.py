"""``manage.py fetch_candles``: a resumable backfill from Binance (the local fake)."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command

from audit.models import Event
from tests.fakes.binance import FakeBinance, Fault
from trading.adapters.binance import get_adapter
from trading.models import Candle

pytestmark = pytest.mark.django_db

LAST_CLOSED = datetime(2025, 8, 18, 11, 59, tzinfo=UTC)  # at the fake's clock, 12:00:30
MINUTE = timedelta(minutes=1)


@pytest.fixture(autouse=True)
def wall_clock_is_the_fakes(fake_binance: FakeBinance, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The command reads the wall clock; here it is the fake exchange's clock."""
    from django.utils import timezone

    monkeypatch.setattr(timezone, "now", lambda: datetime.fromtimestamp(fake_binance.now_ms() / 1000, UTC))


def fetch(*args: str) -> str:
    out = io.StringIO()
    call_command("fetch_candles", "--symbol", "BTCUSDT", "--timeframe", "1m", *args, stdout=out,
                 stderr=io.StringIO())
    return out.getvalue()


def cached() -> list[datetime]:
    return list(Candle.objects.order_by("open_time").values_list("open_time", flat=True))


def test_backfills_from_since_up_to_the_last_closed_candle() -> None:
    out = fetch("--since", "2025-08-18T10:00")
    times = cached()
    assert times[0] == datetime(2025, 8, 18, 10, 0, tzinfo=UTC)
    assert times[-1] == LAST_CLOSED
    assert len(times) == 120
    assert "fetched 120 BTCUSDT 1m candles (120 new)" in out
    event = Event.objects.get(type="market_data.candles.fetched")
    assert event.result["inserted"] == 120


def test_an_interrupted_backfill_resumes_after_the_newest_cached_candle(fake_binance: FakeBinance) -> None:
    since = LAST_CLOSED - 2499 * MINUTE
    get_adapter().sleep = lambda seconds: None
    fake_binance.inject("/api/v3/klines", Fault.passthrough(), *[Fault.server_error(502)] * 4)
    with pytest.raises(CommandError) as caught:
        fetch("--since", since.strftime("%Y-%m-%dT%H:%M"))
    assert "1000 candles were stored, run the command again to resume" in str(caught.value)
    assert len(cached()) == 1000
    requests_before = fake_binance.count("/api/v3/klines")

    out = fetch("--since", since.strftime("%Y-%m-%dT%H:%M"))
    assert "(1500 new)" in out
    assert fake_binance.count("/api/v3/klines") == requests_before + 2  # 1000 + 500, from where it stopped
    times = cached()
    assert len(times) == 2500 and times[0] == since and times[-1] == LAST_CLOSED
    assert "(0 new)" in fetch("--since", since.strftime("%Y-%m-%dT%H:%M"))


def test_an_ip_ban_stops_the_command_with_one_line(fake_binance: FakeBinance) -> None:
    fake_binance.inject("/api/v3/time", Fault.banned(seconds=300))
    with pytest.raises(CommandError) as caught:
        fetch("--since", "2025-08-18")
    assert "banned" in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("since", "message"),
    [("yesterday", "is not a date"), ("2030-01-01", "is in the future")],
)
def test_a_bad_since_is_refused(since, message) -> None:
    with pytest.raises(CommandError, match=message):
        fetch("--since", since)
