"""Every API route and method × {anonymous, viewer, operator, admin}.

The routes come from the URL resolver, so a new route fails this suite until
it has a line in ``EXPECTED`` here and its roles in ``tradingsite/api_roles.py``.
The statuses are written out by hand from DESIGN.md §5, not derived from the
code's table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from tests.api_support import BACKTEST_MARKET, make_world, set_state, token_client
from tradingsite.api_roles import ROUTE_ROLES, required_role

ROLES = ("anonymous", "viewer", "operator", "admin")
METHODS = ("get", "post", "put", "patch", "delete")

NEW_BOT = {"name": "beta", "config": {"symbol": "ETHUSDT", "timeframe": "1h", "strategy": "sma_cross"}}
LOGIN = {"username": "viewer", "password": "correct-horse-battery"}
LIVE_ORDER = {"bot": "alpha", "symbol": "BTCUSDT", "side": "BUY", "quantity": "0.001"}


@dataclass(frozen=True)
class Case:
    statuses: tuple[int, int, int, int]  # anonymous, viewer, operator, admin
    body: dict[str, Any] = field(default_factory=dict)
    query: str = ""
    state: str = "PAUSED"


# (URL name, method): what each role gets. Adding a route is one line here.
EXPECTED: dict[tuple[str, str], Case] = {
    ("api-health", "GET"): Case((200, 200, 200, 200)),
    ("api-schema", "GET"): Case((200, 200, 200, 200)),
    ("api-docs", "GET"): Case((200, 200, 200, 200)),
    ("auth-login", "POST"): Case((200, 200, 200, 200), body=LOGIN),
    ("auth-logout", "POST"): Case((401, 200, 200, 200)),
    ("auth-lockout-list", "GET"): Case((401, 403, 403, 200)),
    ("auth-lockout-reset", "POST"): Case((401, 403, 403, 200), body={"username": "viewer"}),
    ("system-state", "GET"): Case((401, 200, 200, 200)),
    ("system-pause", "POST"): Case((401, 403, 200, 200), state="RUNNING"),
    ("system-resume", "POST"): Case((401, 403, 200, 200), state="PAUSED"),
    ("system-emergency-stop", "POST"): Case((401, 403, 200, 200), state="RUNNING"),
    ("system-resume-after-emergency", "POST"): Case(
        (401, 403, 403, 200), body={"reason": "exchange back"}, state="EMERGENCY_STOP"
    ),
    ("scheduler", "GET"): Case((401, 200, 200, 200)),
    ("scheduler", "PATCH"): Case((401, 403, 200, 200), body={"enabled": False}),
    ("scheduler-bot", "PATCH"): Case((401, 403, 200, 200), body={"interval_seconds": 120}),
    ("bot-list", "GET"): Case((401, 200, 200, 200)),
    ("bot-list", "POST"): Case((401, 403, 403, 201), body=NEW_BOT),
    ("bot-detail", "GET"): Case((401, 200, 200, 200)),
    ("bot-detail", "PATCH"): Case((401, 403, 403, 200), body={"enabled": False}),
    ("bot-cycle", "POST"): Case((401, 403, 200, 200), state="RUNNING"),
    ("bot-advise", "POST"): Case((401, 403, 200, 200), body={"advisor": "rules"}),
    ("bot-config-list", "GET"): Case((401, 200, 200, 200)),
    ("bot-config-list", "POST"): Case((401, 403, 403, 201), body={"strategy_params": {"fast": 5}}),
    ("bot-config-detail", "GET"): Case((401, 200, 200, 200)),
    ("bot-config-diff", "GET"): Case((401, 200, 200, 200), query="?from=1&to=2"),
    ("bot-config-rollback", "POST"): Case((401, 403, 403, 201)),
    ("order-list", "GET"): Case((401, 200, 200, 200)),
    ("order-csv", "GET"): Case((401, 200, 200, 200)),
    # admin only; with live trading off (the test settings) the admin's order is refused by its gate
    ("order-live", "POST"): Case((401, 403, 403, 409), body=LIVE_ORDER),
    ("fill-list", "GET"): Case((401, 200, 200, 200)),
    ("fill-csv", "GET"): Case((401, 200, 200, 200)),
    ("position-list", "GET"): Case((401, 200, 200, 200)),
    ("equity-list", "GET"): Case((401, 200, 200, 200)),
    ("metrics-list", "GET"): Case((401, 200, 200, 200)),
    ("event-list", "GET"): Case((401, 200, 200, 200)),
    ("event-detail", "GET"): Case((401, 200, 200, 200)),
    ("event-verify", "GET"): Case((401, 200, 200, 200)),
    ("approval-list", "GET"): Case((401, 200, 200, 200)),
    ("approval-detail", "GET"): Case((401, 200, 200, 200)),
    ("approval-approve", "POST"): Case((401, 403, 200, 200), body={"note": "looks right"}),
    ("approval-reject", "POST"): Case((401, 403, 200, 200), body={"note": "not now"}),
    ("backtest-list", "GET"): Case((401, 200, 200, 200)),
    ("backtest-list", "POST"): Case((401, 403, 202, 202), body={"strategy": "sma_cross", **BACKTEST_MARKET}),
    ("backtest-detail", "GET"): Case((401, 200, 200, 200)),
}


def api_patterns() -> list[tuple[str, URLPattern]]:
    """(route, pattern) for every URL under ``api/``, walking nested includes."""
    found: list[tuple[str, URLPattern]] = []

    def walk(patterns: list[Any], prefix: str) -> None:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, route)
            elif route.startswith("api/"):
                found.append((route, pattern))

    walk(get_resolver().url_patterns, "")
    return found


def view_methods(pattern: URLPattern) -> list[str]:
    view_class = getattr(pattern.callback, "cls", None) or getattr(pattern.callback, "view_class", None)
    assert view_class is not None, f"{pattern.name}: not a class-based view"
    return [m.upper() for m in METHODS if m in view_class.http_method_names and hasattr(view_class, m)]


def resolver_routes() -> set[tuple[str, str]]:
    routes = set()
    for route, pattern in api_patterns():
        assert pattern.name, f"/{route} has no URL name, so it cannot declare a role"
        for method in view_methods(pattern):
            routes.add((pattern.name, method))
    return routes


def test_every_api_route_has_expected_statuses_in_this_test() -> None:
    routes = resolver_routes()
    assert len(routes) >= 30
    missing = sorted(routes - set(EXPECTED))
    stale = sorted(set(EXPECTED) - routes)
    assert not missing, f"routes with no line in EXPECTED: {missing}"
    assert not stale, f"EXPECTED names routes that do not exist: {stale}"


def test_every_api_route_declares_a_minimum_role_per_method() -> None:
    routes = resolver_routes()
    undeclared = sorted((name, method) for name, method in routes if required_role(name, method) is None)
    assert not undeclared, f"routes without a role in tradingsite/api_roles.py: {undeclared}"
    declared = {(name, method) for name, methods in ROUTE_ROLES.items() for method in methods}
    assert not sorted(declared - routes), "api_roles.py declares routes or methods that do not exist"


def test_an_undeclared_route_is_refused_to_everyone() -> None:
    assert required_role("no-such-route", "GET") is None
    assert required_role("system-pause", "GET") is None  # declared route, undeclared method


@pytest.mark.django_db
@pytest.mark.parametrize("role_index", range(4), ids=ROLES)
@pytest.mark.parametrize("route", sorted(EXPECTED), ids=lambda r: f"{r[1]} {r[0]}")
def test_route_answers_each_role_as_expected(route: tuple[str, str], role_index: int, users) -> None:  # type: ignore[no-untyped-def]
    name, method = route
    case = EXPECTED[route]
    world = make_world()
    set_state(case.state)
    pattern = next(p for _, p in api_patterns() if p.name == name)
    kwargs = {key: value for key, value in world.url_kwargs.items() if key in pattern.pattern.converters}
    url = reverse(name, kwargs=kwargs) + case.query
    role = ROLES[role_index]
    client = token_client(users.get(role))
    response = getattr(client, method.lower())(url, data=case.body or None, format="json")
    expected = case.statuses[role_index]
    assert response.status_code == expected, (
        f"{method} {url} as {role}: {response.status_code}, expected {expected}: "
        f"{getattr(response, 'data', None) or ''}"
    )


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "url"), [("put", "/api/bots/1"), ("delete", "/api/system/state"), ("get", "/api/system/pause")])
def test_a_method_a_route_does_not_have_is_a_405(admin_user, method: str, url: str) -> None:  # type: ignore[no-untyped-def]
    make_world()
    response = getattr(token_client(admin_user), method)(url)
    assert response.status_code == 405
