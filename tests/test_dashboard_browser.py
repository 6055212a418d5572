"""The dashboard in a real browser: Playwright drives Debian's Chromium, headless,
against the live test server. Screenshots go to test-artifacts/screenshots/."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from approvals.models import Approval
from audit.actors import Actor
from audit.models import Event
from tests.dashboard_data import add_approvals_and_backtests, build_history
from trading import state
from trading.models import Backtest, BotConfig, SystemState

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "screenshots"
PASSWORD = "correct-horse-battery"
LAPTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
# The equity chart's first line colour (#2563eb) in the dashboard's palette.
FIRST_LINE_RGB = (37, 99, 235)

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"Chromium not found at {CHROMIUM}: run scripts/ensure_browser.sh")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in this thread, and
    # Django refuses ORM calls next to a running loop unless told it is safe.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


class Tab:
    """A browser page that remembers every console error and page error."""

    def __init__(self, browser: Any, base_url: str, viewport: dict[str, int]) -> None:
        self.context = browser.new_context(viewport=viewport)
        self.page = self.context.new_page()
        self.base_url = base_url
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def open(self, path: str) -> Any:
        self.page.goto(self.base_url + path)
        self.page.wait_for_load_state("networkidle")
        return self.page

    def log_in(self, username: str) -> None:
        page = self.open("/login/")
        page.get_by_label("User name").fill(username)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(self.base_url + "/")
        page.wait_for_load_state("networkidle")

    def screenshot(self, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


@pytest.fixture
def tab(browser: Any, live_server: Any) -> Iterator[Tab]:
    opened = Tab(browser, live_server.url, LAPTOP)
    yield opened
    opened.context.close()


@pytest.fixture
def history(users: Any) -> Any:
    return build_history(bots=3)


def set_state(value: str) -> None:
    SystemState.objects.update_or_create(id=1, defaults={"state": value})


def badge(page: Any) -> Any:
    return page.locator("#system-state")


def test_operator_pauses_and_the_badge_changes_without_a_reload(tab: Tab, history: Any) -> None:
    from playwright.sync_api import expect

    set_state("RUNNING")
    tab.log_in("operator")
    page = tab.page
    expect(badge(page)).to_contain_text("Running")
    page.evaluate("window.notReloaded = true")

    page.get_by_role("button", name="Pause trading").click()

    expect(badge(page)).to_contain_text("Paused")
    expect(page.locator("#controls")).to_contain_text("The system is now paused.")
    assert page.evaluate("window.notReloaded") is True
    assert SystemState.objects.get(id=1).state == "PAUSED"
    assert Event.objects.filter(type="system.state.changed", actor="operator").exists()
    assert tab.errors == []


def test_operator_pauses_with_the_keyboard_alone(tab: Tab, history: Any) -> None:
    from playwright.sync_api import expect

    set_state("RUNNING")
    tab.log_in("operator")
    page = tab.page
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent.trim()") == "Pause trading":
            break
    else:
        pytest.fail("Tab never reached the Pause trading button")
    page.keyboard.press("Enter")

    expect(badge(page)).to_contain_text("Paused")
    assert SystemState.objects.get(id=1).state == "PAUSED"
    assert tab.errors == []


def test_badge_and_controls_follow_a_change_made_elsewhere(tab: Tab, history: Any) -> None:
    from playwright.sync_api import expect

    set_state("RUNNING")
    tab.log_in("operator")
    page = tab.page
    page.evaluate("window.notReloaded = true")

    state.emergency_stop(actor=Actor.system(), reason="daily loss limit breached")

    # The badge polls every few seconds; wait for it rather than reload.
    expect(badge(page)).to_contain_text("Emergency stop", timeout=20_000)
    expect(page.locator("#controls")).to_contain_text("Only an admin can leave an emergency stop", timeout=20_000)
    assert page.evaluate("window.notReloaded") is True
    assert tab.errors == []


def test_operator_emergency_stop_asks_to_confirm_first(tab: Tab, history: Any) -> None:
    from playwright.sync_api import expect

    set_state("RUNNING")
    tab.log_in("operator")
    page = tab.page

    page.get_by_role("button", name="Emergency stop…").click()
    expect(page.locator("#controls")).to_contain_text("Stop everything?")
    assert SystemState.objects.get(id=1).state == "RUNNING"

    page.get_by_label("Reason (optional)").fill("exchange acting strangely")
    page.get_by_role("button", name="Yes, stop everything now").click()

    expect(badge(page)).to_contain_text("Emergency stop")
    assert SystemState.objects.get(id=1).reason == "exchange acting strangely"
    assert tab.errors == []


def test_admin_leaves_an_emergency_stop_with_a_reason(tab: Tab, history: Any) -> None:
    from playwright.sync_api import expect

    set_state("EMERGENCY_STOP")
    tab.log_in("admin")
    page = tab.page
    tab.screenshot("overview-emergency-admin")

    page.get_by_label("Why is it safe to leave the emergency stop? (required)").fill("loss understood, limits lowered")
    page.get_by_role("button", name="Leave the stop, stay paused").click()

    expect(badge(page)).to_contain_text("Paused")
    assert SystemState.objects.get(id=1).reason == "loss understood, limits lowered"
    assert tab.errors == []


def test_viewer_sees_no_controls(tab: Tab, history: Any) -> None:
    set_state("RUNNING")
    tab.log_in("viewer")
    page = tab.page
    controls = page.locator("#controls")
    assert controls.get_by_role("button").count() == 0
    assert "can watch the system but not change its state" in controls.inner_text()
    assert page.locator("form[action$='/rollback/']").count() == 0
    tab.open("/bots/bot-a/")
    assert page.get_by_role("button", name="Roll back to v1").count() == 0
    tab.screenshot("bot-viewer")
    assert tab.errors == []


def test_overview_chart_draws(tab: Tab, history: Any) -> None:
    tab.log_in("viewer")
    page = tab.page
    # True once a canvas of the equity chart holds pixels of the first line.
    drawn = page.wait_for_function(
        """([r, g, b]) => {
            for (const canvas of document.querySelectorAll('#equity-chart canvas')) {
                if (!canvas.width || !canvas.height) continue;
                const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
                let hits = 0;
                for (let i = 0; i < data.length; i += 4) {
                    if (Math.abs(data[i] - r) < 40 && Math.abs(data[i + 1] - g) < 40 && Math.abs(data[i + 2] - b) < 40) hits++;
                }
                if (hits > 50) return hits;
            }
            return false;
        }""",
        arg=list(FIRST_LINE_RGB),
    )
    assert drawn.json_value() > 50
    assert page.locator("#equity-legend li").count() == 3
    assert tab.errors == []


PAGES = [
    ("overview", "/"),
    ("bot", "/bots/bot-a/"),
    ("orders", "/orders/"),
    ("orders-filtered", "/orders/?side=BUY&symbol=btcusdt"),
    ("fills", "/fills/"),
    ("events", "/events/"),
    ("event-detail", "/events/3/"),
    ("audit-chain", "/events/chain/"),
]


def test_every_page_loads_without_a_console_error(tab: Tab, history: Any) -> None:
    add_approvals_and_backtests(history)
    pending = Approval.objects.filter(status="PENDING").order_by("pk").first()
    decided = Approval.objects.exclude(status="PENDING").order_by("pk").first()
    done = Backtest.objects.filter(status="done").order_by("pk").first()
    running = Backtest.objects.filter(status="running").get()
    tab.log_in("admin")
    pages = PAGES + [
        ("approvals", "/approvals/"),
        ("approval-pending", f"/approvals/{pending.pk}/"),
        ("approval-decided", f"/approvals/{decided.pk}/"),
        ("scheduler", "/scheduler/"),
        ("backtests", "/backtests/"),
        ("backtest-done", f"/backtests/{done.pk}/"),
        ("backtest-running", f"/backtests/{running.pk}/"),
    ]
    for name, path in pages:
        page = tab.open(path)
        assert page.locator("main h1").count() >= 1, name
        if name == "events":
            page.locator("#chain").get_by_text("Audit chain intact").wait_for()
        if name == "bot":
            page.locator("#candle-chart canvas").first.wait_for()
        if name in ("approvals", "approval-pending"):
            page.locator(".evidence-chart canvas").first.wait_for()
        if name == "backtest-done":
            page.locator("#equity-chart canvas").first.wait_for()
        tab.screenshot(name)
    page = tab.open("/bots/bot-a/?a=1&b=3")
    tab.screenshot("bot-diff")
    assert tab.errors == []

    page = tab.open("/bots/no-such-bot/")
    assert "There is nothing at this address" in page.locator("main").inner_text()
    tab.screenshot("not-found")
    # The browser reports the page's own 404 status; nothing else may fail.
    assert tab.errors == ["Failed to load resource: the server responded with a status of 404 (Not Found)"]


def test_pages_fit_a_phone(browser: Any, live_server: Any, history: Any) -> None:
    add_approvals_and_backtests(history, decided_per_bot=1)
    done = Backtest.objects.filter(status="done").order_by("pk").first()
    phone = Tab(browser, live_server.url, PHONE)
    try:
        phone.log_in("operator")
        for name, path in (
            ("overview", "/"), ("bot", "/bots/bot-a/"), ("orders", "/orders/"), ("events", "/events/"),
            ("approvals", "/approvals/"), ("scheduler", "/scheduler/"), ("backtests", "/backtests/"),
            ("backtest", f"/backtests/{done.pk}/"),
        ):
            page = phone.open(path)
            # Wide tables scroll inside their own box; the page itself never does.
            overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 0, f"{name} is {overflow}px wider than a phone"
            phone.screenshot(f"phone-{name}")
        assert phone.errors == []
    finally:
        phone.context.close()


def test_login_page_and_logout(tab: Tab, history: Any) -> None:
    from playwright.sync_api import expect

    page = tab.open("/orders/")
    assert "/login/?next=/orders/" in page.url
    tab.screenshot("login")
    page.get_by_label("User name").fill("viewer")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator(".notice--error")).to_contain_text("correct username and password")
    tab.screenshot("login-refused")

    tab.log_in("viewer")
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(tab.base_url + "/login/")
    assert tab.open("/").url.startswith(tab.base_url + "/login/")
    assert tab.errors == []


def test_operator_approves_a_pending_proposal_and_sees_it_applied(tab: Tab, history: Any) -> None:
    from playwright.sync_api import expect

    add_approvals_and_backtests(history, decided_per_bot=1)
    approval = Approval.objects.get(bot__name="bot-a", status="PENDING")
    tab.log_in("operator")
    page = tab.open("/approvals/")
    page.evaluate("window.notReloaded = true")
    card = page.locator(f"#approval-{approval.pk}")
    expect(card.locator("time[data-countdown]")).to_contain_text("h")
    expect(card).to_contain_text("strategy_params.fast")
    tab.screenshot("approvals-operator")

    card.get_by_label("Note (kept with the decision)").fill("backtest looks better")
    card.get_by_role("button", name="Approve and apply").click()

    expect(card).to_contain_text("Approved and applied: bot-a now runs config v3.")
    expect(card.locator(".status")).to_contain_text("Applied")
    assert card.locator("form.decide-form").count() == 0
    assert page.evaluate("window.notReloaded") is True
    approval.refresh_from_db()
    assert approval.status == "APPLIED" and approval.decision_note == "backtest looks better"
    active = BotConfig.objects.get(bot__name="bot-a", is_active=True)
    assert active.version == 3 and active.strategy_params["fast"] == 8
    assert list(
        Event.objects.filter(inputs__approval_id=approval.pk).order_by("seq").values_list("type", "actor")
    ) == [
        ("approvals.approval.proposed", "advisor:rules"),
        ("approvals.approval.approved", "operator"),
        ("approvals.approval.applied", "operator"),
    ]
    tab.screenshot("approvals-applied")
    assert tab.errors == []


def test_viewer_sees_proposals_but_no_decision_controls(tab: Tab, history: Any) -> None:
    add_approvals_and_backtests(history, decided_per_bot=1)
    tab.log_in("viewer")
    page = tab.open("/approvals/")
    assert page.locator(".approval").count() == len(history.bots)
    assert page.get_by_role("button", name="Approve and apply").count() == 0
    assert page.get_by_role("button", name="Reject").count() == 0
    # The advisor's rationale is shown as text, never run.
    assert "<script>alert('x')</script>" in page.locator(".rationale").first.inner_text()
    tab.open("/scheduler/")
    assert page.locator("#scheduler button").count() == 0
    tab.open("/backtests/")
    assert page.locator("form.backtest-form").count() == 0
    tab.screenshot("backtests-viewer")
    assert tab.errors == []


def test_backtest_progress_bar_follows_the_job_until_its_results_replace_it(tab: Tab, history: Any) -> None:
    from playwright.sync_api import expect

    add_approvals_and_backtests(history)
    job = Backtest.objects.get(status="running")
    done = Backtest.objects.filter(status="done").first()
    tab.log_in("operator")
    page = tab.open(f"/backtests/{job.pk}/")
    page.evaluate("window.notReloaded = true")
    expect(page.locator("progress")).to_have_attribute("value", "40")

    Backtest.objects.filter(pk=job.pk).update(progress=85)
    expect(page.locator("progress")).to_have_attribute("value", "85")
    Backtest.objects.filter(pk=job.pk).update(
        status="done", progress=100, candle_count=100, metrics=done.metrics, trades=done.trades,
        equity_curve=done.equity_curve, blocks=done.blocks,
    )

    expect(page.locator("#job")).to_contain_text("Done: 100 candles")
    page.locator("#equity-chart canvas").first.wait_for()
    expect(page.locator("#job")).to_contain_text("SMA10 crossed above SMA30")
    assert page.locator("progress").count() == 0
    assert page.evaluate("window.notReloaded") is True
    assert tab.errors == []


def test_operator_changes_the_schedule_from_the_page(tab: Tab, history: Any) -> None:
    from playwright.sync_api import expect

    tab.log_in("operator")
    page = tab.open("/scheduler/")
    page.get_by_role("button", name="Switch bot-a's cycles off").click()
    expect(page.locator("#scheduler")).to_contain_text("bot-a: cycles off")
    page.get_by_label("Seconds between bot-b's cycles").fill("120")
    page.locator(f"#schedule-{history.bots[1].pk}").get_by_role("button", name="Set").click()
    expect(page.locator("#scheduler")).to_contain_text("bot-b: cycles on, every 120 s (its own interval).")
    page.get_by_role("button", name="Switch every bot's schedule off").click()
    expect(page.locator("#scheduler")).to_contain_text("The scheduler is off")
    tab.screenshot("scheduler-operator")
    assert list(Event.objects.filter(type__startswith="scheduler.").order_by("seq").values_list("type", flat=True)) == [
        "scheduler.bot.changed", "scheduler.bot.changed", "scheduler.disabled",
    ]
    assert tab.errors == []


def test_operator_runs_a_cycle_from_the_bot_page(tab: Tab, history: Any) -> None:
    from datetime import UTC, datetime
    from decimal import Decimal

    from playwright.sync_api import expect

    from trading import clock
    from trading.models import CycleRun

    # The replay clock inside the bundled candles, so the cycle has a market to read.
    clock.start_simulation(sim_start=datetime(2025, 6, 2, 12, 0, 5, tzinfo=UTC), speed=Decimal("1"))
    tab.log_in("operator")
    page = tab.open("/bots/bot-a/")
    page.evaluate("window.notReloaded = true")

    page.get_by_role("button", name="Run a cycle now").click()

    expect(page.locator("#last-cycle .notice")).to_contain_text("Cycle done:")
    assert page.evaluate("window.notReloaded") is True
    assert CycleRun.objects.filter(bot__name="bot-a", actor="operator", status="done").count() == 1
    tab.screenshot("bot-cycle-operator")
    assert tab.errors == []
