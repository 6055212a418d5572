"""Admin actions go through the services: deciding proposals, switching bots'
scheduled cycles. Operators get them; viewers neither see nor use them."""

from __future__ import annotations

from typing import Any

import pytest
from django_celery_beat.models import PeriodicTask

from approvals import services
from approvals.models import Approval
from audit.actors import Actor
from audit.models import Event
from tests.factories import BotConfigFactory, BotFactory
from trading import scheduling
from trading.models import Bot, BotConfig

APPROVALS = "/admin/approvals/approval/"
BOTS = "/admin/trading/bot/"


def make_bot(name: str) -> Bot:
    bot = BotFactory(name=name)
    BotConfigFactory(bot=bot, version=1, strategy="sma_cross", strategy_params={"fast": 10, "slow": 30}, risk_limits={})
    return bot


def propose(bot: Bot, fast: int = 12) -> Approval:
    return services.propose(
        bot=bot, kind="strategy_params", change={"strategy_params": {"fast": fast}}, proposer=Actor.advisor("rules"),
        rationale="faster", evidence={"available": False, "reason": "test"},
    )


def act(client: Any, url: str, action: str, ids: list[int], **extra: str) -> Any:
    return client.post(url, {"action": action, "_selected_action": [str(i) for i in ids], "index": "0", **extra}, follow=True)


@pytest.mark.django_db
def test_operator_approves_selected_proposals_through_the_service(client, operator) -> None:  # type: ignore[no-untyped-def]
    alpha, beta = make_bot("alpha"), make_bot("beta")
    first, second = propose(alpha), propose(beta)
    client.force_login(operator)

    response = act(client, APPROVALS, "approve_selected", [first.pk, second.pk], note="both fine")

    assert response.status_code == 200
    page = response.content.decode()
    assert (
        f"#{first.pk}: Approved and applied: alpha now runs config v2. "
        f"#{second.pk}: Approved and applied: beta now runs config v2."
    ) in page
    for approval in (first, second):
        approval.refresh_from_db()
        assert approval.status == "APPLIED" and approval.decision_note == "both fine"
        assert approval.decider_name == "operator"
    assert BotConfig.objects.get(bot=alpha, is_active=True).strategy_params["fast"] == 12
    assert Event.objects.filter(type="approvals.approval.approved", actor="operator").count() == 2
    assert Event.objects.filter(type="approvals.approval.applied", actor="operator").count() == 2


@pytest.mark.django_db
def test_operator_rejects_and_decided_ones_are_reported_not_decided_again(client, operator) -> None:  # type: ignore[no-untyped-def]
    alpha = make_bot("alpha")
    pending, decided = propose(alpha), propose(alpha, fast=14)
    services.reject(approval_id=decided.pk, actor=Actor.for_user(operator), note="earlier")
    client.force_login(operator)

    page = act(client, APPROVALS, "reject_selected", [pending.pk, decided.pk], note="not now").content.decode()

    assert f"#{pending.pk}: Rejected: alpha&#x27;s configuration stays as it was." in page
    assert f"Not decided: proposal #{decided.pk} is already rejected." in page
    assert Approval.objects.get(pk=pending.pk).decision_note == "not now"
    assert Approval.objects.get(pk=decided.pk).decision_note == "earlier"
    assert Event.objects.filter(type="approvals.approval.rejected").count() == 2


@pytest.mark.django_db
def test_viewer_is_offered_no_decision_and_cannot_post_one(client, viewer) -> None:  # type: ignore[no-untyped-def]
    approval = propose(make_bot("alpha"))
    client.force_login(viewer)

    page = client.get(APPROVALS).content.decode()
    assert "approve_selected" not in page and "reject_selected" not in page

    act(client, APPROVALS, "approve_selected", [approval.pk])
    assert Approval.objects.get(pk=approval.pk).status == "PENDING"
    assert not Event.objects.filter(type="approvals.approval.approved").exists()


@pytest.mark.django_db
def test_a_note_too_long_decides_nothing(client, operator) -> None:  # type: ignore[no-untyped-def]
    approval = propose(make_bot("alpha"))
    client.force_login(operator)
    page = act(client, APPROVALS, "approve_selected", [approval.pk], note="x" * 2001).content.decode()
    assert "Nothing was decided: the note is longer than 2000 characters." in page
    assert Approval.objects.get(pk=approval.pk).status == "PENDING"


@pytest.mark.django_db
def test_operator_switches_selected_bots_cycles_off_and_on(client, operator) -> None:  # type: ignore[no-untyped-def]
    alpha, beta = make_bot("alpha"), make_bot("beta")
    make_bot("gamma")
    client.force_login(operator)

    page = act(client, BOTS, "switch_cycles_off", [alpha.pk, beta.pk]).content.decode()

    assert "Scheduled cycles off for alpha, beta." in page
    tasks = {t.name: t.enabled for t in PeriodicTask.objects.filter(task=scheduling.CYCLE_TASK)}
    assert tasks == {"trading cycle: alpha": False, "trading cycle: beta": False, "trading cycle: gamma": True}
    changed = Event.objects.filter(type="scheduler.bot.changed").order_by("seq")
    assert [(e.bot.name, e.actor, e.result["enabled"]) for e in changed] == [
        ("alpha", "operator", False), ("beta", "operator", False),
    ]

    act(client, BOTS, "switch_cycles_on", [alpha.pk])
    assert PeriodicTask.objects.get(name="trading cycle: alpha").enabled


@pytest.mark.django_db
def test_viewer_gets_no_scheduler_actions(client, viewer) -> None:  # type: ignore[no-untyped-def]
    alpha = make_bot("alpha")
    client.force_login(viewer)
    assert "switch_cycles_off" not in client.get(BOTS).content.decode()
    act(client, BOTS, "switch_cycles_off", [alpha.pk])
    assert Bot.objects.get(pk=alpha.pk).enabled
    assert not Event.objects.filter(type="scheduler.bot.changed").exists()


@pytest.mark.django_db
def test_a_bots_schedule_is_not_edited_in_its_form(client, admin_user) -> None:  # type: ignore[no-untyped-def]
    alpha = make_bot("alpha")
    client.force_login(admin_user)
    page = client.get(f"{BOTS}{alpha.pk}/change/").content.decode()
    assert 'name="enabled"' not in page and 'name="schedule_interval_seconds"' not in page
    assert 'name="name"' in page
