"""Role groups, the create_user command, and what each role can do in the admin."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError

from audit.models import Event
from audit.services import verify_chain
from tests.factories import BotFactory, OrderFactory
from trading.models import SystemState

STATE_URL = "/admin/trading/systemstate/1/change/"


def perms(user: User) -> set[str]:
    return user.get_all_permissions()


@pytest.mark.django_db
def test_role_permissions(users) -> None:  # type: ignore[no-untyped-def]
    viewer, operator, admin = users["viewer"], users["operator"], users["admin"]
    assert "trading.view_order" in perms(viewer)
    assert "trading.operate_system" not in perms(viewer)
    assert "approvals.decide_approval" not in perms(viewer)
    assert {"trading.operate_system", "approvals.decide_approval", "trading.trigger_cycle"} <= perms(operator)
    assert "trading.resume_emergency" not in perms(operator)
    assert "trading.change_bot" not in perms(operator)
    assert {"trading.resume_emergency", "trading.place_live_order", "trading.change_bot", "auth.add_user"} <= perms(admin)


@pytest.mark.django_db
def test_create_user_with_password_from_stdin(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr("sys.stdin", io.StringIO("a-long-enough-passphrase\n"))
    out = io.StringIO()
    call_command("create_user", "alice", "--role", "operator", "--password-stdin", stdout=out)
    alice = User.objects.get(username="alice")
    assert alice.check_password("a-long-enough-passphrase")
    assert list(alice.groups.values_list("name", flat=True)) == ["operator"]
    assert alice.is_staff
    assert "created alice with role operator" in out.getvalue()


@pytest.mark.django_db
def test_create_user_refuses_weak_password_and_duplicates(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr("sys.stdin", io.StringIO("123\n"))
    with pytest.raises(CommandError, match="password refused"):
        call_command("create_user", "bob", "--role", "viewer", "--password-stdin")
    assert not User.objects.filter(username="bob").exists()
    User.objects.create_user("carol", password="x")
    monkeypatch.setattr("sys.stdin", io.StringIO("another-long-passphrase\n"))
    with pytest.raises(CommandError, match="already exists"):
        call_command("create_user", "carol", "--role", "viewer", "--password-stdin")


@pytest.mark.django_db
def test_create_user_refuses_unknown_role() -> None:
    with pytest.raises(CommandError, match="invalid choice"):
        call_command("create_user", "dave", "--role", "boss", "--password-stdin")


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["viewer", "operator", "admin"])
def test_every_role_logs_into_the_admin_and_sees_orders(client, users, role) -> None:  # type: ignore[no-untyped-def]
    OrderFactory(bot=BotFactory())
    assert client.login(username=role, password="correct-horse-battery")
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/trading/order/").status_code == 200


@pytest.mark.django_db
def test_viewer_cannot_change_the_state_in_the_admin(client, viewer) -> None:  # type: ignore[no-untyped-def]
    client.force_login(viewer)
    page = client.get(STATE_URL)
    assert page.status_code == 200
    assert b"Change state" not in page.content
    client.post(STATE_URL, {"target": "RUNNING", "reason": ""})
    assert SystemState.objects.get(id=1).state == "PAUSED"


@pytest.mark.django_db
def test_state_change_in_the_admin_is_an_audited_transition(client, operator) -> None:  # type: ignore[no-untyped-def]
    client.force_login(operator)
    response = client.post(STATE_URL, {"target": "RUNNING", "reason": "market open"}, follow=True)
    assert response.status_code == 200
    assert SystemState.objects.get(id=1).state == "RUNNING"
    event = Event.objects.get(type="system.state.changed")
    assert event.actor == "operator" and event.inputs["to"] == "RUNNING"
    assert verify_chain().ok


@pytest.mark.django_db
def test_refused_state_change_in_the_admin_is_shown_and_recorded(client, operator) -> None:  # type: ignore[no-untyped-def]
    SystemState.objects.filter(id=1).update(state="EMERGENCY_STOP")
    client.force_login(operator)
    response = client.post(STATE_URL, {"target": "RUNNING", "reason": "please"}, follow=True)
    assert b"Refused: operator may not go from emergency stop to running" in response.content
    assert SystemState.objects.get(id=1).state == "EMERGENCY_STOP"
    assert Event.objects.filter(type="system.state.refused", actor="operator").exists()


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/admin/trading/order/add/", "/admin/trading/fill/add/"])
def test_orders_and_fills_are_read_only_in_the_admin(client, admin_user, url) -> None:  # type: ignore[no-untyped-def]
    client.force_login(admin_user)
    assert client.get(url).status_code == 403


@pytest.mark.django_db
def test_seed_demo_is_idempotent(settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings.VAR_DIR = tmp_path
    call_command("seed_demo", stdout=io.StringIO())
    events = Event.objects.count()
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    assert Event.objects.count() == events
    assert User.objects.filter(username__in=["viewer", "operator", "admin"]).count() == 3
    password = next(line.split()[-1] for line in out.getvalue().splitlines() if line.strip().startswith("operator"))
    assert User.objects.get(username="operator").check_password(password)
