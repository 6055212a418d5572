"""Local trusted mode (``AUTH_ENABLED=false``).

Every request acts as a local admin, and only requests from loopback
addresses are served: the mode is meant for one person on their own machine.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

LOCAL_ADMIN_USERNAME = "local-admin"


def is_loopback(address: str | None) -> bool:
    if not address:
        return False
    try:
        return ipaddress.ip_address(address.split("%")[0]).is_loopback
    except ValueError:
        return False


def local_admin_user():  # type: ignore[no-untyped-def]
    from django.contrib.auth.models import Group, User

    user, created = User.objects.get_or_create(
        username=LOCAL_ADMIN_USERNAME, defaults={"is_staff": True}
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
        user.groups.add(Group.objects.get(name="admin"))
    return user


class LocalTrustedModeMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if settings.AUTH_ENABLED:
            return self.get_response(request)
        if not is_loopback(request.META.get("REMOTE_ADDR")):
            return JsonResponse(
                {"detail": "AUTH_ENABLED=false serves loopback addresses only"}, status=403
            )
        request.user = local_admin_user()
        return self.get_response(request)
