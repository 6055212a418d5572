"""The risk engine: may this signal become an order, and how big (pure).

``evaluate`` takes plain values and returns a :class:`Decision`; it reads no
database, clock or network, so the live cycle and the backtester get the same
answer for the same inputs. Each rule is a small function in ``risk.rules``.

What it decides:

* HOLD → NONE.
* BUY → a quantity sized by the limits, shrunk (with an info reason) to fit
  every cap, rounded down to the step; BLOCK when a hard rule applies or the
  shrunk quantity fails the exchange minimums or the cash.
* SELL → the whole held position, rounded down to the step; SELL never opens
  a short, and the daily loss limit, drawdown and cooldown never block it.
* ``emergency_stop`` is set whenever the max drawdown is breached, on every
  call and action: the cycle then enters EMERGENCY_STOP through the state
  service (before placing any order).

A BLOCK lists every reason that applied: all rules run, none stops the others.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from risk import rules
from risk.limits import RiskLimits
from risk.values import Decision, PortfolioView, Reason, RiskSignal
from trading.market_rules import MarketRules
from trading.strategies.base import Action

# Binance spot's base taker fee (0.1 %); the cycle passes its own figure
# (fee plus expected slippage) when it knows better.
DEFAULT_FEE_BPS = Decimal("10")

ALWAYS = (rules.system_not_running, rules.candle_not_closed, rules.stale_data, rules.invalid_price)
BUY_RULES = (
    rules.spot_only,
    rules.position_open,
    rules.dust_position,
    rules.max_drawdown,
    rules.daily_loss_limit,
    rules.cooldown,
    rules.atr_unavailable,
)
SELL_RULES = (rules.spot_only, rules.max_drawdown)
_BUY_CHECKS = ALWAYS + BUY_RULES
_SELL_CHECKS = ALWAYS + SELL_RULES


_HOLD, _BUY, _SELL = Action.HOLD, Action.BUY, Action.SELL
_ZERO = Decimal("0")


def evaluate(
    signal: RiskSignal,
    portfolio: PortfolioView,
    limits: RiskLimits,
    market_rules: MarketRules,
    now: datetime,
    *,
    fee_bps: Decimal = DEFAULT_FEE_BPS,
) -> Decision:
    if now.tzinfo is None or signal.candle_open_time.tzinfo is None:
        raise ValueError("now and the candle's open time must be timezone-aware")
    if signal.timeframe_seconds <= 0:
        raise ValueError("timeframe_seconds must be positive")
    # A price that is not a finite number is refused by INVALID_PRICE, as 0 is.
    price = market_rules.round_price(signal.price) if signal.price.is_finite() else _ZERO
    closes_at = signal.candle_open_time + rules.SECONDS[signal.timeframe_seconds]
    emergency = rules.drawdown_breached(portfolio, limits)
    ctx = rules.Context(signal, portfolio, limits, market_rules, now, fee_bps, price, closes_at, emergency)
    action = signal.action

    if action == _HOLD:
        found = rules.max_drawdown(ctx)
        return Decision("NONE", None, _ZERO, (found,) if found is not None else (), emergency)

    if action == _BUY:
        side, checks = "BUY", _BUY_CHECKS
    elif action == _SELL:
        side, checks = "SELL", _SELL_CHECKS
    else:
        raise ValueError(f"unknown action {signal.action!r}")
    reasons = []
    for check in checks:  # every rule, in order (a plain loop: the cheapest way to call them)
        if (found := check(ctx)) is not None:
            reasons.append(found)

    if side == "BUY":
        quantity, caps = rules.size_buy(ctx)
        reasons += caps
        # Without a price or an ATR there is no size to check: those reasons say why.
        if price > _ZERO and rules.atr_unavailable(ctx) is None:
            reasons += rules.exchange_filters(ctx, quantity)
            if quantity > _ZERO and (short := rules.insufficient_balance(ctx, quantity)) is not None:
                reasons.append(short)
    else:
        quantity = ctx.sellable
        if portfolio.position_qty > _ZERO and price > _ZERO:
            reasons += rules.exchange_filters(ctx, quantity)

    for reason in reasons:
        if reason.blocking:
            return Decision("BLOCK", side, _ZERO, tuple(reasons), emergency)
    return Decision("ALLOW", side, quantity, tuple(reasons), emergency)


__all__ = ["DEFAULT_FEE_BPS", "Decision", "PortfolioView", "Reason", "RiskSignal", "evaluate"]
