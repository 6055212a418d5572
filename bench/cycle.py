"""Live cycle latency: one bot, replayed real BTCUSDT 1m candles, SQLite,
candles cached; p50/p95 over 1,000 consecutive cycles, and the same writes done
bare in one transaction, as a ratio.

``run()`` works in a child process with a throwaway database.
``python -m bench.cycle`` prints one JSON line per figure.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent


def run(*, cycles: int = 1000) -> list[dict[str, Any]]:
    command = [sys.executable, "-m", "bench.cycle", "--child", "--cycles", str(cycles)]
    done = subprocess.run(command, cwd=BASE_DIR, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the cycle benchmark failed:\n{done.stderr[-4000:]}")
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    rank = max(1, round(share * len(ordered) + 0.5))
    return ordered[min(rank, len(ordered)) - 1]


def _setup(folder: str) -> None:
    os.environ.update({
        "DATABASE_URL": f"sqlite:///{folder}/bench.sqlite3",
        "TRADING_VAR_DIR": folder,
        "DJANGO_SECRET_KEY": "bench-only-secret-key-" + "x" * 40,
        "SECURE_HTTPS": "false",
        "DEBUG": "false",
        "MARKET_DATA": "replay",
        "DJANGO_SETTINGS_MODULE": "tradingsite.settings",
    })
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def _child(cycles: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        _setup(folder)
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

        p50, p95 = _percentile(times, 0.50) * 1000, _percentile(times, 0.95) * 1000
        b50 = _percentile(bare, 0.50) * 1000
        figures = [
            {"figure": "cycle_latency_p50", "value": round(p50, 2), "unit": "ms", "cycles": cycles,
             "orders": orders, "database": "sqlite"},
            {"figure": "cycle_latency_p95", "value": round(p95, 2), "unit": "ms", "cycles": cycles},
            {"figure": "cycle_bare_writes_p50", "value": round(b50, 2), "unit": "ms"},
            {"figure": "cycle_to_bare_writes_ratio_p50", "value": round(p50 / b50, 2), "unit": "x",
             "goal": "<= 3"},
        ]
        for figure in figures:
            print(json.dumps(figure), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", action="store_true")
    parser.add_argument("--cycles", type=int, default=1000)
    args = parser.parse_args()
    if args.child:
        _child(args.cycles)
    else:
        for figure in run(cycles=args.cycles):
            print(json.dumps(figure))


if __name__ == "__main__":
    main()
