"""Celery tasks of the trading app: thin, take ids, call one service."""

from __future__ import annotations

import time

from celery import shared_task

from audit.actors import Actor
from audit.services import record
from trading import clock, scheduling
from trading.models import Bot

LATE_GRACE_SECONDS = 10


def sent_at(request: object) -> float | None:
    value = getattr(request, "sent_at", None)
    if value is None:
        value = (getattr(request, "headers", None) or {}).get("sent_at")
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def run_cycle(self, bot_id: int) -> str:  # type: ignore[no-untyped-def]
    """One scheduled trading cycle of a bot (beat sends one per interval)."""
    bot = Bot.objects.filter(pk=bot_id).first()
    if bot is None:
        return "no such bot"
    if not bot.enabled or not scheduling.scheduler_enabled():
        return "scheduler off"
    interval = scheduling.interval_seconds(bot)
    stamped = sent_at(self.request)
    # Late means a backlog (a worker was down), not the broker's own delivery
    # time: a tick is skipped when it is more than one interval late, and never
    # for less than LATE_GRACE_SECONDS.
    if stamped is not None and time.time() - stamped > max(interval, LATE_GRACE_SECONDS):
        lateness = round(time.time() - stamped, 1)
        record(
            "trading.cycle.skipped",
            Actor.scheduler(),
            f"tick arrived {lateness} s late (interval {interval} s): skipped, not run",
            inputs={"sent_at": stamped, "interval_seconds": interval, "late_by_seconds": lateness},
            result={"skipped": "late"},
            bot=bot,
        )
        return "late"
    from trading.cycle import run_cycle as cycle_service

    outcome = cycle_service(bot, clock.now(), Actor.scheduler())
    return outcome.status


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True, soft_time_limit=600, time_limit=660)
def run_backtest(backtest_id: int) -> str:
    """Run one stored backtest (the service claims it, so redelivery runs it once)."""
    from trading.backtests import backtest_execute

    job = backtest_execute(backtest_id=backtest_id)
    return job.status if job else "already claimed"


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def reconcile_live(bot_id: int | None = None) -> str:
    """Reconcile live bots with the exchange (every one, or ``bot_id``'s).

    Enqueued when a worker starts (``worker_ready``), so orders that were open
    or in flight while nothing ran are re-read before the next cycle trades.
    """
    from trading.reconcile import reconcile

    bot = Bot.objects.filter(pk=bot_id).first() if bot_id is not None else None
    if bot_id is not None and bot is None:
        return "no such bot"
    reports = reconcile(actor=Actor.system(), bot=bot)
    return f"{len(reports)} bot(s) reconciled"
