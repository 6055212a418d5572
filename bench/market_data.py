"""Benchmark of the candle import: the bundled 130,708-row 1m file into SQLite.

``python -m bench.market_data`` prints one JSON line per figure. Each measurement
runs in a child process on a fresh temporary SQLite database, so the figures
never touch a real database and every run starts cold.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BUNDLED_1M = ROOT / "data" / "binance" / "BTCUSDT-1m.csv.gz"


def _child(mode: str) -> dict[str, Any]:
    """Runs inside the child: migrate a fresh database, import, measure."""
    import resource
    import time
    import tracemalloc

    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)

    from audit.actors import Actor
    from trading import market_data

    def run() -> tuple[float, float, int]:
        started, cpu = time.perf_counter(), time.process_time()
        report = market_data.candles_import(
            path=BUNDLED_1M, symbol="BTCUSDT", timeframe="1m", actor=Actor.system()
        )
        return time.perf_counter() - started, time.process_time() - cpu, report.rows

    if mode == "memory":
        tracemalloc.start()
        run()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return {"python_alloc_peak_mib": round(peak / 2**20, 1), "max_rss_mib": round(rss_kib / 1024, 1)}
    first, first_cpu, rows = run()
    again, again_cpu, _ = run()
    return {
        "rows": rows,
        "seconds": round(first, 2),
        "cpu_seconds": round(first_cpu, 2),
        "candles_per_second": round(rows / first),
        "reimport_seconds": round(again, 2),
        "reimport_cpu_seconds": round(again_cpu, 2),
    }


def _in_child(mode: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tradingsite.settings",
            "DJANGO_SECRET_KEY": "bench-only-" + "x" * 50,
            "SECURE_HTTPS": "false",
            "DEBUG": "false",
            "DATABASE_URL": f"sqlite:///{Path(tmp) / 'bench.sqlite3'}",
            "TRADING_VAR_DIR": tmp,
        }
        done = subprocess.run(
            [sys.executable, "-m", "bench.market_data", "--child", mode],
            cwd=ROOT, env=env, capture_output=True, text=True, check=True,
        )
        return json.loads(done.stdout.strip().splitlines()[-1])


def bench_import() -> list[dict[str, Any]]:
    """Import speed (candles/s, first import and idempotent re-import) and memory peak."""
    speed = _in_child("speed")
    memory = _in_child("memory")
    return [
        {"figure": "import_candles_per_second_sqlite", "value": speed["candles_per_second"],
         "rows": speed["rows"], "seconds": speed["seconds"], "cpu_seconds": speed["cpu_seconds"],
         "file": BUNDLED_1M.name},
        {"figure": "reimport_seconds_sqlite", "value": speed["reimport_seconds"],
         "cpu_seconds": speed["reimport_cpu_seconds"], "rows": speed["rows"]},
        {"figure": "import_memory_peak_mib", "value": memory["python_alloc_peak_mib"],
         "max_rss_mib": memory["max_rss_mib"], "note": "tracemalloc peak of Python allocations; RSS of the process"},
    ]


def main(argv: list[str]) -> None:
    if argv[:1] == ["--child"]:
        print(json.dumps(_child(argv[1])))
        return
    for line in bench_import():
        print(json.dumps(line))


if __name__ == "__main__":
    main(sys.argv[1:])

# `python -m bench market_data` (the project runner) calls run().
run = bench_import
