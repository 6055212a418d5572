"""Triggering one cycle over the API, on replayed real candles: the answer says
what the strategy saw, what the risk engine decided and why, and the order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest

from audit.models import Event
from tests.api_support import token_client
from tests.factories import BotConfigFactory
from trading import clock
from trading.market_data import ReplaySource
from trading.models import Bot, CycleRun, Order, SystemState
from trading.strategies.registry import get_strategy
from trading.timeframes import from_ms

PARAMS = {"fast": 10, "slow": 30}


def make_bot() -> Bot:
    return BotConfigFactory(symbol="BTCUSDT", timeframe="1m", strategy="sma_cross", strategy_params=PARAMS).bot


def set_state(value: str) -> None:
    SystemState.objects.update_or_create(id=1, defaults={"state": value})


def just_after_close_of_first(replay: ReplaySource, action: int) -> datetime:
    """A few seconds after the first real BTCUSDT 1m candle whose SMA 10/30 signal
    is ``action``, past the first 1,000 (a cycle on an empty cache loads that many,
    and before the data's start it would see a hole and call the data stale)."""
    series = replay.series("BTCUSDT", "1m")
    actions = get_strategy("sma_cross").signals(series, PARAMS).actions
    index = int(np.nonzero(actions[1100:] == action)[0][0]) + 1100
    return from_ms(int(series.open_time[index + 1])) + timedelta(seconds=5)


def run_clock_at(moment: datetime) -> None:
    # The replay clock: "now" for the cycle is this moment, moving at real speed.
    clock.start_simulation(sim_start=moment, speed=Decimal("1"))


@pytest.mark.django_db
def test_operator_runs_a_cycle_that_buys_and_gets_the_whole_story(replay, operator) -> None:  # type: ignore[no-untyped-def]
    set_state("RUNNING")
    bot = make_bot()
    run_clock_at(just_after_close_of_first(replay, 1))

    response = token_client(operator).post(f"/api/bots/{bot.pk}/cycle")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "done" and body["skip_reason"] is None
    assert body["signal"]["action"] == "BUY"
    assert body["signal"]["reason"].startswith("SMA10 crossed above SMA30 (")
    assert {"sma_fast", "sma_slow", "close"} <= set(body["signal"]["indicators"])
    assert body["decision"]["verdict"] == "ALLOW", body["decision"]
    assert body["decision"]["side"] == "BUY"
    assert Decimal(body["decision"]["quantity"]) > 0
    order = Order.objects.get(bot=bot)
    assert body["order"]["client_order_id"] == order.client_order_id
    assert body["order"]["status"] == "FILLED" and body["order"]["side"] == "BUY"
    assert body["cycle"]["status"] == "done" and body["cycle"]["actor"] == "operator"
    completed = Event.objects.get(type="trading.cycle.completed", bot=bot)
    assert completed.actor == "operator"
    assert completed.result["client_order_id"] == order.client_order_id


@pytest.mark.django_db
def test_a_paused_system_blocks_the_order_and_the_answer_says_why(replay, operator) -> None:  # type: ignore[no-untyped-def]
    set_state("PAUSED")
    bot = make_bot()
    run_clock_at(just_after_close_of_first(replay, 1))

    body = token_client(operator).post(f"/api/bots/{bot.pk}/cycle").json()

    assert body["status"] == "done" and body["signal"]["action"] == "BUY"
    assert body["decision"]["verdict"] == "BLOCK" and body["order"] is None
    blocking = [r for r in body["decision"]["reasons"] if r["blocking"]]
    assert blocking and all(r["message"] for r in blocking)
    assert not Order.objects.filter(bot=bot).exists()


@pytest.mark.django_db
def test_a_second_cycle_on_the_same_candle_is_skipped_and_says_why(replay, operator) -> None:  # type: ignore[no-untyped-def]
    set_state("RUNNING")
    bot = make_bot()
    run_clock_at(just_after_close_of_first(replay, 1))
    client = token_client(operator)
    client.post(f"/api/bots/{bot.pk}/cycle")

    again = client.post(f"/api/bots/{bot.pk}/cycle")

    assert again.status_code == 200
    body = again.json()
    assert body["status"] == "skipped" and body["skip_reason"] == "no_new_candle"
    assert "already handled" in body["message"]
    assert body["signal"] is None and body["decision"] is None and body["order"] is None
    assert Order.objects.filter(bot=bot).count() == 1
    assert CycleRun.objects.filter(bot=bot, status="skipped").count() == 1


@pytest.mark.django_db
def test_a_cycle_while_another_holds_the_bot_is_skipped_as_locked(replay, operator) -> None:  # type: ignore[no-untyped-def]
    from django.utils import timezone

    bot = make_bot()
    Bot.objects.filter(pk=bot.pk).update(cycle_lock_token="other", cycle_locked_until=timezone.now() + timedelta(minutes=1))

    body = token_client(operator).post(f"/api/bots/{bot.pk}/cycle").json()

    assert body["status"] == "skipped" and body["skip_reason"] == "locked"
    assert Event.objects.get(type="trading.cycle.skipped", bot=bot).actor == "operator"


@pytest.mark.django_db
def test_a_market_data_failure_is_a_skipped_cycle_that_says_why(replay, operator) -> None:  # type: ignore[no-untyped-def]
    bot = make_bot()
    # Candles are cached, but the replay has no price for a time past its data.
    run_clock_at(just_after_close_of_first(replay, 1))
    client = token_client(operator)
    client.post(f"/api/bots/{bot.pk}/cycle")
    clock.start_simulation(sim_start=datetime(2030, 1, 1, tzinfo=UTC), speed=Decimal("1"))

    response = client.post(f"/api/bots/{bot.pk}/cycle")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "skipped" and body["skip_reason"] == "exchange_error"
    assert "the exchange failed the cycle during market data: no replay candle" in body["message"]
    skipped = Event.objects.filter(type="trading.cycle.skipped", bot=bot).latest("seq")
    assert skipped.actor == "operator" and skipped.result["skipped"] == "exchange_error"
    # the bot is free again for the next cycle
    assert Bot.objects.get(pk=bot.pk).cycle_locked_until is None


@pytest.mark.django_db
def test_an_unknown_bot_is_a_404(operator) -> None:  # type: ignore[no-untyped-def]
    assert token_client(operator).post("/api/bots/999999/cycle").status_code == 404
    assert not CycleRun.objects.exists()
