"""Each bot's periodic task follows the bot; scheduler switches are audited."""

from __future__ import annotations

import json
import time

import pytest
from django_celery_beat.models import PeriodicTask

from audit.actors import Actor, Role
from audit.models import Event
from tests.factories import BotConfigFactory, BotFactory
from trading import scheduling
from trading.models import SystemState

OPERATOR = Actor("operator", Role.OPERATOR)


def task_for(bot) -> PeriodicTask:  # type: ignore[no-untyped-def]
    return PeriodicTask.objects.get(name=scheduling.task_name(bot))


@pytest.mark.django_db
def test_a_new_bot_gets_a_task_at_its_timeframe() -> None:
    config = BotConfigFactory(timeframe="5m")
    task = task_for(config.bot)
    assert task.task == "trading.tasks.run_cycle"
    assert json.loads(task.args) == [config.bot.pk]
    assert task.interval.every == 300 and task.interval.period == "seconds"
    assert task.enabled


@pytest.mark.django_db
def test_a_bot_without_config_is_not_scheduled() -> None:
    bot = BotFactory()
    assert not task_for(bot).enabled


@pytest.mark.django_db
def test_changing_the_active_timeframe_changes_the_interval() -> None:
    config = BotConfigFactory(timeframe="1m")
    from trading.services import bot_config_create

    bot_config_create(bot=config.bot, actor=OPERATOR, source="manual", timeframe="15m")
    assert task_for(config.bot).interval.every == 900


@pytest.mark.django_db
def test_disabling_a_bot_disables_its_task_and_is_recorded() -> None:
    config = BotConfigFactory()
    scheduling.bot_set_schedule(bot=config.bot, actor=OPERATOR, enabled=False)
    assert not task_for(config.bot).enabled
    event = Event.objects.get(type="scheduler.bot.changed")
    assert event.actor == "operator" and event.result["enabled"] is False


@pytest.mark.django_db
def test_custom_interval_and_back_to_the_timeframe() -> None:
    config = BotConfigFactory(timeframe="1m")
    scheduling.bot_set_schedule(bot=config.bot, actor=OPERATOR, interval=10)
    assert task_for(config.bot).interval.every == 10
    scheduling.bot_set_schedule(bot=config.bot, actor=OPERATOR, clear_interval=True)
    assert task_for(config.bot).interval.every == 60


@pytest.mark.django_db
@pytest.mark.parametrize("interval", [0, -5, 8 * 86400])
def test_interval_out_of_bounds_is_refused_and_nothing_changes(interval: int) -> None:
    config = BotConfigFactory(timeframe="1m")
    events = Event.objects.count()
    with pytest.raises(scheduling.ScheduleError, match="between 1 and"):
        scheduling.bot_set_schedule(bot=config.bot, actor=OPERATOR, interval=interval)
    assert task_for(config.bot).interval.every == 60
    assert Event.objects.count() == events


@pytest.mark.django_db
def test_scheduler_off_disables_every_bot_but_not_the_expiry() -> None:
    bots = [BotConfigFactory().bot for _ in range(3)]
    scheduling.ensure_system_tasks()
    scheduling.scheduler_set_enabled(enabled=False, actor=OPERATOR)
    assert SystemState.objects.get(id=1).scheduler_enabled is False
    assert not any(task_for(b).enabled for b in bots)
    assert PeriodicTask.objects.get(name=scheduling.EXPIRY_TASK_NAME).enabled
    assert PeriodicTask.objects.get(name=scheduling.EXPIRY_TASK_NAME).interval.every == 30
    assert Event.objects.filter(type="scheduler.disabled", actor="operator").exists()
    scheduling.scheduler_set_enabled(enabled=True, actor=OPERATOR)
    assert all(task_for(b).enabled for b in bots)
    assert Event.objects.filter(type="scheduler.enabled").exists()


@pytest.mark.django_db
def test_a_new_bot_while_the_scheduler_is_off_stays_off() -> None:
    scheduling.scheduler_set_enabled(enabled=False, actor=OPERATOR)
    config = BotConfigFactory()
    assert not task_for(config.bot).enabled


@pytest.mark.django_db
def test_a_late_tick_is_skipped_and_recorded() -> None:
    from trading.tasks import run_cycle

    config = BotConfigFactory(timeframe="1m")
    result = run_cycle.apply(args=[config.bot.pk], headers={"sent_at": time.time() - 600})
    assert result.get() == "late"
    event = Event.objects.get(type="trading.cycle.skipped")
    assert event.result == {"skipped": "late"}
    assert event.inputs["interval_seconds"] == 60
    assert event.inputs["late_by_seconds"] >= 600


@pytest.mark.django_db
def test_a_tick_with_the_scheduler_off_does_nothing() -> None:
    from trading.tasks import run_cycle

    config = BotConfigFactory()
    scheduling.scheduler_set_enabled(enabled=False, actor=OPERATOR)
    before = Event.objects.count()
    assert run_cycle.apply(args=[config.bot.pk]).get() == "scheduler off"
    assert Event.objects.count() == before
