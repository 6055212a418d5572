"""Backtest throughput on the bundled BTCUSDT 1m series (130,708 candles).

SMA cross 10/30, fee 0.1 %, no slippage, 1,000 USDT per entry, as in the
issue. Figures:

* the engine alone (``trading.backtest.run`` on candles in memory), best of 5,
  with the default risk limits and with the stops off (every round trip trades);
* the whole ``manage.py backtest`` command (a subprocess, DEBUG=true, writing
  its report), best of 3 wall times after one warm-up run, and its peak memory;
* linearity: the engine on the series chained four times end to end, each copy
  rescaled to start where the previous one ended (prices kept to the cent),
  against the series once.

The command's warm-up run fills the candle cache and, as Python does on any
ordinary machine, the bytecode cache: the child runs without
PYTHONDONTWRITEBYTECODE, so the timed runs are the steady state an operator sees.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
SOURCE = REPO_ROOT / "data" / "binance" / "BTCUSDT-1m.csv.gz"  # shipped with the repository
PARAMS = '{"fast":10,"slow":30}'
NO_STOPS = {"cooldown_after_losses": 0, "max_drawdown_pct": "1", "daily_loss_limit_pct": "1"}


def best_of(times: int, work: Any) -> float:
    best = float("inf")
    for _ in range(times):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return best


def _django() -> None:
    """The bundled exchange filters are read through the market data module, a Django one."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradingsite.settings")
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-secret-key-" + "x" * 40)
    import django

    django.setup()


def settings_for(limits: dict[str, Any]) -> Any:
    _django()
    from risk.limits import RiskLimits
    from trading.backtest import BacktestSettings
    from trading.backtest_data import market_rules_for

    rules, _ = market_rules_for("BTCUSDT")
    return BacktestSettings(
        strategy="sma_cross", params={"fast": 10, "slow": 30},
        limits=RiskLimits.from_dict({"sizing_mode": "fixed_quote", "fixed_quote": "1000", **limits}),
        rules=rules, fee_bps=Decimal("10"), slippage_bps=Decimal("0"),
    )


def chained(candles: Any, copies: int) -> Any:
    """The series ``copies`` times end to end: each copy's prices scaled so its
    first open is the previous copy's last close (to the cent), its times
    shifted to follow on."""
    from trading.candles import Candles

    span = int(candles.open_time[-1] - candles.open_time[0]) + 60_000
    parts = [candles]
    for k in range(1, copies):
        scale = float(parts[-1].close[-1]) / float(candles.open[0])
        prices = [np.round(getattr(candles, name) * scale, 2) for name in ("open", "high", "low", "close")]
        parts.append(Candles(candles.symbol, candles.timeframe, candles.open_time + k * span, *prices, candles.volume))
    return Candles(
        candles.symbol, candles.timeframe,
        *(np.concatenate([getattr(p, name) for p in parts])
          for name in ("open_time", "open", "high", "low", "close", "volume")),
    )


def engine_figures() -> list[dict[str, Any]]:
    from trading.backtest import run
    from trading.candles import load_csv

    candles = load_csv(SOURCE, "BTCUSDT", "1m")
    n = len(candles)
    figures = []
    for name, limits in (("default", {}), ("no_stops", NO_STOPS)):
        settings = settings_for(limits)
        result = run(candles, settings)
        seconds = best_of(5, lambda settings=settings: run(candles, settings))
        figures.append({
            "figure": "backtest_engine_candles_per_second", "value": round(n / seconds), "unit": "candles/s",
            "limits": name, "seconds": round(seconds, 4), "candles": n, "trades": len(result.trades),
            "best_of": 5,
        })
    longer = chained(candles, 4)
    settings = settings_for(NO_STOPS)
    once = best_of(5, lambda: run(candles, settings))
    four = best_of(5, lambda: run(longer, settings))
    figures.append({
        "figure": "backtest_engine_time_ratio_4x", "value": round(four / once, 3), "unit": "ratio",
        "limits": "no_stops", "seconds_1x": round(once, 4), "seconds_4x": round(four, 4),
        "candles_1x": n, "candles_4x": len(longer), "trades_4x": len(run(longer, settings).trades), "best_of": 5,
    })
    return figures


# Starts the command and reports its exit code, wall time and peak RSS. The
# command is spawned from this small process rather than from the benchmark:
# a child's peak RSS counts the memory of the process it was spawned from.
_LAUNCHER = """
import json, os, sys, time
started = time.perf_counter()
pid = os.posix_spawn(sys.argv[1], sys.argv[1:], os.environ)
_, status, usage = os.wait4(pid, 0)
print(json.dumps({"code": os.waitstatus_to_exitcode(status), "wall": time.perf_counter() - started,
                  "maxrss_kib": usage.ru_maxrss}))
"""


def command_figures() -> list[dict[str, Any]]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["DEBUG"] = "true"
    walls, peaks = [], []
    with tempfile.TemporaryDirectory(prefix="bench-backtest-") as out:
        command = [
            sys.executable, str(REPO_ROOT / "manage.py"), "backtest", "--strategy", "sma_cross",
            "--params", PARAMS, "--symbol", "BTCUSDT", "--timeframe", "1m", "--data", str(SOURCE),
            "--fee-bps", "10", "--slippage-bps", "0", "--sizing", "fixed_quote:1000", "--out", out,
        ]
        for attempt in range(4):  # one warm-up, then best of 3
            done = subprocess.run(
                [sys.executable, "-S", "-c", _LAUNCHER, *command], cwd=REPO_ROOT, env=env,
                capture_output=True, text=True, check=False,
            )
            report = json.loads(done.stdout.strip().splitlines()[-1]) if done.stdout.strip() else {}
            if done.returncode != 0 or report.get("code") != 0:
                raise RuntimeError(f"manage.py backtest failed: {done.stderr.strip()[-500:]}")
            if attempt:
                walls.append(report["wall"])
                peaks.append(report["maxrss_kib"] / 1024)
    from trading.candles import load_csv

    n = len(load_csv(SOURCE, "BTCUSDT", "1m"))
    wall = min(walls)
    return [
        {"figure": "backtest_command_seconds", "value": round(wall, 3), "unit": "s", "best_of": 3,
         "candles_per_second": round(n / wall), "walls": [round(w, 3) for w in walls]},
        {"figure": "backtest_command_peak_rss", "value": round(max(peaks), 1), "unit": "MB",
         "runs": [round(p, 1) for p in peaks]},
    ]


def run() -> list[dict[str, Any]]:
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    return engine_figures() + command_figures()


if __name__ == "__main__":
    for figure in run():
        print(json.dumps(figure))
