"""Celery settings that reliability depends on, for every task of ours."""

from __future__ import annotations

from django.conf import settings

from tradingsite.celery import app

OURS = ("trading.", "approvals.", "audit.")


def our_tasks():  # type: ignore[no-untyped-def]
    app.loader.import_default_modules()
    return {name: task for name, task in app.tasks.items() if name.startswith(OURS)}


def test_every_task_is_acknowledged_late_and_bounded_in_time() -> None:
    tasks = our_tasks()
    assert {"trading.tasks.run_cycle", "approvals.tasks.expire_approvals", "trading.tasks.run_backtest"} <= set(tasks)
    for name, task in tasks.items():
        assert task.acks_late, name
        hard = task.time_limit or settings.CELERY_TASK_TIME_LIMIT
        assert hard and hard < settings.CELERY_VISIBILITY_TIMEOUT, name


def test_no_retry_waits_longer_than_the_visibility_timeout() -> None:
    for name, task in our_tasks().items():
        for attribute in ("default_retry_delay", "retry_backoff_max"):
            wait = getattr(task, attribute, None)
            if isinstance(wait, int | float) and not isinstance(wait, bool):
                assert wait < settings.CELERY_VISIBILITY_TIMEOUT, f"{name}.{attribute}"
        assert (task.max_retries or 0) <= 5, name


def test_workers_take_one_message_at_a_time_and_requeue_on_loss() -> None:
    assert settings.CELERY_WORKER_PREFETCH_MULTIPLIER == 1
    assert settings.CELERY_TASK_REJECT_ON_WORKER_LOST is True
    assert settings.CELERY_TASK_SOFT_TIME_LIMIT < settings.CELERY_TASK_TIME_LIMIT
