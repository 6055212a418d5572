"""The cycle's notion of "now": real time, or the demo's accelerated replay clock."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.utils import timezone

from trading.models import SimulatedClock


def now(real_now: datetime | None = None) -> datetime:
    real = real_now or timezone.now()
    clock = SimulatedClock.objects.filter(id=1, enabled=True).first()
    if clock is None:
        return real
    elapsed = (real - clock.real_start) * float(clock.speed)
    return clock.sim_start + elapsed


def start_simulation(*, sim_start: datetime, speed: Decimal, real_start: datetime | None = None) -> SimulatedClock:
    clock, _ = SimulatedClock.objects.update_or_create(
        id=1,
        defaults={
            "enabled": True,
            "sim_start": sim_start,
            "real_start": real_start or timezone.now(),
            "speed": speed,
        },
    )
    return clock


def stop_simulation() -> None:
    SimulatedClock.objects.filter(id=1).update(enabled=False)
