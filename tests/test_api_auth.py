"""Signing in and out of the API: tokens, expiry, revocation, lockouts, throttling,
sessions with CSRF, and local trusted mode."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.middleware.csrf import _get_new_csrf_string
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from audit.models import Event
from audit.services import verify_chain
from tests.api_support import set_state, token_client
from tests.factories import UserFactory
from trading.models import Bot

PASSWORD = "correct-horse-battery"
LOGIN = "/api/auth/login"
STATE = "/api/system/state"


def login(client: APIClient, username: str, password: str, address: str = "127.0.0.1"):  # type: ignore[no-untyped-def]
    return client.post(LOGIN, {"username": username, "password": password}, format="json", REMOTE_ADDR=address)


def events_text() -> str:
    return json.dumps(list(Event.objects.values("message", "inputs", "result")), default=str)


@pytest.mark.django_db
def test_login_gives_an_expiring_token_that_opens_the_api(viewer) -> None:  # type: ignore[no-untyped-def]
    client = APIClient()
    response = login(client, "viewer", PASSWORD)
    assert response.status_code == 200
    body = response.json()
    assert body["username"] == "viewer" and body["role"] == "viewer"
    expiry = timezone.datetime.fromisoformat(body["expiry"])
    assert timedelta(hours=9, minutes=59) < expiry - timezone.now() <= timedelta(hours=10)
    client.credentials(HTTP_AUTHORIZATION=f"Token {body['token']}")
    assert client.get(STATE).status_code == 200


@pytest.mark.django_db
def test_tokens_are_stored_only_as_digests(viewer) -> None:  # type: ignore[no-untyped-def]
    token = login(APIClient(), "viewer", PASSWORD).json()["token"]
    stored = AuthToken.objects.get(user=viewer)
    assert token not in stored.digest
    assert len(stored.digest) == 128  # SHA-512 hex
    assert stored.token_key == token[:15]  # the lookup prefix only


@pytest.mark.django_db
def test_login_events_record_who_and_from_where_but_never_secrets(viewer) -> None:  # type: ignore[no-untyped-def]
    client = APIClient()
    assert login(client, "viewer", "wrong-password-123", address="10.0.0.7").status_code == 401
    token = login(client, "viewer", PASSWORD, address="10.0.0.7").json()["token"]
    failed = Event.objects.get(type="auth.login.failed")
    assert failed.inputs == {"username": "viewer", "client": "10.0.0.7", "channel": "api"}
    assert failed.result == {"code": "invalid_credentials"}
    succeeded = Event.objects.get(type="auth.login.succeeded")
    assert succeeded.actor == "viewer" and succeeded.result["role"] == "viewer"
    text = events_text()
    assert "wrong-password-123" not in text and PASSWORD not in text and token not in text
    assert verify_chain().ok


@pytest.mark.django_db
def test_wrong_password_and_unknown_user_get_the_same_answer(viewer) -> None:  # type: ignore[no-untyped-def]
    wrong = login(APIClient(), "viewer", "nope-nope-nope")
    unknown = login(APIClient(), "nobody", "nope-nope-nope")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json() == {"detail": "invalid username or password", "code": "invalid_credentials"}
    assert wrong["WWW-Authenticate"] == "Token"


@pytest.mark.django_db
def test_an_account_without_a_role_gets_no_token() -> None:
    UserFactory(username="drifter")
    response = login(APIClient(), "drifter", PASSWORD)
    assert response.status_code == 403
    assert "no role" in response.json()["detail"]
    assert not AuthToken.objects.exists()
    assert Event.objects.get(type="auth.login.failed").result == {"code": "no_role"}


@pytest.mark.django_db
def test_expired_token_is_refused(viewer) -> None:  # type: ignore[no-untyped-def]
    client = token_client(viewer)
    assert client.get(STATE).status_code == 200
    AuthToken.objects.filter(user=viewer).update(expiry=timezone.now() - timedelta(seconds=1))
    response = client.get(STATE)
    assert response.status_code == 401
    assert response.json()["detail"] == "Invalid token."


@pytest.mark.django_db
def test_logout_revokes_the_token_and_is_recorded(operator) -> None:  # type: ignore[no-untyped-def]
    client = APIClient()
    token = login(client, "operator", PASSWORD).json()["token"]
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.post("/api/auth/logout").status_code == 200
    assert not AuthToken.objects.filter(user=operator).exists()
    assert client.get(STATE).status_code == 401
    assert client.post("/api/system/pause", {}, format="json").status_code == 401
    event = Event.objects.get(type="auth.logout")
    assert event.actor == "operator" and event.result == {"revoked": "token revoked"}


@pytest.mark.django_db
def test_logout_revokes_only_its_own_token(viewer) -> None:  # type: ignore[no-untyped-def]
    first, second = token_client(viewer), token_client(viewer)
    assert first.post("/api/auth/logout").status_code == 200
    assert first.get(STATE).status_code == 401
    assert second.get(STATE).status_code == 200


@pytest.mark.django_db
def test_token_of_a_deactivated_user_is_refused(viewer) -> None:  # type: ignore[no-untyped-def]
    client = token_client(viewer)
    User.objects.filter(pk=viewer.pk).update(is_active=False)
    assert client.get(STATE).status_code == 401


@pytest.mark.django_db
@pytest.mark.parametrize(
    "header",
    ["Token", "Token a b", "Token not-hex-at-all!", "Token " + "\u00e9" * 64, "Token abc\x00def", "Token " + "f" * 64],
    ids=["empty", "spaces", "punctuation", "latin1", "nul", "unknown"],
)
def test_malformed_or_unknown_tokens_are_a_401_not_a_crash(header: str) -> None:
    response = APIClient().get(STATE, HTTP_AUTHORIZATION=header)
    assert response.status_code == 401


@pytest.mark.django_db
def test_login_is_throttled_per_address(viewer) -> None:  # type: ignore[no-untyped-def]
    client = APIClient()
    statuses = [login(client, "viewer", "bad-password-xx").status_code for _ in range(10)]
    assert statuses == [401] * 10
    throttled = login(client, "viewer", PASSWORD)
    assert throttled.status_code == 429
    assert "throttled" in throttled.json()["detail"]
    # A forged X-Forwarded-For does not make a new client.
    forged = client.post(LOGIN, {"username": "viewer", "password": PASSWORD}, format="json",
                         HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert forged.status_code == 429
    assert login(client, "viewer", PASSWORD, address="10.9.9.9").status_code == 200


# --- lockout (django-axes) ----------------------------------------------------

@pytest.fixture
def axes_on(settings):  # type: ignore[no-untyped-def]
    settings.AXES_ENABLED = True
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK}
    return settings


@pytest.mark.django_db
def test_repeated_failures_lock_the_username_from_that_address(axes_on, viewer) -> None:  # type: ignore[no-untyped-def]
    client = APIClient()
    statuses = [login(client, "viewer", f"guess-{n}-xyz").status_code for n in range(5)]
    assert statuses == [401, 401, 401, 401, 429]
    locked = login(client, "viewer", PASSWORD)  # even the right password
    assert locked.status_code == 429
    assert locked.json()["code"] == "locked_out"
    assert "Account locked" in locked.json()["detail"]
    assert locked["Retry-After"] == str(15 * 60)
    assert not AuthToken.objects.exists()
    assert Event.objects.filter(type="auth.login.failed", result__code="locked_out").count() == 2
    # Another address is not locked out: a guesser cannot lock the real user out.
    assert login(client, "viewer", PASSWORD, address="10.1.1.1").status_code == 200


@pytest.mark.django_db
def test_admin_sees_and_resets_a_lockout(axes_on, viewer, admin_user) -> None:  # type: ignore[no-untyped-def]
    client = APIClient()
    for n in range(5):
        login(client, "viewer", f"guess-{n}-xyz")
    assert login(client, "viewer", PASSWORD).status_code == 429
    admin = token_client(admin_user)
    lockouts = admin.get("/api/auth/lockouts").json()
    assert [(row["username"], row["ip_address"]) for row in lockouts] == [("viewer", "127.0.0.1")]
    reset = admin.post("/api/auth/lockouts/reset", {"username": "viewer"}, format="json")
    assert reset.status_code == 200
    assert reset.json() == {"username": "viewer", "attempts_cleared": 1}
    event = Event.objects.get(type="auth.lockout.reset")
    assert event.actor == "admin" and event.inputs["username"] == "viewer"
    assert admin.get("/api/auth/lockouts").json() == []
    assert login(client, "viewer", PASSWORD).status_code == 200


@pytest.mark.django_db
def test_operator_cannot_reset_a_lockout(axes_on, operator) -> None:  # type: ignore[no-untyped-def]
    response = token_client(operator).post("/api/auth/lockouts/reset", {"username": "viewer"}, format="json")
    assert response.status_code == 403
    assert not Event.objects.filter(type="auth.lockout.reset").exists()


@pytest.mark.django_db
def test_admin_site_login_is_locked_out_too(axes_on, client, viewer) -> None:  # type: ignore[no-untyped-def]
    for n in range(5):
        client.post("/admin/login/", {"username": "viewer", "password": f"guess-{n}-xyz"})
    response = client.post("/admin/login/", {"username": "viewer", "password": PASSWORD})
    assert response.status_code == 429
    assert b"Account locked" in response.content


# --- sessions -----------------------------------------------------------------

@pytest.mark.django_db
def test_session_requests_need_the_csrf_token(operator) -> None:  # type: ignore[no-untyped-def]
    set_state("RUNNING")
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(operator)
    assert client.get(STATE).status_code == 200
    refused = client.post("/api/system/pause", {}, format="json")
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]
    secret = _get_new_csrf_string()
    client.cookies["csrftoken"] = secret
    accepted = client.post("/api/system/pause", {}, format="json", HTTP_X_CSRFTOKEN=secret)
    assert accepted.status_code == 200
    assert Event.objects.get(type="system.state.changed").actor == "operator"


# --- local trusted mode -------------------------------------------------------

@pytest.mark.django_db
@pytest.mark.parametrize("address", ["10.1.2.3", "192.168.1.20", "8.8.8.8"])
def test_trusted_mode_refuses_the_api_from_other_addresses(settings, address: str) -> None:
    settings.AUTH_ENABLED = False
    response = APIClient().get(STATE, REMOTE_ADDR=address)
    assert response.status_code == 403
    assert "loopback" in response.json()["detail"]
    assert not Bot.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("address", ["127.0.0.1", "::1"])
def test_trusted_mode_acts_as_the_local_admin_from_loopback(settings, address: str) -> None:
    settings.AUTH_ENABLED = False
    client = APIClient()
    assert client.get(STATE, REMOTE_ADDR=address).status_code == 200
    body = {"name": "local", "config": {"symbol": "BTCUSDT", "timeframe": "1h", "strategy": "sma_cross"}}
    created = client.post("/api/bots", body, format="json", REMOTE_ADDR=address)
    assert created.status_code == 201
    assert Event.objects.get(type="trading.bot.created").actor == "local-admin"
    set_state("EMERGENCY_STOP")
    resumed = client.post(
        "/api/system/resume-after-emergency", {"reason": "checked"}, format="json", REMOTE_ADDR=address
    )
    assert resumed.status_code == 200


@pytest.mark.django_db
def test_trusted_mode_still_refuses_a_cross_site_browser_post(settings) -> None:
    settings.AUTH_ENABLED = False
    set_state("RUNNING")
    client = APIClient(enforce_csrf_checks=True)  # as a real server does
    response = client.post("/api/system/emergency-stop", {}, format="json", HTTP_ORIGIN="https://evil.example")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    assert not Event.objects.filter(type="system.state.changed").exists()
    # A script on the machine (no browser headers) needs no CSRF token.
    assert client.post("/api/system/emergency-stop", {}, format="json").status_code == 200


@pytest.mark.django_db
def test_lockouts_are_visible_in_the_admin_site_to_admins_only(client, admin_user, operator) -> None:  # type: ignore[no-untyped-def]
    client.force_login(admin_user)
    assert client.get("/admin/axes/accessattempt/").status_code == 200
    client.force_login(operator)
    assert client.get("/admin/axes/accessattempt/").status_code == 403


def test_process_refuses_to_start_on_a_malformed_login_rate() -> None:
    from tests.test_settings import _django_check

    result = _django_check({"DEBUG": "true", "LOGIN_RATE_LIMIT": "lots"})
    assert result.returncode != 0
    assert "LOGIN_RATE_LIMIT='lots'" in result.stderr
