"""``to_decimals`` gives exactly ``to_decimal`` of each float: the same digits
and exponent (``repr``'s), on real prices and on any float."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tests import data_path
from trading.candles import load_csv, to_decimal, to_decimals


def same(values: np.ndarray) -> None:
    fast = to_decimals(values)
    assert len(fast) == len(values)
    for value, decimal in zip(values.tolist(), fast, strict=True):
        expected = to_decimal(value)
        assert decimal.as_tuple() == expected.as_tuple(), (value, decimal, expected)


def test_every_price_and_volume_of_the_real_series() -> None:
    candles = load_csv(data_path("binance/BTCUSDT-1m.csv.gz"), "BTCUSDT", "1m")
    for column in (candles.open, candles.high, candles.low, candles.close, candles.volume):
        same(column)
    same(candles.close * 0.1)  # arithmetic, not read from text: mostly long floats


SPECIAL = [0.0, -0.0, 1.0, -1.0, 0.1, 0.5, 1e-5, 1.5e-9, 12345678.9, 1e14, 1e15, 1e16, 123456789012345.6,
           99999999999999.99, 0.30000000000000004, math.inf, -math.inf, math.nan, 5e-324, 1.7976931348623157e308,
           105943.4, 105943.0, 2.5123, 0.00031234, 7e22]


def test_special_values() -> None:
    same(np.array(SPECIAL))


short_decimals = st.builds(
    lambda k, p, scale: k / 10**p * scale,
    st.integers(-(10**16), 10**16),
    st.integers(0, 12),
    st.sampled_from([1.0, 1.0, 1.0, 10.0, 1e-3, 1e6]),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True), short_decimals), max_size=40))
def test_any_floats(values: list[float]) -> None:
    same(np.array(values, dtype=np.float64))
