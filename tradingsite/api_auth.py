"""How API requests are authenticated and authorised.

- ``LocalTrustedAuthentication``: with ``AUTH_ENABLED=false`` every request from
  loopback acts as the local admin (``tradingsite.middleware``).
- ``TokenAuthentication``: django-rest-knox tokens (stored as digests, expiring).
- Django sessions (``rest_framework``'s ``SessionAuthentication``, CSRF enforced).
- ``RoutePermission``: the minimum role of the route and method, from
  ``tradingsite/api_roles.py``.
"""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from rest_framework import exceptions
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from audit.actors import Role, role_of
from tradingsite.api_roles import required_role
from tradingsite.middleware import is_loopback

# Headers that only browsers send: a request carrying one may have been made by
# some other page open in the user's browser.
BROWSER_HEADERS = ("HTTP_ORIGIN", "HTTP_SEC_FETCH_SITE", "HTTP_COOKIE")
# knox tokens are hex; anything else cannot be one.
TOKEN_SHAPE = re.compile(rb"[A-Za-z0-9_-]{1,128}")


class LocalTrustedAuthentication(SessionAuthentication):
    """Local trusted mode: the request acts as the local admin set by the middleware.

    Off unless ``AUTH_ENABLED=false``. The identity is ambient (any page open in
    the user's browser can reach loopback), so a browser's unsafe request must
    still pass Django's CSRF check; scripts such as curl, which send no
    browser headers, need no token.
    """

    def authenticate(self, request: Request) -> tuple[Any, None] | None:
        if settings.AUTH_ENABLED:
            return None
        django_request = request._request
        # The middleware already refused other addresses; checked again so that
        # this class is safe on its own.
        if not is_loopback(django_request.META.get("REMOTE_ADDR")):
            return None
        user = getattr(django_request, "user", None)
        if user is None or not user.is_authenticated or not user.is_active:
            return None
        if any(django_request.META.get(header) for header in BROWSER_HEADERS):
            self.enforce_csrf(request)
        return (user, None)

    def authenticate_header(self, request: Request) -> str:
        # DRF answers 401 (not 403) to anonymous requests when the first
        # authenticator names a scheme.
        return "Token"


class TokenAuthentication(KnoxTokenAuthentication):
    """knox's token check, refusing malformed tokens (bad bytes, NULs) with a 401
    before they reach the database instead of failing there with a 500."""

    def authenticate_credentials(self, token: bytes) -> tuple[Any, Any]:
        if not TOKEN_SHAPE.fullmatch(token):
            raise exceptions.AuthenticationFailed("Invalid token.")
        return super().authenticate_credentials(token)


class RoutePermission(BasePermission):
    """Allows a request when the user's role reaches the route's minimum role."""

    message = "you may not use this route"

    def has_permission(self, request: Request, view: Any) -> bool:
        match = request._request.resolver_match
        method = request.method or ""
        needed = required_role(match.url_name if match else None, method)
        if needed is None:
            if not hasattr(view, method.lower()):
                return True  # the view has no such method: DRF answers 405
            self.message = "this route declares no role, so nobody may use it"
            return False
        if needed == Role.ANONYMOUS:
            return True
        have = role_of(request.user)
        if have >= needed:
            return True
        self.message = f"this needs the {needed.label} role; you have {have.label}"
        return False


def lockout_seconds() -> int:
    return int(settings.AXES_COOLOFF_TIME.total_seconds())


def lockout_body() -> dict[str, Any]:
    minutes = max(1, lockout_seconds() // 60)
    return {
        "detail": (
            "Account locked: too many failed logins for this username from this address. "
            f"Try again in {minutes} minutes, or ask an admin to reset the lockout."
        ),
        "code": "locked_out",
        "retry_after_seconds": lockout_seconds(),
    }


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: Any = None
) -> HttpResponse:
    """django-axes' answer to a locked-out login, on the API and on the admin site.

    Each failed attempt during a lockout restarts the cool-off, so the full
    cool-off is exactly how long this client has to wait.
    """
    body = lockout_body()
    headers = {"Retry-After": str(body["retry_after_seconds"])}
    if request.path.startswith("/api/"):
        return JsonResponse(body, status=429, headers=headers)
    return HttpResponse(body["detail"], status=429, content_type="text/plain; charset=utf-8", headers=headers)


class TokenScheme(OpenApiAuthenticationExtension):
    target_class = TokenAuthentication
    name = "tokenAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return build_bearer_security_scheme_object(header_name="Authorization", token_prefix="Token")
