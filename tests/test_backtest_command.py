"""`manage.py backtest`, `manage.py replay` and stored backtests run as jobs."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from audit.models import Event
from tests import data_path
from tests.factories import BotConfigFactory
from trading.backtests import BacktestRequestError, backtest_execute, backtest_request
from trading.market_data import ReplaySource, store_candles
from trading.models import Backtest, Order, SystemState
from trading.timeframes import from_ms

ETH_15M = str(data_path("binance/ETHUSDT-15m.csv.gz"))


def run_backtest(*args: str) -> str:
    out = io.StringIO()
    call_command("backtest", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_backtest_from_a_file_prints_a_summary_and_writes_the_report(tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = run_backtest(
        "--strategy", "sma_cross", "--params", '{"fast": 10, "slow": 30}', "--symbol", "ETHUSDT",
        "--timeframe", "15m", "--data", ETH_15M, "--fee-bps", "10", "--slippage-bps", "0",
        "--sizing", "fixed_quote:1000", "--out", str(tmp_path),
    )
    assert "ETHUSDT 15m, 8,713 candles" in out
    assert "Trades" in out and "Max drawdown" in out
    for name in ("trades.csv", "equity.csv", "metrics.json", "report.html", "report.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    with (tmp_path / "trades.csv").open() as handle:
        trades = list(csv.DictReader(handle))
    assert metrics["trade_count"] == len(trades) > 0
    # every trade of 1,000 USDT (fixed quote) and the PnL adds up to the final equity
    assert all(Decimal(t["quantity"]) * Decimal(t["entry_price"]) <= Decimal("1000") for t in trades)
    total = sum((Decimal(t["pnl"]) for t in trades), Decimal(0))
    assert Decimal(metrics["initial_cash"]) + total == Decimal(metrics["final_equity"])
    with (tmp_path / "equity.csv").open() as handle:
        assert sum(1 for _ in handle) == 8_713 + 1
    assert (tmp_path / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "SMA10 crossed above SMA30" in (tmp_path / "trades.csv").read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--strategy", "moon"], "unknown strategy 'moon'"),
        (["--params", "{fast: 10}"], "--params is not valid JSON"),
        (["--params", "[10, 30]"], "--params must be a JSON object"),
        (["--params", '{"fast": 50, "slow": 30}'], "bad --params for sma_cross: fast"),
        (["--params", '{"speed": 3}'], "speed: unknown parameter"),
        (["--timeframe", "7m"], "--timeframe '7m' is not one of"),
        (["--sizing", "lots:5"], "--sizing 'lots:5' must be fixed_quote:AMOUNT"),
        (["--fee-bps", "ten"], "--fee-bps 'ten' is not a number"),
        (["--from", "yesterday"], "--from 'yesterday' is not a date"),
        (["--from", "2025-06-02", "--to", "2025-06-01"], "--to is before --from"),
        (["--data", "/no/such/file.csv"], "no such file"),
        (["--limits", '{"max_drawdown_pct": "7"}'], "bad risk limits: max_drawdown_pct"),
    ],
)
def test_bad_arguments_are_refused_with_one_line(args: list[str], message: str) -> None:
    base = {"--strategy": "sma_cross", "--symbol": "ETHUSDT", "--timeframe": "15m", "--data": ETH_15M}
    for flag in args[::2]:
        base.pop(flag, None)
    argv = [item for pair in base.items() for item in pair] + args
    with pytest.raises(CommandError) as info:
        run_backtest(*argv)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.django_db
def test_backtest_reads_the_candle_cache_and_refuses_an_empty_one(settings) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CommandError, match="no ETHUSDT 15m candles cached"):
        run_backtest("--strategy", "sma_cross", "--symbol", "ETHUSDT", "--timeframe", "15m")
    series = ReplaySource().series("ETHUSDT", "15m")[:400]
    from trading.market_data import _kline_from_series  # the replay source's own rows

    store_candles(symbol="ETHUSDT", timeframe="15m", source="test",
                  rows=[_kline_from_series(series, i, 900_000) for i in range(len(series))])
    out = run_backtest("--strategy", "sma_cross", "--params", '{"fast": 5, "slow": 20}',
                       "--symbol", "ETHUSDT", "--timeframe", "15m")
    assert "400 candles" in out


@pytest.mark.django_db
def test_a_stored_backtest_runs_once_and_keeps_its_results(eager_celery, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    from audit.actors import Actor, Role
    from trading.market_data import _kline_from_series

    series = ReplaySource().series("ETHUSDT", "15m")[:600]
    store_candles(symbol="ETHUSDT", timeframe="15m", source="test",
                  rows=[_kline_from_series(series, i, 900_000) for i in range(len(series))])
    with django_capture_on_commit_callbacks(execute=True):
        job = backtest_request(
            actor=Actor("operator", Role.OPERATOR), symbol="ethusdt", timeframe="15m",
            strategy="sma_cross", params={"fast": 5, "slow": 20}, risk_limits={"fraction_of_equity": "0.5"},
        )
    job.refresh_from_db()
    assert job.status == Backtest.Status.DONE and job.progress == 100
    assert job.candle_count == 600
    assert int(job.metrics["trade_count"]) == len(job.trades) > 0
    assert len(job.equity_curve) == 500
    assert Event.objects.filter(type="trading.backtest.finished").exists()
    # delivered again: claimed already, nothing runs twice
    assert backtest_execute(backtest_id=job.pk) is None


@pytest.mark.django_db
def test_a_backtest_request_with_bad_fields_names_each_and_stores_nothing() -> None:
    from audit.actors import Actor, Role

    with pytest.raises(BacktestRequestError) as info:
        backtest_request(actor=Actor("op", Role.OPERATOR), symbol="BTCUSDT", timeframe="2m",
                         strategy="sma_cross", params={"fast": "ten"}, risk_limits={"fraction_of_equity": "2"})
    assert set(info.value.field_errors) == {"timeframe", "strategy_params.fast", "risk_limits.fraction_of_equity"}
    assert not Backtest.objects.exists()


@pytest.mark.django_db
def test_a_backtest_without_candles_fails_with_the_reason() -> None:
    job = Backtest.objects.create(requested_by="op", symbol="ETHUSDT", timeframe="15m", strategy="sma_cross",
                                  strategy_params={"fast": 5, "slow": 20})
    backtest_execute(backtest_id=job.pk)
    job.refresh_from_db()
    assert job.status == Backtest.Status.FAILED
    assert "no ETHUSDT 15m candles cached" in job.error


@pytest.mark.django_db
def test_replay_command_trades_a_bot_over_cached_history(settings) -> None:  # type: ignore[no-untyped-def]
    settings.MARKET_DATA = "replay"
    SystemState.objects.update_or_create(id=1, defaults={"state": "RUNNING"})
    bot = BotConfigFactory(symbol="ETHUSDT", timeframe="15m", strategy_params={"fast": 5, "slow": 20}).bot
    series = ReplaySource().series("ETHUSDT", "15m")[:150]
    from trading.market_data import _kline_from_series

    store_candles(symbol="ETHUSDT", timeframe="15m", source="test",
                  rows=[_kline_from_series(series, i, 900_000) for i in range(len(series))])
    out = io.StringIO()
    call_command("replay", "--bot", bot.name, "--to", from_ms(int(series.open_time[148])).isoformat(), stdout=out)
    assert "replayed 149 candles of ETHUSDT 15m" in out.getvalue()
    assert Order.objects.filter(bot=bot).exists()
    with pytest.raises(CommandError, match="no bot named"):
        call_command("replay", "--bot", "ghost")
