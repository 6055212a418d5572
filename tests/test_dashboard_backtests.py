"""The backtest pages: the form by role, bad input shown next to its field,
and form → job → results with the task run eagerly on real bundled candles."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from html import escape

import pytest
from django.test import Client

from audit.models import Event
from trading import market_data
from trading.market_data import ReplaySource
from trading.models import Backtest

HTMX = {"HTTP_HX_REQUEST": "true"}
END = datetime(2024, 3, 1, tzinfo=UTC)
START = END - timedelta(days=20)
FORM = {
    "strategy": "sma_cross", "sma_cross__fast": "5", "sma_cross__slow": "",
    "symbol": "btcusdt", "timeframe": "1h", "start": "2024-02-10 00:00", "end": "2024-03-01 00:00",
    "initial_cash": "10000", "fee_bps": "10", "slippage_bps": "1", "sizing_mode": "fraction",
    "fraction_of_equity": "0.5", "fixed_quote": "1000",
}


@pytest.fixture
def candles(settings, db):  # type: ignore[no-untyped-def]
    """Real BTCUSDT hourly candles from the bundled data, in the cache."""
    settings.MARKET_DATA = "replay"
    market_data.refresh("BTCUSDT", "1h", now=END + timedelta(hours=1), since=START, source=ReplaySource())


@pytest.mark.django_db
def test_viewer_sees_past_runs_but_no_form(client, viewer) -> None:  # type: ignore[no-untyped-def]
    Backtest.objects.create(requested_by="operator", symbol="BTCUSDT", timeframe="1h", strategy="sma_cross")
    client.force_login(viewer)
    html = client.get("/backtests/").content.decode()
    assert "Past runs" in html and "sma_cross" in html
    assert "/backtests/run/" not in html and "Run the backtest" not in html


@pytest.mark.django_db
def test_operator_form_offers_every_strategy_with_its_defaults_and_bounds(client, operator, candles) -> None:  # type: ignore[no-untyped-def]
    client.force_login(operator)
    html = client.get("/backtests/").content.decode()
    for name in ("sma_cross", "rsi_reversion", "donchian_breakout"):
        assert f'<option value="{name}"' in html
        assert f'data-strategy="{name}"' in html
    fast = re.search(r'<input[^>]*name="sma_cross__fast"[^>]*>', html).group(0)
    assert 'value="10"' in fast and 'min="2"' in fast and 'max="200"' in fast and 'step="1"' in fast
    assert "Candles in the fast moving average (2 to 200)" in html
    assert re.search(r'name="rsi_reversion__oversold"[^>]*value="30.0"', html)
    assert "BTCUSDT 1h</span>: 481 candles" in html


@pytest.mark.django_db
def test_form_to_job_to_results_on_real_candles(client, operator, candles, eager_celery, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    client.force_login(operator)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/backtests/run/", FORM)

    job = Backtest.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/backtests/{job.pk}/"
    assert job.requested_by == "operator" and job.symbol == "BTCUSDT"
    assert job.strategy_params == {"fast": 5, "slow": 30}
    assert job.risk_limits["fraction_of_equity"] == "0.5"
    assert job.status == "done", job.error

    html = client.get(response["Location"]).content.decode()
    assert f"Done: {job.candle_count} candles" in html
    assert "Total return" in html and "Max drawdown" in html and "Final equity" in html
    assert html.count("<tr>") >= 1 + len(job.trades[:200])
    assert escape(job.trades[0]["entry_reason"]) in html
    chart = json.loads(re.search(r'<script id="equity-data" type="application/json">(.*?)</script>', html, re.S).group(1))
    points = chart["series"][0]["points"]
    assert points[0] == [int(START.replace(day=10).timestamp()), 10000.0]
    assert 'hx-trigger="every 1s"' not in html  # finished: nothing left to poll
    assert Event.objects.filter(type="trading.backtest.requested", actor="operator").count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"sma_cross__fast": "40"}, "sma_cross__fast", "Must be less than slow (30)"),
        ({"sma_cross__fast": "1"}, "sma_cross__fast", "greater than or equal to 2"),
        ({"symbol": "DOGEUSDT"}, "symbol", "No DOGEUSDT 1h candles are cached between 2024-02-10 00:00 and 2024-03-01 00:00 UTC"),
        ({"symbol": "btc/usdt"}, "symbol", "A Binance symbol"),
        ({"end": "2024-01-01 00:00"}, "end", "The end of the range must not come before its start."),
        ({"fee_bps": "-1"}, "fee_bps", "greater than or equal to 0"),
        ({"fraction_of_equity": "2"}, "fraction_of_equity", "less than or equal to 1"),
        ({"strategy": "martingale"}, "strategy", "Select a valid choice"),
    ],
)
def test_bad_input_shows_the_form_again_with_the_error_on_its_field(client, operator, candles, change, field, message) -> None:  # type: ignore[no-untyped-def]
    client.force_login(operator)
    response = client.post("/backtests/run/", {**FORM, **change})
    assert response.status_code == 400
    html = response.content.decode()
    assert "Nothing was queued: fix the fields marked below and run it again." in html
    block = re.search(rf'<div class="field field--error">\s*<label for="id_{field}">.*?</div>', html, re.S)
    assert block, f"{field} is not marked"
    assert message in block.group(0)
    # what was typed is kept
    assert 'value="5"' in html or field == "sma_cross__fast"
    assert not Backtest.objects.exists()
    assert not Event.objects.filter(type__startswith="trading.backtest").exists()


@pytest.mark.django_db
def test_a_running_job_polls_its_progress_and_gets_only_the_fragment(client, viewer) -> None:  # type: ignore[no-untyped-def]
    job = Backtest.objects.create(requested_by="operator", symbol="BTCUSDT", timeframe="1h", strategy="sma_cross",
                                  status="running", progress=35)
    client.force_login(viewer)
    html = client.get(f"/backtests/{job.pk}/").content.decode()
    assert f'hx-get="/backtests/{job.pk}/" hx-trigger="every 1s"' in html
    assert '<progress class="progress" max="100" value="35"' in html

    fragment = client.get(f"/backtests/{job.pk}/", **HTMX).content.decode()
    assert fragment.lstrip().startswith('<div id="job"') and "<html" not in fragment

    Backtest.objects.filter(pk=job.pk).update(status="done", progress=100, candle_count=10, metrics={"total_return": "0"})
    done = client.get(f"/backtests/{job.pk}/", **HTMX).content.decode()
    assert "Done: 10 candles" in done and "hx-trigger" not in done


@pytest.mark.django_db
def test_a_failed_job_says_why(client, viewer) -> None:  # type: ignore[no-untyped-def]
    job = Backtest.objects.create(requested_by="operator", symbol="BTCUSDT", timeframe="1h", strategy="sma_cross",
                                  status="failed", error="no BTCUSDT 1h candles cached in that range")
    client.force_login(viewer)
    html = client.get(f"/backtests/{job.pk}/").content.decode()
    assert "The backtest failed: no BTCUSDT 1h candles cached in that range" in html
    assert "Traceback" not in html


@pytest.mark.django_db
def test_viewer_cannot_run_one_even_by_posting(client, viewer, candles) -> None:  # type: ignore[no-untyped-def]
    client.force_login(viewer)
    response = client.post("/backtests/run/", FORM)
    assert response.status_code == 403
    assert not Backtest.objects.exists()


@pytest.mark.django_db
def test_running_one_without_the_csrf_token_is_refused(operator, candles) -> None:  # type: ignore[no-untyped-def]
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    response = client.post("/backtests/run/", FORM)
    assert response.status_code == 403
    assert "security token" in response.content.decode()
    assert not Backtest.objects.exists()


@pytest.mark.django_db
def test_an_unknown_job_is_a_404(client, viewer) -> None:  # type: ignore[no-untyped-def]
    client.force_login(viewer)
    assert client.get("/backtests/999999/").status_code == 404
