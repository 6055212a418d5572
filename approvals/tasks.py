"""Celery tasks of the approvals app: thin, call one service."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone


@shared_task(acks_late=True, ignore_result=True)
def expire_approvals() -> int:
    """Expire every PENDING proposal whose time is up and apply its on-expiry policy."""
    from approvals.services import expire_due

    return len(expire_due(now=timezone.now()))


# A run backtests a grid per bot: give it room, but not forever.
@shared_task(acks_late=True, ignore_result=True, soft_time_limit=1800, time_limit=1860)
def run_advisors() -> dict[str, int]:
    """The advisors' scheduled run over every enabled bot (each run is recorded)."""
    from approvals.advisor.services import advisors_run_scheduled

    reports = advisors_run_scheduled()
    return {"runs": len(reports), "proposals": sum(len(r.proposals) for r in reports)}
