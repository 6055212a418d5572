"""Two cycles of the same bot at once, in separate processes, on PostgreSQL."""

from __future__ import annotations

import multiprocessing

import pytest
from django.db import connections

from audit.actors import Actor
from audit.services import verify_chain
from tests.factories import BotConfigFactory
from trading.market_data import ReplaySource, refresh
from trading.models import Order, SystemState
from trading.timeframes import from_ms

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _cycle(bot_id: int, now_ms: int, start, results) -> None:  # type: ignore[no-untyped-def]
    from trading.cycle import run_cycle
    from trading.models import Bot

    start.wait(30)
    outcome = run_cycle(Bot.objects.get(pk=bot_id), from_ms(now_ms), Actor.scheduler())
    results.put((outcome.status, outcome.order is not None, outcome.message))
    connections.close_all()


def test_two_concurrent_cycles_for_one_candle_place_one_order(settings) -> None:  # type: ignore[no-untyped-def]
    settings.MARKET_DATA = "replay"
    SystemState.objects.update_or_create(id=1, defaults={"state": "RUNNING"})
    series = ReplaySource().series("BTCUSDT", "1m")
    from trading.strategies.registry import get_strategy

    actions = get_strategy("sma_cross").signals(series[:500], {"fast": 10, "slow": 30}).actions
    buy = next(i for i in range(60, 500) if actions[i] == 1)
    now_ms = int(series.open_time[buy + 1])
    bot = BotConfigFactory(symbol="BTCUSDT", timeframe="1m").bot
    refresh("BTCUSDT", "1m", now=from_ms(now_ms), since=from_ms(int(series.open_time[0])))
    connections.close_all()  # children must not share this process's connection

    ctx = multiprocessing.get_context("fork")
    start, results = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_cycle, args=(bot.pk, now_ms, start, results)) for _ in range(2)]
    for proc in procs:
        proc.start()
    start.set()
    for proc in procs:
        proc.join(60)
    outcomes = [results.get(timeout=5) for _ in procs]
    assert sorted(o[0] for o in outcomes) == ["done", "skipped"], outcomes
    assert sum(o[1] for o in outcomes) == 1
    assert Order.objects.filter(bot=bot).count() == 1
    assert verify_chain().ok
