"""Scale-out: bots cycled per minute by one Celery worker process and by two,
with 100 bots on PostgreSQL and Redis on loopback (replayed real candles).

Each round moves the (frozen) simulated clock one minute on and queues one
cycle per bot, so every cycle is a full one on a new candle; a round ends when
all 100 are done. ``python -m bench.scheduling`` prints one JSON line per figure.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any

from bench._child import BASE_DIR, command_line, django_setup, emit, run_child

DB_NAME = "bench_scheduling"
PG = "postgres://postgres@127.0.0.1:5432"
REDIS = "redis://127.0.0.1:6379/12"


def run(*, bots: int = 100, rounds: int = 5) -> list[dict[str, Any]]:
    return run_child("bench.scheduling", "--bots", bots, "--rounds", rounds, what="scheduling benchmark")


def _fresh_database() -> None:
    import psycopg

    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME}")
        conn.execute(f"CREATE DATABASE {DB_NAME}")


def _child(bots: int, rounds: int) -> None:
    import redis

    _fresh_database()
    redis.Redis.from_url(REDIS).flushdb()
    # The workers started below inherit this environment (the database, the broker).
    django_setup(database_url=f"{PG}/{DB_NAME}", CELERY_BROKER_URL=REDIS, LOG_LEVEL="WARNING")
    from datetime import timedelta
    from decimal import Decimal

    from audit.actors import Actor, Role
    from trading import clock, scheduling, state
    from trading.market_data import ReplaySource, refresh
    from trading.models import Bot, CycleRun
    from trading.services import bot_config_create
    from trading.tasks import run_cycle
    from trading.timeframes import from_ms

    actor = Actor("bench", Role.ADMIN)
    state.resume(actor=actor)
    scheduling.scheduler_set_enabled(enabled=True, actor=actor)
    ids = []
    for n in range(bots):
        bot = Bot.objects.create(name=f"bench-{n:03d}", enabled=False)  # no beat: we queue the cycles
        bot_config_create(bot=bot, actor=actor, source="seed", symbol="BTCUSDT", timeframe="1m",
                          strategy="sma_cross", strategy_params={"fast": 10, "slow": 30}, risk_limits={})
        ids.append(bot.pk)
    series = ReplaySource().series("BTCUSDT", "1m")
    first = 100
    refresh("BTCUSDT", "1m", now=from_ms(int(series.open_time[first + 2 * rounds + 10])),
            since=from_ms(int(series.open_time[0])))
    Bot.objects.update(enabled=True)

    figures = []
    offset = 0
    for workers in (1, 2):
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "tradingsite", "worker", "--loglevel", "WARNING",
                 "--concurrency", "1", "--without-gossip", "--without-mingle", "--without-heartbeat",
                 "-n", f"bench{k}@%h"],
                cwd=BASE_DIR, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            for k in range(workers)
        ]
        time.sleep(8)  # let the workers connect before the clock starts
        started = time.perf_counter()
        done_before = CycleRun.objects.filter(status="done").count()
        for r in range(rounds):
            now = from_ms(int(series.open_time[first + offset + r + 1]))
            clock.start_simulation(sim_start=now + timedelta(seconds=1), speed=Decimal("0"))
            for bot_id in ids:
                run_cycle.delay(bot_id)
            target = done_before + (r + 1) * bots
            deadline = time.monotonic() + 600
            while CycleRun.objects.filter(status="done").count() < target:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"round {r} with {workers} worker(s) did not finish")
                time.sleep(0.05)
        elapsed = time.perf_counter() - started
        offset += rounds
        for proc in procs:
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=60)
        per_minute = rounds * bots / elapsed * 60
        figures.append({"figure": f"bots_cycled_per_minute_{workers}_worker{'s' if workers > 1 else ''}",
                        "value": round(per_minute), "unit": "cycles/min", "bots": bots, "rounds": rounds,
                        "database": "postgresql", "broker": "redis"})
    figures.append({"figure": "two_workers_speedup", "value": round(figures[1]["value"] / figures[0]["value"], 2),
                    "unit": "x", "goal": ">= 1.8"})
    emit(figures)


if __name__ == "__main__":
    command_line(run, _child, __doc__)
