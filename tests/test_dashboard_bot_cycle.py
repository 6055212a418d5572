"""'Run a cycle now' on a bot's page: for operators only, through the same cycle
as the scheduler's, with the outcome told in a sentence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest
from django.test import Client

from audit.models import Event
from tests.factories import BotConfigFactory, BotFactory
from trading import clock
from trading.market_data import ReplaySource
from trading.models import Bot, CycleRun, Order, SystemState
from trading.strategies.registry import get_strategy
from trading.timeframes import from_ms

HTMX = {"HTTP_HX_REQUEST": "true"}
PARAMS = {"fast": 10, "slow": 30}


@pytest.fixture
def bot(settings, users):  # type: ignore[no-untyped-def]
    settings.MARKET_DATA = "replay"
    settings.PAPER_FEE_BPS = Decimal("10")
    settings.PAPER_SLIPPAGE_BPS = Decimal("0")
    SystemState.objects.update_or_create(id=1, defaults={"state": "RUNNING"})
    return BotConfigFactory(
        bot=BotFactory(name="alpha"), symbol="BTCUSDT", timeframe="1m", strategy="sma_cross", strategy_params=PARAMS
    ).bot


def clock_after_first_buy() -> None:
    """The replay clock a few seconds after a real BTCUSDT 1m candle that gives a BUY."""
    series = ReplaySource().series("BTCUSDT", "1m")
    actions = get_strategy("sma_cross").signals(series, PARAMS).actions
    index = int(np.nonzero(actions[1100:] == 1)[0][0]) + 1100
    moment = from_ms(int(series.open_time[index + 1])) + timedelta(seconds=5)
    clock.start_simulation(sim_start=moment, speed=Decimal("1"))


@pytest.mark.django_db
def test_only_operators_see_the_button(client, users, bot) -> None:  # type: ignore[no-untyped-def]
    client.force_login(users["viewer"])
    assert "Run a cycle now" not in client.get("/bots/alpha/").content.decode()
    client.force_login(users["operator"])
    html = client.get("/bots/alpha/").content.decode()
    assert 'hx-post="/bots/alpha/cycle/" hx-target="#last-cycle"' in html
    assert "Run a cycle now" in html


@pytest.mark.django_db
def test_operator_runs_a_cycle_that_buys_and_reads_the_outcome(client, operator, bot) -> None:  # type: ignore[no-untyped-def]
    clock_after_first_buy()
    client.force_login(operator)

    response = client.post("/bots/alpha/cycle/", **HTMX)

    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="last-cycle"')
    order = Order.objects.get(bot=bot)
    assert f"Cycle done: BUY signal, allowed; buy order filled, {order.filled_quantity.normalize():f} BTCUSDT at " in html
    assert "by operator: done" in html  # the last cycle is now this one
    assert 'class="decision decision--allow">ALLOW<' in html
    assert Event.objects.get(type="trading.cycle.completed").actor == "operator"


@pytest.mark.django_db
def test_a_cycle_on_a_candle_already_handled_says_it_was_skipped(client, operator, bot) -> None:  # type: ignore[no-untyped-def]
    clock_after_first_buy()
    client.force_login(operator)
    client.post("/bots/alpha/cycle/", **HTMX)

    html = client.post("/bots/alpha/cycle/", **HTMX).content.decode()

    assert "Skipped: candle " in html and "already handled." in html
    assert Order.objects.filter(bot=bot).count() == 1


@pytest.mark.django_db
def test_a_blocked_signal_says_which_rule_blocked_it(client, operator, bot) -> None:  # type: ignore[no-untyped-def]
    SystemState.objects.filter(id=1).update(state="PAUSED")
    clock_after_first_buy()
    client.force_login(operator)
    html = client.post("/bots/alpha/cycle/", **HTMX).content.decode()
    assert "Cycle done: BUY signal, blocked by the risk engine (" in html and "); no order." in html
    assert not Order.objects.exists()


@pytest.mark.django_db
def test_a_market_data_failure_is_told_as_a_skip_with_its_reason(client, operator, bot) -> None:  # type: ignore[no-untyped-def]
    clock_after_first_buy()
    client.force_login(operator)
    client.post("/bots/alpha/cycle/", **HTMX)  # fills the candle cache
    clock.start_simulation(sim_start=datetime(2030, 1, 1, tzinfo=UTC), speed=Decimal("1"))

    response = client.post("/bots/alpha/cycle/", **HTMX)

    assert response.status_code == 200
    html = response.content.decode()
    assert "Skipped: the exchange failed the cycle during market data: no replay candle" in html
    assert "Traceback" not in html
    assert Event.objects.filter(type="trading.cycle.skipped").latest("seq").actor == "operator"
    assert Bot.objects.get(pk=bot.pk).cycle_locked_until is None


@pytest.mark.django_db
def test_a_plain_form_post_redirects_to_the_bot_with_the_outcome(client, operator, bot) -> None:  # type: ignore[no-untyped-def]
    clock_after_first_buy()
    client.force_login(operator)
    response = client.post("/bots/alpha/cycle/", follow=True)
    assert response.redirect_chain == [("/bots/alpha/", 302)]
    assert "Cycle done: BUY signal, allowed; buy order filled" in response.content.decode()


@pytest.mark.django_db
def test_viewer_cannot_run_one_even_by_posting(client, viewer, bot) -> None:  # type: ignore[no-untyped-def]
    client.force_login(viewer)
    response = client.post("/bots/alpha/cycle/", **HTMX)
    assert response.status_code == 403
    assert not CycleRun.objects.exists()


@pytest.mark.django_db
def test_running_one_without_the_csrf_token_is_refused(operator, bot) -> None:  # type: ignore[no-untyped-def]
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    response = client.post("/bots/alpha/cycle/", **HTMX)
    assert response.status_code == 403
    assert not CycleRun.objects.exists()


@pytest.mark.django_db
def test_an_unknown_bot_is_a_404(client, operator, bot) -> None:  # type: ignore[no-untyped-def]
    client.force_login(operator)
    assert client.post("/bots/nobody/cycle/", **HTMX).status_code == 404
