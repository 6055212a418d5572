"""Backtests over the API: queued with 202, run by the task on real bundled
candles, read back with progress, metrics, trades and curve."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from audit.models import Event
from tests.api_support import token_client
from trading import market_data
from trading.market_data import ReplaySource
from trading.models import Backtest

# Thirty days of real BTCUSDT hourly candles from the bundled data.
END = datetime(2024, 3, 1, tzinfo=UTC)
START = END - timedelta(days=30)
REQUEST = {
    "strategy": "sma_cross",
    "strategy_params": {"fast": 5},
    "symbol": "BTCUSDT",
    "timeframe": "1h",
    "start": START.isoformat(),
    "end": END.isoformat(),
    "fee_bps": "10",
    "slippage_bps": "2.5",
    "initial_cash": "5000",
    "risk_limits": {"fraction_of_equity": "0.5"},
}


@pytest.fixture
def candles(settings, db):  # type: ignore[no-untyped-def]
    settings.MARKET_DATA = "replay"
    report = market_data.refresh("BTCUSDT", "1h", now=END + timedelta(hours=1), since=START, source=ReplaySource())
    assert report.inserted >= 24 * 30
    return report


@pytest.mark.django_db
def test_operator_queues_a_backtest_and_reads_its_results(
    candles, eager_celery, operator, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    client = token_client(operator)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/api/backtests", REQUEST, format="json")

    assert response.status_code == 202, response.content
    queued = response.json()
    assert queued["status"] == "queued" and queued["requested_by"] == "operator"
    assert queued["strategy_params"] == {"fast": 5, "slow": 30}  # defaults filled in
    assert response["Location"].endswith(f"/api/backtests/{queued['id']}")

    detail = client.get(f"/api/backtests/{queued['id']}").json()
    assert detail["status"] == "done" and detail["progress"] == 100
    assert detail["candle_count"] == 24 * 30 + 1
    assert detail["fee_bps"] == "10.0000" and detail["slippage_bps"] == "2.5000"
    assert detail["metrics"]["trade_count"] == len(detail["trades"]) > 0
    assert set(detail["metrics"]) >= {"total_return", "max_drawdown", "sharpe", "win_rate", "final_equity", "pnl"}
    first = detail["trades"][0]
    assert {"entry_time", "exit_time", "entry_price", "exit_price", "pnl", "entry_reason", "exit_reason"} <= set(first)
    curve = detail["equity_curve"]
    assert curve[0][1] == 5000.0
    assert [point[0] for point in curve] == sorted(point[0] for point in curve)
    assert Event.objects.filter(type="trading.backtest.requested", actor="operator").count() == 1
    assert Event.objects.filter(type="trading.backtest.finished").count() == 1


@pytest.mark.django_db
def test_a_request_is_stored_and_queued_only_once_the_transaction_commits(candles, operator) -> None:  # type: ignore[no-untyped-def]
    response = token_client(operator).post("/api/backtests", REQUEST, format="json")
    assert response.status_code == 202
    job = Backtest.objects.get(pk=response.json()["id"])
    assert job.status == Backtest.Status.QUEUED and job.progress == 0
    assert job.risk_limits == {"fraction_of_equity": "0.5"}
    assert Event.objects.get(type="trading.backtest.requested").inputs["slippage_bps"] == "2.5000"


@pytest.mark.django_db
def test_the_list_is_newest_first_without_the_heavy_parts_and_pages_by_cursor(viewer) -> None:  # type: ignore[no-untyped-def]
    jobs = [
        Backtest.objects.create(requested_by="operator", symbol="BTCUSDT", timeframe="1h", strategy="sma_cross",
                                trades=[{"pnl": "1"}], equity_curve=[[0, 1.0]])
        for _ in range(3)
    ]
    client = token_client(viewer)

    first = client.get("/api/backtests?page_size=2").json()
    assert [row["id"] for row in first["results"]] == [jobs[2].pk, jobs[1].pk]
    assert "trades" not in first["results"][0] and "equity_curve" not in first["results"][0]
    second = client.get(first["next"]).json()
    assert [row["id"] for row in second["results"]] == [jobs[0].pk]
    assert second["next"] is None


@pytest.mark.django_db
def test_the_list_filters_by_status(viewer) -> None:  # type: ignore[no-untyped-def]
    done = Backtest.objects.create(requested_by="a", symbol="BTCUSDT", timeframe="1h", strategy="sma_cross",
                                   status=Backtest.Status.DONE)
    Backtest.objects.create(requested_by="a", symbol="BTCUSDT", timeframe="1h", strategy="sma_cross")
    client = token_client(viewer)
    assert [row["id"] for row in client.get("/api/backtests?status=done").json()["results"]] == [done.pk]
    assert client.get("/api/backtests?status=lost").status_code == 400


@pytest.mark.django_db
def test_an_unknown_backtest_is_a_404(viewer) -> None:  # type: ignore[no-untyped-def]
    assert token_client(viewer).get("/api/backtests/999999").status_code == 404


@pytest.mark.django_db
def test_viewer_may_not_queue_one(candles, viewer) -> None:  # type: ignore[no-untyped-def]
    response = token_client(viewer).post("/api/backtests", REQUEST, format="json")
    assert response.status_code == 403
    assert not Backtest.objects.exists()
