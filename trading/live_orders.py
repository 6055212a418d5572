"""Manual live orders and flattening: admin only, through the same gates and
the same store → claim → send → apply path as a cycle's live order.

Called by the admin-only API endpoint, the admin site and management
commands. Each takes the bot's lease, so it never races the bot's cycle or a
reconciliation. A refusal names its gate, is recorded, and sends nothing.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction

from audit.actors import Actor, Role
from audit.services import record
from trading.adapters.binance import CLIENT_ORDER_ID
from trading.adapters.errors import ExchangeError, IpBanned
from trading.execution import live
from trading.execution.live import Gate, LiveOrderRefused, Refusal
from trading.lease import bot_lease
from trading.models import ZERO, Bot, BotConfig, Order, Position
from tradingsite.errors import ServiceError


class LiveOrderInvalid(ServiceError):
    http_status = 400
    code = "invalid"


class FlattenNotConfirmed(ServiceError):
    http_status = 400
    code = "confirmation_required"


class NothingToFlatten(ServiceError):
    http_status = 409
    code = "nothing_to_flatten"


def manual_client_order_id(bot: Bot) -> str:
    """A fresh id for a manual order (the cycle's ids are per candle instead)."""
    return f"tb{bot.pk}-m-{uuid.uuid4().hex[:16]}"


def live_order_place(
    *,
    bot: Bot,
    side: str,
    quantity: Decimal,
    price: Decimal | None,
    actor: Actor,
    client_order_id: str = "",
    reason: str = "",
    engine: live.LiveExecutionEngine | None = None,
) -> Order:
    """Place one manual live order for ``bot``: MARKET, or LIMIT (GTC) at ``price``.

    Admin only; every gate must be open. The quantity is rounded down to the
    step size and the price to the tick size, with Decimal, and checked
    against the exchange filters before anything is sent. ``client_order_id``
    is an idempotency key: an order already stored under it is returned as it
    is, and nothing is sent again. Returns the order as it ended (FILLED,
    OPEN, REJECTED with the exchange's message, UNKNOWN while reconciling...).
    """
    side = (side or "").upper()
    inputs: dict[str, Any] = {"side": side, "quantity": quantity, "price": price,
                              "client_order_id": client_order_id, "manual": True}
    _require_admin(bot, actor, inputs, "place a live order")
    errors = _validate(side, quantity, price, client_order_id)
    if errors:
        raise LiveOrderInvalid("; ".join(f"{k}: {v}" for k, v in errors.items()), field_errors=errors)
    if client_order_id:
        existing = Order.objects.filter(client_order_id=client_order_id).first()
        if existing is not None:
            if existing.bot_id != bot.pk:
                raise LiveOrderInvalid(
                    "client_order_id is already used by another bot's order",
                    field_errors={"client_order_id": "already used"},
                )
            return existing  # the same request again: answered, never sent twice
    with bot_lease(bot) as held:
        if not held:
            raise _refuse(Refusal(Gate.BOT_BUSY, f"{bot.name} is busy (a cycle or reconciliation is running); "
                            "try again"), actor, bot, inputs)
        return _place(
            bot=bot, side=side, quantity=quantity, limit_price=price, actor=actor,
            client_order_id=client_order_id or manual_client_order_id(bot),
            reason=reason or f"manual live order by {actor.name}", inputs=inputs, engine=engine,
        )


def positions_flatten(
    *, bot: Bot, actor: Actor, confirm: bool, engine: live.LiveExecutionEngine | None = None
) -> Order:
    """Sell the bot's whole live position at market (admin only, with ``confirm``).

    The bot's open live orders are canceled on the exchange first (they would
    hold part of the position); the SELL then goes through every gate, where
    nothing but the position caps it.
    """
    inputs: dict[str, Any] = {"flatten": True, "confirm": confirm}
    _require_admin(bot, actor, inputs, "flatten positions")
    if confirm is not True:
        raise FlattenNotConfirmed(
            f"flattening sells all of {bot.name}'s position at market: confirm it",
            field_errors={"confirm": "must be true"},
        )
    with bot_lease(bot) as held:
        if not held:
            raise _refuse(Refusal(Gate.BOT_BUSY, f"{bot.name} is busy (a cycle or reconciliation is running); "
                            "try again"), actor, bot, inputs)
        bot.refresh_from_db()
        config = BotConfig.objects.filter(bot=bot, is_active=True).first()
        refusal = live.gate_refusal(bot=bot, config=config, side="SELL", quantity=ZERO, price=None, size=False)
        if refusal is not None:
            raise _refuse(refusal, actor, bot, inputs)
        assert config is not None
        engine = engine or live.LiveExecutionEngine()
        try:
            live.cancel_open_orders(actor=actor, reason=f"flatten {bot.name}", bot=bot, engine=engine)
            rules = engine.rules(config.symbol)
        except ExchangeError as exc:
            raise _exchange_problem(exc, actor, bot, inputs) from exc
        held_qty = Position.objects.filter(bot=bot, symbol=config.symbol).values_list("quantity", flat=True).first()
        quantity = rules.round_quantity(held_qty or ZERO)
        if quantity <= 0 or quantity < rules.min_qty:
            raise NothingToFlatten(f"{bot.name} holds {held_qty or 0} {config.symbol}: nothing the exchange "
                                   f"would sell (step {rules.step_size}, min qty {rules.min_qty})")
        record("trading.positions.flatten", actor, f"flattening {bot.name}: SELL {quantity} {config.symbol} "
               "at market", inputs={**inputs, "position": held_qty}, result={"quantity": quantity}, bot=bot)
        return _place(
            bot=bot, side="SELL", quantity=quantity, limit_price=None, actor=actor,
            client_order_id=manual_client_order_id(bot), reason=f"flatten by {actor.name}",
            inputs={**inputs, "side": "SELL", "quantity": quantity}, engine=engine,
        )


def _place(
    *,
    bot: Bot,
    side: str,
    quantity: Decimal,
    limit_price: Decimal | None,
    actor: Actor,
    client_order_id: str,
    reason: str,
    inputs: dict[str, Any],
    engine: live.LiveExecutionEngine | None,
) -> Order:
    """Under the lease: gates, exchange filters, store, send, apply."""
    bot.refresh_from_db()
    config = BotConfig.objects.filter(bot=bot, is_active=True).first()
    # The gates that need no exchange first: a refused order asks nothing of it.
    refusal = live.gate_refusal(bot=bot, config=config, side=side, quantity=quantity, price=None, size=False)
    if refusal is not None:
        raise _refuse(refusal, actor, bot, inputs)
    assert config is not None
    engine = engine or live.LiveExecutionEngine()
    try:
        rules = engine.rules(config.symbol)
        market_price = engine.price(config.symbol)
    except ExchangeError as exc:
        raise _exchange_problem(exc, actor, bot, inputs) from exc
    rounded = rules.round_quantity(quantity)
    limit = rules.round_price(limit_price) if limit_price is not None else None
    price = limit if limit is not None else market_price
    inputs = {**inputs, "symbol": config.symbol, "rounded_quantity": rounded, "rounded_price": limit,
              "market_price": market_price}
    refusal = live.filters_refusal(rules, quantity=rounded, price=price, limit_price=limit) or live.gate_refusal(
        bot=bot, config=config, side=side, quantity=rounded, price=price
    )
    if refusal is not None:
        raise _refuse(refusal, actor, bot, inputs)
    try:
        with transaction.atomic():
            order = live.order_store(
                bot=bot, config=config, client_order_id=client_order_id, side=side, quantity=rounded,
                order_type=Order.Type.LIMIT if limit is not None else Order.Type.MARKET, limit_price=limit,
                reason=reason,
            )
    except IntegrityError:
        raise LiveOrderInvalid("client_order_id is already used",
                               field_errors={"client_order_id": "already used"}) from None
    outcome = live.order_send(order=order, actor=actor, price=price, engine=engine)
    if isinstance(outcome.error, IpBanned):
        live.pause_on_repeated_bans()
    if outcome.refusal is not None:
        raise LiveOrderRefused(outcome.refusal)
    return outcome.order


def _require_admin(bot: Bot, actor: Actor, inputs: dict[str, Any], what: str) -> None:
    if actor.role != Role.ADMIN:
        raise _refuse(Refusal(Gate.ADMIN_ONLY, f"{actor.role.label} may not {what}: needs admin"), actor, bot, inputs)


def _refuse(refusal: Refusal, actor: Actor, bot: Bot, inputs: dict[str, Any]) -> LiveOrderRefused:
    """Record the refusal (committed on its own: the caller raises what this returns)."""
    live.refusal_record(refusal, actor=actor, bot=bot, inputs=inputs)
    return LiveOrderRefused(refusal)


def _exchange_problem(exc: ExchangeError, actor: Actor, bot: Bot, inputs: dict[str, Any]) -> live.ExchangeProblem:
    record("trading.live.failed", actor, f"the exchange could not be asked: {exc.message}; nothing was sent",
           inputs=inputs, result=exc.as_dict(), bot=bot)
    if isinstance(exc, IpBanned):
        live.pause_on_repeated_bans()
    return live.ExchangeProblem(f"the exchange could not be asked: {exc.message}; nothing was sent")


def _validate(side: str, quantity: Any, price: Any, client_order_id: str) -> dict[str, str]:
    errors: dict[str, str] = {}
    if side not in ("BUY", "SELL"):
        errors["side"] = "must be BUY or SELL"
    if not _positive(quantity):
        errors["quantity"] = "must be a positive decimal number"
    if price is not None and not _positive(price):
        errors["price"] = "must be a positive decimal number (or left out for a market order)"
    if client_order_id and not CLIENT_ORDER_ID.match(client_order_id):
        errors["client_order_id"] = "1-36 characters of A-Z a-z 0-9 . _ -"
    return errors


def _positive(value: Any) -> bool:
    # Money is Decimal end to end: a float or a string is a caller's bug, refused.
    return isinstance(value, Decimal) and value.is_finite() and value > 0
