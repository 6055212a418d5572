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
        np.divide(window_sums(values, window), window, out=out[window - 1 :])
    return out


# numpy sums a row of doubles pairwise: runs under 8 one by one from 0; up to
# 128 in 8 interleaved partial sums combined as ((0+1)+(2+3))+((4+5)+(6+7)),
# then the rest one by one; longer runs split in two at a multiple of 8 below
# half. The reduction starts from 0.
_PAIRWISE_BLOCK = 128


def window_sums(values: np.ndarray, window: int) -> np.ndarray:
    """``sliding_window_view(values, window).sum(axis=1)``, bit for bit: the
    same additions on the same operands in the same order, done for all
    windows at once with whole-array operations rather than one window at a
    time (several times faster)."""
    values = np.ascontiguousarray(values, dtype=np.float64)
    if values.shape[0] < window:
        return np.empty(0, dtype=np.float64)
    rows = values.shape[0] - window + 1
    # A block of windows at a time, so that the arrays in flight stay in the cache.
    block = _ROWS_PER_BLOCK
    total = np.concatenate([
        _sliding_pairwise(values[first : first + min(block, rows - first) + window - 1], window, {})
        for first in range(0, rows, block)
    ])
    # numpy's reduction starts from 0 (which turns a sum of -0.0 into 0.0).
    return np.add(0.0, total, out=total)


_ROWS_PER_BLOCK = 32_768


def _sliding_pairwise(values: np.ndarray, n: int, known: dict[int, np.ndarray]) -> np.ndarray:
    """``s[q]`` = numpy's pairwise sum of ``values[q : q + n]`` (without the
    starting 0), for every window inside ``values``.

    Neighbouring windows share their inner sums: the partial sum that lane
    ``j`` of the window at ``q`` builds is the one lane 0 of the window at
    ``q + j`` builds, and the pair (lanes 2+3) of the window at ``q`` is the
    pair (lanes 0+1) of the window at ``q + 2``. So each inner sum is worked
    out once, for every start ``q``, and read shifted. ``known`` keeps the
    sums already made for this ``values`` (a long run splits into two halves
    that are often the same length).
    """
    if n in known:
        return known[n]
    rows = values.shape[0] - n + 1
    if n < 8:
        total = np.zeros(rows)
        for i in range(n):
            total += values[i : i + rows]
    elif n <= _PAIRWISE_BLOCK:
        # lane[q] = values[q] + values[q + 8] + values[q + 16] + … (n // 8 terms,
        # left to right): the partial sum of lane j of the window at q - j.
        terms = n // 8
        length = values.shape[0] - 8 * (terms - 1)
        lane = values[:length]
        if terms > 1:
            lane = lane + values[8 : 8 + length]
        for k in range(2, terms):
            lane += values[8 * k : 8 * k + length]
        pairs = lane[:-1] + lane[1:]  # (0+1) at q; (2+3) is pairs[q + 2], …
        quads = pairs[:-2] + pairs[2:]  # (0+1)+(2+3) at q; (4+5)+(6+7) is quads[q + 4]
        total = quads[:rows] + quads[4 : 4 + rows]
        for k in range(8 * terms, n):  # the rest, one by one
            total += values[k : k + rows]
    else:
        half = n // 2
        half -= half % 8
        first = _sliding_pairwise(values, half, known)
        second = _sliding_pairwise(values, n - half, known)
        total = first[:rows] + second[half : half + rows]
    known[n] = total
    return total


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
    up_at, down_at = crossing_indices(a, b)
    up = np.zeros(a.shape[0], dtype=bool)
    up[up_at] = True
    down = np.zeros(a.shape[0], dtype=bool)
    down[down_at] = True
    return up, down


def crossing_indices(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`crossings` as the indices of the candles (ascending) rather than
    boolean arrays."""
    n = a.shape[0]
    diff = a - b
    tolerance = CROSS_TOLERANCE * np.abs(b)
    # 1 above, -1 below, 0 level (NaN compares False: no side while warming up)
    side = (diff > tolerance).view(np.int8) - (diff < -tolerance).view(np.int8)
    # The side holds in runs. A crossing can only be where a run begins: the
    # first candle of a run above (below) whose last strictly-sided run before
    # it, level runs skipped, was below (above). Runs are few next to candles,
    # so the work past this point is on runs only.
    begins = np.ones(n, dtype=bool)
    np.not_equal(side[1:], side[:-1], out=begins[1:])
    starts = np.flatnonzero(begins)
    sides = side[starts]
    sided = sides != 0
    starts, sides = starts[sided], sides[sided]
    # two strictly-sided runs in a row are on opposite sides or the same one
    changed = sides[1:] != sides[:-1]
    turned, turned_up = starts[1:][changed], sides[1:][changed] == 1
    return turned[turned_up], turned[~turned_up]
