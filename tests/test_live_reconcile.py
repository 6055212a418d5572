"""Reconciliation with the (fake) exchange: a restart with orders open and
fills that happened meanwhile, emergency-stop cancels, and balance
mismatches that block a bot until an operator acknowledges them."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from audit.actors import Actor, Role
from audit.models import Event
from audit.services import verify_chain
from tests.fakes.binance import Fault
from tests.live_support import (
    ADMIN,
    OPERATOR,
    ORDER,
    SYMBOL,
    D,
    buy_then_sell_path,
    live_orders,
    make_live_bot,
    minute,
)
from trading import state
from trading.execution import live
from trading.execution.live import Gate, LiveOrderRefused
from trading.live_orders import live_order_place
from trading.models import BalanceMismatch, Bot, Fill, Order, Position
from trading.reconcile import AcknowledgeNotAllowed, NoteRequired, mismatch_acknowledge


def books_match_the_exchange(env, bot) -> None:  # type: ignore[no-untyped-def]
    bot.refresh_from_db()
    btc_free, btc_locked = env.fake.balance("BTC")
    usdt_free, usdt_locked = env.fake.balance("USDT")
    position = Position.objects.filter(bot=bot, symbol=SYMBOL).first()
    assert (position.quantity if position else 0) == btc_free + btc_locked
    assert bot.cash == usdt_free + usdt_locked
    for order in Order.objects.filter(bot=bot):
        on_exchange = env.fake.find_order(order.client_order_id)
        if on_exchange is None:
            assert order.status in (Order.Status.REJECTED, Order.Status.CANCELED)
            continue
        assert order.filled_quantity == on_exchange.executed_qty
        assert sorted(Fill.objects.filter(order=order).values_list("trade_id", flat=True)) == sorted(
            str(t["id"]) for t in env.fake.trades(order.client_order_id)
        )


def test_a_restart_with_orders_open_and_fills_while_down_is_reconciled_once(live_env) -> None:  # type: ignore[no-untyped-def]
    bot = make_live_bot()
    resting = live_order_place(bot=bot, side="BUY", quantity=D("0.002"), price=D("60000"), actor=ADMIN)
    filled_later = live_order_place(bot=bot, side="BUY", quantity=D("0.001"), price=D("61000"), actor=ADMIN)
    assert resting.status == filled_later.status == Order.Status.OPEN
    # a market order whose reply was lost and that could not be queried before we went down
    live_env.fake.inject(ORDER, Fault.lose_response(method="POST"), *[Fault.server_error(method="GET")] * 4)
    lost = live_order_place(bot=bot, side="BUY", quantity=D("0.001"), price=None, actor=ADMIN)
    assert lost.status == Order.Status.UNKNOWN
    # while nothing runs, the exchange fills
    live_env.fake.fill_order(resting.client_order_id, quantity=D("0.0005"))
    live_env.fake.fill_order(filled_later.client_order_id)

    out = io.StringIO()
    call_command("reconcile", "--bot", bot.name, stdout=out)
    assert "3 open order(s) checked, 3 changed, 3 fill(s) applied" in out.getvalue()
    resting.refresh_from_db()
    filled_later.refresh_from_db()
    lost.refresh_from_db()
    assert resting.status == Order.Status.PARTIALLY_FILLED and resting.filled_quantity == D("0.0005")
    assert filled_later.status == Order.Status.FILLED
    assert lost.status == Order.Status.FILLED
    books_match_the_exchange(live_env, bot)
    assert not BalanceMismatch.objects.exists()

    # again: nothing new, nothing booked twice
    fills = Fill.objects.count()
    call_command("reconcile", stdout=io.StringIO())
    assert Fill.objects.count() == fills
    # the rest fills later; the next reconciliation books only that
    live_env.fake.fill_order(resting.client_order_id)
    call_command("reconcile", stdout=io.StringIO())
    resting.refresh_from_db()
    assert resting.status == Order.Status.FILLED and resting.fills.count() == 2
    books_match_the_exchange(live_env, bot)
    assert live_env.orders_posted() == 3
    assert Event.objects.filter(type="trading.reconcile.completed").count() == 3
    assert verify_chain().ok


def test_a_starting_worker_reconciles_live_bots(live_env, eager_celery) -> None:  # type: ignore[no-untyped-def]
    from tradingsite.celery import reconcile_on_start

    bot = make_live_bot()
    resting = live_order_place(bot=bot, side="BUY", quantity=D("0.002"), price=D("60000"), actor=ADMIN)
    live_env.fake.fill_order(resting.client_order_id)
    reconcile_on_start(sender=None)  # eager: the task runs here instead of on a broker
    resting.refresh_from_db()
    assert resting.status == Order.Status.FILLED
    event = Event.objects.get(type="trading.reconcile.completed")
    assert event.actor == "system" and event.result["fills_applied"] == 1


def test_a_cycle_reconciles_before_it_decides(live_env) -> None:  # type: ignore[no-untyped-def]
    buy_then_sell_path(live_env.fake)
    bot = make_live_bot()
    resting = live_order_place(bot=bot, side="BUY", quantity=D("0.001"), price=D("60000"), actor=ADMIN)
    live_env.fake.fill_order(resting.client_order_id)
    outcome = live_env.cycle(bot, minute(0))
    resting.refresh_from_db()
    assert resting.status == Order.Status.FILLED
    assert outcome.cycle.status == "done"
    completed = Event.objects.get(type="trading.cycle.completed", bot=bot)
    assert completed.inputs["reconciliation"]["fills_applied"] == 1
    books_match_the_exchange(live_env, bot)


def test_an_emergency_stop_cancels_open_orders_on_the_exchange(
    live_env, django_capture_on_commit_callbacks  # type: ignore[no-untyped-def]
) -> None:
    bot = make_live_bot()
    resting = live_order_place(bot=bot, side="BUY", quantity=D("0.002"), price=D("60000"), actor=ADMIN)
    # this one filled on the exchange a moment before the stop: not "canceled"
    filled = live_order_place(bot=bot, side="BUY", quantity=D("0.001"), price=D("61000"), actor=ADMIN)
    live_env.fake.fill_order(filled.client_order_id)
    # and one stored but never sent: canceled locally, never sent afterwards
    unsent = live.order_store(bot=bot, config=bot.active_config, client_order_id="tb-unsent-1", side="BUY",
                              quantity=D("0.001"))
    with django_capture_on_commit_callbacks(execute=True):
        state.emergency_stop(actor=OPERATOR, reason="test stop")
    resting.refresh_from_db()
    filled.refresh_from_db()
    unsent.refresh_from_db()
    assert live_env.fake.find_order(resting.client_order_id).status == "CANCELED"
    assert resting.status == Order.Status.CANCELED
    assert filled.status == Order.Status.FILLED and filled.fills.count() == 1
    assert unsent.status == Order.Status.CANCELED and unsent.sent_at is None
    assert live_env.fake.count(ORDER, "DELETE") == 2
    canceled = Event.objects.filter(type="trading.order.canceled").values_list("inputs__client_order_id", flat=True)
    assert set(canceled) == {resting.client_order_id, unsent.client_order_id}
    assert Event.objects.get(type="trading.order.cancel_unconfirmed").inputs["client_order_id"] == \
        filled.client_order_id
    outcome = live.order_send(order=unsent, actor=ADMIN, price=D("100000"))
    assert not outcome.sent and live_env.orders_posted() == 2
    books_match_the_exchange(live_env, bot)


def test_orders_left_open_by_a_failed_cancel_are_canceled_by_reconciliation_while_stopped(
    live_env, django_capture_on_commit_callbacks  # type: ignore[no-untyped-def]
) -> None:
    bot = make_live_bot()
    resting = live_order_place(bot=bot, side="BUY", quantity=D("0.002"), price=D("60000"), actor=ADMIN)
    live_env.fake.inject(ORDER, Fault.rate_limited(method="DELETE"))
    with django_capture_on_commit_callbacks(execute=True):
        state.emergency_stop(actor=OPERATOR, reason="test stop")
    resting.refresh_from_db()
    assert resting.status == Order.Status.OPEN
    assert Event.objects.filter(type="trading.order.cancel_failed").exists()
    call_command("reconcile", stdout=io.StringIO())
    resting.refresh_from_db()
    assert resting.status == Order.Status.CANCELED
    assert live_env.fake.find_order(resting.client_order_id).status == "CANCELED"


def test_a_balance_mismatch_blocks_the_bot_until_an_operator_acknowledges_it(live_env) -> None:  # type: ignore[no-untyped-def]
    buy_then_sell_path(live_env.fake)
    bot = make_live_bot()
    live_env.cycle(bot, minute(0))
    assert Order.objects.get(bot=bot).status == Order.Status.FILLED
    live_env.fake.free["BTC"] += D("0.5")  # coins that are not the bot's
    outcome = live_env.cycle(bot, minute(1))
    assert outcome.status == "skipped" and "balance mismatch" in outcome.message
    mismatch = BalanceMismatch.objects.get(bot=bot)
    assert mismatch.asset == "BTC" and mismatch.difference == D("0.5") and mismatch.is_open
    assert mismatch.tolerance == D("0.00001")
    event = Event.objects.get(type="trading.balance.mismatch", bot=bot)
    assert event.result["blocked"] is True
    assert [o.side for o in live_orders(bot)] == ["BUY"]  # the SELL signal was not acted on
    # blocked for manual orders too, and recorded once however often it is seen
    with pytest.raises(LiveOrderRefused) as refused:
        live_order_place(bot=bot, side="SELL", quantity=D("0.001"), price=None, actor=ADMIN)
    assert refused.value.gate == Gate.BOT_BLOCKED
    live_env.cycle(bot, minute(1))
    assert BalanceMismatch.objects.count() == 1

    with pytest.raises(AcknowledgeNotAllowed):
        mismatch_acknowledge(bot=bot, actor=Actor("viewer", Role.VIEWER), note="looks fine")
    with pytest.raises(NoteRequired):
        mismatch_acknowledge(bot=bot, actor=OPERATOR, note=" ")
    out = io.StringIO()
    call_command("acknowledge_mismatch", "--bot", bot.name, "--note", "0.5 BTC deposited by hand", stdout=out)
    assert "unblocked" in out.getvalue()
    bot.refresh_from_db()
    assert bot.trading_blocked_reason == ""
    ack = Event.objects.get(type="trading.balance.acknowledged")
    assert ack.inputs["note"] == "0.5 BTC deposited by hand" and ack.actor == "command:acknowledge_mismatch"

    # the acknowledged difference is accepted: the SELL goes ahead
    outcome = live_env.cycle(bot, minute(1))
    assert outcome.order is not None and outcome.order.side == "SELL"
    assert BalanceMismatch.objects.count() == 1
    # a new difference blocks again
    live_env.fake.free["BTC"] -= D("0.2")
    assert live_env.cycle(bot, minute(2)).status == "skipped"
    assert BalanceMismatch.objects.filter(acknowledged_at__isnull=True).count() == 1
    assert Bot.objects.get(pk=bot.pk).trading_blocked_reason.startswith("balance mismatch")


def test_a_difference_within_the_step_size_is_not_a_mismatch(live_env) -> None:  # type: ignore[no-untyped-def]
    buy_then_sell_path(live_env.fake)
    bot = make_live_bot()
    live_env.cycle(bot, minute(0))
    live_env.fake.free["BTC"] += D("0.000009")  # under one step (0.00001)
    assert live_env.cycle(bot, minute(1)).status == "done"
    assert not BalanceMismatch.objects.exists()


def test_acknowledging_with_nothing_to_acknowledge_is_refused(live_env) -> None:  # type: ignore[no-untyped-def]
    bot = make_live_bot()
    with pytest.raises(CommandError, match="no balance mismatch"):
        call_command("acknowledge_mismatch", "--bot", bot.name, "--note", "why not", stdout=io.StringIO())


def test_reconciling_without_credentials_says_so_and_asks_nothing(live_env, settings) -> None:  # type: ignore[no-untyped-def]
    make_live_bot()
    settings.BINANCE_API_SECRET = ""
    with pytest.raises(CommandError, match="nothing was assumed"):
        call_command("reconcile", stdout=io.StringIO())
    failed = Event.objects.get(type="trading.reconcile.failed")
    assert "no API credentials" in failed.message
    assert live_env.requests() == 0
