"""Who may call each API route: the one place that says so (DESIGN.md §5).

``ROUTE_ROLES`` maps a URL name (see ``tradingsite/api_urls.py``) to the
minimum role for each HTTP method. ``RoutePermission`` reads it for every
request; a route or a method missing here is refused for everyone, and the
permission matrix test (``tests/test_api_permissions.py``) fails until both
this table and the test's expectations name it.

To add a route: add its ``path(...)`` to ``api_urls.py``, one line here, and one
line to the matrix test.
"""

from __future__ import annotations

from audit.actors import Role

ANONYMOUS, VIEWER, OPERATOR, ADMIN = Role.ANONYMOUS, Role.VIEWER, Role.OPERATOR, Role.ADMIN

ROUTE_ROLES: dict[str, dict[str, Role]] = {
    # Public: health, login, the schema and its docs page.
    "api-health": {"GET": ANONYMOUS},
    "api-schema": {"GET": ANONYMOUS},
    "api-docs": {"GET": ANONYMOUS},
    "auth-login": {"POST": ANONYMOUS},
    # Authentication
    "auth-logout": {"POST": VIEWER},
    "auth-lockout-list": {"GET": ADMIN},
    "auth-lockout-reset": {"POST": ADMIN},
    # System state (DESIGN.md §4)
    "system-state": {"GET": VIEWER},
    "system-pause": {"POST": OPERATOR},
    "system-resume": {"POST": OPERATOR},
    "system-emergency-stop": {"POST": OPERATOR},
    "system-resume-after-emergency": {"POST": ADMIN},
    # The scheduler: the global switch, each bot's switch and interval
    "scheduler": {"GET": VIEWER, "PATCH": OPERATOR},
    "scheduler-bot": {"PATCH": OPERATOR},
    # Bots and their configuration versions
    "bot-list": {"GET": VIEWER, "POST": ADMIN},
    "bot-detail": {"GET": VIEWER, "PATCH": ADMIN},
    "bot-cycle": {"POST": OPERATOR},
    "bot-config-list": {"GET": VIEWER, "POST": ADMIN},
    "bot-config-detail": {"GET": VIEWER},
    "bot-config-diff": {"GET": VIEWER},
    "bot-config-rollback": {"POST": ADMIN},
    # Trading records
    "order-list": {"GET": VIEWER},
    "order-live": {"POST": ADMIN},
    "order-csv": {"GET": VIEWER},
    "fill-list": {"GET": VIEWER},
    "fill-csv": {"GET": VIEWER},
    "position-list": {"GET": VIEWER},
    "equity-list": {"GET": VIEWER},
    "metrics-list": {"GET": VIEWER},
    # Audit trail
    "event-list": {"GET": VIEWER},
    "event-detail": {"GET": VIEWER},
    "event-verify": {"GET": VIEWER},
    # Approvals
    "approval-list": {"GET": VIEWER},
    "approval-detail": {"GET": VIEWER},
    "approval-approve": {"POST": OPERATOR},
    "approval-reject": {"POST": OPERATOR},
    "bot-advise": {"POST": OPERATOR},
    # Backtests
    "backtest-list": {"GET": VIEWER, "POST": OPERATOR},
    "backtest-detail": {"GET": VIEWER},
}


def required_role(url_name: str | None, method: str) -> Role | None:
    """The minimum role for ``method`` on the route, or None when nothing is declared."""
    roles = ROUTE_ROLES.get(url_name or "")
    if not roles:
        return None
    method = method.upper()
    if method == "HEAD":
        method = "GET"
    if method == "OPTIONS":
        # Describing a route is allowed to whoever may use some method of it.
        return min(roles.values())
    return roles.get(method)
