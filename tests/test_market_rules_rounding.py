"""MarketRules rounding: its power-of-ten shortcut gives exactly what the
general step arithmetic gives (value, exponent, and errors) for any Decimal."""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, DecimalException

from hypothesis import given, settings
from hypothesis import strategies as st

from trading.market_rules import MarketRules

SIZES = ["0.00001000", "0.00001", "1E-8", "0.01000000", "0.01", "1", "1.0", "10", "1E+1", "0.5", "0.00025", "0"]


def rules(step: str, tick: str) -> MarketRules:
    return MarketRules(
        "X", "B", "Q", Decimal(step), Decimal("0"), Decimal("0"), Decimal(tick), Decimal("0"), Decimal("0"),
        Decimal("0"),
    )


def general(value: Decimal, size: Decimal, rounding: str) -> Decimal:
    """The rounding as it reads in full, for any size."""
    if size <= 0:
        return value
    units = (value / size).to_integral_value(rounding=rounding)
    return (units * size).quantize(size)


def outcome(f, *args):  # type: ignore[no-untyped-def]
    try:
        result = f(*args)
    except DecimalException as exc:
        return type(exc).__name__
    return str(result)


decimals = st.one_of(
    st.decimals(allow_nan=True, allow_infinity=True),
    st.builds(
        lambda digits, exponent, negative: Decimal((int(negative), tuple(int(d) for d in digits), exponent)),
        st.text("0123456789", min_size=1, max_size=40),
        st.integers(-40, 12),
        st.booleans(),
    ),
)


@settings(max_examples=3000, deadline=None)
@given(value=decimals, size=st.sampled_from(SIZES))
def test_rounding_matches_the_general_arithmetic(value: Decimal, size: str) -> None:
    market = rules(size, size)
    step = Decimal(size)
    assert outcome(market.round_quantity, value) == outcome(general, value, step, ROUND_DOWN)
    assert outcome(market.round_price, value) == outcome(general, value, step, ROUND_HALF_UP)


def test_rounding_of_everyday_prices_and_sizes() -> None:
    market = rules("0.00001000", "0.01000000")
    assert str(market.round_quantity(Decimal("1000") / Decimal("105943.4"))) == "0.00943000"
    assert str(market.round_price(Decimal("105943.405"))) == "105943.41000000"
    assert str(rules("1E-8", "1E-8").round_price(Decimal("105943.4"))) == "105943.40000000"
