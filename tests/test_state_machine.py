"""Every allowed and every refused transition of the system state, by every role."""

from __future__ import annotations

import itertools

import pytest

from audit.actors import Actor, Role
from audit.models import Event
from audit.services import verify_chain
from tests.factories import BotFactory, OrderFactory
from trading import state
from trading.models import Order, SystemState

RUNNING, PAUSED, STOP = "RUNNING", "PAUSED", "EMERGENCY_STOP"
STATES = (RUNNING, PAUSED, STOP)
ROLES = {
    "viewer": Role.VIEWER,
    "operator": Role.OPERATOR,
    "admin": Role.ADMIN,
    "system": Role.SYSTEM,
}

# Written out by hand from DESIGN.md §4 (plus: the system may pause, for the
# approval-expiry policy and repeated exchange bans; it never resumes).
ALLOWED = {
    (RUNNING, PAUSED): {"operator", "admin", "system"},
    (PAUSED, RUNNING): {"operator", "admin"},
    (RUNNING, STOP): {"operator", "admin", "system"},
    (PAUSED, STOP): {"operator", "admin", "system"},
    (STOP, PAUSED): {"admin"},
    (STOP, RUNNING): {"admin"},
}


def set_state(value: str) -> None:
    SystemState.objects.update_or_create(id=1, defaults={"state": value})


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("from_state", "to_state", "role"),
    list(itertools.product(STATES, STATES, ROLES)),
)
def test_transition_by_role(from_state: str, to_state: str, role: str) -> None:
    set_state(from_state)
    actor = Actor(role, ROLES[role])
    before = Event.objects.count()
    allowed = role in ALLOWED.get((from_state, to_state), set())

    if allowed:
        row = state.transition(target=to_state, actor=actor, reason="written reason")
        assert row.state == to_state
        assert SystemState.objects.get(id=1).state == to_state
        event = Event.objects.order_by("-seq").first()
        assert event.type == "system.state.changed"
        assert event.actor == role
        assert event.inputs["from"] == from_state and event.inputs["to"] == to_state
    else:
        with pytest.raises(state.StateError) as info:
            state.transition(target=to_state, actor=actor, reason="written reason")
        assert SystemState.objects.get(id=1).state == from_state
        event = Event.objects.order_by("-seq").first()
        assert event.type == "system.state.refused"
        assert event.result["error"] == info.value.code
        expected_status = 403 if from_state != to_state and (from_state, to_state) in ALLOWED else 409
        assert info.value.http_status == expected_status
    assert Event.objects.count() == before + 1
    assert verify_chain().ok


@pytest.mark.django_db
@pytest.mark.parametrize("target", [PAUSED, RUNNING])
def test_leaving_emergency_stop_needs_a_written_reason(target: str) -> None:
    set_state(STOP)
    with pytest.raises(state.ReasonRequired):
        state.transition(target=target, actor=Actor("admin", Role.ADMIN), reason="   ")
    assert state.current().state == STOP
    state.transition(target=target, actor=Actor("admin", Role.ADMIN), reason="exchange is back")
    assert state.current().state == target
    assert state.current().reason == "exchange is back"


@pytest.mark.django_db
def test_emergency_stop_cancels_working_orders_but_leaves_unknown_ones() -> None:
    set_state(RUNNING)
    bot = BotFactory()
    working = OrderFactory(bot=bot, status=Order.Status.OPEN)
    partial = OrderFactory(bot=bot, status=Order.Status.PARTIALLY_FILLED)
    unknown = OrderFactory(bot=bot, status=Order.Status.UNKNOWN)
    filled = OrderFactory(bot=bot, status=Order.Status.FILLED)

    state.emergency_stop(actor=Actor("operator", Role.OPERATOR), reason="flash crash")

    statuses = {o.pk: o.status for o in Order.objects.all()}
    assert statuses[working.pk] == Order.Status.CANCELED
    assert statuses[partial.pk] == Order.Status.CANCELED
    assert statuses[unknown.pk] == Order.Status.UNKNOWN
    assert statuses[filled.pk] == Order.Status.FILLED
    canceled_events = Event.objects.filter(type="trading.order.canceled")
    assert {e.inputs["client_order_id"] for e in canceled_events} == {
        working.client_order_id,
        partial.client_order_id,
    }
    change = Event.objects.get(type="system.state.changed")
    assert sorted(change.result["canceled_orders"]) == sorted(
        [working.client_order_id, partial.client_order_id]
    )


@pytest.mark.django_db
def test_refused_transition_changes_nothing_else() -> None:
    set_state(STOP)
    bot = BotFactory()
    order = OrderFactory(bot=bot, status=Order.Status.OPEN)
    with pytest.raises(state.RoleNotAllowed):
        state.resume(actor=Actor("operator", Role.OPERATOR), reason="let me")
    order.refresh_from_db()
    assert order.status == Order.Status.OPEN
    assert state.current().state == STOP
