"""Start-up stays light: an offline command does not load the exchange's or
Telegram's client libraries (a few hundred milliseconds of imports, every
``manage.py`` run), yet they are there the moment live data or a message needs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

_PROBE = """
import json, sys
import django
django.setup()
from trading.backtest_data import market_rules_for
rules, note = market_rules_for("BTCUSDT")
loaded_offline = sorted(name for name in ("binance", "telegram", "aiohttp") if name in sys.modules)
from trading.market_data import BinanceSource
from trading.notifications import deliver
import trading.adapters.binance
print(json.dumps({"offline": loaded_offline, "step": str(rules.step_size), "note": note,
                  "binance_after": "binance" in sys.modules}))
"""


def test_setup_and_bundled_rules_do_not_import_client_libraries() -> None:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tradingsite.settings", "MARKET_DATA": "replay",
           "DJANGO_SECRET_KEY": "test-only-secret-key-" + "x" * 40, "DEBUG": "true"}
    done = subprocess.run([sys.executable, "-c", _PROBE], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["offline"] == []
    # the bundled exchange filters are read all the same, and the adapter still loads on demand
    assert report["step"] == "0.00001000"
    assert report["note"] == ""
    assert report["binance_after"] is True
