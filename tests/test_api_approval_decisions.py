"""Approving and rejecting proposals over the API: each decision goes through the
approvals service, and a refusal says why with the right status."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from approvals import services
from approvals.models import Approval
from audit.actors import Actor
from audit.models import Event
from tests.api_support import token_client
from tests.factories import BotConfigFactory
from trading.models import Bot, BotConfig
from trading.services import bot_config_create

ADVISOR = Actor.advisor("rules")
EVIDENCE = {"available": False, "reason": "no candles in this test"}


def make_bot() -> Bot:
    return BotConfigFactory(version=1, strategy="sma_cross", strategy_params={"fast": 10, "slow": 30}, risk_limits={}).bot


def propose(bot: Bot, **kwargs: object) -> Approval:
    return services.propose(
        bot=bot, kind="strategy_params", change={"strategy_params": {"fast": 12}}, proposer=ADVISOR,
        rationale="faster entries", evidence=EVIDENCE, **kwargs,  # type: ignore[arg-type]
    )


def event_types(approval: Approval) -> list[str]:
    return list(Event.objects.filter(inputs__approval_id=approval.pk).order_by("seq").values_list("type", flat=True))


@pytest.mark.django_db
def test_operator_approves_and_the_change_becomes_the_next_version(operator) -> None:  # type: ignore[no-untyped-def]
    bot = make_bot()
    approval = propose(bot)

    response = token_client(operator).post(f"/api/approvals/{approval.pk}/approve", {"note": "fine"}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "APPLIED"
    assert body["decider_name"] == "operator" and body["decision_note"] == "fine"
    active = BotConfig.objects.get(bot=bot, is_active=True)
    assert body["applied_config_version"] == active.version == 2
    assert active.strategy_params["fast"] == 12 and active.source == BotConfig.Source.APPROVAL
    assert event_types(approval) == [
        "approvals.approval.proposed", "approvals.approval.approved", "approvals.approval.applied",
    ]
    assert Event.objects.get(type="approvals.approval.approved").actor == "operator"


@pytest.mark.django_db
def test_operator_rejects_with_a_note_and_nothing_else_changes(operator) -> None:  # type: ignore[no-untyped-def]
    bot = make_bot()
    approval = propose(bot)

    response = token_client(operator).post(
        f"/api/approvals/{approval.pk}/reject", {"note": "too jumpy"}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["status"] == "REJECTED" and response.json()["decision_note"] == "too jumpy"
    assert BotConfig.objects.filter(bot=bot).count() == 1
    assert event_types(approval) == ["approvals.approval.proposed", "approvals.approval.rejected"]
    assert Event.objects.get(type="approvals.approval.rejected").message == f"proposal #{approval.pk} rejected: too jumpy"


@pytest.mark.django_db
@pytest.mark.parametrize("second", ["approve", "reject"])
def test_a_decided_proposal_cannot_be_decided_again(operator, second) -> None:  # type: ignore[no-untyped-def]
    approval = propose(make_bot())
    client = token_client(operator)
    client.post(f"/api/approvals/{approval.pk}/reject", {}, format="json")
    events = Event.objects.count()

    response = client.post(f"/api/approvals/{approval.pk}/{second}", {"note": "again"}, format="json")

    assert response.status_code == 409
    assert response.json() == {"detail": f"proposal #{approval.pk} is already rejected", "code": "already_decided"}
    assert Event.objects.count() == events
    assert Approval.objects.get(pk=approval.pk).decision_note == ""


@pytest.mark.django_db
def test_an_expired_proposal_is_a_409_even_before_the_expiry_task_ran(operator) -> None:  # type: ignore[no-untyped-def]
    bot = make_bot()
    approval = propose(bot, ttl_minutes=5, now=timezone.now() - timedelta(minutes=10))

    response = token_client(operator).post(f"/api/approvals/{approval.pk}/approve", {}, format="json")

    assert response.status_code == 409
    assert "expired at" in response.json()["detail"]
    assert Approval.objects.get(pk=approval.pk).status == Approval.Status.PENDING
    assert BotConfig.objects.filter(bot=bot).count() == 1


@pytest.mark.django_db
def test_an_unknown_proposal_is_a_404(operator) -> None:  # type: ignore[no-untyped-def]
    response = token_client(operator).post("/api/approvals/999999/approve", {}, format="json")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


@pytest.mark.django_db
def test_viewer_is_refused_and_the_proposal_stays_pending(viewer) -> None:  # type: ignore[no-untyped-def]
    approval = propose(make_bot())
    response = token_client(viewer).post(f"/api/approvals/{approval.pk}/approve", {}, format="json")
    assert response.status_code == 403
    assert Approval.objects.get(pk=approval.pk).status == Approval.Status.PENDING
    assert event_types(approval) == ["approvals.approval.proposed"]


@pytest.mark.django_db
def test_approving_after_the_config_moved_on_answers_failed_with_the_reason(operator, admin_user) -> None:  # type: ignore[no-untyped-def]
    bot = make_bot()
    approval = propose(bot)
    bot_config_create(bot=bot, actor=Actor.for_user(admin_user), source="manual", strategy_params={"fast": 8})

    response = token_client(operator).post(f"/api/approvals/{approval.pk}/approve", {}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "FAILED" and body["applied_config_version"] is None
    assert "the configuration moved on" in body["failure_reason"]
    assert BotConfig.objects.get(bot=bot, is_active=True).strategy_params["fast"] == 8
