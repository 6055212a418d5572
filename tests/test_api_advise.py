"""Asking an advisor on demand over the API: a proposal at most, never a change."""

from __future__ import annotations

import pytest

from approvals.models import Approval
from audit.models import Event
from tests.api_support import token_client
from tests.factories import BotConfigFactory


@pytest.mark.django_db
def test_an_operator_asks_the_rules_advisor_and_nothing_changes_without_approval(operator) -> None:  # type: ignore[no-untyped-def]
    config = BotConfigFactory()
    response = token_client(operator).post(f"/api/bots/{config.bot.pk}/advise", {"advisor": "rules"}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["requested"] == "rules"
    assert body["outcome"] in {"proposed", "none", "refused", "failed"}
    assert len(body["proposals"]) == Approval.objects.filter(status="PENDING").count()
    config.bot.refresh_from_db()
    assert config.bot.active_config.pk == config.pk  # nothing applied
    run = Event.objects.filter(type="advisor.run").latest("seq")
    assert run.actor == "operator"


@pytest.mark.django_db
def test_asking_about_an_unknown_bot_is_a_404(operator) -> None:  # type: ignore[no-untyped-def]
    assert token_client(operator).post("/api/bots/999/advise", {}, format="json").status_code == 404
