"""Strict reading of candle CSV files (pure, no Django).

The format is the bundled one (``data/README.md``): a header
``open_time,open,high,low,close,volume``, open times in epoch milliseconds
aligned to the timeframe and strictly increasing, decimal prices. Every row is
checked; the first bad one raises :class:`CandleFileError` with its line number
(the header is line 1). Zero volume is valid: Binance emits flat zero-volume
candles for minutes and hours without trades.
"""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from trading import timeframes
from trading.candles import CSV_HEADER, open_csv_text

MAX_DECIMALS = 8  # the database keeps 8 decimal places
MAX_PRICE_DIGITS = 16  # integer digits of a price column (24 digits, 8 of them decimals)
MAX_VOLUME_DIGITS = 22
# 2009-01-01 in ms: anything earlier is most likely a time in seconds.
EARLIEST_MS = 1_230_768_000_000
PRICE_COLUMNS = ("open", "high", "low", "close")


class CandleFileError(ValueError):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.reason = message


@dataclass(frozen=True, slots=True)
class CandleRow:
    open_time: int  # epoch ms
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal


def read_candle_file(path: str | Path, *, timeframe: str, now_ms: int) -> Iterator[CandleRow]:
    """Validated rows of a ``.csv`` or ``.csv.gz`` file; raises on the first bad line."""
    with open_csv_text(path) as handle:
        lines = _Counting(handle)
        try:
            yield from parse_candle_lines(lines, timeframe=timeframe, now_ms=now_ms)
        except (gzip.BadGzipFile, zlib.error, EOFError) as exc:
            raise CandleFileError(lines.line + 1, f"not a readable gzip file ({exc})") from None
        except UnicodeDecodeError:
            raise CandleFileError(lines.line + 1, "not UTF-8 text") from None


class _Counting:
    """Iterates over lines and remembers how many it has handed out."""

    def __init__(self, lines: Iterable[str]) -> None:
        self._lines = iter(lines)
        self.line = 0

    def __iter__(self) -> _Counting:
        return self

    def __next__(self) -> str:
        text = next(self._lines)
        self.line += 1
        return text


def parse_candle_lines(lines: Iterable[str], *, timeframe: str, now_ms: int) -> Iterator[CandleRow]:
    step = timeframes.seconds(timeframe) * 1000
    iterator = iter(lines)
    header = next(iterator, None)
    if header is None:
        raise CandleFileError(1, "the file is empty; expected the header " + ",".join(CSV_HEADER))
    found = tuple(part.strip() for part in header.strip().lstrip("\ufeff").split(","))
    if found != CSV_HEADER:
        raise CandleFileError(1, f"expected the header {','.join(CSV_HEADER)}, got {header.strip()[:80]!r}")
    previous: int | None = None
    previous_line = 0
    number = 1
    for number, text in enumerate(iterator, start=2):
        text = text.strip()
        row = _plain_row(text, step, now_ms) or _checked_row(number, text, step, timeframe, now_ms)
        open_time = row.open_time
        if previous is not None and open_time <= previous:
            when = _iso(open_time)
            if open_time == previous:
                raise CandleFileError(number, f"duplicate open_time {open_time} ({when}), also on line {previous_line}")
            raise CandleFileError(
                number,
                f"open_time {open_time} ({when}) is not after the previous row's {previous} "
                f"({_iso(previous)}): rows must be in increasing time order",
            )
        previous, previous_line = open_time, number
        yield row
    if previous is None:
        raise CandleFileError(number + 1, "no candles after the header")


_PLAIN = r"(\d{1,16}(?:\.\d{1,8})?)"
# A row of plain decimals that fit the columns: the common case, checked fast.
_PLAIN_ROW = re.compile(rf"(\d{{13}}),{_PLAIN},{_PLAIN},{_PLAIN},{_PLAIN},(\d{{1,22}}(?:\.\d{{1,8}})?)")


def _plain_row(text: str, step: int, now_ms: int) -> CandleRow | None:
    """The row when it is plainly valid, else None (the careful path then says why)."""
    match = _PLAIN_ROW.fullmatch(text)
    if match is None:
        return None
    open_time = int(match[1])
    if open_time % step or open_time + step > now_ms or open_time < EARLIEST_MS:
        return None
    o, h, low, c, volume = (Decimal(v) for v in match.groups()[1:])
    if not (o > 0 and c > 0 and low > 0 and h >= o and h >= c and low <= o and low <= c):
        return None
    return CandleRow(open_time, o, h, low, c, volume)


def _checked_row(number: int, text: str, step: int, timeframe: str, now_ms: int) -> CandleRow:
    """Every check with its own message; raises at the first one that fails."""
    if not text:
        raise CandleFileError(number, "empty line")
    fields = text.split(",")
    if len(fields) != 6:
        raise CandleFileError(number, f"expected 6 comma-separated fields, got {len(fields)}")
    open_time = _open_time(number, fields[0].strip(), step, timeframe, now_ms)
    o, h, low, c = (
        _number(number, name, raw.strip(), MAX_PRICE_DIGITS)
        for name, raw in zip(PRICE_COLUMNS, fields[1:5], strict=True)
    )
    volume = _number(number, "volume", fields[5].strip(), MAX_VOLUME_DIGITS)
    for name, raw, value in zip(PRICE_COLUMNS, fields[1:5], (o, h, low, c), strict=True):
        if value <= 0:
            raise CandleFileError(number, f"{name} {raw.strip()} is not positive")
    if volume < 0:
        raise CandleFileError(number, f"volume {fields[5].strip()} is negative")
    if h < max(o, c):
        raise CandleFileError(number, f"high {h} is below max(open, close) {max(o, c)}")
    if low > min(o, c):
        raise CandleFileError(number, f"low {low} is above min(open, close) {min(o, c)}")
    return CandleRow(open_time, o, h, low, c, volume)


def _open_time(number: int, raw: str, step: int, timeframe: str, now_ms: int) -> int:
    if not raw.isdigit():
        raise CandleFileError(number, f"open_time {raw[:30]!r} is not a whole number of milliseconds")
    value = int(raw)
    if value < EARLIEST_MS:
        raise CandleFileError(
            number, f"open_time {value} is before 2009: is it in seconds rather than milliseconds?"
        )
    if value % step:
        raise CandleFileError(number, f"open_time {value} ({_iso(value)}) is not aligned to {timeframe}")
    if value + step > now_ms:
        raise CandleFileError(number, f"the candle at {_iso(value)} has not closed yet")
    return value


def _number(number: int, name: str, raw: str, max_integer_digits: int) -> Decimal:
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise CandleFileError(number, f"{name} {raw[:30]!r} is not a number") from None
    if not value.is_finite():
        raise CandleFileError(number, f"{name} {raw[:30]!r} is not a finite number")
    if value.adjusted() >= max_integer_digits:
        raise CandleFileError(number, f"{name} {raw[:30]} is too large")
    dot = raw.find(".")
    # Counting digits after the dot is the fast path; exponent forms take the slow one.
    suspicious = "e" in raw or "E" in raw or (dot >= 0 and len(raw) - dot - 1 > MAX_DECIMALS)
    if suspicious and value != value.quantize(_EIGHT):
        raise CandleFileError(number, f"{name} {raw} has more than {MAX_DECIMALS} decimal places")
    return value


_EIGHT = Decimal(1).scaleb(-MAX_DECIMALS)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
