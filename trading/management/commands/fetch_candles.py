"""Backfill candles_cache from Binance; run it again to resume."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Max
from django.utils import timezone
from tqdm import tqdm

from audit.actors import Actor
from audit.services import record
from trading import market_data, timeframes
from trading.adapters.binance import get_adapter
from trading.adapters.errors import ExchangeError
from trading.management.commands.import_candles import SYMBOL
from trading.models import Candle


class Command(BaseCommand):
    help = (
        "Fetch closed candles from Binance into candles_cache, from --since (or after the newest cached "
        "candle) up to now. Interrupted runs resume where they stopped."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--symbol", required=True, help="e.g. BTCUSDT")
        parser.add_argument("--timeframe", required=True, help=", ".join(timeframes.TIMEFRAME_SECONDS))
        parser.add_argument("--since", help="UTC date or date-time, e.g. 2024-01-01 (default: the last "
                            f"{market_data.DEFAULT_HISTORY} candles, or after the newest cached one)")
        bar = parser.add_mutually_exclusive_group()
        bar.add_argument("--progress", dest="progress", action="store_const", const=True)
        bar.add_argument("--no-progress", dest="progress", action="store_const", const=False)

    def handle(self, *args: Any, **options: Any) -> None:
        symbol = options["symbol"].strip().upper()
        timeframe = options["timeframe"].strip()
        if not SYMBOL.match(symbol):
            raise CommandError(f"--symbol {options['symbol']!r} is not a symbol such as BTCUSDT")
        if timeframe not in timeframes.TIMEFRAME_SECONDS:
            raise CommandError(
                f"--timeframe {timeframe!r} is not one of {', '.join(timeframes.TIMEFRAME_SECONDS)}"
            )
        since = _parse_since(options["since"]) if options["since"] else None
        now = timezone.now()
        if since is not None and since >= now:
            raise CommandError(f"--since {options['since']} is in the future")
        step = timeframes.delta(timeframe)
        last_closed = timeframes.last_closed_open_time(now, timeframe)
        newest = Candle.objects.filter(symbol=symbol, timeframe=timeframe).aggregate(n=Max("open_time"))["n"]
        start = newest + step if newest else (since or last_closed - (market_data.DEFAULT_HISTORY - 1) * step)
        expected = max(0, int((last_closed - start) / step) + 1)
        show = options["progress"]
        if show is None:
            show = sys.stderr.isatty()
        stored = 0

        def advance(count: int) -> None:
            nonlocal stored
            stored += count
            bar.update(count)

        source = market_data.BinanceSource(get_adapter())
        with tqdm(total=expected, unit="candle", unit_scale=True, desc=f"{symbol} {timeframe}",
                  file=sys.stderr, disable=not show, leave=False) as bar:
            try:
                report = market_data.refresh(
                    symbol, timeframe, now=now, since=since, source=source, progress=advance
                )
            except ExchangeError as exc:
                raise CommandError(
                    f"Binance: {exc}; {stored} candles were stored, run the command again to resume"
                ) from None
        record(
            "market_data.candles.fetched",
            Actor.system(),
            f"fetched {report.fetched} {symbol} {timeframe} candles from Binance ({report.inserted} new)",
            inputs={"symbol": symbol, "timeframe": timeframe, "since": since.isoformat() if since else None},
            result=report.as_dict(),
        )
        newest_text = f"{report.newest_open_time:%Y-%m-%d %H:%M} UTC" if report.newest_open_time else "none"
        self.stdout.write(
            f"fetched {report.fetched} {symbol} {timeframe} candles ({report.inserted} new); "
            f"newest cached: {newest_text}"
        )
        if report.gaps:
            self.stdout.write(f"{len(report.gaps)} gap(s) Binance has no candles for, e.g. "
                              f"{report.gaps[0][0]:%Y-%m-%d %H:%M} to {report.gaps[0][1]:%Y-%m-%d %H:%M} UTC")


def _parse_since(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise CommandError(f"--since {text!r} is not a date such as 2024-01-01 or 2024-01-01T12:00") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
