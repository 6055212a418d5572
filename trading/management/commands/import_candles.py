"""Import a candle CSV (``.csv`` or ``.csv.gz``) into candles_cache."""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from tqdm import tqdm

from audit.actors import Actor
from trading import market_data, timeframes
from trading.candle_files import CandleFileError

SYMBOL = re.compile(r"^[A-Z0-9]{2,20}$")
# Below this many rows an import takes well under a second: no bar.
LONG_FILE_ROWS = 10_000


class Command(BaseCommand):
    help = (
        "Import candles from a CSV file (header open_time,open,high,low,close,volume; open_time in "
        "epoch ms). Every line is checked first; a bad file imports nothing. Running it twice is harmless."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="a .csv or .csv.gz file")
        parser.add_argument("--symbol", required=True, help="e.g. BTCUSDT")
        parser.add_argument("--timeframe", required=True, help=", ".join(timeframes.TIMEFRAME_SECONDS))
        parser.add_argument("--source", default="import", help="label stored with each candle (default: import)")
        bar = parser.add_mutually_exclusive_group()
        bar.add_argument("--progress", dest="progress", action="store_const", const=True,
                         help="always show a progress bar (default: on a terminal, for long files)")
        bar.add_argument("--no-progress", dest="progress", action="store_const", const=False)

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["file"])
        symbol = options["symbol"].strip().upper()
        timeframe = options["timeframe"].strip()
        if not SYMBOL.match(symbol):
            raise CommandError(f"--symbol {options['symbol']!r} is not a symbol such as BTCUSDT")
        if timeframe not in timeframes.TIMEFRAME_SECONDS:
            raise CommandError(
                f"--timeframe {timeframe!r} is not one of {', '.join(timeframes.TIMEFRAME_SECONDS)}"
            )
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        source = options["source"].strip()[:20] or "import"
        started = time.perf_counter()
        try:
            rows, _, _ = market_data.candle_file_check(path, timeframe=timeframe, now=timezone.now())
        except CandleFileError as exc:
            raise CommandError(f"{path}: {exc}; nothing was imported") from None
        except OSError as exc:
            raise CommandError(f"{path}: cannot read it ({exc.strerror or exc})") from None
        show = options["progress"]
        if show is None:
            show = sys.stderr.isatty() and rows >= LONG_FILE_ROWS
        with tqdm(total=rows, unit="candle", unit_scale=True, desc=f"{symbol} {timeframe}",
                  file=sys.stderr, disable=not show, leave=False) as bar:
            try:
                report = market_data.candles_import(
                    path=path,
                    symbol=symbol,
                    timeframe=timeframe,
                    actor=Actor.system(),
                    source=source,
                    progress=bar.update,
                )
            except CandleFileError as exc:  # the file changed since it was checked
                raise CommandError(f"{path}: {exc}; nothing was imported") from None
        elapsed = time.perf_counter() - started
        self.stdout.write(
            f"imported {report.rows} {symbol} {timeframe} candles "
            f"({report.first_open_time:%Y-%m-%d %H:%M} to {report.last_open_time:%Y-%m-%d %H:%M} UTC) "
            f"from {path.name}: {report.inserted} new, {report.rows - report.inserted} already cached "
            f"({elapsed:.1f} s)"
        )
