"""The approvals pages: what each role sees, and decisions made from the page,
which go through the approvals service and leave the same trail as it does."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from approvals import services
from approvals.models import Approval
from audit.actors import Actor
from audit.models import Event
from audit.services import verify_chain
from tests.dashboard_data import sample_evidence
from tests.factories import BotConfigFactory, BotFactory
from trading.models import Bot, BotConfig

HTMX = {"HTTP_HX_REQUEST": "true"}
ADVISOR = Actor.advisor("rules")
HOSTILE = "Buy now <script>alert('x')</script> & <b>ignore previous instructions</b>"


def make_bot(name: str) -> Bot:
    bot = BotFactory(name=name)
    BotConfigFactory(bot=bot, version=1, strategy="sma_cross", strategy_params={"fast": 10, "slow": 30}, risk_limits={})
    return bot


def propose(bot: Bot, *, rationale: str = "faster entries", evidence: Any = None, **kwargs: Any) -> Approval:
    return services.propose(
        bot=bot, kind="strategy_params", change={"strategy_params": {"fast": 12}}, proposer=ADVISOR,
        rationale=rationale, evidence=evidence or sample_evidence(start=datetime(2024, 1, 1, tzinfo=UTC)),
        **kwargs,
    )


def trail(approval: Approval) -> list[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    """The approval's events without what differs between two proposals (ids, versions in words)."""
    rows = []
    for event in Event.objects.filter(inputs__approval_id=approval.pk).order_by("seq"):
        inputs = {k: v for k, v in event.inputs.items() if k not in ("approval_id", "expires_at")}
        rows.append((event.type, event.actor, inputs, event.result))
    return rows


@pytest.fixture
def bots(users):  # type: ignore[no-untyped-def]
    return make_bot("alpha"), make_bot("beta")


@pytest.mark.django_db
def test_viewer_reads_a_pending_proposal_but_gets_no_decision_form(client, viewer, bots) -> None:  # type: ignore[no-untyped-def]
    approval = propose(bots[0], ttl_minutes=90)
    client.force_login(viewer)

    html = client.get("/approvals/").content.decode()

    assert f'id="approval-{approval.pk}"' in html
    assert re.search(r'data-countdown data-seconds="5(3\d\d|400)">1 h (29|30) min</time>', html)
    assert "If nobody decides by then, nothing else happens." in html
    assert "strategy_params.fast" in html and "<del>10</del>" in html and "<ins>12</ins>" in html
    assert "Total return" in html and "+2.00 pts" in html
    assert f'id="evidence-data-{approval.pk}"' in html
    assert "Your role (viewer) can read proposals but not decide them." in html
    assert "Approve and apply" not in html and f"/approvals/{approval.pk}/decide/" not in html


@pytest.mark.django_db
def test_operator_gets_approve_and_reject_with_a_note(client, operator, bots) -> None:  # type: ignore[no-untyped-def]
    approval = propose(bots[0])
    client.force_login(operator)
    html = client.get("/approvals/").content.decode()
    assert f'hx-post="/approvals/{approval.pk}/decide/"' in html
    assert 'name="note"' in html
    assert 'name="decision" value="approve" class="primary">Approve and apply<' in html
    assert 'name="decision" value="reject">Reject<' in html


@pytest.mark.django_db
def test_the_advisors_rationale_is_escaped_text(client, viewer, bots) -> None:  # type: ignore[no-untyped-def]
    propose(bots[0], rationale=HOSTILE + "\nsecond line")
    client.force_login(viewer)
    html = client.get("/approvals/").content.decode()
    assert "<script>alert" not in html and "<b>ignore" not in html
    assert "Buy now &lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &lt;b&gt;ignore previous instructions&lt;/b&gt;<br>second line" in html


@pytest.mark.django_db
def test_the_evidence_curves_reach_the_page_as_chart_data(client, viewer, bots) -> None:  # type: ignore[no-untyped-def]
    approval = propose(bots[0])
    client.force_login(viewer)
    html = client.get(f"/approvals/{approval.pk}/").content.decode()
    match = re.search(rf'<script id="evidence-data-{approval.pk}" type="application/json">(.*?)</script>', html, re.S)
    assert match
    chart = json.loads(match.group(1))
    assert len(chart["before"]) == len(chart["after"]) == 100
    assert chart["before"][0] == [int(datetime(2024, 1, 1, tzinfo=UTC).timestamp()), 10000.0]
    assert [t for t, _ in chart["after"]] == sorted({t for t, _ in chart["after"]})


@pytest.mark.django_db
def test_evidence_that_could_not_be_built_says_why(client, viewer, bots) -> None:  # type: ignore[no-untyped-def]
    propose(bots[0], evidence={"available": False, "reason": "no BTCUSDT 1m candles in the cache"})
    client.force_login(viewer)
    html = client.get("/approvals/").content.decode()
    assert "No backtest evidence: no BTCUSDT 1m candles in the cache" in html
    assert "evidence-chart" not in html


@pytest.mark.django_db
def test_approving_from_the_page_leaves_the_same_trail_as_the_service(client, operator, bots) -> None:  # type: ignore[no-untyped-def]
    by_page, by_service = propose(bots[0]), propose(bots[1])
    client.force_login(operator)

    response = client.post(f"/approvals/{by_page.pk}/decide/", {"decision": "approve", "note": "better sharpe"}, **HTMX)
    services.approve(approval_id=by_service.pk, actor=Actor.for_user(operator), note="better sharpe")

    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith(f'<article id="approval-{by_page.pk}"')
    assert "Approved and applied: alpha now runs config v2." in html
    assert "Approve and apply" not in html
    by_page.refresh_from_db()
    assert by_page.status == "APPLIED" and by_page.decision_note == "better sharpe"
    assert BotConfig.objects.get(bot=bots[0], is_active=True).strategy_params == {"fast": 12, "slow": 30}
    assert trail(by_page) == trail(by_service)
    assert [row[0] for row in trail(by_page)] == [
        "approvals.approval.proposed", "approvals.approval.approved", "approvals.approval.applied",
    ]
    assert verify_chain().ok


@pytest.mark.django_db
def test_rejecting_from_the_page_leaves_the_same_trail_as_the_service(client, operator, bots) -> None:  # type: ignore[no-untyped-def]
    by_page, by_service = propose(bots[0]), propose(bots[1])
    client.force_login(operator)

    response = client.post(f"/approvals/{by_page.pk}/decide/", {"decision": "reject", "note": "too jumpy"}, **HTMX)
    services.reject(approval_id=by_service.pk, actor=Actor.for_user(operator), note="too jumpy")

    assert "Rejected: alpha&#x27;s configuration stays as it was." in response.content.decode()
    assert trail(by_page) == trail(by_service)
    assert BotConfig.objects.filter(bot=bots[0]).count() == 1


@pytest.mark.django_db
def test_a_second_decision_is_refused_as_a_sentence_and_changes_nothing(client, operator, bots) -> None:  # type: ignore[no-untyped-def]
    approval = propose(bots[0])
    client.force_login(operator)
    client.post(f"/approvals/{approval.pk}/decide/", {"decision": "reject"}, **HTMX)
    events = Event.objects.count()

    response = client.post(f"/approvals/{approval.pk}/decide/", {"decision": "approve"}, **HTMX)

    assert response.status_code == 409
    assert f"Nothing was changed: proposal #{approval.pk} is already rejected." in response.content.decode()
    assert Event.objects.count() == events
    assert Approval.objects.get(pk=approval.pk).status == "REJECTED"


@pytest.mark.django_db
def test_an_expired_proposal_shows_no_form_and_is_refused(client, operator, bots) -> None:  # type: ignore[no-untyped-def]
    approval = propose(bots[0], ttl_minutes=5, now=timezone.now() - timedelta(minutes=10))
    client.force_login(operator)

    html = client.get("/approvals/").content.decode()
    assert "it can no longer be approved or rejected" in html
    assert f"/approvals/{approval.pk}/decide/" not in html

    response = client.post(f"/approvals/{approval.pk}/decide/", {"decision": "approve"}, **HTMX)
    assert response.status_code == 409
    assert "expired at" in response.content.decode()
    assert BotConfig.objects.filter(bot=bots[0]).count() == 1


@pytest.mark.django_db
def test_the_expiry_policy_is_spelled_out(client, viewer, bots) -> None:  # type: ignore[no-untyped-def]
    propose(bots[0], on_expiry="emergency_stop")
    client.force_login(viewer)
    assert "If nobody decides by then, <strong>the system goes to an emergency stop</strong>." in client.get(
        "/approvals/"
    ).content.decode()


@pytest.mark.django_db
def test_viewer_cannot_decide_even_by_posting(client, viewer, bots) -> None:  # type: ignore[no-untyped-def]
    approval = propose(bots[0])
    client.force_login(viewer)
    response = client.post(f"/approvals/{approval.pk}/decide/", {"decision": "approve"}, **HTMX)
    assert response.status_code == 403
    assert "This needs the operator role, and you are signed in as viewer." in response.content.decode()
    assert Approval.objects.get(pk=approval.pk).status == "PENDING"


@pytest.mark.django_db
def test_a_decision_without_the_csrf_token_is_refused(operator, bots) -> None:  # type: ignore[no-untyped-def]
    approval = propose(bots[0])
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    response = client.post(f"/approvals/{approval.pk}/decide/", {"decision": "approve"}, **HTMX)
    assert response.status_code == 403
    assert "security token was missing or out of date" in response.content.decode()
    assert Approval.objects.get(pk=approval.pk).status == "PENDING"


@pytest.mark.django_db
def test_a_plain_form_post_goes_back_to_the_list_with_a_message(client, operator, bots) -> None:  # type: ignore[no-untyped-def]
    approval = propose(bots[0])
    client.force_login(operator)
    response = client.post(f"/approvals/{approval.pk}/decide/", {"decision": "reject", "note": "no"}, follow=True)
    assert response.redirect_chain == [("/approvals/", 302)]
    assert "Rejected: alpha&#x27;s configuration stays as it was." in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("data", [{}, {"decision": "maybe"}, {"decision": "approve", "note": "x" * 2001}])
def test_a_malformed_decision_is_a_400_sentence(client, operator, bots, data) -> None:  # type: ignore[no-untyped-def]
    approval = propose(bots[0])
    client.force_login(operator)
    response = client.post(f"/approvals/{approval.pk}/decide/", data, **HTMX)
    assert response.status_code == 400
    assert "Say whether to approve or reject" in response.content.decode()
    assert Approval.objects.get(pk=approval.pk).status == "PENDING"


@pytest.mark.django_db
def test_an_unknown_proposal_is_a_404_sentence(client, operator, bots) -> None:  # type: ignore[no-untyped-def]
    client.force_login(operator)
    response = client.post("/approvals/999999/decide/", {"decision": "approve"}, **HTMX)
    assert response.status_code == 404
    assert "No proposal #999999" in response.content.decode()
    assert client.get("/approvals/999999/").status_code == 404


@pytest.mark.django_db
def test_history_lists_decided_proposals_with_decider_note_and_outcome(client, operator, admin_user, bots) -> None:  # type: ignore[no-untyped-def]
    applied, rejected = propose(bots[0]), propose(bots[1])
    services.approve(approval_id=applied.pk, actor=Actor.for_user(operator), note="ok")
    services.reject(approval_id=rejected.pk, actor=Actor.for_user(operator), note="not <now>")
    moved_on = services.propose(
        bot=bots[1], kind="strategy_params", change={"strategy_params": {"slow": 40}}, proposer=ADVISOR,
        evidence={"available": False, "reason": "none"},
    )
    from trading.services import bot_config_create

    bot_config_create(bot=bots[1], actor=Actor.for_user(admin_user), source="manual", strategy_params={"fast": 9})
    services.approve(approval_id=moved_on.pk, actor=Actor.for_user(operator))
    client.force_login(operator)

    html = client.get("/approvals/").content.decode()

    assert "Nothing is waiting for a decision." in html
    history = html[html.index('id="table"'):]
    assert f'href="/approvals/{applied.pk}/"' in history
    assert 'applied as <a href="/bots/alpha/">v2</a>' in history
    assert "not &lt;now&gt;" in history
    assert "not applied: the configuration moved on since this proposal" in history
    assert history.count("<tr>") == 4  # header + three decided
    fragment = client.get("/approvals/?page=1", **HTMX).content.decode()
    assert fragment.lstrip().startswith('<section id="table"')


@pytest.mark.django_db
def test_a_decided_proposals_page_shows_who_decided_and_why(client, viewer, operator, bots) -> None:  # type: ignore[no-untyped-def]
    approval = propose(bots[0])
    services.reject(approval_id=approval.pk, actor=Actor.for_user(operator), note="later")
    client.force_login(viewer)
    html = client.get(f"/approvals/{approval.pk}/").content.decode()
    assert "<dt>Decided by</dt><dd>operator</dd>" in html
    assert "<dt>Note</dt><dd>later</dd>" in html
    assert "<dt>Outcome</dt><dd>nothing changed</dd>" in html
    assert "data-countdown" not in html
