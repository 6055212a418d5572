"""Changing the system state from the overview: every change goes through the
state service as an audited transition, refusals come back as sentences, and a
POST without the CSRF token changes nothing."""

from __future__ import annotations

import pytest
from django.test import Client

from audit.models import Event
from audit.services import verify_chain
from tests.factories import BotFactory, OrderFactory
from trading.models import Order, SystemState

CHANGE = "/system/state/change/"
HTMX = {"HTTP_HX_REQUEST": "true"}


def set_state(value: str) -> None:
    SystemState.objects.update_or_create(id=1, defaults={"state": value})


def current() -> SystemState:
    return SystemState.objects.get(id=1)


@pytest.mark.django_db
def test_operator_pause_from_the_page_is_an_audited_transition(client, operator) -> None:  # type: ignore[no-untyped-def]
    set_state("RUNNING")
    client.force_login(operator)

    response = client.post(CHANGE, {"target": "PAUSED"}, **HTMX)

    assert response.status_code == 200
    assert current().state == "PAUSED"
    assert current().changed_by == "operator"
    event = Event.objects.get(type="system.state.changed")
    assert event.actor == "operator"
    assert event.inputs["from"] == "RUNNING" and event.inputs["to"] == "PAUSED"
    assert event.inputs["role"] == "operator"
    assert verify_chain().ok
    html = response.content.decode()
    assert "The system is now paused." in html
    # The header badge comes along out of band, so it changes at once.
    assert 'id="system-state" class="badge badge--paused"' in html
    assert 'hx-swap-oob="true"' in html


@pytest.mark.django_db
def test_operator_resumes_from_pause(client, operator) -> None:  # type: ignore[no-untyped-def]
    set_state("PAUSED")
    client.force_login(operator)
    client.post(CHANGE, {"target": "RUNNING"}, **HTMX)
    assert current().state == "RUNNING"


@pytest.mark.django_db
def test_emergency_stop_first_asks_to_confirm_and_changes_nothing(client, operator) -> None:  # type: ignore[no-untyped-def]
    set_state("RUNNING")
    client.force_login(operator)

    response = client.post(CHANGE, {"target": "EMERGENCY_STOP"}, **HTMX)

    assert response.status_code == 200
    html = response.content.decode()
    assert "Stop everything?" in html
    assert 'name="confirmed" value="on"' in html
    assert current().state == "RUNNING"
    assert not Event.objects.filter(type__startswith="system.state").exists()


@pytest.mark.django_db
def test_confirmed_emergency_stop_stops_and_cancels_working_orders(client, operator) -> None:  # type: ignore[no-untyped-def]
    set_state("RUNNING")
    order = OrderFactory(bot=BotFactory(), status=Order.Status.OPEN)
    client.force_login(operator)

    response = client.post(
        CHANGE, {"target": "EMERGENCY_STOP", "confirmed": "on", "reason": "exchange misbehaving"}, **HTMX
    )

    assert response.status_code == 200
    assert current().state == "EMERGENCY_STOP"
    assert current().reason == "exchange misbehaving"
    order.refresh_from_db()
    assert order.status == Order.Status.CANCELED
    changed = Event.objects.get(type="system.state.changed")
    assert changed.result["canceled_orders"] == [order.client_order_id]
    assert "Only an admin can leave an emergency stop." in response.content.decode()


@pytest.mark.django_db
def test_operator_cannot_leave_an_emergency_stop(client, operator) -> None:  # type: ignore[no-untyped-def]
    set_state("EMERGENCY_STOP")
    client.force_login(operator)

    response = client.post(CHANGE, {"target": "RUNNING", "reason": "looks fine"}, **HTMX)

    assert response.status_code == 403
    assert "Refused: operator may not go from emergency stop to running: needs admin." in response.content.decode()
    assert current().state == "EMERGENCY_STOP"
    refused = Event.objects.get(type="system.state.refused")
    assert refused.actor == "operator"


@pytest.mark.django_db
def test_admin_must_give_a_reason_to_leave_an_emergency_stop(client, admin_user) -> None:  # type: ignore[no-untyped-def]
    set_state("EMERGENCY_STOP")
    client.force_login(admin_user)

    response = client.post(CHANGE, {"target": "RUNNING", "reason": "   "}, **HTMX)

    assert response.status_code == 400
    assert "leaving an emergency stop needs a written reason" in response.content.decode()
    assert current().state == "EMERGENCY_STOP"


@pytest.mark.django_db
@pytest.mark.parametrize("target", ["PAUSED", "RUNNING"])
def test_admin_leaves_an_emergency_stop_with_a_reason(client, admin_user, target) -> None:  # type: ignore[no-untyped-def]
    set_state("EMERGENCY_STOP")
    client.force_login(admin_user)

    client.post(CHANGE, {"target": target, "reason": "limits lowered after review"}, **HTMX)

    assert current().state == target
    event = Event.objects.get(type="system.state.changed")
    assert event.actor == "admin" and event.message == "limits lowered after review"


@pytest.mark.django_db
def test_a_transition_that_is_already_done_is_refused_as_a_sentence(client, operator) -> None:  # type: ignore[no-untyped-def]
    set_state("PAUSED")
    client.force_login(operator)
    response = client.post(CHANGE, {"target": "PAUSED"}, **HTMX)
    assert response.status_code == 409
    assert "Refused: the system is already paused." in response.content.decode()


@pytest.mark.django_db
def test_an_unknown_target_is_refused_without_touching_the_state(client, operator) -> None:  # type: ignore[no-untyped-def]
    set_state("RUNNING")
    client.force_login(operator)
    response = client.post(CHANGE, {"target": "TURBO"}, **HTMX)
    assert response.status_code == 400
    assert "That is not a state the system knows." in response.content.decode()
    assert current().state == "RUNNING"


@pytest.mark.django_db
def test_viewer_post_is_refused_by_the_server(client, viewer) -> None:  # type: ignore[no-untyped-def]
    set_state("RUNNING")
    client.force_login(viewer)
    response = client.post(CHANGE, {"target": "EMERGENCY_STOP", "confirmed": "on"}, **HTMX)
    assert response.status_code == 403
    assert current().state == "RUNNING"


@pytest.mark.django_db
def test_a_plain_form_post_redirects_to_the_overview_with_a_message(client, operator) -> None:  # type: ignore[no-untyped-def]
    set_state("RUNNING")
    client.force_login(operator)
    response = client.post(CHANGE, {"target": "PAUSED"}, follow=True)
    assert response.redirect_chain == [("/", 302)]
    assert "The system is now paused." in response.content.decode()
    assert current().state == "PAUSED"


@pytest.mark.django_db
def test_a_plain_form_post_for_emergency_stop_shows_the_confirmation_page(client, operator) -> None:  # type: ignore[no-untyped-def]
    set_state("PAUSED")
    client.force_login(operator)
    response = client.post(CHANGE, {"target": "EMERGENCY_STOP"})
    assert response.status_code == 200
    assert "Stop everything?" in response.content.decode()
    assert "<html" in response.content.decode()
    assert current().state == "PAUSED"


@pytest.mark.django_db
def test_post_without_csrf_token_is_refused_and_changes_nothing(operator) -> None:  # type: ignore[no-untyped-def]
    set_state("RUNNING")
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)

    response = client.post(CHANGE, {"target": "PAUSED"}, **HTMX)

    assert response.status_code == 403
    assert "security token was missing or out of date" in response.content.decode()
    assert current().state == "RUNNING"
    assert not Event.objects.filter(type__startswith="system.state").exists()


@pytest.mark.django_db
def test_post_with_the_pages_csrf_header_goes_through(operator) -> None:  # type: ignore[no-untyped-def]
    set_state("RUNNING")
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    client.get("/")
    token = client.cookies["csrftoken"].value

    response = client.post(CHANGE, {"target": "PAUSED"}, HTTP_X_CSRFTOKEN=token, **HTMX)

    assert response.status_code == 200
    assert current().state == "PAUSED"


@pytest.mark.django_db
def test_rollback_without_csrf_token_is_refused(admin_user) -> None:  # type: ignore[no-untyped-def]
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    response = client.post("/bots/anything/rollback/", {"version": "1"})
    assert response.status_code == 403
    assert "security token" in response.content.decode()


@pytest.mark.django_db
def test_state_change_only_accepts_post(client, operator) -> None:  # type: ignore[no-untyped-def]
    client.force_login(operator)
    assert client.get(CHANGE, {"target": "PAUSED"}).status_code == 405
