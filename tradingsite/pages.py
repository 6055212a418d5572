"""What every dashboard page shares: who may open it, the header's context,
and refusals written as plain sentences."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render, resolve_url
from django.utils.functional import SimpleLazyObject
from django_htmx.http import HttpResponseClientRedirect

from audit.actors import Role, role_of

View = Callable[..., HttpResponse]


@dataclass(frozen=True)
class Access:
    """What the signed-in user's role lets the templates show."""

    role: Role

    @property
    def label(self) -> str:
        return self.role.label

    @property
    def can_operate(self) -> bool:
        return self.role >= Role.OPERATOR

    @property
    def is_admin(self) -> bool:
        return self.role >= Role.ADMIN


def header(request: HttpRequest) -> dict[str, Any]:
    """Context processor for the header. Lazy, so pages that show no header
    (the Django admin, CSV) pay no query for it."""
    from trading.selectors import system_state

    return {
        "access": SimpleLazyObject(lambda: Access(role_of(request.user))),
        "system_state": SimpleLazyObject(system_state),
    }


def refuse(request: HttpRequest, message: str, *, status: int = 403) -> HttpResponse:
    """A refusal as one sentence: a fragment for HTMX, a page otherwise."""
    template = "refused.html#message" if getattr(request, "htmx", False) else "refused.html"
    return render(request, template, {"message": message}, status=status)


def page(role: Role = Role.VIEWER) -> Callable[[View], View]:
    """Declare the least role a dashboard route needs (the one place it is said).

    Anonymous users are sent to the login page; an HTMX request is told to
    navigate (HX-Redirect) so that the login form replaces the page, not a
    fragment inside it.
    """

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                if request.htmx:
                    back = request.htmx.current_url_abs_path or "/"
                    login = resolve_url(settings.LOGIN_URL)
                    return HttpResponseClientRedirect(f"{login}?{urlencode({'next': back})}")
                return redirect_to_login(request.get_full_path())
            user_role = role_of(request.user)
            if user_role < role:
                if user_role == Role.ANONYMOUS:
                    return refuse(request, "Your account has no role yet: ask an admin to give it one.")
                return refuse(
                    request,
                    f"This needs the {role.label} role, and you are signed in as {user_role.label}.",
                )
            return view(request, *args, **kwargs)

        wrapper.required_role = role  # type: ignore[attr-defined]
        return wrapper

    return decorator


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    return refuse(
        request,
        "Nothing was changed: the form's security token was missing or out of date. "
        "Reload the page and try again.",
    )


# Rows per page of the filtered tables (orders, fills, events).
TABLE_PAGE_SIZE = 50


def filtered_table(request: HttpRequest, form: Any, select: Callable[..., Any], template: str) -> HttpResponse:
    """A filtered, paged table: the whole page, or its ``#table`` fragment for HTMX.

    ``form`` is a bound or unbound filter form whose ``filters()`` gives the
    keyword arguments of ``select`` (None when a field is wrong: the page then
    says which one instead of showing rows nobody asked for).
    """
    filters = form.filters() if form.is_bound else {}
    rows = None
    if filters is not None:
        rows = Paginator(select(**filters), TABLE_PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"form": form, "rows": rows}
    return render(request, f"{template}#table" if request.htmx else template, context)
