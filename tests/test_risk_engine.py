"""The risk engine: every rule alone and in combination, to the exact Decimal."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from risk.engine import evaluate
from risk.limits import RiskLimits
from risk.values import Decision, PortfolioView, RiskSignal
from trading.market_rules import MarketRules
from trading.strategies import Action

BTCUSDT = MarketRules(
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
OPEN = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
CLOSE = OPEN + timedelta(minutes=1)
NOW = CLOSE + timedelta(seconds=3)
FLAT = PortfolioView(
    cash=D("10000"),
    position_qty=D("0"),
    avg_entry_price=D("0"),
    equity=D("10000"),
    peak_equity=D("10000"),
    day_start_equity=D("10000"),
    other_exposure=D("0"),
    consecutive_losses=0,
    last_loss_candle_time=None,
)
HOLDING = replace(FLAT, cash=D("9000"), position_qty=D("0.01"), avg_entry_price=D("100000"))
LIMITS = RiskLimits()


def signal(action: Action = Action.BUY, **changes) -> RiskSignal:
    base = RiskSignal(
        action=action,
        price=D("100000.00"),
        candle_open_time=OPEN,
        timeframe_seconds=60,
        system_state="RUNNING",
        data_stale=False,
        atr=None,
    )
    return replace(base, **changes)


def decide(
    sig: RiskSignal | None = None,
    portfolio: PortfolioView = FLAT,
    limits: RiskLimits = LIMITS,
    market: MarketRules = BTCUSDT,
    now: datetime = NOW,
    **kwargs,
) -> Decision:
    return evaluate(sig or signal(), portfolio, limits, market, now, **kwargs)


def assert_allowed(decision: Decision, side: str, quantity: str) -> None:
    assert decision.verdict == "ALLOW", decision.reasons
    assert decision.side == side
    assert str(decision.quantity) == quantity  # the exact Decimal, step-quantized
    assert not decision.blocking_codes


def assert_blocked(decision: Decision, side: str, *codes: str) -> None:
    assert decision.verdict == "BLOCK"
    assert decision.side == side
    assert decision.quantity == 0
    assert decision.blocking_codes == codes


# --- HOLD ---------------------------------------------------------------------


def test_hold_is_no_decision():
    decision = decide(signal(Action.HOLD))
    assert decision == Decision("NONE", None, D("0"), (), False)


def test_hold_still_reports_a_drawdown_breach_as_emergency_stop():
    portfolio = replace(FLAT, equity=D("7999.99"), peak_equity=D("10000"))
    decision = decide(signal(Action.HOLD), portfolio)
    assert decision.verdict == "NONE"
    assert decision.emergency_stop is True
    assert decision.codes == ("MAX_DRAWDOWN",)


# --- sizing ---------------------------------------------------------------------


def test_buy_sizes_a_fraction_of_equity():
    assert_allowed(decide(), "BUY", "0.01000")  # 10 % of 10,000 at 100,000


def test_buy_quantity_rounds_down_to_the_step():
    # 1000 / 105,612.31 = 0.0094685… → 0.00946
    assert_allowed(decide(signal(price=D("105612.31"))), "BUY", "0.00946")
    # 1000 / 100,000.01 = 0.0099999999 → 0.00999, never up to 0.01
    assert_allowed(decide(signal(price=D("100000.01"))), "BUY", "0.00999")


def test_buy_prices_are_rounded_to_the_tick_before_sizing():
    # 100,000.004 → 100,000.00; 99,999.996 → 100,000.00
    assert_allowed(decide(signal(price=D("100000.004"))), "BUY", "0.01000")
    assert_allowed(decide(signal(price=D("99999.996"))), "BUY", "0.01000")


def test_buy_sizes_a_fixed_quote_amount():
    limits = replace(LIMITS, sizing_mode="fixed_quote", fixed_quote=D("250"))
    assert_allowed(decide(limits=limits), "BUY", "0.00250")


def test_atr_scaling_sizes_by_risk_per_atr_unit():
    limits = replace(LIMITS, atr_scaling=True)
    # 10,000 × 0.01 / 2,500 = 0.04 BTC = 4,000 USDT: under every cap
    assert_allowed(decide(signal(atr=D("2500")), limits=limits), "BUY", "0.04000")
    # exactly at the caps (5,000) is not capped
    decision = decide(signal(atr=D("2000")), limits=limits)
    assert_allowed(decision, "BUY", "0.05000")
    assert decision.reasons == ()


def test_atr_scaling_is_capped_by_every_limit_it_exceeds():
    limits = replace(LIMITS, atr_scaling=True)
    # 10,000 × 0.01 / 500 = 0.2 BTC = 20,000 USDT
    decision = decide(signal(atr=D("500")), limits=limits)
    assert_allowed(decision, "BUY", "0.05000")
    assert decision.codes == (
        "MAX_POSITION_NOTIONAL",
        "MAX_POSITION_PCT_EQUITY",
        "MAX_TOTAL_EXPOSURE",
        "MAX_ORDER_NOTIONAL",
    )
    assert all(not reason.blocking for reason in decision.reasons)
    assert decision.reasons[0].message == (
        "size capped to 5,000 USDT by the position notional limit 5,000 USDT"
    )


@pytest.mark.parametrize("atr", [None, D("0"), D("-1")])
def test_atr_scaling_without_an_atr_blocks(atr):
    limits = replace(LIMITS, atr_scaling=True)
    assert_blocked(decide(signal(atr=atr), limits=limits), "BUY", "ATR_UNAVAILABLE")


@pytest.mark.parametrize(
    ("limit_changes", "portfolio_changes", "code", "quantity"),
    [
        ({"max_position_notional": D("800")}, {}, "MAX_POSITION_NOTIONAL", "0.00800"),
        ({"max_position_pct_equity": D("0.05")}, {}, "MAX_POSITION_PCT_EQUITY", "0.00500"),
        ({}, {"other_exposure": D("9700")}, "MAX_TOTAL_EXPOSURE", "0.00300"),
        ({"max_total_exposure_pct": D("0.5")}, {"other_exposure": D("4600")}, "MAX_TOTAL_EXPOSURE", "0.00400"),
        ({"max_order_notional": D("400")}, {}, "MAX_ORDER_NOTIONAL", "0.00400"),
    ],
)
def test_each_cap_alone_shrinks_the_buy_and_says_so(limit_changes, portfolio_changes, code, quantity):
    decision = decide(portfolio=replace(FLAT, **portfolio_changes), limits=replace(LIMITS, **limit_changes))
    assert_allowed(decision, "BUY", quantity)
    assert decision.codes == (code,)
    assert decision.reasons[0].blocking is False


def test_exchange_max_quantity_caps_the_buy():
    market = replace(BTCUSDT, max_qty=D("0.002"))
    decision = decide(market=market)
    assert_allowed(decision, "BUY", "0.00200")
    assert decision.codes == ("MAX_QTY",)


def test_the_smallest_of_several_caps_wins():
    limits = replace(LIMITS, max_position_notional=D("900"), max_order_notional=D("700"))
    decision = decide(limits=limits)
    assert_allowed(decision, "BUY", "0.00700")
    assert decision.codes == ("MAX_POSITION_NOTIONAL", "MAX_ORDER_NOTIONAL")


def test_a_cap_that_leaves_less_than_the_minimum_notional_blocks():
    # room left: 10,000 − 9,999 = 1 USDT → 0.00001 BTC = 1 USDT < 5 USDT minimum
    decision = decide(portfolio=replace(FLAT, other_exposure=D("9999")))
    assert_blocked(decision, "BUY", "MIN_NOTIONAL")
    assert decision.codes == ("MAX_TOTAL_EXPOSURE", "MIN_NOTIONAL")
    assert decision.reasons[1].message == "notional 1 USDT is below the exchange minimum 5 USDT"


def test_no_room_left_at_all_blocks_as_zero_quantity():
    decision = decide(portfolio=replace(FLAT, other_exposure=D("12000")))
    assert_blocked(decision, "BUY", "MIN_QTY")
    assert decision.codes == ("MAX_TOTAL_EXPOSURE", "MIN_QTY")
    assert "rounds down to 0" in decision.reasons[1].message


# --- exchange filters and balance --------------------------------------------------


def test_blocks_buy_below_the_exchange_minimum_quantity():
    market = replace(BTCUSDT, min_qty=D("0.1"))
    decision = decide(market=market)
    assert_blocked(decision, "BUY", "MIN_QTY")
    assert decision.reasons[0].message == "quantity 0.01000 is below the exchange minimum 0.1"


def test_blocks_buy_below_the_exchange_minimum_notional():
    limits = replace(LIMITS, sizing_mode="fixed_quote", fixed_quote=D("4"))
    assert_blocked(decide(limits=limits), "BUY", "MIN_NOTIONAL")


def test_blocks_buy_when_cost_and_fee_exceed_the_cash():
    limits = replace(LIMITS, sizing_mode="fixed_quote", fixed_quote=D("1000"))
    # 0.01 × 100,000 = 1,000 + 0.1 % fee 1 = 1,001
    decision = decide(portfolio=replace(FLAT, cash=D("1000.99")), limits=limits)
    assert_blocked(decision, "BUY", "INSUFFICIENT_BALANCE")
    assert decision.reasons[0].message == (
        "cost 1,000 + estimated fee 1 USDT exceeds the cash 1,000.99 USDT"
    )
    assert_allowed(decide(portfolio=replace(FLAT, cash=D("1001")), limits=limits), "BUY", "0.01000")


def test_fee_estimate_is_configurable():
    limits = replace(LIMITS, sizing_mode="fixed_quote", fixed_quote=D("1000"))
    portfolio = replace(FLAT, cash=D("1000"))
    assert_allowed(decide(portfolio=portfolio, limits=limits, fee_bps=D("0")), "BUY", "0.01000")
    assert_blocked(decide(portfolio=portfolio, limits=limits, fee_bps=D("1")), "BUY", "INSUFFICIENT_BALANCE")


# --- hard conditions ------------------------------------------------------------------


@pytest.mark.parametrize("state", ["PAUSED", "EMERGENCY_STOP"])
@pytest.mark.parametrize("action", [Action.BUY, Action.SELL])
def test_blocks_every_order_unless_the_system_is_running(state, action):
    decision = decide(signal(action, system_state=state), HOLDING if action == Action.SELL else FLAT)
    assert_blocked(decision, action.name, "SYSTEM_NOT_RUNNING")
    assert state in decision.reasons[0].message


@pytest.mark.parametrize("action", [Action.BUY, Action.SELL])
def test_blocks_orders_on_data_flagged_stale(action):
    decision = decide(signal(action, data_stale=True), HOLDING if action == Action.SELL else FLAT)
    assert_blocked(decision, action.name, "STALE_DATA")


def test_blocks_a_candle_older_than_the_staleness_limit():
    # stale_after_timeframes = 2: a 1m candle may have closed at most 120 s ago
    assert_allowed(decide(now=CLOSE + timedelta(seconds=120)), "BUY", "0.01000")
    decision = decide(now=CLOSE + timedelta(seconds=121))
    assert_blocked(decision, "BUY", "STALE_DATA")
    assert "more than 2 × 60 s before now" in decision.reasons[0].message


def test_blocks_a_candle_that_has_not_closed():
    assert_blocked(decide(now=CLOSE - timedelta(seconds=1)), "BUY", "CANDLE_NOT_CLOSED")
    assert_allowed(decide(now=CLOSE), "BUY", "0.01000")


@pytest.mark.parametrize("price", [D("0"), D("-1"), D("NaN"), D("Infinity")])
@pytest.mark.parametrize("action", [Action.BUY, Action.SELL])
def test_blocks_a_price_that_is_not_a_positive_number(price, action):
    portfolio = HOLDING if action == Action.SELL else FLAT
    assert_blocked(decide(signal(action, price=price), portfolio), action.name, "INVALID_PRICE")


def test_refuses_naive_datetimes():
    with pytest.raises(ValueError):
        decide(now=NOW.replace(tzinfo=None))


# --- spot only and one position per bot --------------------------------------------------


def test_blocks_sell_with_no_position():
    decision = decide(signal(Action.SELL))
    assert_blocked(decision, "SELL", "SPOT_ONLY")
    assert decision.codes == ("SPOT_ONLY",)  # no MIN_QTY noise on top


def test_blocks_buy_while_holding_a_position():
    assert_blocked(decide(portfolio=HOLDING), "BUY", "POSITION_OPEN")


def test_blocks_everything_on_a_negative_position():
    short = replace(FLAT, position_qty=D("-0.01"))
    assert_blocked(decide(signal(Action.SELL), short), "SELL", "SPOT_ONLY")
    assert_blocked(decide(portfolio=short), "BUY", "SPOT_ONLY")


def test_sell_sells_the_whole_position_rounded_down_to_the_step():
    portfolio = replace(HOLDING, position_qty=D("0.0123456"))
    assert_allowed(decide(signal(Action.SELL), portfolio), "SELL", "0.01234")


def test_dust_below_the_minimums_does_not_count_as_a_position():
    dust = replace(FLAT, position_qty=D("0.000004"))  # below one step
    decision = decide(portfolio=dust)
    assert_allowed(decision, "BUY", "0.01000")
    assert decision.codes == ("DUST_POSITION",)
    assert_blocked(decide(signal(Action.SELL), dust), "SELL", "MIN_QTY")


def test_a_sellable_position_under_the_minimum_notional_is_dust():
    dust = replace(FLAT, position_qty=D("0.00004"))  # 4 USDT < 5 USDT minimum
    assert_allowed(decide(portfolio=dust), "BUY", "0.01000")
    assert_blocked(decide(signal(Action.SELL), dust), "SELL", "MIN_NOTIONAL")


def test_a_position_above_the_exchange_maximum_is_no_dust():
    market = replace(BTCUSDT, max_qty=D("0.005"))
    assert_blocked(decide(portfolio=HOLDING, market=market), "BUY", "POSITION_OPEN")


# --- daily loss, drawdown, cooldown -------------------------------------------------------


def test_blocks_buy_over_daily_loss_limit():
    # day start 10,000 and 5 % → the floor is 9,500
    at_floor = replace(FLAT, equity=D("9500"), cash=D("9500"))
    assert_allowed(decide(portfolio=at_floor), "BUY", "0.00950")
    under = replace(FLAT, equity=D("9499.99"), cash=D("9499.99"))
    decision = decide(portfolio=under)
    assert_blocked(decision, "BUY", "DAILY_LOSS_LIMIT")
    assert decision.reasons[0].message == (
        "equity fell to 9,499.99 today, below 9,500 (5 % under the day's start 10,000): "
        "no BUY until the next UTC day"
    )


def test_daily_loss_limit_holds_for_the_day_after_equity_recovers():
    recovered = replace(FLAT, equity=D("9600"), cash=D("9600"), day_low_equity=D("9400"))
    assert_blocked(decide(portfolio=recovered), "BUY", "DAILY_LOSS_LIMIT")


def test_sell_is_allowed_past_the_daily_loss_limit():
    portfolio = replace(HOLDING, equity=D("9000"))
    assert_allowed(decide(signal(Action.SELL), portfolio), "SELL", "0.01000")


def test_max_drawdown_blocks_buy_and_calls_for_an_emergency_stop():
    # peak 12,500 and 20 % → the floor is 10,000
    at_floor = replace(FLAT, peak_equity=D("12500"))
    decision = decide(portfolio=at_floor)
    assert_allowed(decision, "BUY", "0.01000")
    assert decision.emergency_stop is False
    under = replace(FLAT, peak_equity=D("12500"), equity=D("9999.99"), cash=D("9999.99"))
    decision = decide(portfolio=under)
    assert_blocked(decision, "BUY", "MAX_DRAWDOWN")
    assert decision.emergency_stop is True


def test_sell_is_allowed_in_a_drawdown_but_still_calls_for_the_stop():
    portfolio = replace(HOLDING, peak_equity=D("20000"))
    decision = decide(signal(Action.SELL), portfolio)
    assert_allowed(decision, "SELL", "0.01000")
    assert decision.emergency_stop is True
    assert decision.codes == ("MAX_DRAWDOWN",)
    assert decision.reasons[0].blocking is False


def test_blocks_buy_during_cooldown_after_consecutive_losses():
    # 3 losses in a row, the last on the candle 59 candles ago: 60 candles of cooldown
    losing = replace(FLAT, consecutive_losses=3, last_loss_candle_time=OPEN - timedelta(minutes=59))
    decision = decide(portfolio=losing)
    assert_blocked(decision, "BUY", "COOLDOWN")
    assert "until 2025-06-01T12:01:00+00:00" in decision.reasons[0].message
    done = replace(losing, last_loss_candle_time=OPEN - timedelta(minutes=60))
    assert_allowed(decide(portfolio=done), "BUY", "0.01000")


def test_fewer_losses_than_the_limit_do_not_cool_down():
    losing = replace(FLAT, consecutive_losses=2, last_loss_candle_time=OPEN)
    assert_allowed(decide(portfolio=losing), "BUY", "0.01000")


def test_cooldown_can_be_turned_off():
    losing = replace(FLAT, consecutive_losses=9, last_loss_candle_time=OPEN)
    assert_allowed(decide(portfolio=losing, limits=replace(LIMITS, cooldown_after_losses=0)), "BUY", "0.01000")


def test_cooldown_with_an_unknown_last_loss_time_blocks():
    losing = replace(FLAT, consecutive_losses=3, last_loss_candle_time=None)
    assert_blocked(decide(portfolio=losing), "BUY", "COOLDOWN")


def test_sell_is_allowed_during_cooldown():
    portfolio = replace(HOLDING, consecutive_losses=5, last_loss_candle_time=OPEN)
    assert_allowed(decide(signal(Action.SELL), portfolio), "SELL", "0.01000")


# --- combinations --------------------------------------------------------------------------


def test_a_blocked_buy_names_every_reason_that_applied():
    portfolio = replace(
        HOLDING,
        cash=D("100"),
        equity=D("7000"),
        peak_equity=D("10000"),
        day_start_equity=D("8000"),
        consecutive_losses=4,
        last_loss_candle_time=OPEN,
        other_exposure=D("6000"),
    )
    sig = signal(system_state="PAUSED", data_stale=True)
    decision = decide(sig, portfolio)
    assert decision.verdict == "BLOCK"
    assert decision.codes == (
        "SYSTEM_NOT_RUNNING",
        "STALE_DATA",
        "POSITION_OPEN",
        "MAX_DRAWDOWN",
        "DAILY_LOSS_LIMIT",
        "COOLDOWN",
        # held 1,000 + other bots 6,000 leave no room in 7,000 of equity
        "MAX_TOTAL_EXPOSURE",
        "MIN_QTY",
    )
    assert decision.blocking_codes == (
        "SYSTEM_NOT_RUNNING",
        "STALE_DATA",
        "POSITION_OPEN",
        "MAX_DRAWDOWN",
        "DAILY_LOSS_LIMIT",
        "COOLDOWN",
        "MIN_QTY",
    )
    assert decision.emergency_stop is True


def test_a_capped_buy_short_of_cash_names_the_cap_and_the_balance():
    portfolio = replace(FLAT, cash=D("500"))
    decision = decide(portfolio=portfolio, limits=replace(LIMITS, max_order_notional=D("800")))
    assert_blocked(decision, "BUY", "INSUFFICIENT_BALANCE")
    assert decision.codes == ("MAX_ORDER_NOTIONAL", "INSUFFICIENT_BALANCE")


def test_a_blocked_sell_names_every_reason_that_applied():
    decision = decide(signal(Action.SELL, system_state="EMERGENCY_STOP", data_stale=True))
    assert_blocked(decision, "SELL", "SYSTEM_NOT_RUNNING", "STALE_DATA", "SPOT_ONLY")


# --- whatever the inputs, an allowed buy keeps every limit -----------------------------------

money = st.decimals(min_value=D("0"), max_value=D("100000"), places=2)


@settings(max_examples=300, deadline=None)
@given(
    cash=money,
    extra_equity=money,
    other=money,
    price=st.decimals(min_value=D("0.01"), max_value=D("200000"), places=2),
    fraction=st.decimals(min_value=D("0.001"), max_value=D("1"), places=3),
    position_cap=st.decimals(min_value=D("1"), max_value=D("20000"), places=2),
    pct_cap=st.decimals(min_value=D("0.01"), max_value=D("1"), places=2),
    exposure_cap=st.decimals(min_value=D("0.01"), max_value=D("1"), places=2),
    order_cap=st.decimals(min_value=D("1"), max_value=D("20000"), places=2),
    atr=st.none() | st.decimals(min_value=D("0.01"), max_value=D("10000"), places=2),
)
def test_an_allowed_buy_respects_every_limit_and_filter(
    cash, extra_equity, other, price, fraction, position_cap, pct_cap, exposure_cap, order_cap, atr
):
    equity = cash + extra_equity
    portfolio = replace(FLAT, cash=cash, equity=equity, peak_equity=equity, day_start_equity=equity, other_exposure=other)
    limits = replace(
        LIMITS,
        fraction_of_equity=fraction,
        max_position_notional=position_cap,
        max_position_pct_equity=pct_cap,
        max_total_exposure_pct=exposure_cap,
        max_order_notional=order_cap,
        atr_scaling=atr is not None,
    )
    decision = decide(signal(price=price, atr=atr), portfolio, limits)
    if decision.verdict != "ALLOW":
        assert decision.quantity == 0 and decision.blocking_codes
        return
    qty = decision.quantity
    notional = qty * price
    assert qty > 0 and qty % BTCUSDT.step_size == 0
    assert not BTCUSDT.check(qty, price)
    assert notional * (1 + D("0.001")) <= cash
    assert notional <= position_cap
    assert notional <= equity * pct_cap
    assert notional <= equity * exposure_cap - other
    assert notional <= order_cap
    if atr is None:
        assert notional <= equity * fraction
