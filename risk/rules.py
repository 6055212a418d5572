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

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Context, Decimal

from risk.limits import RiskLimits
from risk.values import PortfolioView, Reason, RiskSignal
from trading.market_rules import MarketRules
from trading.strategies.base import Action

ZERO = Decimal("0")
ONE = Decimal("1")
BPS = Decimal("10000")
_DISPLAY = Decimal("1e-8")
_WIDE = Context(prec=60)  # message formatting never fails on a large number


def fmt(value: Decimal) -> str:
    """A Decimal for a message: at most 8 decimals, no trailing zeros, thousands separated."""
    shown = value.quantize(_DISPLAY, context=_WIDE).normalize(context=_WIDE)
    return f"{shown:,f}"


def pct(value: Decimal) -> str:
    return f"{fmt(value * 100)} %"


@dataclass(frozen=True)
class Context:
    signal: RiskSignal
    portfolio: PortfolioView
    limits: RiskLimits
    market: MarketRules
    now: datetime
    fee_bps: Decimal
    price: Decimal  # the signal's price rounded to the tick

    @property
    def quote(self) -> str:
        return self.market.quote_asset

    @property
    def sellable(self) -> Decimal:
        """The held quantity rounded down to the step: what a SELL would sell."""
        if self.portfolio.position_qty <= 0:
            return ZERO
        return self.market.round_quantity(self.portfolio.position_qty)

    @property
    def holds_position(self) -> bool:
        """Holding something the exchange would let us sell. A leftover below
        the minimums (dust, e.g. from fees paid in the base asset) is not an
        open position: it could never be closed, and would lock the bot out."""
        if self.portfolio.position_qty <= 0:
            return False
        if self.price <= 0:
            return True  # cannot tell dust from a position without a price: assume open
        sellable = self.sellable
        return sellable >= self.market.min_qty and sellable > 0 and (
            sellable * self.price >= self.market.min_notional
        )


# --- every action -------------------------------------------------------------


def system_not_running(ctx: Context) -> Reason | None:
    state = ctx.signal.system_state
    if state == "RUNNING":
        return None
    return Reason("SYSTEM_NOT_RUNNING", f"the system is {state}: no orders until it is RUNNING")


def candle_not_closed(ctx: Context) -> Reason | None:
    closes_at = ctx.signal.candle_open_time + timedelta(seconds=ctx.signal.timeframe_seconds)
    if ctx.now >= closes_at:
        return None
    return Reason(
        "CANDLE_NOT_CLOSED",
        f"the candle opened at {ctx.signal.candle_open_time.isoformat()} closes at "
        f"{closes_at.isoformat()}, after now ({ctx.now.isoformat()})",
    )


def stale_data(ctx: Context) -> Reason | None:
    tf = ctx.signal.timeframe_seconds
    closes_at = ctx.signal.candle_open_time + timedelta(seconds=tf)
    max_age = timedelta(seconds=tf * ctx.limits.stale_after_timeframes)
    why = []
    if ctx.signal.data_stale:
        why.append("the market data is flagged stale")
    if ctx.now - closes_at > max_age:
        why.append(
            f"the candle closed at {closes_at.isoformat()}, more than "
            f"{ctx.limits.stale_after_timeframes} × {tf} s before now ({ctx.now.isoformat()})"
        )
    return Reason("STALE_DATA", "; ".join(why)) if why else None


def invalid_price(ctx: Context) -> Reason | None:
    if ctx.price > 0:
        return None
    return Reason("INVALID_PRICE", f"price {ctx.signal.price} is not positive")


def drawdown_breached(portfolio: PortfolioView, limits: RiskLimits) -> bool:
    if portfolio.peak_equity <= 0:
        return False
    return portfolio.equity < portfolio.peak_equity * (ONE - limits.max_drawdown_pct)


def max_drawdown(ctx: Context) -> Reason | None:
    """Checked on every call; blocks only BUYs (a SELL reduces risk)."""
    p = ctx.portfolio
    if not drawdown_breached(p, ctx.limits):
        return None
    drawdown = (p.peak_equity - p.equity) / p.peak_equity
    return Reason(
        "MAX_DRAWDOWN",
        f"equity {fmt(p.equity)} is {pct(drawdown)} below its peak {fmt(p.peak_equity)}, "
        f"past the {pct(ctx.limits.max_drawdown_pct)} limit: emergency stop",
        blocking=ctx.signal.action == Action.BUY,
    )


# --- SELL ------------------------------------------------------------------------


def spot_only(ctx: Context) -> Reason | None:
    qty = ctx.portfolio.position_qty
    if qty < 0:
        return Reason("SPOT_ONLY", f"position {qty} is negative: spot trading has no short positions")
    if ctx.signal.action == Action.SELL and qty == 0:
        return Reason("SPOT_ONLY", "nothing to sell: spot trading sells only a held position")
    return None


# --- BUY ---------------------------------------------------------------------------


def position_open(ctx: Context) -> Reason | None:
    if not ctx.holds_position:
        return None
    return Reason(
        "POSITION_OPEN",
        f"already holding {ctx.portfolio.position_qty} {ctx.market.base_asset}: one position per bot",
    )


def dust_position(ctx: Context) -> Reason | None:
    if ctx.portfolio.position_qty <= 0 or ctx.holds_position:
        return None
    return Reason(
        "DUST_POSITION",
        f"the {ctx.portfolio.position_qty} {ctx.market.base_asset} held is below the exchange "
        "minimums: it cannot be sold on its own and does not count as an open position",
        blocking=False,
    )


def daily_loss_limit(ctx: Context) -> Reason | None:
    p = ctx.portfolio
    if p.day_start_equity <= 0:
        return None
    floor = p.day_start_equity * (ONE - ctx.limits.daily_loss_limit_pct)
    low = p.equity if p.day_low_equity is None else min(p.equity, p.day_low_equity)
    if low >= floor:
        return None
    return Reason(
        "DAILY_LOSS_LIMIT",
        f"equity fell to {fmt(low)} today, below {fmt(floor)} "
        f"({pct(ctx.limits.daily_loss_limit_pct)} under the day's start {fmt(p.day_start_equity)}): "
        "no BUY until the next UTC day",
    )


def cooldown(ctx: Context) -> Reason | None:
    p, limits = ctx.portfolio, ctx.limits
    if limits.cooldown_after_losses == 0 or p.consecutive_losses < limits.cooldown_after_losses:
        return None
    if p.last_loss_candle_time is None:
        return Reason(
            "COOLDOWN",
            f"{p.consecutive_losses} losing trades in a row and the time of the last one is unknown",
        )
    tf = ctx.signal.timeframe_seconds
    ends = p.last_loss_candle_time + timedelta(seconds=tf * limits.cooldown_candles)
    if ctx.signal.candle_open_time >= ends:
        return None
    return Reason(
        "COOLDOWN",
        f"{p.consecutive_losses} losing trades in a row (limit {limits.cooldown_after_losses}): "
        f"no BUY for {limits.cooldown_candles} candles after the last loss, until {ends.isoformat()}",
    )


def atr_unavailable(ctx: Context) -> Reason | None:
    if not ctx.limits.atr_scaling:
        return None
    atr = ctx.signal.atr
    if atr is not None and atr.is_finite() and atr > 0:
        return None
    return Reason("ATR_UNAVAILABLE", f"ATR sizing is on but the ATR is {atr}: cannot size the order")


def size_buy(ctx: Context) -> tuple[Decimal, list[Reason]]:
    """The BUY quantity (rounded down to the step) and the caps that shrank it.

    The wanted size is a fraction of equity, a fixed quote amount, or with ATR
    scaling ``equity × risk_per_trade / ATR``. Every cap below the wanted size
    is named (as information); the smallest one wins.
    """
    p, limits, price = ctx.portfolio, ctx.limits, ctx.price
    if price <= 0:
        return ZERO, []
    if limits.atr_scaling:
        atr = ctx.signal.atr
        if atr is None or atr_unavailable(ctx) is not None:
            return ZERO, []
        wanted = p.equity * limits.risk_per_trade / atr
    elif limits.sizing_mode == "fraction":
        wanted = p.equity * limits.fraction_of_equity / price
    else:
        wanted = limits.fixed_quote / price
    held = max(p.position_qty, ZERO) * price  # a dust holding counts against the caps
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


def exchange_filters(ctx: Context, quantity: Decimal) -> list[Reason]:
    """The exchange's LOT_SIZE and MIN_NOTIONAL filters on the rounded quantity."""
    market, price = ctx.market, ctx.price
    if quantity <= 0:
        return [
            Reason(
                "MIN_QTY",
                f"quantity rounds down to 0 at the step {market.step_size} "
                f"(minimum {market.min_qty} {market.base_asset})",
            )
        ]
    reasons = []
    for code in market.check(quantity, price):
        if code == "MIN_QTY":
            message = f"quantity {quantity} is below the exchange minimum {market.min_qty}"
        elif code == "MIN_NOTIONAL":
            message = (
                f"notional {fmt(quantity * price)} {ctx.quote} is below the exchange minimum "
                f"{fmt(market.min_notional)} {ctx.quote}"
            )
        else:
            message = f"quantity {quantity} fails the exchange filter {code}"
        reasons.append(Reason(code, message))
    return reasons


def insufficient_balance(ctx: Context, quantity: Decimal) -> Reason | None:
    cost = quantity * ctx.price
    fee = cost * ctx.fee_bps / BPS
    if cost + fee <= ctx.portfolio.cash:
        return None
    return Reason(
        "INSUFFICIENT_BALANCE",
        f"cost {fmt(cost)} + estimated fee {fmt(fee)} {ctx.quote} exceeds the cash "
        f"{fmt(ctx.portfolio.cash)} {ctx.quote}",
    )
