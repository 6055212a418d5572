"""Candle series as numpy arrays: the one shape that strategies, the risk
engine's inputs, the backtester and live cycles share (pure, no Django).

Prices are float64 here for vectorised indicator maths only. Every price that
becomes money (a fill, a mark, a stored value) is taken back to ``Decimal``
with :func:`to_decimal`, which is exact for the bundled data and for prices
read from the database: their decimal forms have at most 15 significant digits,
so the shortest repr of the float is the original decimal.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

CSV_HEADER = ("open_time", "open", "high", "low", "close", "volume")


def to_decimal(value: float | np.floating[Any] | Decimal | str | int) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, str | int):
        return Decimal(value)
    return Decimal(repr(float(value)))


@dataclass(frozen=True)
class Candles:
    """Closed candles of one symbol and timeframe, oldest first."""

    symbol: str
    timeframe: str
    open_time: np.ndarray  # int64, epoch milliseconds of each candle's open
    open: np.ndarray  # float64
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    def __len__(self) -> int:
        return int(self.open_time.shape[0])

    def __getitem__(self, index: slice) -> Candles:
        if not isinstance(index, slice):
            raise TypeError("index Candles with a slice; use .row(i) for one candle")
        return Candles(
            self.symbol,
            self.timeframe,
            self.open_time[index],
            self.open[index],
            self.high[index],
            self.low[index],
            self.close[index],
            self.volume[index],
        )

    def row(self, i: int) -> dict[str, Any]:
        """One candle with Decimal prices (for fills, marks and audit inputs)."""
        return {
            "open_time": int(self.open_time[i]),
            "open": to_decimal(self.open[i]),
            "high": to_decimal(self.high[i]),
            "low": to_decimal(self.low[i]),
            "close": to_decimal(self.close[i]),
            "volume": to_decimal(self.volume[i]),
        }

    @classmethod
    def empty(cls, symbol: str, timeframe: str) -> Candles:
        f = np.empty(0, dtype=np.float64)
        return cls(symbol, timeframe, np.empty(0, dtype=np.int64), f, f, f, f, f)

    @classmethod
    def from_rows(
        cls, symbol: str, timeframe: str, rows: Iterable[Sequence[Any]]
    ) -> Candles:
        """Rows of (open_time_ms, open, high, low, close, volume); Decimals are fine."""
        data = list(rows)
        if not data:
            return cls.empty(symbol, timeframe)
        times = np.fromiter((int(r[0]) for r in data), dtype=np.int64, count=len(data))
        values = np.array([[float(v) for v in r[1:6]] for r in data], dtype=np.float64)
        return cls(
            symbol,
            timeframe,
            times,
            values[:, 0].copy(),
            values[:, 1].copy(),
            values[:, 2].copy(),
            values[:, 3].copy(),
            values[:, 4].copy(),
        )


def open_csv_text(path: str | Path) -> io.TextIOBase:
    path = Path(path)
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    return open(path, encoding="utf-8")  # noqa: SIM115 - returned to the caller


def load_csv(path: str | Path, symbol: str, timeframe: str) -> Candles:
    """Fast load of a trusted candle CSV (the bundled format) into arrays.

    Validation of untrusted files is the import command's job; this is for
    backtests and replay over files that already passed it.
    """
    with open_csv_text(path) as handle:
        header = handle.readline().strip().split(",")
        if tuple(header) != CSV_HEADER:
            raise ValueError(f"{path}: expected header {','.join(CSV_HEADER)}, got {','.join(header)}")
        table = np.loadtxt(handle, delimiter=",", dtype=np.float64, ndmin=2)
    if table.size == 0:
        return Candles.empty(symbol, timeframe)
    return Candles(
        symbol,
        timeframe,
        table[:, 0].astype(np.int64),
        table[:, 1].copy(),
        table[:, 2].copy(),
        table[:, 3].copy(),
        table[:, 4].copy(),
        table[:, 5].copy(),
    )
