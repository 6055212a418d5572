"""Every live gate closed in turn: the order is refused with the gate's name,
the refusal is recorded, and nothing is sent to the (fake) exchange. No
closed gate ever falls back to a paper fill."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from audit.actors import Actor
from audit.models import Event
from tests.factories import OrderFactory
from tests.live_support import ADMIN, OPERATOR, SYMBOL, D, LiveEnv, buy_then_sell_path, make_live_bot, minute
from trading.execution.live import Gate, LiveOrderRefused
from trading.live_orders import live_order_place
from trading.models import Bot, Fill, Order, Position, SystemState


def close_live_trading(env: LiveEnv, bot: Bot, settings: Any) -> None:
    settings.LIVE_TRADING_ENABLED = False


def paper_mode(env: LiveEnv, bot: Bot, settings: Any) -> None:
    bot.configs.update(mode="paper")


def no_secret(env: LiveEnv, bot: Bot, settings: Any) -> None:
    settings.BINANCE_API_SECRET = ""


def paused(env: LiveEnv, bot: Bot, settings: Any) -> None:
    SystemState.objects.filter(id=1).update(state="PAUSED")


def emergency(env: LiveEnv, bot: Bot, settings: Any) -> None:
    SystemState.objects.filter(id=1).update(state="EMERGENCY_STOP")


def blocked(env: LiveEnv, bot: Bot, settings: Any) -> None:
    Bot.objects.filter(pk=bot.pk).update(trading_blocked_reason="balance mismatch: test")


def busy(env: LiveEnv, bot: Bot, settings: Any) -> None:
    Bot.objects.filter(pk=bot.pk).update(
        cycle_lock_token="a-cycle", cycle_locked_until=timezone.now() + timezone.timedelta(minutes=1)
    )


def unresolved(env: LiveEnv, bot: Bot, settings: Any) -> None:
    OrderFactory(bot=bot, mode="live", status=Order.Status.UNKNOWN, client_order_id="tb-unknown-1",
                 sent_at=timezone.now())


STATIC_GATES: list[tuple[Gate, Callable[..., None], int]] = [
    (Gate.LIVE_TRADING_ENABLED, close_live_trading, 409),
    (Gate.BOT_MODE_LIVE, paper_mode, 409),
    (Gate.API_CREDENTIALS, no_secret, 409),
    (Gate.SYSTEM_RUNNING, paused, 409),
    (Gate.SYSTEM_RUNNING, emergency, 409),
    (Gate.BOT_BLOCKED, blocked, 409),
    (Gate.BOT_BUSY, busy, 409),
    (Gate.UNRESOLVED_ORDERS, unresolved, 409),
]


def assert_refused(bot: Bot, gate: Gate, exc: LiveOrderRefused, before_orders: int) -> None:
    assert exc.gate == gate and str(gate) in exc.message
    event = Event.objects.filter(type="trading.live.refused", bot=bot).latest("seq")
    assert event.result["gate"] == gate and event.result["refused"] is True
    assert Order.objects.count() == before_orders
    assert not Fill.objects.exists()


@pytest.mark.parametrize(("gate", "close", "status"), STATIC_GATES,
                         ids=[f"{g}-{c.__name__}" for g, c, _ in STATIC_GATES])
def test_a_manual_live_order_with_a_gate_closed_is_refused_and_nothing_reaches_the_exchange(
    live_env, settings, gate, close, status  # type: ignore[no-untyped-def]
) -> None:
    bot = make_live_bot()
    close(live_env, bot, settings)
    before = Order.objects.count()
    with pytest.raises(LiveOrderRefused) as refused:
        live_order_place(bot=bot, side="BUY", quantity=D("0.001"), price=None, actor=ADMIN)
    assert_refused(bot, gate, refused.value, before)
    assert refused.value.http_status == status
    assert live_env.requests() == 0  # not even a price was asked for


def test_a_non_admin_may_not_place_a_live_order(live_env) -> None:  # type: ignore[no-untyped-def]
    bot = make_live_bot()
    with pytest.raises(LiveOrderRefused) as refused:
        live_order_place(bot=bot, side="BUY", quantity=D("0.001"), price=None, actor=OPERATOR)
    assert_refused(bot, Gate.ADMIN_ONLY, refused.value, 0)
    assert refused.value.http_status == 403
    assert Event.objects.get(type="trading.live.refused").actor == "operator"
    assert live_env.requests() == 0


def test_a_buy_over_the_per_order_cap_is_refused_before_sending(live_env) -> None:  # type: ignore[no-untyped-def]
    bot = make_live_bot(max_order_notional="5000")
    with pytest.raises(LiveOrderRefused) as refused:
        live_order_place(bot=bot, side="BUY", quantity=D("1"), price=None, actor=ADMIN)
    assert_refused(bot, Gate.MAX_ORDER_NOTIONAL, refused.value, 0)
    assert "over the per-order cap 5000" in refused.value.message
    assert live_env.orders_posted() == 0


def test_a_sell_is_capped_by_the_position_only_never_by_the_order_cap(live_env) -> None:  # type: ignore[no-untyped-def]
    bot = make_live_bot(max_order_notional="10")
    Position.objects.create(bot=bot, symbol=SYMBOL, quantity=D("0.05"), cost_basis=D("5000"))
    live_env.fake.free["BTC"] = D("0.05")
    with pytest.raises(LiveOrderRefused) as refused:
        live_order_place(bot=bot, side="SELL", quantity=D("0.06"), price=None, actor=ADMIN)
    assert_refused(bot, Gate.POSITION, refused.value, 0)
    assert refused.value.field_errors == {"quantity": refused.value.refusal.message}
    with pytest.raises(LiveOrderRefused) as capped:
        live_order_place(bot=bot, side="BUY", quantity=D("0.001"), price=None, actor=ADMIN)
    assert capped.value.gate == Gate.MAX_ORDER_NOTIONAL
    # ~5,800 USDT of BTC with a 10 USDT order cap: the exit is never blocked by it
    order = live_order_place(bot=bot, side="SELL", quantity=D("0.05"), price=None, actor=ADMIN)
    assert order.status == Order.Status.FILLED and order.quantity * order.avg_fill_price > 10
    assert Position.objects.get(bot=bot).quantity == 0 == live_env.fake.balance("BTC")[0]
    assert live_env.orders_posted() == 1


def test_exchange_filters_are_applied_with_decimal_before_sending(live_env) -> None:  # type: ignore[no-untyped-def]
    bot = make_live_bot()
    with pytest.raises(LiveOrderRefused) as refused:
        live_order_place(bot=bot, side="BUY", quantity=D("0.000009"), price=None, actor=ADMIN)
    assert_refused(bot, Gate.EXCHANGE_FILTERS, refused.value, 0)
    assert refused.value.http_status == 400 and "MIN_QTY" in refused.value.message
    # a quantity between steps is rounded down, a price to the tick, then sent
    order = live_order_place(bot=bot, side="BUY", quantity=D("0.0012345"), price=D("50000.004"), actor=ADMIN)
    assert order.quantity == D("0.00123") and order.price == D("50000.00")
    assert order.status == Order.Status.OPEN
    on_exchange = live_env.fake.find_order(order.client_order_id)
    assert on_exchange.quantity == D("0.00123") and on_exchange.price == D("50000.00")
    assert live_env.orders_posted() == 1


def test_a_manual_order_is_idempotent_on_its_client_order_id(live_env) -> None:  # type: ignore[no-untyped-def]
    bot = make_live_bot()
    first = live_order_place(bot=bot, side="BUY", quantity=D("0.001"), price=None, actor=ADMIN,
                             client_order_id="manual-key-1")
    again = live_order_place(bot=bot, side="BUY", quantity=D("0.001"), price=None, actor=ADMIN,
                             client_order_id="manual-key-1")
    assert first.pk == again.pk and first.status == Order.Status.FILLED
    assert live_env.orders_posted() == 1 and len(live_env.fake.orders) == 1


def test_bad_manual_input_is_a_field_error_and_nothing_is_written(live_env) -> None:  # type: ignore[no-untyped-def]
    from trading.live_orders import LiveOrderInvalid

    bot = make_live_bot()
    with pytest.raises(LiveOrderInvalid) as invalid:
        live_order_place(bot=bot, side="HOLD", quantity=Decimal("-1"), price=Decimal("0"), actor=ADMIN,
                         client_order_id="bad id with spaces")
    assert set(invalid.value.field_errors) == {"side", "quantity", "price", "client_order_id"}
    assert invalid.value.http_status == 400
    assert not Order.objects.exists() and live_env.requests() == 0


CYCLE_GATES: list[tuple[Gate, Callable[..., None]]] = [
    (Gate.LIVE_TRADING_ENABLED, close_live_trading),
    (Gate.API_CREDENTIALS, no_secret),
]


@pytest.mark.parametrize(("gate", "close"), CYCLE_GATES, ids=[str(g) for g, _ in CYCLE_GATES])
def test_a_live_cycle_with_a_gate_closed_refuses_its_order_and_never_fills_it_on_paper(
    live_env, settings, gate, close  # type: ignore[no-untyped-def]
) -> None:
    buy_then_sell_path(live_env.fake)
    bot = make_live_bot()
    close(live_env, bot, settings)
    outcome = live_env.cycle(bot, minute(0))
    assert outcome.status == "done" and outcome.decision.verdict == "ALLOW" and outcome.order is None
    event = Event.objects.get(type="trading.live.refused", bot=bot)
    assert event.result["gate"] == gate and event.inputs["side"] == "BUY"
    assert not Order.objects.exists() and not Fill.objects.exists()
    assert not Position.objects.filter(bot=bot, quantity__gt=0).exists()
    assert live_env.orders_posted() == 0
    completed = Event.objects.get(type="trading.cycle.completed", bot=bot)
    assert completed.result["refused_gate"] == gate
    bot.refresh_from_db()
    assert bot.cash == Decimal("10000")


def test_a_gate_that_closes_between_storing_and_sending_cancels_the_order_unsent(live_env) -> None:  # type: ignore[no-untyped-def]
    from trading.execution import live

    bot = make_live_bot()
    config = bot.active_config
    order = live.order_store(bot=bot, config=config, client_order_id="tb-race-1", side="BUY", quantity=D("0.001"))
    SystemState.objects.filter(id=1).update(state="EMERGENCY_STOP")
    outcome = live.order_send(order=order, actor=Actor.scheduler(), price=D("100000"))
    assert not outcome.sent and outcome.refusal.gate == Gate.SYSTEM_RUNNING
    assert outcome.order.status == Order.Status.CANCELED and outcome.order.sent_at is None
    assert live_env.orders_posted() == 0
