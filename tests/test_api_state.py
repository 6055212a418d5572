"""The system state over the API: every change through ``trading.state``, audited
with the user as actor; refusals are 409, a missing reason is 400."""

from __future__ import annotations

import pytest

from audit.models import Event
from tests.api_support import set_state, token_client
from tests.factories import BotFactory, OrderFactory
from trading.models import Order, SystemState


def current() -> str:
    return SystemState.objects.get(id=1).state


@pytest.mark.django_db
def test_viewer_reads_the_state(viewer) -> None:  # type: ignore[no-untyped-def]
    body = token_client(viewer).get("/api/system/state").json()
    assert body["state"] == "PAUSED"
    assert set(body) == {"state", "reason", "changed_at", "changed_by", "scheduler_enabled"}


@pytest.mark.django_db
def test_operator_pauses_a_running_system_and_is_the_actor(operator) -> None:  # type: ignore[no-untyped-def]
    set_state("RUNNING")
    response = token_client(operator).post("/api/system/pause", {"reason": "news at 14:00"}, format="json")
    assert response.status_code == 200
    assert response.json()["state"] == "PAUSED"
    assert response.json()["changed_by"] == "operator"
    event = Event.objects.get(type="system.state.changed")
    assert event.actor == "operator"
    assert event.message == "news at 14:00"
    assert event.inputs == {"from": "RUNNING", "to": "PAUSED", "reason": "news at 14:00", "role": "operator"}


@pytest.mark.django_db
def test_operator_resumes_a_paused_system(operator) -> None:  # type: ignore[no-untyped-def]
    response = token_client(operator).post("/api/system/resume", {}, format="json")
    assert response.status_code == 200
    assert current() == "RUNNING"
    assert Event.objects.get(type="system.state.changed").inputs["to"] == "RUNNING"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "start"),
    [
        ("/api/system/pause", "RUNNING"),
        ("/api/system/resume", "PAUSED"),
        ("/api/system/emergency-stop", "RUNNING"),
        ("/api/system/resume-after-emergency", "EMERGENCY_STOP"),
    ],
)
def test_viewer_changes_nothing_and_writes_nothing(viewer, path: str, start: str) -> None:  # type: ignore[no-untyped-def]
    set_state(start)
    response = token_client(viewer).post(path, {"reason": "because"}, format="json")
    assert response.status_code == 403
    assert current() == start
    assert not Event.objects.exists()


@pytest.mark.django_db
def test_pausing_a_paused_system_is_a_409_and_is_recorded(operator) -> None:  # type: ignore[no-untyped-def]
    response = token_client(operator).post("/api/system/pause", {}, format="json")
    assert response.status_code == 409
    assert response.json() == {"detail": "the system is already paused", "code": "transition_not_allowed"}
    refused = Event.objects.get(type="system.state.refused")
    assert refused.actor == "operator"
    assert not Event.objects.filter(type="system.state.changed").exists()


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/system/resume", "/api/system/pause"])
def test_plain_resume_or_pause_never_leaves_an_emergency_stop(admin_user, path: str) -> None:  # type: ignore[no-untyped-def]
    set_state("EMERGENCY_STOP")
    response = token_client(admin_user).post(path, {"reason": "looks fine"}, format="json")
    assert response.status_code == 409
    assert "emergency stop" in response.json()["detail"]
    assert current() == "EMERGENCY_STOP"


@pytest.mark.django_db
def test_operator_emergency_stop_cancels_working_orders(operator) -> None:  # type: ignore[no-untyped-def]
    set_state("RUNNING")
    order = OrderFactory(bot=BotFactory(), status=Order.Status.OPEN)
    response = token_client(operator).post("/api/system/emergency-stop", {"reason": "flash crash"}, format="json")
    assert response.status_code == 200
    assert response.json()["state"] == "EMERGENCY_STOP"
    order.refresh_from_db()
    assert order.status == Order.Status.CANCELED
    change = Event.objects.get(type="system.state.changed")
    assert change.actor == "operator"
    assert change.result["canceled_orders"] == [order.client_order_id]


@pytest.mark.django_db
def test_emergency_stop_without_a_reason_still_says_why(operator) -> None:  # type: ignore[no-untyped-def]
    assert token_client(operator).post("/api/system/emergency-stop").status_code == 200
    assert Event.objects.get(type="system.state.changed").inputs["reason"] == "emergency stop"


@pytest.mark.django_db
def test_emergency_stop_twice_is_a_409(operator) -> None:  # type: ignore[no-untyped-def]
    set_state("EMERGENCY_STOP")
    assert token_client(operator).post("/api/system/emergency-stop", {}, format="json").status_code == 409


@pytest.mark.django_db
@pytest.mark.parametrize("body", [{}, {"reason": ""}, {"reason": "   "}, {"target": "RUNNING"}])
def test_resume_after_emergency_needs_a_reason(admin_user, body: dict) -> None:  # type: ignore[no-untyped-def,type-arg]
    set_state("EMERGENCY_STOP")
    response = token_client(admin_user).post("/api/system/resume-after-emergency", body, format="json")
    assert response.status_code == 400
    assert "reason" in response.json()
    assert current() == "EMERGENCY_STOP"
    assert not Event.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(("body", "expected"), [({}, "PAUSED"), ({"target": "RUNNING"}, "RUNNING")])
def test_admin_resumes_after_emergency_with_a_reason(admin_user, body: dict, expected: str) -> None:  # type: ignore[no-untyped-def,type-arg]
    set_state("EMERGENCY_STOP")
    response = token_client(admin_user).post(
        "/api/system/resume-after-emergency", {"reason": "exchange is back", **body}, format="json"
    )
    assert response.status_code == 200
    assert current() == expected
    event = Event.objects.get(type="system.state.changed")
    assert event.actor == "admin"
    assert event.inputs["reason"] == "exchange is back"
    assert event.inputs["from"] == "EMERGENCY_STOP"


@pytest.mark.django_db
def test_resume_after_emergency_outside_an_emergency_is_a_409(admin_user) -> None:  # type: ignore[no-untyped-def]
    response = token_client(admin_user).post(
        "/api/system/resume-after-emergency", {"reason": "just because", "target": "RUNNING"}, format="json"
    )
    assert response.status_code == 409
    assert current() == "PAUSED"


@pytest.mark.django_db
def test_operator_may_not_resume_after_emergency(operator) -> None:  # type: ignore[no-untyped-def]
    set_state("EMERGENCY_STOP")
    response = token_client(operator).post(
        "/api/system/resume-after-emergency", {"reason": "please"}, format="json"
    )
    assert response.status_code == 403
    assert current() == "EMERGENCY_STOP"
