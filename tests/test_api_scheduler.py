"""The scheduler over the API: what beat will run, and the switches that change
it, each through the scheduling services and recorded."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from audit.models import Event
from tests.api_support import token_client
from tests.factories import BotConfigFactory, BotFactory
from trading import scheduling
from trading.models import SystemState


def task_of(bot) -> PeriodicTask:  # type: ignore[no-untyped-def]
    return PeriodicTask.objects.get(name=scheduling.task_name(bot))


@pytest.fixture
def bots(db):  # type: ignore[no-untyped-def]
    fast = BotConfigFactory(bot=BotFactory(name="fast"), timeframe="1m").bot
    slow = BotConfigFactory(bot=BotFactory(name="slow", schedule_interval_seconds=600), timeframe="1h").bot
    return fast, slow


@pytest.mark.django_db
def test_get_shows_the_global_switch_and_each_bots_schedule(viewer, bots) -> None:  # type: ignore[no-untyped-def]
    fast, slow = bots
    ran = timezone.now().replace(microsecond=0) - timedelta(seconds=20)
    PeriodicTask.objects.filter(name=scheduling.task_name(fast)).update(last_run_at=ran)

    body = token_client(viewer).get("/api/scheduler").json()

    assert body["enabled"] is True
    rows = {row["name"]: row for row in body["bots"]}
    assert rows["fast"] == {
        "id": fast.pk, "name": "fast", "enabled": True, "interval_seconds": 60, "interval_source": "timeframe",
        "timeframe": "1m", "scheduled": True,
        "last_run_at": ran.isoformat().replace("+00:00", "Z"),
        "next_run_at": (ran + timedelta(seconds=60)).isoformat().replace("+00:00", "Z"),
    }
    assert rows["slow"]["interval_seconds"] == 600 and rows["slow"]["interval_source"] == "bot"
    # never run yet: beat runs it at its next tick
    assert rows["slow"]["last_run_at"] is None and rows["slow"]["next_run_at"] is None


@pytest.mark.django_db
def test_operator_switches_the_scheduler_off_and_every_task_stops(operator, bots) -> None:  # type: ignore[no-untyped-def]
    response = token_client(operator).patch("/api/scheduler", {"enabled": False}, format="json")

    assert response.status_code == 200
    assert response.json()["enabled"] is False
    assert all(row["scheduled"] is False and row["next_run_at"] is None for row in response.json()["bots"])
    assert SystemState.objects.get(id=1).scheduler_enabled is False
    assert not any(task_of(bot).enabled for bot in bots)
    event = Event.objects.get(type="scheduler.disabled")
    assert event.actor == "operator" and event.inputs == {"enabled": False, "previous": True}


@pytest.mark.django_db
def test_operator_sets_a_bots_interval_then_gives_it_back_to_the_timeframe(operator, bots) -> None:  # type: ignore[no-untyped-def]
    fast, _ = bots
    client = token_client(operator)

    set_interval = client.patch(f"/api/scheduler/bots/{fast.pk}", {"interval_seconds": 120}, format="json")
    assert set_interval.status_code == 200
    assert set_interval.json()["interval_seconds"] == 120 and set_interval.json()["interval_source"] == "bot"
    assert task_of(fast).interval.every == 120

    back = client.patch(f"/api/scheduler/bots/{fast.pk}", {"interval_seconds": None}, format="json")
    assert back.json()["interval_seconds"] == 60 and back.json()["interval_source"] == "timeframe"
    assert task_of(fast).interval.every == 60
    changes = Event.objects.filter(type="scheduler.bot.changed", bot=fast).order_by("seq")
    assert [e.inputs["interval_seconds"] for e in changes] == [120, None]
    assert [e.inputs["clear_interval"] for e in changes] == [False, True]
    assert {e.actor for e in changes} == {"operator"}


@pytest.mark.django_db
def test_operator_switches_one_bot_off_and_the_others_keep_running(operator, bots) -> None:  # type: ignore[no-untyped-def]
    fast, slow = bots
    response = token_client(operator).patch(f"/api/scheduler/bots/{slow.pk}", {"enabled": False}, format="json")

    assert response.status_code == 200
    assert response.json()["enabled"] is False and response.json()["scheduled"] is False
    assert not task_of(slow).enabled
    assert task_of(fast).enabled
    # the interval was not touched
    assert task_of(slow).interval.every == 600


@pytest.mark.django_db
def test_an_unknown_bot_is_a_404_and_changes_nothing(operator, bots) -> None:  # type: ignore[no-untyped-def]
    response = token_client(operator).patch("/api/scheduler/bots/999999", {"enabled": False}, format="json")
    assert response.status_code == 404
    assert not Event.objects.filter(type__startswith="scheduler.").exists()


@pytest.mark.django_db
def test_viewer_may_read_but_not_switch(viewer, bots) -> None:  # type: ignore[no-untyped-def]
    client = token_client(viewer)
    assert client.get("/api/scheduler").status_code == 200
    refused = client.patch("/api/scheduler", {"enabled": False}, format="json")
    assert refused.status_code == 403
    assert "needs the operator role" in refused.json()["detail"]
    assert SystemState.objects.filter(id=1, scheduler_enabled=False).count() == 0
