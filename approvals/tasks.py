"""Celery tasks of the approvals app: thin, call one service."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone


@shared_task(acks_late=True, ignore_result=True)
def expire_approvals() -> int:
    """Expire every PENDING proposal whose time is up and apply its on-expiry policy."""
    from approvals.services import expire_due

    return len(expire_due(now=timezone.now()))
