"""Live execution: real orders on Binance through the adapter, behind every gate.

One path for every live order (a trading cycle, a manual order, flattening):

1. **Gates** (:func:`gate_refusal`), every one open or nothing happens:
   ``LIVE_TRADING_ENABLED`` (the setting), ``BOT_MODE_LIVE`` (the bot's active
   config, set to live by an admin), ``API_CREDENTIALS`` (key and secret),
   ``SYSTEM_RUNNING``, ``BOT_BLOCKED`` (e.g. an unacknowledged balance
   mismatch), ``UNRESOLVED_ORDERS`` (an order whose fate is not known yet), and
   the size: a BUY under the per-order cap ``max_order_notional``
   (``MAX_ORDER_NOTIONAL``); a SELL is capped by nothing but the position
   (``POSITION``), so a bot can always exit. A closed gate refuses the order
   with the gate's name and a ``trading.live.refused`` event; nothing is stored
   or sent, and nothing falls back to a paper fill.
2. **Stored first**: the order row (status NEW, our deterministic client order
   id) is committed before anything is sent.
3. **Claimed** (:func:`order_send`): in a transaction that locks the system
   state row, the gates are checked again and the order is claimed with a
   conditional update (``sent_at``). An emergency stop either commits first
   (the claim then refuses and the order is never sent) or after (it then
   finds the order on the exchange and cancels it there).
4. **Sent** outside any transaction.
5. **Applied** in a second transaction: status, fills (unique per order and
   trade id, so never booked twice), position, cash, events. When the reply is
   lost (timeout, 5xx, -1006/-1007, dropped connection) the order is UNKNOWN
   and is resolved by querying its client order id, retrying "does not exist"
   (-2013) a few times, before anything is sent again. Binance accepts a
   client order id again once its first order is closed, so the id alone does
   not make a resend safe: the query does.

-2010 (insufficient balance) and -1013 (filter failure) mark the order
REJECTED with the exchange's message, without retry. A refusal that happened
before the request was processed (429, 418, -1021 after a resync, bad
credentials) is REJECTED as "not placed".

Booking live fills: Binance takes its commission from the asset received, so
a BUY's fee is usually in the base asset. The position then holds what the
account holds (quantity minus the commission), the fee is valued in the
quote asset at the fill price, and the cash paid is exactly quantity × price.
A fee in a third asset (BNB) is recorded on the fill but not valued.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone

from audit.actors import Actor
from audit.services import record
from risk.limits import LimitsError, RiskLimits
from trading.adapters.binance import BinanceAdapter, get_adapter
from trading.adapters.errors import (
    DuplicateOrder,
    ExchangeError,
    ExchangeUnavailable,
    OrderNotFound,
    OrderRejected,
    OrderStatusUnknown,
    RequestTimeout,
)
from trading.adapters.types import OrderFill, OrderResult
from trading.execution.paper import EIGHT_PLACES, ExecutionResult, FillResult, OrderRequest
from trading.market_rules import MarketRules
from trading.models import ZERO, Bot, BotConfig, Fill, Mode, Order, Position, SystemState
from trading.portfolio import Portfolio, PortfolioError, PositionState
from trading.summary import summary_note_sells
from tradingsite.errors import ServiceError

logger = logging.getLogger(__name__)

Status = Order.Status

# "Order does not exist" right after a lost reply may only mean the exchange
# has not caught up: ask this many times, waiting 0.5, 1, 2 s in between.
NOT_FOUND_ATTEMPTS = 4
NOT_FOUND_BACKOFF = 0.5
# Repeated IP bans within the window pause the whole system (RELIABILITY.md).
BANS_BEFORE_PAUSE = 3
BAN_WINDOW = timedelta(hours=1)

# Binance's order status → ours. PENDING_CANCEL is on its way out but still open.
EXCHANGE_STATUS = {
    "NEW": Status.OPEN,
    "PENDING_NEW": Status.OPEN,
    "PARTIALLY_FILLED": Status.PARTIALLY_FILLED,
    "PENDING_CANCEL": Status.OPEN,
    "FILLED": Status.FILLED,
    "CANCELED": Status.CANCELED,
    "REJECTED": Status.REJECTED,
    "EXPIRED": Status.EXPIRED,
    "EXPIRED_IN_MATCH": Status.EXPIRED,
}
TERMINAL = (Status.FILLED, Status.CANCELED, Status.REJECTED, Status.EXPIRED)
ON_EXCHANGE = (Status.OPEN, Status.PARTIALLY_FILLED)


# --- gates --------------------------------------------------------------------
class Gate(StrEnum):
    ADMIN_ONLY = "ADMIN_ONLY"
    LIVE_TRADING_ENABLED = "LIVE_TRADING_ENABLED"
    BOT_MODE_LIVE = "BOT_MODE_LIVE"
    API_CREDENTIALS = "API_CREDENTIALS"
    SYSTEM_RUNNING = "SYSTEM_RUNNING"
    BOT_BLOCKED = "BOT_BLOCKED"
    BOT_BUSY = "BOT_BUSY"
    UNRESOLVED_ORDERS = "UNRESOLVED_ORDERS"
    MAX_ORDER_NOTIONAL = "MAX_ORDER_NOTIONAL"
    POSITION = "POSITION"
    EXCHANGE_FILTERS = "EXCHANGE_FILTERS"


# How the API answers each refusal; every other gate is a conflict (409).
GATE_HTTP_STATUS = {Gate.ADMIN_ONLY: 403, Gate.EXCHANGE_FILTERS: 400}


@dataclass(frozen=True)
class Refusal:
    gate: Gate
    message: str
    field: str = ""  # the input at fault, for a 400 with field errors

    def as_dict(self) -> dict[str, str]:
        return {"gate": str(self.gate), "message": self.message}


class LiveOrderRefused(ServiceError):
    """A live order refused by a closed gate; nothing was stored or sent."""

    code = "live_order_refused"

    def __init__(self, refusal: Refusal) -> None:
        field_errors = {refusal.field: refusal.message} if refusal.field else None
        super().__init__(f"refused by {refusal.gate}: {refusal.message}", field_errors=field_errors)
        self.refusal = refusal
        self.gate = refusal.gate
        self.http_status = GATE_HTTP_STATUS.get(refusal.gate, 409)
        self.extra = {"gate": str(refusal.gate)}  # the API names the gate in its answer


class ExchangeProblem(ServiceError):
    """The exchange could not be asked (down, banned, rate-limited) for a manual action."""

    http_status = 503
    code = "exchange_unavailable"


def credentials_present() -> bool:
    return bool(settings.BINANCE_API_KEY and settings.BINANCE_API_SECRET)


def gate_refusal(
    *,
    bot: Bot,
    config: BotConfig | None,
    side: str,
    quantity: Decimal,
    price: Decimal | None,
    system_state: str | None = None,
    exclude_order_id: int | None = None,
    size: bool = True,
) -> Refusal | None:
    """The first closed gate for this order, or None when every gate is open.

    ``bot`` must be fresh from the database (its block reason is read here);
    ``price`` is what a BUY's notional is measured at (the limit, or the
    current price of a market order). With ``size=False`` only the gates that
    need no price are checked (before asking the exchange anything).
    """
    if not settings.LIVE_TRADING_ENABLED:
        return Refusal(Gate.LIVE_TRADING_ENABLED, "LIVE_TRADING_ENABLED is false: live trading is switched off")
    if config is None or config.mode != Mode.LIVE:
        mode = config.mode if config is not None else "no"
        return Refusal(
            Gate.BOT_MODE_LIVE, f"{bot.name}'s active configuration is in {mode} mode; an admin must set it to live"
        )
    if not credentials_present():
        return Refusal(Gate.API_CREDENTIALS, "BINANCE_API_KEY and BINANCE_API_SECRET must both be set")
    if system_state is None:
        from trading import state

        system_state = state.current().state
    if system_state != SystemState.State.RUNNING:
        return Refusal(Gate.SYSTEM_RUNNING, f"the system is {system_state}: live orders only while RUNNING")
    if bot.trading_blocked_reason:
        return Refusal(Gate.BOT_BLOCKED, f"trading on {bot.name} is blocked: {bot.trading_blocked_reason}")
    unresolved = list(
        Order.objects.filter(bot=bot, mode=Mode.LIVE, status__in=(Status.NEW, Status.UNKNOWN))
        .exclude(pk=exclude_order_id)
        .values_list("client_order_id", flat=True)[:3]
    )
    if unresolved:
        return Refusal(
            Gate.UNRESOLVED_ORDERS,
            f"orders not yet resolved with the exchange: {', '.join(unresolved)}; reconcile first",
        )
    if not size:
        return None
    if side == "BUY":
        try:
            cap = RiskLimits.from_dict(config.risk_limits).max_order_notional
        except LimitsError as exc:
            return Refusal(Gate.MAX_ORDER_NOTIONAL, f"the bot's risk limits are invalid: {exc}")
        if price is None or not price > 0:
            return Refusal(Gate.MAX_ORDER_NOTIONAL, "no price to measure the order's notional against the cap")
        notional = quantity * price
        if notional > cap:
            return Refusal(
                Gate.MAX_ORDER_NOTIONAL,
                f"BUY {quantity} {config.symbol} at {price} is {notional.quantize(EIGHT_PLACES)} "
                f"{bot.quote_asset}, over the per-order cap {cap}",
                field="quantity",
            )
    else:
        held, reserved = _sellable(bot, config.symbol, exclude_order_id)
        if quantity > held - reserved:
            return Refusal(
                Gate.POSITION,
                f"SELL {quantity} {config.symbol} is more than the position {held}"
                + (f" less {reserved} already offered by open orders" if reserved else ""),
                field="quantity",
            )
    return None


def refusal_record(refusal: Refusal, *, actor: Actor, bot: Bot, inputs: dict[str, Any]) -> None:
    record(
        "trading.live.refused",
        actor,
        f"live order refused by {refusal.gate}: {refusal.message}",
        inputs=inputs,
        result={"refused": True, **refusal.as_dict()},
        bot=bot,
    )


def filters_refusal(
    rules: MarketRules, *, quantity: Decimal, price: Decimal, limit_price: Decimal | None
) -> Refusal | None:
    """Exchange filters checked with Decimal before sending (what -1013 would say)."""
    failed = rules.check(quantity, price)
    if limit_price is not None and (
        (rules.tick_size > 0 and limit_price % rules.tick_size != 0)
        or limit_price < rules.min_price
        or (rules.max_price > 0 and limit_price > rules.max_price)
    ):
        return Refusal(Gate.EXCHANGE_FILTERS, f"price {limit_price} fails PRICE_FILTER", field="price")
    if failed:
        return Refusal(
            Gate.EXCHANGE_FILTERS,
            f"{quantity} {rules.symbol} at {price} fails the exchange filters: {', '.join(failed)} "
            f"(step {rules.step_size}, min qty {rules.min_qty}, min notional {rules.min_notional})",
            field="quantity",
        )
    return None


# --- the engine (no database) --------------------------------------------------
class LiveExecutionEngine:
    """Binance through the adapter: the live counterpart of the paper engine.

    It holds no state of its own: the orders table does. ``sleep`` (for the
    "does not exist" retries) defaults to the adapter's, so tests that inject
    one into the adapter never wait for real.
    """

    def __init__(
        self,
        adapter: BinanceAdapter | None = None,
        *,
        not_found_attempts: int = NOT_FOUND_ATTEMPTS,
        not_found_backoff: float = NOT_FOUND_BACKOFF,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.adapter = adapter or get_adapter()
        self.not_found_attempts = max(1, not_found_attempts)
        self.not_found_backoff = not_found_backoff
        self._sleep = sleep

    def sleep(self, seconds: float) -> None:
        (self._sleep or self.adapter.sleep)(seconds)

    def rules(self, symbol: str) -> MarketRules:
        return self.adapter.market_rules(symbol)

    def price(self, symbol: str) -> Decimal:
        return self.adapter.last_price(symbol)

    def place(self, request: OrderRequest) -> OrderResult:
        return self.adapter.place_order(
            symbol=request.symbol,
            side=request.side,
            quantity=request.quantity,
            client_order_id=request.client_order_id,
            order_type=request.order_type,
            price=request.limit_price,
        )

    def query(self, *, symbol: str, client_order_id: str) -> OrderResult | None:
        """The order as the exchange has it, or None when it keeps saying -2013."""
        for attempt in range(1, self.not_found_attempts + 1):
            try:
                return self.adapter.get_order(symbol=symbol, client_order_id=client_order_id)
            except OrderNotFound:
                if attempt == self.not_found_attempts:
                    return None
                self.sleep(self.not_found_backoff * 2 ** (attempt - 1))
        return None

    def fills(self, result: OrderResult) -> tuple[OrderFill, ...]:
        """Every fill of the order: the reply's own when they add up, else the trade list
        (an order query or a cancel reply carries no fills)."""
        if result.executed_qty <= 0:
            return ()
        if result.fills and sum((f.quantity for f in result.fills), ZERO) >= result.executed_qty:
            return result.fills
        return tuple(self.adapter.order_trades(symbol=result.symbol, order_id=result.order_id))

    def cancel_on_exchange(self, *, symbol: str, client_order_id: str) -> OrderResult:
        return self.adapter.cancel_order(symbol=symbol, client_order_id=client_order_id)

    # --- the ExecutionEngine protocol of the paper engine ---------------------
    def submit(self, request: OrderRequest, **market: Any) -> ExecutionResult:
        """Place ``request``. Raises :class:`OrderStatusUnknown` when the order may
        exist; the services below store it first and reconcile such orders."""
        try:
            result = self.place(request)
        except OrderRejected as exc:
            return ExecutionResult("REJECTED", (), exc.message)
        return execution_result(result, self.fills(result))

    def cancel(self, client_order_id: str, *, symbol: str | None = None) -> bool:
        if symbol is None:
            symbol = Order.objects.values_list("symbol", flat=True).get(client_order_id=client_order_id)
        try:
            result = self.cancel_on_exchange(symbol=symbol, client_order_id=client_order_id)
        except OrderNotFound:
            return False
        return result.status in ("CANCELED", "PENDING_CANCEL")


def execution_result(result: OrderResult, fills: Sequence[OrderFill]) -> ExecutionResult:
    """An exchange order as the paper engine's result type."""
    at = result.transact_time or timezone.now()
    status = {"FILLED": "FILLED", "PARTIALLY_FILLED": "PARTIALLY_FILLED", "NEW": "OPEN"}.get(result.status)
    if status is None:
        status = "PARTIALLY_FILLED" if fills else "REJECTED"
    return ExecutionResult(
        status,  # type: ignore[arg-type]
        tuple(
            FillResult(
                trade_id=f.trade_id, price=f.price, quantity=f.quantity, quote_quantity=f.price * f.quantity,
                fee=f.commission, fee_asset=f.commission_asset, filled_at=f.time or at,
            )
            for f in fills
        ),
        f"Binance {result.status}",
    )


# --- storing, claiming, sending -----------------------------------------------------
def order_store(
    *,
    bot: Bot,
    config: BotConfig,
    client_order_id: str,
    side: str,
    quantity: Decimal,
    order_type: str = Order.Type.MARKET,
    limit_price: Decimal | None = None,
    candle_time: datetime | None = None,
    reason: str = "",
    created_at: datetime | None = None,
) -> Order:
    """The order row, status NEW, before anything is sent (the caller commits it).

    The client order id is unique: a second attempt for the same id fails here.
    """
    return Order.objects.create(
        bot=bot, config=config, client_order_id=client_order_id, symbol=config.symbol, side=side,
        order_type=order_type, mode=Mode.LIVE, quantity=quantity, price=limit_price, status=Status.NEW,
        candle_time=candle_time, reason=reason, created_at=created_at or timezone.now(),
    )


@dataclass(frozen=True)
class SendOutcome:
    order: Order
    sent: bool  # a request went to the exchange
    refusal: Refusal | None = None  # a gate closed between storing and sending
    error: ExchangeError | None = None  # what the exchange answered, when not an order


def order_send(
    *, order: Order, actor: Actor, price: Decimal | None, engine: LiveExecutionEngine | None = None
) -> SendOutcome:
    """Claim, send and apply one stored NEW live order; never resends.

    Call it outside any transaction, with the order's row committed, while
    holding the bot's cycle lease. ``price`` is what the per-order cap is
    measured at when the gates are checked again.
    """
    claimed, refusal = _claim(order, actor, price)
    order.refresh_from_db()
    if not claimed:
        return SendOutcome(order, False, refusal)
    engine = engine or LiveExecutionEngine()
    request = OrderRequest(
        client_order_id=order.client_order_id, symbol=order.symbol, side=order.side,  # type: ignore[arg-type]
        order_type=order.order_type, quantity=order.quantity, limit_price=order.price,  # type: ignore[arg-type]
    )
    try:
        result = engine.place(request)
    except RequestTimeout as exc:
        # The connection never opened: nothing was sent.
        return SendOutcome(_mark_rejected(order, actor, f"not placed: {exc.message}", exc), True, None, exc)
    except (OrderStatusUnknown, DuplicateOrder, ExchangeUnavailable) as exc:
        # DuplicateOrder: an open order already carries this id, so it is ours.
        # ExchangeUnavailable: e.g. a 2xx reply we could not read; only a query can tell.
        _mark_unknown(order, actor, exc.message, exc.as_dict())
        try:
            order = order_reconcile(order=order, actor=actor, engine=engine)
        except ExchangeError as later:
            return SendOutcome(order, True, None, later)
        return SendOutcome(order, True, None, exc)
    except OrderRejected as exc:
        # The exchange's own words (-2010 insufficient balance, -1013 filter failure): no retry.
        reason = f"Binance {exc.code}: {exc.exchange_message}" if exc.exchange_message else exc.message
        return SendOutcome(_mark_rejected(order, actor, reason, exc), True, None, exc)
    except ExchangeError as exc:
        # Refused before the matching engine saw it (429, 418, -1021 after a
        # resync, credentials, a malformed request): not placed.
        return SendOutcome(_mark_rejected(order, actor, f"not placed: {exc.message}", exc), True, None, exc)
    except Exception as exc:
        # A bug or the unexpected: the order may exist, so it is reconciled, not failed.
        _mark_unknown(order, actor, f"{type(exc).__name__} while sending", {"error": type(exc).__name__})
        raise
    return SendOutcome(apply_exchange_order(order=order, result=result, actor=actor, engine=engine, source="reply"),
                       True)


def _claim(order: Order, actor: Actor, price: Decimal | None) -> tuple[bool, Refusal | None]:
    from trading import state

    state.current()  # the row must exist before it can be locked
    with transaction.atomic():
        system = SystemState.objects.select_for_update().get(id=1)
        locked = Order.objects.select_for_update().get(pk=order.pk)
        if locked.status != Status.NEW or locked.sent_at is not None:
            return False, None  # canceled meanwhile (emergency stop, reconciliation) or already sent
        bot = Bot.objects.get(pk=locked.bot_id)
        config = BotConfig.objects.filter(bot=bot, is_active=True).first()
        refusal = gate_refusal(
            bot=bot, config=config, side=locked.side, quantity=locked.quantity,
            price=locked.price or price, system_state=system.state, exclude_order_id=locked.pk,
        )
        now = timezone.now()
        if refusal is not None:
            locked.status = Status.CANCELED
            locked.status_reason = f"not sent: {refusal.gate} closed before sending ({refusal.message})"
            locked.save(update_fields=["status", "status_reason", "updated_at"])
            refusal_record(refusal, actor=actor, bot=bot, inputs=_order_inputs(locked))
            record("trading.order.canceled", actor, locked.status_reason, inputs=_order_inputs(locked),
                   result={"status": Status.CANCELED, "sent": False}, bot=bot)
            return False, refusal
        locked.sent_at = now
        locked.save(update_fields=["sent_at", "updated_at"])
        record(
            "trading.order.submitted",
            actor,
            f"sending {locked.side} {locked.quantity} {locked.symbol} ({locked.order_type}) to Binance",
            inputs={**_order_inputs(locked), "price_for_cap": price},
            result={"status": locked.status, "sent_at": now},
            bot=bot,
        )
    return True, None


def _order_inputs(order: Order) -> dict[str, Any]:
    return {
        "client_order_id": order.client_order_id, "symbol": order.symbol, "side": order.side,
        "order_type": order.order_type, "quantity": order.quantity, "limit_price": order.price,
        "mode": order.mode,
    }


def _mark_unknown(order: Order, actor: Actor, message: str, error: dict[str, Any]) -> None:
    with transaction.atomic():
        updated = Order.objects.filter(pk=order.pk, status__in=(Status.NEW, Status.UNKNOWN)).update(
            status=Status.UNKNOWN, status_reason=f"status unknown: {message}", updated_at=timezone.now()
        )
        if updated:
            record("trading.order.unknown", actor, f"{order.client_order_id}: {message}; querying it before "
                   "anything is sent again", inputs=_order_inputs(order), result={"status": Status.UNKNOWN,
                                                                                  **error}, bot=order.bot_id)
    order.refresh_from_db()


def _mark_rejected(order: Order, actor: Actor, message: str, error: ExchangeError) -> Order:
    with transaction.atomic():
        updated = Order.objects.filter(pk=order.pk, status=Status.NEW).update(
            status=Status.REJECTED, status_reason=message, updated_at=timezone.now()
        )
        if updated:
            record("trading.order.rejected", actor, f"{order.client_order_id}: {message}",
                   inputs=_order_inputs(order), result={"status": Status.REJECTED, **error.as_dict()},
                   bot=order.bot_id)
    order.refresh_from_db()
    return order


# --- reconciling ------------------------------------------------------------------------
def order_reconcile(*, order: Order, actor: Actor, engine: LiveExecutionEngine | None = None) -> Order:
    """Bring one locally open live order in line with the exchange.

    Only a holder of the bot's cycle lease calls this (the cycle, a manual
    order, the reconcile task): an order still NEW and never sent then has no
    sender any more, so it is canceled locally (its claim can no longer win).
    Anything sent is queried by client order id; "does not exist" is asked
    again a few times before the order is taken as never placed.
    """
    order.refresh_from_db()
    if order.mode != Mode.LIVE or order.status not in Order.OPEN_STATUSES:
        return order
    previous = order.status
    if order.status == Status.NEW and order.sent_at is None:
        reason = "never sent (its sender stopped before sending); canceled by reconciliation"
        _conditional_close(order, actor, previous, Status.CANCELED, reason, found=False)
        return order
    engine = engine or LiveExecutionEngine()
    found = engine.query(symbol=order.symbol, client_order_id=order.client_order_id)
    if found is None:
        if previous in (Status.NEW, Status.UNKNOWN):
            status, reason = Status.REJECTED, (
                f"not on the exchange after {engine.not_found_attempts} queries (-2013): it was never placed"
            )
        else:
            status, reason = Status.CANCELED, (
                f"the exchange no longer has it (-2013 after {engine.not_found_attempts} queries)"
            )
        _conditional_close(order, actor, previous, status, reason, found=False)
        return order
    return apply_exchange_order(order=order, result=found, actor=actor, engine=engine, source="reconcile")


def _conditional_close(order: Order, actor: Actor, previous: str, status: str, reason: str, *, found: bool) -> None:
    with transaction.atomic():
        updated = Order.objects.filter(pk=order.pk, status=previous, sent_at=order.sent_at).update(
            status=status, status_reason=reason, updated_at=timezone.now()
        )
        if updated:
            record("trading.order.reconciled", actor, f"{order.client_order_id}: {previous} → {status}: {reason}",
                   inputs=_order_inputs(order), result={"previous": previous, "status": status,
                                                        "found_on_exchange": found, "fills_applied": 0},
                   bot=order.bot_id)
    order.refresh_from_db()


def apply_exchange_order(
    *, order: Order, result: OrderResult, actor: Actor, engine: LiveExecutionEngine, source: str
) -> Order:
    """Apply what the exchange says of ``order`` (a reply, a query, a cancel).

    The fills are read first (outside the transaction); those not booked yet
    are booked under the bot's row lock, so two appliers never book a fill
    twice. A local status is terminal only once every fill is booked: when the
    fills could not be read, the order stays UNKNOWN for the next reconciliation.
    """
    fills: Sequence[OrderFill]
    fills_error = ""
    try:
        fills = engine.fills(result)
    except ExchangeError as exc:
        fills, fills_error = result.fills, exc.message
    base, quote = _assets(engine, order)
    with transaction.atomic():
        bot = Bot.objects.select_for_update().get(pk=order.bot_id)
        order = Order.objects.select_for_update().get(pk=order.pk)
        previous = order.status
        known = set(Fill.objects.filter(order=order).values_list("trade_id", flat=True))
        fresh = [f for f in fills if f.trade_id not in known]
        at = result.transact_time or timezone.now()
        problems = _book(bot, order, fresh, base=base, quote=quote, at=at) if fresh else []
        stored = list(Fill.objects.filter(order=order).values_list("quantity", "quote_quantity", "fee", "fee_asset",
                                                                    "price"))
        filled = sum((q for q, *_ in stored), ZERO)
        notional = sum((qq for _, qq, *_ in stored), ZERO)
        status = EXCHANGE_STATUS.get(result.status, Status.UNKNOWN)
        reason = f"Binance {result.status}"
        if filled < result.executed_qty and status in TERMINAL:
            status = Status.UNKNOWN
            reason = f"Binance {result.status}, but only {filled} of {result.executed_qty} booked: fills to read"
            if fills_error:
                reason += f" ({fills_error})"
        order.status = status
        order.status_reason = reason
        order.exchange_status = result.status
        order.exchange_order_id = str(result.order_id)
        order.filled_quantity = filled
        order.avg_fill_price = (notional / filled).quantize(EIGHT_PLACES) if filled else None
        order.fee_total = sum((_fee_in_quote(fee, asset, price, base, quote) for *_, fee, asset, price in stored), ZERO)
        order.save(update_fields=["status", "status_reason", "exchange_status", "exchange_order_id",
                                  "filled_quantity", "avg_fill_price", "fee_total", "updated_at"])
        summary = {
            "status": status, "exchange_status": result.status, "exchange_order_id": result.order_id,
            "executed_qty": result.executed_qty, "filled_quantity": filled, "avg_price": order.avg_fill_price,
            "fee_in_quote": order.fee_total, "cash": bot.cash,
            "fills": [{"trade_id": f.trade_id, "price": f.price, "quantity": f.quantity,
                       "fee": f.commission, "fee_asset": f.commission_asset} for f in fresh],
        }
        if status != previous or fresh:
            record(
                f"trading.order.{status.lower()}",
                actor,
                f"{order.side} {filled} {order.symbol} @ {order.avg_fill_price} ({status}, live)",
                inputs=_order_inputs(order),
                result=summary,
                bot=bot,
            )
        if source != "reply":
            record(
                "trading.order.reconciled",
                actor,
                f"{order.client_order_id}: {previous} → {status} from the exchange ({source}); "
                f"{len(fresh)} new fill(s)",
                inputs={**_order_inputs(order), "source": source},
                result={"previous": previous, "status": status, "found_on_exchange": True,
                        "fills_applied": len(fresh)},
                bot=bot,
            )
        for problem in problems:
            _block(bot, actor, problem)
    return order


def _assets(engine: LiveExecutionEngine, order: Order) -> tuple[str, str]:
    try:
        rules = engine.rules(order.symbol)
        return rules.base_asset, rules.quote_asset
    except ExchangeError:
        # The quote asset is the bot's; the rest of the symbol is the base.
        quote = Bot.objects.values_list("quote_asset", flat=True).get(pk=order.bot_id)
        base = order.symbol[: -len(quote)] if order.symbol.endswith(quote) else order.symbol
        return base, quote


def _fee_in_quote(fee: Decimal, asset: str, price: Decimal, base: str, quote: str) -> Decimal:
    if asset == quote:
        return fee
    if asset == base:
        return fee * price
    return ZERO  # a third asset (BNB): not valued here


def _book(bot: Bot, order: Order, fills: Sequence[OrderFill], *, base: str, quote: str, at: datetime) -> list[str]:
    """Book new fills on the (locked) bot's position and cash; returns problems.

    The exchange has already executed these, so the books follow it even when
    the bot's own cash budget runs below zero by slippage: the portfolio gets
    enough headroom not to refuse, and the headroom is taken off again.
    """
    position, _ = Position.objects.get_or_create(bot=bot, symbol=order.symbol)
    position = Position.objects.select_for_update().get(pk=position.pk)
    held = PositionState(
        quantity=position.quantity, cost_basis=position.cost_basis, realized_pnl=position.realized_pnl,
        fees_paid=position.fees_paid, opened_at=position.opened_at,
    )
    headroom = sum((f.quantity * f.price + f.commission * f.price for f in fills), ZERO) if order.side == "BUY" else ZERO
    portfolio = Portfolio(cash=bot.cash + headroom, positions={order.symbol: held})
    problems: list[str] = []
    sells: list[Fill] = []
    for fill in fills:
        when = fill.time or at
        fee_quote = _fee_in_quote(fill.commission, fill.commission_asset, fill.price, base, quote)
        if order.side == "BUY":
            moved = fill.quantity - fill.commission if fill.commission_asset == base else fill.quantity
        else:
            moved = fill.quantity + fill.commission if fill.commission_asset == base else fill.quantity
        realized: Decimal | None = None
        try:
            realized = portfolio.apply_fill(order.symbol, order.side, moved, fill.price, fee_quote, when)  # type: ignore[arg-type]
        except PortfolioError as exc:
            # Kept as the exchange reported it; the books cannot absorb it, so
            # the bot stops until someone looks (the balance check agrees).
            problems.append(f"fill {fill.trade_id} of {order.client_order_id} could not be booked: {exc}")
        stored = Fill.objects.create(
            order=order, bot=bot, symbol=order.symbol, side=order.side, price=fill.price,
            quantity=fill.quantity, quote_quantity=fill.quantity * fill.price, fee=fill.commission,
            fee_asset=fill.commission_asset or quote, trade_id=fill.trade_id, filled_at=when,
            realized_pnl=realized if order.side == "SELL" else None,
        )
        if stored.realized_pnl is not None:
            sells.append(stored)
    summary_note_sells(bot, sells, order.candle_time)
    state = portfolio.position(order.symbol)
    position.quantity = state.quantity
    position.cost_basis = state.cost_basis
    position.avg_entry_price = (state.cost_basis / state.quantity).quantize(EIGHT_PLACES) if state.quantity else ZERO
    position.realized_pnl = state.realized_pnl
    position.fees_paid = state.fees_paid
    position.opened_at = state.opened_at
    position.save()
    bot.cash = portfolio.cash - headroom
    Bot.objects.filter(pk=bot.pk).update(cash=bot.cash)
    return problems


def _block(bot: Bot, actor: Actor, reason: str) -> None:
    Bot.objects.filter(pk=bot.pk).update(trading_blocked_reason=reason[:2000])
    bot.trading_blocked_reason = reason
    record("trading.bot.blocked", actor, reason, inputs={"bot": bot.name}, result={"blocked": True}, bot=bot)


# --- cancelling ----------------------------------------------------------------------------
def cancel_open_orders(
    *, actor: Actor, reason: str, bot: Bot | None = None, engine: LiveExecutionEngine | None = None
) -> list[str]:
    """Cancel on the exchange every live order it holds open (all bots, or one).

    Each is recorded. An order the exchange no longer has open (-2011) is
    reconciled by a query, not assumed canceled: it may have filled. Orders
    in flight or UNKNOWN are left to reconciliation, which cancels them in
    turn while the system is in EMERGENCY_STOP.
    """
    orders = Order.objects.filter(mode=Mode.LIVE, status__in=ON_EXCHANGE).order_by("id")
    if bot is not None:
        orders = orders.filter(bot=bot)
    orders = list(orders)
    if not orders:
        return []
    engine = engine or LiveExecutionEngine()
    canceled: list[str] = []
    for order in orders:
        try:
            try:
                result = engine.cancel_on_exchange(symbol=order.symbol, client_order_id=order.client_order_id)
            except (OrderNotFound, OrderStatusUnknown) as exc:
                record("trading.order.cancel_unconfirmed", actor, f"{order.client_order_id}: {exc.message}; "
                       "querying it", inputs=_order_inputs(order), result=exc.as_dict(), bot=order.bot_id)
                order = order_reconcile(order=order, actor=actor, engine=engine)
            else:
                order = apply_exchange_order(order=order, result=result, actor=actor, engine=engine, source="cancel")
        except ExchangeError as exc:
            record("trading.order.cancel_failed", actor, f"{order.client_order_id}: could not cancel on the "
                   f"exchange ({exc.message}); reconciliation tries again", inputs={**_order_inputs(order),
                   "reason": reason}, result=exc.as_dict(), bot=order.bot_id)
            continue
        if order.status == Status.CANCELED:
            canceled.append(order.client_order_id)
    return canceled


# --- exchange failures -------------------------------------------------------------------------
def pause_on_repeated_bans(*, now: datetime | None = None) -> bool:
    """Pause the system (as the system actor) after repeated IP bans; True if it did.

    Counts the ``exchange.ip_banned`` events the adapter writes on every real
    418 (a refusal by our own breaker sends nothing and is not counted) within
    the window and since the system was last resumed.
    """
    from audit.models import Event
    from trading import state

    current = state.current()
    if current.state != SystemState.State.RUNNING:
        return False
    # Bans before the last resume were seen by whoever resumed: they do not count again.
    since = max((now or timezone.now()) - BAN_WINDOW, current.changed_at)
    bans = Event.objects.filter(type="exchange.ip_banned", created_at__gte=since).count()
    if bans < BANS_BEFORE_PAUSE:
        return False
    try:
        state.pause(actor=Actor.system(), reason=f"{bans} Binance IP bans within {BAN_WINDOW}: paused")
    except state.StateError:
        return False  # another path changed the state first; its refusal is recorded
    return True


def open_live_orders(bot: Bot) -> list[Order]:
    return list(Order.objects.filter(bot=bot, mode=Mode.LIVE, status__in=Order.OPEN_STATUSES).order_by("id"))


def _sellable(bot: Bot, symbol: str, exclude_order_id: int | None) -> tuple[Decimal, Decimal]:
    """(the position, the part of it already offered by open live SELL orders)."""
    held = Position.objects.filter(bot=bot, symbol=symbol).values_list("quantity", flat=True).first() or ZERO
    reserved = (
        Order.objects.filter(bot=bot, mode=Mode.LIVE, side="SELL", symbol=symbol, status__in=ON_EXCHANGE)
        .exclude(pk=exclude_order_id)
        .aggregate(r=Sum(F("quantity") - F("filled_quantity")))["r"]
        or ZERO
    )
    return held, reserved
