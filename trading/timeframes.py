"""Binance kline intervals and the arithmetic on them (pure, no Django)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

TIMEFRAME_SECONDS: dict[str, int] = {
    "1m": 60,
    "3m": 180,
    "5m": 300,
    "15m": 900,
    "30m": 1800,
    "1h": 3600,
    "2h": 7200,
    "4h": 14400,
    "6h": 21600,
    "8h": 28800,
    "12h": 43200,
    "1d": 86400,
}
TIMEFRAME_CHOICES = [(tf, tf) for tf in TIMEFRAME_SECONDS]


class UnknownTimeframe(ValueError):
    pass


def seconds(timeframe: str) -> int:
    try:
        return TIMEFRAME_SECONDS[timeframe]
    except KeyError:
        raise UnknownTimeframe(
            f"unknown timeframe {timeframe!r}: use one of {', '.join(TIMEFRAME_SECONDS)}"
        ) from None


def delta(timeframe: str) -> timedelta:
    return timedelta(seconds=seconds(timeframe))


def floor(moment: datetime, timeframe: str) -> datetime:
    """The open time of the candle that contains ``moment``."""
    step = seconds(timeframe)
    epoch = int(moment.timestamp())
    return datetime.fromtimestamp(epoch - epoch % step, tz=UTC)


def last_closed_open_time(now: datetime, timeframe: str) -> datetime:
    """Open time of the newest candle that has closed at ``now``."""
    return floor(now, timeframe) - delta(timeframe)


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def to_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)
