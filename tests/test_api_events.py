"""The audit trail and the approvals over the API (read only)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from approvals.models import Approval
from audit.actors import Actor, Role
from audit.services import record
from tests.api_support import token_client
from tests.factories import ApprovalFactory, BotConfigFactory, BotFactory

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def events():  # type: ignore[no-untyped-def]
    bot = BotFactory(name="alpha")
    operator = Actor("operator", Role.OPERATOR)
    made = [
        record("system.state.changed", operator, "pause", inputs={"to": "PAUSED"}, at=T0),
        record("trading.order.filled", "scheduler", "filled", inputs={"qty": "0.01"}, result={"ok": True},
               bot=bot, at=T0 + timedelta(minutes=5)),
        record("system.state.refused", operator, "no", at=T0 + timedelta(minutes=10)),
        record("auth.login.succeeded", "viewer", "signed in", at=T0 + timedelta(minutes=15)),
    ]
    return {"bot": bot, "events": made}


@pytest.mark.django_db
def test_events_filter_by_type_actor_bot_and_time(viewer, events) -> None:  # type: ignore[no-untyped-def]
    client = token_client(viewer)
    made = events["events"]

    def seqs(query: str) -> list[int]:
        response = client.get(f"/api/events{query}")
        assert response.status_code == 200, response.json()
        return [row["seq"] for row in response.json()["results"]]

    assert seqs("") == [e.seq for e in reversed(made)]
    assert seqs("?type=system.state.changed") == [made[0].seq]
    assert seqs("?type_prefix=system.") == [made[2].seq, made[0].seq]
    assert seqs("?actor=operator") == [made[2].seq, made[0].seq]
    assert seqs(f"?bot={events['bot'].pk}") == [made[1].seq]
    assert seqs("?since=2026-03-01T12:05:00Z&until=2026-03-01T12:15:00Z") == [made[2].seq, made[1].seq]
    assert client.get("/api/events?since=soon").status_code == 400


@pytest.mark.django_db
def test_event_list_is_light_and_the_detail_has_inputs_and_result(viewer, events) -> None:  # type: ignore[no-untyped-def]
    client = token_client(viewer)
    filled = events["events"][1]
    row = next(r for r in client.get("/api/events").json()["results"] if r["seq"] == filled.seq)
    assert "inputs" not in row
    detail = client.get(f"/api/events/{filled.seq}").json()
    assert detail["inputs"] == {"qty": "0.01"} and detail["result"] == {"ok": True}
    assert detail["actor"] == "scheduler" and detail["bot"] == events["bot"].pk
    assert detail["hash"] == filled.hash and detail["prev_hash"] == filled.prev_hash
    assert client.get("/api/events/99999").status_code == 404


@pytest.mark.django_db
def test_chain_verification_reports_an_edited_event(viewer, events) -> None:  # type: ignore[no-untyped-def]
    client = token_client(viewer)
    assert client.get("/api/events/verify").json() == {
        "ok": True, "checked": 4, "first_bad_seq": None, "problem": "",
    }
    tampered = events["events"][1]
    with connection.cursor() as cursor:
        cursor.execute("UPDATE events_log SET message = %s WHERE seq = %s", ["nothing happened", tampered.seq])
    report = client.get("/api/events/verify").json()
    assert report["ok"] is False
    assert report["first_bad_seq"] == tampered.seq
    assert "edited" in report["problem"]


@pytest.mark.django_db
def test_approvals_list_by_status_and_detail(viewer) -> None:  # type: ignore[no-untyped-def]
    config = BotConfigFactory(bot=BotFactory(name="alpha"), version=3)
    pending = ApprovalFactory(base_config=config)
    rejected = ApprovalFactory(base_config=config, status=Approval.Status.REJECTED, decider_name="operator")
    client = token_client(viewer)
    listed = client.get("/api/approvals?status=PENDING").json()["results"]
    assert [a["id"] for a in listed] == [pending.pk]
    assert {a["id"] for a in client.get("/api/approvals").json()["results"]} == {pending.pk, rejected.pk}
    detail = client.get(f"/api/approvals/{rejected.pk}").json()
    assert detail["status"] == "REJECTED" and detail["decider_name"] == "operator"
    assert detail["base_config_version"] == 3 and detail["applied_config_version"] is None
    assert detail["change"]["set"] == {"strategy_params": {"fast": 14}}
    assert detail["change"]["diff"] == [{"path": "strategy_params.fast", "from": 10, "to": 14}]
    assert client.get("/api/approvals?status=MAYBE").status_code == 400
    assert client.get("/api/approvals/99999").status_code == 404
