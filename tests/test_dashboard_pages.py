"""Every dashboard page and fragment, by role: who gets in, who is sent to log
in, which controls each role sees, and what HTMX requests get back."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.urls import URLPattern, URLResolver, get_resolver, resolve

from audit.actors import Role
from tests.dashboard_data import add_approvals_and_backtests, build_history
from trading.models import BotConfig, SystemState

# Every page and fragment a viewer may read (GET), with an example URL.
READ_URLS = [
    "/",
    "/system/badge/",
    "/system/state/",
    "/bots/bot-a/",
    "/orders/",
    "/orders/export.csv",
    "/fills/",
    "/fills/export.csv",
    "/events/",
    "/events/chain/",
    "/events/1/",
    "/approvals/",
    "/approvals/1/",
    "/scheduler/",
    "/backtests/",
    "/backtests/1/",
]
BACKTEST_FORM = {
    "strategy": "sma_cross", "symbol": "BTCUSDT", "timeframe": "1m", "initial_cash": "10000", "fee_bps": "10",
    "slippage_bps": "0", "sizing_mode": "fraction", "fraction_of_equity": "0.1", "fixed_quote": "1000",
}
# Every route that changes something, with the least role it needs.
WRITE_URLS = [
    ("/system/state/change/", {"target": "PAUSED"}, "operator"),
    ("/bots/bot-a/rollback/", {"version": "1"}, "admin"),
    ("/bots/bot-a/cycle/", {}, "operator"),
    ("/approvals/1/decide/", {"decision": "reject", "note": "not now"}, "operator"),
    ("/approvals/advise/", {"bot": "1", "advisor": "rules"}, "operator"),
    ("/scheduler/switch/", {"enabled": "off"}, "operator"),
    ("/scheduler/bots/1/", {"enabled": "off"}, "operator"),
    ("/backtests/run/", BACKTEST_FORM, "operator"),
]
ROLE_ORDER = ["viewer", "operator", "admin"]
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def history(users):  # type: ignore[no-untyped-def]
    return build_history(bots=2, orders_per_bot=2)


@pytest.fixture
def everything(history):  # type: ignore[no-untyped-def]
    """The history, plus proposals (pending and decided) and backtests."""
    add_approvals_and_backtests(history)
    return history


def set_state(value: str) -> None:
    SystemState.objects.update_or_create(id=1, defaults={"state": value})


def dashboard_views() -> set[object]:
    """Every view behind the dashboard's, events' and approvals' URL modules, but the
    login and logout pages (Django's own views, open to anyone)."""
    found = set()
    for entry in get_resolver().url_patterns:
        if isinstance(entry, URLResolver) and entry.namespace in ("dashboard", "events", "approvals"):
            found |= {p.callback for p in entry.url_patterns if isinstance(p, URLPattern)}
    return {v for v in found if v.__module__.startswith(("trading.views", "audit.views", "approvals.views"))}


def test_every_route_declares_its_role_and_is_walked_by_these_tests() -> None:
    views = dashboard_views()
    for view in views:
        assert getattr(view, "required_role", None) in (Role.VIEWER, Role.OPERATOR, Role.ADMIN), view
    walked = {resolve(url.split("?")[0]).func for url in READ_URLS + [u for u, _, _ in WRITE_URLS]}
    assert walked == views


@pytest.mark.django_db
@pytest.mark.parametrize("url", READ_URLS)
def test_anonymous_is_sent_to_the_login_page(client, history, url) -> None:  # type: ignore[no-untyped-def]
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


@pytest.mark.django_db
def test_anonymous_htmx_poll_makes_the_whole_page_go_to_login(client, history) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/system/badge/", HTTP_HX_CURRENT_URL="http://testserver/orders/?side=BUY", **HTMX)
    assert response.status_code == 200
    assert response["HX-Redirect"] == "/login/?next=%2Forders%2F%3Fside%3DBUY"


@pytest.mark.django_db
@pytest.mark.parametrize("url", [u for u, _, _ in WRITE_URLS])
def test_anonymous_cannot_post(client, history, url) -> None:  # type: ignore[no-untyped-def]
    set_state("RUNNING")
    response = client.post(url, {"target": "PAUSED", "version": "1"})
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
    assert SystemState.objects.get(id=1).state == "RUNNING"
    assert not BotConfig.objects.filter(source=BotConfig.Source.ROLLBACK).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLE_ORDER)
@pytest.mark.parametrize("url", READ_URLS)
def test_every_role_reads_every_page(client, users, everything, role, url) -> None:  # type: ignore[no-untyped-def]
    client.force_login(users[role])
    response = client.get(url, **HTMX) if url == "/system/state/" else client.get(url)
    assert response.status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("url,data,least", WRITE_URLS)
@pytest.mark.parametrize("role", ROLE_ORDER)
def test_write_routes_refuse_roles_below_theirs(client, users, everything, url, data, least, role) -> None:  # type: ignore[no-untyped-def]
    set_state("RUNNING")
    client.force_login(users[role])
    response = client.post(url, data)
    allowed = ROLE_ORDER.index(role) >= ROLE_ORDER.index(least)
    if allowed:
        assert response.status_code in (200, 302)
    else:
        assert response.status_code == 403
        assert f"This needs the {least} role, and you are signed in as {role}." in response.content.decode()


@pytest.mark.django_db
def test_user_without_a_role_is_refused_with_a_sentence(client, history) -> None:  # type: ignore[no-untyped-def]
    nobody = User.objects.create_user("nobody", password="correct-horse-battery")
    client.force_login(nobody)
    response = client.get("/")
    assert response.status_code == 403
    assert "Your account has no role yet" in response.content.decode()


@pytest.mark.django_db
def test_header_shows_state_badge_user_role_and_nav(client, users, history) -> None:  # type: ignore[no-untyped-def]
    set_state("EMERGENCY_STOP")
    client.force_login(users["operator"])
    html = client.get("/orders/").content.decode()
    assert 'id="system-state" class="badge badge--emergency_stop"' in html
    assert 'hx-get="/system/badge/" hx-trigger="every 5s"' in html
    assert "Emergency stop" in html
    assert 'role role--operator">operator<' in html
    assert '<a href="/orders/" aria-current="page">Orders</a>' in html
    for link in (
        'href="/"', 'href="/fills/"', 'href="/approvals/"', 'href="/backtests/"', 'href="/scheduler/"',
        'href="/events/"', 'action="/logout/"',
    ):
        assert link in html


@pytest.mark.django_db
def test_body_carries_the_csrf_token_for_htmx(client, users, history) -> None:  # type: ignore[no-untyped-def]
    client.force_login(users["viewer"])
    html = client.get("/").content.decode()
    token = client.cookies["csrftoken"].value
    assert token
    assert "<body hx-headers='{\"X-CSRFToken\": \"" in html


@pytest.mark.django_db
def test_viewer_sees_no_controls(client, users, history) -> None:  # type: ignore[no-untyped-def]
    set_state("RUNNING")
    client.force_login(users["viewer"])
    html = client.get("/").content.decode()
    assert "/system/state/change/" not in html
    assert "Pause trading" not in html
    assert "Emergency stop…" not in html
    assert "can watch the system but not change its state" in html
    assert "/rollback/" not in client.get("/bots/bot-a/").content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "current,shown,hidden",
    [
        ("RUNNING", ["Pause trading", "Emergency stop…"], ["Resume trading", "Leave the stop"]),
        ("PAUSED", ["Resume trading", "Emergency stop…"], ["Pause trading", "Leave the stop"]),
        ("EMERGENCY_STOP", ["Only an admin can leave an emergency stop."], ["Leave the stop", "Resume trading"]),
    ],
)
def test_operator_sees_the_controls_the_state_allows(client, users, history, current, shown, hidden) -> None:  # type: ignore[no-untyped-def]
    set_state(current)
    client.force_login(users["operator"])
    html = client.get("/").content.decode()
    for label in shown:
        assert label in html
    for label in hidden:
        assert label not in html


@pytest.mark.django_db
def test_admin_in_emergency_stop_sees_leave_controls_with_a_required_reason(client, users, history) -> None:  # type: ignore[no-untyped-def]
    set_state("EMERGENCY_STOP")
    client.force_login(users["admin"])
    html = client.get("/").content.decode()
    assert 'name="reason" rows="2" maxlength="2000" required' in html
    assert 'value="PAUSED">Leave the stop, stay paused<' in html
    assert 'value="RUNNING" class="primary">Leave the stop and resume trading<' in html


@pytest.mark.django_db
def test_only_admin_sees_rollback_buttons(client, users, history) -> None:  # type: ignore[no-untyped-def]
    client.force_login(users["operator"])
    assert "Roll back to v1" not in client.get("/bots/bot-a/").content.decode()
    client.force_login(users["admin"])
    html = client.get("/bots/bot-a/").content.decode()
    assert "Roll back to v1" in html
    assert "Roll back to v2" not in html  # v2 is the active version


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url,fragment_id",
    [
        ("/", 'id="live"'),
        ("/system/state/", 'id="controls"'),
        ("/bots/bot-a/?a=1&b=2", 'id="diff"'),
        ("/orders/?side=BUY", 'id="table"'),
        ("/fills/?side=SELL", 'id="table"'),
        ("/events/?type=trading", 'id="table"'),
        ("/events/chain/", 'id="chain"'),
        ("/system/badge/", 'id="system-state"'),
        ("/approvals/?page=1", 'id="table"'),
        ("/scheduler/", 'id="scheduler"'),
        ("/backtests/?page=1", 'id="table"'),
        ("/backtests/1/", 'id="job"'),
    ],
)
def test_htmx_requests_get_only_their_fragment(client, users, everything, url, fragment_id) -> None:  # type: ignore[no-untyped-def]
    client.force_login(users["viewer"])
    html = client.get(url, **HTMX).content.decode()
    assert html.lstrip().startswith("<")
    assert fragment_id in html
    assert "<html" not in html
    assert "site-header" not in html


@pytest.mark.django_db
def test_state_panel_without_htmx_goes_to_the_overview(client, users, history) -> None:  # type: ignore[no-untyped-def]
    client.force_login(users["viewer"])
    response = client.get("/system/state/")
    assert response.status_code == 302
    assert response["Location"] == "/"


@pytest.mark.django_db
def test_badge_asks_the_page_to_refresh_when_the_state_changed_elsewhere(client, users, history) -> None:  # type: ignore[no-untyped-def]
    set_state("PAUSED")
    client.force_login(users["viewer"])
    same = client.get("/system/badge/", {"seen": "PAUSED"}, **HTMX)
    assert same.status_code == 204  # nothing to swap, nothing re-announced
    assert "HX-Trigger" not in same
    changed = client.get("/system/badge/", {"seen": "RUNNING"}, **HTMX)
    assert changed["HX-Trigger"] == "system-state-changed"
    assert "Paused" in changed.content.decode()


@pytest.mark.django_db
def test_overview_shows_pnl_positions_signals_and_events(client, users, history) -> None:  # type: ignore[no-untyped-def]
    client.force_login(users["viewer"])
    html = client.get("/").content.decode()
    # Equity of bot-a ends at 10063, bot-b at 10064: total PnL +127.
    assert "+127.00" in html
    assert "20,127.00" in html
    assert "fast above slow (2)" in html
    assert "within daily loss limit" in html
    assert 'class="decision decision--allow">ALLOW<' in html
    assert "cycle 2 of bot-b" in html
    assert 'id="equity-data"' in html
    assert 'hx-trigger="every 10s' in html


@pytest.mark.django_db
def test_overview_says_so_when_there_is_nothing_yet(client, users) -> None:  # type: ignore[no-untyped-def]
    client.force_login(users["viewer"])
    html = client.get("/").content.decode()
    assert "No bots yet" in html
    assert "No open positions." in html
    assert "No equity snapshots yet" in html


@pytest.mark.django_db
def test_unknown_bot_and_event_are_plain_not_found_pages(client, users, history) -> None:  # type: ignore[no-untyped-def]
    client.force_login(users["viewer"])
    for url in ("/bots/no-such-bot/", "/events/999999/"):
        response = client.get(url)
        assert response.status_code == 404
        assert "There is nothing at this address" in response.content.decode()
        assert "Traceback" not in response.content.decode()


@pytest.mark.django_db
def test_login_page_logs_in_and_logout_logs_out(client, users) -> None:  # type: ignore[no-untyped-def]
    page = client.get("/login/?next=/orders/")
    assert page.status_code == 200
    assert 'name="next" value="/orders/"' in page.content.decode()
    refused = client.post("/login/", {"username": "viewer", "password": "nope"})
    assert refused.status_code == 200
    assert "correct username and password" in refused.content.decode()
    done = client.post("/login/", {"username": "viewer", "password": "correct-horse-battery", "next": "/orders/"})
    assert done.status_code == 302 and done["Location"] == "/orders/"
    assert client.get("/orders/").status_code == 200
    out = client.post("/logout/")
    assert out.status_code == 302 and out["Location"] == "/login/"
    assert client.get("/orders/").status_code == 302


@pytest.mark.django_db
def test_scripts_come_from_our_own_static_files(client, users, history, settings) -> None:  # type: ignore[no-untyped-def]
    import re

    settings.DEBUG = True  # the debug helper of django-htmx must stay out even then
    client.force_login(users["viewer"])
    html = client.get("/").content.decode()
    sources = re.findall(r'<script src="([^"]+)"', html)
    assert sources == [
        "/static/django_htmx/htmx-2.min.js",
        "/static/vendor/lightweight-charts/lightweight-charts.standalone.production.js",
        "/static/dashboard/dashboard.js",
    ]


@pytest.mark.django_db
def test_an_operator_asks_an_advisor_from_the_approvals_page(client, operator, viewer) -> None:  # type: ignore[no-untyped-def]
    from audit.models import Event
    from tests.factories import BotConfigFactory

    config = BotConfigFactory()
    client.force_login(viewer)
    assert b"Ask an advisor" not in client.get("/approvals/").content
    assert client.post("/approvals/advise/", {"bot": config.bot.pk, "advisor": "rules"}).status_code == 403
    client.force_login(operator)
    assert b"Ask an advisor" in client.get("/approvals/").content
    response = client.post("/approvals/advise/", {"bot": config.bot.pk, "advisor": "rules"}, follow=True)
    assert response.status_code == 200
    assert config.bot.name.encode() in response.content  # the outcome, in a sentence naming the bot
    assert Event.objects.filter(type="advisor.run", actor="operator").exists()
    config.bot.refresh_from_db()
    assert config.bot.active_config.pk == config.pk
