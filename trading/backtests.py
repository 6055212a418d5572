"""Backtests as stored, background jobs (the dashboard, the API, the advisor)."""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit.actors import Actor
from audit.services import record
from trading import timeframes
from trading.backtest import BacktestResult, BacktestSettings, run
from trading.backtest_data import BacktestDataError, load_candles, market_rules_for
from trading.backtest_report import trade_dicts
from trading.models import Backtest, Bot

STORED_TRADES = 1000
CURVE_POINTS = 500


class BacktestRequestError(ValueError):
    def __init__(self, field_errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in field_errors.items()))
        self.field_errors = field_errors


def validate_spec(*, strategy: str, params: dict[str, Any], risk_limits: dict[str, Any], timeframe: str) -> tuple[dict[str, Any], Any]:
    """Valid params (defaults filled) and limits, or every field error at once."""
    from risk.limits import RiskLimits
    from trading.strategies.registry import UnknownStrategy, get_strategy

    errors: dict[str, str] = {}
    clean: dict[str, Any] = {}
    limits = None
    if timeframe not in timeframes.TIMEFRAME_SECONDS:
        errors["timeframe"] = f"must be one of {', '.join(timeframes.TIMEFRAME_SECONDS)}"
    try:
        spec = get_strategy(strategy)
    except UnknownStrategy as exc:
        errors["strategy"] = str(exc)
    else:
        try:
            clean = spec.validate(params)
        except ValueError as exc:
            for key, message in getattr(exc, "field_errors", {"strategy_params": str(exc)}).items():
                errors[f"strategy_params.{key}"] = message
    try:
        limits = RiskLimits.from_dict(risk_limits)
    except ValueError as exc:
        for key, message in getattr(exc, "field_errors", {"risk_limits": str(exc)}).items():
            errors[f"risk_limits.{key}"] = message
    if errors:
        raise BacktestRequestError(errors)
    return clean, limits


def backtest_request(
    *, actor: Actor, symbol: str, timeframe: str, strategy: str, params: dict[str, Any],
    risk_limits: dict[str, Any] | None = None, start: datetime | None = None, end: datetime | None = None,
    initial_cash: Decimal = Decimal("10000"), fee_bps: Decimal = Decimal("10"),
    slippage_bps: Decimal = Decimal("0"), bot: Bot | None = None,
) -> Backtest:
    """Store a backtest request and queue it; it runs in a worker."""
    clean, _ = validate_spec(strategy=strategy, params=params, risk_limits=risk_limits or {}, timeframe=timeframe)
    if start and end and end < start:
        raise BacktestRequestError({"end": "is before start"})
    symbol = symbol.upper()
    if not _has_candles(symbol, timeframe, start, end):
        # Refused now rather than queued to fail in the worker.
        raise BacktestRequestError(
            {"symbol": f"no {symbol} {timeframe} candles are cached{_span(start, end)}"}
        )
    from trading.tasks import run_backtest

    with transaction.atomic():
        job = Backtest.objects.create(
            requested_by=actor.name, bot=bot, symbol=symbol, timeframe=timeframe,
            strategy=strategy, strategy_params=clean, risk_limits=risk_limits or {}, start=start, end=end,
            initial_cash=initial_cash, fee_bps=fee_bps, slippage_bps=slippage_bps,
        )
        record("trading.backtest.requested", actor, f"backtest #{job.pk}: {strategy} on {job.symbol} {timeframe}",
               inputs={"backtest_id": job.pk, "strategy": strategy, "params": clean,
                       "risk_limits": risk_limits or {}, "start": start, "end": end,
                       "initial_cash": initial_cash, "fee_bps": fee_bps, "slippage_bps": slippage_bps}, bot=bot)
        transaction.on_commit(lambda: run_backtest.delay(job.pk))
    return job


def _span(start: datetime | None, end: datetime | None) -> str:
    if start and end:
        return f" between {start:%Y-%m-%d %H:%M} and {end:%Y-%m-%d %H:%M} UTC"
    if start:
        return f" from {start:%Y-%m-%d %H:%M} UTC on"
    if end:
        return f" up to {end:%Y-%m-%d %H:%M} UTC"
    return ""


def _has_candles(symbol: str, timeframe: str, start: datetime | None, end: datetime | None) -> bool:
    from trading.models import Candle

    rows = Candle.objects.filter(symbol=symbol, timeframe=timeframe)
    if start:
        rows = rows.filter(open_time__gte=start)
    if end:
        rows = rows.filter(open_time__lte=end)
    return rows.exists()


def backtest_execute(*, backtest_id: int) -> Backtest | None:
    """Run a queued backtest (claimed once, however often the task is delivered)."""
    # A job left RUNNING by a killed worker is taken again after the hard time limit.
    stale = timezone.now() - timedelta(minutes=15)
    claimed = Backtest.objects.filter(
        Q(status=Backtest.Status.QUEUED) | Q(status=Backtest.Status.RUNNING, started_at__lt=stale),
        pk=backtest_id,
    ).update(
        status=Backtest.Status.RUNNING, started_at=timezone.now(), progress=0
    )
    if claimed != 1:
        return None
    job = Backtest.objects.get(pk=backtest_id)
    try:
        params, limits = validate_spec(strategy=job.strategy, params=job.strategy_params,
                                       risk_limits=job.risk_limits, timeframe=job.timeframe)
        candles = load_candles(job.symbol, job.timeframe, start=job.start, end=job.end)
        rules, _ = market_rules_for(job.symbol)
        last = [0]

        def progress(fraction: float) -> None:
            percent = int(fraction * 100)
            if percent >= last[0] + 5:
                last[0] = percent
                Backtest.objects.filter(pk=job.pk).update(progress=min(percent, 99))

        result = run(candles, BacktestSettings(
            strategy=job.strategy, params=params, limits=limits, rules=rules,
            initial_cash=job.initial_cash, fee_bps=job.fee_bps, slippage_bps=job.slippage_bps,
        ), progress=progress)
    except (BacktestRequestError, BacktestDataError) as exc:
        return _fail(job, str(exc))
    except Exception as exc:  # a bug must not leave the job "running" forever
        _fail(job, f"internal error: {type(exc).__name__}")
        raise
    summary = result_summary(result)
    with transaction.atomic():
        Backtest.objects.filter(pk=job.pk).update(
            status=Backtest.Status.DONE, progress=100, finished_at=timezone.now(),
            candle_count=len(candles), **summary,
        )
        record("trading.backtest.finished", Actor.system(), f"backtest #{job.pk} done",
               inputs={"backtest_id": job.pk}, result=summary["metrics"], bot=job.bot_id)
    job.refresh_from_db()
    return job


def _fail(job: Backtest, message: str) -> Backtest:
    with transaction.atomic():
        Backtest.objects.filter(pk=job.pk).update(
            status=Backtest.Status.FAILED, error=message, finished_at=timezone.now()
        )
        record("trading.backtest.failed", Actor.system(), f"backtest #{job.pk} failed: {message}",
               inputs={"backtest_id": job.pk}, result={"error": message}, bot=job.bot_id)
    job.refresh_from_db()
    return job


def result_summary(result: BacktestResult) -> dict[str, Any]:
    """What is stored of a result: metrics, blocks, trades and a short curve."""
    metrics = {f.name: getattr(result.metrics, f.name) for f in fields(result.metrics)}
    metrics = {k: (str(v) if isinstance(v, Decimal) else v) for k, v in metrics.items()}
    metrics["final_equity"] = str(result.final_cash)
    metrics["pnl"] = str(result.final_cash - result.initial_cash)
    n = len(result.equity)
    picks = np.unique(np.linspace(0, n - 1, min(n, CURVE_POINTS)).astype(int)) if n else np.array([], dtype=int)
    curve = [[int(result.open_time[i]), round(float(result.equity[i]), 2)] for i in picks]
    return {
        "metrics": metrics,
        "blocks": dict(result.blocks),
        "trades": trade_dicts(result, STORED_TRADES),
        "equity_curve": curve,
    }
