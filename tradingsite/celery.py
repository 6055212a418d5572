"""The Celery application. Configuration comes from Django settings (CELERY_*)."""

from __future__ import annotations

import os
import time
from typing import Any

from celery import Celery
from celery.signals import before_task_publish, worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradingsite.settings")

app = Celery("tradingsite")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@before_task_publish.connect
def stamp_sent_at(headers: dict[str, Any] | None = None, **kwargs: Any) -> None:
    """Stamp every message with the time it was sent, so a task can tell a tick
    that arrives late (a backlog after a worker outage) and skip it."""
    if headers is not None:
        headers.setdefault("sent_at", time.time())


@worker_ready.connect
def reconcile_on_start(sender: Any = None, **kwargs: Any) -> None:
    """A worker that starts first reconciles live bots with the exchange: orders
    open or in flight while nothing ran are re-read, their fills applied."""
    from trading.tasks import reconcile_live

    reconcile_live.delay()
