"""Fault injection for the crash tests (inert unless ``TRADING_FAILPOINTS`` is set).

``TRADING_FAILPOINTS="cycle.after_commit=sleep:30"`` makes the process sleep at
that point, so a test can kill a worker at a known moment (e.g. after a cycle
committed its order and before the broker was told the task is done). Nothing
in production sets it; an unknown action is ignored.
"""

from __future__ import annotations

import os
import time


def hit(name: str) -> None:
    spec = os.environ.get("TRADING_FAILPOINTS")
    if not spec:
        return
    for item in spec.split(","):
        point, _, action = item.strip().partition("=")
        if point == name and action.startswith("sleep:"):
            time.sleep(float(action.removeprefix("sleep:")))
