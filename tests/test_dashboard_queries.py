"""Queries per page on a database with several bots, orders, fills and events:
a fixed number, however many rows there are (no N+1).

Every count includes three queries of the request itself: the session, the
user and the user's role groups."""

from __future__ import annotations

import pytest

from audit.services import record
from tests.dashboard_data import add_approvals_and_backtests, build_history
from trading.models import SystemState

HTMX = {"HTTP_HX_REQUEST": "true"}

# url, htmx?, most queries allowed
PAGES = [
    ("/", False, 10),
    ("/", True, 9),  # the live fragment polled every 10 s
    ("/system/badge/", True, 4),
    ("/system/state/", True, 4),
    ("/bots/bot-a/", False, 10),
    ("/bots/bot-a/?a=1&b=2", True, 9),
    ("/orders/", False, 7),
    ("/orders/?side=BUY&page=2", True, 6),
    ("/fills/", False, 7),
    ("/events/", False, 7),
    ("/events/?type=trading", True, 6),
    ("/events/5/", False, 5),
    ("/events/chain/", True, 5),  # the whole chain is read by one streamed query
    ("/orders/export.csv", False, 5),
    ("/fills/export.csv", False, 5),
    ("/approvals/", False, 8),  # pending cards (with their evidence), a page of history, the bots to ask about
    ("/approvals/?page=2", True, 5),
    ("/approvals/1/", False, 5),
    ("/scheduler/", False, 7),
    ("/backtests/", False, 7),  # with the form and the cached series it offers
    ("/backtests/?page=2", True, 5),
    ("/backtests/1/", False, 5),
    ("/backtests/1/", True, 4),  # the progress poll
]


@pytest.fixture
def busy(users):  # type: ignore[no-untyped-def]
    history = build_history(bots=6, orders_per_bot=20, events_per_bot=10)
    for bot in history.bots:
        for i in range(5):
            record("trading.order.filled", "scheduler", f"fill {i}", bot=bot)
    add_approvals_and_backtests(history, decided_per_bot=8, backtests=30)
    SystemState.objects.update_or_create(id=1, defaults={"state": "RUNNING"})
    return history


@pytest.mark.django_db
@pytest.mark.parametrize("url,htmx,most", PAGES)
def test_queries_per_page_do_not_grow_with_the_data(
    client, admin_user, busy, django_assert_max_num_queries, url, htmx, most
) -> None:  # type: ignore[no-untyped-def]
    client.force_login(admin_user)
    with django_assert_max_num_queries(most):
        response = client.get(url, **(HTMX if htmx else {}))
        if response.streaming:
            b"".join(response.streaming_content)
    assert response.status_code == 200
