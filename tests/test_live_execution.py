"""Live execution against the local fake Binance through the real client:
the path of an order (stored, claimed, sent, applied), lost replies, exchange
refusals and faults during a cycle."""

from __future__ import annotations

from audit.models import Event
from audit.services import verify_chain
from tests.fakes.binance import Fault
from tests.live_support import (
    ORDER,
    SCHEDULER,
    SYMBOL,
    D,
    buy_then_sell_path,
    live_orders,
    make_live_bot,
    minute,
)
from trading import cycle
from trading.models import Fill, Order, Position


def test_a_live_buy_is_stored_sent_once_and_booked_as_the_exchange_filled_it(live_env) -> None:  # type: ignore[no-untyped-def]
    buy_then_sell_path(live_env.fake)
    bot = make_live_bot()
    outcome = live_env.cycle(bot, minute(0))
    assert outcome.status == "done", outcome.message
    [order] = live_orders(bot)
    assert order.mode == "live" and order.side == "BUY" and order.status == Order.Status.FILLED
    assert order.sent_at is not None and order.exchange_status == "FILLED"
    on_exchange = live_env.fake.find_order(order.client_order_id)
    assert on_exchange is not None and on_exchange.status == "FILLED"
    assert order.exchange_order_id == str(on_exchange.order_id)
    assert live_env.orders_posted() == 1
    # Binance took its 0.1 % in BTC: the position is what the account holds,
    # and the cash paid is exactly quantity × price.
    [fill] = Fill.objects.filter(order=order)
    assert fill.price == D("101000") and fill.quantity == order.quantity == D("0.0099")
    assert fill.fee == D("0.0000099") and fill.fee_asset == "BTC"
    position = Position.objects.get(bot=bot, symbol=SYMBOL)
    btc_free, btc_locked = live_env.fake.balance("BTC")
    assert position.quantity == btc_free + btc_locked == D("0.0098901")
    bot.refresh_from_db()
    assert bot.cash == live_env.fake.balance("USDT")[0] == D("10000") - D("0.0099") * D("101000")
    assert position.cost_basis == D("999.9") and position.fees_paid == D("0.9999")
    types = list(Event.objects.filter(bot=bot).order_by("seq").values_list("type", flat=True))
    assert types.index("trading.order.submitted") < types.index("trading.order.filled")
    assert types[-1] == "trading.cycle.completed"
    assert verify_chain().ok


def test_a_live_sell_closes_the_position_and_the_books_match_the_exchange(live_env) -> None:  # type: ignore[no-untyped-def]
    buy_then_sell_path(live_env.fake)
    bot = make_live_bot()
    live_env.cycle(bot, minute(0))
    outcome = live_env.cycle(bot, minute(1))
    buy, sell = live_orders(bot)
    assert outcome.order == sell and sell.side == "SELL" and sell.status == Order.Status.FILLED
    # SELL the position rounded down to the step; the fee is in USDT
    assert sell.quantity == D("0.00989")
    position = Position.objects.get(bot=bot, symbol=SYMBOL)
    assert position.quantity == live_env.fake.balance("BTC")[0] == D("0.0000001")  # dust
    bot.refresh_from_db()
    assert bot.cash == live_env.fake.balance("USDT")[0]
    assert Fill.objects.get(order=sell).realized_pnl < 0


def test_a_lost_reply_after_the_exchange_accepted_the_order_never_gives_a_second_order(live_env) -> None:  # type: ignore[no-untyped-def]
    buy_then_sell_path(live_env.fake)
    bot = make_live_bot()
    live_env.fake.inject(ORDER, Fault.lose_response(method="POST"))
    outcome = live_env.cycle(bot, minute(0))
    [order] = live_orders(bot)
    # UNKNOWN first, then resolved by querying its client order id
    unknown = Event.objects.get(type="trading.order.unknown", bot=bot)
    assert unknown.result["status"] == "UNKNOWN"
    assert order.status == Order.Status.FILLED and outcome.order == order
    assert Event.objects.filter(type="trading.order.reconciled", bot=bot).count() == 1
    # the cycle run again for the same candle
    again = live_env.cycle(bot, minute(0))
    assert again.status == "skipped"
    assert len(live_env.fake.orders) == 1 and live_env.orders_posted() == 1
    assert Order.objects.filter(bot=bot).count() == 1 and Fill.objects.filter(bot=bot).count() == 1
    assert Position.objects.get(bot=bot).quantity == live_env.fake.balance("BTC")[0]


def test_an_order_left_unknown_is_resolved_by_the_next_cycle_before_anything_else_is_sent(live_env) -> None:  # type: ignore[no-untyped-def]
    buy_then_sell_path(live_env.fake)
    bot = make_live_bot()
    # The reply is lost and the query fails too (4 read attempts, all 502).
    live_env.fake.inject(ORDER, Fault.lose_response(method="POST"), *[Fault.server_error(method="GET")] * 4)
    live_env.cycle(bot, minute(0))
    [order] = live_orders(bot)
    assert order.status == Order.Status.UNKNOWN
    cid = order.client_order_id
    # Re-running the cycle for that candle: reconciled, nothing sent again.
    assert live_env.cycle(bot, minute(0)).status == "skipped"
    order.refresh_from_db()
    assert order.status == Order.Status.FILLED
    assert live_env.orders_posted() == 1
    assert [o.client_order_id for o in live_env.fake.orders] == [cid]
    assert Fill.objects.filter(order=order).count() == 1
    # and the next candle's SELL goes ahead
    live_env.cycle(bot, minute(1))
    assert [o.side for o in live_orders(bot)] == ["BUY", "SELL"]
    assert live_env.orders_posted() == 2


def test_an_unknown_order_the_exchange_never_got_is_rejected_after_asking_again(live_env) -> None:  # type: ignore[no-untyped-def]
    buy_then_sell_path(live_env.fake)
    bot = make_live_bot()
    # -1007 with HTTP 503: "execution status unknown"; the fake did not place it.
    live_env.fake.inject(ORDER, Fault.unknown_execution(method="POST"))
    live_env.cycle(bot, minute(0))
    [order] = live_orders(bot)
    assert order.status == Order.Status.REJECTED and "never placed" in order.status_reason
    assert live_env.fake.count(ORDER, "GET") == 4  # "does not exist" asked four times
    assert live_env.sleeps[-3:] == [0.5, 1.0, 2.0]  # backoff, on the injected sleep
    assert not live_env.fake.orders


def test_does_not_exist_twice_then_found_applies_the_fills_once(live_env) -> None:  # type: ignore[no-untyped-def]
    buy_then_sell_path(live_env.fake)
    bot = make_live_bot()
    not_yet = Fault.error(-2013, "Order does not exist.", method="GET")
    live_env.fake.inject(ORDER, Fault.lose_response(method="POST"), not_yet, not_yet)
    live_env.cycle(bot, minute(0))
    [order] = live_orders(bot)
    assert order.status == Order.Status.FILLED and order.fills.count() == 1
    assert live_env.sleeps[-2:] == [0.5, 1.0]


def test_insufficient_balance_rejects_the_order_with_the_exchange_message_and_no_retry(live_env) -> None:  # type: ignore[no-untyped-def]
    buy_then_sell_path(live_env.fake)
    bot = make_live_bot()
    live_env.fake.free["USDT"] = D("50")  # the bot thinks it has 10000: the exchange says no
    live_env.cycle(bot, minute(0))
    [order] = live_orders(bot)
    assert order.status == Order.Status.REJECTED
    assert order.status_reason == "Binance -2010: Account has insufficient balance for requested action."
    assert live_env.orders_posted() == 1 and not live_env.fake.orders
    event = Event.objects.get(type="trading.order.rejected", bot=bot)
    assert event.result["code"] == -2010
    assert not Fill.objects.exists()


def test_a_filter_failure_rejects_the_order_with_the_exchange_message(live_env) -> None:  # type: ignore[no-untyped-def]
    buy_then_sell_path(live_env.fake)
    bot = make_live_bot()
    live_env.fake.inject(ORDER, Fault.filter_failure("NOTIONAL", method="POST"))
    live_env.cycle(bot, minute(0))
    [order] = live_orders(bot)
    assert order.status == Order.Status.REJECTED and order.status_reason == "Binance -1013: Filter failure: NOTIONAL"
    assert live_env.orders_posted() == 1
    assert Event.objects.get(type="trading.order.rejected", bot=bot).result["filter"] == "NOTIONAL"


def test_a_timestamp_outside_the_recv_window_is_resolved_by_a_time_sync(live_env) -> None:  # type: ignore[no-untyped-def]
    buy_then_sell_path(live_env.fake)
    bot = make_live_bot()
    live_env.fake.inject(ORDER, Fault.timestamp_drift(method="POST"))
    live_env.cycle(bot, minute(0))
    [order] = live_orders(bot)
    assert order.status == Order.Status.FILLED
    assert live_env.orders_posted() == 2 and len(live_env.fake.orders) == 1  # refused, resynced, placed once
    assert Event.objects.filter(type="exchange.timestamp_resynced").count() == 1


def test_a_clock_gone_wrong_on_our_side_is_resynced_and_the_order_placed(live_env) -> None:  # type: ignore[no-untyped-def]
    buy_then_sell_path(live_env.fake)
    bot = make_live_bot()
    live_env.at(minute(0))
    live_env.adapter.client.timestamp_offset -= 30_000  # 30 s behind: the real -1021
    cycle.run_cycle(bot, minute(0), SCHEDULER)
    [order] = live_orders(bot)
    assert order.status == Order.Status.FILLED and len(live_env.fake.orders) == 1
    assert Event.objects.filter(type="exchange.timestamp_resynced").exists()


def test_rate_limited_on_the_order_post_is_not_placed_and_not_retried(live_env) -> None:  # type: ignore[no-untyped-def]
    buy_then_sell_path(live_env.fake)
    bot = make_live_bot()
    live_env.fake.inject(ORDER, Fault.rate_limited(retry_after=3, method="POST"))
    outcome = live_env.cycle(bot, minute(0))
    [order] = live_orders(bot)
    assert order.status == Order.Status.REJECTED and order.status_reason.startswith("not placed")
    assert live_env.orders_posted() == 1 and not live_env.fake.orders
    assert Event.objects.filter(type="exchange.rate_limited").count() == 1
    assert outcome.cycle.status == "done"
    completed = Event.objects.get(type="trading.cycle.completed", bot=bot)
    assert completed.result["exchange_error"]["error"] == "RateLimited"


def test_rate_limited_market_data_during_a_cycle_is_waited_out_then_recorded(live_env) -> None:  # type: ignore[no-untyped-def]
    buy_then_sell_path(live_env.fake)
    bot = make_live_bot()
    live_env.fake.inject("/api/v3/ticker/price", *[Fault.rate_limited(retry_after=2)] * 4)
    outcome = live_env.cycle(bot, minute(0))
    assert outcome.status == "skipped"
    skipped = Event.objects.get(type="trading.cycle.skipped", bot=bot)
    assert skipped.result["skipped"] == "rate_limited" and skipped.result["during"] == "market data"
    assert Event.objects.filter(type="exchange.rate_limited").count() == 4
    assert live_env.sleeps == [2, 2, 2]  # at least Retry-After between the 4 attempts
    assert live_env.orders_posted() == 0
    # the candle was not consumed: the next cycle at the same candle trades
    assert live_env.cycle(bot, minute(0)).order is not None


def test_an_ip_ban_during_a_cycle_is_recorded_and_repeated_bans_pause_the_system(live_env) -> None:  # type: ignore[no-untyped-def]
    from tests.live_support import FakeClock
    from trading.models import SystemState

    buy_then_sell_path(live_env.fake)
    bot = make_live_bot()
    clock = FakeClock(1_800_000_000.0)
    live_env.adapter.clock = clock
    for ban in range(3):
        live_env.fake.inject("/api/v3/ticker/price", Fault.banned(seconds=60))
        requests_before = live_env.requests()
        outcome = live_env.cycle(bot, minute(0))
        assert outcome.status == "skipped"
        assert Event.objects.filter(type="exchange.ip_banned").count() == ban + 1
        # while banned the breaker sends nothing: one more cycle asks nothing of the exchange
        held = live_env.requests()
        assert cycle.run_cycle(bot, minute(0), SCHEDULER).status == "skipped"
        assert live_env.requests() == held > requests_before
        clock.now += 61
        live_env.fake.advance(61)
        live_env.fake.set_clock(minute(0))
        live_env.fake.banned_until_ms = 0
    assert Event.objects.filter(type="trading.cycle.skipped", result__skipped="ip_banned").count() == 6
    state = SystemState.objects.get(id=1)
    assert state.state == "PAUSED" and state.changed_by == "system"
    assert "IP bans" in state.reason
    assert live_env.orders_posted() == 0


def test_an_unreadable_success_reply_is_unknown_and_resolved_by_query_not_rejected(live_env) -> None:  # type: ignore[no-untyped-def]
    buy_then_sell_path(live_env.fake)
    bot = make_live_bot()
    # 200 with a body that is not an order: the exchange may well have placed it
    live_env.fake.inject(ORDER, Fault("status", 200, '{"unexpected": true}', method="POST"))
    live_env.cycle(bot, minute(0))
    [order] = live_orders(bot)
    assert Event.objects.filter(type="trading.order.unknown", bot=bot).exists()
    # the fake did not place it (the fault replaced its answer): the query says so
    assert order.status == Order.Status.REJECTED and "never placed" in order.status_reason
    assert live_env.fake.count(ORDER, "GET") == 4

