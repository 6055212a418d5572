"""Risk limits: defaults, bounds, and the round trip through stored JSON."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from risk.limits import LIMIT_BOUNDS, LimitsError, RiskLimits


def test_defaults_are_the_documented_ones():
    limits = RiskLimits.from_dict({})
    assert limits == RiskLimits()
    assert limits.sizing_mode == "fraction"
    assert limits.fraction_of_equity == Decimal("0.1")
    assert limits.fixed_quote == Decimal("1000")
    assert limits.atr_scaling is False
    assert limits.atr_period == 14
    assert limits.risk_per_trade == Decimal("0.01")
    assert limits.max_position_notional == Decimal("5000")
    assert limits.max_position_pct_equity == Decimal("0.5")
    assert limits.max_total_exposure_pct == Decimal("1.0")
    assert limits.daily_loss_limit_pct == Decimal("0.05")
    assert limits.max_drawdown_pct == Decimal("0.2")
    assert limits.cooldown_after_losses == 3
    assert limits.cooldown_candles == 60
    assert limits.max_order_notional == Decimal("5000")
    assert limits.stale_after_timeframes == 2


def test_to_dict_round_trips_through_json_without_losing_digits():
    limits = RiskLimits.from_dict(
        {"fraction_of_equity": "0.123456789012345678", "sizing_mode": "fixed_quote", "atr_scaling": True}
    )
    stored = json.loads(json.dumps(limits.to_dict()))
    assert stored["fraction_of_equity"] == "0.123456789012345678"
    assert stored["cooldown_candles"] == 60
    assert stored["atr_scaling"] is True
    assert RiskLimits.from_dict(stored) == limits


def test_numbers_are_read_exactly_from_strings_ints_and_floats():
    limits = RiskLimits.from_dict({"fixed_quote": 250, "fraction_of_equity": 0.1, "risk_per_trade": " 0.02 "})
    assert limits.fixed_quote == Decimal("250")
    assert limits.fraction_of_equity == Decimal("0.1")  # not 0.1000000000000000055…
    assert limits.risk_per_trade == Decimal("0.02")


def test_names_every_bad_field_at_once():
    with pytest.raises(LimitsError) as caught:
        RiskLimits.from_dict(
            {
                "sizing_mode": "martingale",
                "fraction_of_equity": "2",
                "atr_scaling": "yes",
                "cooldown_candles": 1.5,
                "max_drawdown_pct": "NaN",
                "leverage": 10,
            }
        )
    errors = caught.value.field_errors
    assert set(errors) == {
        "sizing_mode",
        "fraction_of_equity",
        "atr_scaling",
        "cooldown_candles",
        "max_drawdown_pct",
        "leverage",
    }
    assert errors["fraction_of_equity"] == "must be between 0.001 and 1, got 2"
    assert errors["leverage"] == "unknown limit"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("atr_period", True),
        ("cooldown_after_losses", "3"),
        ("fixed_quote", False),
        ("fixed_quote", "abc"),
        ("fixed_quote", "Infinity"),
        ("fixed_quote", [1000]),
        ("daily_loss_limit_pct", "0"),
        ("max_total_exposure_pct", "1.5"),
        ("stale_after_timeframes", 0),
    ],
)
def test_rejects_wrong_types_and_out_of_range_values(field, value):
    with pytest.raises(LimitsError) as caught:
        RiskLimits.from_dict({field: value})
    assert list(caught.value.field_errors) == [field]


@pytest.mark.parametrize("field", sorted(LIMIT_BOUNDS))
def test_bounds_are_inclusive(field):
    low, high = LIMIT_BOUNDS[field]
    below = low - (1 if isinstance(low, int) else Decimal("0.0001"))
    assert getattr(RiskLimits.from_dict({field: low}), field) == low
    assert getattr(RiskLimits.from_dict({field: high}), field) == high
    with pytest.raises(LimitsError):
        RiskLimits.from_dict({field: below})


def test_direct_construction_is_validated_too():
    with pytest.raises(LimitsError):
        RiskLimits(max_drawdown_pct=Decimal("-0.1"))
    with pytest.raises(LimitsError):
        RiskLimits(max_drawdown_pct=0.2)  # type: ignore[arg-type]


def test_every_default_is_within_its_bounds():
    defaults = RiskLimits()
    for field, (low, high) in LIMIT_BOUNDS.items():
        assert low <= getattr(defaults, field) <= high
