"""Reachability of what the system depends on, for ``GET /api/health``."""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.models import Max
from django.utils import timezone

from trading.models import Bot


def database_ok() -> tuple[bool, str]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means "not reachable"
        return False, type(exc).__name__
    return True, ""


def broker_ok() -> tuple[bool, str]:
    from tradingsite.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, timeout=2)
    except Exception as exc:  # kombu raises many kinds; all mean "not reachable"
        return False, type(exc).__name__
    return True, ""


def health() -> dict[str, Any]:
    db, db_error = database_ok()
    broker, broker_error = broker_ok()
    last_cycle = Bot.objects.aggregate(last=Max("last_cycle_at"))["last"] if db else None
    age = (timezone.now() - last_cycle).total_seconds() if last_cycle else None
    return {
        "status": "ok" if db and broker else "degraded",
        "database": {"ok": db, "error": db_error},
        "broker": {"ok": broker, "error": broker_error},
        "last_cycle_at": last_cycle.isoformat() if last_cycle else None,
        "last_cycle_age_seconds": round(age, 1) if age is not None else None,
    }
