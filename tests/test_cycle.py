"""The trading cycle over replayed real candles: what it decides, writes and records."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Sum

from audit.actors import Actor, Role
from audit.models import Event
from audit.services import verify_chain
from tests.factories import BotConfigFactory, BotFactory
from trading import cycle, state
from trading.market_data import ReplaySource
from trading.models import (
    Bot,
    CycleRun,
    EquitySnapshot,
    Fill,
    MetricsSnapshot,
    Order,
    Position,
    SystemState,
)
from trading.timeframes import from_ms

SCHEDULER = Actor.scheduler()
ADMIN = Actor("admin", Role.ADMIN)


def make_bot(symbol: str = "BTCUSDT", timeframe: str = "1m", **limits: object) -> Bot:
    config = BotConfigFactory(
        version=1, symbol=symbol, timeframe=timeframe, strategy="sma_cross",
        strategy_params={"fast": 10, "slow": 30}, risk_limits=dict(limits),
    )
    return config.bot


def closes_of(replay: ReplaySource, symbol: str, timeframe: str, first: int, count: int) -> list:  # type: ignore[type-arg]
    series = replay.series(symbol, timeframe)
    return [from_ms(int(series.open_time[i + 1])) for i in range(first, first + count)]


@pytest.mark.django_db
def test_cycles_over_real_candles_agree_with_themselves(replay, running) -> None:  # type: ignore[no-untyped-def]
    bot = make_bot()
    for now in closes_of(replay, "BTCUSDT", "1m", 0, 300):
        outcome = cycle.run_cycle(bot, now, SCHEDULER)
        assert outcome.status == "done", outcome.message
    bot.refresh_from_db()
    orders = list(Order.objects.filter(bot=bot).order_by("created_at"))
    assert len(orders) >= 4, "300 minutes of BTC should hold a few SMA 10/30 crossings"
    assert [o.side for o in orders] == ["BUY", "SELL"] * (len(orders) // 2) + ["BUY"] * (len(orders) % 2)
    assert all(o.status == Order.Status.FILLED and o.fills.count() == 1 for o in orders)

    fills = Fill.objects.filter(bot=bot)
    bought = fills.filter(side="BUY").aggregate(q=Sum("quantity"), c=Sum("quote_quantity"))
    sold = fills.filter(side="SELL").aggregate(q=Sum("quantity"), c=Sum("quote_quantity"))
    fees = fills.aggregate(f=Sum("fee"))["f"]
    position = Position.objects.get(bot=bot, symbol="BTCUSDT")
    # the books balance to the last unit
    assert position.quantity == bought["q"] - (sold["q"] or 0)
    assert bot.cash == bot.initial_cash - bought["c"] + (sold["c"] or 0) - fees
    assert position.fees_paid == fees
    assert position.realized_pnl == fills.filter(side="SELL").aggregate(r=Sum("realized_pnl"))["r"]
    last = EquitySnapshot.objects.filter(bot=bot).order_by("-taken_at").first()
    assert last.equity == bot.cash + position.quantity * position.last_price
    assert EquitySnapshot.objects.filter(bot=bot).count() == 300
    assert MetricsSnapshot.objects.filter(bot=bot).count() == 300
    assert MetricsSnapshot.objects.filter(bot=bot).latest("taken_at").trade_count == len(orders) // 2
    assert CycleRun.objects.filter(bot=bot, status="done").count() == 300
    # one event per order fill and per cycle, with the inputs behind each decision
    assert Event.objects.filter(bot=bot, type="trading.order.filled").count() == len(orders)
    completed = Event.objects.filter(bot=bot, type="trading.cycle.completed").order_by("seq")
    assert completed.count() == 300
    buy_event = next(e for e in completed if e.result["client_order_id"] == orders[0].client_order_id)
    assert buy_event.inputs["signal"] == "BUY"
    assert buy_event.inputs["config_version"] == bot.active_config.version
    assert {"sma_fast", "sma_slow", "close"} <= set(buy_event.inputs["indicators"])
    assert buy_event.actor == "scheduler"
    assert verify_chain().ok


@pytest.mark.django_db
def test_a_duplicated_cycle_for_the_same_candle_places_no_second_order(replay, running) -> None:  # type: ignore[no-untyped-def]
    bot = make_bot()
    closes = closes_of(replay, "BTCUSDT", "1m", 0, 120)
    first_order = None
    for now in closes:
        outcome = cycle.run_cycle(bot, now, SCHEDULER)
        if outcome.order is not None:
            first_order = (now, outcome.order)
            break
    assert first_order is not None
    now, order = first_order
    again = cycle.run_cycle(bot, now, SCHEDULER)
    later = cycle.run_cycle(bot, now + timedelta(seconds=20), SCHEDULER)  # same candle, later tick
    assert again.status == "skipped" and later.status == "skipped"
    assert Order.objects.filter(bot=bot).count() == 1
    assert Event.objects.filter(type="trading.cycle.skipped", bot=bot).count() == 2


@pytest.mark.django_db
def test_client_order_ids_are_deterministic_and_short() -> None:
    bot = BotFactory()
    a = cycle.client_order_id(bot, 1747703220000, "BUY")
    assert a == cycle.client_order_id(bot, 1747703220000, "BUY")
    assert a != cycle.client_order_id(bot, 1747703220000, "SELL")
    assert a != cycle.client_order_id(bot, 1747703280000, "BUY")
    assert len(a) <= 36 and a.replace("-", "").isalnum()


@pytest.mark.django_db
def test_a_second_cycle_while_one_runs_is_skipped_and_recorded(replay, running) -> None:  # type: ignore[no-untyped-def]
    from django.utils import timezone

    bot = make_bot()
    Bot.objects.filter(pk=bot.pk).update(
        cycle_lock_token="someone-else", cycle_locked_until=timezone.now() + timedelta(minutes=1)
    )
    outcome = cycle.run_cycle(bot, closes_of(replay, "BTCUSDT", "1m", 40, 1)[0], SCHEDULER)
    assert outcome.status == "skipped"
    assert Event.objects.get(type="trading.cycle.skipped").result == {"skipped": "locked"}
    assert not EquitySnapshot.objects.exists()


@pytest.mark.django_db
def test_paused_system_blocks_orders_but_keeps_watching(replay) -> None:  # type: ignore[no-untyped-def]
    bot = make_bot()
    for now in closes_of(replay, "BTCUSDT", "1m", 0, 200):
        cycle.run_cycle(bot, now, SCHEDULER)
    assert not Order.objects.exists()
    blocked = Event.objects.filter(type="trading.risk.blocked")
    assert blocked.exists()
    assert all("SYSTEM_NOT_RUNNING" in e.result["reasons"] for e in blocked)
    assert CycleRun.objects.filter(decision="BLOCK").count() == blocked.count()


@pytest.mark.django_db
def test_drawdown_beyond_the_limit_stops_the_system(replay, running) -> None:  # type: ignore[no-untyped-def]
    bot = make_bot(max_drawdown_pct="0.001", fraction_of_equity="1", max_position_pct_equity="1")
    closes = closes_of(replay, "BTCUSDT", "1m", 0, 400)
    for now in closes:
        cycle.run_cycle(bot, now, SCHEDULER)
        if SystemState.objects.get(id=1).state == "EMERGENCY_STOP":
            break
    assert SystemState.objects.get(id=1).state == "EMERGENCY_STOP"
    change = Event.objects.get(type="system.state.changed")
    assert change.actor == "system" and "drawdown" in change.message


@pytest.mark.django_db
def test_a_bot_without_config_or_blocked_is_skipped(replay, running) -> None:  # type: ignore[no-untyped-def]
    bare = BotFactory()
    assert cycle.run_cycle(bare, closes_of(replay, "BTCUSDT", "1m", 40, 1)[0], SCHEDULER).status == "skipped"
    blocked = make_bot()
    Bot.objects.filter(pk=blocked.pk).update(trading_blocked_reason="balance mismatch")
    outcome = cycle.run_cycle(blocked, closes_of(replay, "BTCUSDT", "1m", 40, 1)[0], SCHEDULER)
    assert outcome.status == "skipped" and "balance mismatch" in outcome.message


@pytest.mark.django_db
def test_run_cycle_command_prints_the_decision_and_why(replay, running) -> None:  # type: ignore[no-untyped-def]
    bot = make_bot()
    out = io.StringIO()
    at = closes_of(replay, "BTCUSDT", "1m", 60, 1)[0]
    call_command("run_cycle", "--bot", bot.name, "--at", at.isoformat(), stdout=out)
    text = out.getvalue()
    assert "signal:" in text and "decision:" in text and "SMA10" in text
    with pytest.raises(CommandError, match="no bot named 'nope'"):
        call_command("run_cycle", "--bot", "nope")
    with pytest.raises(CommandError, match="not an ISO time"):
        call_command("run_cycle", "--bot", bot.name, "--at", "yesterday")


@pytest.mark.django_db
def test_state_changes_take_effect_on_the_next_cycle(replay) -> None:  # type: ignore[no-untyped-def]
    bot = make_bot()
    closes = closes_of(replay, "BTCUSDT", "1m", 0, 300)
    state.resume(actor=ADMIN)
    orders_before_pause = 0
    for i, now in enumerate(closes):
        if i == 150:
            state.pause(actor=ADMIN, reason="test")
            orders_before_pause = Order.objects.count()
        cycle.run_cycle(bot, now, SCHEDULER)
    assert orders_before_pause > 0
    assert Order.objects.count() == orders_before_pause
