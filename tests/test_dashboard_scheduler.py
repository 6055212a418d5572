"""The scheduler page: the switches by role, and every change made through the
scheduling services (beat's tasks follow, an event records it)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from audit.models import Event
from tests.factories import BotConfigFactory, BotFactory
from trading import scheduling
from trading.models import Bot, SystemState

HTMX = {"HTTP_HX_REQUEST": "true"}


def task_of(bot: Bot) -> PeriodicTask:
    return PeriodicTask.objects.get(name=scheduling.task_name(bot))


@pytest.fixture
def bots(users):  # type: ignore[no-untyped-def]
    alpha = BotConfigFactory(bot=BotFactory(name="alpha"), timeframe="1m").bot
    beta = BotConfigFactory(bot=BotFactory(name="beta"), timeframe="15m").bot
    return alpha, beta


@pytest.mark.django_db
def test_viewer_sees_each_bots_schedule_and_no_switch(client, viewer, bots) -> None:  # type: ignore[no-untyped-def]
    client.force_login(viewer)
    html = client.get("/scheduler/").content.decode()
    assert "Every bot that is switched on cycles on its schedule." in html
    assert "every 60 s" in html and "every 900 s" in html and "one per candle of 15m" in html
    assert "at beat's next tick" in html
    assert "Your role (viewer) can watch the schedule but not change it." in html
    assert "<form" not in html.split('id="scheduler"')[1].split("</main>")[0]


@pytest.mark.django_db
def test_a_run_well_past_its_time_is_flagged(client, viewer, bots) -> None:  # type: ignore[no-untyped-def]
    alpha, beta = bots
    now = timezone.now()
    PeriodicTask.objects.filter(name=scheduling.task_name(alpha)).update(last_run_at=now - timedelta(minutes=10))
    PeriodicTask.objects.filter(name=scheduling.task_name(beta)).update(last_run_at=now - timedelta(minutes=1))
    client.force_login(viewer)
    html = client.get("/scheduler/").content.decode()
    alpha_row = html.split(f'id="schedule-{alpha.pk}"')[1].split("</tr>")[0]
    beta_row = html.split(f'id="schedule-{beta.pk}"')[1].split("</tr>")[0]
    assert "overdue: is beat running?" in alpha_row  # due 9 minutes ago
    assert "overdue" not in beta_row  # due in 14 minutes


@pytest.mark.django_db
def test_operator_sees_the_switches(client, operator, bots) -> None:  # type: ignore[no-untyped-def]
    client.force_login(operator)
    html = client.get("/scheduler/").content.decode()
    assert "Switch every bot's schedule off" in html
    assert html.count('hx-post="/scheduler/bots/') == 4  # a switch and an interval form per bot
    assert "Use the timeframe" not in html  # both follow their timeframe already


@pytest.mark.django_db
def test_operator_switches_the_scheduler_off_then_on(client, operator, bots) -> None:  # type: ignore[no-untyped-def]
    client.force_login(operator)

    off = client.post("/scheduler/switch/", {"enabled": "off"}, **HTMX)

    assert off.status_code == 200
    html = off.content.decode()
    assert html.lstrip().startswith('<div id="scheduler">')
    assert "The scheduler is off: no bot cycles on a schedule until it is switched on again." in html
    assert "not scheduled: the scheduler is off" in html
    assert not any(task_of(bot).enabled for bot in bots)
    assert SystemState.objects.get(id=1).scheduler_enabled is False

    client.post("/scheduler/switch/", {"enabled": "on"}, **HTMX)
    assert all(task_of(bot).enabled for bot in bots)
    assert list(Event.objects.filter(type__startswith="scheduler.").values_list("type", "actor").order_by("seq")) == [
        ("scheduler.disabled", "operator"), ("scheduler.enabled", "operator"),
    ]


@pytest.mark.django_db
def test_operator_gives_a_bot_its_own_interval_and_takes_it_back(client, operator, bots) -> None:  # type: ignore[no-untyped-def]
    alpha, _ = bots
    client.force_login(operator)

    response = client.post(f"/scheduler/bots/{alpha.pk}/", {"interval": "120"}, **HTMX)
    assert "alpha: cycles on, every 120 s (its own interval)." in response.content.decode()
    assert "Use the timeframe" in response.content.decode()
    assert task_of(alpha).interval.every == 120

    # The "use the timeframe" button posts the interval field too; the button wins.
    back = client.post(f"/scheduler/bots/{alpha.pk}/", {"interval": "120", "follow_timeframe": "on"}, **HTMX)
    assert "alpha: cycles on, every 60 s (one per candle of its timeframe)." in back.content.decode()
    assert task_of(alpha).interval.every == 60
    changes = Event.objects.filter(type="scheduler.bot.changed", bot=alpha).order_by("seq")
    assert [(e.inputs["interval_seconds"], e.inputs["clear_interval"]) for e in changes] == [(120, False), (None, True)]


@pytest.mark.django_db
def test_operator_switches_one_bot_off(client, operator, bots) -> None:  # type: ignore[no-untyped-def]
    alpha, beta = bots
    client.force_login(operator)
    response = client.post(f"/scheduler/bots/{beta.pk}/", {"enabled": "off"}, **HTMX)
    assert "beta: cycles off, every 900 s" in response.content.decode()
    assert "not scheduled: the bot is off" in response.content.decode()
    assert not task_of(beta).enabled and task_of(alpha).enabled


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("data", "why"),
    [
        ({"interval": "0"}, "greater than or equal to 1"),
        ({"interval": "604801"}, "less than or equal to 604800"),
        ({"interval": "soon"}, "Enter a whole number."),
        ({}, "Say what to change"),
        ({"enabled": "maybe"}, "Select a valid choice."),
    ],
)
def test_bad_input_is_a_400_sentence_and_changes_nothing(client, operator, bots, data, why) -> None:  # type: ignore[no-untyped-def]
    alpha, _ = bots
    client.force_login(operator)
    response = client.post(f"/scheduler/bots/{alpha.pk}/", data, **HTMX)
    assert response.status_code == 400
    assert "Nothing was changed for alpha:" in response.content.decode()
    assert why in response.content.decode()
    assert task_of(alpha).interval.every == 60 and task_of(alpha).enabled
    assert not Event.objects.filter(type__startswith="scheduler.").exists()


@pytest.mark.django_db
def test_a_plain_form_post_redirects_back_with_a_message(client, operator, bots) -> None:  # type: ignore[no-untyped-def]
    client.force_login(operator)
    response = client.post("/scheduler/switch/", {"enabled": "off"}, follow=True)
    assert response.redirect_chain == [("/scheduler/", 302)]
    assert "The scheduler is off" in response.content.decode()


@pytest.mark.django_db
def test_viewer_posts_are_refused_by_the_server(client, viewer, bots) -> None:  # type: ignore[no-untyped-def]
    client.force_login(viewer)
    for url, data in (("/scheduler/switch/", {"enabled": "off"}), (f"/scheduler/bots/{bots[0].pk}/", {"enabled": "off"})):
        response = client.post(url, data, **HTMX)
        assert response.status_code == 403
    assert all(task_of(bot).enabled for bot in bots)
    assert not Event.objects.filter(type__startswith="scheduler.").exists()


@pytest.mark.django_db
def test_a_change_without_the_csrf_token_is_refused(operator, bots) -> None:  # type: ignore[no-untyped-def]
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    response = client.post("/scheduler/switch/", {"enabled": "off"}, **HTMX)
    assert response.status_code == 403
    assert "security token" in response.content.decode()
    assert SystemState.objects.get(id=1).scheduler_enabled is True


@pytest.mark.django_db
def test_an_unknown_bot_is_a_404(client, operator, bots) -> None:  # type: ignore[no-untyped-def]
    client.force_login(operator)
    assert client.post("/scheduler/bots/999999/", {"enabled": "off"}, **HTMX).status_code == 404
