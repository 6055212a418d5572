"""Signing in and out of the API, and lifting login lockouts. Every outcome is audited.

Passwords and tokens never reach an event: only the username, the client
address and what happened.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_client_ip_address
from django.contrib.auth import authenticate, user_logged_in
from django.contrib.auth import logout as session_logout
from django.contrib.auth.models import User
from django.db import transaction
from django.http import HttpRequest
from knox.models import AuthToken

from audit.actors import Actor, Role, role_of
from audit.services import record
from trading.validation import InvalidInput


class LoginRefused(Exception):
    """A login that gives no token. ``code`` tells the API how to answer."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class LoginResult:
    user: User
    token: str  # shown once, to the client; only its digest is stored
    expiry: datetime | None


def _client(request: HttpRequest) -> str:
    return get_client_ip_address(request) or request.META.get("REMOTE_ADDR", "") or ""


def _refuse(request: HttpRequest, username: str, code: str, message: str) -> LoginRefused:
    record(
        "auth.login.failed",
        Actor("anonymous", Role.ANONYMOUS),
        f"login refused for {username!r}: {code}",
        inputs={"username": username, "client": _client(request), "channel": "api"},
        result={"code": code},
    )
    return LoginRefused(code, message)


def auth_login(*, request: HttpRequest, username: str, password: str) -> LoginResult:
    """Check the credentials (django-axes watching) and issue an expiring token.

    ``request`` is Django's request: django-axes keys its lockout on the
    username and the client address. A locked-out pair is refused even with the
    right password.
    """
    user = authenticate(request=request, username=username, password=password)
    if user is None:
        if getattr(request, "axes_locked_out", False):
            raise _refuse(request, username, "locked_out", "account locked")
        raise _refuse(request, username, "invalid_credentials", "invalid username or password")
    role = role_of(user)
    if role == Role.ANONYMOUS:
        raise _refuse(request, username, "no_role", "this account has no role: ask an admin for one")
    with transaction.atomic():
        instance, token = AuthToken.objects.create(user=user)
        # Tells django-axes (resets the failure count) and updates last_login.
        user_logged_in.send(sender=user.__class__, request=request, user=user)
        record(
            "auth.login.succeeded",
            Actor.for_user(user),
            f"{user.get_username()} signed in to the API",
            inputs={"username": user.get_username(), "client": _client(request), "channel": "api"},
            result={"role": role.label, "token_expiry": instance.expiry},
        )
    return LoginResult(user=user, token=token, expiry=instance.expiry)


def auth_logout(*, request: HttpRequest, user: User, token: Any) -> None:
    """Revoke the token the request came with (or end its session)."""
    with transaction.atomic():
        if isinstance(token, AuthToken):
            AuthToken.objects.filter(pk=token.pk).delete()
            how = "token revoked"
        else:
            session_logout(request)
            how = "session ended"
        record(
            "auth.logout",
            Actor.for_user(user),
            f"{user.get_username()} signed out ({how})",
            inputs={"username": user.get_username(), "client": _client(request)},
            result={"revoked": how},
        )


def auth_lockout_reset(*, actor: Actor, username: str, ip_address: str | None = None) -> int:
    """Lift django-axes lockouts of ``username`` (from one address, or from all).

    Returns how many lockout records were cleared; resetting a username that
    is not locked clears none and is recorded all the same.
    """
    if not username:
        # django-axes would read an empty username as "everyone".
        raise InvalidInput({"username": ["name the user whose lockout to reset"]})
    with transaction.atomic():
        cleared = AxesProxyHandler.reset_attempts(username=username, ip_address=ip_address or None)
        record(
            "auth.lockout.reset",
            actor,
            f"login lockout of {username!r} reset by {actor.name}",
            inputs={"username": username, "ip_address": ip_address},
            result={"attempts_cleared": cleared},
        )
    return cleared
