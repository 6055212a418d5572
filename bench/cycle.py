"""Live cycle latency: one bot, replayed real BTCUSDT 1m candles, SQLite,
candles cached; p50/p95 over 1,000 consecutive cycles, and the same writes done
bare in one transaction, as a ratio.

``run()`` works in a child process with a throwaway database.
``python -m bench.cycle`` prints one JSON line per figure.
"""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal
from typing import Any

from bench._child import command_line, emit, percentile, run_child, throwaway_django


def run(*, cycles: int = 1000) -> list[dict[str, Any]]:
    return run_child("bench.cycle", "--cycles", cycles, what="cycle benchmark")


def _child(cycles: int) -> None:
    with throwaway_django():
        from django.db import transaction
        from django.utils import timezone

        from audit.actors import Actor, Role
        from audit.services import record
        from trading import state
        from trading.cycle import run_cycle
        from trading.market_data import ReplaySource, refresh
        from trading.models import Bot, BotSummary, CycleRun, EquitySnapshot, MetricsSnapshot, Position
        from trading.services import bot_config_create
        from trading.timeframes import from_ms

        actor = Actor("bench", Role.ADMIN)
        state.resume(actor=actor)
        bot = Bot.objects.create(name="bench")
        bot_config_create(bot=bot, actor=actor, source="seed", symbol="BTCUSDT", timeframe="1m",
                          strategy="sma_cross", strategy_params={"fast": 10, "slow": 30}, risk_limits={})
        series = ReplaySource().series("BTCUSDT", "1m")
        start = 200
        # candles cached: the figure is the cycle, not the first download
        refresh("BTCUSDT", "1m", now=from_ms(int(series.open_time[start + cycles + 1])),
                since=from_ms(int(series.open_time[0])))
        scheduler = Actor.scheduler()
        times: list[float] = []
        orders = 0
        for i in range(start, start + cycles):
            now = from_ms(int(series.open_time[i + 1]))
            began = time.perf_counter()
            outcome = run_cycle(bot, now, scheduler)
            times.append(time.perf_counter() - began)
            orders += outcome.order is not None
            assert outcome.status == "done", outcome.message

        # The same rows written bare: cycle run, equity and metrics snapshots,
        # the position, bot and bot summary updates (the summary with its full
        # metrics window, as a cycle saves it), and the cycle's event, in one
        # transaction.
        bare: list[float] = []
        position = Position.objects.get_or_create(bot=bot, symbol="BTCUSDT")[0]
        summary = BotSummary.objects.get(bot=bot)
        for i in range(cycles):
            began = time.perf_counter()
            with transaction.atomic():
                now = timezone.now()
                CycleRun.objects.create(bot=bot, started_at=now, actor="bench", status="done",
                                        signal="HOLD", decision="NONE", decision_quantity=Decimal("0"))
                EquitySnapshot.objects.create(bot=bot, taken_at=now, cash=Decimal("10000"),
                                              positions_value=Decimal("0"), equity=Decimal("10000"),
                                              peak_equity=Decimal("10000"))
                MetricsSnapshot.objects.create(bot=bot, taken_at=now)
                Position.objects.filter(pk=position.pk).update(last_price=Decimal("105000.01"))
                Bot.objects.filter(pk=bot.pk).update(last_candle_time=now + timedelta(minutes=i),
                                                     last_cycle_at=now)
                summary.last_taken_at, summary.last_equity = now, Decimal("10000")
                summary.save()
                record("trading.cycle.completed", scheduler, "HOLD → NONE",
                       inputs={"candle_time": now, "indicators": {"sma_fast": 1.0, "sma_slow": 2.0}},
                       result={"verdict": "NONE"}, bot=bot)
            bare.append(time.perf_counter() - began)

        p50, p95 = percentile(times, 0.50) * 1000, percentile(times, 0.95) * 1000
        b50 = percentile(bare, 0.50) * 1000
        figures = [
            {"figure": "cycle_latency_p50", "value": round(p50, 2), "unit": "ms", "cycles": cycles,
             "orders": orders, "database": "sqlite"},
            {"figure": "cycle_latency_p95", "value": round(p95, 2), "unit": "ms", "cycles": cycles},
            {"figure": "cycle_bare_writes_p50", "value": round(b50, 2), "unit": "ms"},
            {"figure": "cycle_to_bare_writes_ratio_p50", "value": round(p50 / b50, 2), "unit": "x",
             "goal": "<= 3"},
        ]
        emit(figures)


if __name__ == "__main__":
    command_line(run, _child, __doc__)
