"""The risk rules, each a small named function with a stable reason code.

Every rule looks at one :class:`Context` and returns the :class:`Reason` it
raises, or ``None`` when it has nothing to say. The engine runs them all (it
never stops at the first) so that a BLOCK names every reason that applied.

Codes (stable: stored in cycle runs and shown to operators):

=========================  =======================================================
SYSTEM_NOT_RUNNING         the system is PAUSED or in EMERGENCY_STOP (BUY, SELL)
STALE_DATA                 the candle is too old, or the cycle flagged its data stale
CANDLE_NOT_CLOSED          the candle closes after ``now``: it is not final yet
INVALID_PRICE              the price is not positive
SPOT_ONLY                  SELL with nothing to sell (spot has no shorts)
POSITION_OPEN              BUY while holding a position (one position per bot)
DUST_POSITION              info: a holding too small to sell does not count as open
MAX_DRAWDOWN               equity below peak × (1 − max_drawdown_pct): blocks BUY, emergency stop
DAILY_LOSS_LIMIT           equity below day start × (1 − daily_loss_limit_pct): blocks BUY
COOLDOWN                   after N losing trades in a row, no BUY for M candles
ATR_UNAVAILABLE            ATR sizing is on but the signal has no positive ATR
MAX_POSITION_NOTIONAL      info: BUY shrunk to the position notional cap
MAX_POSITION_PCT_EQUITY    info: BUY shrunk to the position share of equity
MAX_TOTAL_EXPOSURE         info: BUY shrunk to what exposure across bots allows
MAX_ORDER_NOTIONAL         info: BUY shrunk to the per-order cap
MAX_QTY                    info: BUY shrunk to the exchange's maximum quantity
MIN_QTY, MIN_NOTIONAL      the (rounded) quantity fails the exchange minimums
INSUFFICIENT_BALANCE       cost plus estimated fee exceeds the cash
=========================  =======================================================
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Context, Decimal
from typing import Any

from risk.limits import RiskLimits
from risk.values import PortfolioView, Reason, RiskSignal, reason_on_read
from trading.market_rules import MarketRules
from trading.strategies.base import Action

ZERO = Decimal("0")
ONE = Decimal("1")
BPS = Decimal("10000")
_DISPLAY = Decimal("1e-8")
_WIDE = Context(prec=60)  # message formatting never fails on a large number
_BUY = Action.BUY
_SELL = Action.SELL


def fmt(value: Decimal) -> str:
    """A Decimal for a message: at most 8 decimals, no trailing zeros, thousands separated."""
    shown = value.quantize(_DISPLAY, context=_WIDE).normalize(context=_WIDE)
    return f"{shown:,f}"


def pct(value: Decimal) -> str:
    return f"{fmt(value * 100)} %"


# A message is worded when first read, unless one of the Decimals it shows is
# beyond what ``fmt`` surely formats (not finite, or 10^40 and up): then it is
# worded at once, so that an error surfaces where it always did. (Reasons that
# show no Decimal, only states, times and counts, are made with
# ``reason_on_read`` directly.)
_DEFER_MAX_ADJUSTED = 40


def _reason(code: str, blocking: bool, word: Any, *values: Any) -> Reason:
    for value in values:
        if isinstance(value, Decimal) and not (value.is_finite() and value.adjusted() <= _DEFER_MAX_ADJUSTED):
            return Reason(code, word(*values), blocking)
    return reason_on_read(code, blocking, word, *values)


class _Seconds(dict[int, timedelta]):
    """``SECONDS[n]`` is ``timedelta(seconds=n)``, made once per whole number
    n (at most 4096 of them kept): a look-up, cheaper than a call, for the
    few timeframe lengths that every decision needs."""

    def __missing__(self, count: int) -> timedelta:
        delta = timedelta(seconds=count)
        if type(count) is int and len(self) < 4096:
            self[count] = delta
        return delta


SECONDS = _Seconds()


@dataclass(slots=True)
class Context:
    signal: RiskSignal
    portfolio: PortfolioView
    limits: RiskLimits
    market: MarketRules
    now: datetime
    fee_bps: Decimal
    price: Decimal  # the signal's price rounded to the tick
    closes_at: datetime  # when the signal's candle closes
    breached: bool  # ``drawdown_breached`` of the portfolio and limits
    # Worked out once per decision, on first use (several rules need it).
    _sellable: Decimal | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def quote(self) -> str:
        return self.market.quote_asset

    @property
    def sellable(self) -> Decimal:
        """The held quantity rounded down to the step: what a SELL would sell."""
        sellable = self._sellable
        if sellable is None:
            qty = self.portfolio.position_qty
            sellable = ZERO if qty <= ZERO else self.market.round_quantity(qty)
            self._sellable = sellable
        return sellable

    @property
    def holds_position(self) -> bool:
        """Holding something the exchange would let us sell. A leftover below
        the minimums (dust, e.g. from fees paid in the base asset) is not an
        open position: it could never be closed, and would lock the bot out."""
        if self.portfolio.position_qty <= ZERO:
            return False
        if self.price <= ZERO:
            return True  # cannot tell dust from a position without a price: assume open
        sellable = self.sellable
        market = self.market
        return sellable >= market.min_qty and sellable > ZERO and (sellable * self.price >= market.min_notional)


# --- every action -------------------------------------------------------------


def _word_not_running(state: str) -> str:
    return f"the system is {state}: no orders until it is RUNNING"


def system_not_running(ctx: Context) -> Reason | None:
    state = ctx.signal.system_state
    if state == "RUNNING":
        return None
    return reason_on_read("SYSTEM_NOT_RUNNING", True, _word_not_running, state)


def _word_not_closed(opened: datetime, closes_at: datetime, now: datetime) -> str:
    return (
        f"the candle opened at {opened.isoformat()} closes at "
        f"{closes_at.isoformat()}, after now ({now.isoformat()})"
    )


def candle_not_closed(ctx: Context) -> Reason | None:
    closes_at = ctx.closes_at
    if ctx.now >= closes_at:
        return None
    return reason_on_read("CANDLE_NOT_CLOSED", True, _word_not_closed, ctx.signal.candle_open_time, closes_at, ctx.now)


def _word_stale(flagged: bool, too_old: bool, closes_at: datetime, timeframes: int, tf: int, now: datetime) -> str:
    why = []
    if flagged:
        why.append("the market data is flagged stale")
    if too_old:
        why.append(
            f"the candle closed at {closes_at.isoformat()}, more than "
            f"{timeframes} × {tf} s before now ({now.isoformat()})"
        )
    return "; ".join(why)


def stale_data(ctx: Context) -> Reason | None:
    signal = ctx.signal
    tf = signal.timeframe_seconds
    closes_at = ctx.closes_at
    timeframes = ctx.limits.stale_after_timeframes
    too_old = ctx.now - closes_at > SECONDS[tf * timeframes]
    if not too_old and not signal.data_stale:
        return None
    flagged = bool(signal.data_stale)
    return reason_on_read("STALE_DATA", True, _word_stale, flagged, too_old, closes_at, timeframes, tf, ctx.now)


def _word_invalid_price(price: Decimal) -> str:
    return f"price {price} is not positive"


def invalid_price(ctx: Context) -> Reason | None:
    if ctx.price > ZERO:
        return None
    return _reason("INVALID_PRICE", True, _word_invalid_price, ctx.signal.price)


def drawdown_breached(portfolio: PortfolioView, limits: RiskLimits) -> bool:
    if portfolio.peak_equity <= ZERO:
        return False
    return portfolio.equity < portfolio.peak_equity * (ONE - limits.max_drawdown_pct)


def _word_drawdown(equity: Decimal, drawdown: Decimal, peak: Decimal, limit: Decimal) -> str:
    return (
        f"equity {fmt(equity)} is {pct(drawdown)} below its peak {fmt(peak)}, "
        f"past the {pct(limit)} limit: emergency stop"
    )


def max_drawdown(ctx: Context) -> Reason | None:
    """Checked on every call; blocks only BUYs (a SELL reduces risk)."""
    p = ctx.portfolio
    if not ctx.breached:
        return None
    drawdown = (p.peak_equity - p.equity) / p.peak_equity
    return _reason(
        "MAX_DRAWDOWN", ctx.signal.action == _BUY, _word_drawdown,
        p.equity, drawdown, p.peak_equity, ctx.limits.max_drawdown_pct,
    )


# --- SELL ------------------------------------------------------------------------


def _word_negative(qty: Decimal) -> str:
    return f"position {qty} is negative: spot trading has no short positions"


# One reason, the same every time (nothing changes a Reason once made).
_NOTHING_TO_SELL = Reason("SPOT_ONLY", "nothing to sell: spot trading sells only a held position")


def spot_only(ctx: Context) -> Reason | None:
    qty = ctx.portfolio.position_qty
    if qty < ZERO:
        return _reason("SPOT_ONLY", True, _word_negative, qty)
    if ctx.signal.action == _SELL and qty == ZERO:
        return _NOTHING_TO_SELL
    return None


# --- BUY ---------------------------------------------------------------------------


def _word_position_open(qty: Decimal, base: str) -> str:
    return f"already holding {qty} {base}: one position per bot"


def position_open(ctx: Context) -> Reason | None:
    if not ctx.holds_position:
        return None
    return _reason("POSITION_OPEN", True, _word_position_open, ctx.portfolio.position_qty, ctx.market.base_asset)


def _word_dust(qty: Decimal, base: str) -> str:
    return (
        f"the {qty} {base} held is below the exchange "
        "minimums: it cannot be sold on its own and does not count as an open position"
    )


def dust_position(ctx: Context) -> Reason | None:
    if ctx.portfolio.position_qty <= ZERO or ctx.holds_position:
        return None
    return _reason("DUST_POSITION", False, _word_dust, ctx.portfolio.position_qty, ctx.market.base_asset)


def _word_daily_loss(low: Decimal, floor: Decimal, limit: Decimal, start: Decimal) -> str:
    return (
        f"equity fell to {fmt(low)} today, below {fmt(floor)} "
        f"({pct(limit)} under the day's start {fmt(start)}): "
        "no BUY until the next UTC day"
    )


def daily_loss_limit(ctx: Context) -> Reason | None:
    p = ctx.portfolio
    if p.day_start_equity <= ZERO:
        return None
    floor = p.day_start_equity * (ONE - ctx.limits.daily_loss_limit_pct)
    low = p.equity if p.day_low_equity is None else min(p.equity, p.day_low_equity)
    if low >= floor:
        return None
    return _reason(
        "DAILY_LOSS_LIMIT", True, _word_daily_loss, low, floor, ctx.limits.daily_loss_limit_pct, p.day_start_equity
    )


def _word_loss_time_unknown(losses: int) -> str:
    return f"{losses} losing trades in a row and the time of the last one is unknown"


def _word_cooldown(losses: int, limit: int, candles: int, ends: datetime) -> str:
    return (
        f"{losses} losing trades in a row (limit {limit}): "
        f"no BUY for {candles} candles after the last loss, until {ends.isoformat()}"
    )


def cooldown(ctx: Context) -> Reason | None:
    p, limits = ctx.portfolio, ctx.limits
    if limits.cooldown_after_losses == 0 or p.consecutive_losses < limits.cooldown_after_losses:
        return None
    if p.last_loss_candle_time is None:
        return reason_on_read("COOLDOWN", True, _word_loss_time_unknown, p.consecutive_losses)
    tf = ctx.signal.timeframe_seconds
    ends = p.last_loss_candle_time + SECONDS[tf * limits.cooldown_candles]
    if ctx.signal.candle_open_time >= ends:
        return None
    return reason_on_read(
        "COOLDOWN", True, _word_cooldown,
        p.consecutive_losses, limits.cooldown_after_losses, limits.cooldown_candles, ends,
    )


def _word_atr(atr: Decimal | None) -> str:
    return f"ATR sizing is on but the ATR is {atr}: cannot size the order"


def atr_unavailable(ctx: Context) -> Reason | None:
    if not ctx.limits.atr_scaling:
        return None
    atr = ctx.signal.atr
    if atr is not None and atr.is_finite() and atr > ZERO:
        return None
    return _reason("ATR_UNAVAILABLE", True, _word_atr, atr)


def _word_cap(code: str, room: Decimal, quote: str, limits: RiskLimits, equity: Decimal, other: Decimal) -> str:
    if code == "MAX_POSITION_NOTIONAL":
        why = f"position notional limit {fmt(limits.max_position_notional)} {quote}"
    elif code == "MAX_POSITION_PCT_EQUITY":
        why = f"position limit {pct(limits.max_position_pct_equity)} of equity {fmt(equity)}"
    elif code == "MAX_TOTAL_EXPOSURE":
        why = (
            f"total exposure limit {pct(limits.max_total_exposure_pct)} of equity {fmt(equity)}, "
            f"{fmt(other)} {quote} already held by other bots"
        )
    else:
        why = f"per-order limit {fmt(limits.max_order_notional)} {quote}"
    return f"size capped to {fmt(room)} {quote} by the {why}"


def _word_max_qty(max_qty: Decimal) -> str:
    return f"size capped to the exchange maximum of {max_qty}"


def size_buy(ctx: Context) -> tuple[Decimal, list[Reason]]:
    """The BUY quantity (rounded down to the step) and the caps that shrank it.

    The wanted size is a fraction of equity, a fixed quote amount, or with ATR
    scaling ``equity × risk_per_trade / ATR``. Every cap below the wanted size
    is named (as information); the smallest one wins.
    """
    p, limits, price = ctx.portfolio, ctx.limits, ctx.price
    if price <= ZERO:
        return ZERO, []
    # ``wanted`` is ``numerator / price`` except with ATR scaling.
    numerator: Decimal | None = None
    if limits.atr_scaling:
        atr = ctx.signal.atr
        if atr is None or atr_unavailable(ctx) is not None:
            return ZERO, []
        wanted = p.equity * limits.risk_per_trade / atr
    elif limits.sizing_mode == "fraction":
        numerator = p.equity * limits.fraction_of_equity
        wanted = numerator / price
    else:
        numerator = limits.fixed_quote
        wanted = numerator / price
    held = p.position_qty
    if held < ZERO:  # max(qty, 0)
        held = ZERO
    held *= price  # a dust holding counts against the caps
    equity, other = p.equity, p.other_exposure
    if not (_modest(equity) and _modest(other) and price.adjusted() >= -_DEFER_MAX_ADJUSTED):
        return _size_buy_worded_now(ctx, wanted, held)
    caps = (
        ("MAX_POSITION_NOTIONAL", limits.max_position_notional - held),
        ("MAX_POSITION_PCT_EQUITY", equity * limits.max_position_pct_equity - held),
        ("MAX_TOTAL_EXPOSURE", equity * limits.max_total_exposure_pct - other - held),
        ("MAX_ORDER_NOTIONAL", limits.max_order_notional),
    )
    quantity = wanted
    reasons = []
    for code, room in caps:
        if room < ZERO:  # max(room, 0)
            room = ZERO
        # room ≥ numerator ⇒ room / price ≥ wanted, however both quotients
        # round (rounding is monotonic): the cap cannot apply.
        if numerator is not None and room >= numerator:
            continue
        fits = room / price
        if fits < wanted:
            if fits < quantity:  # min(quantity, fits)
                quantity = fits
            reasons.append(_reason(code, False, _word_cap, code, room, ctx.quote, limits, equity, other))
    max_qty = ctx.market.max_qty
    if max_qty > ZERO and max_qty < wanted:
        if max_qty < quantity:  # min(quantity, max_qty)
            quantity = max_qty
        reasons.append(_reason("MAX_QTY", False, _word_max_qty, max_qty))
    if quantity < ZERO:  # max(quantity, 0)
        quantity = ZERO
    return ctx.market.round_quantity(quantity), reasons


def _modest(value: Any) -> bool:
    """A Decimal whose message formats surely, and that no quotient here overflows with."""
    return isinstance(value, Decimal) and value.is_finite() and value.adjusted() <= _DEFER_MAX_ADJUSTED


def _size_buy_worded_now(ctx: Context, wanted: Decimal, held: Decimal) -> tuple[Decimal, list[Reason]]:
    """``size_buy`` past :func:`_modest`: every cap worded up front, as it always was."""
    p, limits, price = ctx.portfolio, ctx.limits, ctx.price
    caps = (
        (
            "MAX_POSITION_NOTIONAL",
            limits.max_position_notional - held,
            f"position notional limit {fmt(limits.max_position_notional)} {ctx.quote}",
        ),
        (
            "MAX_POSITION_PCT_EQUITY",
            p.equity * limits.max_position_pct_equity - held,
            f"position limit {pct(limits.max_position_pct_equity)} of equity {fmt(p.equity)}",
        ),
        (
            "MAX_TOTAL_EXPOSURE",
            p.equity * limits.max_total_exposure_pct - p.other_exposure - held,
            f"total exposure limit {pct(limits.max_total_exposure_pct)} of equity {fmt(p.equity)}, "
            f"{fmt(p.other_exposure)} {ctx.quote} already held by other bots",
        ),
        (
            "MAX_ORDER_NOTIONAL",
            limits.max_order_notional,
            f"per-order limit {fmt(limits.max_order_notional)} {ctx.quote}",
        ),
    )
    quantity = wanted
    reasons = []
    for code, room, why in caps:
        room = max(room, ZERO)
        if room / price < wanted:
            quantity = min(quantity, room / price)
            reasons.append(
                Reason(code, f"size capped to {fmt(room)} {ctx.quote} by the {why}", blocking=False)
            )
    max_qty = ctx.market.max_qty
    if max_qty > 0 and max_qty < wanted:
        quantity = min(quantity, max_qty)
        reasons.append(
            Reason("MAX_QTY", f"size capped to the exchange maximum of {max_qty}", blocking=False)
        )
    return ctx.market.round_quantity(max(quantity, ZERO)), reasons


# --- the order itself -----------------------------------------------------------------


def _word_rounds_to_zero(step: Decimal, min_qty: Decimal, base: str) -> str:
    return f"quantity rounds down to 0 at the step {step} (minimum {min_qty} {base})"


def _word_below_min_qty(quantity: Decimal, min_qty: Decimal) -> str:
    return f"quantity {quantity} is below the exchange minimum {min_qty}"


def _word_below_min_notional(notional: Decimal, min_notional: Decimal, quote: str) -> str:
    return f"notional {fmt(notional)} {quote} is below the exchange minimum {fmt(min_notional)} {quote}"


def _word_filter(quantity: Decimal, code: str) -> str:
    return f"quantity {quantity} fails the exchange filter {code}"


def exchange_filters(ctx: Context, quantity: Decimal) -> list[Reason]:
    """The exchange's LOT_SIZE and MIN_NOTIONAL filters on the rounded quantity."""
    market, price = ctx.market, ctx.price
    if quantity <= ZERO:
        return [_reason("MIN_QTY", True, _word_rounds_to_zero, market.step_size, market.min_qty, market.base_asset)]
    reasons = []
    for code in market.check(quantity, price):
        if code == "MIN_QTY":
            reasons.append(_reason(code, True, _word_below_min_qty, quantity, market.min_qty))
        elif code == "MIN_NOTIONAL":
            notional = quantity * price
            reasons.append(_reason(code, True, _word_below_min_notional, notional, market.min_notional, ctx.quote))
        else:
            reasons.append(_reason(code, True, _word_filter, quantity, code))
    return reasons


def _word_short(cost: Decimal, fee: Decimal, cash: Decimal, quote: str) -> str:
    return f"cost {fmt(cost)} + estimated fee {fmt(fee)} {quote} exceeds the cash {fmt(cash)} {quote}"


def insufficient_balance(ctx: Context, quantity: Decimal) -> Reason | None:
    cost = quantity * ctx.price
    fee = cost * ctx.fee_bps / BPS
    if cost + fee <= ctx.portfolio.cash:
        return None
    return _reason("INSUFFICIENT_BALANCE", True, _word_short, cost, fee, ctx.portfolio.cash, ctx.quote)
