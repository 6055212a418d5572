"""Metrics against values worked out by hand."""

from __future__ import annotations

from decimal import Decimal as D

import numpy as np
import pytest

from trading.metrics import Metrics, _max_drawdown, compute

DAY = 86400
# Returns +10 %, −10 %, +10 %:
#   mean 1/30, sample std √3/15 → Sharpe per bar √3/6, a year of days → √1095/6 = 5.5151307026
#   downside deviation √(0.01/3) → Sortino per bar 1/√3 → √(365/3) = 11.0302614052
CURVE = [D("100"), D("110"), D("99"), D("108.9")]


def test_hand_worked_curve_and_trades():
    metrics = compute(CURVE, [D("10"), D("-5"), D("20"), D("0"), D("-2.5")], DAY, bars_in_market=3)
    assert metrics == Metrics(
        total_return=D("0.08900000"),
        max_drawdown=D("0.10000000"),  # 110 → 99
        sharpe=D("5.51513070"),
        sortino=D("11.03026141"),
        win_rate=D("0.40000000"),  # 2 of 5; the zero trade is no win
        profit_factor=D("4.00000000"),  # 30 / 7.5
        avg_trade=D("4.50000000"),  # 22.5 / 5
        exposure=D("0.75000000"),
        trade_count=5,
    )


def test_every_output_has_eight_places():
    metrics = compute(CURVE, [D("1"), D("-3")], DAY, 1)
    for value in (metrics.total_return, metrics.max_drawdown, metrics.sharpe, metrics.sortino,
                  metrics.win_rate, metrics.profit_factor, metrics.avg_trade, metrics.exposure):
        assert isinstance(value, D)
        assert value.as_tuple().exponent == -8
    assert metrics.profit_factor == D("0.33333333")


def test_annualisation_follows_the_timeframe():
    # The same curve on 1-minute bars: × √(525600 / 365) = × √1440 = × 37.947331922
    daily = compute(CURVE, [], DAY, 0)
    minutely = compute(CURVE, [], 60, 0)
    assert minutely.sharpe == D("209.28449536")  # √1095/6 × √1440 = √1576800/6
    assert abs(minutely.sharpe - daily.sharpe * D("37.947331922")) < D("0.000001")


def test_max_drawdown_is_the_largest_fall_from_a_running_peak():
    curve = [D("100"), D("120"), D("90"), D("130"), D("104"), D("125")]
    # 120 → 90 is 25 %; 130 → 104 is 20 %
    assert compute(curve, [], DAY, 0).max_drawdown == D("0.25000000")


def test_numpy_curves_give_the_same_metrics_as_decimal_ones():
    as_floats = np.array([100.0, 110.0, 99.0, 108.9])
    assert compute(as_floats, [], DAY, 2) == compute(CURVE, [], DAY, 2)


def test_ratios_are_none_when_undefined():
    flat = compute([D("100")] * 10, [], DAY, 0)
    assert flat.sharpe is None and flat.sortino is None
    assert flat.total_return == 0 and flat.max_drawdown == 0
    rising = compute([D("100"), D("101"), D("103"), D("104")], [], DAY, 0)
    assert rising.sharpe is not None and rising.sortino is None  # no losing bar
    two_bars = compute([D("100"), D("90")], [], DAY, 0)
    assert two_bars.sharpe is None and two_bars.sortino is None  # one return is not a sample


def test_a_curve_growing_by_the_same_factor_every_bar_has_no_sharpe():
    curve = 100.0 * 1.01 ** np.arange(50)  # returns equal up to float noise
    assert compute(curve, [], DAY, 0).sharpe is None


def test_trade_figures_are_none_without_trades_and_profit_factor_without_losses():
    none = compute(CURVE, [], DAY, 0)
    assert (none.win_rate, none.profit_factor, none.avg_trade, none.trade_count) == (None, None, None, 0)
    winners = compute(CURVE, [D("1.5"), D("2.5")], DAY, 0)
    assert winners.profit_factor is None
    assert winners.win_rate == D("1.00000000")
    assert winners.avg_trade == D("2.00000000")


def test_avg_trade_is_exact_decimal():
    metrics = compute(CURVE, [D("0.1"), D("0.2")], DAY, 0)
    assert metrics.avg_trade == D("0.15000000")  # not 0.15000000000000002


def test_empty_curve_has_zero_return_and_exposure():
    metrics = compute([], [], DAY, 0)
    assert metrics.total_return == 0 and metrics.max_drawdown == 0 and metrics.exposure == 0
    assert metrics.sharpe is None


def test_to_dict_writes_decimals_as_strings():
    data = compute(CURVE, [], DAY, 3).to_dict()
    assert data["total_return"] == "0.08900000"
    assert data["sharpe"] == "5.51513070"
    assert data["win_rate"] is None
    assert data["trade_count"] == 0


@pytest.mark.parametrize(
    ("curve", "timeframe", "bars_in_market"),
    [
        (CURVE, 0, 0),
        (CURVE, DAY, 5),
        (CURVE, DAY, -1),
        ([D("100"), D("0")], DAY, 0),
        ([D("100"), D("-5")], DAY, 0),
    ],
)
def test_rejects_inputs_that_make_no_sense(curve, timeframe, bars_in_market):
    with pytest.raises(ValueError):
        compute(curve, [], timeframe, bars_in_market)


@pytest.mark.parametrize("seed", range(40))
def test_max_drawdown_equals_the_running_peak_formula_bit_for_bit(seed):
    # The running peak is worked out only up to the curve's highest value;
    # curves with the top first, last, in between and repeated, all agree.
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 300))
    drift = rng.choice([-0.01, 0.0, 0.01])
    curves = [
        np.exp(np.cumsum(rng.standard_normal(n) * 0.02 + drift)),
        rng.integers(1, 5, n) * 0.1,  # few values: ties with the top
        np.sort(rng.random(n) + 0.5),  # the top last
        np.sort(rng.random(n) + 0.5)[::-1],  # the top first
    ]
    for curve in curves:
        peaks = np.maximum.accumulate(curve)
        expected = float(((peaks - curve) / peaks).max())
        assert np.float64(_max_drawdown(curve)).tobytes() == np.float64(expected).tobytes()
