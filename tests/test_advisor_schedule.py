"""The advisors on beat: one periodic task made idempotently, the rules advisor for
every enabled bot, the OpenAI advisor only when switched on, every run recorded."""

from __future__ import annotations

from datetime import datetime

import pytest
from django_celery_beat.models import PeriodicTask

from approvals.models import Approval
from approvals.tasks import run_advisors
from audit.models import Event
from tests.advisor_data import equity_history, eth_bot
from tests.fakes.openai import FakeOpenAI
from trading import scheduling
from trading.models import Bot

pytestmark = pytest.mark.django_db
START = datetime.fromisoformat("2025-08-18T00:00:00+00:00")


def advisor_task() -> PeriodicTask:
    return PeriodicTask.objects.get(name=scheduling.ADVISOR_TASK_NAME)


def test_the_advisor_task_is_created_once_at_the_configured_interval(settings) -> None:  # type: ignore[no-untyped-def]
    scheduling.ensure_system_tasks()
    scheduling.ensure_system_tasks()
    task = advisor_task()
    assert PeriodicTask.objects.filter(task="approvals.tasks.run_advisors").count() == 1
    assert task.enabled and task.interval.every == 60 * 60 and task.interval.period == "seconds"
    settings.ADVISOR_INTERVAL_MINUTES = 15
    scheduling.ensure_system_tasks()
    assert PeriodicTask.objects.filter(task="approvals.tasks.run_advisors").count() == 1
    assert advisor_task().interval.every == 15 * 60


def test_a_scheduled_run_asks_the_rules_advisor_about_every_enabled_bot(fake_openai: FakeOpenAI) -> None:
    falling = eth_bot(limits={"max_drawdown_pct": "0.1"})
    equity_history(falling, ["10000", "9000"], start=START)
    steady = eth_bot()
    off = eth_bot()
    Bot.objects.filter(pk=off.pk).update(enabled=False)
    assert run_advisors() == {"runs": 2, "proposals": 1}
    runs = Event.objects.filter(type="advisor.run").order_by("seq")
    assert {(e.bot_id, e.actor, e.result["advisor"]) for e in runs} == {
        (falling.pk, "scheduler", "advisor:rules"), (steady.pk, "scheduler", "advisor:rules"),
    }
    assert Approval.objects.get().bot == falling
    assert fake_openai.count() == 0  # a key is set, but by default the schedule leaves OpenAI off


def test_switched_on_the_openai_advisor_runs_on_the_schedule_too(settings, fake_openai: FakeOpenAI) -> None:  # type: ignore[no-untyped-def]
    settings.ADVISOR_SCHEDULE_OPENAI = True
    bot = eth_bot()
    fake_openai.script("valid")
    assert run_advisors() == {"runs": 2, "proposals": 1}
    assert fake_openai.count() == 1
    assert Approval.objects.get(bot=bot).proposer == "advisor:openai:gpt-fake"
    advisors = set(Event.objects.filter(type="advisor.run").values_list("result__advisor", flat=True))
    assert advisors == {"advisor:rules", "advisor:openai:gpt-fake"}


def test_switched_on_without_a_key_the_openai_run_is_refused_and_recorded(settings) -> None:  # type: ignore[no-untyped-def]
    settings.ADVISOR_SCHEDULE_OPENAI = True
    settings.OPENAI_API_KEY = ""
    eth_bot()
    run_advisors()
    outcomes = sorted(Event.objects.filter(type="advisor.run").values_list("result__outcome", flat=True))
    assert outcomes == ["none", "refused"]  # the rules advisor still served once, not twice
    refused = Event.objects.get(type="advisor.run", result__outcome="refused")
    assert "OPENAI_API_KEY" in refused.message
