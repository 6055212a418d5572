"""The pure cores import and run without Django, so the backtester can use them anywhere."""

from __future__ import annotations

import os
import subprocess
import sys

from tests import REPO_ROOT

PURE_MODULES = (
    "trading.strategies",
    "trading.strategies.registry",
    "trading.execution.paper",
    "trading.portfolio",
    "trading.metrics",
    "risk.limits",
    "risk.rules",
    "risk.engine",
)


def test_pure_cores_import_without_django():
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONPATH"] = str(REPO_ROOT)
    script = (
        "import sys\n"
        f"for name in {PURE_MODULES!r}: __import__(name)\n"
        "loaded = sorted(m for m in sys.modules if m == 'django' or m.startswith('django.'))\n"
        "print(','.join(loaded))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""
