"""A bot's page: its chart data, metrics, config history, diff and rollback."""

from __future__ import annotations

import json
import re

import pytest

from audit.models import Event
from tests.dashboard_data import build_history
from trading.models import BotConfig
from trading.selectors import config_diff

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def history(users):  # type: ignore[no-untyped-def]
    return build_history(bots=2, orders_per_bot=4, candles=60)


def chart_data(html: str) -> dict:
    match = re.search(r'<script id="candle-data" type="application/json">(.*?)</script>', html, re.S)
    assert match, "no chart data in the page"
    return json.loads(match.group(1))


@pytest.mark.django_db
def test_chart_has_the_bots_market_candles_and_its_fills_as_markers(client, viewer, history) -> None:  # type: ignore[no-untyped-def]
    client.force_login(viewer)
    data = chart_data(client.get("/bots/bot-a/").content.decode())
    times = [c["time"] for c in data["candles"]]
    assert len(times) == 60
    assert times == sorted(times)
    assert data["candles"][0]["open"] == 60000.0
    # bot-a (BTCUSDT) filled four orders, alternating buy and sell, inside the window.
    assert [m["side"] for m in data["markers"]] == ["BUY", "SELL", "BUY", "SELL"]
    assert data["markers"][0]["text"] == "Buy 0.015"
    assert all(m["time"] in times for m in data["markers"])


@pytest.mark.django_db
def test_chart_keeps_only_the_last_candles(client, viewer, users) -> None:  # type: ignore[no-untyped-def]
    build_history(bots=1, candles=350)
    client.force_login(viewer)
    data = chart_data(client.get("/bots/bot-a/").content.decode())
    assert len(data["candles"]) == 300


@pytest.mark.django_db
def test_page_shows_metrics_last_cycle_and_config(client, viewer, history) -> None:  # type: ignore[no-untyped-def]
    client.force_login(viewer)
    html = client.get("/bots/bot-a/").content.decode()
    assert "1.25 %" in html  # total return 0.0125
    assert "55.00 %" in html  # win rate
    assert "fast above slow (2)" in html
    assert "position below maximum" in html
    assert "config v2" in html
    assert "Manual edit" in html and "faster signal" in html


@pytest.mark.django_db
def test_page_without_candles_or_metrics_says_so(client, viewer, users) -> None:  # type: ignore[no-untyped-def]
    from tests.factories import BotFactory

    BotFactory(name="fresh")
    client.force_login(viewer)
    html = client.get("/bots/fresh/").content.decode()
    assert "This bot has no active config, so it has no market to chart." in html
    assert "No metrics yet" in html
    assert "No cycle has run yet." in html


@pytest.mark.django_db
def test_diff_shows_what_the_latest_change_did_by_default(client, viewer, history) -> None:  # type: ignore[no-untyped-def]
    client.force_login(viewer)
    html = client.get("/bots/bot-a/").content.decode()
    assert "From v1 to v2" in html
    assert "strategy_params.fast" in html
    assert "<del>10</del>" in html and "<ins>5</ins>" in html


@pytest.mark.django_db
def test_diff_between_chosen_versions_as_an_htmx_fragment(client, viewer, history) -> None:  # type: ignore[no-untyped-def]
    client.force_login(viewer)
    html = client.get("/bots/bot-a/", {"a": "2", "b": "1"}, **HTMX).content.decode()
    assert html.lstrip().startswith('<div id="diff"')
    assert "From v2 to v1" in html
    assert "<del>5</del>" in html and "<ins>10</ins>" in html


@pytest.mark.django_db
def test_diff_of_a_missing_version_is_a_sentence(client, viewer, history) -> None:  # type: ignore[no-untyped-def]
    client.force_login(viewer)
    html = client.get("/bots/bot-a/", {"a": "1", "b": "7"}).content.decode()
    assert "Pick two versions that exist to compare them." in html


@pytest.mark.django_db
def test_config_diff_lists_changed_added_and_removed_leaves(history) -> None:  # type: ignore[no-untyped-def]
    v1 = BotConfig(symbol="BTCUSDT", timeframe="1h", strategy="sma_cross",
                   strategy_params={"fast": 10, "slow": 30}, risk_limits={"max_position_pct_equity": "0.5"}, mode="paper")
    v2 = BotConfig(symbol="BTCUSDT", timeframe="4h", strategy="sma_cross",
                   strategy_params={"fast": "10", "band": 2}, risk_limits={}, mode="paper")
    rows = {row.key: (row.old, row.new, row.change) for row in config_diff(v1, v2)}
    assert rows == {
        "timeframe": ('"1h"', '"4h"', "changed"),
        "strategy_params.band": ("", "2", "added"),
        "strategy_params.fast": ("10", '"10"', "changed"),
        "strategy_params.slow": ("30", "", "removed"),
        "risk_limits.max_position_pct_equity": ('"0.5"', "", "removed"),
    }


@pytest.mark.django_db
def test_admin_rolls_back_from_the_page(client, admin_user, history) -> None:  # type: ignore[no-untyped-def]
    client.force_login(admin_user)

    response = client.post("/bots/bot-a/rollback/", {"version": "1"}, **HTMX)

    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="config"')
    assert "bot-a now runs v3, a copy of v1." in html
    active = BotConfig.objects.get(bot__name="bot-a", is_active=True)
    assert (active.version, active.source, active.strategy_params["fast"]) == (3, "rollback", 10)
    assert Event.objects.filter(type="trading.config.created", actor="admin", inputs__source="rollback").exists()


@pytest.mark.django_db
def test_rollback_to_the_active_version_is_refused_as_a_sentence(client, admin_user, history) -> None:  # type: ignore[no-untyped-def]
    client.force_login(admin_user)
    response = client.post("/bots/bot-a/rollback/", {"version": "2"}, **HTMX)
    assert response.status_code == 409
    assert "Nothing was changed: version 2 is already bot-a&#x27;s active config." in response.content.decode()
    assert BotConfig.objects.filter(bot__name="bot-a").count() == 2


@pytest.mark.django_db
def test_plain_form_rollback_redirects_back_with_a_message(client, admin_user, history) -> None:  # type: ignore[no-untyped-def]
    client.force_login(admin_user)
    response = client.post("/bots/bot-a/rollback/", {"version": "1"}, follow=True)
    assert response.redirect_chain == [("/bots/bot-a/", 302)]
    assert "bot-a now runs v3, a copy of v1." in response.content.decode()


@pytest.mark.django_db
def test_operator_cannot_roll_back(client, operator, history) -> None:  # type: ignore[no-untyped-def]
    client.force_login(operator)
    response = client.post("/bots/bot-a/rollback/", {"version": "1"}, **HTMX)
    assert response.status_code == 403
    assert BotConfig.objects.filter(bot__name="bot-a").count() == 2
