"""Candle series as numpy arrays: the one shape that strategies, the risk
engine's inputs, the backtester and live cycles share (pure, no Django).

Prices are float64 here for vectorised indicator maths only. Every price that
becomes money (a fill, a mark, a stored value) is taken back to ``Decimal``
with :func:`to_decimal`, which is exact for the bundled data and for prices
read from the database: their decimal forms have at most 15 significant digits,
so the shortest repr of the float is the original decimal.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import os
import tempfile
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Context, Decimal
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


_POWERS = [10.0**places for places in range(9)]
# 1, 0.1, … 1E-8, as an object array: one fancy index picks every value's scale
_SCALES = np.array([Decimal((0, (1,), -places)) for places in range(9)], dtype=object)
_EXACT = Context(prec=40)  # a 15-digit integer times a power of ten: never rounds


def to_decimals(values: np.ndarray) -> list[Decimal]:
    """``[to_decimal(v) for v in values]``, several times faster.

    ``repr`` of a float is the shortest decimal that reads back as that float.
    When a float equals k / 10^p for a whole k of at most 15 digits and the
    fewest places p in 1…8, that decimal is exactly k × 10^-p: a decimal of at
    most 15 significant digits is the only one that short to read back as its
    float (IEEE doubles hold 15 decimal digits), and with the fewest places k
    ends in 0 only for a whole number, which ``repr`` writes as ``N.0`` (p = 1).
    numpy finds k and p for the whole array at once; any other float (more
    places, too many digits, zero, not finite) goes through ``repr``.
    """
    x = np.asarray(values, dtype=np.float64)
    places = np.zeros(x.shape, dtype=np.int8)
    whole = np.zeros(x.shape, dtype=np.float64)
    pending = np.isfinite(x) & (x != 0)
    with np.errstate(over="ignore", invalid="ignore"):
        for p in range(1, 9):
            if not pending.any():
                break
            k = np.rint(x * _POWERS[p])
            found = pending & (np.abs(k) < 1e15) & (k / _POWERS[p] == x)
            places[found] = p
            whole[found] = k[found]
            pending &= ~found
    # k × 10^-p for every value (the context takes k as an int, exactly): map
    # runs the calls without a Python loop. The floats that have no such k
    # (p = 0 here) get theirs from repr after.
    decimals = list(map(_EXACT.multiply, whole.astype(np.int64).tolist(), _SCALES[places].tolist()))
    for i in np.flatnonzero(places == 0).tolist():
        decimals[i] = Decimal(repr(float(x[i])))
    return decimals


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
        return _read_csv(handle, path, symbol, timeframe)


def _read_csv(handle: io.TextIOBase, path: str | Path, symbol: str, timeframe: str) -> Candles:
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


# --- parsed files, cached -------------------------------------------------------

_CACHE_FORMAT = "candles-v1"
_COLUMNS = ("open_time", "open", "high", "low", "close", "volume")


def load_csv_cached(path: str | Path, symbol: str, timeframe: str, cache_dir: str | Path | None) -> Candles:
    """:func:`load_csv`, with the parsed arrays kept in ``cache_dir``.

    A cache entry is named by the file's size and the SHA-256 of its bytes,
    so an edited, replaced or touched file is never served stale, and a copy
    of the same file elsewhere shares it. The bytes that were hashed are the
    bytes that are parsed. Entries are written atomically; one that cannot be
    read (damaged, or another format) is parsed again and replaced, and a
    cache folder that cannot be written is simply not used.
    """
    if cache_dir is None:
        return load_csv(path, symbol, timeframe)
    path = Path(path)
    raw = path.read_bytes()
    entry = Path(cache_dir) / f"{_CACHE_FORMAT}-{len(raw)}-{hashlib.sha256(raw).hexdigest()}.npz"
    arrays = _read_entry(entry)
    if arrays is not None:
        return Candles(symbol, timeframe, *arrays)
    if path.suffix == ".gz":
        handle: io.TextIOBase = io.TextIOWrapper(gzip.GzipFile(fileobj=io.BytesIO(raw), mode="rb"), encoding="utf-8")
    else:
        handle = io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8")
    with handle:
        candles = _read_csv(handle, path, symbol, timeframe)
    _write_entry(entry, candles)
    return candles


def _read_entry(entry: Path) -> tuple[np.ndarray, ...] | None:
    try:
        with np.load(entry, allow_pickle=False) as data:
            arrays = tuple(data[name] for name in _COLUMNS)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    n = arrays[0].shape
    if arrays[0].dtype != np.int64 or any(a.dtype != np.float64 or a.shape != n for a in arrays[1:]) or len(n) != 1:
        return None
    return arrays


def _write_entry(entry: Path, candles: Candles) -> None:
    temporary = None
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=entry.parent, prefix=".candles-", suffix=".tmp", delete=False) as handle:
            temporary = handle.name
            np.savez(handle, **{name: getattr(candles, name) for name in _COLUMNS})
        os.chmod(temporary, 0o644)  # readable like any other file here, not only by its writer
        os.replace(temporary, entry)
        temporary = None
    except OSError:
        pass  # no cache then: the parse stands
    finally:
        if temporary is not None:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
