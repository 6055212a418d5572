"""Indicator maths on float64 arrays (pure). Every value at index ``i`` uses
inputs ``0..i`` only; indices without enough history hold NaN."""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

# Two moving averages closer than this (relative to the price) count as equal:
# equal windows summed in a different order differ in the last bits, and a
# flat market must not read as a stream of crossings.
CROSS_TOLERANCE = 1e-9


def _nan_array(n: int) -> np.ndarray:
    return np.full(n, np.nan, dtype=np.float64)


def sma(values: np.ndarray, window: int) -> np.ndarray:
    """Simple moving average over the last ``window`` values, the current one included.

    Each window is summed on its own (not as a difference of running sums):
    over 130k BTC candles a running sum loses ~5e-7 of precision, the windowed
    sum ~1e-10, and the cost is the same order for the windows strategies use.
    """
    out = _nan_array(values.shape[0])
    if window < 1:
        raise ValueError("window must be at least 1")
    if values.shape[0] >= window:
        out[window - 1 :] = window_sums(values, window) / window
    return out


# numpy sums a row of doubles pairwise: runs under 8 one by one from 0; up to
# 128 in 8 interleaved partial sums combined as ((0+1)+(2+3))+((4+5)+(6+7)),
# then the rest one by one; longer runs split in two at a multiple of 8 below
# half. The reduction starts from 0.
_PAIRWISE_BLOCK = 128


def window_sums(values: np.ndarray, window: int) -> np.ndarray:
    """``sliding_window_view(values, window).sum(axis=1)``, bit for bit: the
    same additions in the same order, done for all windows at once, column by
    column, rather than one window at a time (several times faster)."""
    values = np.ascontiguousarray(values, dtype=np.float64)
    if values.shape[0] < window:
        return np.empty(0, dtype=np.float64)
    rows = values.shape[0] - window + 1
    # A block of windows at a time, so that the partial sums stay in the cache.
    block = _ROWS_PER_BLOCK
    return np.concatenate([
        _pairwise_rows(values[first : first + min(block, rows - first) + window - 1], window)
        for first in range(0, rows, block)
    ])


_ROWS_PER_BLOCK = 16_384


def _pairwise_rows(values: np.ndarray, window: int) -> np.ndarray:
    """The windowed sums of ``values`` (every window inside it)."""
    rows = values.shape[0] - window + 1

    def column(i: int) -> np.ndarray:
        return values[i : i + rows]

    def pairwise(start: int, n: int) -> np.ndarray:
        if n < 8:
            total = np.zeros(rows)
            for i in range(start, start + n):
                total += column(i)
            return total
        if n <= _PAIRWISE_BLOCK:
            partial = [column(start + j).copy() for j in range(8)]
            i = 8
            while i < n - n % 8:
                for j in range(8):
                    partial[j] += column(start + i + j)
                i += 8
            total = ((partial[0] + partial[1]) + (partial[2] + partial[3])) + (
                (partial[4] + partial[5]) + (partial[6] + partial[7])
            )
            for k in range(i, n):
                total += column(start + k)
            return total
        half = n // 2
        half -= half % 8
        return pairwise(start, half) + pairwise(start + half, n - half)

    return 0.0 + pairwise(0, window)


def previous_max(values: np.ndarray, window: int) -> np.ndarray:
    """Highest of the ``window`` values before each index (the current one excluded)."""
    out = _nan_array(values.shape[0])
    if values.shape[0] > window:
        out[window:] = sliding_window_view(values, window).max(axis=1)[:-1]
    return out


def previous_min(values: np.ndarray, window: int) -> np.ndarray:
    """Lowest of the ``window`` values before each index (the current one excluded)."""
    out = _nan_array(values.shape[0])
    if values.shape[0] > window:
        out[window:] = sliding_window_view(values, window).min(axis=1)[:-1]
    return out


def wilder_smooth(values: np.ndarray, period: int) -> np.ndarray:
    """Wilder's smoothing of ``values[1:]`` (index 0 is ignored: it has no change).

    Seeded at index ``period`` with the mean of ``values[1 : period + 1]``, then
    ``s[i] = (s[i-1] * (period - 1) + values[i]) / period``. The recursion is
    inherently sequential, so it runs as a plain loop (~50 ms over 130k values);
    its result depends on where the series starts, fading as ((period-1)/period)^n.
    """
    n = values.shape[0]
    out = _nan_array(n)
    if n <= period:
        return out
    data = values.tolist()
    current = sum(data[1 : period + 1]) / period
    smoothed = [current]
    keep = period - 1
    for x in data[period + 1 :]:
        current = (current * keep + x) / period
        smoothed.append(current)
    out[period:] = smoothed
    return out


def rsi(close: np.ndarray, period: int) -> np.ndarray:
    """Wilder's RSI (0..100), first defined at index ``period``.

    With no losses and no gains in the smoothing window (a flat market) it is 50.
    """
    change = np.zeros_like(close)
    change[1:] = np.diff(close)
    gain = wilder_smooth(np.maximum(change, 0.0), period)
    loss = wilder_smooth(np.maximum(-change, 0.0), period)
    total = gain + loss
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(total > 0, 100.0 * gain / total, 50.0)
    out[np.isnan(total)] = np.nan
    return out


def true_range(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    """True range from index 1 (it needs the previous close); NaN at index 0."""
    out = _nan_array(close.shape[0])
    if close.shape[0] > 1:
        previous = close[:-1]
        out[1:] = np.maximum.reduce(
            [high[1:] - low[1:], np.abs(high[1:] - previous), np.abs(low[1:] - previous)]
        )
    return out


def atr(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int) -> np.ndarray:
    """Wilder's average true range, first defined at index ``period``."""
    return wilder_smooth(true_range(high, low, close), period)


def crossings(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where ``a`` crosses above ``b`` and where it crosses below (boolean arrays).

    ``a`` is above, below or level with ``b`` (level within CROSS_TOLERANCE of
    ``b``). A crossing is the candle where the side changes from the last side
    it was strictly on: below → level → above is one crossing up, on the
    candle that goes above; above → level → above is none.
    """
    n = a.shape[0]
    diff = a - b
    tolerance = CROSS_TOLERANCE * np.abs(b)
    side = np.zeros(n, dtype=np.int8)  # NaN compares False: no side while warming up
    side[diff > tolerance] = 1
    side[diff < -tolerance] = -1
    last_index = np.where(side != 0, np.arange(n), 0)
    np.maximum.accumulate(last_index, out=last_index)
    held = side[last_index] if n else side  # the last side it was strictly on
    before = np.zeros(n, dtype=np.int8)
    before[1:] = held[:-1]
    return (held == 1) & (before == -1), (held == -1) & (before == 1)
