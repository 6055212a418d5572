"""Which bots cycle when: django-celery-beat periodic tasks kept in step with
the bots, and the operator's scheduler switches (each change an event).

Beat reads these rows through its database scheduler; nothing else creates
periodic tasks for bots.
"""

from __future__ import annotations

import json

from django.conf import settings
from django.db import transaction
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from audit.actors import Actor
from audit.services import record
from trading import timeframes
from trading.models import Bot, BotConfig, SystemState

CYCLE_TASK = "trading.tasks.run_cycle"
EXPIRY_TASK = "approvals.tasks.expire_approvals"
EXPIRY_TASK_NAME = "approvals: expire due proposals"
EXPIRY_EVERY_SECONDS = 30
ADVISOR_TASK = "approvals.tasks.run_advisors"
ADVISOR_TASK_NAME = "approvals: run the advisors"
MIN_INTERVAL_SECONDS = 1
MAX_INTERVAL_SECONDS = 7 * 86400


class ScheduleError(ValueError):
    """A schedule change that cannot be made (bad interval, unknown bot)."""


def task_name(bot: Bot) -> str:
    return f"trading cycle: {bot.name}"


def interval_seconds(bot: Bot, config: BotConfig | None = None) -> int:
    """The bot's own interval, else one cycle per candle of its timeframe."""
    if bot.schedule_interval_seconds:
        return bot.schedule_interval_seconds
    config = config or BotConfig.objects.filter(bot=bot, is_active=True).first()
    return timeframes.seconds(config.timeframe) if config else 60


def _interval(seconds: int) -> IntervalSchedule:
    schedule, _ = IntervalSchedule.objects.get_or_create(every=seconds, period=IntervalSchedule.SECONDS)
    return schedule


def scheduler_enabled() -> bool:
    return SystemState.objects.filter(id=1).values_list("scheduler_enabled", flat=True).first() is not False


def bot_schedule_sync(*, bot: Bot) -> PeriodicTask:
    """Create or update the bot's periodic task to match the bot and the scheduler switch."""
    config = BotConfig.objects.filter(bot=bot, is_active=True).first()
    enabled = bot.enabled and config is not None and scheduler_enabled()
    task, _ = PeriodicTask.objects.update_or_create(
        name=task_name(bot),
        defaults={
            "task": CYCLE_TASK,
            "interval": _interval(interval_seconds(bot, config)),
            "args": json.dumps([bot.pk]),
            "enabled": enabled,
        },
    )
    return task


def bot_schedule_remove(*, bot: Bot) -> None:
    PeriodicTask.objects.filter(name=task_name(bot)).delete()


def ensure_system_tasks() -> None:
    """The schedules that exist regardless of bots: approval expiry every 30 s,
    the advisors every ``ADVISOR_INTERVAL_MINUTES`` (idempotent; follows the setting),
    and the Telegram daily summary at 00:05 UTC."""
    PeriodicTask.objects.update_or_create(
        name=EXPIRY_TASK_NAME,
        defaults={"task": EXPIRY_TASK, "interval": _interval(EXPIRY_EVERY_SECONDS), "enabled": True},
    )
    PeriodicTask.objects.update_or_create(
        name=ADVISOR_TASK_NAME,
        defaults={"task": ADVISOR_TASK, "interval": _interval(settings.ADVISOR_INTERVAL_MINUTES * 60),
                  "enabled": True},
    )
    from trading.notifications import ensure_daily_summary_task

    ensure_daily_summary_task()


def sync_all() -> None:
    ensure_system_tasks()
    for bot in Bot.objects.all():
        bot_schedule_sync(bot=bot)


def scheduler_set_enabled(*, enabled: bool, actor: Actor) -> bool:
    """Switch every bot's cycles on or off (the approval expiry keeps running)."""
    with transaction.atomic():
        row = SystemState.objects.select_for_update().get_or_create(id=1)[0]
        previous = row.scheduler_enabled
        row.scheduler_enabled = enabled
        row.save(update_fields=["scheduler_enabled"])
        for bot in Bot.objects.all():
            bot_schedule_sync(bot=bot)
        record(
            "scheduler.enabled" if enabled else "scheduler.disabled",
            actor,
            f"scheduler switched {'on' if enabled else 'off'}",
            inputs={"enabled": enabled, "previous": previous},
        )
    return enabled


def bot_set_schedule(
    *, bot: Bot, actor: Actor, enabled: bool | None = None, interval: int | None = None,
    clear_interval: bool = False,
) -> Bot:
    """Change one bot's on/off switch and/or its cycle interval (seconds)."""
    if interval is not None and not MIN_INTERVAL_SECONDS <= interval <= MAX_INTERVAL_SECONDS:
        raise ScheduleError(
            f"interval must be between {MIN_INTERVAL_SECONDS} and {MAX_INTERVAL_SECONDS} seconds"
        )
    with transaction.atomic():
        bot = Bot.objects.select_for_update().get(pk=bot.pk)
        before = {"enabled": bot.enabled, "interval_seconds": bot.schedule_interval_seconds}
        if enabled is not None:
            bot.enabled = enabled
        if clear_interval:
            bot.schedule_interval_seconds = None
        elif interval is not None:
            bot.schedule_interval_seconds = interval
        bot.save(update_fields=["enabled", "schedule_interval_seconds"])
        task = bot_schedule_sync(bot=bot)
        record(
            "scheduler.bot.changed",
            actor,
            f"{bot.name}: cycles {'on' if bot.enabled else 'off'} every {task.interval.every} s",
            inputs={"before": before, "enabled": enabled, "interval_seconds": interval,
                    "clear_interval": clear_interval},
            result={"enabled": task.enabled, "every_seconds": task.interval.every},
            bot=bot,
        )
    return bot
