"""Strategies: parameters, indicators checked against naive re-computations on
real bundled candles, signals, explanations, and the absence of look-ahead."""

from __future__ import annotations

import math
import statistics
from functools import cache

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests import data_path
from trading.candles import Candles, load_csv
from trading.strategies import (
    STRATEGIES,
    Action,
    ParamError,
    ParamSpec,
    UnknownStrategy,
    get_strategy,
    list_strategies,
)
from trading.strategies.base import validate_params
from trading.strategies.indicators import CROSS_TOLERANCE, atr

REAL_FILES = [
    ("binance/BTCUSDT-1m.csv.gz", "BTCUSDT", "1m"),
    ("binance/BTCUSDT-15m.csv", "BTCUSDT", "15m"),
    # A quarter of its candles are flat zero-volume minutes: equal moving
    # averages there must not read as crossings.
    ("binance/XRPETH-1m.csv", "XRPETH", "1m"),
]


@cache
def real(name: str, symbol: str, timeframe: str) -> Candles:
    return load_csv(data_path(name), symbol, timeframe)


def candles_from_closes(closes: list[float]) -> Candles:
    rows = [(60_000 * i, c, c, c, c, 1.0) for i, c in enumerate(closes)]
    return Candles.from_rows("TEST", "1m", rows)


# --- naive re-computations: plain loops, one value at a time ---------------


def naive_sma(closes: list[float], window: int) -> list[float]:
    return [
        math.nan if i + 1 < window else math.fsum(closes[i + 1 - window : i + 1]) / window
        for i in range(len(closes))
    ]


def naive_cross_actions(fast: list[float], slow: list[float]) -> list[int]:
    actions = [0] * len(fast)
    last_side = 0
    for i, (f, s) in enumerate(zip(fast, slow, strict=True)):
        if math.isnan(f) or math.isnan(s):
            continue
        if f - s > CROSS_TOLERANCE * abs(s):
            side = 1
        elif s - f > CROSS_TOLERANCE * abs(s):
            side = -1
        else:
            continue  # level: keeps the side it was on
        if last_side and side != last_side:
            actions[i] = side
        last_side = side
    return actions


def naive_rsi(closes: list[float], period: int) -> list[float]:
    out = [math.nan] * len(closes)
    if len(closes) <= period:
        return out
    gains = [max(closes[i] - closes[i - 1], 0.0) for i in range(1, len(closes))]
    losses = [max(closes[i - 1] - closes[i], 0.0) for i in range(1, len(closes))]
    avg_gain = statistics.fmean(gains[:period])
    avg_loss = statistics.fmean(losses[:period])
    for i in range(period, len(closes)):
        if i > period:
            avg_gain = (avg_gain * (period - 1) + gains[i - 1]) / period
            avg_loss = (avg_loss * (period - 1) + losses[i - 1]) / period
        if avg_loss == 0 and avg_gain == 0:
            out[i] = 50.0
        elif avg_loss == 0:
            out[i] = 100.0
        else:
            out[i] = 100.0 - 100.0 / (1.0 + avg_gain / avg_loss)
    return out


def naive_rsi_actions(values: list[float], oversold: float, overbought: float) -> list[int]:
    actions = [0] * len(values)
    for i in range(1, len(values)):
        before, now = values[i - 1], values[i]
        if math.isnan(before) or math.isnan(now):
            continue
        if before < oversold <= now:
            actions[i] = 1
        elif before > overbought >= now:
            actions[i] = -1
    return actions


def naive_donchian(
    candles: Candles, entry: int, exit_: int
) -> tuple[list[float], list[float], list[int]]:
    highs, lows, closes = candles.high.tolist(), candles.low.tolist(), candles.close.tolist()
    n = len(closes)
    upper = [max(highs[i - entry : i]) if i >= entry else math.nan for i in range(n)]
    lower = [min(lows[i - exit_ : i]) if i >= exit_ else math.nan for i in range(n)]
    actions = [0] * n
    start = max(entry, exit_)
    for i in range(start + 1, n):
        if closes[i] > upper[i] and not closes[i - 1] > upper[i - 1]:
            actions[i] = 1
        elif closes[i] < lower[i] and not closes[i - 1] < lower[i - 1]:
            actions[i] = -1
    return upper, lower, actions


def assert_same_floats(actual: np.ndarray, expected: list[float], rtol: float) -> None:
    np.testing.assert_allclose(actual, np.array(expected), rtol=rtol, atol=0, equal_nan=True)


# --- parameters --------------------------------------------------------------

SCHEMA = (
    ParamSpec("window", int, 10, 2, 100, "a window"),
    ParamSpec("level", float, 30.0, 1.0, 50.0, "a level"),
)


def test_validate_params_fills_defaults():
    assert validate_params(SCHEMA, {}) == {"window": 10, "level": 30.0}
    assert validate_params(SCHEMA, None) == {"window": 10, "level": 30.0}
    assert validate_params(SCHEMA, {"window": 5}) == {"window": 5, "level": 30.0}


def test_validate_params_takes_integers_for_float_params_as_floats():
    clean = validate_params(SCHEMA, {"level": 25})
    assert clean["level"] == 25.0
    assert isinstance(clean["level"], float)


def test_validate_params_names_every_bad_field_at_once():
    with pytest.raises(ParamError) as caught:
        validate_params(SCHEMA, {"window": True, "level": 60.0, "speed": 3})
    errors = caught.value.field_errors
    assert set(errors) == {"window", "level", "speed"}
    assert "boolean" in errors["window"]
    assert "between 1.0 and 50.0" in errors["level"]
    assert errors["speed"] == "unknown parameter"


@pytest.mark.parametrize(
    ("params", "field", "fragment"),
    [
        ({"window": 10.0}, "window", "integer"),
        ({"window": "10"}, "window", "integer"),
        ({"window": 1}, "window", "between"),
        ({"window": 101}, "window", "between"),
        ({"level": "30"}, "level", "number"),
        ({"level": False}, "level", "boolean"),
        ({"level": math.nan}, "level", "finite"),
        ({"level": math.inf}, "level", "finite"),
    ],
)
def test_validate_params_rejects_wrong_types_and_ranges(params, field, fragment):
    with pytest.raises(ParamError) as caught:
        validate_params(SCHEMA, params)
    assert fragment in caught.value.field_errors[field]


def test_sma_cross_requires_fast_below_slow():
    with pytest.raises(ParamError) as caught:
        get_strategy("sma_cross").validate({"fast": 30, "slow": 30})
    assert caught.value.field_errors == {"fast": "must be less than slow (30)"}


def test_rsi_reversion_requires_oversold_below_overbought():
    with pytest.raises(ParamError) as caught:
        get_strategy("rsi_reversion").validate({"oversold": 50, "overbought": 50})
    assert "oversold" in caught.value.field_errors


def test_signals_refuse_invalid_params():
    candles = candles_from_closes([1.0] * 50)
    with pytest.raises(ParamError):
        get_strategy("donchian_breakout").signals(candles, {"entry_period": 1})


def test_every_default_is_valid_and_within_bounds():
    for strategy in list_strategies():
        assert strategy.validate({}) == strategy.defaults()


# --- registry ----------------------------------------------------------------


def test_registry_lists_the_three_strategies_by_name():
    names = [s.name for s in list_strategies()]
    assert names == ["donchian_breakout", "rsi_reversion", "sma_cross"]
    assert all(get_strategy(name) is STRATEGIES[name] for name in names)
    assert all(s.label for s in list_strategies())


def test_unknown_strategy_names_the_known_ones():
    with pytest.raises(UnknownStrategy) as caught:
        get_strategy("martingale")
    assert "martingale" in str(caught.value)
    assert "sma_cross" in str(caught.value)


# --- correctness on real candles --------------------------------------------


@pytest.mark.parametrize("source", REAL_FILES, ids=lambda s: s[0])
def test_sma_cross_matches_naive_computation_on_real_candles(source):
    candles = real(*source)
    closes = candles.close.tolist()
    series = get_strategy("sma_cross").signals(candles, {"fast": 10, "slow": 30})
    fast, slow = naive_sma(closes, 10), naive_sma(closes, 30)
    assert_same_floats(series.indicators["sma_fast"], fast, rtol=1e-12)
    assert_same_floats(series.indicators["sma_slow"], slow, rtol=1e-12)
    expected = naive_cross_actions(fast, slow)
    assert series.actions.tolist() == expected
    assert expected.count(1) > 10 and expected.count(-1) > 10


@pytest.mark.parametrize("source", REAL_FILES, ids=lambda s: s[0])
def test_rsi_reversion_matches_naive_computation_on_real_candles(source):
    candles = real(*source)
    series = get_strategy("rsi_reversion").signals(candles, {})
    expected_rsi = naive_rsi(candles.close.tolist(), 14)
    assert_same_floats(series.indicators["rsi"], expected_rsi, rtol=1e-9)
    expected = naive_rsi_actions(expected_rsi, 30.0, 70.0)
    assert series.actions.tolist() == expected
    assert expected.count(1) > 5 and expected.count(-1) > 5


@pytest.mark.parametrize("source", REAL_FILES, ids=lambda s: s[0])
def test_donchian_breakout_matches_naive_computation_on_real_candles(source):
    candles = real(*source)
    series = get_strategy("donchian_breakout").signals(candles, {"entry_period": 20, "exit_period": 10})
    upper, lower, expected = naive_donchian(candles, 20, 10)
    assert_same_floats(series.indicators["donchian_high"], upper, rtol=0)
    assert_same_floats(series.indicators["donchian_low"], lower, rtol=0)
    assert series.actions.tolist() == expected
    assert expected.count(1) > 10 and expected.count(-1) > 10


def test_atr_matches_naive_wilder_average_of_true_range():
    candles = real("binance/BTCUSDT-15m.csv", "BTCUSDT", "15m")
    h, lo, c = candles.high.tolist(), candles.low.tolist(), candles.close.tolist()
    ranges = [max(h[i] - lo[i], abs(h[i] - c[i - 1]), abs(lo[i] - c[i - 1])) for i in range(1, len(c))]
    expected = [math.nan] * len(c)
    value = statistics.fmean(ranges[:14])
    expected[14] = value
    for i in range(15, len(c)):
        value = (value * 13 + ranges[i - 1]) / 14
        expected[i] = value
    assert_same_floats(atr(candles.high, candles.low, candles.close, 14), expected, rtol=1e-9)


# --- small hand-worked series -----------------------------------------------


def test_sma_cross_buys_on_the_crossing_candle_only():
    # SMA2: -, 2.5, 1.5, 1.5, 2.5, 3.5, 4.5; SMA3: -, -, 2, 1.67, 2, 3, 4.
    candles = candles_from_closes([3, 2, 1, 2, 3, 4, 5])
    series = get_strategy("sma_cross").signals(candles, {"fast": 2, "slow": 3})
    assert series.actions.tolist() == [0, 0, 0, 0, 1, 0, 0]
    assert series.indicators["sma_fast"][4] == 2.5
    assert series.indicators["sma_slow"][4] == 2.0


def test_sma_cross_sells_on_the_crossing_candle_only():
    candles = candles_from_closes([1, 2, 3, 2, 1, 0.5, 0.25])
    series = get_strategy("sma_cross").signals(candles, {"fast": 2, "slow": 3})
    # SMA2 at 4 is 1.5 < SMA3 2.0; at 3 it was 2.5 > 2.33.
    assert series.actions.tolist() == [0, 0, 0, 0, -1, 0, 0]


def test_sma_cross_gives_no_signal_in_a_flat_market():
    candles = candles_from_closes([0.1 + 0.2] * 40 + [0.3] * 40)
    series = get_strategy("sma_cross").signals(candles, {"fast": 3, "slow": 7})
    assert not series.actions.any()


def test_sma_cross_touching_and_leaving_on_the_same_side_is_no_crossing():
    # fast above, then level with slow, then above again: never crossed.
    fast = np.array([np.nan, 2.0, 1.0, 2.0, 1.0])
    slow = np.array([np.nan, 1.0, 1.0, 1.0, 1.0])
    from trading.strategies.indicators import crossings

    up, down = crossings(fast, slow)
    assert not up.any() and not down.any()
    up, down = crossings(np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 1.0]))
    assert up.tolist() == [False, False, True]


def test_rsi_hand_computed_values_and_buy_on_climbing_back_above_oversold():
    # period 2; changes +1, +1, -1, -2, +3
    # avg gain/loss: i2: 1/0 → 100; i3: 0.5/0.5 → 50; i4: 0.25/1.25 → 16.67; i5: 1.625/0.625 → 72.22
    candles = candles_from_closes([1, 2, 3, 2, 0, 3])
    strategy = get_strategy("rsi_reversion")
    series = strategy.signals(candles, {"period": 2, "oversold": 30, "overbought": 70})
    rsi = series.indicators["rsi"]
    assert math.isnan(rsi[0]) and math.isnan(rsi[1])
    assert rsi[2] == 100.0
    assert rsi[3] == 50.0
    assert rsi[4] == pytest.approx(100 * 0.25 / 1.5, abs=1e-12)
    assert rsi[5] == pytest.approx(100 * 1.625 / 2.25, abs=1e-12)
    # RSI falls back from 100 to 50 on candle 3 (SELL) and climbs back above 30 on 5 (BUY).
    assert series.actions.tolist() == [0, 0, 0, -1, 0, 1]
    signal = strategy.explain(candles, {"period": 2, "oversold": 30, "overbought": 70}, series, 5)
    assert signal.reason == "RSI2 crossed back above 30 (16.67 → 72.22)"


def test_rsi_of_a_flat_market_is_fifty_and_never_signals():
    candles = candles_from_closes([100.0] * 30)
    series = get_strategy("rsi_reversion").signals(candles, {"period": 5})
    assert set(series.indicators["rsi"][5:].tolist()) == {50.0}
    assert not series.actions.any()


def test_donchian_channels_exclude_the_current_candle():
    rows = [(60_000 * i, 10, 10 + i % 3, 9 - i % 2, 10, 1) for i in range(6)]
    rows.append((360_000, 10, 20, 9, 12.5, 1))  # closes above the previous highs (max 12)
    candles = Candles.from_rows("TEST", "1m", rows)
    series = get_strategy("donchian_breakout").signals(candles, {"entry_period": 3, "exit_period": 2})
    assert series.indicators["donchian_high"][6] == 12.0  # its own high of 20 is not in it
    assert series.indicators["donchian_low"][6] == 8.0
    assert series.actions.tolist()[-1] == Action.BUY


# --- warm-up, explanations, short series --------------------------------------


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_no_signal_before_warmup(name):
    strategy = get_strategy(name)
    candles = real("binance/BTCUSDT-15m.csv", "BTCUSDT", "15m")
    for start in range(0, 2000, 97):
        window = candles[start : start + 400]
        series = strategy.signals(window, {})
        assert not series.actions[: strategy.warmup({}) - 1].any()


def test_warmup_is_the_fewest_candles_that_can_signal():
    # fast=2, slow=3 → warmup 4: a crossing on the 4th candle is signalled.
    strategy = get_strategy("sma_cross")
    assert strategy.warmup({"fast": 2, "slow": 3}) == 4
    series = strategy.signals(candles_from_closes([3, 3, 1, 9]), {"fast": 2, "slow": 3})
    assert series.actions.tolist() == [0, 0, 0, 1]
    assert get_strategy("rsi_reversion").warmup({"period": 14}) == 16
    assert get_strategy("donchian_breakout").warmup({"entry_period": 20, "exit_period": 30}) == 32


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_series_shorter_than_warmup_holds_everywhere(name):
    strategy = get_strategy(name)
    for size in (0, 1, strategy.warmup({}) - 1):
        candles = candles_from_closes([100.0 + (i % 7) for i in range(size)])
        series = strategy.signals(candles, {})
        assert series.actions.dtype == np.int8 and series.actions.shape == (size,)
        assert not series.actions.any()
        for values in series.indicators.values():
            assert values.dtype == np.float64 and values.shape == (size,)


def test_explain_names_the_crossing_with_its_values():
    candles = real("binance/BTCUSDT-1m.csv.gz", "BTCUSDT", "1m")[:5000]
    strategy = get_strategy("sma_cross")
    series = strategy.signals(candles, {})
    i = int(np.flatnonzero(series.actions == Action.BUY)[0])
    signal = strategy.explain(candles, {}, series, i)
    fast, slow = series.indicators["sma_fast"][i], series.indicators["sma_slow"][i]
    assert signal.action == Action.BUY
    assert signal.reason == f"SMA10 crossed above SMA30 ({fast:,.2f} > {slow:,.2f})"
    assert signal.indicators == {"sma_fast": fast, "sma_slow": slow, "close": candles.close[i]}
    assert signal.candle_open_time == int(candles.open_time[i])


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_explain_agrees_with_the_series_and_leaves_out_undefined_indicators(name):
    strategy = get_strategy(name)
    candles = real("binance/BTCUSDT-5m.csv", "BTCUSDT", "5m")[:3000]
    series = strategy.signals(candles, {})
    first = strategy.explain(candles, {}, series, 0)
    assert first.action == Action.HOLD
    assert first.reason.startswith("warming up: 1 of the")
    assert first.indicators == {"close": candles.close[0]}
    picks = [*np.flatnonzero(series.actions)[:3].tolist(), len(candles) - 1, -1]
    for i in picks:
        signal = strategy.explain(candles, {}, series, i)
        assert signal.action == Action(int(series.actions[i]))
        assert signal.reason and not signal.reason.startswith("warming up")
        assert all(math.isfinite(v) for v in signal.indicators.values())
        assert set(signal.indicators) == {*series.indicators, "close"}


def test_explain_rejects_a_series_of_other_candles():
    strategy = get_strategy("sma_cross")
    candles = candles_from_closes([1.0] * 40)
    series = strategy.signals(candles, {})
    with pytest.raises(ValueError):
        strategy.explain(candles[:39], {}, series, 0)
    with pytest.raises(IndexError):
        strategy.explain(candles, {}, series, 40)


# --- no look-ahead -----------------------------------------------------------

LOOKAHEAD_BASE = real("binance/BTCUSDT-5m.csv", "BTCUSDT", "5m")[:600]
PARAMS = {
    "sma_cross": [{}, {"fast": 3, "slow": 8}],
    "rsi_reversion": [{}, {"period": 5, "oversold": 40, "overbought": 60}],
    "donchian_breakout": [{}, {"entry_period": 5, "exit_period": 3}],
}


def scrambled_after(candles: Candles, k: int, seed: int) -> Candles:
    """Candles 0..k unchanged; every later value replaced by arbitrary numbers."""
    rng = np.random.default_rng(seed)
    arrays = []
    for values in (candles.open, candles.high, candles.low, candles.close, candles.volume):
        changed = values.copy()
        tail = len(values) - k - 1
        changed[k + 1 :] = rng.uniform(1.0, 2.0 * values.max(), tail)
        arrays.append(changed)
    return Candles(candles.symbol, candles.timeframe, candles.open_time, *arrays)


@settings(max_examples=60, deadline=None)
@given(
    name=st.sampled_from(sorted(STRATEGIES)),
    variant=st.integers(0, 1),
    k=st.integers(0, len(LOOKAHEAD_BASE) - 2),
    seed=st.integers(0, 2**32 - 1),
)
def test_signals_up_to_k_ignore_every_later_candle(name, variant, k, seed):
    strategy = get_strategy(name)
    params = PARAMS[name][variant]
    original = strategy.signals(LOOKAHEAD_BASE, params)
    changed = strategy.signals(scrambled_after(LOOKAHEAD_BASE, k, seed), params)
    assert np.array_equal(original.actions[: k + 1], changed.actions[: k + 1])
    for key, values in original.indicators.items():
        assert np.array_equal(values[: k + 1], changed.indicators[key][: k + 1], equal_nan=True)
    # The scrambled tail must really differ, or the test proves nothing. (An
    # indicator need not move: a channel over earlier candles may not see it.)
    scrambled = scrambled_after(LOOKAHEAD_BASE, k, seed)
    assert not np.array_equal(LOOKAHEAD_BASE.close[k + 1 :], scrambled.close[k + 1 :])


@pytest.mark.parametrize("name", ["sma_cross", "donchian_breakout"])
def test_window_strategies_give_the_same_newest_signal_from_warmup_candles(name):
    strategy = get_strategy(name)
    candles = real("binance/BTCUSDT-15m.csv", "BTCUSDT", "15m")
    full = strategy.signals(candles, {})
    need = strategy.lookback({})
    for end in range(need, len(candles), 37):
        window = strategy.signals(candles[end - need : end], {})
        assert window.actions[-1] == full.actions[end - 1]


def test_rsi_from_lookback_candles_matches_the_full_history():
    strategy = get_strategy("rsi_reversion")
    candles = real("binance/BTCUSDT-15m.csv", "BTCUSDT", "15m")
    full = strategy.signals(candles, {})
    need = strategy.lookback({})
    assert need == 16 + 20 * 14
    for end in range(need, len(candles), 11):
        window = strategy.signals(candles[end - need : end], {})
        assert abs(window.indicators["rsi"][-1] - full.indicators["rsi"][end - 1]) < 1e-6
        assert window.actions[-1] == full.actions[end - 1]


# --- the windowed sums behind the SMA ---------------------------------------------


def test_window_sums_are_numpys_windowed_sums_bit_for_bit():
    from numpy.lib.stride_tricks import sliding_window_view

    from trading.strategies.indicators import window_sums

    closes = real("binance/BTCUSDT-1m.csv.gz", "BTCUSDT", "1m").close[:20_000]
    rng = np.random.default_rng(11)
    noisy = rng.standard_normal(3_000) * 1e3
    signed_zeros = np.array([-0.0, 0.0, -0.0, -0.0, 1e-300, -0.0] * 40)
    for values in (closes, noisy, signed_zeros):
        for window in [*range(1, 140), 200, 255, 256, 257, 300, 384, 499, 500]:
            if window > len(values):
                continue
            expected = sliding_window_view(values, window).sum(axis=1)
            got = window_sums(values, window)
            assert got.tobytes() == expected.tobytes(), window


def test_window_sums_bit_for_bit_across_blocks(monkeypatch):
    # The windows are summed a block of rows at a time; small blocks put many
    # block edges (and a short last block) inside the series.
    from numpy.lib.stride_tricks import sliding_window_view

    from trading.strategies import indicators

    closes = real("binance/BTCUSDT-1m.csv.gz", "BTCUSDT", "1m").close[:5_000]
    monkeypatch.setattr(indicators, "_ROWS_PER_BLOCK", 777)
    for window in (1, 7, 8, 10, 30, 129, 300):
        expected = sliding_window_view(closes, window).sum(axis=1)
        assert indicators.window_sums(closes, window).tobytes() == expected.tobytes(), window


def test_window_sums_bit_for_bit_over_the_whole_series():
    from numpy.lib.stride_tricks import sliding_window_view

    from trading.strategies.indicators import window_sums

    closes = real("binance/BTCUSDT-1m.csv.gz", "BTCUSDT", "1m").close
    for window in (10, 30, 200):
        expected = sliding_window_view(closes, window).sum(axis=1)
        assert window_sums(closes, window).tobytes() == expected.tobytes(), window


# --- crossings ------------------------------------------------------------------


def candle_by_candle_crossings(a: np.ndarray, b: np.ndarray) -> tuple[list[bool], list[bool]]:
    """The definition, one candle at a time: the side changes from the last
    side it was strictly on."""
    up, down = [], []
    last = 0
    for x, y in zip(a.tolist(), b.tolist(), strict=True):
        tolerance = CROSS_TOLERANCE * abs(y)
        side = 1 if x - y > tolerance else -1 if x - y < -tolerance else 0
        up.append(side == 1 and last == -1)
        down.append(side == -1 and last == 1)
        last = side or last
    return up, down


# few distinct values, so that levels, NaN (warming up) and runs are common
_SIDE_VALUES = st.sampled_from([math.nan, -1.0, 0.0, 1.0, 1.0 + 1e-12, 2.0])


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(_SIDE_VALUES, _SIDE_VALUES), max_size=30))
def test_crossings_match_the_candle_by_candle_definition(pairs):
    from trading.strategies.indicators import crossing_indices, crossings

    a = np.array([p[0] for p in pairs], dtype=np.float64)
    b = np.array([p[1] for p in pairs], dtype=np.float64)
    up, down = crossings(a, b)
    assert up.dtype == bool and down.dtype == bool and up.shape == down.shape == a.shape
    assert (up.tolist(), down.tolist()) == candle_by_candle_crossings(a, b)
    up_at, down_at = crossing_indices(a, b)
    assert up_at.tolist() == np.flatnonzero(up).tolist()
    assert down_at.tolist() == np.flatnonzero(down).tolist()


@pytest.mark.parametrize("name,symbol,timeframe", REAL_FILES)
def test_crossings_match_the_definition_on_real_averages(name, symbol, timeframe):
    from trading.strategies.indicators import crossings, sma

    close = real(name, symbol, timeframe).close[:20_000]
    fast, slow = sma(close, 10), sma(close, 30)
    up, down = crossings(fast, slow)
    assert (up.tolist(), down.tolist()) == candle_by_candle_crossings(fast, slow)
