"""The portfolio: exact Decimal accounting, and its invariants over random fills."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trading.portfolio import Portfolio, PortfolioError, PositionState

T0 = datetime(2025, 6, 1, tzinfo=UTC)


def test_buy_puts_the_fee_into_the_cost_basis():
    book = Portfolio(cash=D("10000"))
    assert book.apply_fill("BTCUSDT", "BUY", D("0.01"), D("100000"), D("1"), T0) == 0
    position = book.position("BTCUSDT")
    assert book.cash == D("8999")
    assert position.quantity == D("0.01")
    assert position.cost_basis == D("1001")
    assert position.avg_entry_price == D("100100")
    assert position.fees_paid == D("1")
    assert position.opened_at == T0


def test_partial_sell_realises_against_the_average_entry_minus_its_fee():
    book = Portfolio(cash=D("10000"))
    book.apply_fill("BTCUSDT", "BUY", D("0.01"), D("100000"), D("1"), T0)
    realized = book.apply_fill("BTCUSDT", "SELL", D("0.004"), D("110000"), D("0.44"), T0 + timedelta(hours=1))
    # 0.004 × (110,000 − 100,100) − 0.44
    assert realized == D("39.16")
    position = book.position("BTCUSDT")
    assert position.quantity == D("0.006")
    assert position.cost_basis == D("600.6")
    assert position.avg_entry_price == D("100100")
    assert position.realized_pnl == D("39.16")
    assert position.opened_at == T0
    assert book.cash == D("9438.56")
    marks = {"BTCUSDT": D("105000")}
    assert book.unrealized_pnl(marks) == D("29.4")  # 630 − 600.6
    assert book.equity(marks) == D("10068.56") == D("10000") + D("39.16") + D("29.4")
    assert book.total_fees == D("1.44")


def test_closing_sell_releases_the_whole_cost_and_flattens_the_position():
    book = Portfolio(cash=D("1000"))
    book.apply_fill("ETHUSDT", "BUY", D("0.3"), D("2500.01"), D("0.75000300"), T0)
    realized = book.apply_fill("ETHUSDT", "SELL", D("0.3"), D("2400"), D("0.72"), T0)
    # proceeds 720 − 0.72 = 719.28; cost 750.003 + 0.750003 = 750.753003
    assert realized == D("-31.473003")
    position = book.position("ETHUSDT")
    assert position.quantity == 0 and position.cost_basis == 0
    assert position.opened_at is None
    assert position.avg_entry_price == 0
    assert book.cash == D("1000") + realized
    assert book.equity({}) == book.cash  # nothing held: no mark needed


def test_a_third_of_a_position_releases_a_rounded_share_yet_nothing_is_lost():
    book = Portfolio(cash=D("100"))
    book.apply_fill("X", "BUY", D("3"), D("1"), D("0.01"), T0)
    realized = book.apply_fill("X", "SELL", D("1"), D("1"), D("0"), T0)
    assert realized == D("-0.003333333333")  # 1 − 3.01 / 3, the share rounded to 12 places
    assert book.position("X").cost_basis == D("2.006666666667")
    marks = {"X": D("1")}
    assert book.equity(marks) == D("100") + book.total_realized + book.unrealized_pnl(marks)
    book.apply_fill("X", "SELL", D("2"), D("1"), D("0"), T0)
    assert book.total_realized == D("-0.01")  # exactly the fee, once flat


def test_positions_loaded_from_an_average_entry_keep_their_cost():
    position = PositionState.from_average(D("0.006"), D("100100"), D("39.16"), D("1.44"), T0)
    assert position.cost_basis == D("600.6")
    book = Portfolio(cash=D("9438.56"), positions={"BTCUSDT": position})
    assert book.equity({"BTCUSDT": D("105000")}) == D("10068.56")


def test_selling_more_than_held_raises_and_changes_nothing():
    book = Portfolio(cash=D("10000"))
    book.apply_fill("BTCUSDT", "BUY", D("0.01"), D("100000"), D("1"), T0)
    with pytest.raises(PortfolioError, match="long only"):
        book.apply_fill("BTCUSDT", "SELL", D("0.01001"), D("100000"), D("1"), T0)
    with pytest.raises(PortfolioError):
        book.apply_fill("ETHUSDT", "SELL", D("1"), D("2500"), D("0"), T0)
    assert book.cash == D("8999") and book.position("BTCUSDT").quantity == D("0.01")
    assert book.position("ETHUSDT") == PositionState()


def test_buying_beyond_the_cash_raises_and_changes_nothing():
    book = Portfolio(cash=D("1000"))
    with pytest.raises(PortfolioError, match="cash"):
        book.apply_fill("BTCUSDT", "BUY", D("0.01"), D("100000"), D("0.00000001"), T0)
    assert book.cash == D("1000") and book.positions == {}
    book.apply_fill("BTCUSDT", "BUY", D("0.00999"), D("100000"), D("1"), T0)
    assert book.cash == 0


@pytest.mark.parametrize(
    ("side", "quantity", "price", "fee"),
    [
        ("BUY", D("0"), D("1"), D("0")),
        ("BUY", D("-1"), D("1"), D("0")),
        ("BUY", D("1"), D("0"), D("0")),
        ("BUY", D("1"), D("1"), D("-0.01")),
        ("BUY", D("NaN"), D("1"), D("0")),
        ("SHORT", D("1"), D("1"), D("0")),
    ],
)
def test_rejects_nonsense_fills(side, quantity, price, fee):
    with pytest.raises(PortfolioError):
        Portfolio(cash=D("100")).apply_fill("X", side, quantity, price, fee, T0)


def test_equity_of_a_held_symbol_without_a_mark_raises():
    book = Portfolio(cash=D("10000"))
    book.apply_fill("BTCUSDT", "BUY", D("0.01"), D("100000"), D("1"), T0)
    with pytest.raises(PortfolioError, match="no mark price for BTCUSDT"):
        book.equity({"ETHUSDT": D("2500")})


# --- invariants over random fill sequences --------------------------------------------

SYMBOLS = ("BTCUSDT", "ETHUSDT")
prices = st.decimals(min_value=D("0.00000001"), max_value=D("200000"), places=8)
quantities = st.decimals(min_value=D("0.00000001"), max_value=D("5"), places=8)
fee_rates = st.sampled_from([D("0"), D("0.001"), D("0.00075"), D("0.0123")])
eight = D("0.00000001")


@st.composite
def fill_sequences(draw):
    """Fills that a long-only book can take: sells only of what is held."""
    held = dict.fromkeys(SYMBOLS, D("0"))
    fills = []
    for _ in range(draw(st.integers(1, 25))):
        symbol = draw(st.sampled_from(SYMBOLS))
        price = draw(prices)
        rate = draw(fee_rates)
        if held[symbol] > 0 and draw(st.booleans()):
            whole = draw(st.booleans())
            part = draw(st.integers(1, 10**8))
            quantity = held[symbol] if whole else max(eight, (held[symbol] * part / 10**8).quantize(eight))
            quantity = min(quantity, held[symbol])
            side = "SELL"
            held[symbol] -= quantity
        else:
            quantity = draw(quantities)
            side = "BUY"
            held[symbol] += quantity
        fee = (quantity * price * rate).quantize(eight)
        fills.append((symbol, side, quantity, price, fee))
    marks = {s: draw(prices) for s in SYMBOLS}
    return fills, marks


@settings(max_examples=400, deadline=None)
@given(data=fill_sequences())
def test_accounting_invariants_hold_exactly_after_every_fill(data):
    fills, marks = data
    initial = D("1000000000")  # enough cash for any drawn buy (25 × 5 × 200,000 at most)
    book = Portfolio(cash=initial)
    spent = received = fees = realized_sum = D("0")
    for n, (symbol, side, quantity, price, fee) in enumerate(fills):
        realized_sum += book.apply_fill(symbol, side, quantity, price, fee, T0 + timedelta(minutes=n))
        if side == "BUY":
            spent += quantity * price + fee
        else:
            received += quantity * price - fee
        fees += fee
        assert book.cash == initial - spent + received
        assert book.equity(marks) == initial + book.total_realized + book.unrealized_pnl(marks)
        assert book.total_realized == realized_sum
        assert book.total_fees == fees
        for position in book.positions.values():
            assert position.quantity >= 0
            if position.quantity == 0:
                assert position.cost_basis == 0 and position.opened_at is None
            else:
                assert position.cost_basis > 0 and position.opened_at is not None


@settings(max_examples=200, deadline=None)
@given(
    buys=st.lists(st.tuples(quantities, prices, fee_rates), min_size=1, max_size=6),
    sell_price=prices,
    sell_rate=fee_rates,
)
def test_a_round_trip_realises_proceeds_minus_every_cost(buys, sell_price, sell_rate):
    book = Portfolio(cash=D("10000000"))
    cost = D("0")
    total = D("0")
    for quantity, price, rate in buys:
        fee = (quantity * price * rate).quantize(eight)
        book.apply_fill("BTCUSDT", "BUY", quantity, price, fee, T0)
        cost += quantity * price + fee
        total += quantity
    sell_fee = (total * sell_price * sell_rate).quantize(eight)
    realized = book.apply_fill("BTCUSDT", "SELL", total, sell_price, sell_fee, T0)
    assert realized == total * sell_price - sell_fee - cost
    assert book.cash == D("10000000") + realized


def test_a_partial_sell_of_a_tiny_position_leaves_it_a_positive_cost():
    # cost 1E-12; selling 3/5 releases 0.6E-12, which must not round up to the whole cost
    book = Portfolio(cash=D("1"))
    book.apply_fill("DUSTUSDT", "BUY", D("0.00000005"), D("0.00002"), D("0"), T0)
    realized = book.apply_fill("DUSTUSDT", "SELL", D("0.00000003"), D("0.00002"), D("0"), T0)
    held = book.position("DUSTUSDT")
    assert held.quantity == D("0.00000002")
    assert held.cost_basis > 0
    assert book.cash + held.cost_basis == D("1") + realized
