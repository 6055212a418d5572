"""The paper fill model: prices, slippage, fees, partial fills, limit crossings."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from trading.execution.paper import (
    ExecutionEngine,
    ExecutionResult,
    OrderRequest,
    PaperExecutionEngine,
    PaperFillModel,
)
from trading.market_rules import MarketRules

AT = datetime(2025, 6, 1, 12, 1, tzinfo=UTC)
AT_MS = 1748779260000
RULES = MarketRules(
    symbol="BTCUSDT",
    base_asset="BTC",
    quote_asset="USDT",
    step_size=D("0.00001"),
    min_qty=D("0.00001"),
    max_qty=D("9000"),
    tick_size=D("0.01"),
    min_price=D("0.01"),
    max_price=D("1000000"),
    min_notional=D("5"),
)
BUY = OrderRequest("bot1-1748779200-BUY", "BTCUSDT", "BUY", "MARKET", D("0.01000"))
SELL = replace(BUY, client_order_id="bot1-1748779200-SELL", side="SELL")
LIMIT_BUY = replace(BUY, order_type="LIMIT", limit_price=D("99000.00"))
LIMIT_SELL = replace(SELL, order_type="LIMIT", limit_price=D("101000.00"))


def only_fill(result: ExecutionResult):
    assert len(result.fills) == 1
    return result.fills[0]


# --- market orders ------------------------------------------------------------------


def test_market_buy_fills_at_the_price_with_a_ten_bps_fee():
    result = PaperFillModel().fill_market(BUY, price=D("100000.00"), at=AT)
    assert result.status == "FILLED"
    fill = only_fill(result)
    assert fill.price == D("100000.00")
    assert fill.quantity == D("0.01000")
    assert fill.quote_quantity == D("1000.0000000")
    assert fill.fee == D("1.00000000")
    assert fill.fee_asset == "USDT"
    assert fill.filled_at == AT
    assert result.filled_quantity == D("0.01") and result.fee_total == D("1")


def test_market_buy_pays_the_slippage_and_sell_gets_less():
    model = PaperFillModel(slippage_bps=D("5"))
    buy = only_fill(model.fill_market(BUY, price=D("100000.00"), at=AT))
    sell = only_fill(model.fill_market(SELL, price=D("100000.00"), at=AT))
    assert buy.price == D("100050.00000000")
    assert sell.price == D("99950.00000000")
    assert buy.fee == D("1.00050000")  # 1000.5 × 0.001
    assert sell.fee == D("0.99950000")


def test_slipped_price_is_rounded_to_the_tick_with_market_rules():
    model = PaperFillModel(slippage_bps=D("3"))
    # 105,612.31 × 1.0003 = 105,643.99369… → 105,643.99
    buy = only_fill(model.fill_market(BUY, price=D("105612.31"), at=AT, rules=RULES))
    assert buy.price == D("105643.99")
    assert buy.quote_quantity == D("1056.4399000")
    # 0.001 × 1,056.4399 = 1.0564399 → 1.05643990
    assert buy.fee == D("1.05643990")
    # 105,612.31 × 0.9997 = 105,580.62630… → 105,580.63
    sell = only_fill(model.fill_market(SELL, price=D("105612.31"), at=AT, rules=RULES))
    assert sell.price == D("105580.63")


def test_slipped_price_without_rules_keeps_eight_decimals():
    model = PaperFillModel(slippage_bps=D("3"))
    buy = only_fill(model.fill_market(BUY, price=D("105612.31"), at=AT))
    assert buy.price == D("105643.99369300")


def test_fee_is_rounded_half_up_to_eight_decimals():
    # 0.00003 × 100,000.05 = 3.0000015; × 0.00075 = 0.002250001125 → 0.00225000
    request = replace(BUY, quantity=D("0.00003"))
    fill = only_fill(PaperFillModel(fee_bps=D("7.5")).fill_market(request, price=D("100000.05"), at=AT))
    assert fill.fee == D("0.00225000")
    # 0.00001 × 50,000.00 × 0.0001 = 0.00005 exactly;
    # 0.00001 × 12,345.00 × 0.0001 = 0.000012345, a tie: half-up gives …235 (half-even would give …234)
    small = replace(BUY, quantity=D("0.00001"))
    model = PaperFillModel(fee_bps=D("1"))
    assert only_fill(model.fill_market(small, price=D("50000.00"), at=AT)).fee == D("0.00005000")
    assert only_fill(model.fill_market(small, price=D("12345.00"), at=AT)).fee == D("0.00001235")


def test_fee_asset_is_the_quote_asset_of_the_rules():
    rules = replace(RULES, symbol="ETHBTC", base_asset="ETH", quote_asset="BTC", min_notional=D("0.0001"))
    request = replace(BUY, symbol="ETHBTC", quantity=D("0.1"))
    fill = only_fill(PaperFillModel().fill_market(request, price=D("0.05"), at=AT, rules=rules))
    assert fill.fee_asset == "BTC"
    assert fill.fee == D("0.00000500")


def test_market_order_partially_fills_beyond_the_volume_cap():
    model = PaperFillModel(max_volume_fraction=D("0.1"))
    result = model.fill_market(BUY, price=D("100000.00"), at=AT, available_volume=D("0.04567"), rules=RULES)
    assert result.status == "PARTIALLY_FILLED"
    fill = only_fill(result)
    assert fill.quantity == D("0.00456")  # 10 % of 0.04567, rounded down to the step
    assert fill.fee == D("0.45600000")
    assert "filled 0.00456 of 0.01000" in result.reason


def test_market_order_fills_whole_when_the_volume_cap_allows_it():
    model = PaperFillModel(max_volume_fraction=D("0.1"))
    result = model.fill_market(BUY, price=D("100000.00"), at=AT, available_volume=D("0.1"))
    assert result.status == "FILLED"
    assert only_fill(result).quantity == D("0.01")


def test_market_order_with_no_volume_is_rejected():
    model = PaperFillModel(max_volume_fraction=D("0.1"))
    result = model.fill_market(BUY, price=D("100000.00"), at=AT, available_volume=D("0"))
    assert result.status == "REJECTED"
    assert result.fills == ()


@pytest.mark.parametrize(
    ("request_changes", "price", "fragment"),
    [
        ({"quantity": D("0")}, D("100000"), "not positive"),
        ({"quantity": D("0.000001")}, D("100000"), "MIN_QTY"),
        ({"quantity": D("0.000015")}, D("100000"), "STEP_SIZE"),
        ({"quantity": D("0.00004")}, D("100000"), "MIN_NOTIONAL"),
        ({"symbol": "ETHUSDT"}, D("100000"), "rules are for BTCUSDT"),
        ({"order_type": "LIMIT"}, D("100000"), "cannot be filled as MARKET"),
        ({}, D("0"), "no valid market price"),
    ],
)
def test_market_orders_the_exchange_would_refuse_are_rejected(request_changes, price, fragment):
    result = PaperFillModel().fill_market(replace(BUY, **request_changes), price=price, at=AT, rules=RULES)
    assert result.status == "REJECTED"
    assert result.fills == ()
    assert fragment in result.reason


def test_trade_ids_are_deterministic_and_derived_from_the_client_order_id():
    model = PaperFillModel()
    first = only_fill(model.fill_market(BUY, price=D("100000"), at=AT))
    again = only_fill(model.fill_market(BUY, price=D("100000"), at=AT))
    assert first.trade_id == again.trade_id == f"paper-bot1-1748779200-BUY-{AT_MS}"
    other = only_fill(model.fill_market(SELL, price=D("100000"), at=AT))
    assert other.trade_id != first.trade_id
    assert len(first.trade_id) <= 64  # fits Fill.trade_id


# --- limit orders --------------------------------------------------------------------


def candle(open_: str, high: str, low: str) -> dict:
    return {"candle_open": D(open_), "candle_high": D(high), "candle_low": D(low), "at": AT}


def test_limit_buy_stays_open_until_the_low_reaches_the_limit():
    result = PaperFillModel().fill_limit(LIMIT_BUY, **candle("100000", "100500", "99000.01"))
    assert result.status == "OPEN"
    assert result.fills == ()
    assert "not reached" in result.reason


def test_limit_buy_fills_at_the_limit_when_the_range_crosses_it():
    result = PaperFillModel().fill_limit(LIMIT_BUY, **candle("100000", "100500", "99000.00"))
    fill = only_fill(result)
    assert result.status == "FILLED"
    assert fill.price == D("99000.00")
    assert fill.fee == D("0.99000000")


def test_limit_buy_fills_at_the_open_when_the_candle_gaps_below_the_limit():
    fill = only_fill(PaperFillModel().fill_limit(LIMIT_BUY, **candle("98500", "98900", "98000")))
    assert fill.price == D("98500")


def test_limit_sell_fills_when_the_high_reaches_the_limit():
    assert PaperFillModel().fill_limit(LIMIT_SELL, **candle("100000", "100999.99", "99000")).status == "OPEN"
    fill = only_fill(PaperFillModel().fill_limit(LIMIT_SELL, **candle("100000", "101000", "99000")))
    assert fill.price == D("101000.00")
    gap = only_fill(PaperFillModel().fill_limit(LIMIT_SELL, **candle("101500", "102000", "101200")))
    assert gap.price == D("101500")


def test_limit_fills_pay_no_slippage():
    model = PaperFillModel(slippage_bps=D("50"))
    assert only_fill(model.fill_limit(LIMIT_BUY, **candle("100000", "100500", "98000"))).price == D("99000.00")


def test_limit_order_partially_fills_and_the_rest_stays_open():
    model = PaperFillModel(max_volume_fraction=D("0.5"))
    result = model.fill_limit(LIMIT_BUY, **candle("100000", "100500", "98000"), available_volume=D("0.003"), rules=RULES)
    assert result.status == "PARTIALLY_FILLED"
    assert only_fill(result).quantity == D("0.00150")
    assert "stays open" in result.reason


@pytest.mark.parametrize(
    ("limit_price", "fragment"),
    [(None, "needs a positive limit price"), (D("0"), "needs a positive limit price"), (D("99000.005"), "PRICE_FILTER")],
)
def test_invalid_limit_orders_are_rejected(limit_price, fragment):
    request = replace(LIMIT_BUY, limit_price=limit_price)
    result = PaperFillModel().fill_limit(request, **candle("100000", "100500", "98000"), rules=RULES)
    assert result.status == "REJECTED"
    assert fragment in result.reason


# --- the engine interface ---------------------------------------------------------------


def test_paper_engine_submits_by_order_type_and_has_nothing_to_cancel():
    engine: ExecutionEngine = PaperExecutionEngine(PaperFillModel())
    market = engine.submit(BUY, price=D("100000"), at=AT)
    limit = engine.submit(LIMIT_BUY, **candle("100000", "100500", "98000"))
    assert market.status == "FILLED" and only_fill(market).price == D("100000")
    assert limit.status == "FILLED" and only_fill(limit).price == D("99000.00")
    assert engine.cancel(BUY.client_order_id) is True


@pytest.mark.parametrize(
    "kwargs",
    [{"fee_bps": D("-1")}, {"slippage_bps": D("-1")}, {"max_volume_fraction": D("0")}, {"max_volume_fraction": D("1.5")}],
)
def test_fill_model_refuses_nonsense_settings(kwargs):
    with pytest.raises(ValueError):
        PaperFillModel(**kwargs)
