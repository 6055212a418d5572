"""Market data for trading cycles: closed candles cached in ``candles_cache``, the
price an order would meet now, and the symbol's exchange rules.

The source is chosen by ``settings.MARKET_DATA`` (:func:`get_source`):

- ``binance``: the exchange through :mod:`trading.adapters.binance`.
- ``replay``: real historical candles from the files under ``data/`` with a
  simulated clock. The caller passes ``now``; only candles closed by ``now``
  exist, and the current price is the open of the candle that contains ``now``.

Rules that hold whatever the source: only closed candles are stored (a candle is
closed when ``open_time + timeframe <= now``); storing is an upsert on
(symbol, timeframe, open_time), so nothing is ever stored twice; ``close_time``
is stored as ``open_time + timeframe`` (the moment the candle closed).
"""

from __future__ import annotations

import functools
import hashlib
import json
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max, Min
from django.db.models.expressions import Col
from django.utils import timezone

from audit.actors import Actor
from audit.services import record
from trading import timeframes
from trading.adapters.errors import BadSymbol, MarketDataUnavailable
from trading.adapters.exchange_info import rules_from_symbol_info
from trading.adapters.types import Kline
from trading.candle_files import read_candle_file
from trading.candles import Candles, load_csv, to_decimal
from trading.market_rules import MarketRules
from trading.models import Candle

if TYPE_CHECKING:  # python-binance is imported only where live data is read
    from trading.adapters.binance import BinanceAdapter

DEFAULT_HISTORY = 1000  # candles fetched for a series with nothing cached yet
GAP_LOOKBACK = 1000  # candles before the newest in which refresh looks for holes
PAGE = 1000
STORE_BATCH = 2000
STALE_AFTER_TIMEFRAMES = 2


class CandleLike(Protocol):
    open_time: int  # epoch ms
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal


class MarketDataSource(Protocol):
    name: str

    def closed_candles(
        self, symbol: str, timeframe: str, *, start: datetime, end: datetime, now: datetime
    ) -> Iterator[list[Kline]]:
        """Pages of candles opening in [start, end] and closed at ``now``, oldest first."""
        ...

    def current_price(self, symbol: str, timeframe: str, *, now: datetime) -> Decimal: ...

    def market_rules(self, symbol: str) -> MarketRules: ...


# --- sources ------------------------------------------------------------------------
class BinanceSource:
    name = "binance"

    def __init__(self, adapter: BinanceAdapter | None = None) -> None:
        if adapter is None:
            from trading.adapters.binance import get_adapter

            adapter = get_adapter()
        self.adapter = adapter

    def closed_candles(
        self, symbol: str, timeframe: str, *, start: datetime, end: datetime, now: datetime
    ) -> Iterator[list[Kline]]:
        return self.adapter.closed_klines(
            symbol,
            timeframe,
            start_ms=timeframes.to_ms(start),
            end_ms=timeframes.to_ms(end),
            now_ms=timeframes.to_ms(now),
        )

    def current_price(self, symbol: str, timeframe: str, *, now: datetime) -> Decimal:
        """The ticker's last price (``now`` is the wall clock here)."""
        return self.adapter.last_price(symbol)

    def market_rules(self, symbol: str) -> MarketRules:
        return self.adapter.market_rules(symbol)


class ReplaySource:
    """Bundled candle files (``data/binance/<SYMBOL>-<tf>.csv[.gz]``) played at a given ``now``.

    Where a timeframe's own file has no candles (or there is no such file), they
    are built from the finest file that divides it, from complete buckets only.
    """

    name = "replay"

    def __init__(self, data_dir: Path | None = None) -> None:
        self.data_dir = Path(data_dir) if data_dir else default_data_dir()

    def series(self, symbol: str, timeframe: str) -> Candles:
        """The replayed series: its own file, completed where that file has no candles
        with candles built from the finest file that divides the timeframe."""
        symbol = symbol.upper()
        step = timeframes.seconds(timeframe)
        finer = next(
            (
                (tf, path)
                for tf, tf_step in sorted(timeframes.TIMEFRAME_SECONDS.items(), key=lambda kv: kv[1])
                if tf_step < step and step % tf_step == 0 and (path := self._file(symbol, tf)) is not None
            ),
            (None, None),
        )
        own = self._file(symbol, timeframe)
        if own is None and finer[1] is None:
            raise MarketDataUnavailable(f"no replay data for {symbol} {timeframe} under {self.data_dir}")
        return _replay_series(own, finer[1], finer[0], symbol, timeframe)

    def _file(self, symbol: str, timeframe: str) -> Path | None:
        for suffix in (".csv.gz", ".csv"):
            path = self.data_dir / "binance" / f"{symbol}-{timeframe}{suffix}"
            if path.exists():
                return path
        return None

    def closed_candles(
        self, symbol: str, timeframe: str, *, start: datetime, end: datetime, now: datetime
    ) -> Iterator[list[Kline]]:
        series = self.series(symbol, timeframe)
        step_ms = timeframes.seconds(timeframe) * 1000
        last_closed = timeframes.to_ms(now) - step_ms
        lo = int(np.searchsorted(series.open_time, timeframes.to_ms(start), side="left"))
        hi = int(np.searchsorted(series.open_time, min(timeframes.to_ms(end), last_closed), side="right"))
        for page_start in range(lo, hi, PAGE):
            page = series[page_start : min(hi, page_start + PAGE)]
            yield [_kline_from_series(page, i, step_ms) for i in range(len(page))]

    def current_price(self, symbol: str, timeframe: str, *, now: datetime) -> Decimal:
        """The open of the candle that contains ``now``: what an order sent at ``now`` meets."""
        series = self.series(symbol, timeframe)
        opened = timeframes.to_ms(timeframes.floor(now, timeframe))
        i = int(np.searchsorted(series.open_time, opened))
        if i >= len(series) or int(series.open_time[i]) != opened:
            raise MarketDataUnavailable(
                f"no replay candle of {symbol} {timeframe} contains {now:%Y-%m-%d %H:%M:%S} UTC"
            )
        return to_decimal(series.open[i])

    def market_rules(self, symbol: str) -> MarketRules:
        return _replay_rules(self.data_dir / "exchange_info.json", symbol.upper())


def default_data_dir() -> Path:
    return Path(settings.BASE_DIR) / "data"


@functools.lru_cache(maxsize=16)
def _load_series(path: Path, symbol: str, timeframe: str) -> Candles:
    return load_csv(path, symbol, timeframe)


@functools.lru_cache(maxsize=16)
def _replay_series(
    own: Path | None, finer_path: Path | None, finer: str | None, symbol: str, timeframe: str
) -> Candles:
    if finer_path is None or finer is None:
        assert own is not None
        return _load_series(own, symbol, timeframe)
    built = _aggregated_series(finer_path, symbol, finer, timeframe)
    if own is None:
        return built
    direct = _load_series(own, symbol, timeframe)
    extra = ~np.isin(built.open_time, direct.open_time)
    order = np.argsort(np.concatenate([direct.open_time, built.open_time[extra]]), kind="stable")

    def merged(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.concatenate([a, b[extra]])[order]

    return Candles(
        symbol,
        timeframe,
        merged(direct.open_time, built.open_time),
        merged(direct.open, built.open),
        merged(direct.high, built.high),
        merged(direct.low, built.low),
        merged(direct.close, built.close),
        merged(direct.volume, built.volume),
    )


@functools.lru_cache(maxsize=16)
def _aggregated_series(path: Path, symbol: str, finer: str, timeframe: str) -> Candles:
    source = _load_series(path, symbol, finer)
    if not len(source):
        return Candles.empty(symbol, timeframe)
    step_ms = timeframes.seconds(timeframe) * 1000
    per_bucket = timeframes.seconds(timeframe) // timeframes.seconds(finer)
    buckets = source.open_time // step_ms
    starts = np.flatnonzero(np.r_[True, buckets[1:] != buckets[:-1]])
    counts = np.diff(np.r_[starts, len(buckets)])
    complete = counts == per_bucket
    ends = starts + counts - 1
    return Candles(
        symbol,
        timeframe,
        (buckets[starts] * step_ms)[complete],
        source.open[starts][complete],
        np.maximum.reduceat(source.high, starts)[complete],
        np.minimum.reduceat(source.low, starts)[complete],
        source.close[ends][complete],
        np.add.reduceat(source.volume, starts)[complete],
    )


@functools.lru_cache(maxsize=4)
def _replay_exchange_info(path: Path) -> dict[str, dict[str, Any]]:
    return {s["symbol"]: s for s in json.loads(path.read_text())["symbols"]}


def _replay_rules(path: Path, symbol: str) -> MarketRules:
    info = _replay_exchange_info(path).get(symbol)
    if info is None:
        raise BadSymbol(f"{symbol} is not in {path.name}")
    return rules_from_symbol_info(info)


def _kline_from_series(series: Candles, i: int, step_ms: int) -> Kline:
    opened = int(series.open_time[i])
    return Kline(
        open_time=opened,
        open=to_decimal(series.open[i]),
        high=to_decimal(series.high[i]),
        low=to_decimal(series.low[i]),
        close=to_decimal(series.close[i]),
        volume=to_decimal(series.volume[i]),
        close_time=opened + step_ms - 1,
    )


_replay_sources: dict[Path, ReplaySource] = {}
_replay_lock = threading.Lock()


def get_source() -> MarketDataSource:
    """The source that ``settings.MARKET_DATA`` names."""
    if settings.MARKET_DATA == "binance":
        return BinanceSource()
    data_dir = default_data_dir()
    with _replay_lock:
        return _replay_sources.setdefault(data_dir, ReplaySource(data_dir))


# --- reports -------------------------------------------------------------------------
@dataclass(frozen=True)
class RefreshReport:
    symbol: str
    timeframe: str
    source: str
    fetched: int  # closed candles received from the source
    inserted: int  # of them, rows that were not cached before
    newest_open_time: datetime | None
    gaps: tuple[tuple[datetime, datetime], ...]  # (first, last) missing open times still missing
    # (first, last) open times known to be all cached once this refresh was done,
    # the range it checked up to the newest; None when it left holes.
    complete: tuple[datetime, datetime] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "timeframe": self.timeframe,
            "source": self.source,
            "fetched": self.fetched,
            "inserted": self.inserted,
            "newest_open_time": self.newest_open_time.isoformat() if self.newest_open_time else None,
            "gaps": [[a.isoformat(), b.isoformat()] for a, b in self.gaps],
        }


@dataclass(frozen=True)
class Freshness:
    symbol: str
    timeframe: str
    now: datetime
    newest_open_time: datetime | None
    age: timedelta | None  # now minus the newest closed candle's close time
    stale: bool
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "timeframe": self.timeframe,
            "now": self.now.isoformat(),
            "newest_open_time": self.newest_open_time.isoformat() if self.newest_open_time else None,
            "age_seconds": self.age.total_seconds() if self.age is not None else None,
            "stale": self.stale,
            "reason": self.reason,
        }


# --- services -------------------------------------------------------------------------
def refresh(
    symbol: str,
    timeframe: str,
    *,
    now: datetime | None = None,
    since: datetime | None = None,
    source: MarketDataSource | None = None,
    progress: Callable[[int], None] | None = None,
    complete: tuple[datetime, datetime] | None = None,
) -> RefreshReport:
    """Fetch the closed candles missing from the cache up to ``now`` and upsert them.

    Fetches: after the newest cached candle (or, with nothing cached, from
    ``since`` or the last ``DEFAULT_HISTORY`` candles), before the oldest cached
    one when ``since`` is earlier, and every hole among the last
    ``GAP_LOOKBACK`` cached candles. Each page is stored in its own transaction,
    so an interrupted refresh keeps what it got and the next one resumes.
    ``progress`` is called with the number of candles of each stored page.

    ``complete`` is the :attr:`RefreshReport.complete` of an earlier refresh of
    the series. Cached candles are never deleted, so while that range still
    covers what a refresh checks, only the candles after it are counted (one
    query), and when they are all there nothing is fetched.
    """
    symbol = symbol.upper()
    step = timeframes.delta(timeframe)
    now = now or timezone.now()
    last_closed = timeframes.last_closed_open_time(now, timeframe)
    if complete is not None and since is None:
        known = _still_complete(symbol, timeframe, complete, last_closed)
        if known is not None:
            return RefreshReport(symbol=symbol, timeframe=timeframe, source=(source or get_source()).name,
                                 fetched=0, inserted=0, newest_open_time=last_closed, gaps=(), complete=known)
    # Two single-aggregate queries: each is one index lookup, where MIN and MAX
    # asked together make SQLite scan the whole series.
    closed = _cached(symbol, timeframe).filter(open_time__lte=last_closed)
    oldest = closed.aggregate(oldest=Min("open_time"))["oldest"]
    newest = closed.aggregate(newest=Max("open_time"))["newest"] if oldest is not None else None
    ranges: list[tuple[datetime, datetime]] = []
    check_from = last_closed
    if newest is None:
        start = timeframes.floor(since, timeframe) if since else last_closed - (DEFAULT_HISTORY - 1) * step
        ranges.append((start, last_closed))
        check_from = start
    else:
        if since is not None and timeframes.floor(since, timeframe) < oldest:
            ranges.append((timeframes.floor(since, timeframe), oldest - step))
        check_from = max(oldest, newest - GAP_LOOKBACK * step)
        ranges.extend(gaps(symbol, timeframe, start=check_from, end=newest))
        if newest < last_closed:
            ranges.append((newest + step, last_closed))
    source = source or get_source()
    fetched = inserted = 0
    for start, end in ranges:
        if start > end:
            continue
        for page in source.closed_candles(symbol, timeframe, start=start, end=end, now=now):
            fetched += len(page)
            inserted += store_candles(
                symbol=symbol, timeframe=timeframe, rows=page, source=source.name, now=now
            )
            if progress is not None:
                progress(len(page))
    if fetched == 0 and newest is not None:
        # nothing new came in: the holes found above are the ones that remain
        newest_after = newest
        remaining = [r for r in ranges if check_from <= r[0] <= newest]
    else:
        newest_after = _cached(symbol, timeframe).filter(open_time__lte=last_closed).aggregate(
            newest=Max("open_time")
        )["newest"]
        remaining = gaps(symbol, timeframe, start=check_from, end=newest_after) if newest_after else []
    return RefreshReport(
        symbol=symbol,
        timeframe=timeframe,
        source=source.name,
        fetched=fetched,
        inserted=inserted,
        newest_open_time=newest_after,
        gaps=tuple(remaining),
        complete=(check_from, newest_after) if newest_after is not None and not remaining else None,
    )


def _still_complete(
    symbol: str, timeframe: str, complete: tuple[datetime, datetime], last_closed: datetime
) -> tuple[datetime, datetime] | None:
    """``complete`` grown to ``last_closed`` when every candle after it is cached
    and it still covers all that a refresh would check (the last GAP_LOOKBACK
    candles, or, in a younger cache, everything from its oldest candle); else None."""
    first, last = complete
    step = timeframes.delta(timeframe)
    if last > last_closed:
        return None
    cached = _cached(symbol, timeframe).filter(open_time__lte=last_closed)
    if first <= last_closed - GAP_LOOKBACK * step:
        if last == last_closed:
            return complete
        # Count only the candles after the range.
        cached = cached.filter(open_time__gt=last)
        expected = (last_closed - last) // step
    else:
        # A young series (fewer than GAP_LOOKBACK candles from ``first``), which
        # a refresh checks from its oldest candle: count them all, so that one
        # imported before ``first`` since then sends us the long way.
        expected = (last_closed - first) // step + 1
    return (first, last_closed) if cached.count() == expected else None


def window(
    symbol: str,
    timeframe: str,
    n: int,
    *,
    now: datetime | None = None,
    source: MarketDataSource | None = None,
) -> Candles:
    """The last ``n`` candles closed at ``now``, oldest first.

    Served from the cache when it holds all of them; otherwise the missing ones
    (not fetched yet, or holes) are paged in from the source first. Fewer than
    ``n`` come back only when the source has no more (start of the data, an
    exchange outage).
    """
    if n < 1:
        raise ValueError(f"a window needs at least one candle, got n={n}")
    symbol = symbol.upper()
    step = timeframes.delta(timeframe)
    now = now or timezone.now()
    last_closed = timeframes.last_closed_open_time(now, timeframe)
    first = last_closed - (n - 1) * step

    def newest_rows() -> list[tuple[Any, ...]]:
        return newest_cached(symbol, timeframe, last_closed=last_closed, n=n)

    rows = newest_rows()
    # One query when the cache is complete.
    if not _whole_window(rows, n, first=first, last_closed=last_closed):
        source = source or get_source()
        for start, end in gaps(symbol, timeframe, start=first, end=last_closed):
            for page in source.closed_candles(symbol, timeframe, start=start, end=end, now=now):
                store_candles(symbol=symbol, timeframe=timeframe, rows=page, source=source.name, now=now)
        rows = newest_rows()
    return _candles_of(symbol, timeframe, rows)


def _whole_window(rows: list[tuple[Any, ...]], n: int, *, first: datetime, last_closed: datetime) -> bool:
    """The ``n`` newest rows (:func:`newest_cached`) are the whole window: they
    end at the last closed candle and follow one another without a hole."""
    return len(rows) == n and rows[0][0] == first and rows[-1][0] == last_closed


def _candles_of(symbol: str, timeframe: str, rows: list[tuple[Any, ...]]) -> Candles:
    return Candles.from_rows(symbol, timeframe, ((timeframes.to_ms(r[0]), *r[1:]) for r in rows))


def cached_window(
    symbol: str, timeframe: str, n: int, *, now: datetime, complete: tuple[datetime, datetime] | None,
) -> tuple[Candles, tuple[datetime, datetime]] | None:
    """The last ``n`` candles closed at ``now``, read in one query, when neither a
    :func:`refresh` nor :func:`window` would fetch or store anything: the cache
    holds the whole window, and it reaches back to ``complete`` (the
    :attr:`RefreshReport.complete` of an earlier refresh; cached candles are
    never deleted) which still covers all that a refresh checks.

    Returns the candles and ``complete`` grown to the last closed candle, or
    None: then refresh and take the window as usual.
    """
    if complete is None or n < 1:
        return None
    symbol = symbol.upper()
    step = timeframes.delta(timeframe)
    last_closed = timeframes.last_closed_open_time(now, timeframe)
    start = last_closed - (n - 1) * step
    first, last = complete
    if not last_closed - n * step <= last <= last_closed:
        return None
    rows = newest_cached(symbol, timeframe, last_closed=last_closed, n=n)
    if not _whole_window(rows, n, first=start, last_closed=last_closed):
        return None
    # A young series (fewer than GAP_LOOKBACK candles from ``first``) is
    # checked by a refresh from its oldest candle: that must still be ``first``.
    if first > last_closed - GAP_LOOKBACK * step and _any_before(symbol, timeframe, first):
        return None
    return _candles_of(symbol, timeframe, rows), (first, last_closed)


WINDOW_COLUMNS = ("open_time", "open", "high", "low", "close", "volume")


def newest_cached(symbol: str, timeframe: str, *, last_closed: datetime, n: int) -> list[tuple[Any, ...]]:
    """The ``n`` newest cached candles opened by ``last_closed``, oldest first,
    as (open_time, open, high, low, close, volume) tuples: exactly what
    ``values_list(*WINDOW_COLUMNS)`` of that queryset gives.

    Every cycle reads this, and building the query through the ORM takes it
    longer than the database takes to answer; so the SQL is written out once,
    and each value goes through the very converters the ORM applies.
    """
    sql, columns = _newest_statement(connection.vendor)
    with connection.cursor() as cursor:
        cursor.execute(sql, (symbol, timeframe, connection.ops.adapt_datetimefield_value(last_closed), n))
        fetched = cursor.fetchall()
    rows = []
    for row in reversed(fetched):
        values = []
        for value, (column, converters) in zip(row, columns, strict=True):
            for convert in converters:
                value = convert(value, column, connection)
            values.append(value)
        rows.append(tuple(values))
    return rows


@functools.cache
def _newest_statement(vendor: str) -> tuple[str, list[tuple[Col, list[Callable[..., Any]]]]]:
    quote = connection.ops.quote_name
    table = Candle._meta.db_table
    columns = []
    for name in WINDOW_COLUMNS:
        column = Col(table, Candle._meta.get_field(name))
        columns.append((column, connection.ops.get_db_converters(column) + column.get_db_converters(connection)))
    sql = (
        f"SELECT {', '.join(quote(name) for name in WINDOW_COLUMNS)} FROM {quote(table)} "
        f"WHERE {quote('symbol')} = %s AND {quote('timeframe')} = %s AND {quote('open_time')} <= %s "
        f"ORDER BY {quote('open_time')} DESC LIMIT %s"
    )
    return sql, columns


@functools.cache
def _before_sql(vendor: str) -> str:
    quote = connection.ops.quote_name
    return (
        f"SELECT 1 FROM {quote(Candle._meta.db_table)} WHERE {quote('symbol')} = %s "
        f"AND {quote('timeframe')} = %s AND {quote('open_time')} < %s LIMIT 1"
    )


def _any_before(symbol: str, timeframe: str, moment: datetime) -> bool:
    """Whether any candle of the series opened before ``moment`` (one index
    lookup, written out like the upsert: the ORM costs a cycle more to build
    this query than the database takes to answer it)."""
    with connection.cursor() as cursor:
        cursor.execute(_before_sql(connection.vendor), (symbol, timeframe, connection.ops.adapt_datetimefield_value(moment)))
        return cursor.fetchone() is not None


def freshness(symbol: str, timeframe: str, *, now: datetime) -> Freshness:
    """Whether the cached series is recent enough to trade on (no network).

    Stale when the newest closed candle closed more than two timeframes before
    ``now``, or when there is none.
    """
    symbol = symbol.upper()
    step = timeframes.delta(timeframe)
    last_closed = timeframes.last_closed_open_time(now, timeframe)
    newest = _cached(symbol, timeframe).filter(open_time__lte=last_closed).aggregate(
        newest=Max("open_time")
    )["newest"]
    if newest is None:
        return Freshness(symbol, timeframe, now, None, None, True, f"no closed {symbol} {timeframe} candle cached")
    age = now - (newest + step)
    limit = STALE_AFTER_TIMEFRAMES * step
    if age > limit:
        reason = (
            f"newest {symbol} {timeframe} candle closed {_human(age)} ago at "
            f"{newest + step:%Y-%m-%d %H:%M} UTC (limit {_human(limit)})"
        )
        return Freshness(symbol, timeframe, now, newest, age, True, reason)
    return Freshness(symbol, timeframe, now, newest, age, False, "")


def current_price(
    symbol: str, timeframe: str, *, now: datetime, source: MarketDataSource | None = None
) -> Decimal:
    """The price an order sent at ``now`` would meet (replay: the open of the candle
    containing ``now``; Binance: the ticker)."""
    return (source or get_source()).current_price(symbol.upper(), timeframe, now=now)


def market_rules(symbol: str, *, source: MarketDataSource | None = None) -> MarketRules:
    return (source or get_source()).market_rules(symbol.upper())


def gaps(symbol: str, timeframe: str, *, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """Runs of missing candles in [start, end] as (first missing, last missing) open times."""
    step = timeframes.delta(timeframe)
    if start > end:
        return []
    present = _cached(symbol.upper(), timeframe).filter(open_time__gte=start, open_time__lte=end)
    # The common case, a complete series, costs one COUNT instead of a walk.
    if present.count() == (end - start) // step + 1:
        return []
    result = []
    expected = start
    for opened in present.order_by("open_time").values_list("open_time", flat=True).iterator(chunk_size=2000):
        if opened > expected:
            result.append((expected, opened - step))
        expected = opened + step
    if expected <= end:
        result.append((expected, end))
    return result


def store_candles(
    *,
    symbol: str,
    timeframe: str,
    rows: Iterable[CandleLike],
    source: str,
    now: datetime | None = None,
    batch_size: int = STORE_BATCH,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Upsert closed candles, oldest first; returns how many were not cached before.

    Refuses (ValueError) a candle that has not closed at ``now`` rather than
    storing it. One transaction: all rows or none.
    """
    symbol = symbol.upper()
    step_ms = timeframes.seconds(timeframe) * 1000
    now_ms = timeframes.to_ms(now or timezone.now())
    inserted = 0
    with transaction.atomic():
        batch: list[CandleLike] = []
        for row in rows:
            if row.open_time + step_ms > now_ms:
                raise ValueError(
                    f"{symbol} {timeframe} candle at {timeframes.from_ms(row.open_time):%Y-%m-%d %H:%M} "
                    "has not closed yet and is not stored"
                )
            batch.append(row)
            if len(batch) >= batch_size:
                inserted += _upsert(symbol, timeframe, step_ms, batch, source)
                if progress is not None:
                    progress(len(batch))
                batch = []
        if batch:
            inserted += _upsert(symbol, timeframe, step_ms, batch, source)
            if progress is not None:
                progress(len(batch))
    return inserted


_COLUMNS = ("symbol", "timeframe", "open_time", "close_time", "open", "high", "low", "close", "volume", "source")
_KEY = ("symbol", "timeframe", "open_time")


@functools.cache
def _upsert_sql(vendor: str) -> str:
    quote = connection.ops.quote_name
    updates = ", ".join(f"{quote(c)} = EXCLUDED.{quote(c)}" for c in _COLUMNS if c not in _KEY)
    return (
        f"INSERT INTO {quote(Candle._meta.db_table)} ({', '.join(quote(c) for c in _COLUMNS)}) "
        f"VALUES ({', '.join(['%s'] * len(_COLUMNS))}) "
        f"ON CONFLICT ({', '.join(quote(c) for c in _KEY)}) DO UPDATE SET {updates}"
    )


_EPOCH = datetime(1970, 1, 1)


def _db_datetime() -> Callable[[int], Any]:
    """Epoch ms → the value the database driver takes for a DateTimeField."""
    if connection.vendor == "sqlite" and connection.timezone_name == "UTC":
        # What Django's SQLite adapter stores (naive UTC text), without its per-value checks.
        return lambda ms: str(_EPOCH + timedelta(milliseconds=ms))
    adapt = connection.ops.adapt_datetimefield_value
    return lambda ms: adapt(timeframes.from_ms(ms))


def _upsert(symbol: str, timeframe: str, step_ms: int, batch: list[CandleLike], source: str) -> int:
    # One INSERT ... ON CONFLICT DO UPDATE (SQLite and PostgreSQL alike) through
    # executemany: the ORM's bulk_create prepares every value of every row in
    # Python and is several times slower for a large import.
    db_time = _db_datetime()
    first = min(batch[0].open_time, batch[-1].open_time)
    last = max(batch[0].open_time, batch[-1].open_time)
    span = _cached(symbol, timeframe).filter(
        open_time__gte=timeframes.from_ms(first), open_time__lte=timeframes.from_ms(last)
    )
    before = span.count()
    params = [
        (
            symbol,
            timeframe,
            db_time(r.open_time),
            db_time(r.open_time + step_ms),
            r.open,
            r.high,
            r.low,
            r.close,
            r.volume,
            source,
        )
        for r in batch
    ]
    with connection.cursor() as cursor:
        cursor.executemany(_upsert_sql(connection.vendor), params)
    return span.count() - before


def _cached(symbol: str, timeframe: str) -> Any:
    return Candle.objects.filter(symbol=symbol, timeframe=timeframe)


def _human(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172_800:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} d"


# --- files ----------------------------------------------------------------------------
@dataclass(frozen=True)
class ImportReport:
    path: str
    sha256: str
    symbol: str
    timeframe: str
    rows: int
    inserted: int
    first_open_time: datetime
    last_open_time: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "sha256": self.sha256,
            "symbol": self.symbol,
            "timeframe": self.timeframe,
            "rows": self.rows,
            "inserted": self.inserted,
            "first_open_time": self.first_open_time.isoformat(),
            "last_open_time": self.last_open_time.isoformat(),
        }


def candle_file_check(path: Path, *, timeframe: str, now: datetime) -> tuple[int, int, int]:
    """Validate a whole candle file without writing: (rows, first open ms, last open ms).

    Raises :class:`trading.candle_files.CandleFileError` at the first bad line.
    """
    rows, first, last = 0, 0, 0
    for row in read_candle_file(path, timeframe=timeframe, now_ms=timeframes.to_ms(now)):
        if not rows:
            first = row.open_time
        last = row.open_time
        rows += 1
    return rows, first, last


def candles_import(
    *,
    path: Path,
    symbol: str,
    timeframe: str,
    actor: Actor,
    now: datetime | None = None,
    source: str = "import",
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import a candle file: every line is validated before anything is written,
    then all rows are upserted in one transaction (idempotent) and the import is
    recorded as ``market_data.candles.imported``.
    """
    symbol = symbol.upper()
    now = now or timezone.now()
    rows, first, last = candle_file_check(path, timeframe=timeframe, now=now)
    digest = _sha256(path)
    with transaction.atomic():
        inserted = store_candles(
            symbol=symbol,
            timeframe=timeframe,
            rows=read_candle_file(path, timeframe=timeframe, now_ms=timeframes.to_ms(now)),
            source=source,
            now=now,
            progress=progress,
        )
        report = ImportReport(
            path=str(path),
            sha256=digest,
            symbol=symbol,
            timeframe=timeframe,
            rows=rows,
            inserted=inserted,
            first_open_time=timeframes.from_ms(first),
            last_open_time=timeframes.from_ms(last),
        )
        record(
            "market_data.candles.imported",
            actor,
            f"imported {rows} {symbol} {timeframe} candles from {path.name} ({inserted} new)",
            inputs={"path": str(path), "sha256": digest, "symbol": symbol, "timeframe": timeframe},
            result=report.as_dict(),
        )
    return report


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
