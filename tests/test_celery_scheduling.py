"""Scheduling with real Celery worker and beat processes against real brokers:
Redis on loopback, and the embedded SQLite broker that needs no server."""

from __future__ import annotations

import os
import signal
import time
import zlib
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
import redis
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from approvals.models import Approval
from audit.actors import Actor, Role
from audit.models import Event
from audit.services import verify_chain
from tests.celery_procs import beat, child_env, wait_until, worker
from tests.factories import BotConfigFactory
from trading import clock, scheduling, state
from trading.market_data import ReplaySource
from trading.models import Bot, CycleRun, Order, SystemState
from trading.strategies.registry import get_strategy
from trading.timeframes import from_ms

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ADMIN = Actor("admin", Role.ADMIN)
# One Redis database per checkout, so two checkouts' test runs never share a queue.
REDIS_DB = int(os.environ.get("TEST_REDIS_DB") or 1 + zlib.crc32(str(Path(__file__).resolve()).encode()) % 10)


@pytest.fixture
def redis_url():  # type: ignore[no-untyped-def]
    url = f"redis://127.0.0.1:6379/{REDIS_DB}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()


@pytest.fixture
def replay(settings):  # type: ignore[no-untyped-def]
    settings.MARKET_DATA = "replay"
    return ReplaySource().series("BTCUSDT", "1m")


def setup_bot(series, *, start_index: int, speed: int, interval: int | None = 1) -> Bot:  # type: ignore[no-untyped-def]
    SystemState.objects.update_or_create(id=1, defaults={"state": "RUNNING"})
    bot = BotConfigFactory(symbol="BTCUSDT", timeframe="1m", strategy="sma_cross",
                           strategy_params={"fast": 10, "slow": 30}).bot
    clock.start_simulation(sim_start=from_ms(int(series.open_time[start_index])), speed=Decimal(speed))
    if interval is not None:
        scheduling.bot_set_schedule(bot=bot, actor=ADMIN, interval=interval)
    return bot


def send(task, broker_url: str, *args: object, **options: object) -> None:  # type: ignore[no-untyped-def]
    """Publish to the broker the workers under test listen on (not this process's default)."""
    from tradingsite.celery import app

    with app.connection_for_write(broker_url) as conn:
        task.apply_async(args=list(args), connection=conn, **options)


def first_buy_index(series, after: int) -> int:  # type: ignore[no-untyped-def]
    strategy = get_strategy("sma_cross")
    actions = strategy.signals(series[: after + 400], {"fast": 10, "slow": 30}).actions
    return int(after + np.flatnonzero(actions[after:] == 1)[0])


def test_beat_and_worker_run_cycles_expire_proposals_and_pausing_stops_trading(redis_url, replay, tmp_path) -> None:  # type: ignore[no-untyped-def]
    bot = setup_bot(replay, start_index=60, speed=60)
    scheduling.ensure_system_tasks()
    PeriodicTask.objects.filter(name=scheduling.EXPIRY_TASK_NAME).update(
        interval=scheduling._interval(1)
    )
    proposal = Approval.objects.create(
        kind="risk_limits", bot=bot, base_config=bot.active_config, change={"set": {}, "diff": []},
        proposer="advisor:rules", created_at=timezone.now() - timedelta(hours=2),
        expires_at=timezone.now() - timedelta(minutes=1), on_expiry="none",
    )
    env = child_env(redis_url)
    with worker(env, tmp_path) as w, beat(env, tmp_path) as b:
        wait_until(lambda: Order.objects.filter(bot=bot).exists(), 240, "a scheduled cycle to place an order", w, b)
        wait_until(lambda: Approval.objects.get(pk=proposal.pk).status == "EXPIRED", 120, "the expiry task", w, b)

        state.pause(actor=ADMIN, reason="test")
        # the tick already running may finish on the old state: settle one tick
        mark = CycleRun.objects.latest("pk").pk
        wait_until(lambda: CycleRun.objects.filter(pk__gt=mark, status="done").exists(), 120, "a tick after pausing", w, b)
        mark = CycleRun.objects.latest("pk").pk
        orders = Order.objects.count()
        wait_until(
            lambda: CycleRun.objects.filter(pk__gt=mark, signal__in=["BUY", "SELL"]).exists(), 240,
            "a BUY or SELL signal while paused", w, b,
        )
    after = CycleRun.objects.filter(pk__gt=mark)
    assert Order.objects.count() == orders
    signalled = after.filter(signal__in=["BUY", "SELL"])
    assert signalled.exists() and not signalled.exclude(decision="BLOCK").exists()
    assert all(
        "SYSTEM_NOT_RUNNING" in [r["code"] for r in run.decision_reasons] for run in signalled
    )
    assert Event.objects.filter(type="approvals.approval.expired").exists()
    assert Event.objects.filter(type="trading.cycle.completed", actor="scheduler").exists()
    assert verify_chain().ok


def test_a_worker_killed_after_its_cycle_committed_yields_one_order(redis_url, replay, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from trading.tasks import run_cycle

    buy = first_buy_index(replay, after=60)
    # the simulated clock stands still just after the BUY candle closed
    bot = setup_bot(replay, start_index=buy + 1, speed=0, interval=None)
    scheduling.scheduler_set_enabled(enabled=False, actor=ADMIN)  # no beat: we send the task ourselves
    scheduling.scheduler_set_enabled(enabled=True, actor=ADMIN)
    PeriodicTask.objects.filter(name=scheduling.task_name(bot)).update(enabled=False)

    # 1. a late tick is skipped and recorded, not run
    late_env = child_env(redis_url)
    with worker(late_env, tmp_path, name="punctual") as w:
        send(run_cycle, redis_url, bot.pk, headers={"sent_at": time.time() - 3600})
        wait_until(lambda: Event.objects.filter(type="trading.cycle.skipped", result__skipped="late").exists(),
                   60, "the late tick to be skipped", w)
    assert not Order.objects.exists()

    # 2. a worker dies (SIGKILL) after committing the order, before acknowledging
    # short leases: the killed worker's lease must lapse before the re-run
    dying = child_env(redis_url, TRADING_FAILPOINTS="cycle.after_commit=sleep:120", CYCLE_LEASE_SECONDS="3")
    with worker(dying, tmp_path, name="dying") as w:
        send(run_cycle, redis_url, bot.pk)
        wait_until(lambda: Order.objects.filter(bot=bot).exists(), 120, "the order to be committed", w)
        w.kill(signal.SIGKILL)
    assert Order.objects.filter(bot=bot).count() == 1

    # 3. the message is delivered again to a new worker, which finds the candle handled
    # (a paper cycle gives its lease back when it commits; a dead holder's lapses)
    wait_until(lambda: (Bot.objects.get(pk=bot.pk).cycle_locked_until or timezone.now()) <= timezone.now(), 30,
               "the dead worker's lease to lapse")
    # the unacknowledged message is redelivered once older than the visibility timeout
    time.sleep(3)
    rescuer = child_env(redis_url, CELERY_VISIBILITY_TIMEOUT="2", CYCLE_LEASE_SECONDS="3")
    before = Event.objects.filter(type="trading.cycle.skipped").count()
    with worker(rescuer, tmp_path, name="rescuer") as w:
        wait_until(lambda: Event.objects.filter(type="trading.cycle.skipped").count() > before, 120,
                   "the redelivered cycle", w)
    assert Order.objects.filter(bot=bot).count() == 1
    skipped = Event.objects.filter(type="trading.cycle.skipped").order_by("-seq").first()
    assert skipped.result["skipped"] in ("no_new_candle", "duplicate_order"), skipped.message
    assert verify_chain().ok


def test_two_beats_by_mistake_still_give_one_cycle_per_candle(redis_url, replay, tmp_path) -> None:  # type: ignore[no-untyped-def]
    bot = setup_bot(replay, start_index=60, speed=60)
    env = child_env(redis_url)
    with worker(env, tmp_path, concurrency=2) as w, beat(env, tmp_path, "beat-a") as a, beat(env, tmp_path, "beat-b") as b:
        wait_until(lambda: CycleRun.objects.filter(bot=bot, status="done").count() >= 12, 240,
                   "a dozen cycles", w, a, b)
    done = list(CycleRun.objects.filter(bot=bot, status="done").values_list("candle_time", flat=True))
    assert len(done) == len(set(done)), "a candle was traded twice"
    assert Event.objects.filter(type="trading.cycle.skipped", bot=bot).exists()
    orders = list(Order.objects.filter(bot=bot).values_list("client_order_id", flat=True))
    assert len(orders) == len(set(orders))


def test_scheduling_works_on_the_embedded_broker(replay, tmp_path) -> None:  # type: ignore[no-untyped-def]
    bot = setup_bot(replay, start_index=60, speed=60)
    env = child_env(f"sqla+sqlite:///{tmp_path}/broker.sqlite3")
    with worker(env, tmp_path) as w, beat(env, tmp_path) as b:
        wait_until(lambda: Order.objects.filter(bot=bot).exists(), 240, "an order over the embedded broker", w, b)
    assert CycleRun.objects.filter(bot=bot, status="done").count() >= 2
    assert Event.objects.filter(type="trading.order.filled", bot=bot).exists()


@pytest.mark.postgres
def test_scheduled_cycles_on_postgresql(redis_url, replay, tmp_path) -> None:  # type: ignore[no-untyped-def]
    bot = setup_bot(replay, start_index=60, speed=60)
    env = child_env(redis_url)
    with worker(env, tmp_path, concurrency=2) as w, beat(env, tmp_path) as b:
        wait_until(lambda: Order.objects.filter(bot=bot).exists(), 240, "an order on PostgreSQL", w, b)
    done = list(CycleRun.objects.filter(bot=bot, status="done").values_list("candle_time", flat=True))
    assert len(done) == len(set(done))
    assert verify_chain().ok
