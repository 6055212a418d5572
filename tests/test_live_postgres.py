"""Live execution under real concurrency, on PostgreSQL (SQLite serialises
writers, so row locks prove nothing there): concurrent appliers of the same
exchange fills book each fill once, and one bot's live orders are single-flight."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.live_support import ADMIN, SYMBOL, D, make_live_bot
from tests.test_postgres_concurrency import run_in_threads
from trading.adapters.binance import BinanceAdapter, build_client
from trading.execution import live
from trading.execution.live import Gate, LiveOrderRefused
from trading.live_orders import live_order_place
from trading.models import Bot, Fill, Order, Position

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def own_engine(settings) -> live.LiveExecutionEngine:  # type: ignore[no-untyped-def]
    """An engine with its own HTTP client, as another worker process would have."""
    client = build_client(api_key=settings.BINANCE_API_KEY, api_secret=settings.BINANCE_API_SECRET,
                          base_url=settings.BINANCE_BASE_URL, testnet=False)
    return live.LiveExecutionEngine(BinanceAdapter(client, sleep=lambda s: None))


def test_concurrent_reconciliations_book_each_fill_once(live_env, settings) -> None:  # type: ignore[no-untyped-def]
    bot = make_live_bot()
    order = live_order_place(bot=bot, side="BUY", quantity=D("0.002"), price=D("60000"), actor=ADMIN)
    live_env.fake.fill_order(order.client_order_id, quantity=D("0.0005"))
    live_env.fake.fill_order(order.client_order_id)
    engines = [own_engine(settings) for _ in range(4)]

    def reconcile(index: int) -> str:
        found = Order.objects.get(pk=order.pk)
        return live.order_reconcile(order=found, actor=ADMIN, engine=engines[index]).status

    results = run_in_threads(4, reconcile)
    assert results == ["FILLED"] * 4, results
    assert Fill.objects.filter(order=order).count() == 2
    position = Position.objects.get(bot=bot, symbol=SYMBOL)
    assert position.quantity == live_env.fake.balance("BTC")[0]
    assert Bot.objects.get(pk=bot.pk).cash == sum(live_env.fake.balance("USDT"))


def test_two_manual_orders_at_once_for_one_bot_place_one_and_refuse_the_other(live_env, settings) -> None:  # type: ignore[no-untyped-def]
    from tests.fakes.binance import Fault

    bot = make_live_bot()
    engines = [own_engine(settings) for _ in range(2)]
    # The first order to reach the exchange is answered after 2 s: its sender
    # holds the bot's lease all that time, while the other one tries.
    live_env.fake.inject("/api/v3/order", Fault.timeout(2.0, method="POST"))

    def place(index: int) -> str:
        return live_order_place(bot=Bot.objects.get(pk=bot.pk), side="BUY", quantity=Decimal("0.001"),
                                price=D("50000"), actor=ADMIN, engine=engines[index]).status

    results = run_in_threads(2, place)
    assert results.count("OPEN") == 1, results
    [refused] = [r for r in results if isinstance(r, LiveOrderRefused)]
    assert refused.gate == Gate.BOT_BUSY
    assert len(live_env.fake.orders) == 1 == Order.objects.count()
